"""The worker's reminders, under a controlled clock: the day before at 10:00 and 30 minutes before, each once, with
the participant's own join link; quiet hours; an event moved or cancelled; a participant who withdraws between
planning and sending; a worker that was down across a due time."""

from __future__ import annotations

from datetime import timedelta

import pytest

from scheduler.reminders import Planner
from scheduler.worker import Worker, build
from services.events.operations import cancel_event
from storage import enrollments, join_links, sanctions
from storage.db import unit_of_work
from storage.models import Enrollment, Event, LineUser
from tests.events_support import give_consent
from tests.scheduler_support import (  # noqa: F401 (fixtures)
    MONDAY_9,
    clock,
    event_at,
    join,
    links,
    live_link_url,
    move_event,
    pushed,
    reminders_to,
    rows,
    tick,
    tokyo,
    worker,
)

WEDNESDAY_14 = tokyo(2030, 6, 5, 14)


def test_a_participant_is_reminded_the_day_before_at_ten_and_thirty_minutes_before(clock, worker, line):
    event = event_at(WEDNESDAY_14)
    alice = join(event)
    tick(worker)
    planned = rows("reminder")
    assert sorted(r.not_before for r in planned) == [tokyo(2030, 6, 4, 10), tokyo(2030, 6, 5, 13, 30)]
    assert {r.not_after for r in planned} == {WEDNESDAY_14}
    assert reminders_to(line, alice.user_id) == []

    clock.tokyo(2030, 6, 4, 9, 59)
    tick(worker)
    assert reminders_to(line, alice.user_id) == []
    clock.tokyo(2030, 6, 4, 10, 0)
    tick(worker)
    tick(worker)
    [day_before] = reminders_to(line, alice.user_id)
    assert "ねんねの赤ちゃん交流会" in day_before and "6月5日(水) 14:00〜15:00" in day_before
    assert "録画・録音・撮影やSNSへの投稿はせず、このリンクはほかの人に教えないでください。" in day_before
    for preparation in ("インストール", "最新版", "カメラ、マイク", "インターネット", "つながらないとき"):
        assert preparation in day_before

    clock.tokyo(2030, 6, 5, 13, 29)
    tick(worker)
    assert len(reminders_to(line, alice.user_id)) == 1
    clock.tokyo(2030, 6, 5, 13, 30)
    tick(worker)
    tick(worker)
    first, soon = reminders_to(line, alice.user_id)
    assert "まもなく「ねんねの赤ちゃん交流会」が始まります" in soon and "つながらないとき" not in soon
    assert [links(m) for m in pushed(line, alice.user_id)] == [[live_link_url(alice.enrollment_id)]] * 2
    assert {r.status for r in rows("reminder")} == {"sent"}


def test_each_participant_gets_their_own_link_in_their_language(clock, worker, line):
    event = event_at(WEDNESDAY_14)
    hanako, emma = join(event), join(event, lang="en")
    clock.tokyo(2030, 6, 4, 10)
    tick(worker)
    [ja], [en] = reminders_to(line, hanako.user_id), reminders_to(line, emma.user_id)
    assert "前日までのご準備" in ja and "Before the day" in en and "Please do not record" in en
    assert [links(m) for m in pushed(line, hanako.user_id)] == [[live_link_url(hanako.enrollment_id)]]
    assert [links(m) for m in pushed(line, emma.user_id)] == [[live_link_url(emma.enrollment_id)]]


def test_nothing_is_pushed_in_quiet_hours_and_a_reminder_due_then_goes_when_they_end(clock, worker, line):
    early = event_at(tokyo(2030, 6, 5, 8, 15))  # 30 minutes before is 07:45, inside 21:00–08:00
    alice = join(early)
    tick(worker)
    assert sorted(r.not_before for r in rows("reminder")) == [tokyo(2030, 6, 4, 10), tokyo(2030, 6, 5, 8)]
    clock.tokyo(2030, 6, 4, 10)
    tick(worker)
    assert len(reminders_to(line, alice.user_id)) == 1
    clock.tokyo(2030, 6, 5, 7, 45)
    tick(worker)
    assert len(reminders_to(line, alice.user_id)) == 1
    clock.tokyo(2030, 6, 5, 8, 0)
    tick(worker)
    assert len(reminders_to(line, alice.user_id)) == 2


def test_a_reminder_that_would_only_go_after_the_start_is_not_planned(clock, worker, line):
    dawn = event_at(tokyo(2030, 6, 5, 7, 30))  # quiet hours end at 08:00, after the start
    join(dawn)
    tick(worker)
    assert [r.not_before for r in rows("reminder")] == [tokyo(2030, 6, 4, 10)]


def test_a_reminder_late_into_quiet_hours_is_held_until_they_end(clock, runtime, line):
    runtime.config = runtime.config.with_(reminder_offsets="1d@20:50")
    night_owl = Worker(runtime)
    try:
        alice = join(event_at(tokyo(2030, 6, 5, 10)))
        tick(night_owl)
        clock.tokyo(2030, 6, 4, 21, 30)  # the worker was down from 20:45 to 21:30
        tick(night_owl)
        assert reminders_to(line, alice.user_id) == [] and rows("reminder")[0].status == "planned"
        clock.tokyo(2030, 6, 5, 8, 0)
        tick(night_owl)
        assert len(reminders_to(line, alice.user_id)) == 1
    finally:
        night_owl.close()


