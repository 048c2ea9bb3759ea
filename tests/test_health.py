"""Health: /healthz stays cheap for load balancers; /healthz?full=1 (and /readyz) makes a dead worker or a stuck inbox
visible (503), with counts and ages only. The worker's heartbeat, summary line and readable job names."""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import create_engine, select

from scheduler.worker import SUMMARY_SECONDS, build
from storage import health
from storage.clock import now
from storage.db import unit_of_work
from storage.models import WorkerHeartbeat
from tests.scheduler_support import clock, plan_text, worker  # noqa: F401 (fixtures)
from tests.support import event, new_user_id

ALL_JOBS = ["inbox-sweep", "outbox-deliver", "reminders-plan", "escalation-timers", "escalation-notices"]
LINE_ID = re.compile(r"U[0-9a-f]{32}")


def full(client):
    response = client.get("/healthz?full=1")
    return response.status_code, response.json


def test_healthz_stays_cheap_it_asks_only_whether_the_databases_answer(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json == {"status": "ok", "database": True}


def test_a_worker_that_ticked_within_a_minute_is_healthy(client, worker, clock):
    worker.beat("worker", ALL_JOBS)
    clock.shift(timedelta(seconds=59))
    status, report = full(client)
    assert status == 200, report["problems"]
    assert report["status"] == "ok" and report["databases"] == {"main": True, "inbox": True}
    assert report["workers"] == [{"name": "worker", "jobs": ALL_JOBS, "last_tick_age_seconds": 59.0}]


def test_a_dead_worker_makes_the_full_health_check_answer_503(client, worker, clock):
    worker.beat("worker", ALL_JOBS)
    clock.shift(timedelta(seconds=61))
    status, report = full(client)
    assert status == 503 and report["status"] == "unavailable"
    assert "no worker running reminders-plan has ticked for 61 s" in report["problems"]
    assert client.get("/healthz").status_code == 200  # the load balancer keeps the web process


def test_readyz_is_the_same_report(client, worker, clock):
    worker.beat("worker", ALL_JOBS)
    clock.shift(timedelta(seconds=61))
    assert client.get("/readyz").status_code == 503
    worker.beat("worker", ALL_JOBS)
    assert client.get("/readyz").status_code == 200


def test_without_any_worker_reminders_would_never_go_so_it_is_503(client):
    status, report = full(client)
    assert status == 503 and "no worker has ever run reminders-plan" in report["problems"]


def test_a_sender_alone_does_not_stand_in_for_the_worker(client, worker, clock):
    worker.beat("worker:outbox-deliver", ["outbox-deliver"])
    status, report = full(client)
    assert status == 503 and "no worker has ever run inbox-sweep" in report["problems"]
    assert not any("outbox-deliver" in problem for problem in report["problems"])


def test_an_event_waiting_over_a_minute_makes_it_503_until_processed(client, chat, runtime, worker, clock):
    parent = chat()
    assert parent.post(event("follow", parent.user_id)).status_code == 200
    clock.shift(timedelta(seconds=61))
    worker.beat("worker", ALL_JOBS)  # the worker ticks, but the event is stuck
    status, report = full(client)
    assert status == 503 and report["inbox"] == {"pending": 1, "oldest_pending_age_seconds": 61.0}
    assert "a webhook event has waited 61 s to be processed" in report["problems"]
    runtime.process_inbox()
    status, report = full(client)
    assert status == 200 and report["inbox"] == {"pending": 0, "oldest_pending_age_seconds": None}


def test_the_oldest_due_message_is_reported_not_judged(client, worker, clock):
    """Held reminders wait through quiet hours on purpose: their age is shown, it does not fail the check."""
    worker.beat("worker", ALL_JOBS)
    plan_text(new_user_id())
    clock.shift(timedelta(seconds=45))
    worker.beat("worker", ALL_JOBS)
    status, report = full(client)
    assert status == 200 and report["outbox"] == {"due": 1, "oldest_due_age_seconds": 45.0}


def test_an_unreachable_database_is_named(client, worker, monkeypatch):
    worker.beat("worker", ALL_JOBS)
    from storage.db import get_inbox_engine

    inbox = get_inbox_engine()
    monkeypatch.setattr(health, "reachable", lambda engine: engine is not inbox)
    status, report = full(client)
    assert status == 503 and report["databases"]["inbox"] is False
    assert "the inbox database does not answer" in report["problems"]


def test_the_report_carries_no_personal_data(client, chat, worker):
    parent = chat()
    parent.follow()
    parent.post(event("follow", parent.user_id))
    worker.beat("worker", ALL_JOBS)
    text = client.get("/healthz?full=1").get_data(as_text=True)
    assert parent.user_id not in text and not LINE_ID.search(text)


# --- the heartbeat -----------------------------------------------------------------------------------------------
def heartbeat_rows() -> list[WorkerHeartbeat]:
    with unit_of_work() as session:
        return list(session.scalars(select(WorkerHeartbeat).order_by(WorkerHeartbeat.name)))


def test_the_heartbeat_is_one_row_per_worker_upserted(app, clock):
    with unit_of_work() as session:
        health.beat(session, "worker", ALL_JOBS, "host-a", 100)
    started = heartbeat_rows()[0].started_at
    clock.shift(timedelta(seconds=10))
    with unit_of_work() as session:
        health.beat(session, "worker", ALL_JOBS, "host-a", 100)
        health.beat(session, "worker:outbox-deliver", ["outbox-deliver"], "host-a", 101)
    rows = heartbeat_rows()
    assert [(r.name, r.pid) for r in rows] == [("worker", 100), ("worker:outbox-deliver", 101)]
    assert rows[0].started_at == started and rows[0].last_tick_at == started + timedelta(seconds=10)
    clock.shift(timedelta(seconds=10))
    with unit_of_work() as session:
        health.beat(session, "worker", ALL_JOBS, "host-b", 200)  # restarted elsewhere: the same row, a new start
    row = heartbeat_rows()[0]
    assert (row.host, row.pid, row.started_at) == ("host-b", 200, started + timedelta(seconds=20))


def test_the_worker_beats_at_once_on_start_and_names_its_jobs(runtime, clock):
    scheduler = build(runtime, blocking=False, only=("outbox-deliver",))
    heartbeat = scheduler.get_job("heartbeat")
    assert heartbeat.next_run_time == now()  # not 10 s after the start: /healthz?full=1 sees a worker at once
    heartbeat.func()
    assert [(r.name, r.jobs) for r in heartbeat_rows()] == [("worker:outbox-deliver", "outbox-deliver")]


# --- the summary line and the job names ------------------------------------------------------------------------
def test_the_worker_logs_one_summary_line_per_minute_not_one_per_tick(chat, runtime, worker, caplog):
    worker.summarise()  # start from zero
    parent = chat()
    parent.post(event("follow", parent.user_id, reply_token=None))
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="runtime.delivery"), caplog.at_level(logging.INFO):
        worker.sweep_inbox()
        plan_text(parent.user_id)
        worker.deliver_due()
        worker.deliver_due()
        done = worker.summarise()
    assert done["events"] == 1 and done["sent"] >= 2
    # (The channel's bot user id is learned once, on a process's first webhook, in a thread of its own: not a tick.)
    info = [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.INFO
        and r.name.startswith(("bot", "runtime", "sched"))
        and r.name != "runtime.bot_identity"
    ]
    assert info == [
        f"worker, last minute: 1 events processed, {done['sent']} messages sent, 0 to retry, 0 failed, "
        "0 expired, 0 reminders planned; failures: 0 events, 0 job runs, 0 rate-limited by LINE"
    ]
    assert worker.summarise() == {}  # the next minute starts from zero


