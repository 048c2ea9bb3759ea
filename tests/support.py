"""Test helpers: signed webhook bodies, and a simulated LINE user chatting with the app under the project's double."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any

from handlers.postback import decode


def sign(body: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def new_user_id() -> str:
    return "U" + secrets.token_hex(16)


def event(kind: str, user_id: str, reply_token: str | None = None, **extra: Any) -> dict[str, Any]:
    out = {
        "type": kind,
        "mode": "active",
        "timestamp": int(time.time() * 1000),
        "source": {"type": "user", "userId": user_id},
        "webhookEventId": "01" + secrets.token_hex(12).upper(),
        "deliveryContext": {"isRedelivery": False},
    }
    if reply_token:
        out["replyToken"] = reply_token
    out.update(extra)
    return out


def body_of(*events: dict[str, Any]) -> bytes:
    return json.dumps({"destination": "U" + "0" * 32, "events": list(events)}, ensure_ascii=False).encode()


class ChatUser:
    """One person in a LINE chat with the bot: sends events through /callback, reads what LINE delivered."""

    def __init__(self, client, line, runtime, secret: str, user_id: str | None = None):
        self.client, self.line, self.runtime, self.secret = client, line, runtime, secret
        self.user_id = user_id or new_user_id()
        self._seen = 0

    def post(self, *events: dict[str, Any]):
        raw = body_of(*events)
        return self.client.post("/callback", data=raw, headers={"X-Line-Signature": sign(raw, self.secret),
                                                                   "Content-Type": "application/json"})

    def send(self, kind: str, **extra: Any) -> list[dict[str, Any]]:
        token = self.line.issue_reply_token()
        self.line.bind_reply_token(token, self.user_id)
        response = self.post(event(kind, self.user_id, token, **extra))
        assert response.status_code == 200, response.data
        self.runtime.drain()
        return self.new_messages()

    def follow(self):
        return self.send("follow")

    def say(self, text: str):
        return self.send("message", message={"type": "text", "id": secrets.token_hex(8), "text": text,
                                             "quoteToken": secrets.token_hex(8)})

    def sticker(self):
        return self.send("message", message={"type": "sticker", "id": secrets.token_hex(8), "packageId": "1",
                                             "stickerId": "1", "stickerResourceType": "STATIC",
                                             "quoteToken": secrets.token_hex(8)})

    def tap(self, data: str):
        return self.send("postback", postback={"data": data})

    def new_messages(self) -> list[dict[str, Any]]:
        delivered = [d["message"] for d in self.line.delivered(to=self.user_id)]
        fresh, self._seen = delivered[self._seen:], len(delivered)
        return fresh

    # --- reading what the bot said ------------------------------------------------------------------------------
    @staticmethod
    def texts(messages: list[dict[str, Any]]) -> str:
        out = []
        for m in messages:
            out.append(m.get("text") or m.get("altText") or "")
            out += [t for t in _flex_texts(m.get("contents"))]
        return "\n".join(out)

    @staticmethod
    def choices(messages: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Every tappable action in these messages, by label (quick replies and flex buttons)."""
        out: dict[str, dict[str, Any]] = {}
        for m in messages:
            for item in (m.get("quickReply") or {}).get("items", []):
                out[item["action"]["label"]] = item["action"]
            for action in _flex_actions(m.get("contents")):
                out[action["label"]] = action
        return out

    def choose(self, messages: list[dict[str, Any]], label: str):
        action = self.choices(messages)[label]
        if action["type"] == "postback":
            assert decode(action["data"]) is not None
            return self.tap(action["data"])
        return self.say(action["text"])


def _flex_texts(node: Any):
    if isinstance(node, dict):
        if node.get("type") == "text":
            yield node.get("text", "")
        for v in node.values():
            yield from _flex_texts(v)
    elif isinstance(node, list):
        for v in node:
            yield from _flex_texts(v)


def _flex_actions(node: Any):
    if isinstance(node, dict):
        if node.get("type") == "button":
            yield node["action"]
        for k, v in node.items():
            if k != "action":
                yield from _flex_actions(v)
    elif isinstance(node, list):
        for v in node:
            yield from _flex_actions(v)
