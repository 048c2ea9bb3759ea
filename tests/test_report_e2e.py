"""Loss reports end to end, through the webhook and the LINE double: the receipt, the links stopped at once, staff
alerted at once, the same matter merged (also when LINE delivers the same webhook twice), answers in the thread."""

from __future__ import annotations

import re

from handlers.postback import encode
from storage import join_links
from storage.db import unit_of_work
from tests.events_support import leaks
from tests.report_support import (
    actions,
    all_escalations,
    file_report,
    label_of,
    live_link,
    notices,
    only_escalation,
    outbox_rows,
    parent_with_events,
    report_of,
    staff_in_line,
    thread,
)
from tests.support import ChatUser, body_of, event, sign

REFERENCE = re.compile(r"受付番号：(R-[2-9A-HJ-NP-Z]{6})")


def test_a_report_is_answered_at_once_with_its_number_and_what_to_do(chat):
    parent = parent_with_events(chat)
    messages = parent.chat.tap(encode("report", "start"))
    assert "利用ポリシー5-(3)" in ChatUser.texts(messages)
    for label in ("参加用リンク", "今日", "はい"):
        messages = parent.chat.choose(messages, label)
    messages = parent.chat.choose(messages, label_of(messages, "ねんねの赤ちゃん交流会"))
    assert "選んだイベント：" in ChatUser.texts(messages)
    messages = parent.chat.choose(messages, "決定")
    messages = parent.chat.say("スマホを電車に置き忘れました")
    card = ChatUser.texts(messages)
    assert "なくしたもの：参加用リンク" in card and "スマホを電車に置き忘れました" in card
    assert "すぐに使えなくなります" in card
    receipt = ChatUser.texts(parent.chat.choose(messages, "報告する"))

    reference = REFERENCE.search(receipt).group(1)
    assert only_escalation().reference == reference
    assert "職員が確認し、このトークでご連絡します" in receipt
    assert "使わないでください" in receipt and "新しいリンクは、職員が確認してから" in receipt
    assert "047-436-2111" in receipt  # the division's phone for urgent cases
    report = report_of(only_escalation().id)
    assert (report.lost, report.lost_when, report.misuse, report.note) == (
        "join_link",
        "today",
        "yes",
        "スマホを電車に置き忘れました",
    )
    assert report.event_ids == [parent.event_ids[0]]


def test_the_links_of_the_events_concerned_stop_at_once_and_no_new_one_is_sent_before_staff_confirm(chat, client):
    parent = parent_with_events(chat)
    with unit_of_work() as session:
        old_token = join_links.token_of(join_links.live(session, parent.enrollment_ids[0]))
    file_report(parent.chat, lost="参加用リンク")  # no event chosen: nothing revoked
    assert live_link(parent.enrollment_ids[0]) is not None

    messages = parent.chat.tap(encode("report", "start"))
    for label in ("ミーティングID・パスコード", "昨日", "わからない"):
        messages = parent.chat.choose(messages, label)
    messages = parent.chat.choose(messages, label_of(messages, "ねんねの赤ちゃん交流会"))
    messages = parent.chat.choose(messages, "決定")
    messages = parent.chat.choose(messages, "特になし")
    parent.chat.choose(messages, "報告する")

    assert live_link(parent.enrollment_ids[0]) is None
    assert live_link(parent.enrollment_ids[1]) is not None  # the other event was not chosen
    assert "このリンクでは、ご案内できません" in client.get(f"/j/{old_token}").get_data(as_text=True)
    assert outbox_rows("join_link") == []  # no new link went out
    second = all_escalations()[-1]
    assert report_of(second.id).held_enrollment_ids == [parent.enrollment_ids[0]]
    assert "links_revoked" in actions(second.id)


def test_a_lost_line_account_stops_every_link(chat):
    parent = parent_with_events(chat)
    receipt = ChatUser.texts(file_report(parent.chat, lost="スマホ・LINEアカウント"))
    assert "LINEのパスワードを変更" in receipt
    assert [live_link(e) for e in parent.enrollment_ids] == [None, None]
    assert report_of(only_escalation().id).event_ids == sorted(parent.event_ids)


