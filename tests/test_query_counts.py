"""The common interactions cost the same number of SQL statements whatever the data: イベント一覧, applying, and
申込状況 with 1 event and application or with 20 (no query per event, per application or per link). Statements are
counted on the engine (``before_cursor_execute``) while dispatch processes one stored webhook event.

They also stay within a budget: the context's facts are read only when the step looks at them (services/context.py),
and an event is processed in one transaction. bench/scale.py measures the time of the same interactions with up to
100,000 parents and 10,000 events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import event as sa_event

from handlers.postback import encode
from runtime import processing as dispatch
from storage import conversations, enrollments, users
from storage.db import get_engine, inbox_unit_of_work, unit_of_work
from tests.events_support import make_event, make_parent

# Statements (BEGIN included) to process one event, whatever the statuses of the parent's applications, on SQLite.
# PostgreSQL adds two: the per-parent lock, and a second look for pending events after the commit (runtime/processing.py).
BUDGET = {"イベント一覧": 18, "apply": 35, "申込状況": 17}


@dataclass
class World:
    user_id: str
    user_pk: int
    extra_event: int  # published, not applied for yet


def build(chat, applications: int, statuses: tuple[str, ...] = ("confirmed",)) -> World:
    """A consenting parent with ``applications`` applications (cycling through ``statuses``) to as many upcoming
    events, and one more event to apply for."""
    person = chat()
    with unit_of_work() as session:
        parent = make_parent(session, person.user_id)
        for i in range(applications):
            status = statuses[i % len(statuses)]
            event = make_event(
                session,
                starts_in=timedelta(days=2 + i),
                capacity=0 if status == "waitlisted" else 5,
                approval=status == "pending",
                title=f"交流会 {i}",
            )
            assert enrollments.apply(session, event, parent.id).status == status
        extra = make_event(session, starts_in=timedelta(days=40), title="新しい講座")
        return World(person.user_id, parent.line_user_pk, extra.id)


def statements(runtime, world: World, payload: dict) -> int:
    """How many SQL statements dispatch runs to process this one event (stored first, not counted)."""
    from storage import inbox
    from tests.support import event as webhook_event

    with inbox_unit_of_work() as session:
        inbox.store(session, [webhook_event(payload.pop("type"), world.user_id, "0" * 32, **payload)])
    count = 0

    def counting(*_args) -> None:
        nonlocal count
        count += 1

    engine = get_engine()
    sa_event.listen(engine, "before_cursor_execute", counting)
    try:
        planned = dispatch.process_source(world.user_id, runtime.settings)
    finally:
        sa_event.remove(engine, "before_cursor_execute", counting)
    assert planned, "the bot answered"
    return count


def version(world: World) -> int:
    with unit_of_work() as session:
        return conversations.load(session, world.user_pk).version


def text(words: str) -> dict:
    return {"type": "message", "message": {"type": "text", "id": "1", "text": words, "quoteToken": "q"}}


def tap(flow: str, action: str, value: str, world: World) -> dict:
    return {"type": "postback", "postback": {"data": encode(flow, action, value, version(world))}}


def costs(runtime, world: World) -> dict[str, int]:
    out = {"イベント一覧": statements(runtime, world, text("イベント一覧"))}
    statements(runtime, world, tap("events", "detail", str(world.extra_event), world))
    statements(runtime, world, tap("events", "apply", str(world.extra_event), world))
    out["apply"] = statements(runtime, world, tap("events", "yes", str(world.extra_event), world))
    out["申込状況"] = statements(runtime, world, text("申込状況"))
    with unit_of_work() as session:
        parent_pk = users.by_line_id(session, world.user_id).id
    assert parent_pk == world.user_pk
    return out


@pytest.mark.parametrize(
    "statuses", [("confirmed",), ("confirmed", "waitlisted", "pending")], ids=["confirmed", "every status"]
)
def test_the_common_interactions_cost_the_same_with_1_or_20_events_and_applications(chat, runtime, statuses):
    few = costs(runtime, build(chat, len(statuses), statuses))
    many = costs(runtime, build(chat, 20, statuses))
    assert many == few, f"statements with {len(statuses)} application(s): {few}; with 20: {many}"
    extra = 0 if get_engine().dialect.name == "sqlite" else 2
    over = {k: n for k, n in many.items() if n > BUDGET[k] + extra}
    assert not over, f"over the budget {BUDGET} (+{extra}): {over}"


def test_waitlist_places_read_in_one_query_are_the_places_read_one_by_one(app):
    with unit_of_work() as session:
        full = make_event(session, capacity=1)
        other = make_event(session, capacity=0, title="満席の講座")
        parents = [make_parent(session) for _ in range(5)]
        applied = [enrollments.apply(session, full, p.id).enrollment for p in parents]
        applied += [enrollments.apply(session, other, p.id).enrollment for p in parents[:2]]
        enrollments.withdraw(session, applied[2])
        one_by_one = {
            e.id: enrollments.waitlist_position(session, e)
            for e in applied
            if enrollments.waitlist_position(session, e) is not None
        }
        assert enrollments.waitlist_positions(session, applied) == one_by_one
        assert sorted(one_by_one.values()) == [1, 1, 2, 2, 3]
