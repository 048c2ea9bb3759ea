"""The LINE simulator page (``/simulator/``): chat with the bot as one of a few demo personas, without a LINE account.

The page never talks to the bot directly. It asks this blueprint to act as the LINE platform would: build the
webhook event (with a reply token issued by the project's LINE double), sign it with the channel secret and POST it
to the app's own ``/callback``. What the bot sent back is read from the double's journal, so the page shows exactly
what LINE would have received. Registered only in the demo, development and test modes (``bot.create_app``).

The double is found in ``app.extensions["line_double"]`` (set by ``kosodate demo``, or by a test).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, current_app, jsonify, render_template, request, url_for

from bot.demo.line_double import BOT_USER_ID, LineDouble

bp = Blueprint("simulator", __name__, url_prefix="/simulator", template_folder="templates")

MAX_TEXT = 5000  # LINE's own limit for a text message


@dataclass(frozen=True)
class Persona:
    key: str
    name: str
    name_en: str

    @property
    def user_id(self) -> str:
        """A stable, well-formed LINE user id, so a persona keeps its registration across demo restarts."""
        return "U" + hashlib.sha256(f"kosodate-demo:{self.key}".encode()).hexdigest()[:32]


PERSONAS = (
    Persona("sakura", "さくら（保護者）", "Sakura (parent)"),
    Persona("haruka", "はるか（妊娠中）", "Haruka (expecting)"),
    Persona("tanaka", "市職員 田中", "Tanaka (city staff)"),
)
BY_KEY = {p.key: p for p in PERSONAS}

FOLLOW_NOTE = "友だち追加しました / Added as a friend"
UNFOLLOW_NOTE = "ブロックしました / Blocked"


@dataclass
class Transcript:
    """What each persona did in the chat, kept beside what the double delivered to them.

    Each entry remembers how many bot messages that persona had received when it was made; merging on that count
    gives one timeline that only ever grows at its end, so the page can poll with a simple cursor. The lock makes
    "count the bot messages, then record" and "read both" atomic with respect to each other.
    """

    entries: dict[str, list[tuple[int, dict[str, Any]]]] = field(default_factory=dict)
    blocked: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, double: LineDouble, user_id: str, item: dict[str, Any] | None) -> None:
        if item is None:
            return
        with self.lock:
            seen = len(double.delivered(to=user_id))
            self.entries.setdefault(user_id, []).append((seen, item))

    def note_friendship(self, user_id: str, event_type: str) -> None:
        with self.lock:
            if event_type == "unfollow":
                self.blocked.add(user_id)
            elif event_type == "follow":
                self.blocked.discard(user_id)

    def was_blocked(self, user_id: str) -> bool:
        with self.lock:
            return user_id in self.blocked

    def timeline(self, double: LineDouble, user_id: str) -> list[dict[str, Any]]:
        with self.lock:
            delivered = double.delivered(to=user_id)
            mine = list(self.entries.get(user_id, []))
        out: list[dict[str, Any]] = []
        for index, d in enumerate(delivered):
            while mine and mine[0][0] <= index:
                out.append(mine.pop(0)[1])
            out.append({"from": "bot", "via": d["via"], "message": d["message"]})
        out.extend(item for _, item in mine)
        return out


def sign(body: bytes, channel_secret: str) -> str:
    """X-Line-Signature: base64 of the HMAC-SHA256 of the raw body, keyed with the channel secret."""
    return base64.b64encode(hmac.new(channel_secret.encode(), body, hashlib.sha256).digest()).decode()


def line_event(kind: str, user_id: str, reply_token: str | None, **extra: Any) -> dict[str, Any]:
    """One webhook event as LINE sends it from a one-to-one chat."""
    event = {
        "type": kind,
        "mode": "active",
        "timestamp": int(time.time() * 1000),
        "source": {"type": "user", "userId": user_id},
        "webhookEventId": "01" + secrets.token_hex(12).upper(),
        "deliveryContext": {"isRedelivery": False},
        **extra,
    }
    if reply_token is not None:
        event["replyToken"] = reply_token
    return event


# --- pages ----------------------------------------------------------------------------------------------------
@bp.get("/")
def page():
    settings = {
        "personas": [{"key": p.key, "name": p.name, "nameEn": p.name_en} for p in PERSONAS],
        "richMenu": rich_menu(),
        "api": {"send": url_for("simulator.send"), "messages": url_for("simulator.messages")},
    }
    return render_template("simulator.html", settings=settings, double_running=_double() is not None)


# --- API used by the page --------------------------------------------------------------------------------------
@bp.post("/api/send")
def send():
    """{persona, kind: text|postback|follow|unfollow, text?, data?, display?, params?} → a signed webhook."""
    double = _double()
    if double is None:
        return _error(503, "LINE double is not running; start the simulator with `kosodate demo`")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return _error(400, "JSON object expected")
    persona = BY_KEY.get(str(body.get("persona", "")))
    if persona is None:
        return _error(404, "unknown persona")
    built = _event_for(body, persona.user_id, double)
    if isinstance(built, str):
        return _error(400, built)
    event, shown = built
    transcript = _transcript()
    transcript.record(double, persona.user_id, shown)
    raw = json.dumps({"destination": BOT_USER_ID, "events": [event]}, ensure_ascii=False).encode()
    runtime = current_app.extensions["kosodate"]
    response = current_app.test_client().post(
        "/callback",
        data=raw,
        headers={"Content-Type": "application/json", "X-Line-Signature": sign(raw, runtime.config.line_channel_secret)},
    )
    if response.status_code != 200:
        note = f"送信できませんでした / Not delivered (HTTP {response.status_code})"
        transcript.record(double, persona.user_id, {"from": "system", "text": note})
        return _error(502, f"/callback answered {response.status_code}")
    transcript.note_friendship(persona.user_id, event["type"])
    if not runtime.config.inline_processing:
        # No background lane here (tests, or a separate worker): answer within this request, not at the next sweep.
        runtime.drain()
    return jsonify(ok=True)


@bp.get("/api/messages")
def messages():
    """The persona's timeline from ``after`` on: their own actions and everything LINE delivered to them."""
    double = _double()
    if double is None:
        return _error(503, "LINE double is not running; start the simulator with `kosodate demo`")
    persona = BY_KEY.get(request.args.get("persona", ""))
    if persona is None:
        return _error(404, "unknown persona")
    after = request.args.get("after", "0")
    if not after.isdigit():
        return _error(400, "after must be a non-negative integer")
    timeline = _transcript().timeline(double, persona.user_id)
    return jsonify(items=timeline[int(after) :], next=len(timeline))


