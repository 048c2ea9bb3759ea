"""New join details for an event after a leak: staff change the join URL and passcode from the report's alert in LINE
(or the console calls ``rotate_event_credentials``); every confirmed participant gets their new personal link exactly
once, the reporter's waits for the report to be resolved, and the old details are never shown again."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select

from services.reports.operations import rotate_event_credentials
from storage import crypto, enrollments, events, join_links, staff
from storage.db import unit_of_work
from storage.models import AuditEvent, Event, StaffMember
from tests.events_support import CONFERENCE, make_event, make_parent
from tests.report_support import actions, file_report, live_link, only_escalation, outbox_rows, staff_in_line
from tests.support import ChatUser

NEW_URL = "https://zoom.example.test/j/11122233344?pwd=NeWpWd"
NEW_PASSCODE = "hiyoko-2468"


def people_of_one_event(chat, count: int = 3):
    """An event of Takanedai with ``count`` confirmed participants: [(chat user, enrollment id)], event id."""
    with unit_of_work() as session:
        event = make_event(session, centre="takanedai", title="よちよち歩きさんの交流会", starts_in=timedelta(days=2))
        people = []
        for _ in range(count):
            user = chat()
            parent = make_parent(session, user.user_id)
            people.append((user, enrollments.apply(session, event, parent.id).enrollment.id))
        return people, event.id


def tokens_sent(messages) -> list[str]:
    return re.findall(r"/j/([A-Za-z0-9_-]{43})", str(messages))


def reveal(client, token: str) -> str:
    page = client.get(f"/j/{token}")
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    return client.post(f"/j/{token}", data={"csrf_token": found.group(1)}).text if found else page.text


def test_staff_change_the_join_details_from_the_alert_and_each_participant_gets_one_new_link(chat, client):
    people, event_id = people_of_one_event(chat)
    (reporter, reporter_enrollment), *others = people
    staff_user, _ = staff_in_line(chat)
    file_report(reporter, lost="ミーティングID・パスコード", events=("よちよち",))
    old_links = {enrollment: live_link(enrollment) for _, enrollment in others}
    for user, _ in others:
        user.new_messages()

    messages = staff_user.choose(staff_user.new_messages(), "参加情報を変更")
    assert "新しい参加URL" in ChatUser.texts(messages)
    assert "URLの形" in ChatUser.texts(staff_user.say("zoom の新しいURL"))
    messages = staff_user.say(NEW_URL)
    assert "新しいパスコード" in ChatUser.texts(messages)
    confirm = staff_user.say(NEW_PASSCODE)
    assert "確定した参加者全員に新しい参加用リンクを送り" in ChatUser.texts(confirm)
    done = staff_user.choose(confirm, "変更して送る")
    assert "参加情報を変更しました" in ChatUser.texts(done)
    staff_user.choose(confirm, "変更して送る")  # a second tap on the same card: a stale button, nothing more

    with unit_of_work() as session:
        conference = events.conference(session.get(Event, event_id))
    assert (conference.join_url, conference.passcode) == (NEW_URL, NEW_PASSCODE)
    for user, enrollment in others:
        messages = user.new_messages()
        assert "前のリンクは使えなくなりました" in ChatUser.texts(messages)
        [token] = tokens_sent(messages)
        new = live_link(enrollment)
        assert crypto.token_hash(token) == new.token_hash and new.id != old_links[enrollment].id
    assert reporter.new_messages() == []  # the reporter's link waits for the report to be resolved
    assert live_link(reporter_enrollment) is None
    assert len(outbox_rows("join_link")) == len(others)
    assert "credentials_rotated" in actions(only_escalation().id)


def test_the_old_details_are_never_shown_again(chat, client):
    people, event_id = people_of_one_event(chat, count=1)
    (user, enrollment) = people[0]
    with unit_of_work() as session:
        old_token = join_links.token_of(join_links.live(session, enrollment))
        actor = _staff(session)
        assert (
            rotate_event_credentials(
                session, event_id, NEW_URL, NEW_PASSCODE, actor, base_url="https://bot.example.test"
            )
            == 1
        )
        new_token = join_links.token_of(join_links.live(session, enrollment))
        start = session.get(Event, event_id).starts_at
    with time_machine.travel(start - timedelta(minutes=5), tick=False):
        old_page, new_page = reveal(client, old_token), reveal(client, new_token)
    assert CONFERENCE["passcode"] not in old_page and NEW_PASSCODE not in old_page
    assert "このリンクでは、ご案内できません" in old_page  # the one page of every dead link
    assert NEW_PASSCODE in new_page and CONFERENCE["passcode"] not in new_page
    assert CONFERENCE["passcode"] not in str([r.messages for r in outbox_rows("join_link")])


def test_each_rotation_reaches_every_participant_exactly_once(chat):
    people, event_id = people_of_one_event(chat)
    with unit_of_work() as session:
        actor = _staff(session)
        assert rotate_event_credentials(session, event_id, NEW_URL, NEW_PASSCODE, actor, base_url="https://b.test") == 3
        assert (
            rotate_event_credentials(session, event_id, NEW_URL, NEW_PASSCODE, actor, base_url="https://b.test") is None
        )
    with unit_of_work() as session:
        assert (
            rotate_event_credentials(
                session, event_id, NEW_URL + "9", "another-pass-9", _staff(session), base_url="https://b.test"
            )
            == 3
        )
    rows = outbox_rows("join_link")
    assert len(rows) == 6 and len({r.dedupe_key for r in rows}) == 6
    for user, _enrollment in people:
        assert len([r for r in rows if r.line_user_id == user.user_id]) == 2
    with unit_of_work() as session:
        audited = session.scalars(select(AuditEvent).where(AuditEvent.action == "event.rotate_credentials")).all()
    assert [a.details for a in audited] == [{"links": 3, "held": 0}] * 2


@pytest.mark.parametrize("centre, role", [("minamihoncho", "staff"), ("division", "viewer")])
def test_only_staff_who_may_act_for_the_events_centre_can_rotate(chat, centre, role):
    people, event_id = people_of_one_event(chat, count=1)
    with unit_of_work() as session:
        actor = _staff(session, centre=centre, role=role)
        assert (
            rotate_event_credentials(session, event_id, NEW_URL, NEW_PASSCODE, actor, base_url="https://b.test") is None
        )
        assert events.conference(session.get(Event, event_id)).passcode == CONFERENCE["passcode"]
    assert outbox_rows("join_link") == []


def test_a_rotation_needs_a_url_and_a_passcode(chat):
    _, event_id = people_of_one_event(chat, count=1)
    with unit_of_work() as session, pytest.raises(ValueError):
        rotate_event_credentials(session, event_id, "zoom", NEW_PASSCODE, _staff(session), base_url="")


def test_resolving_the_report_later_gives_the_reporter_a_link_to_the_new_details(chat, client):
    people, event_id = people_of_one_event(chat, count=2)
    (reporter, reporter_enrollment), *_ = people
    staff_user, _ = staff_in_line(chat)
    file_report(reporter, lost="参加用リンク", events=("よちよち",))
    alert = staff_user.new_messages()
    with unit_of_work() as session:
        rotate_event_credentials(
            session, event_id, NEW_URL, NEW_PASSCODE, _staff(session), base_url="https://bot.example.test"
        )
    staff_user.choose(staff_user.choose(alert, "解決"), "リンクを送って解決")
    [token] = tokens_sent(reporter.new_messages())
    assert crypto.token_hash(token) == live_link(reporter_enrollment).token_hash


def _staff(session, centre: str = "division", role: str = "admin") -> StaffMember:
    return staff.by_login(session, f"{role}.{centre}@city.example") or staff.create_member(
        session, name="支援課 管理者", login=f"{role}.{centre}@city.example", centre=centre, role=role
    )
