"""The outbox: every message the bot sends is a row first, written with the change that causes it.

Rows are claimed with a lease (``claimed_until``) so a crashed sender's rows are picked up again, and with
``FOR UPDATE SKIP LOCKED`` on PostgreSQL so several senders never take the same row.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from storage.clock import now
from storage.models import OutboxMessage

LEASE = timedelta(seconds=60)
MAX_ATTEMPTS = 8
REPLY_TOKEN_LIFETIME = timedelta(seconds=50)


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
    values = {
        "dedupe_key": dedupe_key,
        "purpose": purpose,
        "line_user_id": line_user_id,
        "recipients": recipients,
        "reply_token": reply_token,
        "reply_token_expires_at": now() + REPLY_TOKEN_LIFETIME if reply_token else None,
        "messages": messages,
        "retry_key": str(uuid.uuid4()),
        "status": "planned",
        "attempts": 0,
        "not_before": not_before,
        "not_after": not_after,
        "next_attempt_at": max(filter(None, (not_before, now()))),
        "subject": subject,
        "created_at": now(),
    }
    insert = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
    stmt = insert(OutboxMessage).values(values)
    if dedupe_key is not None:
        stmt = stmt.on_conflict_do_nothing(index_elements=["dedupe_key"])
    return session.execute(stmt.returning(OutboxMessage.id)).scalar()


def claim(session: Session, ids: list[int] | None = None, limit: int = 100) -> list[OutboxMessage]:
    """Claim due rows (or the given ones, if due) for this sender; the caller commits, then sends."""
    moment = now()
    query = (
        select(OutboxMessage)
        .where(
            OutboxMessage.status == "planned",
            OutboxMessage.next_attempt_at <= moment,
            or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < moment),
        )
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    if ids is not None:
        query = query.where(OutboxMessage.id.in_(ids))
    rows = list(session.scalars(query))
    for row in rows:
        row.claimed_until = moment + LEASE
        row.attempts += 1
    return rows


def mark_sent(session: Session, row_id: int) -> None:
    row = session.get(OutboxMessage, row_id)
    row.status, row.sent_at, row.claimed_until, row.last_error = "sent", now(), None, None


def mark_failed(session: Session, row_id: int, error: str) -> None:
    row = session.get(OutboxMessage, row_id)
    row.status, row.claimed_until, row.last_error = "failed", None, error[:1000]


def mark_expired(session: Session, row_id: int, reason: str) -> None:
    row = session.get(OutboxMessage, row_id)
    row.status, row.claimed_until, row.last_error = "expired", None, reason[:1000]


def schedule_retry(session: Session, row_id: int, error: str) -> None:
    """Try again later with the same retry key; give up after MAX_ATTEMPTS."""
    row = session.get(OutboxMessage, row_id)
    if row.attempts >= MAX_ATTEMPTS:
        mark_failed(session, row_id, f"gave up after {row.attempts} attempts: {error}")
        return
    row.claimed_until = None
    row.last_error = error[:1000]
    row.next_attempt_at = now() + timedelta(seconds=min(600, 5 * 2 ** (row.attempts - 1)))


def drop_reply_token(session: Session, row_id: int) -> None:
    """The reply token was refused or expired: from now on this message goes by push."""
    row = session.get(OutboxMessage, row_id)
    row.reply_token = None


def summary(session: Session) -> dict[str, int]:
    return dict(session.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all())


def keep_only(session: Session, row_id: int, remaining: list[dict[str, Any]], retry_key: str) -> None:
    """Part of the message went out by reply; what remains will go by push, under the key it was first pushed with."""
    row = session.get(OutboxMessage, row_id)
    row.messages = remaining
    row.reply_token = None
    row.retry_key = retry_key


