"""The webhook inbox: store once (UNIQUE webhookEventId), process in order per source, exactly once in effect.

Where the inbox shares the main database (PostgreSQL), an event is marked done in the transaction that applies its
effects. Where it has a database of its own (SQLite, ``storage.db.inbox_url``), that transaction records the event
in ``inbox_processed`` (``claim``) and the inbox row is marked afterwards (``mark_processed``): a crash in between
leaves the row pending, and the next attempt finds the claim and only marks it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from storage.clock import now
from storage.db import dialect_name, inbox_separate, inbox_unit_of_work, table_of
from storage.models import InboxEvent, InboxProcessed

MAX_ATTEMPTS = 3
# What the inbox's own database holds (SQLite, ``storage.db.inbox_url``; its history: storage/inbox_migrations).
INBOX_TABLES = frozenset({"inbox_events"})


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Alembic's filter for the inbox's own database: only the inbox's tables and what belongs to them."""
    table = obj if type_ == "table" else getattr(obj, "table", None)
    return table is None or table.name in INBOX_TABLES


def source_key(event: dict[str, Any]) -> str:
    """Whose event this is (the per-source order of processing); "-" for an event without one."""
    source = event.get("source")
    if not isinstance(source, dict):
        return "-"
    for key in ("userId", "groupId", "roomId"):
        value = source.get(key)
        if isinstance(value, str) and value:
            return value[:64]
    return "-"


def _timestamp(value: Any) -> int:
    """LINE's millisecond timestamp; anything else (a forged or odd event) sorts first instead of failing."""
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**62 else 0


def _redelivery(event: dict[str, Any]) -> bool:
    context = event.get("deliveryContext")
    return isinstance(context, dict) and context.get("isRedelivery") is True


def store(session: Session, events: Iterable[dict[str, Any]]) -> list[str]:
    """Insert each event unless its webhookEventId is already stored. Returns the sources with new events."""
    rows = []
    for event in events:
        rows.append(
            {
                "webhook_event_id": str(event["webhookEventId"])[:64],
                "source_key": source_key(event),
                "event_type": str(event.get("type", "unknown"))[:40],
                "mode": str(event.get("mode", "active"))[:16],
                "event_timestamp": _timestamp(event.get("timestamp")),
                "redelivery": _redelivery(event),
                "payload": event,
                "received_at": now(),
                "status": "pending",
                "attempts": 0,
            }
        )
    if not rows:
        return []
    insert = pg_insert if dialect_name(session) == "postgresql" else sqlite_insert
    # Parameters passed separately (not .values(rows)) so the compiled statement is cached across requests.
    stmt = (
        insert(table_of(InboxEvent))
        .on_conflict_do_nothing(index_elements=["webhook_event_id"])
        .returning(InboxEvent.source_key)
    )
    result = session.connection().execute(stmt, rows)
    return sorted({key for (key,) in result})


def writers_serialised(session: Session) -> bool:
    """True on SQLite, where every write transaction starts with BEGIN IMMEDIATE: one writer at a time, each seeing
    everything committed before it began, so no source lock is needed and none is ever found taken."""
    return dialect_name(session) != "postgresql"


def lock_source(session: Session, key: str) -> bool:
    """Take the per-source lock for this transaction; False if another process holds it (PostgreSQL)."""
    if writers_serialised(session):
        return True
    return bool(session.execute(text("SELECT pg_try_advisory_xact_lock(hashtext(:k))"), {"k": key}).scalar())


def next_pending(session: Session, key: str, limit: int = 1) -> list[InboxEvent]:
    """The source's oldest pending events, oldest first (at most ``limit``)."""
    return list(
        session.scalars(
            select(InboxEvent)
            .where(InboxEvent.source_key == key, InboxEvent.status == "pending")
            .order_by(InboxEvent.event_timestamp, InboxEvent.id)
            .limit(limit)
        )
    )


def claim(session: Session, webhook_event_id: str) -> bool:
    """Record in the main database that this event's effects are being committed (separate inbox only). False if
    an earlier attempt already committed them. Writers are serialised there (SQLite), so the look is reliable."""
    if session.get(InboxProcessed, webhook_event_id) is not None:
        return False
    session.add(InboxProcessed(webhook_event_id=webhook_event_id, processed_at=now()))
    return True


def mark_processed(session: Session, event: InboxEvent) -> None:
    """Mark a claimed event done in the separate inbox, its payload minimised."""
    session.execute(
        update(InboxEvent)
        .where(InboxEvent.id == event.id, InboxEvent.status == "pending")
        .values(status="done", processed_at=now(), payload=minimal(event.payload))
    )


@contextmanager
def _beside(session: Session) -> Iterator[Session]:
    """The inbox, for a caller in a main-database transaction: that same transaction where the inbox is a table of
    the main database; where it has a database of its own, a transaction there, committed first (for deletions:
    gone a moment early is harmless)."""
    if not inbox_separate():
        yield session
        return
    with inbox_unit_of_work() as inbox_session:
        yield inbox_session


def forget_source(session: Session, key: str) -> None:
    """Delete every inbox event of a source (erasure)."""
    with _beside(session) as inbox_session:
        inbox_session.execute(delete(InboxEvent).where(InboxEvent.source_key == key))


def purge(session: Session, before: datetime, batch: int) -> int:
    """Retention: up to ``batch`` processed events (and claims) older than ``before``; how many went."""
    with _beside(session) as inbox_session:
        ids = list(
            inbox_session.scalars(
                select(InboxEvent.id)
                .where(InboxEvent.status.in_(("done", "failed")), InboxEvent.processed_at < before)
                .limit(batch)
            )
        )
        if ids:
            inbox_session.execute(delete(InboxEvent).where(InboxEvent.id.in_(ids)))
    claims = list(
        session.scalars(
            select(InboxProcessed.webhook_event_id).where(InboxProcessed.processed_at < before).limit(batch)
        )
    )
    if claims:
        session.execute(delete(InboxProcessed).where(InboxProcessed.webhook_event_id.in_(claims)))
    return len(ids) + len(claims)


def mark_done(session: Session, event: InboxEvent) -> None:
    event.status = "done"
    event.processed_at = now()
    event.payload = minimal(event.payload)


def minimal(payload: dict[str, Any] | None) -> dict[str, Any]:
    """What is kept after processing: the shape of the event, never its content or who sent it."""
    payload = payload or {}
    kept: dict[str, Any] = {k: payload[k] for k in ("type", "mode", "timestamp") if k in payload}
    message = payload.get("message")
    if isinstance(message, dict):
        kept["message"] = {"type": message.get("type")}
    return kept


def record_failure(session: Session, event_id: int, error: str) -> bool:
    """Count a failed attempt. Returns True when the event has now failed for good."""
    event = session.get(InboxEvent, event_id)
    if event is None or event.status != "pending":
        return False
    event.attempts += 1
    event.last_error = error[:200]
    if event.attempts >= MAX_ATTEMPTS:
        event.status = "failed"
        event.processed_at = now()
        event.payload = minimal(event.payload)
        return True
    return False


def pending_sources(session: Session, limit: int = 100) -> list[str]:
    return list(
        session.scalars(
            select(InboxEvent.source_key)
            .where(InboxEvent.status == "pending")
            .group_by(InboxEvent.source_key)
            .order_by(func.min(InboxEvent.id))
            .limit(limit)
        )
    )


def counts(session: Session) -> dict[str, int]:
    return dict(session.execute(select(InboxEvent.status, func.count()).group_by(InboxEvent.status)).all())
