"""The project's own stand-in for the LINE Messaging API, for the offline demo and the end-to-end tests.

It serves the endpoints the bot uses (reply, push, multicast, leave, profile, bot info, rich menu, the day's multicast count), checks each request
against LINE's documented rules independently of ``runtime.render`` (so a builder bug shows up as a 400), and
behaves like LINE where it matters: reply tokens are single-use and expire, a repeated ``X-Line-Retry-Key``
gets 409, faults (429/500/slow answers) can be injected one by one or at random (``random_faults``), LINE's rate
limits enforced (``rate_limits=True``). Every request is kept in a journal.

The contract tier of the tests runs the same journeys against LINE's official OpenAPI spec
(``../shared/line-api/line_double.py``); this double is the light one that ships with the project.
"""

from __future__ import annotations

import json
import random
import re
import secrets
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
USER_RE = re.compile(r"^U[0-9a-f]{32}$")
# The bot user id of the channel this double plays: ``GET /v2/bot/info`` answers it, and webhooks the demo and the
# tests send carry it as their ``destination``.
BOT_USER_ID = "U" + "b07" * 10 + "00"
JST_OFFSET = 9 * 3600  # LINE counts deliveries per day in Japan time
RETRY_KEY_PATHS = ("/v2/bot/message/push", "/v2/bot/message/multicast")
# LINE's documented rate limits (requests per second, per channel and endpoint), enforced with ``rate_limits=True``.
LINE_RATE_LIMITS = {"/v2/bot/message/push": 2000, "/v2/bot/message/multicast": 200, "/v2/bot/message/reply": 2000}


@dataclass
class Fault:
    path: str
    status: int
    count: int
    delay: float = 0.0


@dataclass
class RandomFaults:
    """Faults at random, for chaos runs: on paths matching ``path``, a share ``rate_429`` of requests is refused with
    429, ``rate_500`` with 500 (not processed), and ``rate_timeout`` answered only after ``delay`` seconds — and
    processed, as when LINE took a message but the answer never reached the caller in time."""

    rate_429: float = 0.0
    rate_500: float = 0.0
    rate_timeout: float = 0.0
    delay: float = 3.0
    path: str = r"^/v2/bot/message/"
    seed: int | None = None

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def draw(self, path: str) -> str | None:
        """ "429", "500", "timeout", or None for a request answered normally."""
        if not re.search(self.path, path):
            return None
        roll = self._random.random()
        for fault, rate in (("429", self.rate_429), ("500", self.rate_500), ("timeout", self.rate_timeout)):
            if roll < rate:
                return fault
            roll -= rate
        return None

    @classmethod
    def parse(cls, spec: str, **options: Any) -> RandomFaults:
        """From "429=0.03,500=0.02,timeout=0.01" (the command-line form)."""
        rates = {}
        for part in filter(None, (p.strip() for p in spec.split(","))):
            name, _, value = part.partition("=")
            if name not in ("429", "500", "timeout"):
                raise ValueError(f"unknown fault {name!r}: 429, 500 or timeout")
            rates[f"rate_{name}"] = float(value)
        return cls(**rates, **options)


@dataclass
class Journal:
    entries: list[dict[str, Any]] = field(default_factory=list)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def check_action(action: Any, where: str, errors: list[str], label_max: int = 20) -> None:
    if not isinstance(action, dict) or action.get("type") not in ("postback", "message", "uri", "datetimepicker"):
        errors.append(f"{where}: unknown action")
        return
    label = action.get("label")
    if not isinstance(label, str) or not label or len(label) > label_max:
        errors.append(f"{where}.label: 1 to {label_max} characters")
    if action["type"] == "postback" and not (isinstance(action.get("data"), str) and 0 < len(action["data"]) <= 300):
        errors.append(f"{where}.data: 1 to 300 characters")
    if action["type"] == "message" and not (isinstance(action.get("text"), str) and 0 < len(action["text"]) <= 300):
        errors.append(f"{where}.text: 1 to 300 characters")
    if action["type"] == "uri" and not (
        isinstance(action.get("uri"), str) and re.match(r"^(https?|line|tel):", action["uri"])
    ):
        errors.append(f"{where}.uri: http(s), line or tel URL required")
    if isinstance(action.get("displayText"), str) and len(action["displayText"]) > 300:
        errors.append(f"{where}.displayText: at most 300 characters")


def check_flex(node: Any, where: str, errors: list[str]) -> None:
    if isinstance(node, dict):
        if node.get("type") == "text" and not (isinstance(node.get("text"), str) and node["text"]):
            errors.append(f"{where}: flex text must not be empty")
        if node.get("type") == "button":
            check_action(node.get("action"), f"{where}.action", errors, label_max=40)
        for key, value in node.items():
            if key != "action":
                check_flex(value, f"{where}.{key}", errors)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            check_flex(value, f"{where}[{i}]", errors)


