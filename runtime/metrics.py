"""Prometheus metrics (prometheus-client) for GET /metrics, and the counts behind the worker's summary line.

Two kinds:
- Counted where it happens, in this process: webhook requests and their acknowledgement time, events processed and
  how long after their arrival, calls to LINE by endpoint and status (429s apart), what became of each message
  sent, reminders planned/sent/expired. The code that does the work calls one function here (``webhook_answered``,
  ``event_processed``, ``line_call``, ``outbox_results`` …).
- Read from the tables when /metrics is scraped (``DatabaseCollector``): what waits in the inbox and the outbox and
  for how long, messages by state and purpose, open and unacknowledged escalations, the workers' last ticks. They
  are true whichever process did the work.

Several processes (gunicorn's workers, and the worker processes on the same machine) are added up the library's
documented way: ``PROMETHEUS_MULTIPROC_DIR`` names an empty directory, set for every process before it starts;
each process writes its counters there and /metrics reads them all (``MultiProcessCollector``); gunicorn's
``child_exit`` hook (gunicorn.conf.py) marks a web worker dead. Without it, /metrics shows this process only.

Labels never carry personal data: endpoints are LINE's path templates (``/v2/bot/message/push``), never a user id;
purposes, statuses, kinds and centres are the code's own vocabulary.
"""

from __future__ import annotations

import hmac
import os
import threading
import time
from collections import Counter as Tally
from collections.abc import Iterable, Iterator
from datetime import datetime

from flask import Blueprint, g
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector

from storage import health, outbox
from storage.clock import now
from storage.db import get_engine, get_inbox_engine, inbox_unit_of_work

# This process's counters. (In multi-process mode their values live in files under PROMETHEUS_MULTIPROC_DIR.)
_PROCESS = CollectorRegistry()

WEBHOOK_REQUESTS = Counter(
    "kosodate_webhook_requests", "POST /callback answers, by HTTP status", ["status"], registry=_PROCESS
)
WEBHOOK_ACK = Histogram(
    "kosodate_webhook_ack_seconds",
    "From the webhook request to its answer (LINE waits for it)",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
    registry=_PROCESS,
)
EVENTS = Counter(
    "kosodate_inbox_events_processed",
    "Webhook events processed (done) or failed in an attempt",
    ["outcome"],
    registry=_PROCESS,
)
PROCESSING = Histogram(
    "kosodate_inbox_processing_seconds",
    "From an event's arrival to its processing's commit",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
    registry=_PROCESS,
)
LINE_CALLS = Counter(
    "kosodate_line_api_calls",
    'Calls to LINE\'s Messaging API, by endpoint and HTTP status ("error": no answer)',
    ["endpoint", "status"],
    registry=_PROCESS,
)
LINE_RATE_LIMITED = Counter(
    "kosodate_line_api_rate_limited", "429 answers from LINE, by endpoint", ["endpoint"], registry=_PROCESS
)
OUTBOX_RESULTS = Counter(
    "kosodate_outbox_results",
    "Send attempts of outbox rows, by purpose and result (sent, retry, failed, expired)",
    ["purpose", "result"],
    registry=_PROCESS,
)
REMINDERS = Counter("kosodate_reminders", "Reminders planned, sent and expired", ["outcome"], registry=_PROCESS)

# LINE's path templates for the gateway's operations: the only values the endpoint label can take.
ENDPOINTS = {
    "reply": "/v2/bot/message/reply",
    "push": "/v2/bot/message/push",
    "multicast": "/v2/bot/message/multicast",
    "leave": "/v2/bot/{chatType}/{chatId}/leave",
}
REMINDER_PURPOSE = "reminder"  # scheduler/reminders.py's REMINDER (not imported: bot/ does not import scheduler/)


class Summary:
    """What this process did since the last ``take()``: the worker's summary line once a minute."""

    def __init__(self) -> None:
        self._counts: Tally[str] = Tally()
        self._lock = threading.Lock()

    def add(self, key: str, n: int = 1) -> None:
        with self._lock:
            self._counts[key] += n

    def take(self) -> dict[str, int]:
        with self._lock:
            counts, self._counts = self._counts, Tally()
        return dict(counts)


summary = Summary()


# --- hooks called where the work happens ---------------------------------------------------------------------------
def instrument_webhook(bp: Blueprint) -> None:
    """Count the blueprint's answers by status and time them (bot/webhook.py)."""

    @bp.before_request
    def _start() -> None:
        g.metrics_started = time.perf_counter()

    @bp.after_request
    def _answered(response):
        WEBHOOK_REQUESTS.labels(str(response.status_code)).inc()
        started = g.pop("metrics_started", None)
        if started is not None:
            WEBHOOK_ACK.observe(time.perf_counter() - started)
        return response


def event_processed(received_at: datetime | None) -> None:
    EVENTS.labels("done").inc()
    summary.add("events")
    if received_at is not None:
        PROCESSING.observe(max(0.0, (now() - received_at).total_seconds()))


