"""Test helpers: signed webhook bodies, and a simulated LINE user chatting with the app under the project's double."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from datetime import date, datetime
from typing import Any

from bot.demo.line_double import BOT_USER_ID
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
    """A webhook body for this channel (the double's bot user id is its destination)."""
    return json.dumps({"destination": BOT_USER_ID, "events": list(events)}, ensure_ascii=False).encode()


class ChatUser:
    """One person in a LINE chat with the bot: sends events through /callback, reads what LINE delivered."""

    def __init__(self, client, line, runtime, secret: str, user_id: str | None = None):
        self.client, self.line, self.runtime, self.secret = client, line, runtime, secret
        self.user_id = user_id or new_user_id()
        personal_data.add("line_user_id", self.user_id)
        self._seen = 0

    def post(self, *events: dict[str, Any]):
        raw = body_of(*events)
        return self.client.post(
            "/callback",
            data=raw,
            headers={"X-Line-Signature": sign(raw, self.secret), "Content-Type": "application/json"},
        )

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
        return self.send(
            "message",
            message={"type": "text", "id": secrets.token_hex(8), "text": text, "quoteToken": secrets.token_hex(8)},
        )

    def sticker(self):
        return self.send(
            "message",
            message={
                "type": "sticker",
                "id": secrets.token_hex(8),
                "packageId": "1",
                "stickerId": "1",
                "stickerResourceType": "STATIC",
                "quoteToken": secrets.token_hex(8),
            },
        )

    def tap(self, data: str):
        return self.send("postback", postback={"data": data})

    def new_messages(self) -> list[dict[str, Any]]:
        delivered = [d["message"] for d in self.line.delivered(to=self.user_id)]
        fresh, self._seen = delivered[self._seen :], len(delivered)
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


# --- personal data the tests put into the system (tests/privacy_plugin.py) ----------------------------------------
class PersonalData:
    """Every piece of personal data and every secret the tests hand to the bot, by kind. The privacy plugin fails the
    session when one of them appears in any log line. Tests and fixtures add theirs (``personal_data.add("name",
    "船橋 花子")``); the plugin also adds what is stored in personal fields and every sealed secret or link token."""

    KINDS = ("name", "phone", "birth_month", "line_user_id", "join_token", "secret", "free_text")
    MIN_LENGTH = 4  # shorter strings would match ordinary log text

    def __init__(self) -> None:
        self._values: dict[str, str] = {}
        self._lock = threading.Lock()

    def add(self, kind: str, *values: Any) -> None:
        if kind not in self.KINDS:
            raise ValueError(f"unknown kind of personal data: {kind!r}")
        with self._lock:
            for value in values:
                if isinstance(value, (date, datetime)):
                    value = value.strftime("%Y-%m")
                text = str(value or "").strip()
                if kind == "birth_month" or len(text) >= self.MIN_LENGTH:
                    self._values.setdefault(text, kind)

    def items(self) -> list[tuple[str, str]]:
        """(kind, value) pairs."""
        with self._lock:
            return [(kind, value) for value, kind in self._values.items()]

    def __contains__(self, value: str) -> bool:
        return value in self._values


personal_data = PersonalData()
# The values the registration, profile, staff and events tests type in or put in fixtures.
personal_data.add(
    "name",
    "船橋 花子",
    "ふなばし はなこ",
    "フナバシ ハナコ",
    "船橋 花子（ふなばし はなこ）",
    "Jane Smith",
    "Maria Garcia",
    "高根 太郎",
    "たかね たろう",
    "高根 次郎",
    "高根台 次郎",
    "たかね じろう",
    "習志野 太郎",
    "ならしの たろう",
    "習志野 ゆき",
    "ならしの ゆき",
    "南本町 花子",
    "地域 太郎",
    "船橋 一郎",
    "船橋 二郎",
)
personal_data.add(
    "phone",
    "09012345678",
    "090-1234-5678",
    "090 1234 5678",
    "08012345678",
    "+81 80-1111-2222",
    "09099998888",
    "090-9999-8888",
    "03-1234-5678",
    "0312345678",
    "050-1234-5678",
    "07012345678",
)
personal_data.add("birth_month", "2024-05", "2022-10", "2021-06")
personal_data.add(
    "secret",
    "kodomo-7731",
    "987 6543 2100",
    "SeCrEtJoInPwD",
    "secret-pass",
    "123 456 789",
    "https://zoom.example.test/j/98765432100?pwd=SeCrEtJoInPwD",
    "https://zoom.example/j/123",
)
personal_data.add("free_text", "私の電話番号は 090-1234-5678 です", "画面越しでも話せて楽しかったです")
