"""The spine's tables: LINE users, the webhook inbox, the outbox of messages to send, conversation state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.clock import now
from storage.models.base import Base
from storage.types import UTCDateTime


class LineUser(Base):
    """Anyone who has talked to the bot. ``line_user_id`` is personal data: never log it."""

    __tablename__ = "line_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    line_user_id: Mapped[str] = mapped_column(String(64), unique=True)
    language: Mapped[str] = mapped_column(String(8), default="ja")
    # "active" while following; "blocked" after unfollow: nothing is pushed to a blocked user.
    status: Mapped[str] = mapped_column(String(16), default="active")
    followed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    unfollowed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class InboxEvent(Base):
    """One webhook event, stored before LINE gets its 200; processed once, in per-source order."""

    __tablename__ = "inbox_events"
    __table_args__ = (
        Index("ix_inbox_pending", "source_key", "processed_at", "event_timestamp"),
        # The worker's sweep for sources with pending events (storage.inbox.pending_sources), every 2 seconds.
        Index("ix_inbox_status_source", "status", "source_key", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    webhook_event_id: Mapped[str] = mapped_column(String(64), unique=True)
    # The LINE user (or group/room) the event came from; events are processed in order per source.
    source_key: Mapped[str] = mapped_column(String(64))
    event_type: Mapped[str] = mapped_column(String(40))
    mode: Mapped[str] = mapped_column(String(16), default="active")
    event_timestamp: Mapped[int] = mapped_column(BigInteger, default=0)
    redelivery: Mapped[bool] = mapped_column(default=False)
    # The raw event; replaced by a minimal stub once processed (it can contain message text).
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # "pending", "done", or "failed" (gave up after repeated crashes; the user got an apology).
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(200))


class InboxProcessed(Base):
    """An inbox event whose effects are committed, recorded in the same transaction as they are. Used where the
    inbox is a database of its own (SQLite, ``storage.db.inbox_url``), so that marking the inbox afterwards can fail
    or be cut short by a crash without the event ever being processed twice. Kept as long as processed inbox
    events are (``RETENTION_INBOX_DAYS``)."""

    __tablename__ = "inbox_processed"

    webhook_event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    processed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, index=True)


class OutboxMessage(Base):
    """A message the bot will send, written in the same transaction as the change that causes it.

    ``retry_key`` is fixed at creation and sent as ``X-Line-Retry-Key`` on every push attempt, so a retry after a
    crash or a timeout can never deliver twice. ``dedupe_key`` makes planning idempotent: (purpose, recipient, subject).
    """

    __tablename__ = "outbox_messages"
    __table_args__ = (
        Index("ix_outbox_due", "status", "next_attempt_at"),
        # The reminder planner's rows of one purpose, planned or not yet past (storage.outbox.still_relevant).
        Index("ix_outbox_purpose_status", "purpose", "status"),
        Index("ix_outbox_purpose_not_after", "purpose", "not_after"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    purpose: Mapped[str] = mapped_column(String(40))
    line_user_id: Mapped[str | None] = mapped_column(String(64), index=True)
    # For multicast: the list of LINE user ids (≤ 500 per row).
    recipients: Mapped[list[str] | None] = mapped_column(JSON)
    reply_token: Mapped[str | None] = mapped_column(String(255))
    reply_token_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # LINE message objects, already checked against LINE's limits by runtime.render.
    messages: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    retry_key: Mapped[str] = mapped_column(String(36))
    # planned → sent | failed | expired (storage.outbox says when and why)
    status: Mapped[str] = mapped_column(String(16), default="planned")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime)
    not_after: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    # A sender holds the row until this time (a lease): no second sender picks it up meanwhile.
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # What the message is about, for eligibility checks at send time and for staff ("enrollment:12", "event:3").
    subject: Mapped[str | None] = mapped_column(String(64), index=True)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the row became sent, failed or expired.
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ConversationState(Base):
    """Where one user is in a conversation flow. ``version`` goes up on every step: postbacks carry it."""

    __tablename__ = "conversation_states"

    line_user_pk: Mapped[int] = mapped_column(ForeignKey("line_users.id", ondelete="CASCADE"), primary_key=True)
    flow: Mapped[str | None] = mapped_column(String(40))
    step: Mapped[str | None] = mapped_column(String(60))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    version: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
