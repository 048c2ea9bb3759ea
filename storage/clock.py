"""The one clock. Everything that needs the time asks ``now()`` here; tests move it with time-machine.

Times are stored in UTC (naive UTC in the database, see ``storage.types.UTCDateTime``) and shown in Asia/Tokyo.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

TOKYO = ZoneInfo("Asia/Tokyo")


def now() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def to_tokyo(moment: datetime) -> datetime:
    return moment.astimezone(TOKYO)


def today_tokyo() -> date:
    return to_tokyo(now()).date()
