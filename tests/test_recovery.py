"""Recovery in seconds (issue 19): the outbox leases are short and renewed while their holder lives, so what a
killed process had claimed goes out within seconds of the kill; a graceful stop (SIGTERM, as every deploy does)
hands back what it has not sent, so it delays nothing.

First the leases under the test clock; then real processes (``kosodate worker``, gunicorn) killed with SIGKILL or
stopped with SIGTERM while they send, on the suite's database (SQLite, or PostgreSQL when DATABASE_URL says so).
Real processes run in real time: their tests wait for outcomes by polling with a deadline, and measure delays with
the LINE double's clock of arrival."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, make_url, select, text

from runtime import delivery
from runtime.delivery import Dispatcher
from runtime.leases import Leases
from scheduler.escalation import send_notices
from storage import escalation as escalation_queue
from storage import outbox
from storage.db import get_engine, inbox_unit_of_work, unit_of_work
from storage.models import InboxEvent, OutboxMessage
from tests.conftest import SECRET
from tests.report_support import file_report, parent_with_events
from tests.report_support import notices as report_notices
from tests.scheduler_support import clock, in_flight, plan_text, row  # noqa: F401 (fixtures)
from tests.support import body_of, event, new_user_id, sign

ROOT = Path(__file__).resolve().parent.parent
KOSODATE = Path(sys.executable).parent / "kosodate"


def claimed_now(leases: Leases) -> list[int]:
    """Claim every due row, as a sender does, and hold it in ``leases``."""
    with unit_of_work() as session:
        rows = outbox.claim(session)
        leases.hold({r.id: (r.attempts, r.claimed_until) for r in rows})
        return [r.id for r in rows]


def someone_else_claims() -> list[int]:
    with unit_of_work() as session:
        return [r.id for r in outbox.claim(session)]


# --- leases, under the test clock ----------------------------------------------------------------------------------
def test_a_living_sender_keeps_its_rows_however_long_its_send_takes(clock, app):
    row_id = plan_text(new_user_id())
    holder = Leases(heartbeat=False)  # the test beats in its place
    assert claimed_now(holder) == [row_id]
    for _ in range(30):  # 30 s of a slow LINE, renewed every second
        clock.shift(outbox.RENEW_EVERY)
        holder.beat()
        assert someone_else_claims() == []
    assert holder.fresh(row_id)


def test_a_dead_senders_rows_are_free_one_lease_after_its_last_heartbeat(clock, app):
    row_id = plan_text(new_user_id())
    assert claimed_now(Leases(heartbeat=False)) == [row_id]  # then the process is killed: no more heartbeats
    clock.shift(outbox.LEASE - timedelta(seconds=1))
    assert someone_else_claims() == []
    clock.shift(timedelta(seconds=2))
    assert someone_else_claims() == [row_id]
    assert outbox.LEASE <= timedelta(seconds=5)  # with the worker's 1-second tick: sent within 10 s of the kill


def test_a_row_another_sender_took_is_forgotten_and_never_sent_by_the_first(clock, app, runtime, line):
    row_id = plan_text(new_user_id())
    stalled = Leases(heartbeat=False)
    assert claimed_now(stalled) == [row_id]
    clock.shift(outbox.LEASE + timedelta(seconds=1))  # its heartbeat could not renew (a stall)
    assert someone_else_claims() == [row_id]
    stalled.beat()
    assert not stalled.fresh(row_id) and stalled.held() == []
    assert row(row_id).claimed_until is not None  # the beat did not touch the other sender's lease


def test_a_graceful_stop_hands_back_at_once_what_was_not_started_and_the_reply_token_still_serves(
    clock, app, runtime, line
):
    user = new_user_id()
    token = line.issue_reply_token()
    line.bind_reply_token(token, user)
    row_id = plan_text(user, "こんにちは", purpose="reply", reply_token=token)
    stopping = Leases(heartbeat=False)
    assert claimed_now(stopping) == [row_id]
    assert stopping.close() == 1
    assert (row(row_id).claimed_until, row(row_id).attempts) == (None, 0)
    delivery.deliver(runtime.gateway)
    assert [r["status"] for r in line.requests("/message/reply")] == [200] and row(row_id).status == "sent"


def test_a_stopping_worker_finishes_the_sends_under_way_and_hands_back_the_batch_claimed_ahead(
    clock, app, runtime, line, monkeypatch
):
    ids = [plan_text(new_user_id()) for _ in range(5)]
    stop = threading.Event()
    push = runtime.gateway.push

    def push_then_stop(to, messages, retry_key):  # SIGTERM arrives while the first row is being sent
        stop.set()
        return push(to, messages, retry_key)

    monkeypatch.setattr(runtime.gateway, "push", push_then_stop)
    dispatcher = Dispatcher(runtime.gateway, batch=2, leases=Leases(heartbeat=False), stopping=stop)
    assert dispatcher.drain(budget=60) == 2  # the first batch; the second was claimed ahead, then handed back
    statuses = [(row(i).status, row(i).claimed_until, row(i).attempts) for i in ids]
    assert statuses[0][0] == "sent"
    assert statuses[1:] == [("planned", None, 0)] * 4  # nothing left leased: the next sender takes them at once
    assert len(line.requests("/message/push")) == 1


def test_a_sender_whose_recording_fails_stops_renewing_what_it_claimed(clock, app, runtime, line, monkeypatch):
    row_id = plan_text(new_user_id())

    def database_gone(session, results):
        raise ConnectionError("the database is restarting")

    monkeypatch.setattr(delivery, "record", database_gone)
    holder = Leases(heartbeat=False)
    with pytest.raises(ConnectionError):
        Dispatcher(runtime.gateway, leases=holder).drain(budget=60)
    assert holder.held() == []  # its lease runs out and the next claim takes the row (LINE's 409 if it went)
    clock.shift(outbox.LEASE + timedelta(seconds=1))
    assert someone_else_claims() == [row_id]


def test_an_answer_line_refused_is_tried_again_after_1_s_a_notice_after_5_s(clock, app, runtime, line):
    user = new_user_id()
    answer = plan_text(user, "受け付けました", purpose="reply")
    notice = plan_text(user, "お知らせです")
    line.inject_fault("/message/push", 500, count=6)  # LINE refuses the gateway's three tries of each
    delivery.deliver(runtime.gateway)
    assert (row(answer).status, row(notice).status) == ("planned", "planned")
    assert row(answer).next_attempt_at - row(answer).created_at == timedelta(seconds=1)  # the parent is waiting
    assert row(notice).next_attempt_at - row(notice).created_at == timedelta(seconds=5)


# --- the escalation's e-mail and webhook notices: the same short leases -----------------------------------------
class Channel:
    def __init__(self):
        self.sent: list[str] = []

    def send(self, subject: str, body: str) -> None:
        self.sent.append(subject)


def notices_claimed(leases: Leases) -> list[int]:
    """Claim every due notice, as a worker's sender does, and hold it in ``leases``."""
    with unit_of_work() as session:
        rows = escalation_queue.claim_notices(session)
        leases.hold({r.id: (r.attempts, r.claimed_until) for r in rows})
        return [r.id for r in rows]


