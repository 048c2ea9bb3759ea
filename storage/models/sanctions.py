"""Sanctions under policy 6 (禁止事項): the city may remove a participant or refuse further participation.

A sanction bars one parent from one event, or from every event, until a date (inclusive, Asia/Tokyo) or until it is
lifted. Rows are never deleted: lifting sets ``lifted_at``, so the record of what was decided and why stays.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.clock import now
from storage.models.base import Base
from storage.types import UTCDateTime

# The items of policy section 6 a sanction may cite: "6-(1)" … "6-(11)".
POLICY_ITEMS = tuple(f"6-({n})" for n in range(1, 12))


class Sanction(Base):
    __tablename__ = "sanctions"

    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int] = mapped_column(ForeignKey("parents.id", ondelete="CASCADE"), index=True)
    # The event the bar is for; None bars the parent from every event.
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    # The last day of the bar (Asia/Tokyo); None lasts until lifted.
    until: Mapped[date | None] = mapped_column(Date)
    policy_items: Mapped[list[str]] = mapped_column(JSON)
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lifted_by: Mapped[str | None] = mapped_column(String(100))

    @property
    def scope(self) -> str:
        return "all" if self.event_id is None else "event"