def _event_for(
    body: dict[str, Any], user_id: str, double: LineDouble
) -> tuple[dict[str, Any], dict[str, Any] | None] | str:
    """The webhook event for what the persona did, and how it shows in their chat; or why it cannot be sent."""
    kind = body.get("kind")
    if kind == "unfollow":  # LINE gives no reply token for an unfollow
        return line_event("unfollow", user_id, None), {"from": "system", "text": UNFOLLOW_NOTE}
    if kind == "follow":
        extra: dict[str, Any] = {"follow": {"isUnblocked": _transcript().was_blocked(user_id)}}
        shown: dict[str, Any] | None = {"from": "system", "text": FOLLOW_NOTE}
    elif kind == "text":
        text = body.get("text")
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT:
            return f"text: 1 to {MAX_TEXT} characters"
        extra = {
            "message": {
                "type": "text",
                "id": str(secrets.randbelow(10**18)),
                "text": text,
                "quoteToken": secrets.token_hex(16),
            }
        }
        shown = {"from": "user", "text": text}
        kind = "message"
    elif kind == "postback":
        data = body.get("data")
        if not isinstance(data, str) or not 0 < len(data) <= 300:
            return "data: 1 to 300 characters"
        postback: dict[str, Any] = {"data": data}
        if isinstance(body.get("params"), dict):
            postback["params"] = {k: str(v) for k, v in body["params"].items() if k in ("date", "time", "datetime")}
        extra = {"postback": postback}
        display = body.get("display")
        # As in LINE: a postback shows in the chat only when its action has a displayText.
        shown = {"from": "user", "text": display} if isinstance(display, str) and display else None
    else:
        return "kind must be text, postback, follow or unfollow"
    token = double.issue_reply_token()
    double.bind_reply_token(token, user_id)
    return line_event(kind, user_id, token, **extra), shown


def rich_menu() -> dict[str, Any]:
    """The chat's bottom menu: ``bot.richmenu`` where it exists, else the main menu's entry points.

    Buttons are ``{label, labelEn, action}``; the action is LINE's, so a tap does what the real menu would."""
    try:
        richmenu = importlib.import_module("bot.richmenu")
    except ModuleNotFoundError as exc:
        if exc.name != "bot.richmenu":
            raise
        return _menu_from_texts()
    definition = richmenu.definition()
    english = {area.data: area.label_en for area in getattr(richmenu, "AREAS", ())}
    buttons = [
        {"label": _label(area["action"]), "labelEn": english.get(area["action"].get("data")), "action": area["action"]}
        for area in definition.get("areas", [])
    ]
    return {"chatBarText": definition.get("chatBarText") or "メニュー / Menu", "buttons": buttons}


def _menu_from_texts() -> dict[str, Any]:
    from handlers import texts
    from handlers.postback import encode

    entries = [(key, encode(flow, "start")) for flow, key in texts.MENU_ITEMS]
    entries.append(("menu.help", encode("menu", "help")))
    buttons = []
    for key, data in entries:
        label = texts.t("ja", key)
        buttons.append(
            {
                "label": label,
                "labelEn": texts.t("en", key),
                "action": {"type": "postback", "label": label, "data": data, "displayText": label},
            }
        )
    return {"chatBarText": "メニュー / Menu", "buttons": buttons}


def _label(action: dict[str, Any]) -> str:
    return action.get("label") or action.get("displayText") or action.get("text") or "…"


def _double() -> LineDouble | None:
    return current_app.extensions.get("line_double")


def _transcript() -> Transcript:
    return current_app.extensions.setdefault("simulator_transcript", Transcript())


def _error(status: int, message: str):
    return jsonify(error=message), status