def test_staff_notices_a_dead_worker_had_claimed_go_out_from_another_within_seconds_not_minutes(clock, chat):
    file_report(parent_with_events(chat).chat)
    channels = {"email": Channel(), "webhook": Channel()}
    claimed = notices_claimed(Leases(heartbeat=False, queue=escalation_queue))  # then the worker is killed
    assert len(claimed) == 2
    clock.shift(timedelta(seconds=4))
    assert send_notices(channels) == {}  # its lease still runs: it might have been alive and slow
    clock.shift(timedelta(seconds=2))
    assert send_notices(channels) == {"sent": 2}  # 6 s after the claim (it was 2 minutes)
    assert [len(c.sent) for c in channels.values()] == [1, 1]


def test_a_living_worker_keeps_its_notices_and_a_stopping_one_hands_them_back_at_once(clock, chat):
    file_report(parent_with_events(chat).chat)
    channels = {"email": Channel(), "webhook": Channel()}
    holder = Leases(heartbeat=False, queue=escalation_queue)
    assert len(notices_claimed(holder)) == 2
    for _ in range(30):  # a slow mail server, the heartbeat renewing every second
        clock.shift(outbox.RENEW_EVERY)
        holder.beat()
        assert send_notices(channels) == {}
    assert holder.close() == 2  # SIGTERM: handed back, the attempt not counted
    assert send_notices(channels) == {"sent": 2}
    assert {n.attempts for n in report_notices()} == {1}


