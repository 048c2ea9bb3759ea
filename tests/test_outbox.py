"""The outbox (storage/outbox.py): a sender killed between the commit and LINE's answer, leases, what staff see,
and several workers on PostgreSQL taking each row exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import text
from sqlalchemy.orm import Session

from bot.cli import outbox as outbox_cli
from runtime import delivery
from runtime.delivery import Dispatcher
from storage import outbox
from storage.clock import now
from storage.db import get_engine, unit_of_work
from tests.conftest import SECRET
from tests.scheduler_support import clock, event_at, in_flight, join, plan_text, row, rows, tick, tokyo, worker  # noqa: F401 (fixtures)
from tests.support import new_user_id

ROOT = Path(__file__).resolve().parent.parent


def test_a_sender_that_dies_after_claiming_leaves_the_row_to_be_sent_once_after_the_lease(clock, runtime, line):
    user = new_user_id()
    row_id = plan_text(user)
    with unit_of_work() as session:
        [claimed] = outbox.claim(session)  # committed; the process dies before calling LINE
    delivery.deliver(runtime.gateway)
    assert line.requests("/message/push") == []  # still leased to the dead sender
    clock.shift(outbox.LEASE + timedelta(seconds=1))
    delivery.deliver(runtime.gateway)
    [push] = line.requests("/message/push")
    assert push["retry_key"] == claimed.retry_key and row(row_id).status == "sent"
    assert len(line.delivered(to=user)) == 1


def test_a_sender_that_dies_after_line_took_the_message_does_not_cause_a_second_one(clock, runtime, line):
    user = new_user_id()
    row_id = plan_text(user)
    with unit_of_work() as session:
        [claimed] = outbox.claim(session)
    runtime.gateway.push(user, claimed.messages, claimed.retry_key)  # LINE took it; the answer was never recorded
    clock.shift(outbox.LEASE + timedelta(seconds=1))
    delivery.deliver(runtime.gateway)
    assert [e["status"] for e in line.requests("/message/push")] == [200, 409]
    assert row(row_id).status == "sent" and len(line.delivered(to=user)) == 1


CHILD = textwrap.dedent("""
    import sys
    from bot.app import create_app
    from runtime import delivery
    app = create_app({"mode": "test", "database_url": sys.argv[1], "line_api_base_url": sys.argv[2],
                      "line_channel_secret": sys.argv[3], "line_channel_access_token": "test-token",
                      "inline_processing": False, "line_timeout_seconds": 30.0})
    delivery.deliver(app.extensions["kosodate"].gateway)
