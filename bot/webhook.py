"""POST /callback: verify, store in the inbox, acknowledge. No processing happens on the request path."""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from flask import Blueprint, current_app, request
from linebot.v3.webhook import SignatureValidator

from bot import webhook_shape
from runtime import metrics
from runtime.bot_identity import BotIdentity
from runtime.inbox_writer import UNAVAILABLE
from storage.clock import now

log = logging.getLogger(__name__)
bp = Blueprint("webhook", __name__)
metrics.instrument_webhook(bp)  # requests by status, acknowledgement time
# While the database is away: LINE redelivers anyway; the header says when trying again makes sense.
RETRY_AFTER_SECONDS = 10


@bp.record_once
def _learn_bot_identity(state) -> None:
    runtime = state.app.extensions["kosodate"]
    state.app.extensions["bot_identity"] = BotIdentity(runtime.config.line_bot_user_id, runtime.gateway.bot_user_id)


@bp.post("/callback")
def callback():
    runtime = current_app.extensions["kosodate"]
    signature = request.headers.get("X-Line-Signature", "")
    # Flask answers 413 from MAX_CONTENT_LENGTH before the body is read.
    raw = request.get_data(cache=False)
    try:
        body_text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return _bad("body is not UTF-8")
    if not signature or not SignatureValidator(runtime.config.line_channel_secret).validate(body_text, signature):
        return _bad("signature missing or wrong")
    parsed = webhook_shape.parse(body_text)
    if isinstance(parsed, webhook_shape.NotAWebhook):
        return _bad(parsed.reason)
    events = _admitted(parsed)
    if not events:
        return "OK"  # LINE's "verify webhook URL" sends an empty list; refused events are acknowledged too
    for event in events:
        if not isinstance(event.get("webhookEventId"), str):
            # Every LINE event has one; a stable id from the content keeps dedupe working if one ever does not.
            event["webhookEventId"] = (
                "sha256:" + hashlib.sha256(json.dumps(event, sort_keys=True).encode()).hexdigest()[:56]
            )
    try:
        runtime.inbox_writer.store(events)  # returns after the commit: only then may LINE hear 200
    except UNAVAILABLE as exc:
        log.warning("webhook: the database is unavailable (%s); LINE will redeliver", type(exc).__name__)
        return "Database unavailable, please redeliver", 503, {"Retry-After": str(RETRY_AFTER_SECONDS)}
    except Exception:  # noqa: BLE001 - any failure to store means "not accepted"; LINE redelivers on 5xx
        return "Not stored, please redeliver", 500
    return "OK"


def _admitted(parsed: webhook_shape.Webhook) -> list[dict[str, Any]]:
    """The events to store. Events of another channel's bot, and events older than 24 hours that LINE does not
    mark as redelivered, are refused: acknowledged with 200 (anything else and LINE would redeliver them, to be
    refused again) but not stored, and logged by count only."""
    for reason in parsed.skipped:
        log.warning("webhook event skipped, not a LINE event of a known shape (%s)", reason)
    if not current_app.extensions["bot_identity"].accepts(parsed.destination):
        log.warning("webhook refused: %d event(s) addressed to another bot than this channel's", len(parsed.events))
        return []
    moment = now()
    fresh = [event for event in parsed.events if not webhook_shape.is_stale(event, moment)]
    if len(fresh) < len(parsed.events):
        log.warning(
            "webhook refused: %d event(s) older than 24 hours and not redelivered", len(parsed.events) - len(fresh)
        )
    return fresh


def _bad(reason: str):
    log.warning("webhook refused: %s", reason)
    return "Bad Request", 400