# --- real processes ------------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def until(what: Callable[[], bool], timeout: float, why: str) -> None:
    deadline = time.monotonic() + timeout
    while not what():
        assert time.monotonic() < deadline, why
        time.sleep(0.05)


class Process:
    """``kosodate worker`` or a gunicorn web process with one worker, in a process group of its own."""

    def __init__(self, command: list[str], env: dict[str, str], log: Path, port: int | None = None):
        self.port, self.log = port, log
        with open(log, "ab") as out:
            self.popen = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out, start_new_session=True)
        until(self._listening if port is not None else self._scheduling, 90, f"{command[-1]} did not come up")

    def _scheduling(self) -> bool:
        assert self.popen.poll() is None, self.log.read_text()[-2000:]
        return "worker starting" in self.log.read_text(errors="replace")

    def _listening(self) -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    def signal(self, number: int) -> float:
        os.killpg(self.popen.pid, number)
        return time.time()

    def stop(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(30)


@pytest.fixture
def processes(database_url, line, app, tmp_path):
    """Starts processes on the suite's database and LINE double; kills whatever is left at the end."""
    started: list[Process] = []
    env = {
        **os.environ,
        "APP_MODE": "test",
        "DATABASE_URL": database_url,
        "LINE_API_BASE_URL": line.base_url,
        "LINE_CHANNEL_SECRET": SECRET,
        "LINE_CHANNEL_ACCESS_TOKEN": "test-token",
        "SECRET_KEY": "recovery",
        "PUBLIC_BASE_URL": "http://127.0.0.1:8000",
        "LINE_TIMEOUT_SECONDS": "5",
        "QUIET_HOURS": "off",
        "INLINE_PROCESSING": "1",
        "DELIVERY_THREADS": "4",
        "PYTHONPATH": str(ROOT),
    }

    def start(kind: str, *args: str, **extra: str) -> Process:
        port = free_port() if kind == "web" else None
        command = (
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--workers",
                "1",
                "--threads",
                "4",
                "--graceful-timeout",
                "30",
                "--bind",
                f"127.0.0.1:{port}",
                "bot.app:create_app()",
            ]
            if kind == "web"
            else [str(KOSODATE), "worker", *args]
        )
        started.append(Process(command, {**env, **extra}, tmp_path / f"{kind}{len(started)}.log", port))
        return started[-1]

    yield start
    for process in started:
        process.stop()


def arriving(line, path: str, gate: threading.Event | None = None) -> threading.Event:
    """Set when a request to ``path`` reaches the LINE double; with a ``gate``, such requests are answered only once
    it opens (LINE is slow: the sends are under way)."""
    arrived = threading.Event()
    handle = line.handle

    def watch(request):
        if request.path.endswith(path):
            arrived.set()
            if gate is not None:
                gate.wait(60)
        return handle(request)

    line.handle = watch  # (the in_flight fixture restores the double's own handler at the end)
    return arrived


def first_arrivals(line, keys: set[str]) -> dict[str, list[float]]:
    """When LINE accepted (200) a push under each retry key."""
    found: dict[str, list[float]] = {k: [] for k in keys}
    for entry in line.requests("/message/push"):
        if entry["retry_key"] in found and entry["status"] == 200:
            found[entry["retry_key"]].append(entry["ts"])
    return found


def planned_left() -> int:
    with unit_of_work() as session:
        return session.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "planned"))


def leased_left() -> int:
    with unit_of_work() as session:
        return session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.status == "planned", OutboxMessage.claimed_until.is_not(None))
        )


