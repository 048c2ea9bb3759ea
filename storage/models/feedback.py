"""What participants thought of an event (満足度 1–5 and an optional comment), answered after the thank-you."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.clock import now
from storage.models.base import Base
from storage.types import UTCDateTime


class Feedback(Base):
    """One participant's answer about one event; answering again replaces it. The comment is the parent's own
    words: personal data, shown to staff only, erased with the parent."""

    __tablename__ = "feedback"
    __table_args__ = (UniqueConstraint("event_id", "parent_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    parent_id: Mapped[int] = mapped_column(ForeignKey("parents.id", ondelete="CASCADE"), index=True)
    score: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    commented_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
