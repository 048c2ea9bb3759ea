"""The session-wide check that no personal data reaches a log line (tests/privacy_plugin.py): it finds what it must,
in every spelling, and only that. The lines here are made by hand and never logged, so they cannot trip the real
check at the end of the session."""

from __future__ import annotations

import logging
import secrets

from runtime.logs import RedactingFormatter
from tests.privacy_plugin import Capture, Line, find_leaks
from tests.support import personal_data

REGISTERED = [
    ("name", "船橋 花子"),
    ("phone", "09012345678"),
    ("birth_month", "2024-05"),
    ("line_user_id", "U4af4980629bcd0e1ed5b1ef4c0b2c9d1"),
    ("join_token", "pXk3Qm9_vB2-LdE7rT0yWzA1sN4hJ6uC8fG5iK2oM3q"),
    ("secret", "kodomo-7731"),
]


def captured(*messages: str) -> list[Line]:
    """The lines the plugin's handler keeps for these records (formatted and redacted like production)."""
    capture = Capture()
    for message in messages:
        capture.handle(logging.LogRecord("bot.example", logging.INFO, __file__, 1, message, (), None))
    return capture.lines


def kinds(leaks) -> set[tuple[str, bool]]:
    return {(leak.kind, leak.written) for leak in leaks}


def test_clean_lines_pass():
    lines = captured(
        "outbox: 200 claimed, 3 expired",
        "event 12 of type follow: nothing to do",
        "apscheduler next run at: 2024-05-01 10:00:00+09:00",
        "reminders planned for 2024-05-02",
    )
    assert find_leaks(lines, REGISTERED) == []


def test_a_name_or_a_birth_month_is_found_in_the_written_line_and_the_report_masks_it():
    leaks = find_leaks(captured("registered 船橋 花子 (child born 2024年5月)"), REGISTERED)
    assert kinds(leaks) == {("name", True), ("birth_month", True)}
    assert all("船橋 花子" not in leak.line and "2024年5月" not in leak.line for leak in leaks)
    assert leaks[0].logger == "bot.example" and "«name»" in leaks[0].line


def test_values_the_redaction_masked_still_count_as_logged():
    leaks = find_leaks(
        captured(
            "push to U4af4980629bcd0e1ed5b1ef4c0b2c9d1 failed, phone 090-1234-5678",
            "sent https://bot.example.jp/j/pXk3Qm9_vB2-LdE7rT0yWzA1sN4hJ6uC8fG5iK2oM3q",
            "passcode: kodomo-7731",
        ),
        REGISTERED,
    )
    assert kinds(leaks) == {("line_user_id", False), ("phone", False), ("join_token", False), ("secret", False)}


def test_unregistered_values_are_found_by_their_shape_when_redaction_misses_them():
    lines = [Line("bot.example", "INFO", "to U0123456789abcdef0123456789abcdef via /j/AAAABBBBCCCCDDDD", "")]
    assert kinds(find_leaks(lines, [])) == {("line_user_id", True), ("join_token", True)}


def test_the_capture_formats_with_the_projects_formatter():
    (line,) = captured("user U4af4980629bcd0e1ed5b1ef4c0b2c9d1 phone 090-1234-5678")
    assert line.text == "INFO bot.example: user U*** phone 0**-****-****"
    assert isinstance(Capture().formatter_, RedactingFormatter)


def test_what_the_tests_store_in_personal_fields_is_registered(parent_factory, chat):
    name, phone = f"試験 {secrets.token_hex(3)}", "0477" + str(secrets.randbelow(10**6)).zfill(6)
    parent_factory(name=name, phone=phone)
    person = chat()
    for value in (name, phone, person.user_id):
        assert value in personal_data
