"""What the health check and the metrics read from the tables: the workers' heartbeats, how long the oldest
pending webhook event and the oldest due message have waited, open escalations. Counts and ages only: nothing
here returns a person's data."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, case, func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from storage.clock import now
from storage.db import get_engine
from storage.models import Escalation, InboxEvent, OutboxMessage, WorkerHeartbeat


@contextmanager
def reading() -> Iterator[Session]:
    """A read-only transaction on the main database for the health check and the metrics: on SQLite a snapshot that
    never takes the write lock (a scrape must not hold up the bot's writes)."""
    with Session(get_engine().execution_options(read_only=True)) as session, session.begin():
        yield session


@dataclass(frozen=True)
class Heartbeat:
    name: str
    jobs: tuple[str, ...]
    last_tick_at: datetime

    def age(self, moment: datetime) -> float:
        return max(0.0, (moment - self.last_tick_at).total_seconds())


def beat(session: Session, name: str, jobs: list[str], host: str, pid: int) -> None:
    """Record that the worker ``name`` is alive now (one row per name, upserted)."""
    moment = now()
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    values = {
        "name": name[:100],
        "jobs": ",".join(jobs)[:400],
        "host": host[:100],
        "pid": pid,
        "started_at": moment,
        "last_tick_at": moment,
    }
    stmt = insert(WorkerHeartbeat).values(values)
    # A new process (another pid) under the same name has started anew; the same process only ticks.
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["name"],
            set_={
                "jobs": stmt.excluded.jobs,
                "host": stmt.excluded.host,
                "pid": stmt.excluded.pid,
                "last_tick_at": stmt.excluded.last_tick_at,
                "started_at": case(
                    (WorkerHeartbeat.pid == stmt.excluded.pid, WorkerHeartbeat.started_at),
                    else_=stmt.excluded.started_at,
                ),
            },
        )
    )


def heartbeats(session: Session) -> list[Heartbeat]:
    rows = session.execute(
        select(WorkerHeartbeat.name, WorkerHeartbeat.jobs, WorkerHeartbeat.last_tick_at).order_by(WorkerHeartbeat.name)
    )
    return [Heartbeat(name, tuple(j for j in jobs.split(",") if j), tick) for name, jobs, tick in rows]


def inbox_pending(session: Session) -> tuple[int, datetime | None]:
    """How many webhook events wait to be processed, and since when the oldest has (the inbox's session)."""
    count, oldest = session.execute(
        select(func.count(), func.min(InboxEvent.received_at)).where(InboxEvent.status == "pending")
    ).one()
    return count, oldest


def outbox_by_state(session: Session) -> dict[tuple[str, str], int]:
    """{(status, purpose): rows}: the whole outbox, read from the (purpose, status) index."""
    rows = session.execute(
        select(OutboxMessage.status, OutboxMessage.purpose, func.count()).group_by(
            OutboxMessage.status, OutboxMessage.purpose
        )
    )
    return {(status, purpose): count for status, purpose, count in rows}


def escalations_open(session: Session) -> dict[tuple[str, str, str], int]:
    """{(status, kind, centre): count} of escalations not resolved; status "open" = nobody has acknowledged it."""
    rows = session.execute(
        select(Escalation.status, Escalation.kind, Escalation.centre, func.count())
        .where(Escalation.status != "resolved")
        .group_by(Escalation.status, Escalation.kind, Escalation.centre)
    )
    return {(status, kind, centre): count for status, kind, centre, count in rows}


def reachable(engine: Engine) -> bool:
    """Whether the database answers; read-only, so on SQLite it never waits for the write lock."""
    try:
        with engine.execution_options(read_only=True).connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:  # any failure means "not reachable" for the health check
        return False
