"""When reminders go and what they say (handlers/events/reminders.py): pure rules, no database."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.config import ConfigError, from_environ
from handlers.events.reminders import ReminderFacts, Schedule, parse_offsets, parse_quiet_hours, reminder, thanks
from runtime.render import render_all
from tests.scheduler_support import tokyo
from tests.support import ChatUser

DAY_BEFORE, SOON = parse_offsets("1d@10:00,30m")
QUIET = parse_quiet_hours("21:00-08:00")
SCHEDULE = Schedule((DAY_BEFORE, SOON), QUIET)


def test_offsets_are_read_from_the_environment_format():
    assert [o.key for o in parse_offsets("1d@10:00, 30m, 2h, 2d@9:05, 30m")] == ["1d@10:00", "30m", "120m", "2d@09:05"]
    for wrong in ("10:00", "0d@10:00", "1d@24:00", "-30m", "0m", "soon"):
        with pytest.raises(ValueError):
            parse_offsets(wrong)


def test_a_bad_setting_stops_the_app_with_a_message_for_the_operator():
    with pytest.raises(ConfigError, match="REMINDER_OFFSETS"):
        from_environ({"APP_MODE": "test", "REMINDER_OFFSETS": "tomorrow"})
    with pytest.raises(ConfigError, match="QUIET_HOURS"):
        from_environ({"APP_MODE": "test", "QUIET_HOURS": "21-8"})
    with pytest.raises(ConfigError, match="DELIVERY_THREADS"):
        from_environ({"APP_MODE": "test", "DELIVERY_THREADS": "0"})
    assert from_environ({"APP_MODE": "test", "QUIET_HOURS": "off"}).quiet_hours == "off"


def test_the_day_before_is_counted_in_tokyo_not_utc():
    start = tokyo(2030, 6, 5, 8, 0)  # still 4 June in UTC
    assert DAY_BEFORE.due(start) == tokyo(2030, 6, 4, 10)
    assert SOON.due(start) == tokyo(2030, 6, 5, 7, 30)


def test_quiet_hours_cross_midnight_and_end_at_eight():
    assert not QUIET.contains(tokyo(2030, 6, 4, 20, 59))
    assert QUIET.contains(tokyo(2030, 6, 4, 21, 0)) and QUIET.contains(tokyo(2030, 6, 5, 7, 59))
    assert not QUIET.contains(tokyo(2030, 6, 5, 8, 0))
    assert QUIET.release(tokyo(2030, 6, 4, 23, 10)) == tokyo(2030, 6, 5, 8)
    assert QUIET.release(tokyo(2030, 6, 5, 1, 10)) == tokyo(2030, 6, 5, 8)
    assert QUIET.release(tokyo(2030, 6, 5, 12, 0)) == tokyo(2030, 6, 5, 12)
    daytime = parse_quiet_hours("12:00-13:00")
    assert daytime.contains(tokyo(2030, 6, 5, 12, 30)) and not daytime.contains(tokyo(2030, 6, 5, 13, 0))
    assert parse_quiet_hours("off") is None


def test_each_reminder_goes_at_its_time_moved_out_of_quiet_hours_or_dropped():
    monday = tokyo(2030, 6, 3, 9)
    assert SCHEDULE.reminders(tokyo(2030, 6, 5, 14), monday) == {
        DAY_BEFORE: tokyo(2030, 6, 4, 10),
        SOON: tokyo(2030, 6, 5, 13, 30),
    }
    assert SCHEDULE.reminders(tokyo(2030, 6, 5, 8, 15), monday)[SOON] == tokyo(2030, 6, 5, 8)
    assert SOON not in SCHEDULE.reminders(tokyo(2030, 6, 5, 7, 30), monday)
    assert SCHEDULE.reminders(tokyo(2030, 6, 5, 7, 30), monday) == {DAY_BEFORE: tokyo(2030, 6, 4, 10)}


def test_of_the_reminders_already_due_only_the_latest_is_kept():
    start = tokyo(2030, 6, 5, 14)
    assert SCHEDULE.reminders(start, tokyo(2030, 6, 4, 12)) == {
        DAY_BEFORE: tokyo(2030, 6, 4, 10),
        SOON: tokyo(2030, 6, 5, 13, 30),
    }
    assert SCHEDULE.reminders(start, tokyo(2030, 6, 5, 13, 45)) == {SOON: tokyo(2030, 6, 5, 13, 30)}


def test_reminders_are_planned_a_day_before_the_earliest_can_be_due():
    assert SCHEDULE.horizon == timedelta(days=3)
    assert Schedule(parse_offsets("30m")).horizon == timedelta(days=1, minutes=30)


def test_the_thank_you_waits_for_the_morning_after_a_late_event():
    assert SCHEDULE.thanks_time(tokyo(2030, 6, 5, 15)) == tokyo(2030, 6, 5, 15, 10)
    assert SCHEDULE.thanks_time(tokyo(2030, 6, 5, 20, 55)) == tokyo(2030, 6, 6, 8)


FACTS = ReminderFacts(
    "ja",
    "ねんねの赤ちゃん交流会",
    tokyo(2030, 6, 5, 14),
    tokyo(2030, 6, 5, 15),
    "https://bot.example.test/j/personal-token",
    15,
    "047-436-2111",
)


def test_a_reminder_fits_lines_limits_and_carries_the_link_and_the_rules():
    for offset in (DAY_BEFORE, SOON):
        messages = render_all(reminder(FACTS, offset))
        text = ChatUser.texts(messages)
        assert "6月5日(水) 14:00〜15:00" in text and "SNS" in text and "ほかの人に教えないで" in text
        assert FACTS.join_url in messages[0]["text"] and "開始15分前から" in messages[0]["text"]
    day_before = ChatUser.texts(render_all(reminder(FACTS, DAY_BEFORE)))
    assert "047-436-2111" in day_before and "最新版" in day_before


def test_the_thank_you_asks_for_a_score_from_one_to_five():
    [message] = render_all(thanks("ja", 12, "ねんねの赤ちゃん交流会"))
    quick = {item["action"]["label"]: item["action"] for item in message["quickReply"]["items"]}
    assert list(quick) == ["1", "2", "3", "4", "5"]
    assert quick["4"]["data"] == "1|feedback|start|12.4|" and quick["4"]["displayText"] == "満足度 4"
    [english] = render_all(thanks("en", 12, "Baby meetup"))
    assert "from 1 to 5" in english["text"]
