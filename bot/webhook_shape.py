"""What a signed webhook body must look like before any of it is queued for the inbox.

The signature proves the body came from someone holding the channel secret, not that it is well formed: a signed
body can still carry ``NaN``, nesting deep enough to exhaust the parser, or a ``source`` that is a string. Each of
those used to reach the inbox writer and fail the whole group-committed batch (500 for every request in it).

Two levels, because LINE redelivers a request (not an event) on any non-2xx answer:
- **The body** must be a LINE webhook: a JSON object (no NaN/Infinity, not nested beyond ``MAX_DEPTH``) with a
  ``destination`` string and an ``events`` list of objects. Otherwise the request is answered 400: resending it
  cannot help, and nothing of it is stored.
- **Each event** must have the shape the bot relies on (``event_problem``). One that does not is skipped and logged
  (its type and the reason, never its content), and the others of the request are stored and acknowledged: an
  event that is malformed now is malformed on every redelivery, so refusing the request would only have LINE resend
  its valid neighbours for nothing.

Why a small explicit check rather than line-bot-sdk's models (``linebot.v3.webhooks.Event.from_dict``): those
reject event types the installed SDK does not know yet (LINE adds some every year) and fields it declares required
(a ``follow`` event without ``follow``), so a parent's message would be dropped whenever LINE is ahead of our pinned
SDK. This check guards what ``runtime/processing.py`` and ``storage/inbox.py`` read, and that the event can be stored
(finite numbers, no NUL or lone surrogate in a string, bounded depth), and lets everything else through.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

# A LINE event nests about six levels (body → events → event → message → mention → mentionees → one mentionee).
MAX_DEPTH = 32
# Older events are refused unless LINE says it is redelivering them (issue 13, item 8).
MAX_AGE = timedelta(hours=24)
MAX_EVENT_ID = 64  # storage.models.InboxEvent.webhook_event_id
MAX_SOURCE_ID = 64  # storage.models.LineUser.line_user_id (LINE's ids are 33 characters)


@dataclass(frozen=True)
class Webhook:
    """A body that is a LINE webhook: its destination, the events of a valid shape, and why the others were not."""

    destination: str
    events: list[dict[str, Any]]
    skipped: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class NotAWebhook:
    reason: str


def parse(text: str) -> Webhook | NotAWebhook:
    """The body, or why it is not a LINE webhook. Never raises."""
    try:
        body = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        return NotAWebhook("JSON nested too deeply")
    except ValueError:  # also json.JSONDecodeError, and integers beyond Python's digit limit
        return NotAWebhook("not JSON")
    if not isinstance(body, dict):
        return NotAWebhook("not a JSON object")
    destination, events = body.get("destination"), body.get("events")
    if not isinstance(destination, str) or not isinstance(events, list):
        return NotAWebhook("no destination string or events list")
    if not all(isinstance(event, dict) for event in events):
        return NotAWebhook("an event is not an object")
    kept, skipped = [], []
    for event in events:
        problem = event_problem(event)
        if problem is None:
            kept.append(event)
        else:
            skipped.append(f"{_type_of(event)}: {problem}")
    return Webhook(destination, kept, skipped)


def event_problem(event: dict[str, Any]) -> str | None:
    """Why this event cannot be stored and processed as it is, or None when it can."""
    if not isinstance(event.get("type"), str):
        return "type is not a string"
    if not _is_int(event.get("timestamp")):
        return "timestamp is not an integer"
    for name in ("mode", "replyToken"):
        if name in event and not isinstance(event[name], str):
            return f"{name} is not a string"
    event_id = event.get("webhookEventId")
    if event_id is not None and not (isinstance(event_id, str) and 0 < len(event_id) <= MAX_EVENT_ID):
        return "webhookEventId is not a short string"
    for name, fields in (
        ("source", ("type", "userId", "groupId", "roomId")),
        ("message", ("type", "id", "text")),
        ("postback", ("data",)),
    ):
        if name not in event:
            continue
        part = event[name]
        if not isinstance(part, dict):
            return f"{name} is not an object"
        if any(key in part and not isinstance(part[key], str) for key in fields):
            return f"{name} has a field that is not a string"
        if name == "source" and any(len(part.get(key, "")) > MAX_SOURCE_ID for key in fields):
            return "source has an id longer than LINE's"
    if "message" in event and "type" not in event["message"]:
        return "message has no type"
    if "postback" in event and "data" not in event["postback"]:
        return "postback has no data"
    context = event.get("deliveryContext", {})
    if not isinstance(context, dict) or not isinstance(context.get("isRedelivery", False), bool):
        return "deliveryContext is not an object with a boolean isRedelivery"
    return _unstorable(event)


def is_stale(event: dict[str, Any], moment: datetime) -> bool:
    """Older than ``MAX_AGE`` and not a redelivery: LINE never sends such an event late on its own, so it is a
    replay of a captured request (the signature has no timestamp)."""
    if (event.get("deliveryContext") or {}).get("isRedelivery") is True:
        return False
    return event["timestamp"] < (moment - MAX_AGE).timestamp() * 1000


def _unstorable(value: Any) -> str | None:
    """Why the database would refuse this value (NUL or a lone surrogate in a string), or it nests too deeply."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            return "nested too deeply"
        if isinstance(item, dict):
            for key, inner in item.items():
                if not _storable_text(key):
                    return "a key cannot be stored"
                stack.append((inner, depth + 1))
        elif isinstance(item, list):
            stack.extend((inner, depth + 1) for inner in item)
        elif isinstance(item, str) and not _storable_text(item):
            return "a string cannot be stored"
    return None


def _storable_text(text: str) -> bool:
    if "\x00" in text:
        return False  # PostgreSQL text and jsonb refuse NUL: processing would fail on it later, event after event
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate ("\ud800") that JSON escapes allow
        return False
    return True


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _type_of(event: dict[str, Any]) -> str:
    kind = event.get("type")
    return kind[:40] if isinstance(kind, str) and kind.isascii() and kind.isalnum() else "?"


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999
        raise ValueError("number out of range")
    return value
