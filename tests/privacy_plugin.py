"""A pytest plugin: no personal data in any log line, over the whole session.

For the whole session a handler on the root logger formats every record with the project's formatter
(``runtime.logs.RedactingFormatter``: what production would write) and keeps the lines; the project's own loggers are
opened to DEBUG so nothing escapes by level. At the end the lines are searched for every value in
``tests.support.personal_data`` — what the fixtures typed in, what the plugin saw being stored in personal fields
(names, ふりがな, phone numbers, children's birth months, free text), every sealed secret (join URLs, meeting IDs,
passcodes) and every link token made — and for anything shaped like a LINE user id or a personal join link. A
value the code logged but redaction masked is reported too: the rule is not to log it at all.

Any hit fails the session (exit status 1) with the logger and the line, the value masked.

Registered from tests/conftest.py (``pytest_plugins``).
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from dataclasses import dataclass
from datetime import date

import pytest
from sqlalchemy import event

from runtime.logs import RedactingFormatter
from tests.support import personal_data

PROJECT_LOGGERS = ("bot", "handlers", "services", "runtime", "storage", "scheduler", "tests", "bench")
# Shapes that are personal data whoever made them: a LINE user id, an unmasked personal link.
SHAPES = {
    "line_user_id": re.compile(r"(?<![0-9A-Za-z])U[0-9a-f]{32}(?![0-9A-Za-z])"),
    "join_token": re.compile(r"/[jc]/(?!\*\*\*)[A-Za-z0-9_\-]{8,}"),
}
TOKEN_RUN = re.compile(r"[A-Za-z0-9_\-]{43,}")
TOKEN_LENGTH = 43


@dataclass(frozen=True)
class Line:
    logger: str
    level: str
    text: str  # the formatted record without its timestamp (a timestamp is not data)
    raw: str  # the message as the code logged it, before redaction


@dataclass(frozen=True)
class Leak:
    kind: str
    logger: str
    level: str
    line: str  # as written, every known value masked
    written: bool  # False: the code logged it and redaction masked it on the way


class Capture(logging.Handler):
    """Keeps every record, formatted as the project's handler would write it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.formatter_ = RedactingFormatter(as_json=False)
        self.lines: list[Line] = []
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.formatter_.format(record)
            stamp = self.formatter_.formatTime(record) + " "
            text = text[len(stamp) :] if text.startswith(stamp) else text
            raw = record.getMessage()
        except Exception:  # a record that cannot be formatted is the logging module's problem, not ours
            return
        with self._guard:
            self.lines.append(Line(record.name, record.levelname, text, raw))


@functools.cache
def _matcher(kind: str, value: str) -> re.Pattern:
    """How a value shows up in text: phone digits with any separators, a birth month in the usual spellings."""
    if kind == "phone":
        digits = re.sub(r"\D", "", value)
        if digits.startswith("81"):
            digits = "0" + digits[2:]
        body = r"[-\s()]{0,2}".join(re.escape(d) for d in digits[1:])
        return re.compile(rf"(?<!\d)(?:0|\+81[-\s]?)[-\s()]{{0,2}}{body}(?!\d)")
    if kind == "birth_month":
        year, month = (int(part) for part in value.split("-")[:2])
        return re.compile(rf"(?<!\d){year}(?:年\s*0?{month}月|[-/]0?{month}(?![-/\d])|/{month:02d}(?!\d))")
    return re.compile(re.escape(value))


def _mask(text: str, pattern: re.Pattern, kind: str) -> str:
    return pattern.sub(f"«{kind}»", text)