def check_messages(messages: Any) -> list[str]:
    errors: list[str] = []
    if not isinstance(messages, list) or not 1 <= len(messages) <= 5:
        return ["messages: 1 to 5 required"]
    for i, m in enumerate(messages):
        where = f"messages[{i}]"
        kind = m.get("type") if isinstance(m, dict) else None
        if kind == "text":
            text = m.get("text")
            if not isinstance(text, str) or not 1 <= utf16_len(text) <= 5000:
                errors.append(f"{where}.text: 1 to 5000 UTF-16 units")
        elif kind == "flex":
            alt = m.get("altText")
            if not isinstance(alt, str) or not 1 <= len(alt) <= 400:
                errors.append(f"{where}.altText: 1 to 400 characters")
            contents = m.get("contents")
            if not isinstance(contents, dict) or contents.get("type") not in ("bubble", "carousel"):
                errors.append(f"{where}.contents: bubble or carousel")
            elif contents["type"] == "carousel" and not 1 <= len(contents.get("contents") or []) <= 12:
                errors.append(f"{where}.contents.contents: 1 to 12 bubbles")
            if len(json.dumps(contents, ensure_ascii=False).encode()) > 30 * 1024:
                errors.append(f"{where}.contents: flex JSON over 30 KB")
            check_flex(contents, f"{where}.contents", errors)
        elif kind == "image":
            for key in ("originalContentUrl", "previewImageUrl"):
                url = m.get(key)
                if not isinstance(url, str) or not re.match(r"^https?://", url) or len(url) > 2000:
                    errors.append(f"{where}.{key}: an http(s) URL of at most 2000 characters")
        else:
            errors.append(f"{where}.type: unsupported by this double ({kind!r})")
            continue
        items = ((m.get("quickReply") or {}).get("items")) if isinstance(m.get("quickReply"), dict) else None
        if m.get("quickReply") is not None:
            if not isinstance(items, list) or not 1 <= len(items) <= 13:
                errors.append(f"{where}.quickReply.items: 1 to 13")
            else:
                for j, item in enumerate(items):
                    check_action((item or {}).get("action"), f"{where}.quickReply.items[{j}].action", errors)
    return errors