def test_a_moved_event_expires_the_old_reminders_and_plans_new_ones(clock, worker, line):
    event = event_at(WEDNESDAY_14)
    alice = join(event)
    tick(worker)
    old = rows("reminder")
    move_event(event, tokyo(2030, 6, 6, 11))
    clock.tokyo(2030, 6, 3, 12)
    tick(worker)
    after = {r.id: r for r in rows("reminder")}
    assert {after[r.id].status for r in old} == {"expired"}
    assert {after[r.id].last_error for r in old} == {"the event was moved"}
    new = [r for r in after.values() if r.status == "planned"]
    assert sorted(r.not_before for r in new) == [tokyo(2030, 6, 5, 10), tokyo(2030, 6, 6, 10, 30)]
    clock.tokyo(2030, 6, 4, 10)
    tick(worker)
    assert reminders_to(line, alice.user_id) == []
    clock.tokyo(2030, 6, 5, 10)
    tick(worker)
    [reminder] = reminders_to(line, alice.user_id)
    assert "6月6日(木) 11:00〜12:00" in reminder


def test_a_move_between_planning_and_sending_is_caught_when_sending(clock, worker, line):
    event = event_at(WEDNESDAY_14)
    alice = join(event)
    tick(worker)
    move_event(event, tokyo(2030, 6, 6, 11))
    clock.tokyo(2030, 6, 4, 10)
    worker.deliver_due()  # the planner has not run since the move
    assert reminders_to(line, alice.user_id) == []
    assert {r.last_error for r in rows("reminder") if r.status == "expired"} == {"the event was moved"}


def test_a_cancelled_event_sends_no_reminder(clock, worker, line):
    event = event_at(WEDNESDAY_14)
    alice, bob = join(event), join(event)
    tick(worker)
    with unit_of_work() as session:
        cancel_event(session, session.get(Event, event))
    clock.tokyo(2030, 6, 4, 10)
    worker.deliver_due()  # caught when sending …
    worker.plan()  # … and by the planner
    assert reminders_to(line, alice.user_id) == reminders_to(line, bob.user_id) == []
    assert {(r.status, r.last_error) for r in rows("reminder")} == {("expired", "the event was cancelled")}


@pytest.mark.parametrize(
    "change, reason",
    [
        ("withdraw", "the participant is no longer confirmed (withdrew or was declined)"),
        ("withdraw_consent", "the participant's consent to the current policy is missing or withdrawn"),
        ("bar", "the participant is barred from this event"),
        ("unfollow", "recipient has blocked the bot"),
    ],
)
def test_a_participant_who_changes_between_planning_and_sending_gets_nothing(clock, worker, line, change, reason):
    event = event_at(WEDNESDAY_14)
    alice = join(event)
    tick(worker)
    with unit_of_work() as session:
        enrollment = session.get(Enrollment, alice.enrollment_id)
        if change == "withdraw":
            enrollments.withdraw(session, enrollment)
        elif change == "withdraw_consent":
            give_consent(session, enrollment.parent, "withdrawn")
        elif change == "bar":
            sanctions.impose(session, alice.parent_id, policy_items=["6-(4)"], created_by="test", event_id=event)
        else:
            session.get(LineUser, enrollment.parent.line_user_pk).status = "blocked"
    clock.tokyo(2030, 6, 4, 10)
    worker.deliver_due()
    assert reminders_to(line, alice.user_id) == []
    day_before = next(r for r in rows("reminder") if r.not_before == tokyo(2030, 6, 4, 10))
    assert (day_before.status, day_before.last_error) == ("expired", reason)


def test_a_parent_who_consents_again_is_reminded_by_the_same_rows_under_the_same_retry_keys(clock, worker, line):
    alice = join(event_at(WEDNESDAY_14))
    tick(worker)
    before = {r.id: r.retry_key for r in rows("reminder")}
    with unit_of_work() as session:
        give_consent(session, session.get(Enrollment, alice.enrollment_id).parent, "withdrawn")
    tick(worker)
    assert {r.status for r in rows("reminder")} == {"expired"}
    with unit_of_work() as session:
        give_consent(session, session.get(Enrollment, alice.enrollment_id).parent)
    tick(worker)
    assert {r.id: (r.status, r.retry_key) for r in rows("reminder")} == {
        row_id: ("planned", key) for row_id, key in before.items()
    }
    clock.tokyo(2030, 6, 4, 10)
    tick(worker)
    assert len(reminders_to(line, alice.user_id)) == 1