def test_on_duty_staff_of_the_centre_and_the_division_are_alerted_at_once_with_action_buttons(chat):
    centre_staff, _ = staff_in_line(chat, centre="takanedai", name="高根台 佐藤")
    division, _ = staff_in_line(chat, centre="division")
    off_duty, _ = staff_in_line(chat, centre="takanedai", on_duty=False)
    other_centre, _ = staff_in_line(chat, centre="minamihoncho")
    parent = parent_with_events(chat, event_centre="takanedai")
    file_report(parent.chat, events=("ねんね",), lost="その他")

    for person in (centre_staff, division):
        alert = person.new_messages()
        text = ChatUser.texts(alert)
        assert "【至急】紛失・盗難の報告" in text and only_escalation().reference in text
        assert {"対応します", "指示を送る", "解決"} <= set(ChatUser.choices(alert))
        assert "船橋 花子" not in text and "090-1234-5678" not in text  # no name or phone in LINE alerts
    assert off_duty.new_messages() == [] and other_centre.new_messages() == []
    assert only_escalation().centre == "takanedai"  # the event's centre
    assert "notified" in actions(only_escalation().id)
    assert {n.channel for n in notices()} == {"email", "webhook"}


def test_without_an_event_the_parents_centre_is_responsible(chat):
    centre_staff, _ = staff_in_line(chat, centre="minamihoncho")
    parent = parent_with_events(chat, centre="minamihoncho", event_centre="takanedai")
    file_report(parent.chat, lost="その他")
    assert only_escalation().centre == "minamihoncho"
    assert "【至急】" in ChatUser.texts(centre_staff.new_messages())


def test_the_same_report_twice_within_a_day_is_merged_and_staff_are_alerted_once(chat):
    staff_user, _ = staff_in_line(chat)
    parent = parent_with_events(chat)
    first = ChatUser.texts(file_report(parent.chat, events=(), lost="WEB会議のID・パスワード"))
    staff_user.new_messages()
    second = ChatUser.texts(file_report(parent.chat, events=(), lost="WEB会議のID・パスワード", misuse="はい"))

    escalation = only_escalation()
    assert REFERENCE.search(first).group(1) == escalation.reference
    assert "同じ内容のご報告を" in second and escalation.reference in second
    assert report_of(escalation.id).repeats == 1
    assert staff_user.new_messages() == []  # not escalated twice
    assert actions(escalation.id).count("notified") == 1 and "merged" in actions(escalation.id)
    assert len(notices()) == 2


def test_a_different_loss_is_a_new_report(chat):
    parent = parent_with_events(chat)
    file_report(parent.chat, lost="WEB会議のID・パスワード")
    file_report(parent.chat, lost="その他")
    assert len(all_escalations()) == 2


def test_the_same_webhook_delivered_twice_files_one_report_and_alerts_once(chat, line, runtime):
    staff_user, _ = staff_in_line(chat)
    parent = parent_with_events(chat)
    messages = parent.chat.tap(encode("report", "start"))
    for label in ("その他", "わからない", "わからない"):
        messages = parent.chat.choose(messages, label)
    messages = parent.chat.choose(messages, "関係なし・不明")
    messages = parent.chat.choose(messages, "特になし")
    send = ChatUser.choices(messages)["報告する"]["data"]
    staff_user.new_messages()

    token = line.issue_reply_token()
    line.bind_reply_token(token, parent.chat.user_id)
    tap = event("postback", parent.chat.user_id, token, postback={"data": send})
    raw = body_of(tap)
    redelivered = dict(tap, deliveryContext={"isRedelivery": True})
    for body in (raw, body_of(redelivered)):
        response = parent.chat.client.post(
            "/callback",
            data=body,
            headers={"X-Line-Signature": sign(body, parent.chat.secret), "Content-Type": "application/json"},
        )
        assert response.status_code == 200
        runtime.drain()

    assert len(all_escalations()) == 1
    assert len(staff_user.new_messages()) == 1
    assert len(notices()) == 2
    assert actions(only_escalation().id).count("notified") == 1