class LineDouble:
    """``LineDouble().start()``; ``base_url`` goes to LINE_API_BASE_URL; ``stop()`` at the end."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        reply_token_ttl: float = 60.0,
        rate_limits: bool | dict[str, int] = False,
        random_faults: RandomFaults | None = None,
    ):
        self.host, self.port = host, port
        self.reply_token_ttl = reply_token_ttl
        # Requests per second allowed per path; over it LINE answers 429. True means LINE's own limits.
        self.rate_limits: dict[str, int] = dict(LINE_RATE_LIMITS if rate_limits is True else rate_limits or {})
        # Benchmarks send reply tokens this double never issued; LINE would know its own.
        self.accept_any_reply_token = False
        self.random_faults = random_faults
        # Called with each journal entry once it is complete (a chaos driver watches deliveries this way).
        self.on_request = None
        self.lock = threading.RLock()
        self.reset()
        self._server = None

    # --- control --------------------------------------------------------------------------------------------
    def reset(self) -> None:
        with getattr(self, "lock", threading.RLock()):
            self.journal: list[dict[str, Any]] = []
            self.reply_tokens: dict[str, float] = {}
            self.used_tokens: set[str] = set()
            self.retry_keys: dict[str, str] = {}
            self.faults: list[Fault] = []
            self.rich_menus: dict[str, dict[str, Any]] = {}
            self.default_rich_menu: str | None = None
            self.left: list[str] = []
            self._token_owner: dict[str, str] = {}
            self._hits: dict[str, deque[float]] = {}

    def issue_reply_token(self) -> str:
        token = secrets.token_hex(16)
        with self.lock:
            self.reply_tokens[token] = time.monotonic()
        return token

    def inject_fault(self, path: str, status: int, count: int = 1, delay: float = 0.0) -> None:
        with self.lock:
            self.faults.append(Fault(path, status, count, delay))

    def requests(self, path: str = ".*") -> list[dict[str, Any]]:
        with self.lock:
            return [e for e in self.journal if re.search(path, e["path"])]

    def delivered(self, to: str | None = None) -> list[dict[str, Any]]:
        """Messages LINE accepted, in order, each with its recipient: {'to', 'via', 'message'}."""
        out = []
        for e in self.requests("/v2/bot/message/"):
            if e["status"] != 200:
                continue
            body = e["json"] or {}
            recipients = body.get("to") if isinstance(body.get("to"), list) else [body.get("to") or e.get("reply_to")]
            for m in body.get("messages", []):
                for r in recipients:
                    if to is None or r == to:
                        out.append({"to": r, "via": e["path"].rsplit("/", 1)[-1], "message": m})
        return out

    def bind_reply_token(self, token: str, user_id: str) -> None:
        """Remember whom a reply token belongs to, so ``delivered(to=...)`` can include replies."""
        with self.lock:
            self._token_owner[token] = user_id

    # --- server ---------------------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> LineDouble:
        self._server = make_server(self.host, self.port, self.wsgi, threaded=True)
        self.port = self._server.server_port
        threading.Thread(target=self._server.serve_forever, name="line-double", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def wsgi(self, environ, start_response):
        return self.handle(Request(environ))(environ, start_response)

    # --- LINE's behaviour ---------------------------------------------------------------------------------
    def handle(self, req: Request) -> Response:
        raw = req.get_data()
        entry: dict[str, Any] = {
            "ts": time.time(),
            "method": req.method,
            "path": req.path,
            "retry_key": req.headers.get("X-Line-Retry-Key"),
            "json": None,
        }
        try:
            entry["json"] = json.loads(raw) if raw and "json" in (req.content_type or "") else None
        except ValueError:
            pass
        response = self._handle(req, entry)
        entry["status"] = response.status_code
        entry["response"] = response.get_data(as_text=True)[:2000]
        with self.lock:
            self.journal.append(entry)
        if self.on_request is not None:
            self.on_request(entry)
        return response

    def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
        h = {"x-line-request-id": str(uuid.uuid4()), **(headers or {})}
        return Response(json.dumps(body, ensure_ascii=False), status=status, headers=h, content_type="application/json")

    def _handle(self, req: Request, entry: dict[str, Any]) -> Response:
        with self.lock:
            for fault in list(self.faults):
                if re.search(fault.path, req.path):
                    fault.count -= 1
                    if fault.count <= 0:
                        self.faults.remove(fault)
                    break
            else:
                fault = None
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.status:
                return self._json(fault.status, {"message": "Injected fault"})
        drawn = self._draw_random_fault(req.path)
        entry["fault"] = drawn
        if drawn == "timeout":
            time.sleep(self.random_faults.delay)  # then processed: the caller has given up by now
        elif drawn is not None:
            return self._json(int(drawn), {"message": "Injected fault (random)"})
        if not req.headers.get("Authorization", "").startswith("Bearer "):
            return self._json(401, {"message": "Authentication failed"})
        if not self._within_rate_limit(req.path):
            return self._json(429, {"message": "The API rate limit has been exceeded. Try again later."})
        body = entry["json"] if isinstance(entry["json"], dict) else {}
        retry_key = entry["retry_key"]
        path = req.path
        if retry_key is not None and path not in RETRY_KEY_PATHS:
            return self._json(400, {"message": "The retry key cannot be used with this endpoint"})
        if retry_key is not None and not UUID_RE.match(retry_key):
            return self._json(400, {"message": "Invalid retry key"})
        if path == "/v2/bot/message/reply" and req.method == "POST":
            return self._reply(body, entry)
        if path == "/v2/bot/message/push" and req.method == "POST":
            if not USER_RE.match(str(body.get("to", ""))):
                return self._json(400, {"message": "The property, 'to', in the request body is invalid"})
            return self._send(body, retry_key)
        if path == "/v2/bot/message/multicast" and req.method == "POST":
            to = body.get("to")
            if not isinstance(to, list) or not 1 <= len(to) <= 500 or not all(USER_RE.match(str(u)) for u in to):
                return self._json(400, {"message": "The property, 'to', in the request body is invalid"})
            return self._send(body, retry_key)
        m = re.match(r"^/v2/bot/(group|room)/([^/]+)/leave$", path)
        if m and req.method == "POST":
            with self.lock:
                self.left.append(m.group(2))
            return self._json(200, {})
        if path == "/v2/bot/message/delivery/multicast" and req.method == "GET":
            return self._multicast_count(req.args.get("date", ""))
        if path == "/v2/bot/info" and req.method == "GET":
            return self._json(
                200,
                {
                    "userId": BOT_USER_ID,
                    "basicId": "@000kosodate",
                    "displayName": "ふなばし子育て",
                    "chatMode": "bot",
                    "markAsReadMode": "auto",
                },
            )
        m = re.match(r"^/v2/bot/profile/([^/]+)$", path)
        if m and req.method == "GET":
            return self._json(200, {"userId": m.group(1), "displayName": "デモ利用者", "language": "ja"})
        return self._rich_menu(req, path, body)

    def _draw_random_fault(self, path: str) -> str | None:
        if self.random_faults is None:
            return None
        with self.lock:
            return self.random_faults.draw(path)

    def _within_rate_limit(self, path: str) -> bool:
        """A sliding one-second window per path, like LINE's per-endpoint limits."""
        limit = self.rate_limits.get(path)
        if limit is None:
            return True
        moment = time.monotonic()
        with self.lock:
            hits = self._hits.setdefault(path, deque())
            while hits and moment - hits[0] >= 1.0:
                hits.popleft()
            if len(hits) >= limit:
                return False
            hits.append(moment)
            return True

    def _reply(self, body: dict[str, Any], entry: dict[str, Any]) -> Response:
        errors = check_messages(body.get("messages"))
        if errors:
            return self._json(
                400, {"message": "The request body has errors", "details": [{"message": e} for e in errors]}
            )
        token = body.get("replyToken")
        with self.lock:
            issued = self.reply_tokens.get(token)
            if issued is None and self.accept_any_reply_token:
                issued = time.monotonic()
            if issued is None or token in self.used_tokens or time.monotonic() - issued > self.reply_token_ttl:
                return self._json(400, {"message": "Invalid reply token"})
            self.used_tokens.add(token)
            entry["reply_to"] = self._token_owner.get(token)
        return self._json(200, {"sentMessages": [{"id": str(secrets.randbelow(10**18))} for _ in body["messages"]]})

    def _send(self, body: dict[str, Any], retry_key: str | None) -> Response:
        errors = check_messages(body.get("messages"))
        if errors:
            return self._json(
                400, {"message": "The request body has errors", "details": [{"message": e} for e in errors]}
            )
        with self.lock:
            if retry_key and retry_key in self.retry_keys:
                return self._json(
                    409,
                    {"message": "The retry key is already accepted"},
                    {"x-line-accepted-request-id": self.retry_keys[retry_key]},
                )
            response = self._json(
                200, {"sentMessages": [{"id": str(secrets.randbelow(10**18))} for _ in body["messages"]]}
            )
            if retry_key:
                self.retry_keys[retry_key] = response.headers["x-line-request-id"]
        return response

    def _multicast_count(self, day: str) -> Response:
        """LINE's count of multicast messages sent on a day (yyyyMMdd, Japan time), from the journal: one per
        recipient and message accepted. As LINE: not counted until the day is over, withheld under 20."""
        if not re.fullmatch(r"\d{8}", day):
            return self._json(400, {"message": "The value for the 'date' parameter is invalid"})
        today = time.strftime("%Y%m%d", time.gmtime(time.time() + JST_OFFSET))
        if day >= today:
            return self._json(200, {"status": "unready"})
        sent = sum(
            len(e["json"]["to"]) * len(e["json"].get("messages", []))
            for e in self.requests(r"^/v2/bot/message/multicast$")
            if e["status"] == 200 and time.strftime("%Y%m%d", time.gmtime(e["ts"] + JST_OFFSET)) == day
        )
        if sent < 20:
            return self._json(200, {"status": "unavailable_for_privacy"})
        return self._json(200, {"status": "ready", "success": sent})

    def _rich_menu(self, req: Request, path: str, body: dict[str, Any]) -> Response:
        if path == "/v2/bot/richmenu" and req.method == "POST":
            areas = body.get("areas")
            if not isinstance(areas, list) or not 1 <= len(areas) <= 20 or not body.get("chatBarText"):
                return self._json(400, {"message": "Invalid rich menu"})
            menu_id = "richmenu-" + secrets.token_hex(16)
            with self.lock:
                self.rich_menus[menu_id] = {"definition": body, "image": None}
            return self._json(200, {"richMenuId": menu_id})
        m = re.match(r"^/v2/bot/richmenu/([^/]+)/content$", path)
        if m and req.method == "POST":
            with self.lock:
                if m.group(1) not in self.rich_menus:
                    return self._json(404, {"message": "Not found"})
                if req.content_type not in ("image/png", "image/jpeg"):
                    return self._json(415, {"message": "Unsupported media type"})
                self.rich_menus[m.group(1)]["image"] = req.get_data()
            return self._json(200, {})
        m = re.match(r"^/v2/bot/user/all/richmenu/([^/]+)$", path)
        if m and req.method == "POST":
            with self.lock:
                if m.group(1) not in self.rich_menus:
                    return self._json(404, {"message": "Not found"})
                self.default_rich_menu = m.group(1)
            return self._json(200, {})
        return self._json(404, {"message": "Not found"})
