"""The one module that talks to LINE. Everything the bot sends goes through ``Gateway``.

- Replies use the reply token while it is fresh; the caller falls back to push when LINE rejects it.
- Push and multicast carry ``X-Line-Retry-Key`` (fixed per logical message by the outbox) on every attempt;
  409 means LINE already accepted that key, so it counts as delivered.
- 429, 5xx, timeouts and connection errors are retried here with exponential backoff and jitter, then handed back
  as ``retry`` so the outbox tries again later; other 4xx are permanent and carry LINE's error details.
- Every call has an explicit timeout (the SDK has none by default).
- Replies, pushes and multicasts hand the SDK's ``ApiClient`` their JSON body as it is. ``MessagingApi`` would
  rebuild every message as pydantic models, validate them again, serialise them back and parse LINE's answer into
  models: two thirds of the gateway's CPU per push, and what capped a worker process below 1,000 pushes/s (docs/benchmarks.md, "Outbox fan-out"). Our
  builders (``runtime/render.py``) already keep to LINE's limits; tests check that the SDK's own models accept and
  reproduce every body we build (tests/test_gateway.py), and the contract tier checks them against LINE's spec.
  Authentication, the connection pool, timeouts and errors (``ApiException``) are still the SDK's.
Nothing personal is logged: no user ids, no message text, no tokens.
"""

from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import dataclass
from typing import Any

import urllib3
from linebot.v3.messaging import (
    ApiClient,
    ApiException,
    Configuration,
    MessagingApi,
    MessagingApiBlob,
    RichMenuRequest,
)

from bot.config import LINE_API_DEFAULT, Config
from runtime import metrics

log = logging.getLogger(__name__)

LINE_DATA_API_DEFAULT = "https://api-data.line.me"
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
JSON_HEADERS = {"Accept": "application/json", "Content-Type": "application/json"}


@dataclass(frozen=True)
class Outcome:
    """``sent``; ``retry`` (try later, same retry key); ``failed`` (permanent); ``bad_token`` (reply token refused)."""

    status: str
    http_status: int | None = None
    detail: str | None = None
    request_id: str | None = None

    @property
    def delivered(self) -> bool:
        return self.status == "sent"