def test_the_summary_runs_once_a_minute(runtime):
    job = build(runtime, blocking=False).get_job("summary")
    assert job.trigger.interval == timedelta(seconds=SUMMARY_SECONDS) == timedelta(minutes=1)


def test_apscheduler_names_each_job_by_its_id(runtime):
    jobs = build(runtime, blocking=False).get_jobs()
    assert all(job.name == job.id and "<locals>" not in str(job) for job in jobs)
    assert str(next(j for j in jobs if j.id == "outbox-deliver")).startswith("outbox-deliver (trigger: interval")


# --- as the operator runs it -------------------------------------------------------------------------------------
def test_kosodate_worker_as_a_process_writes_its_heartbeat(tmp_path):
    url = f"sqlite:///{tmp_path / 'ops.sqlite3'}"
    kosodate = Path(__file__).parents[1] / ".venv" / "bin" / "kosodate"
    env = {
        **os.environ,
        "APP_MODE": "test",
        "DATABASE_URL": url,
        "LOG_LEVEL": "INFO",
        "LINE_API_BASE_URL": "http://127.0.0.1:9",
    }
    subprocess.run([kosodate, "db", "upgrade"], env=env, check=True, capture_output=True, timeout=120)
    process = subprocess.Popen([kosodate, "worker"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    engine = create_engine(url)
    try:
        deadline = time.monotonic() + 60
        found = []
        while not found and time.monotonic() < deadline and process.poll() is None:
            with engine.connect() as conn:
                found = conn.execute(select(WorkerHeartbeat.name, WorkerHeartbeat.jobs, WorkerHeartbeat.pid)).all()
            time.sleep(0.2)  # polling a real process, not timing the code under test
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=30)[0].decode()
        engine.dispose()
    assert found, output
    name, jobs, pid = found[0]
    assert (name, pid) == ("worker", process.pid) and set(ALL_JOBS) <= set(jobs.split(","))
    assert "_guarded" not in output and "<locals>" not in output
