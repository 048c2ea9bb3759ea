"""申込状況 and what happens around an application: cancelling with a confirmation, the waitlist moving up (the
promoted parent is told at once), staff approval and decline, and an application that lost the last seat."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from handlers.effects import apply as apply_effects
from handlers.postback import encode
from services.events import operations as event_service
from services.events.operations import ApplyForEvent
from storage.db import unit_of_work
from storage.models import Enrollment, Event, JoinLink, LineUser, Parent
from tests.events_support import enrollment_of, give_consent, leaks, make_event, make_parent, planned, texts_of
from tests.support import new_user_id

pytestmark = pytest.mark.usefixtures("app")  # a migrated database, emptied after each test

BASE = "https://bot.example.test"
APPLICATIONS = encode("applications", "start")


def applied(session, parent: Parent, event: Event) -> Enrollment:
    outcome = event_service.apply(session, parent, event, base_url=BASE)
    assert outcome.refusal is None
    return outcome.enrollment


def test_cancelling_asks_first_then_gives_the_seat_to_the_first_in_line_who_is_told_at_once(chat, line):
    first, second, third = new_user_id(), new_user_id(), new_user_id()
    with unit_of_work() as session:
        event = make_event(session, capacity=1)
        seated = make_parent(session, first)
        waiting = [make_parent(session, uid) for uid in (second, third)]
        applied(session, seated, event)
        for parent in waiting:
            assert applied(session, parent, event).status == "waitlisted"
        event_id, second_parent = event.id, waiting[0].id
    person = chat(first)
    mine = person.tap(APPLICATIONS)
    assert "参加確定" in texts_of(mine) and "お申し込み中のイベントです（1件）。" in texts_of(mine)
    assert {"参加用ページを開く", "カレンダーに追加", "キャンセルする"} <= set(person.choices(mine))
    asked = person.choose(mine, "キャンセルする")
    assert "キャンセルしますか" in texts_of(asked)
    kept = person.choose(asked, "キャンセルしない")
    with unit_of_work() as session:
        assert enrollment_of(session, event_id, second_parent).status == "waitlisted"
    done = person.choose(person.choose(kept, "キャンセルする"), "キャンセルする")
    assert "キャンセルしました" in texts_of(done)
    with unit_of_work() as session:
        assert enrollment_of(session, event_id, second_parent).status == "confirmed"
        live = session.scalars(select(JoinLink).where(JoinLink.revoked_at.is_(None))).all()
        assert [link.enrollment.parent_id for link in live] == [second_parent]
        rows = planned(session, "join_link")
        assert rows[-1].line_user_id == second and rows[-1].dedupe_key.startswith("join-link:")
    told = [d["message"] for d in line.delivered(to=second)]
    assert "キャンセル待ちから参加が決まりました" in texts_of(told)
    assert line.delivered(to=third) == []
    assert leaks(str(line.delivered())) == []


def test_a_waitlisted_parent_can_withdraw_from_the_list(chat):
    uid = new_user_id()
    with unit_of_work() as session:
        event = make_event(session, capacity=1)
        applied(session, make_parent(session), event)
        applied(session, make_parent(session, uid), event)
    person = chat(uid)
    mine = person.tap(APPLICATIONS)
    assert "キャンセル待ち（1番目）" in texts_of(mine)
    assert "参加用ページを開く" not in person.choices(mine)
    person.choose(person.choose(mine, "申し込みを取り消す"), "キャンセルする")
    with unit_of_work() as session:
        assert session.scalars(select(Enrollment.status).order_by(Enrollment.id)).all() == ["confirmed", "withdrawn"]


def test_approval_events_wait_for_staff_then_send_the_link(line):
    uid = new_user_id()
    with unit_of_work() as session:
        event = make_event(session, approval=True, capacity=1)
        parent = make_parent(session, uid)
        enrollment = applied(session, parent, event)
        assert enrollment.status == "pending"
        assert session.scalars(select(JoinLink)).all() == []
        assert event_service.approve(session, enrollment, decided_by="田中", base_url=BASE)
        assert not event_service.approve(session, enrollment, decided_by="田中", base_url=BASE)
        assert enrollment.status == "confirmed" and enrollment.decided_by == "田中"
        assert [row.line_user_id for row in planned(session, "join_link")] == [uid]


def test_a_decline_is_told_and_the_seat_goes_to_the_waitlist_pending_approval():
    declined_uid, waiting_uid = new_user_id(), new_user_id()
    with unit_of_work() as session:
        event = make_event(session, approval=True, capacity=1)
        first = applied(session, make_parent(session, declined_uid), event)
        second = applied(session, make_parent(session, waiting_uid), event)
        assert second.status == "waitlisted"
        assert event_service.decline(session, first, decided_by="田中", base_url=BASE)
        assert (first.status, second.status) == ("declined", "pending")
        updates = {row.line_user_id: row for row in planned(session, "application_update")}
        assert "今回はお受けできませんでした" in str(updates[declined_uid].messages)
        assert "スタッフが確認してから" in str(updates[waiting_uid].messages)
        # A declined parent cannot simply apply again.
        assert event_service.apply(session, first.parent, event, base_url=BASE).status == "declined"


def test_promotion_passes_over_a_parent_who_may_not_take_part_now():
    with unit_of_work() as session:
        event = make_event(session, capacity=1)
        seated = applied(session, make_parent(session), event)
        unconsenting = make_parent(session)
        applied(session, unconsenting, event)
        give_consent(session, unconsenting, "withdrawn")
        next_in_line = make_parent(session)
        applied(session, next_in_line, event)
        event_service.withdraw(session, seated, base_url=BASE)
        assert enrollment_of(session, event.id, unconsenting.id).status == "waitlisted"
        assert enrollment_of(session, event.id, next_in_line.id).status == "confirmed"


def test_an_application_that_lost_the_last_seat_is_waitlisted_and_told_so():
    uid = new_user_id()
    with unit_of_work() as session:
        event = make_event(session, capacity=1)
        parent = make_parent(session, uid)
        applied(session, make_parent(session), event)  # someone took the seat a moment before
        user = session.scalars(select(LineUser).where(LineUser.line_user_id == uid)).one()
        apply_effects(session, user, [ApplyForEvent(event.id, "confirmed", BASE)])
        assert enrollment_of(session, event.id, parent.id).status == "waitlisted"
        told = [row for row in planned(session, "application_update") if row.line_user_id == uid]
        assert len(told) == 1 and "キャンセル待ちで登録しました（1番目）" in str(told[0].messages)
        # The same effect again (a redelivered event) changes nothing and tells nothing more.
        apply_effects(session, user, [ApplyForEvent(event.id, "confirmed", BASE)])
        assert len([row for row in planned(session, "application_update") if row.line_user_id == uid]) == 1
