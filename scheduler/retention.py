"""The daily retention purge, a worker job at a fixed time in Tokyo (03:30, inside the quiet hours, when nobody uses
the bot and no reminder is sent).

Each kind of data (``storage.retention.PERIODS``) is purged in short transactions of at most ``batch`` rows, so the
purge never holds locks for long, and within a time budget: what is left over is done the next night. Every step is
idempotent — a run repeated, run late or by two workers at once removes nothing twice — so the job needs no memory
of its own: a night missed while the worker was down is caught up by the next run. On SQLite the run ends by
refreshing the query planner's statistics.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

from sqlalchemy import text

from storage import retention, statistics
from storage.clock import now
from storage.db import unit_of_work

log = logging.getLogger(__name__)

RUN_AT = (3, 30)  # hour, minute in Asia/Tokyo
BATCH = 1000
BUDGET_SECONDS = 600
# Identity first (erasing parents also removes their messages and events), then the bulk tables.
ORDER = (
    "unfollowed",
    "conversations",
    "inbox",
    "outbox",
    "link_openings",
    "participants",
    "feedback",
    "reports",
    "staff_sessions",
    "audit",
)


class Purge:
    def __init__(self, days: Mapping[str, int], batch: int = BATCH, budget_seconds: float = BUDGET_SECONDS):
        if set(ORDER) != set(retention.PURGES):
            raise RuntimeError("scheduler.retention.ORDER must name every kind of storage.retention.PURGES")
        self.days = {**retention.DEFAULTS, **days}
        self.batch = batch
        self.budget_seconds = budget_seconds

    def run(self) -> dict[str, int]:
        """One purge pass. Returns how many rows (accounts, for "unfollowed") each kind lost."""
        deadline = time.monotonic() + self.budget_seconds
        before = retention.cutoffs(self.days, now())
        with unit_of_work() as session:
            # The programme statistics of a month are kept before any of its rows can go.
            statistics.snapshot_months(session, self.days)
        removed = {}
        for kind in ORDER:
            removed[kind] = 0
            while time.monotonic() < deadline:
                with unit_of_work() as session:
                    count = retention.PURGES[kind](session, before[kind], self.batch)
                removed[kind] += count
                if count == 0:
                    break
        unfinished = time.monotonic() >= deadline
        refresh_statistics()
        if any(removed.values()) or unfinished:
            log.info(
                "retention: removed %s%s",
                {k: n for k, n in removed.items() if n},
                " (time budget used up: the rest goes tomorrow)" if unfinished else "",
            )
        return removed


def refresh_statistics() -> None:
    """After the night's deletions, fresh table statistics for SQLite's query planner (sampled, so it takes
    moments): without them it cannot tell that an index narrows a search (migration 0009). PostgreSQL's autovacuum
    does this by itself."""
    with unit_of_work() as session:
        if session.bind.dialect.name == "sqlite":
            session.execute(text("PRAGMA analysis_limit=1000"))
            session.execute(text("ANALYZE"))
