"""Logging set-up: one line per record, JSON with LOG_FORMAT=json. Records never carry personal data by design
(ids of rows, statuses and counts only); issue-level redaction lives here too."""
from __future__ import annotations

import json
import logging
import os
import re

_CONFIGURED = False
# Last line of defence: anything that looks like a LINE user id, a phone number or a join token is masked.
_PATTERNS = [
    (re.compile(r"\bU[0-9a-f]{32}\b"), "U***"),
    (re.compile(r"\b0\d{1,4}-?\d{1,4}-?\d{3,4}\b"), "0**-****-****"),
    (re.compile(r"/j/[A-Za-z0-9_\-]{8,}"), "/j/***"),
]


def redact(text: str) -> str:
    for pattern, mask in _PATTERNS:
        text = pattern.sub(mask, text)
    return text


class RedactingFormatter(logging.Formatter):
    def __init__(self, as_json: bool):
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.as_json = as_json

    def format(self, record: logging.LogRecord) -> str:
        message = redact(record.getMessage())
        if self.as_json:
            out = {"time": self.formatTime(record), "level": record.levelname, "logger": record.name, "message": message}
            if record.exc_info:
                out["exception"] = redact(self.formatException(record.exc_info))
            return json.dumps(out, ensure_ascii=False)
        record = logging.makeLogRecord({**record.__dict__, "msg": message, "args": None})
        return redact(super().format(record))


def configure_logging() -> None:
    global _CONFIGURED
    if _CONFIGURED:
        return
    _CONFIGURED = True
    handler = logging.StreamHandler()
    handler.setFormatter(RedactingFormatter(os.environ.get("LOG_FORMAT", "text") == "json"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(os.environ.get("LOG_LEVEL", "INFO"))
    for noisy in ("urllib3", "werkzeug", "apscheduler.executors.default"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
