"""Turns stored webhook events into conversation steps, one transaction per event, in order per user.

For each event: lock its source, take the oldest pending event, run the pure flow step, store the new state,
apply the effects, plan the replies in the outbox, mark the event done: all in one commit. The replies are sent
after that commit (``runtime.delivery``). A crash before the commit leaves the event pending, to be processed again;
a crash after it leaves planned replies that the worker sends. An event that keeps failing is given up after
three attempts, and the user gets an apology instead of silence.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session

from handlers import effects as effect_appliers
from handlers import router, texts
from handlers.engine import Input, State
from handlers.normalize import text as normalize_text
from handlers.postback import decode
from handlers.replies import Text, resolve
from runtime import metrics
from runtime.render import render_all
from services import context as contexts
from storage import conversations, inbox, outbox, users
from storage.db import inbox_separate, inbox_unit_of_work, unit_of_work
from storage.models import InboxEvent, LineUser

log = logging.getLogger(__name__)

MAX_TEXT_IN = 2000  # longer messages are cut before normalising; no answer we ask for is that long
MESSAGE_KINDS = {"text", "image", "video", "audio", "file", "location", "sticker"}


class Settings:
    """What processing needs from the configuration."""

    def __init__(self, public_base_url: str = "", contact_phone: str = ""):
        self.public_base_url = public_base_url
        self.contact_phone = contact_phone


def process_source(key: str, settings: Settings) -> list[int]:
    """Process every pending event of one source, in order. Returns the outbox ids planned."""
    planned: list[int] = []
    while True:
        try:
            result = _process_next(key, settings)
        except Exception as exc:  # caught once, here: the event stays pending and is retried, then given up
            log.exception("processing an event failed (%s)", type(exc).__name__)
            metrics.event_failed()
            planned += _count_failure(key, type(exc).__name__)
            continue
        if result is None:
            return planned
        done, more = result
        planned += done
        if not more:
            return planned


def process_pending(settings: Settings, limit: int = 100) -> tuple[int, list[int]]:
    """Process the pending events of up to ``limit`` sources (those waiting longest first). Returns how many sources
    were found, and the outbox ids planned."""
    with inbox_unit_of_work(read_only=True) as session:
        keys = inbox.pending_sources(session, limit)
    planned: list[int] = []
    for key in keys:
        planned += process_source(key, settings)
    return len(keys), planned


def _process_next(key: str, settings: Settings) -> tuple[list[int], bool] | None:
    """Process the oldest pending event of ``key`` in one transaction. Returns the outbox ids planned, and whether
    another event of the source may be pending; None when there was nothing to do here."""
    if inbox_separate():
        return _process_next_separate(key, settings)
    with unit_of_work() as session:
        if not inbox.lock_source(session, key):
            return None  # another process is on this user right now; it will take the rest
        oldest = inbox.next_pending(session, key, limit=2)
        if not oldest:
            return None
        planned = handle(session, oldest[0], settings)
        inbox.mark_done(session, oldest[0])
        # Usually the source's only event: then no second transaction is needed to find that out. Where writers
        # are not serialised (PostgreSQL: the source lock is only tried), an event stored after the query above
        # may have been passed over by a process that found the lock taken, so look again after the commit.
        more = len(oldest) > 1 or not inbox.writers_serialised(session)
    metrics.event_processed(oldest[0].received_at)
    return planned, more


def _process_next_separate(key: str, settings: Settings) -> tuple[list[int], bool] | None:
    """``_process_next`` for an inbox in a database of its own (SQLite): read the event from a snapshot of the
    inbox (no lock there), apply it in one main-database transaction that also claims it, then mark it in the
    inbox. The acknowledgements writing the inbox never wait for the processing transaction."""
    with inbox_unit_of_work(read_only=True) as inbox_session:
        oldest = inbox.next_pending(inbox_session, key, limit=2)
    if not oldest:
        return None
    event = oldest[0]
    with unit_of_work() as session:
        planned = handle(session, event, settings) if inbox.claim(session, event.webhook_event_id) else []
    with inbox_unit_of_work() as inbox_session:
        inbox.mark_processed(inbox_session, event)
    metrics.event_processed(event.received_at)
    return planned, len(oldest) > 1


def _count_failure(key: str, error: str) -> list[int]:
    with inbox_unit_of_work() as inbox_session:
        pending = inbox.next_pending(inbox_session, key, limit=1)
        if not pending:
            return []
        event = pending[0]
        gave_up = inbox.record_failure(inbox_session, event.id, error)
    if not gave_up or not key.startswith("U"):
        return []
    with unit_of_work() as session:
        user = users.get_or_create(session, key)
        apology = render_all([Text(texts.t(user.language, "error.apology"))])
        row = outbox.add(
            session,
            purpose="apology",
            messages=apology,
            line_user_id=key,
            reply_token=(event.payload or {}).get("replyToken"),
            dedupe_key=f"apology:{event.id}",
        )
        return [row] if row else []


def handle(session: Session, event: InboxEvent, settings: Settings) -> list[int]:
    payload: dict[str, Any] = event.payload or {}
    if event.mode == "standby":
        return []  # another channel is active for this user: store, answer nothing
    kind = event.event_type
    source = payload.get("source") or {}
    reply_token = payload.get("replyToken")
    if kind in ("join", "memberJoined") and source.get("type") in ("group", "room"):
        if kind == "memberJoined":
            return []
        return _leave_group(session, event, source, reply_token)
    user_id = source.get("userId")
    if source.get("type") != "user" or not user_id:
        log.info("event %s of type %s from a %s: ignored", event.id, kind, source.get("type"))
        return []
    user = users.get_or_create(session, user_id)
    if kind == "unfollow":
        users.mark_unfollowed(user)
        return []
    if kind == "follow":
        users.mark_followed(user)
    inp = to_input(kind, payload)
    if inp is None:
        log.info("event %s of type %s: nothing to do", event.id, kind)
        return []
    return _converse(session, user, inp, reply_token, settings)


def to_input(kind: str, payload: dict[str, Any]) -> Input | None:
    if kind == "follow":
        return Input("follow")
    if kind == "postback":
        data = (payload.get("postback") or {}).get("data")
        postback = decode(data)
        return Input("postback", postback=postback, malformed=postback is None)
    if kind == "message":
        message = payload.get("message") or {}
        mtype = message.get("type")
        if mtype == "text":
            raw = str(message.get("text") or "")[:MAX_TEXT_IN]
            return Input("text", text=normalize_text(raw))
        return Input(mtype if mtype in MESSAGE_KINDS else "other")
    return None


def _converse(session: Session, user: LineUser, inp: Input, reply_token: str | None, settings: Settings) -> list[int]:
    row = conversations.load(session, user.id)
    state = State(row.flow, row.step, dict(row.data or {}), row.version, row.expires_at) if row else State()
    ctx = contexts.load(session, user, public_base_url=settings.public_base_url, contact_phone=settings.contact_phone)
    transition = router.step(state, inp, ctx)
    contexts.seal(ctx)
    outcomes = effect_appliers.apply(session, user, transition.effects)
    new = transition.state
    conversations.save(session, user.id, new.flow, new.step, dict(new.data), new.version, new.expires_at)
    replies = resolve(transition.replies, outcomes)
    if not replies:
        return []
    messages = render_all(replies)
    row_id = outbox.add(
        session, purpose="reply", messages=messages, line_user_id=user.line_user_id, reply_token=reply_token
    )
    return [row_id]


def _leave_group(session: Session, event: InboxEvent, source: dict[str, Any], reply_token: str | None) -> list[int]:
    chat_id = source.get("groupId") or source.get("roomId")
    if not chat_id or not reply_token:
        return []
    messages = render_all([Text(texts.t("ja", "group.leave"))])
    row = outbox.add(
        session,
        purpose=f"leave_{source['type']}",
        messages=messages,
        line_user_id=None,
        recipients=None,
        reply_token=reply_token,
        subject=chat_id[:64],
        dedupe_key=f"leave:{event.webhook_event_id}",
    )
    return [row] if row else []