def find_leaks(lines: list[Line], registered: list[tuple[str, str]]) -> list[Leak]:
    """Every line carrying a registered value or a personal-data shape: written to the log, or logged by the code and
    masked by redaction on the way (still a leak: the rule is never to log it)."""
    hits: dict[int, dict[str, bool]] = {}  # line index → {kind: written}

    def search(texts: list[str], written: bool) -> None:
        everything = "\n".join(texts)
        tokens = {
            run[i : i + TOKEN_LENGTH]
            for run in TOKEN_RUN.findall(everything)
            for i in range(len(run) - TOKEN_LENGTH + 1)
        }
        patterns = [(kind, pattern) for kind, pattern in SHAPES.items()] if written else []
        for kind, value in registered:
            if kind == "join_token":
                if value in tokens:
                    patterns.append((kind, re.compile(re.escape(value))))
            else:
                pattern = _matcher(kind, value)
                if pattern.search(everything):
                    patterns.append((kind, pattern))
        for kind, pattern in patterns:
            if not pattern.search(everything):
                continue
            for index, text in enumerate(texts):
                if pattern.search(text):
                    found = hits.setdefault(index, {})
                    found[kind] = found.get(kind, False) or written

    search([line.text for line in lines], written=True)
    search([line.raw for line in lines], written=False)
    leaks = []
    for index, kinds in sorted(hits.items()):
        line = lines[index]
        masked = line.text
        for kind, value in registered:
            masked = _mask(masked, _matcher(kind, value), kind)
        for kind, pattern in SHAPES.items():
            masked = _mask(masked, pattern, kind)
        for kind, written in sorted(kinds.items()):
            leaks.append(Leak(kind, line.logger, line.level, masked, written))
    return leaks


# --- what the tests store: harvested as it is written --------------------------------------------------------------
def _harvest() -> None:
    from storage import crypto
    from storage.models import (
        Child,
        EscalationMessage,
        Feedback,
        LoanRequest,
        LostCredentialReport,
        Parent,
        Sanction,
        StaffMember,
    )

    fields = {
        Parent: (("name", "name"), ("name", "furigana"), ("phone", "phone"), ("birth_month", "due_month")),
        Child: (("birth_month", "birth_month"),),
        StaffMember: (("name", "name"),),
        Feedback: (("free_text", "comment"),),
        LostCredentialReport: (("free_text", "note"),),
        LoanRequest: (("free_text", "note"),),
        EscalationMessage: (("free_text", "text"),),
        Sanction: (("free_text", "note"),),
    }
    for model, columns in fields.items():

        def remember(_mapper, _connection, target, columns=columns) -> None:
            for kind, column in columns:
                value = getattr(target, column, None)
                if isinstance(value, date) or (isinstance(value, str) and value.strip()):
                    personal_data.add(kind, value)

        event.listen(model, "before_insert", remember)
        event.listen(model, "before_update", remember)

    seal, new_token = crypto.seal, crypto.new_token

    def sealing(value: str) -> str:
        personal_data.add("secret", value)
        return seal(value)

    def making_token() -> str:
        token = new_token()
        personal_data.add("join_token", token)
        return token

    crypto.seal, crypto.new_token = sealing, making_token


# --- the plugin ------------------------------------------------------------------------------------------------
class PrivacyPlugin:
    def __init__(self) -> None:
        self.capture = Capture()
        self.leaks: list[Leak] = []
        self._levels: dict[str, int] = {}

    def pytest_sessionstart(self, session) -> None:
        logging.getLogger().addHandler(self.capture)
        for name in PROJECT_LOGGERS:
            self._levels[name] = logging.getLogger(name).level
            logging.getLogger(name).setLevel(logging.DEBUG)
        _harvest()

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session) -> None:
        logging.getLogger().removeHandler(self.capture)
        for name, level in self._levels.items():
            logging.getLogger(name).setLevel(level)
        self.leaks = find_leaks(self.capture.lines, personal_data.items())
        if self.leaks:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter) -> None:
        lines = len(self.capture.lines)
        if not self.leaks:
            terminalreporter.write_line(
                f"privacy: {lines} log lines checked against {len(personal_data.items())} "
                "values of personal data: none found"
            )
            return
        terminalreporter.write_sep("=", "PERSONAL DATA IN LOGS", red=True, bold=True)
        for leak in self.leaks:
            how = "written to the log" if leak.written else "logged by the code, masked by redaction"
            terminalreporter.write_line(
                f"{leak.kind} ({how}) in logger {leak.logger} [{leak.level}]: {leak.line}", red=True
            )
        terminalreporter.write_line(
            f"{len(self.leaks)} leak(s) in {lines} log lines: the session fails. Log ids, "
            "statuses and counts, never the values.",
            red=True,
            bold=True,
        )


def pytest_configure(config) -> None:
    config.pluginmanager.register(PrivacyPlugin(), "kosodate-privacy")