def test_a_parent_who_applies_again_after_withdrawing_is_reminded_with_the_new_link(clock, worker, line):
    event = event_at(WEDNESDAY_14)
    alice = join(event)
    tick(worker)
    with unit_of_work() as session:
        enrollments.withdraw(session, session.get(Enrollment, alice.enrollment_id))
    tick(worker)
    with unit_of_work() as session:
        enrollments.apply(session, session.get(Event, event), alice.parent_id)
    tick(worker)
    assert sorted(r.status for r in rows("reminder")) == ["expired", "expired", "planned", "planned"]
    clock.tokyo(2030, 6, 4, 10)
    tick(worker)
    assert [links(m) for m in pushed(line, alice.user_id)] == [[live_link_url(alice.enrollment_id)]]


def test_a_replaced_join_link_replaces_the_planned_reminders(clock, worker, line):
    event = event_at(WEDNESDAY_14)
    alice = join(event)
    tick(worker)
    with unit_of_work() as session:
        join_links.reissue(session, alice.enrollment_id, "lost")
    tick(worker)
    assert {r.last_error for r in rows("reminder") if r.status == "expired"} == {"the join link was replaced"}
    clock.tokyo(2030, 6, 4, 10)
    tick(worker)
    assert [links(m) for m in pushed(line, alice.user_id)] == [[live_link_url(alice.enrollment_id)]]


def test_a_worker_down_across_a_due_time_sends_the_reminder_once_when_back(clock, worker, line):
    alice = join(event_at(WEDNESDAY_14))
    tick(worker)
    clock.tokyo(2030, 6, 4, 16, 45)  # down from Monday until Tuesday afternoon
    tick(worker)
    tick(worker)
    assert len(reminders_to(line, alice.user_id)) == 1


def test_a_worker_down_across_both_due_times_sends_only_the_latest(clock, worker, line):
    alice = join(event_at(WEDNESDAY_14))
    tick(worker)
    clock.tokyo(2030, 6, 5, 13, 40)
    worker.deliver_due()  # back up: delivery may run before the planner
    tick(worker)
    [only] = reminders_to(line, alice.user_id)
    assert "まもなく「ねんねの赤ちゃん交流会」が始まります" in only
    assert {(r.status, r.last_error) for r in rows("reminder")} == {
        ("sent", None),
        ("expired", "a later reminder is due already"),
    }


def test_a_worker_back_after_the_start_sends_nothing(clock, worker, line):
    alice = join(event_at(WEDNESDAY_14))
    tick(worker)
    clock.tokyo(2030, 6, 5, 14, 5)
    tick(worker)
    assert reminders_to(line, alice.user_id) == []
    assert {r.status for r in rows("reminder")} == {"expired"}


def test_a_late_applicant_gets_one_reminder_not_a_burst(clock, worker, line):
    event = event_at(WEDNESDAY_14)
    clock.tokyo(2030, 6, 5, 13, 45)
    alice = join(event)
    tick(worker)
    [only] = reminders_to(line, alice.user_id)
    assert "まもなく「ねんねの赤ちゃん交流会」が始まります" in only and len(rows("reminder")) == 1


def test_planning_twice_or_by_two_workers_plans_each_reminder_once(clock, runtime, worker):
    event = event_at(WEDNESDAY_14)
    for _ in range(3):
        join(event)
    other = Planner.from_config(runtime.config)
    worker.plan()
    other.run()
    worker.plan()
    assert len(rows("reminder")) == 6
    assert len({r.dedupe_key for r in rows("reminder")}) == 6


def test_reminders_are_planned_only_within_the_horizon(clock, worker):
    join(event_at(MONDAY_9 + timedelta(days=10)))
    tick(worker)
    assert rows("reminder") == []


def test_the_worker_schedules_its_jobs_deliberately(runtime):
    scheduler = build(runtime, blocking=False)
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert {"inbox-sweep", "outbox-deliver", "reminders-plan"} <= set(jobs)
    assert all(job.coalesce and job.misfire_grace_time is None for job in jobs.values())
    assert jobs["reminders-plan"].trigger.interval == timedelta(seconds=60)
    assert jobs["outbox-deliver"].max_instances == 2 and jobs["reminders-plan"].max_instances == 1


def test_a_delivery_tick_that_finds_the_previous_one_still_draining_returns_at_once(worker):
    worker._draining.acquire()
    try:
        assert worker.deliver_due() == 0
    finally:
        worker._draining.release()


def test_a_failing_job_is_logged_and_the_next_tick_runs(worker, monkeypatch, caplog):
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("database went away")

    monkeypatch.setattr(worker, "plan", flaky)
    job = dict((job_id, fn) for job_id, fn, _, _ in worker.jobs())["reminders-plan"]
    job()
    job()
    assert len(calls) == 2 and "job reminders-plan failed this tick: ConnectionError" in caplog.text


def test_an_extra_sender_process_runs_only_the_delivery(runtime):
    scheduler = build(runtime, blocking=False, only=("outbox-deliver",))
    assert [job.id for job in scheduler.get_jobs()] == ["outbox-deliver", "heartbeat", "summary"]
    with pytest.raises(ValueError, match="unknown job outbox-send"):
        build(runtime, blocking=False, only=("outbox-send",))
