"""GET /metrics: Prometheus text for a bearer of METRICS_TOKEN (or loopback when none is set); the counters move
when the bot works; gauges come from the tables; no label ever carries a LINE id. Several gunicorn workers are
added up the library's way (PROMETHEUS_MULTIPROC_DIR, child_exit)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy import text

from runtime import metrics
from storage import migrate, reports
from storage.db import get_engine, get_inbox_engine, is_sqlite, unit_of_work
from tests.conftest import SECRET
from tests.events_support import make_parent
from tests.scheduler_support import MONDAY_9, clock, event_at, join, plan_text, worker  # noqa: F401 (fixtures)
from tests.support import body_of, event, new_user_id, sign

TOKEN = "scrape-token-0123456789"
LINE_ID = re.compile(r"U[0-9a-f]{32}")
ELSEWHERE = {"REMOTE_ADDR": "203.0.113.7"}


def scrape(client, **kwargs) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics", **kwargs)
    assert response.status_code == 200, response.data
    return parse(response.get_data(as_text=True))


def parse(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def signed_post(client, *events):
    raw = body_of(*events)
    return client.post(
        "/callback", data=raw, headers={"X-Line-Signature": sign(raw, SECRET), "Content-Type": "application/json"}
    )


# --- who may read it ---------------------------------------------------------------------------------------------
def test_without_a_token_metrics_are_served_on_loopback_only(client):
    response = client.get("/metrics")
    assert response.status_code == 200 and response.content_type.startswith("text/plain; version=")
    assert client.get("/metrics", environ_base=ELSEWHERE).status_code == 403


def test_without_a_token_a_request_passed_on_by_a_local_reverse_proxy_is_refused(client):
    """nginx on the same machine connects from 127.0.0.1: the forwarding header tells the request is not local."""
    for header in ("X-Forwarded-For", "X-Real-IP", "Forwarded"):
        assert client.get("/metrics", headers={header: "203.0.113.9"}).status_code == 403


def test_with_a_token_only_its_bearer_reads_metrics_from_anywhere(client, runtime, monkeypatch):
    monkeypatch.setattr(runtime, "config", runtime.config.with_(metrics_token=TOKEN))
    refused = client.get("/metrics")  # loopback is not enough once a token is set
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401
    allowed = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, environ_base=ELSEWHERE)
    assert allowed.status_code == 200 and b"kosodate_webhook_requests_total" in allowed.data


def test_the_token_is_compared_in_constant_time(monkeypatch):
    compared = []
    monkeypatch.setattr(metrics.hmac, "compare_digest", lambda a, b: compared.append((a, b)) or a == b)
    assert metrics.refusal(f"Bearer {TOKEN}", "203.0.113.7", TOKEN) is None
    assert compared == [(TOKEN.encode(), TOKEN.encode())]


def test_metrics_token_comes_from_the_environment():
    from bot.config import from_environ

    assert from_environ({"APP_MODE": "test", "METRICS_TOKEN": TOKEN}).metrics_token == TOKEN
    assert from_environ({"APP_MODE": "test"}).metrics_token == ""


# --- counters ------------------------------------------------------------------------------------------------------
def test_a_signed_webhook_moves_the_request_counter_and_the_ack_histogram(client):
    before = scrape(client)
    assert signed_post(client, event("follow", new_user_id())).status_code == 200
    assert client.post("/callback", data=b"{}", headers={"X-Line-Signature": "forged"}).status_code == 400
    after = scrape(client)
    for status in ("200", "400"):
        assert (
            value(after, "kosodate_webhook_requests_total", status=status)
            == value(before, "kosodate_webhook_requests_total", status=status) + 1
        )
    assert value(after, "kosodate_webhook_ack_seconds_count") == value(before, "kosodate_webhook_ack_seconds_count") + 2


def test_processing_sending_and_line_calls_are_counted(client, chat):
    before = scrape(client)
    chat().follow()  # webhook → processed → reply through the LINE double
    after = scrape(client)

    def moved(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("kosodate_inbox_events_processed_total", outcome="done") == 1
    assert moved("kosodate_inbox_processing_seconds_count") == 1
    assert moved("kosodate_line_api_calls_total", endpoint="/v2/bot/message/reply", status="200") == 1
    assert moved("kosodate_outbox_results_total", purpose="reply", result="sent") == 1


def test_429s_from_line_are_counted_by_endpoint(client, line, runtime):
    before = scrape(client)
    line.inject_fault("/v2/bot/message/push", 429, count=1)
    plan_text(new_user_id())
    runtime.deliver_outbox()  # the gateway retries: 429, then 200
    after = scrape(client)
    push = "/v2/bot/message/push"
    assert (
        value(after, "kosodate_line_api_rate_limited_total", endpoint=push)
        == value(before, "kosodate_line_api_rate_limited_total", endpoint=push) + 1
    )
    assert (
        value(after, "kosodate_line_api_calls_total", endpoint=push, status="429")
        == value(before, "kosodate_line_api_calls_total", endpoint=push, status="429") + 1
    )


def test_reminders_planned_sent_and_expired_are_counted(client, worker, clock):
    before = scrape(client)
    start = MONDAY_9 + timedelta(hours=3)
    join(event_at(start))
    worker.plan()  # the 30-minute reminder is planned (the day-before one is already past)
    clock.to(start - timedelta(minutes=30))
    worker.deliver_due()
    after = scrape(client)
    assert value(after, "kosodate_reminders_total", outcome="planned") > value(
        before, "kosodate_reminders_total", outcome="planned"
    )
    assert (
        value(after, "kosodate_reminders_total", outcome="sent")
        == value(before, "kosodate_reminders_total", outcome="sent") + 1
    )


# --- gauges read from the tables -----------------------------------------------------------------------------------
def test_gauges_show_the_inbox_outbox_escalations_and_workers_now(client, worker, clock):
    signed_post(client, event("follow", new_user_id()))
    plan_text(new_user_id())
    with unit_of_work() as session:
        parent = make_parent(session)
        reports.create_escalation(
            session, kind="lost_credentials", reference="R-7KQ2MX", parent_id=parent.id, centre="minamihoncho"
        )
    worker.beat("worker", ["inbox-sweep"])
    clock.shift(timedelta(seconds=20))
    samples = scrape(client)
    assert value(samples, "kosodate_database_up", database="main") == 1
    assert value(samples, "kosodate_inbox_pending_events") == 1
    assert value(samples, "kosodate_inbox_oldest_pending_age_seconds") == 20
    assert value(samples, "kosodate_outbox_messages", state="planned", purpose="notice") == 1
    assert value(samples, "kosodate_outbox_oldest_due_age_seconds") == 20
    assert value(samples, "kosodate_escalations_open", kind="lost_credentials", centre="minamihoncho") == 1
    assert value(samples, "kosodate_escalations_unacknowledged", kind="lost_credentials", centre="minamihoncho") == 1
    assert value(samples, "kosodate_worker_last_tick_age_seconds", worker="worker") == 20


def test_a_scrape_reads_a_snapshot_and_never_waits_for_the_write_lock(client):
    """SQLite has one write lock: a scrape or a full health check that took it would hold up acknowledgements."""
    if not is_sqlite(get_engine()):
        pytest.skip("SQLite's single write lock")
    began: list[str] = []

    def note(conn, cursor, statement, *_args) -> None:
        if statement.upper().startswith("BEGIN"):
            began.append(statement.upper())

    engines = {get_engine(), get_inbox_engine()}
    for engine in engines:
        sqlalchemy_event.listen(engine, "before_cursor_execute", note)
    try:
        with unit_of_work() as session:
            session.execute(text("SELECT 1"))  # BEGIN IMMEDIATE: this transaction holds the write lock
            began.clear()
            assert client.get("/metrics").status_code == 200
            assert client.get("/healthz?full=1").status_code == 503  # (no worker has ticked in this test)
            assert client.get("/healthz").status_code == 200
    finally:
        for engine in engines:
            sqlalchemy_event.remove(engine, "before_cursor_execute", note)
    assert began and all(statement == "BEGIN" for statement in began), began  # a snapshot, never IMMEDIATE


def test_no_label_carries_a_line_id(client, chat, runtime):
    parent = chat()
    parent.follow()
    plan_text(parent.user_id)
    runtime.deliver_outbox()
    text = client.get("/metrics").get_data(as_text=True)
    labels = {v for family in text_string_to_metric_families(text) for s in family.samples for v in s.labels.values()}
    assert labels and not any(LINE_ID.search(v) for v in labels)
    assert parent.user_id not in text
    endpoints = {
        s.labels["endpoint"]
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if "endpoint" in s.labels
    }
    assert endpoints <= set(metrics.ENDPOINTS.values()) | {"other"}


# --- several gunicorn workers, as deployed -------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_gunicorn_workers_are_added_up_through_the_multiprocess_directory(tmp_path):
    root = Path(__file__).parents[1]
    url = f"sqlite:///{tmp_path / 'web.sqlite3'}"
    prom = tmp_path / "prometheus"
    prom.mkdir()
    port = _free_port()
    env = {
        **os.environ,
        "APP_MODE": "test",
        "DATABASE_URL": url,
        "LINE_CHANNEL_SECRET": SECRET,
        "INLINE_PROCESSING": "0",
        "PROMETHEUS_MULTIPROC_DIR": str(prom),
        "METRICS_TOKEN": TOKEN,
    }
    migrate.upgrade(url)
    web = subprocess.Popen(
        [
            root / ".venv/bin/gunicorn",
            "-c",
            root / "gunicorn.conf.py",
            "--workers",
            "2",
            "--bind",
            f"127.0.0.1:{port}",
            "bot.app:create_app()",
        ],
        env=env,
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and web.poll() is None:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)  # polling a starting process, not timing the code under test
        with httpx.Client(base_url=base, timeout=10) as client:
            for _ in range(20):  # new connections: gunicorn's two workers share them
                raw = body_of(event("follow", new_user_id()))
                with httpx.Client(base_url=base, timeout=10) as once:
                    assert (
                        once.post("/callback", content=raw, headers={"X-Line-Signature": sign(raw, SECRET)}).status_code
                        == 200
                    )
            text = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
    finally:
        web.send_signal(signal.SIGTERM)
        output = web.communicate(timeout=30)[0].decode()
    samples = parse(text)
    assert value(samples, "kosodate_webhook_requests_total", status="200") == 20, output
    assert value(samples, "kosodate_inbox_pending_events") == 20
