"""The outbox: every message the bot sends is a row first, written with the change that causes it.

A row is ``planned`` until it ends ``sent``, ``failed`` (LINE refused it for good, or we gave up) or ``expired`` (no
longer right to send: past ``not_after``, the participant withdrew, the event moved ...). Its body (``messages``)
is dropped when it ends: what is kept for staff and operators (``Delivery``) is only what it was for and what
became of it. A personal link is never in a body, only a reference to it (``storage.join_links.fill``). ``dedupe_key`` =
(purpose, recipient, subject) makes planning idempotent; ``retry_key`` is fixed at creation and goes with every push
of the row, so LINE itself refuses a second delivery (409).

Rows are claimed with a short lease (``claimed_until``, ``LEASE``) that the holder renews while it lives
(``renew``, by ``runtime.leases``), so a crashed sender's rows are free again within seconds; a sender that stops
gracefully hands back what it has not started (``release``). Rows are claimed with
``FOR UPDATE SKIP LOCKED`` on PostgreSQL so several senders never take the same row: a second sender skips the rows
the first has locked instead of waiting for them, and once the first commits, its lease keeps them out of reach.
SQLite has no row locks; there every write transaction begins IMMEDIATE (``storage.db``), which serialises claims.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import Insert as PgInsert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from storage.clock import now
from storage.db import affected_rows, dialect_name
from storage.models import Enrollment, JoinLink, OutboxMessage

# How long a claim holds without renewal: a crashed sender's rows are free this long after its last heartbeat
# (runtime.leases renews every RENEW_EVERY while the process lives). Leases are the app's clock (storage.clock), so
# hosts sharing a database need synchronised clocks (NTP keeps them within milliseconds).
LEASE = timedelta(seconds=5)
RENEW_EVERY = timedelta(seconds=1)
MAX_ATTEMPTS = 8
# Tried again after a failure (LINE's 429 or 500, or no answer, after the gateway's own three tries): 5 s, 10 s,
# 20 s … at most 10 minutes; an answer a parent is waiting for after 1 s, 2 s, 4 s … (a 500 is momentary, and a
# parent who sees nothing for long taps again).
RETRY_AFTER = timedelta(seconds=5)
ANSWER_RETRY_AFTER = timedelta(seconds=1)
ANSWER_PURPOSES = frozenset({"reply", "apology"})
REPLY_TOKEN_LIFETIME = timedelta(seconds=50)
MULTICAST_MAX = 500
STATUSES = ("planned", "sent", "failed", "expired")


def _insert(session: Session) -> Callable[..., PgInsert | SqliteInsert]:
    return pg_insert if dialect_name(session) == "postgresql" else sqlite_insert


def add(
    session: Session,
    *,
    purpose: str,
    messages: list[dict[str, Any]],
    line_user_id: str | None = None,
    recipients: list[str] | None = None,
    reply_token: str | None = None,
    dedupe_key: str | None = None,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    subject: str | None = None,
) -> int | None:
    """Plan a message. Returns its id, or None when a message with this ``dedupe_key`` was planned already."""
    values = _row(
        purpose=purpose,
        messages=messages,
        line_user_id=line_user_id,
        recipients=recipients,
        reply_token=reply_token,
        dedupe_key=dedupe_key,
        not_before=not_before,
        not_after=not_after,
        subject=subject,
    )
    stmt = _insert(session)(OutboxMessage)
    if dedupe_key is not None:
        stmt = stmt.on_conflict_do_nothing(index_elements=["dedupe_key"])
    # The values go as parameters, not into the statement: one compiled statement serves every row.
    return session.execute(stmt.returning(OutboxMessage.id), values).scalar()


def add_many(session: Session, planned: list[dict[str, Any]]) -> None:
    """Plan many messages at once (``add``'s keywords, each with a ``dedupe_key``); those planned already are left
    as they are. One statement for all of them: a planner may add thousands."""
    if planned:
        stmt = _insert(session)(OutboxMessage).on_conflict_do_nothing(index_elements=["dedupe_key"])
        session.execute(stmt, [_row(**kw) for kw in planned])


def _row(
    *,
    purpose: str,
    messages: list[dict[str, Any]],
    line_user_id: str | None = None,
    recipients: list[str] | None = None,
    reply_token: str | None = None,
    dedupe_key: str | None = None,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    subject: str | None = None,
) -> dict[str, Any]:
    moment = now()
    return {
        "dedupe_key": dedupe_key,
        "purpose": purpose,
        "line_user_id": line_user_id,
        "recipients": recipients,
        "reply_token": reply_token,
        "reply_token_expires_at": moment + REPLY_TOKEN_LIFETIME if reply_token else None,
        "messages": messages,
        "retry_key": str(uuid.uuid4()),
        "status": "planned",
        "attempts": 0,
        "not_before": not_before,
        "not_after": not_after,
        "next_attempt_at": max(not_before, moment) if not_before else moment,
        "subject": subject,
        "created_at": moment,
    }


def add_multicast(
    session: Session,
    *,
    purpose: str,
    messages: list[dict[str, Any]],
    recipients: Iterable[str],
    dedupe_key: str,
    subject: str | None = None,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
) -> list[int]:
    """The same messages to many people: one row per 500 recipients (LINE's multicast limit), each with its own
    retry key. The recipients are sorted, so planning the same audience again yields the same rows (and nothing new).
    Personal content (a join link) must not go this way: use ``add`` per person."""
    everyone = sorted(set(recipients))
    ids = []
    for n, start in enumerate(range(0, len(everyone), MULTICAST_MAX)):
        row = add(
            session,
            purpose=purpose,
            messages=messages,
            recipients=everyone[start : start + MULTICAST_MAX],
            dedupe_key=f"{dedupe_key}#{n}",
            subject=subject,
            not_before=not_before,
            not_after=not_after,
        )
        if row is not None:
            ids.append(row)
    return ids


# --- claiming and recording, for runtime.delivery ------------------------------------------------------------------
def claim(
    session: Session, ids: list[int] | None = None, limit: int = 100, held: Iterable[str] = ()
) -> list[OutboxMessage]:
    """Claim due rows (or the given ones, if due) for this sender; the caller commits, then sends.

    Rows whose purpose is ``held`` (e.g. reminders during quiet hours) are left alone. A row that has been claimed
    ``MAX_ATTEMPTS`` times without an outcome (its senders keep crashing) is failed here instead of claimed again.
    One UPDATE … RETURNING takes the lease and reads the rows, in due order.
    """
    moment = now()
    due = [
        OutboxMessage.status == "planned",
        OutboxMessage.next_attempt_at <= moment,
        or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < moment),
    ]
    held = tuple(held)
    if held:
        due.append(OutboxMessage.purpose.not_in(held))
    if ids is not None:
        due.append(OutboxMessage.id.in_(ids))
    session.execute(
        update(OutboxMessage)
        .where(*due, OutboxMessage.attempts >= MAX_ATTEMPTS)
        .values(
            status="failed",
            finished_at=moment,
            claimed_until=None,
            last_error=f"gave up after {MAX_ATTEMPTS} attempts without an answer",
            messages=NO_BODY,
        )
        .execution_options(synchronize_session=False)
    )
    # A materialised CTE, not ``id IN (SELECT … LIMIT … SKIP LOCKED)``: PostgreSQL may run such a subquery again for
    # each row it looks at, and with SKIP LOCKED every run finds other rows, so far more than ``limit`` got claimed.
    chosen = (
        select(OutboxMessage.id)
        .where(*due)
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .cte("chosen")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    rows = session.scalars(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(select(chosen.c.id)))
        .values(claimed_until=moment + LEASE, attempts=OutboxMessage.attempts + 1)
        .returning(OutboxMessage),
        execution_options={"synchronize_session": False},
    )
    return sorted(rows, key=lambda row: (row.next_attempt_at, row.id))


# The body of a row that has ended: nothing (``replan`` gives an expired row a new one).
NO_BODY: list[dict[str, Any]] = []


def _held_as_claimed(held: dict[int, int]) -> tuple[ColumnElement[bool], ...]:
    """The rows still as this holder claimed them: planned, leased, and not claimed since (a claim counts an attempt,
    so another sender's claim changes ``attempts``)."""
    return (
        OutboxMessage.status == "planned",
        OutboxMessage.claimed_until.is_not(None),
        tuple_(OutboxMessage.id, OutboxMessage.attempts).in_(sorted(held.items())),
    )


def renew(session: Session, held: dict[int, int]) -> set[int]:
    """Extend the leases of the rows this holder still holds ({row id: attempts when claimed}). Returns their ids:
    a row missing from the answer was finished, handed back, or claimed by another sender, and must not be sent."""
    if not held:
        return set()
    return set(
        session.scalars(
            update(OutboxMessage)
            .where(*_held_as_claimed(held))
            .values(claimed_until=now() + LEASE)
            .returning(OutboxMessage.id),
            execution_options={"synchronize_session": False},
        )
    )


def release(session: Session, held: dict[int, int]) -> int:
    """Hand back claimed rows whose sending never started (a graceful stop): free at once for the next claim, the
    attempt not counted (so a reply token still fresh is still used). Returns how many."""
    if not held:
        return 0
    return affected_rows(
        session.execute(
            update(OutboxMessage)
            .where(*_held_as_claimed(held))
            .values(claimed_until=None, attempts=OutboxMessage.attempts - 1)
            .execution_options(synchronize_session=False)
        )
    )


def _close(row: OutboxMessage, status: str, error: str | None) -> None:
    row.status, row.claimed_until, row.finished_at, row.messages = status, None, now(), NO_BODY
    row.last_error = error[:1000] if error else None


def mark_sent(session: Session, row_ids: list[int]) -> None:
    """LINE accepted these (or had accepted them already: 409). True whatever the row said before."""
    if not row_ids:
        return
    moment = now()
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(row_ids))
        .values(
            status="sent", sent_at=moment, finished_at=moment, claimed_until=None, last_error=None, messages=NO_BODY
        )
        .execution_options(synchronize_session=False)
    )


def mark_failed(session: Session, row_id: int, error: str) -> None:
    row = session.get(OutboxMessage, row_id)
    if row is not None and row.status == "planned":
        _close(row, "failed", error)


def mark_expired(session: Session, row_id: int, reason: str) -> None:
    row = session.get(OutboxMessage, row_id)
    if row is not None and row.status == "planned":
        _close(row, "expired", reason)


def expire(session: Session, row_ids: list[int], reason: str) -> int:
    """Expire planned rows nobody is sending right now (a leased row is checked again by its sender)."""
    if not row_ids:
        return 0
    moment = now()
    result = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id.in_(row_ids),
            OutboxMessage.status == "planned",
            or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < moment),
        )
        .values(status="expired", finished_at=moment, claimed_until=None, last_error=reason[:1000], messages=NO_BODY)
        .execution_options(synchronize_session=False)
    )
    return affected_rows(result)


