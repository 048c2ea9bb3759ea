"""What keeps processing cheap and out of the acknowledgements' way: context facts are read only when a step looks at
them (and never after it), one transaction per event, a sweep that keeps going while events are pending, and web
processes that leave a burst to the worker."""

from __future__ import annotations

import dataclasses
import queue
import secrets

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import select

from runtime import lanes as runtimes
from runtime import processing as dispatch
from services.context import Lazy
from storage import inbox
from storage.db import get_engine, get_inbox_engine, inbox_separate, inbox_unit_of_work, unit_of_work
from storage.models import InboxEvent, LineUser, OutboxMessage
from tests.events_support import make_event, make_parent
from tests.support import event as webhook_event
from tests.support import new_user_id


def said(user_id: str, words: str) -> dict:
    return webhook_event(
        "message", user_id, secrets.token_hex(16), message={"type": "text", "id": "1", "text": words, "quoteToken": "q"}
    )


def store(*events: dict) -> None:
    with inbox_unit_of_work() as session:
        inbox.store(session, list(events))


class Statements:
    """The SQL statements the engine (by default the main database's) runs while the block is open."""

    def __init__(self, engine=None):
        self.engine = engine or get_engine()

    def __enter__(self) -> list[str]:
        self.seen: list[str] = []
        sa_event.listen(self.engine, "before_cursor_execute", self._record)
        return self.seen

    def _record(self, _conn, _cursor, statement, *_args) -> None:
        self.seen.append(" ".join(statement.split()))

    def __exit__(self, *_exc) -> None:
        sa_event.remove(self.engine, "before_cursor_execute", self._record)


def test_help_from_a_parent_reads_no_events_reports_or_children(app, runtime):
    with unit_of_work() as session:
        parent = make_parent(session)
        make_event(session)
    user_id = _line_id_of(parent.line_user_pk)
    store(said(user_id, "ヘルプ"))
    with Statements() as seen:
        assert dispatch.process_source(user_id, runtime.settings), "the bot answered"
    read = " ".join(seen)
    for table in ("FROM events", "FROM enrollments", "FROM escalations", "FROM children", "FROM join_links"):
        assert table not in read, f"{table} was read for ヘルプ"


def test_the_event_list_reads_the_events_it_shows(app, runtime):
    with unit_of_work() as session:
        parent = make_parent(session)
        make_event(session)
    user_id = _line_id_of(parent.line_user_pk)
    store(said(user_id, "イベント一覧"))
    with Statements() as seen:
        assert dispatch.process_source(user_id, runtime.settings)
    assert any("FROM events" in s for s in seen)


def test_a_lone_event_is_processed_in_one_transaction(app, runtime):
    user_id = new_user_id()
    store(said(user_id, "ヘルプ"))
    if not inbox_separate():  # PostgreSQL: the inbox is a table of the main database
        with Statements() as seen:
            dispatch.process_source(user_id, runtime.settings)
        assert sum("FROM inbox_events" in s for s in seen) == 2, "the event, then the second look after the commit"
        return
    with Statements() as seen, Statements(get_inbox_engine()) as seen_in_inbox:
        dispatch.process_source(user_id, runtime.settings)
    assert [s for s in seen if s.startswith("BEGIN")] == ["BEGIN IMMEDIATE"], seen
    assert not any("inbox_events" in s for s in seen), "the main database's copy of the table is not used"
    # The inbox's own file: read from a snapshot (no write lock), then one short write marking the event done.
    assert [s for s in seen_in_inbox if s.startswith("BEGIN")] == ["BEGIN", "BEGIN IMMEDIATE"], seen_in_inbox
    assert sum(s.startswith("SELECT") for s in seen_in_inbox) == 1
    assert sum(s.startswith("UPDATE inbox_events") for s in seen_in_inbox) == 1


def test_an_event_claimed_before_a_crash_is_only_marked_afterwards(app, runtime, monkeypatch):
    """Separate inbox: the processing transaction committed, the process died before marking the inbox. The next
    attempt finds the claim, answers nothing more and marks the event done."""
    if not inbox_separate():
        pytest.skip("the inbox shares the main database here: the mark is in the processing transaction")
    user_id = new_user_id()
    store(said(user_id, "ヘルプ"))

    def crash(*_args):
        raise SystemExit("killed")

    monkeypatch.setattr(inbox, "mark_processed", crash)
    with pytest.raises(SystemExit):
        dispatch.process_source(user_id, runtime.settings)
    monkeypatch.undo()
    with unit_of_work() as session:
        replies = session.scalars(select(OutboxMessage).where(OutboxMessage.line_user_id == user_id)).all()
    assert len(replies) == 1
    assert dispatch.process_source(user_id, runtime.settings) == [], "not processed a second time"
    with inbox_unit_of_work() as session:
        assert [e.status for e in session.scalars(select(InboxEvent).where(InboxEvent.source_key == user_id))] == [
            "done"
        ]
    with unit_of_work() as session:
        assert len(session.scalars(select(OutboxMessage).where(OutboxMessage.line_user_id == user_id)).all()) == 1


def test_events_of_one_parent_are_all_processed_in_order(app, runtime):
    user_id = new_user_id()
    first, second = said(user_id, "ヘルプ"), said(user_id, "メニュー")
    second["timestamp"] = first["timestamp"] + 1
    store(second, first)
    dispatch.process_source(user_id, runtime.settings)
    with inbox_unit_of_work() as session:
        rows = session.scalars(
            select(InboxEvent).where(InboxEvent.source_key == user_id).order_by(InboxEvent.processed_at, InboxEvent.id)
        ).all()
        assert [(r.status, r.webhook_event_id) for r in rows] == [
            ("done", first["webhookEventId"]),
            ("done", second["webhookEventId"]),
        ]


def test_a_fact_cannot_be_read_once_the_step_is_over():
    loads = []
    facts = Lazy({"events": lambda: loads.append("events") or "the events", "staff": lambda: None})
    assert facts.get("staff") is None and "staff" not in facts, "a loader's None is an absent fact"
    assert facts["events"] == "the events" and facts["events"] == "the events"
    assert loads == ["events"], "loaded once"
    facts.seal()
    assert facts["events"] == "the events", "what the step read stays readable"
    fresh = Lazy({"reports": lambda: "reports"})
    fresh.seal()
    with pytest.raises(RuntimeError):
        fresh.get("reports")


def test_one_sweep_processes_more_sources_than_a_batch(app, runtime):
    users = [new_user_id() for _ in range(runtimes.SWEEP_BATCH + 5)]
    store(*(said(u, "ヘルプ") for u in users))
    runtime.process_inbox()
    with inbox_unit_of_work() as session:
        assert inbox.counts(session).get("pending", 0) == 0


def test_a_web_process_leaves_a_burst_to_the_worker(app, runtime, monkeypatch):
    lanes = [queue.Queue()]
    monkeypatch.setattr(runtime, "config", dataclasses.replace(runtime.config, inline_processing=True))
    monkeypatch.setattr(runtime, "_ensure_lanes", lambda: lanes)
    runtime.wake(["U1"])
    assert lanes[0].get_nowait() == "U1", "a quiet process answers at once"
    burst = [f"U{i}" for i in range(runtimes.INLINE_MAX_EVENTS_PER_SECOND + 1)]
    runtime.wake(burst)
    assert lanes[0].empty(), "in a burst, the web process only acknowledges"


def _line_id_of(user_pk: int) -> str:
    with unit_of_work() as session:
        return session.get(LineUser, user_pk).line_user_id
