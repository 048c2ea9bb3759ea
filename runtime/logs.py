"""Logging set-up and the redaction layer every log line passes through.

The first defence is that code never logs personal data: records carry ids of rows, statuses, counts and exception
*types* (``log.exception("... (%s)", type(exc).__name__)``), never names, phone numbers, children's birth months,
message text, LINE user ids or join links. Names and birth months cannot be recognised by their shape, so nothing
here could mask them; that is why they must never be logged.

Redaction is the last line of defence, for what has a recognisable shape and slips through anyway (an exception
message from a library, a URL in an error): LINE user/group/room ids, phone numbers, e-mail addresses, personal join
and calendar links (``/j/<token>``, ``/c/<token>.ics``), web-conference URLs, secrets in query strings
(``?pwd=…``), labelled passcodes and meeting IDs, PostgreSQL's error details (they quote the row), sealed values
and bare 43-character link tokens. It applies to the message, the exception and its traceback, and to fields passed
with ``extra=``.

Output: one line per record (``LOG_FORMAT=text``, the default), or one JSON object per line (``LOG_FORMAT=json``)
with ``time`` (ISO 8601, UTC), ``level``, ``logger``, ``message``, ``process``, ``thread``, any ``extra=`` fields, and
``exc_type`` / ``exception`` when there is one. Tracebacks show code and exception messages, never local variables;
SQLAlchemy's errors leave out bound parameters (``hide_parameters=True`` in ``storage.db``).
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

_CONFIGURED = False

_DIGIT = "[0-9０-９]"
_SEP = r"[-‐－―ー\s().（）]{0,2}"
# A Japanese phone number: 0 (or +81) and 9–10 more digits, whatever separators a person types between them.
# Landlines have 10 digits, mobiles and 050 numbers 11; with +81 the leading 0 is dropped.
_PHONE = re.compile(
    rf"(?<![0-9０-９A-Za-z+])(?:\+81{_SEP}(?:\(0\))?{_SEP}|[0０]){_DIGIT}(?:{_SEP}{_DIGIT}){{8,9}}(?![0-9０-９A-Za-z])"
)
_CONFERENCE_HOSTS = (
    r"(?:[\w-]+\.)*(?:zoom|webex|teams\.microsoft|teams\.live|meet\.google|whereby|jitsi|bluejeans)[\w.-]*"
)

Replacement = str | Callable[[re.Match], str]
# (what it masks, pattern, replacement), applied in this order.
REDACTIONS: list[tuple[str, re.Pattern, Replacement]] = [
    ("personal link", re.compile(r"/(j|c)/[A-Za-z0-9_\-]+(\.ics)?"), lambda m: f"/{m[1]}/***{m[2] or ''}"),
    ("conference URL", re.compile(rf"(https?://{_CONFERENCE_HOSTS})(?:/[^\s\"'<>]*)?", re.I), r"\1/***"),
    (
        "secret in a query string",
        re.compile(r"([?&;](?:pwd|passcode|password|pass|token|tk|key|secret|code|sig|signature)=)[^&\s\"'<>]+", re.I),
        r"\1***",
    ),
    (
        "labelled passcode or meeting ID",
        re.compile(
            r"(passcode|password|pwd|パスコード|パスワード|meeting\s*id|ミーティング\s*ID|会議\s*ID)"
            r"(\s*[:：=]\s*)(?:[\w!#$%*+\-./@^~]+(?:\s\d{2,5}){0,3})",
            re.I,
        ),
        r"\1\2***",
    ),
    # PostgreSQL's error details quote the values of the row ("Failing row contains (…)", "Key (…)=(…)").
    ("database error detail", re.compile(r"(DETAIL:\s*)(?:Failing row contains|Key \().*"), r"\1***"),
    ("sealed value", re.compile(r"gAAAAA[A-Za-z0-9_\-=]{20,}"), "gAAAAA***"),
    ("LINE user, group or room id", re.compile(r"(?<![0-9A-Za-z])([UCR])[0-9a-f]{32}(?![0-9A-Za-z])"), r"\1***"),
    ("e-mail address", re.compile(r"(?<![\w.+-])[\w.+-]+@((?:[\w-]+\.)+[\w-]+)"), r"***@\1"),
    ("phone number", _PHONE, "0**-****-****"),
    (
        "bare link token",
        re.compile(
            r"(?<![A-Za-z0-9_\-])(?=[A-Za-z0-9_\-]*\d)(?=[A-Za-z0-9_\-]*[A-Za-z])"
            r"[A-Za-z0-9_\-]{43}(?![A-Za-z0-9_\-])"
        ),
        "***",
    ),
]


def redact(text: str) -> str:
    """``text`` with everything that looks like personal data or a secret masked."""
    for _name, pattern, replacement in REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


# Attributes every LogRecord has (and those formatters add): anything else came with ``extra=``.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "taskName"}


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    out = {}
    for key, value in record.__dict__.items():
        if key in _STANDARD or key.startswith("_"):
            continue
        out[key] = value if isinstance(value, (int, float, bool, type(None))) else redact(str(value))
    return out


class RedactingFormatter(logging.Formatter):
    """Formats a record as one text line (``as_json=False``) or one JSON object, with every part redacted."""

    def __init__(self, as_json: bool = False):
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.as_json = as_json

    def format(self, record: logging.LogRecord) -> str:
        message = redact(record.getMessage())
        extras = _extras(record)
        exception = redact(self.formatException(record.exc_info)) if record.exc_info else None
        stack = redact(self.formatStack(record.stack_info)) if record.stack_info else None
        if self.as_json:
            out: dict[str, Any] = {
                "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
                "level": record.levelname,
                "logger": record.name,
                "message": message,
                "process": record.process,
                "thread": record.threadName,
                **{k: v for k, v in extras.items() if k not in ("time", "level", "logger", "message")},
            }
            if record.exc_info:
                out["exc_type"] = record.exc_info[0].__name__ if record.exc_info[0] else None
                out["exception"] = exception
            if stack:
                out["stack"] = stack
            return json.dumps(out, ensure_ascii=False, default=str)
        line = f"{self.formatTime(record)} {record.levelname} {record.name}: {message}"
        if extras:
            line += " " + " ".join(f"{k}={v}" for k, v in extras.items())
        for part in (exception, stack):
            if part:
                line += "\n" + part
        return line


def configure_logging() -> None:
    """Install the redacting handler on the root logger once per process (``LOG_LEVEL``, ``LOG_FORMAT``)."""
    global _CONFIGURED
    if _CONFIGURED:
        return
    _CONFIGURED = True
    handler = logging.StreamHandler()
    handler.setFormatter(RedactingFormatter(os.environ.get("LOG_FORMAT", "text").strip() == "json"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(os.environ.get("LOG_LEVEL", "INFO").strip().upper())  # checked in bot/config.py
    for noisy in ("urllib3", "werkzeug", "apscheduler.executors.default"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # Even with LOG_LEVEL=DEBUG: SQLAlchemy would log result rows (personal data) and the LINE SDK response bodies
    # (a profile's display name). Their warnings and errors still come through.
    logging.getLogger("sqlalchemy").setLevel(logging.WARNING)
    logging.getLogger("linebot").setLevel(logging.INFO)