def test_messages_a_killed_worker_had_claimed_are_sent_within_10_s_of_the_kill_and_none_twice(
    processes, line, in_flight
):
    ids = [plan_text(new_user_id(), f"お知らせ {i}") for i in range(40)]
    keys = {row(i).retry_key for i in ids}
    gate = threading.Event()
    pushing = arriving(line, "/message/push", gate)
    doomed = processes("worker", "--job", "outbox-deliver")
    assert pushing.wait(60), "the worker never called LINE"
    processes("worker", "--job", "outbox-deliver")  # the other sender, up before the kill (as in production)
    assert leased_left() == 40, "the living worker keeps every row it claimed, however slow LINE is"
    killed = doomed.signal(signal.SIGKILL)
    gate.set()  # LINE answers the requests the dead worker had made
    until(lambda: planned_left() == 0, 60, "the rows the killed worker had claimed were not sent")
    in_flight.settle()
    arrivals = first_arrivals(line, keys)
    assert all(len(times) == 1 for times in arrivals.values()), "a message was delivered twice, or never"
    assert max(times[0] for times in arrivals.values()) - killed <= 10


def test_the_answer_a_killed_web_process_was_sending_arrives_within_10_s_of_the_kill(processes, line, in_flight):
    processes("worker", "--job", "outbox-deliver")  # no sweep: only the web process processes the event
    web = processes("web")
    line.inject_fault("/message/reply", 500, count=1, delay=3.0)  # the reply is under way when the kill comes
    replying = arriving(line, "/message/reply")
    user, token = new_user_id(), line.issue_reply_token()
    line.bind_reply_token(token, user)
    raw = body_of(event("follow", user, token))
    assert (
        httpx.post(
            f"http://127.0.0.1:{web.port}/callback",
            content=raw,
            timeout=30,
            headers={"X-Line-Signature": sign(raw, SECRET), "Content-Type": "application/json"},
        ).status_code
        == 200
    )
    assert replying.wait(30), "the web process never answered"
    killed = web.signal(signal.SIGKILL)
    until(lambda: planned_left() == 0, 60, "the answer the killed web process had claimed was never sent")
    in_flight.settle()
    pushed = [e for e in line.requests("/message/push") if e["status"] == 200]
    assert [e["json"]["to"] for e in pushed] == [user]  # once: the dying process's reply never reached the parent
    assert all(e["status"] != 200 for e in line.requests("/message/reply"))
    assert pushed[0]["ts"] - killed <= 10


@contextmanager
def answers_held_back(database_url: str, event_id: str) -> Iterator[Callable[[], bool]]:
    """Hold back every transaction that writes an answer, as a slow database would: on PostgreSQL by locking the
    outbox against writes (reads go on), on SQLite by holding its one write lock. Yields what says that a process
    is in the middle of processing, waiting: on PostgreSQL a session waiting for the lock to write its answer; on
    SQLite (no such view) that the event is in the inbox, which the web process's lanes take at once."""
    if database_url.startswith("postgres"):
        with get_engine().connect() as conn:
            conn.execute(text("LOCK TABLE outbox_messages IN EXCLUSIVE MODE"))

            def waiting() -> bool:  # (a transaction sees one snapshot of the statistics: each look is its own)
                with get_engine().connect() as watcher:
                    return bool(
                        watcher.execute(
                            text(
                                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                "AND query ILIKE 'INSERT INTO outbox_messages%'"
                            )
                        ).scalar()
                    )

            yield waiting
            conn.rollback()
        return
    held = sqlite3.connect(make_url(database_url).database, timeout=30, isolation_level=None)
    held.execute("BEGIN IMMEDIATE")
    try:
        yield lambda: inbox_status(event_id) == "pending"
    finally:
        held.rollback()
        held.close()


def inbox_status(event_id: str) -> str | None:
    with inbox_unit_of_work() as session:
        return session.scalar(select(InboxEvent.status).where(InboxEvent.webhook_event_id == event_id))


