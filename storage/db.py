"""Engine creation and the unit-of-work session scope.

One engine per process (``init_engine``), one transaction per unit of work (``unit_of_work``).
SQLite runs in WAL mode with a busy timeout so the web and worker processes can share the file.

The webhook inbox on SQLite lives in a file of its own beside the main one (``inbox_url``): SQLite has one write
lock per file, and an acknowledgement to LINE must not wait for a processing transaction to finish with it. On
PostgreSQL (row locks) the inbox is a table of the main database; ``inbox_unit_of_work`` then is ``unit_of_work``.

Bound parameters are left out of SQLAlchemy's error messages (``hide_parameters``): they are personal data (a name,
a phone number, a LINE user id) and error messages end up in logs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import PurePath
from typing import Any, cast

from sqlalchemy import URL, Connection, CursorResult, Engine, Result, Table, create_engine, event, make_url, text
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

_engine: Engine | None = None
_sessions: sessionmaker[Session] | None = None
_inbox_engine: Engine | None = None
_inbox_sessions: sessionmaker[Session] | None = None
_inbox_readers: sessionmaker[Session] | None = None


def is_sqlite(url_or_engine: Engine | URL | str) -> bool:
    url = url_or_engine.url if isinstance(url_or_engine, Engine) else url_or_engine
    return str(url).startswith("sqlite")


def normalize_url(url: str) -> str:
    """Accept the usual ``postgres://`` / ``postgresql://`` forms and use psycopg 3 for them."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str) -> Engine:
    url = normalize_url(url)
    if is_sqlite(url):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, hide_parameters=True)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
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
        def _sqlite_begin(conn: Connection) -> None:
            # BEGIN IMMEDIATE: one writer at a time, decided at the start, so no transaction fails half-way on upgrade.
            # A session that only reads (``read_only``) begins a plain snapshot and never takes the write lock.
            conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get("read_only") else "BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5, hide_parameters=True)


def inbox_url(url: str) -> str | None:
    """Where the inbox lives when it has a database of its own: for a SQLite file ``x.sqlite3``, the file
    ``x-inbox.sqlite3`` beside it. None (the main database) for PostgreSQL and in-memory SQLite."""
    parsed = make_url(normalize_url(url))
    if (
        parsed.get_backend_name() != "sqlite"
        or parsed.database in (None, "", ":memory:")
        or parsed.query.get("mode") == "memory"
    ):
        return None
    path = PurePath(parsed.database)
    return parsed.set(database=str(path.with_name(f"{path.stem}-inbox{path.suffix}"))).render_as_string(
        hide_password=False
    )


def init_engine(url: str) -> Engine:
    """Create (or replace) this process's engines and session factories."""
    global _engine, _sessions, _inbox_engine, _inbox_sessions, _inbox_readers
    for old in {engine for engine in (_engine, _inbox_engine) if engine is not None}:
        old.dispose()
    _engine = make_engine(url)
    _sessions = sessionmaker(_engine, expire_on_commit=False)
    separate = inbox_url(url)
    _inbox_engine = make_engine(separate) if separate else _engine
    _inbox_sessions = sessionmaker(_inbox_engine, expire_on_commit=False) if separate else _sessions
    _inbox_readers = sessionmaker(_inbox_engine.execution_options(read_only=True), expire_on_commit=False)
    return _engine


def inbox_separate() -> bool:
    """True when the inbox is a database of its own (SQLite): processing then records what it has done in the main
    database (``storage.inbox.claim``), and marks the inbox after that commit."""
    return _inbox_engine is not None and _inbox_engine is not _engine


def get_inbox_engine() -> Engine:
    if _inbox_engine is None:
        raise RuntimeError("storage.db.init_engine() has not been called")
    return _inbox_engine


@contextmanager
def inbox_unit_of_work(read_only: bool = False) -> Iterator[Session]:
    """One transaction on the inbox's database (the main one on PostgreSQL). ``read_only`` on SQLite reads a
    snapshot without taking the file's write lock, which the webhook's acknowledgements need."""
    factory = _inbox_readers if read_only else _inbox_sessions
    if factory is None:
        raise RuntimeError("storage.db.init_engine() has not been called")
    with factory() as session, session.begin():
        yield session


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
    row locks while it waits for LINE (runtime/delivery.py)."""
    if _sessions is None:
        raise RuntimeError("storage.db.init_engine() has not been called")
    return _sessions()


def ping() -> bool:
    """Whether both databases answer (the cheap health check); read-only, so on SQLite it never waits for the write
    lock a processing transaction holds."""
    try:
        for engine in {get_engine(), get_inbox_engine()}:
            with engine.execution_options(read_only=True).connect() as conn:
                conn.execute(text("SELECT 1"))
        return True
    except Exception:  # any failure means "not reachable" for the health check
        return False


def dialect_name(session: Session) -> str:
    """``"postgresql"`` or ``"sqlite"``: the few statements that differ (ON CONFLICT, locking) ask here."""
    return session.get_bind().dialect.name


def table_of(model: type[DeclarativeBase]) -> Table:
    """The Core table behind a mapped class, for bulk statements. Declarative types ``__table__`` as any FromClause;
    every model here is mapped to a Table."""
    table = model.__table__
    if not isinstance(table, Table):
        raise TypeError(f"{model.__name__} is not mapped to a table")
    return table


def affected_rows(result: Result[*tuple[Any, ...]]) -> int:
    """How many rows a bulk UPDATE or DELETE changed. ``Session.execute`` is typed to return a plain ``Result``;
    for those statements it is a ``CursorResult``, which has the count."""
    return cast("CursorResult[*tuple[Any, ...]]", result).rowcount