def schedule_retry(session: Session, row_id: int, error: str) -> None:
    """Try again later with the same retry key; give up after MAX_ATTEMPTS."""
    row = session.get(OutboxMessage, row_id)
    if row is None or row.status != "planned":
        return
    if row.attempts >= MAX_ATTEMPTS:
        _close(row, "failed", f"gave up after {row.attempts} attempts: {error}")
        return
    row.claimed_until = None
    row.last_error = error[:1000]
    first = ANSWER_RETRY_AFTER if row.purpose in ANSWER_PURPOSES else RETRY_AFTER
    row.next_attempt_at = now() + min(timedelta(minutes=10), first * 2 ** (row.attempts - 1))


def keep_only(session: Session, row_id: int, remaining: list[dict[str, Any]], retry_key: str) -> None:
    """The first messages went out (by reply or push); what remains goes by push next time, under the key the first
    remaining batch was pushed with (``runtime.delivery.batch_retry_key`` keeps the later keys in step)."""
    row = session.get_one(OutboxMessage, row_id)
    row.messages = remaining
    row.reply_token = None
    row.retry_key = retry_key


def replan(
    session: Session,
    row: OutboxMessage,
    *,
    messages: list[dict[str, Any]],
    not_before: datetime,
    not_after: datetime | None,
) -> None:
    """Plan an expired row again (its reason went away: a parent re-applied, consented again ...). The retry key is
    kept: if an earlier attempt reached LINE before the row expired, LINE still refuses a second delivery."""
    row.status, row.finished_at, row.last_error, row.claimed_until = "planned", None, None, None
    row.messages, row.not_before, row.not_after = messages, not_before, not_after
    row.next_attempt_at = max(not_before, now())