def test_an_event_a_killed_web_process_was_processing_is_processed_by_the_workers_sweep_within_2_s(
    processes, line, database_url
):
    web = processes("web")
    user, token = new_user_id(), line.issue_reply_token()
    line.bind_reply_token(token, user)
    follow = event("follow", user, token)
    raw = body_of(follow)
    with answers_held_back(database_url, follow["webhookEventId"]) as processing:
        assert (
            httpx.post(
                f"http://127.0.0.1:{web.port}/callback",
                content=raw,
                timeout=30,
                headers={"X-Line-Signature": sign(raw, SECRET), "Content-Type": "application/json"},
            ).status_code
            == 200
        )
        until(processing, 30, "the web process never started processing the event")
        processes("worker", "--job", "inbox-sweep")  # the other process, up before the kill (as in production)
        killed = web.signal(signal.SIGKILL)
        web.popen.wait(30)
    until(
        lambda: inbox_status(follow["webhookEventId"]) != "pending",
        30,
        "the event the killed web process had taken was never processed",
    )
    with inbox_unit_of_work() as session:
        done = session.scalars(select(InboxEvent).where(InboxEvent.webhook_event_id == follow["webhookEventId"])).one()
    assert done.status == "done"
    assert done.processed_at.replace(tzinfo=UTC).timestamp() - killed <= 2
    until(lambda: line.delivered(to=user), 30, "the answer never went out")


def test_a_worker_stopped_with_sigterm_mid_fan_out_exits_at_once_and_hands_back_what_it_had_not_sent(processes, line):
    ids = [plan_text(new_user_id(), f"お知らせ {i}") for i in range(600)]
    keys = {row(i).retry_key for i in ids}
    line.inject_fault("/message/push", 0, count=10_000, delay=0.05)  # about 80 pushes a second with 4 threads
    stopped = processes("worker", "--job", "outbox-deliver")
    until(lambda: len(line.requests("/message/push")) >= 20, 60, "the worker never sent")
    stopped.signal(signal.SIGTERM)
    assert stopped.popen.wait(30) == 0
    assert planned_left() > 0, "the worker sent the whole fan-out before stopping"
    assert leased_left() == 0, "what it had not sent is free for the next sender at once"
    line.faults.clear()
    processes("worker", "--job", "outbox-deliver")
    until(lambda: planned_left() == 0, 60, "the rest was not sent")
    assert all(len(times) == 1 for times in first_arrivals(line, keys).values())


def test_a_web_process_stopped_with_sigterm_mid_burst_loses_nothing_and_no_answer_is_more_than_5_s_late(
    processes, line
):
    processes("worker")
    stopping, other = processes("web"), processes("web")
    line.inject_fault("/message/reply", 0, count=6, delay=1.0)  # some answers are under way at the stop
    users = [new_user_id() for _ in range(24)]
    accepted: dict[str, float] = {}

    def deliver(user: str) -> None:  # as LINE does: a delivery that fails is made again, to either process
        token = line.issue_reply_token()
        line.bind_reply_token(token, user)
        raw = body_of(event("follow", user, token))
        for port in [stopping.port, other.port] * 10:
            try:
                answer = httpx.post(
                    f"http://127.0.0.1:{port}/callback",
                    content=raw,
                    timeout=10,
                    headers={"X-Line-Signature": sign(raw, SECRET), "Content-Type": "application/json"},
                )
            except httpx.TransportError:
                continue
            if answer.status_code == 200:
                accepted[user] = time.time()
                return

    threads = [threading.Thread(target=deliver, args=(u,)) for u in users]
    for n, thread in enumerate(threads):
        thread.start()
        if n == len(threads) // 2:
            stopping.signal(signal.SIGTERM)
        time.sleep(0.02)  # the burst's pace: 50 events a second
    for thread in threads:
        thread.join(60)
    assert stopping.popen.wait(30) == 0
    assert sorted(accepted) == sorted(users)
    until(lambda: planned_left() == 0 and all(line.delivered(to=u) for u in users), 30, "an answer was lost")
    answers = [e for e in line.requests("/v2/bot/message/") if e["status"] == 200]
    by_user: dict[str, list[float]] = {u: [] for u in users}
    for entry in answers:
        to = entry["json"].get("to") or entry.get("reply_to")
        if to in by_user:
            by_user[to].append(entry["ts"])
    assert all(len(times) == 1 for times in by_user.values()), "an answer was sent twice"
    assert max(times[0] - accepted[u] for u, times in by_user.items()) <= 5