def test_no_conference_secret_ever_reaches_a_message_or_a_notice(chat):
    staff_user, _ = staff_in_line(chat)
    parent = parent_with_events(chat)
    file_report(parent.chat, lost="ミーティングID・パスコード", events=())
    everything = ChatUser.texts(staff_user.new_messages()) + "".join(n.subject + n.body for n in notices())
    assert leaks(everything) == []


def test_unregistered_users_are_asked_to_call(chat):
    stranger = chat()
    text = ChatUser.texts(stranger.tap(encode("report", "start")))
    assert "お電話で地域子育て支援課へ" in text
    assert all_escalations() == []


def test_the_parent_sees_their_reports_and_answers_staff_in_the_same_thread(chat):
    staff_user, staff_id = staff_in_line(chat)
    parent = parent_with_events(chat)
    file_report(parent.chat, lost="その他")
    escalation = only_escalation()
    alert = staff_user.new_messages()
    messages = staff_user.choose(alert, "指示を送る")
    messages = staff_user.say("いま、どちらの端末から参加していますか?")
    assert "いま、どちらの端末から参加していますか?" in ChatUser.texts(messages)
    staff_user.choose(messages, "送る")

    instruction = parent.chat.new_messages()
    text = ChatUser.texts(instruction)
    assert "地域子育て支援課からのご連絡" in text and "いま、どちらの端末から参加していますか?" in text
    assert escalation.reference in text

    status = parent.chat.tap(encode("my_reports", "start"))
    assert "職員が対応しています" in ChatUser.texts(status)
    assert "お返事をお待ちしています" in ChatUser.texts(status)

    # Free text outside any flow is offered as the answer, and sent only after a confirmation.
    parent.chat.say("やめる")
    offer = parent.chat.say("タブレットです")
    assert "返信として" in ChatUser.texts(offer)
    assert [m.direction for m in thread(escalation.id)] == ["to_parent"]
    sent = parent.chat.choose(offer, "返信として送る")
    assert "返信を職員に送りました" in ChatUser.texts(sent)

    relayed = ChatUser.texts(staff_user.new_messages())
    assert "保護者から返信" in relayed and "タブレットです" in relayed
    messages = thread(escalation.id)
    assert [(m.direction, m.staff_id) for m in messages] == [("to_parent", staff_id), ("from_parent", staff_id)]
    assert messages[0].answered_at is not None
    assert actions(escalation.id)[-2:] == ["instruction_sent", "answered"]


def test_an_answer_offer_can_be_declined(chat):
    staff_user, _ = staff_in_line(chat)
    parent = parent_with_events(chat)
    file_report(parent.chat, lost="その他")
    staff_user.choose(staff_user.new_messages(), "指示を送る")
    staff_user.choose(staff_user.say("お電話ください"), "送る")
    parent.chat.new_messages()
    offer = parent.chat.say("ありがとう")
    kept = parent.chat.choose(offer, "送らない")
    assert "送っていません" in ChatUser.texts(kept)
    assert [m.direction for m in thread(only_escalation().id)] == ["to_parent"]


def test_the_answer_button_of_an_instruction_opens_the_answer(chat):
    staff_user, _ = staff_in_line(chat)
    parent = parent_with_events(chat)
    file_report(parent.chat, lost="その他")
    staff_user.choose(staff_user.new_messages(), "指示を送る")
    staff_user.choose(staff_user.say("今日は参加できそうですか?"), "送る")
    messages = parent.chat.choose(parent.chat.new_messages(), "返信する")
    assert "職員への返信を入力してください" in ChatUser.texts(messages)
    messages = parent.chat.say("はい、参加します")
    parent.chat.choose(messages, "送る")
    assert [m.text for m in thread(only_escalation().id)][-1] == "はい、参加します"
