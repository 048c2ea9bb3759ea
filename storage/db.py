"""Engine creation and the unit-of-work session scope.

One engine per process (``init_engine``), one transaction per unit of work (``unit_of_work``).
SQLite runs in WAL mode with a busy timeout so the web and worker processes can share the file.
Bound parameters are left out of SQLAlchemy's error messages (``hide_parameters``): they are personal data (a name,
a phone number, a LINE user id) and error messages end up in logs.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

_engine: Engine | None = None
_sessions: sessionmaker[Session] | None = None


def is_sqlite(url_or_engine) -> bool:
    url = url_or_engine.url if isinstance(url_or_engine, Engine) else url_or_engine
    return str(url).startswith("sqlite")


def normalize_url(url: str) -> str:
    """Accept the usual ``postgres://`` / ``postgresql://`` forms and use psycopg 3 for them."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def make_engine(url: str) -> Engine:
    url = normalize_url(url)
    if is_sqlite(url):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, hide_parameters=True)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            # Let SQLAlchemy issue BEGIN itself (below) so write transactions take the lock up front.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            # Read the file through the OS page cache, shared by every connection and process, instead of a 2 MB
            # cache per connection: with 100,000 parents, lookups stay within 20 % of their time with 1,000
            # (bench/scale.py, docs/benchmarks.md).
            cur.execute("PRAGMA mmap_size=268435456")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):
            # BEGIN IMMEDIATE: one writer at a time, decided at the start, so no transaction fails half-way on upgrade.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5, hide_parameters=True)


def init_engine(url: str) -> Engine:
    """Create (or replace) this process's engine and session factory."""
    global _engine, _sessions
    if _engine is not None:
        _engine.dispose()
    _engine = make_engine(url)
    _sessions = sessionmaker(_engine, expire_on_commit=False)
    return _engine


def get_engine() -> Engine:
    if _engine is None:
        raise RuntimeError("storage.db.init_engine() has not been called")
    return _engine


@contextmanager
def unit_of_work() -> Iterator[Session]:
    """One transaction: committed when the block ends, rolled back on any exception."""
    if _sessions is None:
        raise RuntimeError("storage.db.init_engine() has not been called")
    with _sessions() as session, session.begin():
        yield session


def open_session() -> Session:
    """A session the caller ends itself (``close``), for a transaction that must outlive one block: a sender holding
    row locks while it waits for LINE (bot/delivery.py)."""
    if _sessions is None:
        raise RuntimeError("storage.db.init_engine() has not been called")
    return _sessions()


def ping() -> bool:
    try:
        with get_engine().connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:  # any failure means "not reachable" for the health check
        return False