""")


def test_a_worker_killed_with_sigkill_during_the_line_call_is_sent_exactly_once_after_restart(
    database_url, runtime, line, in_flight
):
    user = new_user_id()
    row_id = plan_text(user)
    line.inject_fault("/message/push", 0, count=1, delay=1.0)  # LINE is slow to answer
    child = subprocess.Popen([sys.executable, "-c", CHILD, database_url, line.base_url, SECRET], cwd=ROOT)
    try:
        assert in_flight.arrived.wait(60), "the worker never called LINE"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(30)
    in_flight.settle()  # LINE finished taking the message from the dead worker
    assert row(row_id).status == "planned" and row(row_id).claimed_until is not None
    with time_machine.travel(now() + outbox.LEASE + timedelta(seconds=1)):  # the restarted worker, a lease later
        delivery.deliver(runtime.gateway)
    pushes = line.requests("/message/push")
    assert [e["status"] for e in pushes] == [200, 409]
    assert {e["retry_key"] for e in pushes} == {row(row_id).retry_key}
    assert row(row_id).status == "sent" and len(line.delivered(to=user)) == 1


def test_expiring_leaves_a_row_being_sent_to_its_sender(runtime):
    leased, idle = plan_text(new_user_id()), plan_text(new_user_id())
    with unit_of_work() as session:
        outbox.claim(session, [leased])
    with unit_of_work() as session:
        assert outbox.expire(session, [leased, idle], "event cancelled") == 1
    assert (row(leased).status, row(idle).status) == ("planned", "expired")


def test_delivery_status_per_participant_and_event_with_times(clock, worker, line, runner):
    event = event_at(tokyo(2030, 6, 5, 14))
    alice, bob = join(event), join(event)
    tick(worker)
    clock.tokyo(2030, 6, 4, 10)
    line.inject_fault("/message/push", 400, count=1)
    tick(worker)
    with unit_of_work() as session:
        alice_status = [(d.purpose, d.status, d.due_at) for d in outbox.for_enrollment(session, alice.enrollment_id)]
        event_status = outbox.for_event(session, event)
    assert alice_status in (
        [("reminder", "failed", tokyo(2030, 6, 4, 10)), ("reminder", "planned", tokyo(2030, 6, 5, 13, 30))],
        [("reminder", "sent", tokyo(2030, 6, 4, 10)), ("reminder", "planned", tokyo(2030, 6, 5, 13, 30))],
    )
    assert sorted(d.status for d in event_status) == ["failed", "planned", "planned", "sent"]
    assert all(d.finished_at == tokyo(2030, 6, 4, 10) for d in event_status if d.status != "planned")
    assert {d.subject for d in event_status} == {f"enrollment:{alice.enrollment_id}", f"enrollment:{bob.enrollment_id}"}

    summary = runner.invoke(outbox_cli, args=["status"]).output
    assert "planned  2" in summary and "failed   1" in summary and "due now  0" in summary
    listing = runner.invoke(outbox_cli, args=["status", "--event", str(event)]).output
    assert listing.count("reminder") == 4 and "due 2030-06-04 10:00" in listing and "HTTP 400" in listing
    failures = runner.invoke(outbox_cli, args=["status", "--failed"]).output
    assert failures.count("\n") == 1 and "Injected fault" in failures


def test_what_is_due_and_waiting_is_counted(clock, runtime):
    plan_text(new_user_id())
    plan_text(new_user_id(), not_before=tokyo(2030, 6, 4, 10))
    clock.shift(timedelta(minutes=5))
    with unit_of_work() as session:
        assert outbox.backlog(session) == (1, tokyo(2030, 6, 3, 9))
        assert outbox.summary(session, "notice") == {"planned": 2}


# --- several workers on PostgreSQL ------------------------------------------------------------------------------
postgres = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="needs PostgreSQL: set DATABASE_URL=postgresql://…",
)


@pytest.mark.postgres
@postgres
def test_a_second_sender_skips_the_rows_the_first_has_locked_instead_of_waiting(runtime):
    for _ in range(10):
        plan_text(new_user_id())
    first = get_engine().connect()
    try:
        with Session(first) as session, session.begin():
            mine = {r.id for r in outbox.claim(session, limit=4)}  # locked, not yet committed
            with unit_of_work() as other:
                other.execute(text("SET LOCAL lock_timeout = '2s'"))  # waiting would fail the test, not hang it
                theirs = {r.id for r in outbox.claim(other, limit=10)}
    finally:
        first.close()
    assert len(mine) == 4 and len(theirs) == 6 and not mine & theirs


@pytest.mark.postgres
@postgres
def test_two_workers_at_once_send_each_reminder_exactly_once(clock, runtime, line):
    event = event_at(tokyo(2030, 6, 5, 14))
    people = [join(event) for _ in range(150)]
    from scheduler.reminders import Planner

    Planner.from_config(runtime.config).run()
    clock.tokyo(2030, 6, 4, 10)
    workers = [Dispatcher(runtime.gateway, threads=4, batch=20) for _ in range(2)]
    start = threading.Barrier(2)

    def work(dispatcher):
        start.wait()
        dispatcher.drain(60)

    threads = [threading.Thread(target=work, args=(d,)) for d in workers]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    finally:
        for d in workers:
            d.close()
    pushes = line.requests("/message/push")
    assert [e["status"] for e in pushes].count(409) == 0
    assert sorted(e["json"]["to"] for e in pushes) == sorted(p.user_id for p in people)
    assert {r.status for r in rows("reminder") if r.not_before == tokyo(2030, 6, 4, 10)} == {"sent"}
