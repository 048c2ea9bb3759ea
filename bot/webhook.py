"""POST /callback: verify, store in the inbox, acknowledge. No processing happens on the request path."""
from __future__ import annotations

import hashlib
import json
import logging

from flask import Blueprint, current_app, request
from linebot.v3.webhook import SignatureValidator


log = logging.getLogger(__name__)
bp = Blueprint("webhook", __name__)


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
    try:
        body = json.loads(body_text)
        events = body["events"]
        if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        return _bad("malformed body")
    if not events:
        return "OK"  # LINE's "verify webhook URL" sends an empty list
    for event in events:
        if not isinstance(event.get("webhookEventId"), str):
            # Every LINE event has one; a stable id from the content keeps dedupe working if one ever does not.
            event["webhookEventId"] = "sha256:" + hashlib.sha256(
                json.dumps(event, sort_keys=True).encode()
            ).hexdigest()[:56]
    try:
        runtime.inbox_writer.store(events)  # returns after the commit: only then may LINE hear 200
    except Exception:  # noqa: BLE001 - any failure to store means "not accepted"; LINE redelivers on 5xx
        return "Not stored, please redeliver", 500
    return "OK"


def _bad(reason: str):
    log.warning("webhook refused: %s", reason)
    return "Bad Request", 400
