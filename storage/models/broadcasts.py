"""Messages staff send to a segment of parents (お知らせ), their batches in the outbox, and parents' opt-outs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.clock import now
from storage.models.base import Base
from storage.types import UTCDateTime

# Who a broadcast is for (storage.broadcasts.audience resolves it when the message is released).
AUDIENCES = ("everyone", "centre", "age", "participants", "waitlist")
AGE_BANDS = ("0", "1", "2", "3plus", "pregnant")
# awaiting_approval → scheduled → released (planned in the outbox); cancelled before it goes.
BROADCAST_STATUSES = ("awaiting_approval", "scheduled", "released", "cancelled")


class Broadcast(Base):
    """One お知らせ: what staff wrote (no personal data), whom it is for, when it goes, and who approved it."""

    __tablename__ = "broadcasts"
    __table_args__ = (Index("ix_broadcasts_due", "status", "send_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # The centre whose parents (or event) it is for; None for every centre (administrators and the division only).
    centre: Mapped[str | None] = mapped_column(String(20))
    audience: Mapped[str] = mapped_column(String(20))
    age_band: Mapped[str | None] = mapped_column(String(10))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(Text)
    card_event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="SET NULL"))
    image_url: Mapped[str | None] = mapped_column(String(500))
    # Sent during quiet hours too (an administrator's decision: a closure because of a typhoon).
    urgent: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(20))
    send_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # How many parents the audience had when it was composed (decides whether a second person must approve).
    estimated: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("staff_members.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    approved_by: Mapped[int | None] = mapped_column(ForeignKey("staff_members.id", ondelete="SET NULL"))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_by: Mapped[int | None] = mapped_column(ForeignKey("staff_members.id", ondelete="SET NULL"))
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # At release: the audience's size, and how many of them were left out and why ({"opted_out": 3, ...}).
    planned: Mapped[int | None] = mapped_column(Integer)
    excluded: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class BroadcastBatch(Base):
    """One multicast row of a broadcast (≤ 500 parents): how many it names, and how many of them were left out when
    it was sent (checked again then) and why. Written again on each attempt, so a retry never counts twice."""

    __tablename__ = "broadcast_batches"

    outbox_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcasts.id", ondelete="CASCADE"), index=True)
    recipients: Mapped[int] = mapped_column(Integer)
    excluded: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class BroadcastOptOut(Base):
    """A parent who asked not to receive staff's お知らせ (「お知らせの停止」); removed by 「お知らせを受け取る」."""

    __tablename__ = "broadcast_optouts"

    parent_id: Mapped[int] = mapped_column(
        ForeignKey("parents.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
