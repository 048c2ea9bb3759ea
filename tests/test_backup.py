"""Backups while the bot runs, and restoring one (``kosodate db backup`` / ``db restore``, storage/backup.py), and
the worker's nightly copy (scheduler/backups.py).

The backup is taken by the installed executable while another connection keeps writing, five rows per transaction,
to the main database and the inbox: the restored copy must hold whole transactions only, every row exactly as it
was, and the restored bot must start.
"""

from __future__ import annotations

import os
import secrets
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.orm import Session

from scheduler.worker import Worker
from storage import audit, inbox
from storage.backup import files_of
from storage.clock import now, to_tokyo
from storage.db import inbox_url, make_engine
from tests.operator_support import (  # noqa: F401
    PG_BIN,
    Operator,
    commands_ran,
    fresh_database,
    production_environment,
    strong_password,
    wait_until,
)

pytestmark = [pytest.mark.usefixtures("commands_ran"), pytest.mark.timeout(600)]
PER_TRANSACTION = 5


class WriteLoad:
    """Writes audit events (main database) and webhook events (the inbox) in a thread, five per transaction."""

    def __init__(self, url: str):
        self.main = make_engine(url)
        self.inbox = make_engine(inbox_url(url)) if inbox_url(url) else self.main
        self.transactions = 0
        self.stop = threading.Event()
        self.failure: BaseException | None = None
        self.thread = threading.Thread(target=self._write, name="backup-write-load", daemon=True)

    def _write(self) -> None:
        try:
            while not self.stop.is_set():
                with Session(self.main) as session, session.begin():
                    for n in range(PER_TRANSACTION):
                        audit.record(
                            session,
                            action="load.write",
                            actor_label="load",
                            details={"transaction": self.transactions, "n": n},
                        )
                with Session(self.inbox) as session, session.begin():
                    inbox.store(
                        session,
                        [
                            {
                                "webhookEventId": secrets.token_hex(13),
                                "type": "follow",
                                "source": {"type": "user", "userId": "U" + secrets.token_hex(16)},
                            }
                            for _ in range(PER_TRANSACTION)
                        ],
                    )
                self.transactions += 1
        except BaseException as exc:  # reported by the test
            self.failure = exc

    def __enter__(self) -> WriteLoad:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()
        self.main.dispose()
        self.inbox.dispose()


def tables(url: str) -> dict[str, list[tuple]]:
    """Every row of every table ("main:…", and "inbox:…" for SQLite's inbox file), ordered by the first column."""
    found = {}
    for where, each in (("main", url), ("inbox", inbox_url(url))):
        if each is None:
            continue
        engine = make_engine(each)
        try:
            with engine.connect() as conn:
                for name in inspect(conn).get_table_names():
                    found[f"{where}:{name}"] = [
                        tuple(row) for row in conn.execute(text(f'SELECT * FROM "{name}" ORDER BY 1'))
                    ]
        finally:
            engine.dispose()
    return found


@pytest.fixture
def operator(tmp_path):
    with fresh_database(_folder(tmp_path, "live")) as url:
        yield Operator(production_environment(url, "http://127.0.0.1:9"), tmp_path)


def _folder(tmp_path: Path, name: str) -> Path:
    (tmp_path / name).mkdir(exist_ok=True)
    return tmp_path / name