# --- for planners (scheduler/reminders.py) ---------------------------------------------------------------------
def still_relevant(session: Session, purpose: str, after: datetime) -> list[OutboxMessage]:
    """Rows of ``purpose`` that are planned, or whose ``not_after`` is later than ``after``: what a planner compares
    with what it wants now (a sent or expired row of a past event no longer matters)."""
    return list(
        session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.purpose == purpose,
                or_(OutboxMessage.status == "planned", OutboxMessage.not_after > after),
            )
        )
    )


def due_about(
    session: Session, purpose: str, subjects: Iterable[str], due_by: datetime
) -> list[tuple[int, str | None, datetime | None, datetime | None]]:
    """(id, subject, not_before, not_after) of the planned or sent rows of ``purpose`` about these subjects that are
    due by ``due_by``."""
    wanted = sorted(set(subjects))
    out: list[tuple[int, str | None, datetime | None, datetime | None]] = []
    for start in range(0, len(wanted), 500):
        out += session.execute(
            select(OutboxMessage.id, OutboxMessage.subject, OutboxMessage.not_before, OutboxMessage.not_after).where(
                OutboxMessage.purpose == purpose,
                OutboxMessage.subject.in_(wanted[start : start + 500]),
                OutboxMessage.status.in_(("planned", "sent")),
                OutboxMessage.not_before <= due_by,
            )
        ).all()
    return out


