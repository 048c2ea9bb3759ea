"""Backups of the databases while the bot runs, and putting one back (``kosodate db backup`` / ``db restore``, the
worker's nightly copy in ``scheduler/backups.py``).

SQLite: SQLite's online backup API (``sqlite3.Connection.backup``), in one step, for the main file AND the inbox's
own file (``storage.db.inbox_url``). One step reads one snapshot: in WAL mode writers go on meanwhile and the copy is
still consistent. A plain file copy of a WAL database is not (committed pages may still be in the ``-wal`` file), so
it is never used. The inbox is copied first: an event that arrives while the main file is being copied is then either
in neither copy or already processed in the main one (``inbox_processed``) — never marked done in the inbox copy
while its effects are missing from the main copy. A backup of ``x.sqlite3`` is the pair ``x.sqlite3`` and
``x-inbox.sqlite3``, itself a database the bot can run on.

PostgreSQL: ``pg_dump`` in its custom format (one file, consistent by its own snapshot) and ``pg_restore``, run as
subprocesses; the password goes through the environment (``PGPASSWORD``), never the command line.

Expected failures (no pg_dump, a database that is not empty, a missing backup) are ``BackupError`` with a one-line
message for the operator.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy import create_engine, func, inspect, make_url, select, table

from storage.db import inbox_url, is_sqlite, normalize_url

PG_TOOLS_HINT = "install the PostgreSQL client tools (e.g. apt-get install postgresql-client) or add them to PATH"


class BackupError(RuntimeError):
    """A backup or restore that cannot be done; the message is one line for the operator."""


def files_of(url: str, path: Path) -> list[tuple[str, Path]]:
    """(database URL, backup file) pairs: the main database, then (SQLite) the inbox's own file."""
    pairs = [(url, Path(path))]
    separate = inbox_url(url)
    twin = inbox_url(f"sqlite:///{Path(path).absolute()}")  # the backup's own inbox file, beside it
    if separate and twin:
        pairs.insert(0, (separate, _sqlite_file(twin)))
    return pairs


def backup(url: str, path: Path) -> list[Path]:
    """Write a consistent copy of the database(s) at ``url`` to ``path``; returns the files written."""
    url = normalize_url(url)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    if not is_sqlite(url):
        _pg_dump(url, Path(path))
        return [Path(path)]
    written = []
    for source, target in files_of(url, path):
        _sqlite_copy(_sqlite_file(source), target)
        written.append(target)
    return written


def restore(url: str, path: Path, force: bool = False) -> list[Path]:
    """Put the backup at ``path`` into the database(s) at ``url``. Refuses a database holding any row unless
    ``force``. Returns the backup files read."""
    url = normalize_url(url)
    if not Path(path).is_file():
        raise BackupError(f"no backup at {path}")
    pairs = files_of(url, path) if is_sqlite(url) else [(url, Path(path))]
    if not force:
        for target, _source in pairs:
            if not is_empty(target):
                raise BackupError(
                    "the database is not empty; restore into an empty one, or add --force to overwrite it"
                )
    if not is_sqlite(url):
        _pg_restore(url, Path(path), clean=force)
        return [Path(path)]
    for _target, source in pairs:
        if not source.is_file():
            raise BackupError(f"no backup at {source} (a SQLite backup is the main file and its inbox file)")
    for target, source in pairs:
        _sqlite_copy(source, _sqlite_file(target))
    return [source for _target, source in pairs]


def is_empty(url: str) -> bool:
    """True when no table of the database holds a row (or it does not exist yet)."""
    if is_sqlite(url) and not Path(_sqlite_file(url)).exists():
        return True
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            names = inspect(conn).get_table_names()
            return all(conn.scalar(select(func.count()).select_from(table(name))) == 0 for name in names)
    finally:
        engine.dispose()


def _sqlite_file(url: str) -> Path:
    database = make_url(url).database
    if not database:
        raise BackupError("DATABASE_URL names no SQLite file")
    return Path(database)


# A copy holds every parent's personal data: readable by the service's own user only, whatever the umask.
PRIVATE = 0o600


def _sqlite_copy(source: Path, target: Path) -> None:
    """Source to target through the backup API, in one step (one snapshot). A new target is written beside and
    renamed into place, so a half-written copy never has the backup's name."""
    if not source.is_file():
        raise BackupError(f"no database file at {source}")
    target.parent.mkdir(parents=True, exist_ok=True)
    fresh = not target.exists()
    into = target.with_name(target.name + ".partial") if fresh else target
    into.unlink(missing_ok=True)
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(into, timeout=30)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()
    if fresh:
        os.chmod(into, PRIVATE)
        os.replace(into, target)


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """The URL for libpq tools without its password, and the environment carrying the password."""
    parsed = make_url(url)
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    return parsed.set(drivername="postgresql", password=None).render_as_string(hide_password=False), env


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} was not found: {PG_TOOLS_HINT}")
    return found


def _run(command: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise BackupError(f"{Path(command[0]).name} failed: {lines[0] if lines else f'exit {done.returncode}'}")


def _pg_dump(url: str, path: Path) -> None:
    dsn, env = _libpq(url)
    partial = path.with_name(path.name + ".partial")
    _run([_tool("pg_dump"), "--format=custom", "--no-owner", f"--file={partial}", f"--dbname={dsn}"], env)
    os.chmod(partial, PRIVATE)
    os.replace(partial, path)


def _pg_restore(url: str, path: Path, clean: bool) -> None:
    dsn, env = _libpq(url)
    options = ["--clean", "--if-exists"] if clean else []
    _run(
        [
            _tool("pg_restore"),
            "--no-owner",
            "--exit-on-error",
            "--single-transaction",
            *options,
            f"--dbname={dsn}",
            str(path),
        ],
        env,
    )
