"""機器の貸出相談 (policy 4-(1)): the request in the chat, its 受付番号, staff alerted, and the decision — approved with
the pick-up details or declined with the reason — coming back to the parent."""

from __future__ import annotations

import re

from handlers.postback import encode
from storage import reports
from storage.db import unit_of_work
from tests.report_support import (
    actions,
    all_escalations,
    label_of,
    only_escalation,
    outbox_rows,
    parent_with_events,
    postbacks,
    staff_in_line,
)
from tests.support import ChatUser

REFERENCE = re.compile(r"受付番号：(L-[2-9A-HJ-NP-Z]{6})")


def request(
    parent: ChatUser,
    equipment=("パソコン", "WEBカメラ"),
    event: str | None = "ねんね",
    reason: str = "機器を持っていない",
    note: str | None = "南本町センターで受け取りたいです",
):
    messages = parent.tap(encode("loan", "start"))
    for item in equipment:
        messages = parent.choose(messages, item)
    messages = parent.choose(messages, "決定")
    messages = parent.choose(messages, label_of(messages, event) if event else "まだ決めていない")
    messages = parent.choose(messages, reason)
    messages = parent.say(note) if note else parent.choose(messages, "特になし")
    return messages


def test_a_loan_request_is_answered_with_its_number_and_staff_of_the_events_centre_are_alerted(chat):
    centre, _ = staff_in_line(chat, centre="takanedai")
    parent = parent_with_events(chat, event_centre="takanedai")
    card = request(parent.chat)
    text = ChatUser.texts(card)
    assert "機器：パソコン、WEBカメラ" in text and "ねんねの赤ちゃん交流会" in text
    assert "理由：機器を持っていない" in text and "南本町センターで受け取りたいです" in text
    receipt = ChatUser.texts(parent.chat.choose(card, "相談する"))

    escalation = only_escalation()
    assert REFERENCE.search(receipt).group(1) == escalation.reference
    assert "職員が確認し、このトークでお知らせします" in receipt
    assert (escalation.kind, escalation.centre) == ("equipment_loan", "takanedai")
    with unit_of_work() as session:
        loan = reports.loan_of(session, escalation.id)
        assert (loan.equipment, loan.event_id, loan.reason) == (["pc", "camera"], parent.event_ids[0], "no_device")
    alert = centre.new_messages()
    assert "機器の貸出相談" in ChatUser.texts(alert) and "機器：パソコン、WEBカメラ" in ChatUser.texts(alert)
    assert {"対応します", "貸出OK", "お断り", "質問を送る"} <= set(ChatUser.choices(alert))


def test_the_receipt_offers_each_menu_entry_once_with_the_status_first(chat):
    parent = parent_with_events(chat)
    receipt = parent.chat.choose(request(parent.chat), "相談する")
    labels = [item["action"]["label"] for item in receipt[-1]["quickReply"]["items"]]
    assert labels[0] == "報告・相談の状況" and len(labels) == len(set(labels)), labels


def test_toggling_equipment_and_the_rules_of_each_step(chat):
    parent = parent_with_events(chat)
    messages = parent.chat.tap(encode("loan", "start"))
    assert "利用ポリシー4-(1)" in ChatUser.texts(messages)
    messages = parent.chat.choose(messages, "決定")
    assert "1つ以上選んで" in ChatUser.texts(messages)
    messages = parent.chat.choose(messages, "タブレット")
    assert "✓タブレット" in ChatUser.choices(messages)
    messages = parent.chat.choose(messages, "✓タブレット")  # chosen again: taken off
    assert "タブレット" in ChatUser.choices(messages) and "✓タブレット" not in ChatUser.choices(messages)
    messages = parent.chat.say("Wi-Fiルーター")  # typed instead of tapped
    assert "✓Wi-Fiルーター" in ChatUser.choices(messages)
    messages = parent.chat.choose(messages, "決定")
    assert "どのイベントで使いますか" in ChatUser.texts(messages)
    messages = parent.chat.say("なんでもいいです")
    assert "下のボタンから選んでください" in ChatUser.texts(messages)
    messages = parent.chat.choose(messages, "まだ決めていない")
    messages = parent.chat.sticker()
    assert "ボタンから選んでください" in ChatUser.texts(messages)
    messages = parent.chat.choose(messages, "インターネット環境がない")
    messages = parent.chat.say("あ" * 501)
    assert "500文字以内" in ChatUser.texts(messages)
    messages = parent.chat.choose(messages, "特になし")
    assert "イベント：まだ決めていない" in ChatUser.texts(messages)
    assert "やめました" in ChatUser.texts(parent.chat.choose(messages, "やめる"))
    assert all_escalations() == []


def test_approval_comes_back_with_the_pick_up_details(chat):
    staff_user, staff_id = staff_in_line(chat)
    parent = parent_with_events(chat)
    parent.chat.choose(request(parent.chat), "相談する")
    parent.chat.new_messages()
    messages = staff_user.choose(staff_user.new_messages(), "貸出OK")
    assert "受け取りの案内" in ChatUser.texts(messages)
    messages = staff_user.say("6月10日(月) 10時から16時に、南本町子育て支援センターの窓口でお渡しします。")
    assert "貸出OKとして送る内容" in ChatUser.texts(messages)
    assert "結果を保護者に送りました" in ChatUser.texts(staff_user.choose(messages, "送る"))

    decision = ChatUser.texts(parent.chat.new_messages())
    escalation = only_escalation()
    assert "機器の貸出が決まりました" in decision and escalation.reference in decision
    assert "南本町子育て支援センターの窓口でお渡しします" in decision
    assert (escalation.status, escalation.outcome, escalation.resolved_by) == ("resolved", "approved", staff_id)
    assert actions(escalation.id)[-1] == "loan_approved"
    status = ChatUser.texts(parent.chat.tap(encode("my_reports", "start")))
    assert "貸出が決まりました" in status and "窓口でお渡しします" in status


def test_a_declined_request_comes_back_with_the_reason(chat):
    staff_user, _ = staff_in_line(chat)
    parent = parent_with_events(chat)
    parent.chat.choose(request(parent.chat, event=None, note=None), "相談する")
    parent.chat.new_messages()
    messages = staff_user.choose(staff_user.new_messages(), "お断り")
    messages = staff_user.say("ご用意できる機器がすべて貸出中のためです。")
    messages = staff_user.choose(messages, "書き直す")
    messages = staff_user.say("ご用意できるパソコンがすべて貸出中のためです。")
    staff_user.choose(messages, "送る")
    decision = ChatUser.texts(parent.chat.new_messages())
    assert "今回は機器をお貸しできませんでした" in decision and "パソコンがすべて貸出中" in decision
    assert "すべて貸出中のためです。" in decision and "機器がすべて" not in decision
    assert only_escalation().outcome == "declined"
    assert [r.dedupe_key for r in outbox_rows("loan_decision")] == [f"loan-decision:{only_escalation().id}"]


def test_loan_buttons_do_not_resolve_a_report_and_report_buttons_not_a_loan(chat):
    staff_user, _ = staff_in_line(chat)
    parent = parent_with_events(chat)
    parent.chat.choose(request(parent.chat), "相談する")
    data = postbacks(staff_user.new_messages())["貸出OK"].replace("approve.", "resolve.")
    assert "見つからないか" in ChatUser.texts(staff_user.tap(data))
    assert only_escalation().status == "open"


def test_unregistered_users_are_told_how_else_to_ask(chat):
    assert "お電話でもご相談いただけます" in ChatUser.texts(chat().tap(encode("loan", "start")))