class Gateway:
    def __init__(self, config: Config, *, attempts: int = 3, backoff: float = 0.2, max_backoff: float = 3.0):
        base = config.line_api_base_url
        data_host = LINE_DATA_API_DEFAULT if base == LINE_API_DEFAULT else base
        token = config.line_channel_access_token
        configuration = Configuration(host=base, access_token=token)
        # One kept-alive connection per sending thread (urllib3 drops connections beyond the pool's size).
        configuration.connection_pool_maxsize = max(configuration.connection_pool_maxsize, config.delivery_threads + 2)
        self._client = ApiClient(configuration)
        self._blob_client = ApiClient(Configuration(host=data_host, access_token=token))
        self.api = MessagingApi(self._client)
        self.blob = MessagingApiBlob(self._blob_client)
        self.timeout = (min(3.0, config.line_timeout_seconds), config.line_timeout_seconds)
        self.attempts = attempts
        self.backoff = backoff
        self.max_backoff = max_backoff

    def close(self) -> None:
        self._client.close()
        self._blob_client.close()

    # --- sending -------------------------------------------------------------------------------------------
    def reply(self, reply_token: str, messages: list[dict[str, Any]]) -> Outcome:
        """One attempt only: a reply token is single-use and LINE offers no retry key for replies."""
        body = {"replyToken": reply_token, "messages": messages}
        outcome = self._call("reply", lambda: self._post("/v2/bot/message/reply", body))
        if (
            outcome.status == "failed"
            and outcome.http_status == 400
            and "reply token" in (outcome.detail or "").lower()
        ):
            return Outcome("bad_token", 400, outcome.detail, outcome.request_id)
        return outcome

    def push(self, to: str, messages: list[dict[str, Any]], retry_key: str) -> Outcome:
        body = {"to": to, "messages": messages}
        return self._with_retries("push", lambda: self._post("/v2/bot/message/push", body, retry_key))

    def multicast(self, to: list[str], messages: list[dict[str, Any]], retry_key: str) -> Outcome:
        if not 1 <= len(to) <= 500:
            raise ValueError("multicast takes 1 to 500 recipients")
        body = {"to": to, "messages": messages}
        return self._with_retries("multicast", lambda: self._post("/v2/bot/message/multicast", body, retry_key))

    def leave(self, chat_type: str, chat_id: str) -> Outcome:
        """Leave a group or room the bot was invited to (it is for one-to-one chats)."""
        if chat_type == "group":
            return self._call(
                "leave", lambda: self.api.leave_group_with_http_info(chat_id, _request_timeout=self.timeout)
            )
        return self._call("leave", lambda: self.api.leave_room_with_http_info(chat_id, _request_timeout=self.timeout))

    def bot_user_id(self) -> str | None:
        """This channel's bot user id (the ``destination`` of its webhooks), or None if LINE did not say: one
        attempt, the caller tries again later (runtime/bot_identity.py)."""
        try:
            return self.api.get_bot_info(_request_timeout=self.timeout).user_id
        except ApiException as exc:
            log.warning("line bot info: HTTP %s", exc.status)
        except (urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
            log.warning("line bot info: %s", type(exc).__name__)
        return None

    def multicast_count(self, day) -> tuple[str, int | None] | None:
        """LINE's own count of multicast messages this channel sent on ``day`` (a date in Japan time), as
        (status, count): ``ready`` with the count, ``unready`` until LINE has counted (about a day),
        ``unavailable_for_privacy`` under 20. None when LINE did not answer (the caller shows that it is unknown)."""
        try:
            found = self.api.get_number_of_sent_multicast_messages(
                day.strftime("%Y%m%d"), _request_timeout=self.timeout
            )
            return found.status, found.success
        except ApiException as exc:
            log.warning("line multicast count: HTTP %s", exc.status)
        except (urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
            log.warning("line multicast count: %s", type(exc).__name__)
        return None

    # --- rich menu -----------------------------------------------------------------------------------------
    def deploy_rich_menu(self, definition: dict[str, Any], image_png: bytes) -> str:
        """Create the rich menu, upload its image and make it the default. Returns the rich menu id."""
        created = self.api.create_rich_menu(RichMenuRequest.from_dict(definition), _request_timeout=self.timeout)
        menu_id = created.rich_menu_id
        self.blob.set_rich_menu_image(
            menu_id, body=bytearray(image_png), _headers={"Content-Type": "image/png"}, _request_timeout=self.timeout
        )
        self.api.set_default_rich_menu(menu_id, _request_timeout=self.timeout)
        return menu_id

    # --- internals -----------------------------------------------------------------------------------------
    def _post(self, path: str, body: dict[str, Any], retry_key: str | None = None):
        """POST a JSON body through the SDK's ApiClient (what ``MessagingApi`` does after building its models).
        No response type: LINE's answer to a send is not needed, only its status and request id."""
        headers = {**JSON_HEADERS, "X-Line-Retry-Key": retry_key} if retry_key else dict(JSON_HEADERS)
        return self._client.call_api(
            path,
            "POST",
            header_params=headers,
            body=body,
            response_types_map={},
            auth_settings=["Bearer"],
            _request_timeout=self.timeout,
        )

    def _with_retries(self, op: str, call) -> Outcome:
        outcome = Outcome("retry")
        for attempt in range(self.attempts):
            outcome = self._call(op, call)
            if outcome.status != "retry":
                return outcome
            if attempt + 1 < self.attempts:
                delay = min(self.max_backoff, self.backoff * 2**attempt)
                time.sleep(delay / 2 + random.uniform(0, delay / 2))
        return outcome

    def _call(self, op: str, call) -> Outcome:
        try:
            response = call()
        except ApiException as exc:
            metrics.line_call(op, exc.status)
            request_id = (exc.headers or {}).get("x-line-request-id") if exc.headers else None
            if exc.status == 409:
                log.info("line %s: retry key already accepted (409), counted as delivered", op)
                return Outcome("sent", 409, None, request_id)
            detail = _error_detail(exc.body)
            status = "retry" if exc.status in RETRYABLE_STATUS else "failed"
            log.warning("line %s: HTTP %s (%s)", op, exc.status, status)
            return Outcome(status, exc.status, detail, request_id)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            metrics.line_call(op, None)
            log.warning("line %s: transport error %s", op, type(exc).__name__)
            return Outcome("retry", None, type(exc).__name__)
        metrics.line_call(op, response.status_code)
        request_id = (response.headers or {}).get("x-line-request-id")
        return Outcome("sent", response.status_code, None, request_id)


def _error_detail(body: Any) -> str:
    """LINE's error message and details, kept for staff; it names fields, never message content."""
    if body is None:
        return ""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
    try:
        parsed = json.loads(text)
    except ValueError:
        return text[:500]
    message = parsed.get("message", "")
    details = "; ".join(f"{d.get('property', '')}: {d.get('message', '')}" for d in parsed.get("details", [])[:5])
    return f"{message} {details}".strip()[:500]