def event_failed() -> None:
    EVENTS.labels("error").inc()
    summary.add("event_failures")


def line_call(op: str, status: int | None) -> None:
    endpoint = ENDPOINTS.get(op, "other")
    LINE_CALLS.labels(endpoint, str(status) if status else "error").inc()
    if status == 429:
        LINE_RATE_LIMITED.labels(endpoint).inc()
        summary.add("rate_limited")


def outbox_results(results: Iterable[tuple[str, str]]) -> None:
    """(purpose, result) of each send attempt: result is sent, retry, failed or expired."""
    for purpose, result in results:
        OUTBOX_RESULTS.labels(purpose, result).inc()
        summary.add(result)
        if purpose == REMINDER_PURPOSE and result in ("sent", "expired"):
            REMINDERS.labels(result).inc()


def reminders_planned(planned: int, expired: int) -> None:
    if planned:
        REMINDERS.labels("planned").inc(planned)
        summary.add("reminders_planned", planned)
    if expired:
        REMINDERS.labels("expired").inc(expired)


# --- read at scrape time --------------------------------------------------------------------------------------------
class DatabaseCollector:
    """Gauges read from the tables at each scrape (a custom collector, as prometheus-client documents them)."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("kosodate_database_up", "1 when the database answers", labels=["database"])
        main_up = health.reachable(get_engine())
        inbox_up = health.reachable(get_inbox_engine())
        up.add_metric(["main"], int(main_up))
        up.add_metric(["inbox"], int(inbox_up))
        yield up
        moment = now()
        if inbox_up:
            with inbox_unit_of_work(read_only=True) as session:
                pending, oldest = health.inbox_pending(session)
            yield GaugeMetricFamily(
                "kosodate_inbox_pending_events", "Webhook events waiting to be processed", value=pending
            )
            yield GaugeMetricFamily(
                "kosodate_inbox_oldest_pending_age_seconds",
                "How long the oldest pending event has waited (0: none)",
                value=_age(moment, oldest),
            )
        if not main_up:
            return
        with health.reading() as session:
            by_state = health.outbox_by_state(session)
            due, oldest_due = outbox.backlog(session)
            escalations = health.escalations_open(session)
            beats = health.heartbeats(session)
        messages = GaugeMetricFamily(
            "kosodate_outbox_messages", "Outbox rows by state and purpose", labels=["state", "purpose"]
        )
        for (state, purpose), count in sorted(by_state.items()):
            messages.add_metric([state, purpose], count)
        yield messages
        yield GaugeMetricFamily("kosodate_outbox_due_messages", "Planned messages due now", value=due)
        yield GaugeMetricFamily(
            "kosodate_outbox_oldest_due_age_seconds",
            "How long the oldest due message has waited (0: none)",
            value=_age(moment, oldest_due),
        )
        open_ = GaugeMetricFamily("kosodate_escalations_open", "Escalations not resolved", labels=["kind", "centre"])
        unacknowledged = GaugeMetricFamily(
            "kosodate_escalations_unacknowledged", "Escalations nobody has acknowledged yet", labels=["kind", "centre"]
        )
        totals: Tally[tuple[str, str]] = Tally()
        for (status, kind, centre), count in sorted(escalations.items()):
            totals[(kind, centre)] += count
            if status == "open":
                unacknowledged.add_metric([kind, centre], count)
        for (kind, centre), count in sorted(totals.items()):
            open_.add_metric([kind, centre], count)
        yield open_
        yield unacknowledged
        ticks = GaugeMetricFamily(
            "kosodate_worker_last_tick_age_seconds", "Seconds since each worker's heartbeat", labels=["worker"]
        )
        for beat in beats:
            ticks.add_metric([beat.name], beat.age(moment))
        yield ticks


def _age(moment: datetime, since: datetime | None) -> float:
    return max(0.0, (moment - since).total_seconds()) if since is not None else 0.0


def exposition(accept: str | None) -> tuple[bytes, str]:
    """What /metrics answers, and its content type (the format the scraper's ``Accept`` asks for, as the library's
    own WSGI app chooses it): every process's counters (multi-process mode) or this one's, and the gauges read
    from the tables now."""
    scrape = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(scrape)
    else:
        scrape.register(_PROCESS)
    scrape.register(DatabaseCollector())
    encode, content_type = choose_encoder(accept or "")
    return encode(scrape), content_type


# A request a reverse proxy passed on arrives from loopback too: one carrying these came from elsewhere.
FORWARDING_HEADERS = ("X-Forwarded-For", "X-Real-IP", "Forwarded")


def refusal(authorization: str | None, remote_addr: str | None, token: str, *, forwarded: bool = False) -> int | None:
    """Who may read /metrics: with ``METRICS_TOKEN`` set, whoever sends it as a bearer token (compared in constant
    time); without one, only this machine (loopback, and not passed on by a reverse proxy on this machine). Returns
    the HTTP status to refuse with, or None."""
    if token:
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            return 401
        return None
    return None if remote_addr in ("127.0.0.1", "::1") and not forwarded else 403
