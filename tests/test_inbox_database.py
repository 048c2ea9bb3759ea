"""On SQLite the webhook inbox is a database file of its own, so that acknowledging LINE never waits for the one
write lock that processing transactions hold on the main file (storage.db.inbox_url)."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, insert, select

from storage import migrate
from storage.db import get_engine, inbox_separate, inbox_unit_of_work, inbox_url, make_engine
from storage.inbox import include_object
from storage.models import Base, InboxEvent
from tests.conftest import SECRET
from tests.support import body_of, event, new_user_id, sign


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:////srv/kosodate/kosodate.sqlite3", "sqlite:////srv/kosodate/kosodate-inbox.sqlite3"),
        ("sqlite:///relative.db", "sqlite:///relative-inbox.db"),
        ("sqlite:////srv/data.d/kosodate", "sqlite:////srv/data.d/kosodate-inbox"),
        ("sqlite:///:memory:", None),
        ("sqlite://", None),
        ("postgresql://kosodate@db/kosodate", None),
        ("postgres://kosodate@db/kosodate", None),
    ],
)
def test_where_the_inbox_lives(url, expected):
    assert inbox_url(url) == expected


def _tables(path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_upgrade_creates_the_inbox_file_with_only_the_inbox(tmp_path):
    url = f"sqlite:///{tmp_path / 'k.sqlite3'}"
    migrate.upgrade(url)
    assert _tables(tmp_path / "k-inbox.sqlite3") == {"inbox_events", "alembic_version"}
    engine = make_engine(inbox_url(url))
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True, "include_object": include_object})
            assert compare_metadata(context, Base.metadata) == [], "the inbox file's schema drifted from the model"
    finally:
        engine.dispose()
    migrate.upgrade(url)  # a second run changes nothing and does not fail


def test_upgrade_moves_events_still_pending_in_the_main_file(tmp_path):
    """A database from before the separate inbox: its unprocessed events must not be left behind."""
    url = f"sqlite:///{tmp_path / 'k.sqlite3'}"
    migrate.upgrade(url, "0009")
    engine = make_engine(url)
    rows = [
        {
            "webhook_event_id": f"01OLD{n}",
            "source_key": "U" + "a" * 32,
            "event_type": "message",
            "mode": "active",
            "event_timestamp": n,
            "redelivery": False,
            "payload": {"type": "message"},
            "received_at": datetime(2026, 11, 1, tzinfo=UTC),
            "status": status,
            "attempts": 0,
        }
        for n, status in enumerate(("pending", "done", "pending"))
    ]
    with engine.begin() as conn:
        conn.execute(insert(InboxEvent.__table__), rows)
    migrate.upgrade(url)
    with engine.connect() as conn:
        left = list(conn.execute(select(InboxEvent.webhook_event_id, InboxEvent.status)))
    engine.dispose()
    assert left == [("01OLD1", "done")], "processed history stays where it was (the retention purge takes it)"
    with sqlite3.connect(tmp_path / "k-inbox.sqlite3") as conn:
        moved = conn.execute("SELECT webhook_event_id, status FROM inbox_events ORDER BY id").fetchall()
    assert moved == [("01OLD0", "pending"), ("01OLD2", "pending")]
    migrate.upgrade(url)
    with sqlite3.connect(tmp_path / "k-inbox.sqlite3") as conn:
        assert conn.execute("SELECT count(*) FROM inbox_events").fetchone() == (2,), "moved once"


def test_an_acknowledgement_does_not_wait_for_a_processing_transaction(client):
    """A processing transaction holds the main file's write lock (BEGIN IMMEDIATE) for as long as it likes; the
    webhook still stores the event and answers 200 meanwhile."""
    if not inbox_separate():
        pytest.skip("PostgreSQL: the inbox is a table of the main database, with row locks")
    raw = body_of(event("follow", new_user_id(), "r" * 32))
    answered: list[int] = []
    with get_engine().connect() as processing:
        processing.exec_driver_sql("SELECT 1")  # the connection's BEGIN IMMEDIATE: the main file's write lock is ours
        worker = threading.Thread(
            target=lambda: answered.append(
                client.post(
                    "/callback",
                    data=raw,
                    headers={"X-Line-Signature": sign(raw, SECRET), "Content-Type": "application/json"},
                ).status_code
            )
        )
        worker.start()
        worker.join(timeout=5)
        assert answered == [200], "the acknowledgement waited for the main database's write lock"
        processing.rollback()
    with inbox_unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(InboxEvent)) == 1


def test_inbox_status_counts_the_inbox_where_it_is(client, runner, runtime):
    from bot.cli import inbox as inbox_cli

    raw = body_of(event("follow", new_user_id(), "r" * 32), event("follow", new_user_id(), "s" * 32))
    assert client.post("/callback", data=raw, headers={"X-Line-Signature": sign(raw, SECRET)}).status_code == 200
    result = runner.invoke(inbox_cli, args=["status"])
    assert result.exit_code == 0, result.output
    assert result.output.split() == ["pending", "2", "done", "0", "failed", "0"]
    runtime.process_inbox()
    assert runner.invoke(inbox_cli, args=["status"]).output.split() == ["pending", "0", "done", "2", "failed", "0"]
