"""Retention (APPI): each kind of data goes when its period ends, not a day earlier; what statistics count stays,
anonymous; a parent who blocked the bot long enough is erased; the nightly purge is idempotent and works in batches.
Time moves with time-machine; the purge is run by hand, as the worker would run it at 03:30."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.config import ConfigError, from_environ
from scheduler.retention import Purge
from scheduler.worker import build
from storage import audit, conversations, enrollments, inbox, join_links, outbox, reports, retention, staff_parents
from storage.clock import now
from storage.db import inbox_unit_of_work, unit_of_work
from storage.models import (
    AttendanceMark,
    AuditEvent,
    ConversationState,
    Enrollment,
    Escalation,
    EscalationMessage,
    Event,
    Feedback,
    InboxEvent,
    JoinLink,
    JoinLinkOpening,
    LineUser,
    LostCredentialReport,
    OutboxMessage,
    Parent,
    StaffMember,
    StaffSession,
)
from tests.events_support import make_event, make_parent
from tests.scheduler_support import clock  # noqa: F401 — the fixture
from tests.support import event as webhook_event
from tests.support import new_user_id

ROOT = Path(__file__).resolve().parent.parent
DAY = timedelta(days=1)


def purge(batch: int = 1000) -> dict[str, int]:
    return Purge(retention.DEFAULTS, batch=batch).run()


def count(model, *where) -> int:
    with inbox_unit_of_work() if model is InboxEvent else unit_of_work() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def trail(action: str) -> list[AuditEvent]:
    with unit_of_work() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


# --- the periods ------------------------------------------------------------------------------------------------
def test_the_default_periods_are_the_documented_ones():
    assert retention.DEFAULTS == {
        "conversations": 30,
        "inbox": 14,
        "outbox": 90,
        "link_openings": 365,
        "participants": 365,
        "feedback": 365,
        "reports": 1095,
        "audit": 1825,
        "staff_sessions": 365,
        "unfollowed": 180,
    }
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    privacy = (ROOT / "docs" / "privacy.md").read_text(encoding="utf-8")
    for period in retention.PERIODS:
        assert f"`{period.variable}`" in readme and period.variable in privacy, period.variable


def test_periods_come_from_the_environment_and_a_bad_one_refuses_to_start():
    config = from_environ({"APP_MODE": "test", "RETENTION_OUTBOX_DAYS": "30"})
    assert config.retention_days["outbox"] == 30 and config.retention_days["audit"] == 1825
    for bad in ("0", "-3", "ninety", "1.5"):
        with pytest.raises(ConfigError, match="RETENTION_INBOX_DAYS"):
            from_environ({"APP_MODE": "test", "RETENTION_INBOX_DAYS": bad})


def test_the_purge_runs_every_night_at_half_past_three_in_tokyo(runtime):
    scheduler = build(runtime, blocking=False)
    job = scheduler.get_job("retention-purge")
    fields = {f.name: str(f) for f in job.trigger.fields}
    assert (fields["hour"], fields["minute"], str(job.trigger.timezone)) == ("3", "30", "Asia/Tokyo")
    assert job.coalesce and job.misfire_grace_time is None and job.max_instances == 1


# --- webhook events, conversations, messages, openings ----------------------------------------------------------
def test_a_processed_webhook_event_keeps_only_its_shape(chat):
    parent = chat()
    parent.say("船橋 花子です。電話は 090-1234-5678")
    with inbox_unit_of_work() as session:
        (row,) = session.scalars(select(InboxEvent).where(InboxEvent.event_type == "message"))
        assert row.status == "done"
        assert row.payload == {
            "type": "message",
            "mode": "active",
            "timestamp": row.payload["timestamp"],
            "message": {"type": "text"},
        }
    assert parent.user_id not in json.dumps(row.payload) and "花子" not in json.dumps(row.payload, ensure_ascii=False)


def test_webhook_events_go_14_days_after_processing_and_pending_ones_stay(clock, app):
    with inbox_unit_of_work() as session:
        inbox.store(session, [webhook_event("follow", new_user_id()), webhook_event("follow", new_user_id())])
        done = session.scalars(select(InboxEvent).order_by(InboxEvent.id)).first()
        inbox.mark_done(session, done)
    clock.shift(14 * DAY - timedelta(minutes=1))
    assert purge()["inbox"] == 0
    clock.shift(timedelta(minutes=2))
    assert purge()["inbox"] == 1
    assert count(InboxEvent) == 1 and count(InboxEvent, InboxEvent.status == "pending") == 1


def test_conversation_state_goes_after_30_idle_days(clock, app):
    with unit_of_work() as session:
        idle, active = make_parent(session), make_parent(session)
        for parent in (idle, active):
            conversations.save(session, parent.line_user_pk, "events", "list", {"page": 0}, 3, None)
    clock.shift(20 * DAY)
    with unit_of_work() as session:
        conversations.save(session, active.line_user_pk, "events", "detail", {"event": 1}, 4, None)
    clock.shift(10 * DAY + timedelta(minutes=1))
    assert purge()["conversations"] == 1
    with unit_of_work() as session:
        assert [row.line_user_pk for row in session.scalars(select(ConversationState))] == [active.line_user_pk]


def test_sent_and_expired_messages_go_after_90_days_and_planned_ones_stay(clock, app):
    with unit_of_work() as session:
        sent, expired, planned = (
            outbox.add(session, purpose="notice", messages=[{"type": "text", "text": "x"}], line_user_id=new_user_id())
            for _ in range(3)
        )
        outbox.mark_sent(session, [sent])
        outbox.expire(session, [expired], "the event was cancelled")
    clock.shift(90 * DAY - timedelta(hours=1))
    assert purge()["outbox"] == 0
    clock.shift(timedelta(hours=2))
    assert purge()["outbox"] == 2
    with unit_of_work() as session:
        assert [row.id for row in session.scalars(select(OutboxMessage))] == [planned]


def test_join_page_openings_go_after_a_year(clock, app):
    with unit_of_work() as session:
        event = make_event(session, starts_in=timedelta(days=400))
        applied = enrollments.apply(session, event, make_parent(session).id)
        link = join_links.live(session, applied.enrollment.id)
        join_links.record_opening(session, link, fingerprint="a" * 64, outcome="too_early", details_shown=False)
    clock.shift(365 * DAY + timedelta(minutes=1))
    assert purge()["link_openings"] == 1
    assert count(JoinLinkOpening) == 0 and count(JoinLink) == 1, "the event is still ahead: the link stays"


# --- participant lists and feedback: removed, counts kept -----------------------------------------------------------
def _finished_event_with_participants(session) -> tuple[int, list[int]]:
    event = make_event(session, starts_in=timedelta(days=2), capacity=2)
    parents = [make_parent(session) for _ in range(3)]
    applied = [enrollments.apply(session, event, p.id).enrollment for p in parents]
    assert [e.status for e in applied] == ["confirmed", "confirmed", "waitlisted"]
    member = StaffMember(
        name="職員 高根台", login="staff.retention@city.funabashi.example", centre="takanedai", role="staff"
    )
    session.add(member)
    session.flush()
    session.add(AttendanceMark(enrollment_id=applied[0].id, attended=True, marked_by_staff_id=member.id))
    session.add(AttendanceMark(enrollment_id=applied[1].id, attended=False, marked_by_staff_id=member.id))
    return event.id, [p.id for p in parents]


def test_participant_lists_go_a_year_after_the_event_and_its_counts_stay(clock, app):
    with unit_of_work() as session:
        event_id, parent_ids = _finished_event_with_participants(session)
        later = make_event(session, starts_in=timedelta(days=300))
        enrollments.apply(session, later, parent_ids[0])
    clock.shift(2 * DAY + 365 * DAY)  # the event ended an hour less than a year ago
    assert purge()["participants"] == 0
    clock.shift(timedelta(hours=2))
    assert purge()["participants"] == 3
    assert count(Enrollment, Enrollment.event_id == event_id) == 0
    assert count(AttendanceMark) == 0 and count(JoinLink) == 1, "only the later event's link is left"
    assert count(Event) == 2 and count(Parent) == 3
    (archived,) = trail("retention.event_archived")
    assert (archived.subject_id, archived.actor_label) == (str(event_id), retention.SYSTEM)
    assert archived.details == {"applications_confirmed": 2, "applications_waitlisted": 1, "attended": 1}


def test_feedback_is_anonymised_after_a_year_into_the_events_score_counts(clock, app):
    from storage import feedback

    with unit_of_work() as session:
        event_id, parent_ids = _finished_event_with_participants(session)
    clock.shift(3 * DAY)
    with unit_of_work() as session:
        feedback.record_score(session, parent_ids[0], event_id, 5)
        feedback.record_comment(session, parent_ids[0], event_id, "画面越しでも話せて楽しかったです")
        feedback.record_score(session, parent_ids[1], event_id, 4)
    clock.shift(365 * DAY - timedelta(minutes=1))
    assert purge()["feedback"] == 0
    clock.shift(timedelta(minutes=2))
    assert purge()["feedback"] == 2 and count(Feedback) == 0
    (anonymised,) = trail("retention.feedback_anonymised")
    assert anonymised.details == {"comments": 1, "score_4": 1, "score_5": 1}


# --- reports, audit ------------------------------------------------------------------------------------------
def _report(session, parent_id: int, reference: str) -> Escalation:
    escalation = reports.create_escalation(
        session, kind="lost_credentials", reference=reference, parent_id=parent_id, centre="minamihoncho"
    )
    reports.add_report(
        session,
        escalation,
        lost="join_link",
        lost_when="today",
        misuse="no",
        event_ids=[],
        note="スマホを電車に置き忘れました",
        held=[],
    )
    reports.add_message(session, escalation, direction="from_parent", text="見つかりました", staff_id=None)
    return escalation


def test_resolved_reports_go_after_three_years_and_open_ones_never(clock, app):
    with unit_of_work() as session:
        parent = make_parent(session)
        resolved, still_open = _report(session, parent.id, "R-OLD234"), _report(session, parent.id, "R-OPEN56")
        resolved.status, resolved.resolved_at = "resolved", now()
        still_open_id = still_open.id
    clock.shift(3 * 365 * DAY - DAY)
    assert purge()["reports"] == 0
    clock.shift(2 * DAY)
    assert purge()["reports"] == 1
    with unit_of_work() as session:
        assert [e.id for e in session.scalars(select(Escalation))] == [still_open_id]
    assert count(LostCredentialReport) == 1 and count(EscalationMessage) == 1


def test_the_audit_trail_goes_after_five_years(clock, app):
    with unit_of_work() as session:
        audit.record(session, action="event.update", actor_label="cli", subject_type="event", subject_id=1)
    clock.shift(5 * 365 * DAY - DAY)
    assert purge()["audit"] == 0
    clock.shift(2 * DAY)
    assert purge()["audit"] == 1 and count(AuditEvent) == 0


def test_ended_staff_sessions_go_after_a_year_and_open_ones_stay(clock, app):
    with unit_of_work() as session:
        member = StaffMember(
            name="職員 南本町", login="staff.sessions@city.funabashi.example", centre="minamihoncho", role="staff"
        )
        session.add(member)
        session.flush()
        session.add_all(
            [
                StaffSession(token_hash="a" * 64, staff_id=member.id, ended_at=now(), end_reason="logout"),
                StaffSession(token_hash="b" * 64, staff_id=member.id),
            ]
        )
    clock.shift(366 * DAY)
    assert purge()["staff_sessions"] == 1 and count(StaffSession, StaffSession.ended_at.is_(None)) == 1


# --- erasure after unfollowing ----------------------------------------------------------------------------------
def test_a_parent_who_blocked_the_bot_for_180_days_is_erased_and_the_statistics_stay(clock, chat, runtime):
    person, returning = chat(), chat()
    with unit_of_work() as session:
        parent = make_parent(session, person.user_id)
        make_parent(session, returning.user_id)
        event = make_event(session, starts_in=timedelta(days=2))
        applied = enrollments.apply(session, event, parent.id).enrollment
        parent_id, enrollment_id = parent.id, applied.id
    person.send("unfollow")
    returning.send("unfollow")
    clock.shift(100 * DAY)
    returning.follow()  # came back: the clock starts again when they leave again
    clock.shift(80 * DAY - timedelta(minutes=1))
    assert purge()["unfollowed"] == 0
    clock.shift(timedelta(minutes=2))
    assert purge()["unfollowed"] == 1
    with unit_of_work() as session:
        erased = session.get(Parent, parent_id)
        user = session.get(LineUser, erased.line_user_pk)
        assert (erased.name, erased.furigana, erased.phone) == ("", "", "")
        assert user.status == staff_parents.ERASED_STATUS and user.line_user_id != person.user_id
        assert [c.birth_month for c in erased.children], "children's birth months stay: statistics count them"
        assert session.get(Enrollment, enrollment_id).status == "confirmed"
        assert (
            session.scalar(
                select(func.count()).select_from(OutboxMessage).where(OutboxMessage.line_user_id == person.user_id)
            )
            == 0
        )
        assert users_of(session, returning.user_id).status == "active"
    (erasure,) = trail("parent.erase")
    assert (erasure.subject_id, erasure.actor_label, erasure.details) == (
        str(parent_id),
        retention.SYSTEM,
        {"reason": "unfollowed"},
    )
    assert purge()["unfollowed"] == 0, "erased once"


def users_of(session, line_user_id: str) -> LineUser:
    return session.scalars(select(LineUser).where(LineUser.line_user_id == line_user_id)).one()


def test_an_account_that_never_registered_loses_its_line_id_and_a_staff_account_is_left_alone(clock, chat, app):
    stranger, colleague = chat(), chat()
    stranger.follow()
    colleague.follow()
    with unit_of_work() as session:
        session.add(
            StaffMember(
                name="職員 地域",
                login="staff.line@city.funabashi.example",
                centre="division",
                role="staff",
                line_user_pk=users_of(session, colleague.user_id).id,
            )
        )
    stranger.send("unfollow")
    colleague.send("unfollow")
    clock.shift(181 * DAY)
    assert purge()["unfollowed"] == 1
    with unit_of_work() as session:
        assert (
            session.scalar(select(func.count()).select_from(LineUser).where(LineUser.line_user_id == stranger.user_id))
            == 0
        )
        assert users_of(session, colleague.user_id).status == "blocked"
    assert count(InboxEvent, InboxEvent.source_key == stranger.user_id) == 0


# --- the job ----------------------------------------------------------------------------------------------------
def test_the_purge_works_in_batches_and_a_second_run_finds_nothing(clock, app, monkeypatch):
    with unit_of_work() as session:
        ids = [
            outbox.add(session, purpose="notice", messages=[{"type": "text", "text": "x"}], line_user_id=new_user_id())
            for _ in range(25)
        ]
        outbox.mark_sent(session, ids)
    clock.shift(91 * DAY)
    batches = []
    original = retention.PURGES["outbox"]

    def counting(session, before, batch):
        batches.append(original(session, before, batch))
        return batches[-1]

    monkeypatch.setitem(retention.PURGES, "outbox", counting)
    assert purge(batch=10)["outbox"] == 25 and batches == [10, 10, 5, 0]
    assert purge(batch=10)["outbox"] == 0 and count(OutboxMessage) == 0


def test_a_purge_out_of_time_leaves_the_rest_for_the_next_night(clock, app, caplog):
    with unit_of_work() as session:
        outbox.mark_sent(
            session,
            [
                outbox.add(
                    session, purpose="notice", messages=[{"type": "text", "text": "x"}], line_user_id=new_user_id()
                )
            ],
        )
    clock.shift(91 * DAY)
    assert sum(Purge(retention.DEFAULTS, budget_seconds=0).run().values()) == 0
    assert "time budget used up" in caplog.text and count(OutboxMessage) == 1
    assert purge()["outbox"] == 1


def test_the_nightly_run_refreshes_sqlite_statistics(app):
    from sqlalchemy import text

    with unit_of_work() as session:
        if session.bind.dialect.name != "sqlite":
            pytest.skip("PostgreSQL's autovacuum keeps its statistics")
        session.execute(text("DELETE FROM sqlite_stat1"))
    purge()
    with unit_of_work() as session:
        assert session.scalar(text("SELECT count(*) FROM sqlite_stat1")) > 0
