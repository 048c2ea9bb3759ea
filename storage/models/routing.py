"""Where escalations go besides LINE, per centre (e-mail addresses and outgoing webhooks set in the console), and the
duty rota (当番表): who is on duty at a centre by weekday and time, with dated exceptions. Public holidays come from
the ``holidays`` package, not from a table (storage/rota.py)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.clock import now
from storage.models.base import Base
from storage.types import UTCDateTime


class RoutingChannel(Base):
    """One e-mail address or outgoing-webhook URL of a centre (or of the division, "division"). The address is sealed
    with the data key: a webhook URL is itself a credential (whoever has it may post to the channel). Removing one
    keeps the row (``removed_at``), so the notices already sent to it still say where they went."""

    __tablename__ = "routing_channels"
    __table_args__ = (Index("ix_routing_channels_centre", "centre", "removed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    centre: Mapped[str] = mapped_column(String(20))
    # "email" | "webhook"
    channel: Mapped[str] = mapped_column(String(10))
    address_sealed: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("staff_members.id", ondelete="SET NULL"))
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DutySlot(Base):
    """A weekly slot of the rota: this staff member is on duty for this centre on this weekday (0 = Monday) from
    ``starts_minute`` to ``ends_minute`` (minutes after midnight, Asia/Tokyo; 1440 = 24:00)."""

    __tablename__ = "duty_slots"
    __table_args__ = (Index("ix_duty_slots_centre_weekday", "centre", "weekday"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    centre: Mapped[str] = mapped_column(String(20))
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_members.id", ondelete="CASCADE"), index=True)
    weekday: Mapped[int] = mapped_column(SmallInteger)
    starts_minute: Mapped[int] = mapped_column(Integer)
    ends_minute: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class DutyException(Base):
    """A dated exception to a centre's rota: "closed" (no rota that day), "open" (the rota applies although it is a
    public holiday), or "substitute" (``staff_id`` takes ``replaces_id``'s slots that day)."""

    __tablename__ = "duty_exceptions"
    __table_args__ = (Index("ix_duty_exceptions_centre_day", "centre", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    centre: Mapped[str] = mapped_column(String(20))
    day: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(12))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_members.id", ondelete="CASCADE"))
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("staff_members.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
