"""Signed but malformed webhooks (issue 13, item 7): a body that is not a LINE webhook gets 400, an event of a shape
LINE never sends is skipped, and no request, however odd, makes another one fail or the webhook answer 5xx."""

from __future__ import annotations

import json
import logging
from concurrent.futures import Future, ThreadPoolExecutor

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bot.demo.line_double import BOT_USER_ID
from storage.db import inbox_unit_of_work
from storage.models import InboxEvent
from tests.conftest import SECRET
from tests.support import event, new_user_id, sign


def post(client, raw: bytes):
    return client.post(
        "/callback", data=raw, headers={"X-Line-Signature": sign(raw, SECRET), "Content-Type": "application/json"}
    )


def body_of(*events: dict) -> bytes:
    """As tests.support.body_of, with JSON's escapes for what UTF-8 cannot carry (a lone surrogate)."""
    return json.dumps({"destination": BOT_USER_ID, "events": list(events)}).encode()


def stored_ids() -> list[str]:
    with inbox_unit_of_work() as s:
        return list(s.scalars(select(InboxEvent.webhook_event_id)))


def tracebacks(records: list[logging.LogRecord]) -> list[str]:
    return [r.getMessage() for r in records if r.exc_info or r.levelno >= logging.ERROR]


def with_field(name: str, value) -> dict:
    odd = event("message", new_user_id(), "r" * 32, message={"type": "text", "id": "1", "text": "こんにちは"})
    odd[name] = value
    return odd


POISON_EVENTS = {
    "source is a string": with_field("source", "user"),
    "source is a list": with_field("source", [{"type": "user"}]),
    "deliveryContext is a string": with_field("deliveryContext", "redelivery"),
    "deliveryContext is a list": with_field("deliveryContext", [True]),
    "message is a string": with_field("message", "こんにちは"),
    "postback data is a number": with_field("postback", {"data": 7}),
    "a lone surrogate": with_field("message", {"type": "text", "id": "1", "text": "\ud800"}),
    "a NUL character": with_field("message", {"type": "text", "id": "1", "text": "a\x00b"}),
    "nested too deeply": with_field("extra", json.loads("[" * 200 + "]" * 200)),
}

NOT_WEBHOOKS = {
    "NaN": b'{"destination": "Ux", "events": [{"type": "follow", "timestamp": NaN}]}',
    "Infinity": b'{"destination": "Ux", "events": [], "x": -Infinity}',
    "a number too large for a float": b'{"destination": "Ux", "events": [], "x": 1e999}',
    "nesting beyond the parser": b'{"destination": "Ux", "events": [' + b"[" * 100_000 + b"]" * 100_000 + b"]}",
    "an integer beyond Python's digit limit": b'{"destination": "Ux", "events": [], "x": ' + b"9" * 5000 + b"}",
    "no destination": b'{"events": []}',
    "events is an object": b'{"destination": "Ux", "events": {}}',
    "an event is a string": b'{"destination": "Ux", "events": ["follow"]}',
}


@pytest.mark.parametrize("kind", list(POISON_EVENTS))
def test_an_event_of_a_shape_line_never_sends_is_skipped_and_its_neighbour_stored(client, caplog, kind):
    good = event("follow", new_user_id())
    response = post(client, body_of(POISON_EVENTS[kind], good))
    assert response.status_code == 200
    assert stored_ids() == [good["webhookEventId"]]
    assert "webhook event skipped" in caplog.text
    assert tracebacks(caplog.records) == []


@pytest.mark.parametrize("kind", list(NOT_WEBHOOKS))
def test_a_signed_body_that_is_not_a_line_webhook_gets_400(client, caplog, kind):
    assert post(client, NOT_WEBHOOKS[kind]).status_code == 400
    assert stored_ids() == []
    assert tracebacks(caplog.records) == []


def test_a_request_the_database_refuses_fails_alone_not_its_whole_batch(app, monkeypatch):
    """Whatever the shape check misses, a failed group commit is retried request by request."""
    import storage.inbox

    store = storage.inbox.store

    def refusing_one_kind(session, events):
        if any(e["type"] == "refused-by-the-database" for e in events):
            raise ValueError("the database refused a value")
        return store(session, events)

    monkeypatch.setattr(storage.inbox, "store", refusing_one_kind)
    writer = app.extensions["kosodate"].inbox_writer
    requests = [
        [event("follow", new_user_id())],
        [event("refused-by-the-database", new_user_id())],
        [event("follow", new_user_id()), event("follow", new_user_id())],
    ]
    batch = [(events, Future()) for events in requests]
    writer.store_batch(batch)
    assert [done.exception() is None for _, done in batch] == [True, False, True]
    assert sorted(stored_ids()) == sorted(e["webhookEventId"] for e in requests[0] + requests[2])


def test_45_concurrent_well_formed_requests_are_all_stored_once_beside_poison_ones(app, monkeypatch, caplog):
    """The review's case: well-formed webhooks sharing the inbox writer's batches with poison ones."""
    import storage.inbox

    store = storage.inbox.store

    def refusing_one_kind(session, events):  # a poison the shape check cannot know about
        if any(e["type"] == "refused-by-the-database" for e in events):
            raise ValueError("the database refused a value")
        return store(session, events)

    monkeypatch.setattr(storage.inbox, "store", refusing_one_kind)
    well_formed = [event("follow", new_user_id()) for _ in range(45)]
    poison = (
        [body_of(e) for e in POISON_EVENTS.values()]
        + list(NOT_WEBHOOKS.values())
        + [body_of(event("refused-by-the-database", new_user_id())) for _ in range(3)]
    )
    bodies = [(body_of(e), "well") for e in well_formed] + [(raw, "poison") for raw in poison]
    bodies = [bodies[i] for i in sorted(range(len(bodies)), key=lambda i: (i * 7) % len(bodies))]  # interleaved

    def send(item):
        raw, kind = item
        with app.test_client() as c:
            return kind, post(c, raw).status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(send, bodies))
    assert [status for kind, status in answers if kind == "well"] == [200] * 45
    assert sorted(stored_ids()) == sorted(e["webhookEventId"] for e in well_formed)  # each once, nothing else
    assert all(status in (200, 400, 500) for _, status in answers)
    assert tracebacks(caplog.records) == []


# --- any signed JSON at all ---------------------------------------------------------------------------------------
characters = st.characters(codec=None, categories=None)  # every code point, surrogates and NUL included
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(characters, max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(characters, max_size=8), inner, max_size=4),
    max_leaves=30,
)
event_keys = st.sampled_from(
    [
        "type",
        "timestamp",
        "source",
        "webhookEventId",
        "deliveryContext",
        "mode",
        "replyToken",
        "message",
        "postback",
        "follow",
    ]
)
line_like_events = st.one_of(
    st.dictionaries(event_keys, json_values, max_size=10),
    st.builds(
        lambda base, changes: {**base, **changes},
        st.builds(lambda kind: event(kind, new_user_id(), "r" * 32), st.sampled_from(["follow", "message"])),
        st.dictionaries(event_keys, json_values, max_size=3),
    ),
)
bodies = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {
            "destination": st.just(BOT_USER_ID) | st.text(max_size=5) | json_values,
            "events": st.lists(line_like_events | json_values, max_size=4),
        }
    ),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(body=bodies)
def test_any_signed_json_is_answered_without_a_5xx_or_a_traceback(client, caplog, body):
    before = len(caplog.records)
    raw = json.dumps(body).encode()  # NaN and Infinity included, as Python writes them
    assert post(client, raw).status_code in (200, 400)
    assert tracebacks(caplog.records[before:]) == []