# --- what staff and operators see -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Delivery:
    """One message's story, without its content: what it was for, when it was due, what became of it and when."""

    id: int
    purpose: str
    subject: str | None
    status: str
    due_at: datetime
    created_at: datetime
    finished_at: datetime | None
    attempts: int
    last_error: str | None
    recipients: int


def _delivery(row: OutboxMessage) -> Delivery:
    return Delivery(
        row.id,
        row.purpose,
        row.subject,
        row.status,
        row.not_before or row.created_at,
        row.created_at,
        row.finished_at,
        row.attempts,
        row.last_error,
        len(row.recipients or []) or 1,
    )


def deliveries(session: Session, subjects: Iterable[str]) -> list[Delivery]:
    """Every message about these subjects ("enrollment:12", "event:3"), in due order."""
    wanted = sorted(set(subjects))
    if not wanted:
        return []
    rows = session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.subject.in_(wanted))
        .order_by(func.coalesce(OutboxMessage.not_before, OutboxMessage.created_at), OutboxMessage.id)
    )
    return [_delivery(row) for row in rows]


def for_enrollment(session: Session, enrollment_id: int) -> list[Delivery]:
    """What was sent (or planned) to one participant about their application: reminders, join links, updates."""
    return deliveries(session, _enrollment_subjects(session, [enrollment_id]))


def for_event(session: Session, event_id: int) -> list[Delivery]:
    """Every message about an event: to everyone (notices, thank-yous) and to each participant."""
    enrollment_ids = list(session.scalars(select(Enrollment.id).where(Enrollment.event_id == event_id)))
    return deliveries(session, [f"event:{event_id}", *_enrollment_subjects(session, enrollment_ids)])


def _enrollment_subjects(session: Session, enrollment_ids: list[int]) -> list[str]:
    links = list(session.scalars(select(JoinLink.id).where(JoinLink.enrollment_id.in_(enrollment_ids))))
    return [f"enrollment:{i}" for i in enrollment_ids] + [f"join_link:{i}" for i in links]


def recent_problems(session: Session, limit: int = 20) -> list[Delivery]:
    """The latest failed messages, for operators (LINE's own error message is in ``last_error``)."""
    rows = session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.status == "failed")
        .order_by(OutboxMessage.finished_at.desc(), OutboxMessage.id.desc())
        .limit(limit)
    )
    return [_delivery(row) for row in rows]


def summary(session: Session, purpose: str | None = None) -> dict[str, int]:
    query = select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
    if purpose is not None:
        query = query.where(OutboxMessage.purpose == purpose)
    return dict(session.execute(query).all())


def backlog(session: Session) -> tuple[int, datetime | None]:
    """How many planned rows are due now, and since when the oldest of them has been waiting."""
    moment = now()
    count, oldest = session.execute(
        select(func.count(), func.min(OutboxMessage.next_attempt_at)).where(
            OutboxMessage.status == "planned", OutboxMessage.next_attempt_at <= moment
        )
    ).one()
    return count, oldest
