"""Sends outbox rows through the gateway and records what happened. Used inline by the web process (right after
an event's transaction commits) and by the worker's periodic job, which also picks up whatever a crash left.

The order of things is what makes delivery exactly-once in effect: the row is committed before any LINE call;
push and multicast always carry the row's retry key, so a repeat after a crash is answered 409 by LINE.
"""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

from bot.line_gateway import Gateway, Outcome
from bot.messages import batches
from storage import outbox, users
from storage.clock import now
from storage.db import unit_of_work
from storage.models import OutboxMessage

log = logging.getLogger(__name__)

# Checks that a message is still right to send, by purpose: (session, row) -> reason to expire it, or None.
# Features register theirs (e.g. reminders check the participant is still confirmed and consenting).
EligibilityCheck = Callable[[Any, OutboxMessage], str | None]
eligibility_checks: dict[str, EligibilityCheck] = {}


@dataclass(frozen=True)
class Job:
    id: int
    purpose: str
    line_user_id: str | None
    recipients: list[str] | None
    reply_token: str | None
    reply_token_expires_at: datetime | None
    messages: list[dict[str, Any]]
    retry_key: str
    subject: str | None

    @classmethod
    def of(cls, row: OutboxMessage) -> Job:
        return cls(row.id, row.purpose, row.line_user_id, row.recipients, row.reply_token,
                   row.reply_token_expires_at, list(row.messages), row.retry_key, row.subject)


def batch_retry_key(retry_key: str, index: int) -> str:
    """The first batch uses the row's key; later batches a key derived from it, equally stable across retries."""
    return retry_key if index == 0 else str(uuid.uuid5(uuid.UUID(retry_key), str(index)))


def deliver(gateway: Gateway, ids: list[int] | None = None, limit: int = 100) -> int:
    """Send the due rows (or the given ids). Returns how many were handled."""
    with unit_of_work() as session:
        rows = outbox.claim(session, ids, limit)
        jobs = []
        for row in rows:
            reason = _why_not(session, row)
            if reason:
                outbox.mark_expired(session, row.id, reason)
                log.info("outbox %s (%s) expired: %s", row.id, row.purpose, reason)
            else:
                jobs.append(Job.of(row))
    for job in jobs:
        _send(gateway, job)
    return len(rows)


def _why_not(session, row: OutboxMessage) -> str | None:
    if row.not_after is not None and now() > row.not_after:
        return "too late: past not_after"
    if row.line_user_id and not row.reply_token:
        user = users.by_line_id(session, row.line_user_id)
        if user is not None and user.status == "blocked":
            return "recipient has blocked the bot"
    check = eligibility_checks.get(row.purpose)
    return check(session, row) if check else None


def _send(gateway: Gateway, job: Job) -> None:
    if job.purpose in ("leave_group", "leave_room"):
        _leave(gateway, job)
        return
    parts = batches(job.messages)
    start = 0
    if job.reply_token and job.reply_token_expires_at and now() < job.reply_token_expires_at:
        outcome = gateway.reply(job.reply_token, parts[0])
        if outcome.delivered:
            start = 1
        else:
            log.info("outbox %s: reply not accepted (%s); falling back to push", job.id, outcome.status)
    if start == len(parts):
        _record(job, Outcome("sent"))
        return
    remaining = [m for part in parts[start:] for m in part]
    target = job.line_user_id
    if job.recipients:
        outcome = _each(parts[start:], lambda i, p: gateway.multicast(job.recipients, p, batch_retry_key(job.retry_key, i + start)))
    elif target:
        outcome = _each(parts[start:], lambda i, p: gateway.push(target, p, batch_retry_key(job.retry_key, i + start)))
    else:
        outcome = Outcome("failed", None, "no recipient to push to (reply token expired)")
    _record(job, outcome, (remaining, batch_retry_key(job.retry_key, start)) if start else None)


def _leave(gateway: Gateway, job: Job) -> None:
    """Say goodbye by reply (best effort), then leave; only the leaving decides the row's outcome."""
    if job.reply_token and job.reply_token_expires_at and now() < job.reply_token_expires_at:
        gateway.reply(job.reply_token, batches(job.messages)[0])
    _record(job, gateway.leave(job.purpose.removeprefix("leave_"), job.subject or ""))


def _each(parts: list[list[dict[str, Any]]], send) -> Outcome:
    outcome = Outcome("sent")
    for i, part in enumerate(parts):
        outcome = send(i, part)
        if not outcome.delivered:
            return outcome
    return outcome


def _record(job: Job, outcome: Outcome, remaining: tuple[list[dict[str, Any]], str] | None = None) -> None:
    with unit_of_work() as session:
        if outcome.delivered:
            outbox.mark_sent(session, job.id)
        elif outcome.status == "retry":
            if remaining is not None:
                outbox.keep_only(session, job.id, *remaining)
            outbox.schedule_retry(session, job.id, f"HTTP {outcome.http_status}: {outcome.detail or ''}")
        else:
            outbox.mark_failed(session, job.id, f"HTTP {outcome.http_status}: {outcome.detail or ''}")
    log.info("outbox %s (%s): %s", job.id, job.purpose, "sent" if outcome.delivered else outcome.status)
