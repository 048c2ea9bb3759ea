"""The staff side in LINE: linking with an invitation code, the staff menu, 当番, acting on alerts from their buttons
(対応します, 指示を送る, 解決), who may act on what, and forged staff buttons from parents doing nothing."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select

from handlers.postback import encode
from storage import crypto, staff
from storage.clock import now
from storage.db import unit_of_work
from storage.models import AuditEvent, StaffMember
from tests.report_support import (
    actions,
    file_report,
    history,
    live_link,
    member,
    only_escalation,
    outbox_rows,
    parent_with_events,
    postbacks,
    staff_in_line,
    thread,
)
from tests.support import ChatUser


def invite(name: str = "高根台 佐藤", centre: str = "takanedai") -> tuple[int, str]:
    with unit_of_work() as session:
        person = staff.create_member(
            session, name=name, login=f"{centre}.sato@city.example", centre=centre, role="staff"
        )
        return person.id, staff.create_invite(session, person)


def audit_actions(action_prefix: str) -> list[AuditEvent]:
    with unit_of_work() as session:
        return list(
            session.scalars(
                select(AuditEvent).where(AuditEvent.action.startswith(action_prefix)).order_by(AuditEvent.id)
            )
        )


# --- linking ------------------------------------------------------------------------------------------------------
def test_a_staff_member_links_their_line_account_with_the_invitation_code(chat):
    staff_id, code = invite()
    person = chat()
    answer = ChatUser.texts(person.say(f"職員登録 {code.lower()}"))
    assert "高根台 佐藤さんのLINEを職員として登録しました" in answer
    with unit_of_work() as session:
        linked = staff.by_line_user(session, member(staff_id).line_user_pk)
        assert linked is not None and linked.id == staff_id
    assert [a.action for a in audit_actions("staff.line_link")] == ["staff.line_link"]
    assert "職員メニュー" in ChatUser.texts(person.say("こんにちは"))


def test_the_code_may_also_come_after_the_keyword_even_mid_flow(chat):
    staff_id, code = invite()
    person = chat()
    person.follow()  # registration has started
    assert "招待コード" in ChatUser.texts(person.say("職員登録"))
    person.say(code)
    assert member(staff_id).line_user_pk is not None


def test_the_code_pasted_alone_links_too(chat):
    staff_id, code = invite()
    person = chat()
    person.say(code)
    assert member(staff_id).line_user_pk is not None


def test_a_wrong_used_or_expired_code_links_nothing_and_guessing_is_stopped(chat):
    staff_id, code = invite()
    person = chat()
    assert "登録できませんでした" in ChatUser.texts(person.say("職員登録 0000-0000-0000"))
    for _ in range(4):
        person.say("職員登録 1111-1111-1111")
    refused = ChatUser.texts(person.say(f"職員登録 {code}"))  # right, but too late: no more codes taken today
    assert "しばらく受け付けられません" in refused
    assert member(staff_id).line_user_pk is None

    someone_else = chat()
    someone_else.say(f"職員登録 {code}")
    assert member(staff_id).line_user_pk is not None
    third = chat()
    assert "登録できませんでした" in ChatUser.texts(third.say(f"職員登録 {code}"))  # a code works once


def test_an_expired_code_links_nothing(chat):
    staff_id, code = invite()
    with time_machine.travel(now() + timedelta(hours=24, minutes=1), tick=False):
        answer = ChatUser.texts(chat().say(f"職員登録 {code}"))
    assert "有効期限（24時間）" in answer and member(staff_id).line_user_pk is None


# --- the staff menu -------------------------------------------------------------------------------------------------
def test_staff_get_the_staff_menu_and_parents_never_see_it(chat):
    staff_user, _ = staff_in_line(chat)
    greeting = staff_user.follow()
    assert "職員メニュー（市職員 田中さん・地域子育て支援課）" in ChatUser.texts(greeting)
    assert {"未対応の報告", "当番をOFFにする"} <= set(ChatUser.choices(greeting))
    assert "職員メニュー" in ChatUser.choices(staff_user.say("メニュー"))
    assert "登録する" not in ChatUser.choices(staff_user.say("メニュー"))

    parent = parent_with_events(chat)
    for messages in (parent.chat.say("メニュー"), parent.chat.say("ヘルプ"), parent.chat.say("こんにちは")):
        assert "職員メニュー" not in ChatUser.choices(messages)
        assert "職員" not in ChatUser.texts(messages)


def test_going_off_duty_stops_new_alerts(chat):
    staff_user, staff_id = staff_in_line(chat)
    staff_user.choose(staff_user.follow(), "当番をOFFにする")
    assert member(staff_id).on_duty is False
    assert [a.details for a in audit_actions("staff.on_duty")] == [{"on": False}]
    parent = parent_with_events(chat)
    file_report(parent.chat, lost="その他")
    assert staff_user.new_messages() == []
    menu = staff_user.choose(staff_user.say("メニュー"), "職員メニュー")
    staff_user.choose(menu, "当番をONにする")
    assert member(staff_id).on_duty is True


def test_the_list_of_open_reports_has_their_buttons(chat):
    staff_user, _ = staff_in_line(chat)
    parent = parent_with_events(chat)
    file_report(parent.chat, lost="WEB会議のID・パスワード", note="パスワードを書いた紙をなくしました")
    staff_user.new_messages()
    listing = staff_user.choose(staff_user.follow(), "未対応の報告")
    text = ChatUser.texts(listing)
    assert only_escalation().reference in text and "WEB会議のID・パスワード" in text
    assert "パスワードを書いた紙をなくしました" in text and "状況：未対応" in text
    assert {"対応します", "指示を送る", "解決"} <= set(ChatUser.choices(listing))


# --- acting on an alert ---------------------------------------------------------------------------------------------
def test_acknowledging_from_the_alert_is_recorded_with_who_and_the_others_are_told(chat):
    first, first_id = staff_in_line(chat, name="市職員 田中")
    second, second_id = staff_in_line(chat, name="市職員 鈴木")
    parent = parent_with_events(chat)
    file_report(parent.chat, lost="その他")
    alert = first.new_messages()
    second_alert = second.new_messages()

    taken = ChatUser.texts(first.choose(alert, "対応します"))
    assert "「対応します」と記録しました" in taken and "対応中（市職員 田中）" in taken
    escalation = only_escalation()
    assert (escalation.status, escalation.acknowledged_by) == ("acknowledged", first_id)
    told = ChatUser.texts(second.new_messages())
    assert "市職員 田中さんが対応します" in told
    acknowledged = [e for e in history(escalation.id) if e.action == "acknowledged"]
    assert [(e.actor_staff_id, e.actor_label) for e in acknowledged] == [(first_id, f"staff:{first_id}")]
    assert [a.actor_staff_id for a in audit_actions("escalation.acknowledged")] == [first_id]

    again = ChatUser.texts(second.choose(second_alert, "対応します"))
    assert "すでに市職員 田中さんが対応しています" in again
    assert only_escalation().acknowledged_by == first_id
    assert "すでにあなたが対応中です" in ChatUser.texts(first.choose(alert, "対応します"))


def test_resolving_sends_new_links_only_then_and_tells_the_parent(chat):
    staff_user, staff_id = staff_in_line(chat)
    parent = parent_with_events(chat)
    file_report(parent.chat, events=("ねんね",))
    assert live_link(parent.enrollment_ids[0]) is None
    parent.chat.new_messages()
    resolve = staff_user.choose(staff_user.new_messages(), "解決")
    assert "参加用リンク1件を止めました" in ChatUser.texts(resolve)
    done = staff_user.choose(resolve, "リンクを送って解決")
    assert "新しい参加用リンクを保護者に送ります" in ChatUser.texts(done)

    escalation = only_escalation()
    assert (escalation.status, escalation.resolved_by, escalation.outcome) == ("resolved", staff_id, "links_sent")
    new_link = live_link(parent.enrollment_ids[0])
    assert new_link is not None
    told = parent.chat.new_messages()
    assert "対応が終わりました" in ChatUser.texts(told)
    tokens = [uri.rsplit("/", 1)[1] for uri in _uris(told) if "/j/" in uri]
    assert [crypto.token_hash(token) for token in tokens] == [new_link.token_hash]
    assert [r.subject for r in outbox_rows("join_link")] == [f"join_link:{new_link.id}"]
    assert actions(escalation.id)[-1] == "resolved"


def test_resolving_without_links_leaves_them_stopped(chat):
    staff_user, _ = staff_in_line(chat)
    parent = parent_with_events(chat)
    file_report(parent.chat, lost="スマホ・LINEアカウント")
    resolve = staff_user.choose(staff_user.new_messages(), "解決")
    staff_user.choose(resolve, "リンクを送らず解決")
    assert only_escalation().outcome == "links_held"
    assert [live_link(e) for e in parent.enrollment_ids] == [None, None]
    assert outbox_rows("join_link") == []
    assert "職員からのご案内に従ってください" in ChatUser.texts(parent.chat.new_messages())


def test_a_resolved_report_takes_no_more_actions(chat):
    staff_user, _ = staff_in_line(chat)
    parent = parent_with_events(chat)
    file_report(parent.chat, lost="その他")
    alert = staff_user.new_messages()
    staff_user.choose(staff_user.choose(alert, "解決"), "解決にする")
    answer = ChatUser.texts(staff_user.choose(alert, "指示を送る"))
    assert "すでに解決済みです" in answer
    assert (only_escalation().status, only_escalation().outcome) == ("resolved", None)
    told = ChatUser.texts(parent.chat.new_messages())
    assert "対応が終わりました" in told and "参加用リンク" not in told  # it stopped no link


def test_viewers_and_other_centres_cannot_act(chat):
    viewer, _ = staff_in_line(chat, role="viewer")
    other, _ = staff_in_line(chat, centre="minamihoncho")
    parent = parent_with_events(chat, centre="takanedai", event_centre="takanedai")
    file_report(parent.chat, lost="その他")
    ack = postbacks(viewer.new_messages())["対応します"]
    assert "閲覧のみ" in ChatUser.texts(viewer.tap(ack))
    assert "担当の範囲外" in ChatUser.texts(other.tap(ack))  # a minamihoncho member with a takanedai report
    assert only_escalation().status == "open"


# --- forged staff buttons ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "data",
    [
        "1|staff|start|ack.{id}|",
        "1|staff|start|resolve.{id}|",
        "1|staff|start|list|",
        "1|staff|send||3",
    ],
)
def test_a_forged_staff_button_from_a_parent_does_nothing_but_get_logged(chat, caplog, data):
    staff_user, _ = staff_in_line(chat)
    parent = parent_with_events(chat)
    file_report(parent.chat, lost="その他", note="電話番号は090-1234-5678です")
    escalation = only_escalation()
    before = actions(escalation.id)
    staff_user.new_messages()
    with caplog.at_level(logging.INFO):
        answer = parent.chat.tap(data.replace("{id}", str(escalation.id)))
    text = ChatUser.texts(answer)
    assert "ご用件をメニューから選んでください" in text or "このボタンは古いため" in text
    assert only_escalation().reference not in text and "電話番号" not in text
    assert (only_escalation().status, actions(escalation.id)) == ("open", before)
    assert staff_user.new_messages() == []
    logged = "\n".join(r.getMessage() for r in caplog.records)
    if data.startswith("1|staff|start"):
        assert "not staff: refused" in logged
    assert parent.chat.user_id not in logged and "090-1234-5678" not in logged


def test_the_staff_keyword_from_a_parent_shows_the_ordinary_menu(chat):
    parent = parent_with_events(chat)
    text = ChatUser.texts(parent.chat.say("職員メニュー"))
    assert "ご用件をメニューから選んでください" in text and "当番" not in text


def test_a_staff_member_made_inactive_loses_the_staff_chat_even_half_way(chat):
    staff_user, staff_id = staff_in_line(chat)
    parent = parent_with_events(chat)
    file_report(parent.chat, lost="その他")
    staff_user.choose(staff_user.new_messages(), "指示を送る")
    with unit_of_work() as session:
        staff.set_active(session, session.get(StaffMember, staff_id), False)
    answer = ChatUser.texts(staff_user.say("お電話ください"))
    assert "ご用件をメニューから選んでください" in answer
    assert thread(only_escalation().id) == [] and parent.chat.new_messages() == []
    assert "当番" not in ChatUser.texts(staff_user.tap(encode("staff", "start", "list")))


def _uris(messages) -> list[str]:
    found: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            if node.get("type") == "uri":
                found.append(node["uri"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(messages)
    return found