def test_a_backup_taken_under_write_load_restores_whole_and_the_restored_bot_starts(operator, tmp_path):
    op, live = operator, operator.env["DATABASE_URL"]
    op.kosodate("db", "upgrade")
    op.kosodate(
        "staff",
        "create",
        "--name",
        "地域 太郎",
        "--login",
        "taro@city.funabashi.example",
        "--password-stdin",
        input=strong_password() + "\n",
    )
    backup_path = tmp_path / "backups" / "kosodate.sqlite3"
    with WriteLoad(live) as load:
        wait_until(lambda: load.transactions >= 20 or load.failure, "the write load")
        written = op.kosodate("db", "backup", str(backup_path)).stdout
        during = load.transactions
        wait_until(lambda: load.transactions > during + 5 or load.failure, "writes after the backup")
    assert load.failure is None, repr(load.failure)
    assert "backup written" in written
    if live.startswith("sqlite"):
        assert all(path.is_file() for _url, path in files_of(live, backup_path))  # the main file and the inbox's
        assert all(path.stat().st_mode & 0o077 == 0 for _url, path in files_of(live, backup_path)), "owner only"
    else:
        assert backup_path.stat().st_mode & 0o077 == 0, "a copy of personal data is readable by its owner only"

    source = tables(live)
    inbox_events = "inbox:inbox_events" if inbox_url(live) else "main:inbox_events"
    written_to = {"main:audit_events", inbox_events}
    with fresh_database(_folder(tmp_path, "restored")) as fresh:
        elsewhere = {**op.env, "DATABASE_URL": fresh}
        assert "restored from" in op.kosodate("db", "restore", str(backup_path), env=elsewhere).stdout
        restored = tables(fresh)
        assert set(restored) == set(source)
        for name, rows in restored.items():
            if name in written_to:
                # A snapshot taken while writes went on: whole transactions, each row exactly as it was written.
                assert 0 < len(rows) < len(source[name]) and rows == source[name][: len(rows)], name
            else:
                assert rows == source[name], name
        loaded = [row for row in restored["main:audit_events"] if "load.write" in row]
        events = restored[inbox_events]
        assert len(loaded) % PER_TRANSACTION == 0 and len(events) % PER_TRANSACTION == 0

        assert "due now" in op.kosodate("outbox", "status", env=elsewhere).stdout  # the restored bot starts
        assert "taro@city.funabashi.example" in op.kosodate("staff", "list", env=elsewhere).stdout
        refused = op.kosodate("db", "restore", str(backup_path), env=elsewhere, ok=False)
        assert refused.returncode == 1 and "not empty" in refused.stderr and "--force" in refused.stderr
        assert "restored from" in op.kosodate("db", "restore", str(backup_path), "--force", env=elsewhere).stdout
        assert tables(fresh) == restored


def test_a_postgresql_backup_without_pg_dump_says_so_in_one_line(operator):
    elsewhere = {**operator.env, "DATABASE_URL": "postgresql://postgres@127.0.0.1:9/kosodate", "PATH": "/nowhere"}
    refused = operator.kosodate("db", "backup", "/tmp/never-written.dump", env=elsewhere, ok=False)
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [
        "Error: pg_dump was not found: install the PostgreSQL client tools (e.g. apt-get install postgresql-client) "
        "or add them to PATH"
    ]
    assert not Path("/tmp/never-written.dump").exists()


def test_a_restore_needs_a_backup_that_exists(operator, tmp_path):
    missing = operator.kosodate("db", "restore", str(tmp_path / "nothing.sqlite3"), ok=False)
    assert missing.returncode == 1 and "no backup at" in missing.stderr


# --- the worker's nightly backup ---------------------------------------------------------------------------------
def test_the_worker_backs_up_only_when_backup_dir_is_set(runtime):
    assert "database-backup" not in [job[0] for job in Worker(runtime).daily_jobs()]


def test_the_nightly_backup_writes_a_copy_and_removes_only_its_own_old_ones(runtime, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", f"{os.environ.get('PATH', '')}{os.pathsep}{PG_BIN}")
    monkeypatch.setattr(runtime, "config", runtime.config.with_(backup_dir=str(tmp_path), backup_keep_days=7))
    yesterday = (to_tokyo(now()) - timedelta(days=1)).strftime("%Y%m%d-%H%M")
    old, old_inbox = tmp_path / "kosodate-20000101-0400.sqlite3", tmp_path / "kosodate-20000101-0400-inbox.sqlite3"
    recent, foreign = tmp_path / f"kosodate-{yesterday}.dump", tmp_path / "kosodate-notes.txt"
    for path in (old, old_inbox, recent, foreign):
        path.write_text("x")
    worker = Worker(runtime)
    try:
        jobs = {job_id: fn for job_id, fn, _at in worker.daily_jobs()}
        assert "database-backup" in jobs
        path = worker.backups.run()
    finally:
        worker.close()
    assert path.is_file() and path.parent == tmp_path and path.stat().st_size > 0
    assert not old.exists() and not old_inbox.exists()
    assert recent.exists() and foreign.exists()


def test_backup_keep_and_dir_come_from_the_environment():
    from bot.config import ConfigError, from_environ

    config = from_environ({"APP_MODE": "test", "BACKUP_DIR": "/var/backups/kosodate", "BACKUP_KEEP": "30"})
    assert (config.backup_dir, config.backup_keep_days) == ("/var/backups/kosodate", 30)
    assert from_environ({"APP_MODE": "test"}).backup_dir == ""
    with pytest.raises(ConfigError, match="BACKUP_KEEP"):
        from_environ({"APP_MODE": "test", "BACKUP_KEEP": "forever"})
