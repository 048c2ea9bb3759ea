"""Log lines: structured (text or JSON), and the redaction layer that masks what has the shape of personal data or a
secret. The first defence — never logging such values — is checked over the whole session by
tests/privacy_plugin.py."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert
from sqlalchemy.exc import IntegrityError

from runtime.logs import RedactingFormatter, redact
from storage.db import make_engine

USER_ID = "U4af4980629bcd0e1ed5b1ef4c0b2c9d1"
# Values a traceback must not show: kept out of the lines it quotes (a traceback quotes source lines, never values).
NAME, PHONE, OTHER_NAME, OTHER_PHONE = "高根 太郎", "090-7777-1234", "高根台 次郎", "09022220002"
TOKEN = "pXk3Qm9_vB2-LdE7rT0yWzA1sN4hJ6uC8fG5iK2oM3q"  # the shape of storage.crypto.new_token()


def record(message: str, *args, exc_info=None, **extra) -> logging.LogRecord:
    out = logging.LogRecord("bot.test", logging.WARNING, __file__, 1, message, args, exc_info)
    out.__dict__.update(extra)
    return out


@pytest.mark.parametrize(
    "spelling",
    [
        "09012345678",
        "090-1234-5678",
        "090 1234 5678",
        "(090)1234-5678",
        "047-436-2111",
        "0474362111",
        "03-1234-5678",
        "050-1234-5678",
        "+81 90-1234-5678",
        "+81-47-436-2111",
        "０９０１２３４５６７８",
    ],
)
def test_phone_numbers_are_masked_however_they_are_written(spelling):
    masked = redact(f"call {spelling} please")
    assert masked in ("call 0**-****-**** please", "call (0**-****-**** please")


def test_line_ids_links_conference_details_and_addresses_are_masked():
    cases = {
        f"user {USER_ID} followed": "user U*** followed",
        "group C0123456789abcdef0123456789abcdef left": "group C*** left",
        f"GET /j/{TOKEN} HTTP/1.1 200": "GET /j/*** HTTP/1.1 200",
        f"GET https://bot.example.jp/c/{TOKEN}.ics": "GET https://bot.example.jp/c/***.ics",
        "join https://zoom.example.test/j/98765432100?pwd=SeCrEtJoInPwD now": "join https://zoom.example.test/*** now",
        "see https://us02web.zoom.us/j/81234567890": "see https://us02web.zoom.us/***",
        "https://teams.microsoft.com/l/meetup-join/19%3ameeting": "https://teams.microsoft.com/***",
        "callback?token=abc123&lang=ja": "callback?token=***&lang=ja",
        "パスコード：kodomo-7731 ミーティングID：987 6543 2100": "パスコード：*** ミーティングID：***",
        "passcode=secret-pass, meeting id: 123 456 789": "passcode=***, meeting id: ***",
        "staff hanako.funabashi@city.funabashi.example signed in": "staff ***@city.funabashi.example signed in",
        f"token {TOKEN} unknown": "token *** unknown",
        "sealed gAAAAABmZ3x0aW5nX3NlYWxlZF92YWx1ZV9oZXJl": "sealed gAAAAA***",
        "DETAIL:  Failing row contains (1, 3, 船橋 花子, ふなばし はなこ, 09012345678).": "DETAIL:  ***",
        "DETAIL:  Key (line_user_id)=(abc) already exists.": "DETAIL:  ***",
    }
    for text, expected in cases.items():
        assert redact(text) == expected, text


def test_ordinary_log_text_is_left_alone():
    for text in (
        "2030-06-03 09:00:02,123 INFO runtime.delivery: outbox: 200 claimed, 3 expired, {'sent': 197}",
        "outbox 12345 failed: HTTP 400: The property, 'to', in the request body is invalid "
        "(x-line-request-id 0f3c1d2e-1234-4567-89ab-0123456789ab)",
        "event 42 of type follow: nothing to do; timestamp 1717372800000",
        "policy version 3f5a2b9c0d1e4f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b",
        "reminders: Planned(added=12, replanned=0, expired=1, thanks=0)",
        "password changed for staff 3",
        "retention: purged 1000 rows of outbox (sent 2030-03-01)",
    ):
        assert redact(text) == text


def test_json_lines_are_one_object_each_with_every_part_redacted():
    try:
        raise ValueError(f"no such user {USER_ID}")
    except ValueError:
        exc_info = sys.exc_info()
    line = RedactingFormatter(as_json=True).format(
        record("outbox %s to %s failed", 7, USER_ID, exc_info=exc_info, event_id=3, link=f"/j/{TOKEN}")
    )
    assert "\n" not in line
    out = json.loads(line)
    assert out["level"] == "WARNING" and out["logger"] == "bot.test" and out["time"].endswith("+00:00")
    assert out["message"] == "outbox 7 to U*** failed"
    assert out["event_id"] == 3 and out["link"] == "/j/***"
    assert out["exc_type"] == "ValueError" and "no such user U***" in out["exception"]
    assert USER_ID not in line and TOKEN not in line


def test_text_lines_carry_extra_fields_and_a_redacted_traceback():
    try:
        raise RuntimeError("phone 090-1234-5678 rejected")
    except RuntimeError:
        exc_info = sys.exc_info()
    line = RedactingFormatter().format(record("processing failed (%s)", "RuntimeError", exc_info=exc_info, event_id=9))
    head, *trace = line.splitlines()
    assert head.endswith("WARNING bot.test: processing failed (RuntimeError) event_id=9")
    assert trace[0] == "Traceback (most recent call last):"
    assert "RuntimeError: phone 0**-****-**** rejected" in trace[-1]


def test_tracebacks_do_not_show_local_variables():
    def register(name: str):
        phone = PHONE  # noqa: F841 — a local that a traceback with locals would print
        raise KeyError("centre")

    try:
        register(NAME)
    except KeyError:
        line = RedactingFormatter().format(record("failed", exc_info=sys.exc_info()))
    assert "KeyError: 'centre'" in line
    assert NAME not in line and "7777" not in line


def test_database_errors_never_carry_the_bound_values(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'errors.sqlite3'}")
    people = Table(
        "people",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("phone", String, unique=True),
        Column("name", String, nullable=False),
    )
    people.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(people), {"name": "習志野 ゆき", "phone": "0471234567"})
    with pytest.raises(IntegrityError) as failure, engine.begin() as conn:
        conn.execute(insert(people), {"name": "習志野 ゆき", "phone": "0471234567"})
    message = str(failure.value)
    assert "SQL parameters hidden" in message
    assert "習志野" not in message and "0471234567" not in message
    engine.dispose()


def test_debug_logging_never_turns_on_sql_rows_or_line_response_bodies():
    script = (
        "import logging, os; os.environ['LOG_LEVEL'] = 'DEBUG'; from runtime.logs import configure_logging; "
        "configure_logging(); print(logging.getLogger('sqlalchemy.engine.Engine').isEnabledFor(logging.INFO), "
        "logging.getLogger('linebot.v3.messaging.rest').isEnabledFor(logging.DEBUG), "
        "logging.getLogger('runtime.processing').isEnabledFor(logging.DEBUG))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False", "True"]


def test_a_failing_event_is_logged_without_the_values_it_carried(app, chat, caplog, monkeypatch):
    """An unexpected error while processing is caught once, in dispatch, and logged with its traceback: the database
    error in it names the statement, never the parameters (a parent's name here)."""
    from services import context as contexts
    from storage.models import Parent

    def failing_load(session, user, **kwargs):
        values = {"line_user_pk": user.id, "name": OTHER_NAME, "furigana": "たかね じろう", "phone": OTHER_PHONE}
        session.execute(insert(Parent.__table__), values)
        raise AssertionError("unreachable: the insert above fails (no centre)")

    monkeypatch.setattr(contexts, "load", failing_load)
    parent = chat()
    with caplog.at_level(logging.ERROR, logger="runtime.processing"):
        parent.say("こんにちは")
    failures = [r for r in caplog.records if r.name == "runtime.processing" and r.exc_info]
    assert failures, "the failure was logged with its traceback"
    for failure in failures:
        line = RedactingFormatter().format(failure)
        assert "IntegrityError" in line and "SQL parameters hidden" in line
        assert OTHER_NAME not in line and OTHER_PHONE not in line and parent.user_id not in line
