"""Monthly programme statistics (事業報告), kept once a month's personal data may start to be purged."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.clock import now
from storage.models.base import Base
from storage.types import UTCDateTime


class StatisticsMonth(Base):
    """One centre's figures for one calendar month (Asia/Tokyo): anonymous counts, and the minutes each report took
    to be acknowledged and resolved (numbers only, so medians can still be taken over a fiscal year)."""

    __tablename__ = "statistics_months"

    month: Mapped[date] = mapped_column(Date, primary_key=True)  # the first day of the month
    centre: Mapped[str] = mapped_column(String(20), primary_key=True)
    figures: Mapped[dict[str, Any]] = mapped_column(JSON)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
