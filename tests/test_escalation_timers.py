"""The escalation timers under a test clock: a report nobody acknowledged is announced again and the division is
alerted; one acknowledged but left unresolved is reopened and staff are reminded; nothing is sent twice."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from handlers.reports.rules import Timing, due
from scheduler.escalation import Jobs, escalation_tick
from services.reports.notices import staff_action
from storage.clock import now
from tests.report_support import actions, file_report, notices, only_escalation, parent_with_events, staff_in_line
from tests.scheduler_support import MONDAY_9
from tests.support import ChatUser

MINUTE = timedelta(minutes=1)


@pytest.fixture
def clock():
    with time_machine.travel(MONDAY_9, tick=False) as traveller:
        yield traveller


@pytest.fixture
def people(chat, clock):
    """Takanedai staff on duty, a division member off duty, a Minamihoncho member on duty, and a parent whose
    report (about a Takanedai event) has just been filed and announced."""
    centre, _ = staff_in_line(chat, centre="takanedai", name="高根台 佐藤")
    division_off, _ = staff_in_line(chat, centre="division", on_duty=False, name="支援課 鈴木")
    elsewhere, _ = staff_in_line(chat, centre="minamihoncho", name="南本町 山田")
    parent = parent_with_events(chat, event_centre="takanedai")
    file_report(parent.chat, events=("ねんね",))
    assert "【至急】" in ChatUser.texts(centre.new_messages())
    assert division_off.new_messages() == [] and elsewhere.new_messages() == []
    return centre, division_off, elsewhere, parent


def tick(runtime, **kwargs):
    done = escalation_tick(**kwargs)
    runtime.deliver_outbox()
    return done


def test_nobody_acknowledging_within_15_minutes_alerts_the_centre_again_and_the_division(runtime, clock, people):
    centre, division_off, elsewhere, _ = people
    clock.shift(14 * MINUTE)
    assert tick(runtime) == {"renotified": 0, "reopened": 0}
    assert centre.new_messages() == []

    clock.shift(MINUTE)
    assert tick(runtime) == {"renotified": 1, "reopened": 0}
    again = ChatUser.texts(centre.new_messages())
    assert "【未対応】紛失・盗難の報告" in again and "受付から15分たちました" in again
    assert "【未対応】" in ChatUser.texts(division_off.new_messages())  # the division, on duty or not
    assert elsewhere.new_messages() == []
    escalation = only_escalation()
    assert escalation.escalated_at == now() and escalation.renotified == 1
    assert actions(escalation.id)[-2:] == ["escalated", "renotified"]
    assert sorted(n.dedupe_key.split(":")[2] for n in notices()) == ["new", "new", "renotify-0-1", "renotify-0-1"]
    assert any("【未対応】" in n.subject for n in notices())

    assert tick(runtime) == {"renotified": 0, "reopened": 0}  # the same moment again: nothing twice
    assert centre.new_messages() == [] and len(notices()) == 4


def test_re_notifications_stop_after_three(runtime, clock, people):
    centre = people[0]
    for _ in range(5):
        clock.shift(15 * MINUTE)
        tick(runtime)
    assert only_escalation().renotified == 3
    assert len([m for m in centre.new_messages() if "【未対応】" in ChatUser.texts([m])]) == 3


def test_an_acknowledged_report_is_not_re_notified_but_reopened_after_24_hours(runtime, clock, people):
    centre, division_off, _, _ = people
    clock.shift(5 * MINUTE)
    centre.tap(_ack_data())
    centre.new_messages()
    clock.shift(20 * MINUTE)
    assert tick(runtime) == {"renotified": 0, "reopened": 0}

    clock.shift(timedelta(hours=23, minutes=39))  # 23:59 after the acknowledgement
    assert tick(runtime) == {"renotified": 0, "reopened": 0}
    clock.shift(MINUTE)
    assert tick(runtime) == {"renotified": 0, "reopened": 1}
    messages = centre.new_messages()
    reminder = ChatUser.texts(messages)
    assert "【再確認】紛失・盗難の報告" in reminder and "「対応中」のまま24時間たちました" in reminder
    assert "対応します" in ChatUser.choices(messages)
    escalation = only_escalation()
    assert (escalation.status, escalation.acknowledged_by, escalation.reopened) == ("open", None, 1)
    assert actions(escalation.id)[-1] == "reopened"

    clock.shift(15 * MINUTE)  # reopened and again nobody takes it
    assert tick(runtime) == {"renotified": 1, "reopened": 0}
    assert "【未対応】" in ChatUser.texts(division_off.new_messages())


def test_a_resolved_report_is_left_alone(runtime, clock, people):
    centre = people[0]
    resolve = centre.tap(_ack_data().replace("ack.", "resolve."))
    centre.choose(resolve, "リンクを送らず解決")
    clock.shift(timedelta(days=3))
    assert tick(runtime) == {"renotified": 0, "reopened": 0}


def test_a_loan_request_waits_a_day_before_it_is_announced_again(runtime, clock, chat):
    centre, _ = staff_in_line(chat, centre="minamihoncho")
    parent = parent_with_events(chat, centre="minamihoncho")
    messages = parent.chat.say("機器の貸出相談")
    messages = parent.chat.choose(messages, "パソコン")
    messages = parent.chat.choose(messages, "決定")
    messages = parent.chat.choose(messages, "まだ決めていない")
    messages = parent.chat.choose(messages, "機器を持っていない")
    messages = parent.chat.choose(messages, "特になし")
    parent.chat.choose(messages, "相談する")
    centre.new_messages()
    clock.shift(timedelta(hours=1))
    assert tick(runtime) == {"renotified": 0, "reopened": 0}
    clock.shift(timedelta(hours=23))
    assert tick(runtime) == {"renotified": 1, "reopened": 0}
    assert "【未対応】機器の貸出相談" in ChatUser.texts(centre.new_messages())


def test_the_windows_come_from_the_configuration(runtime, clock, people):
    jobs = Jobs(runtime.config.with_(escalation_ack_minutes=5, escalation_reopen_hours=2))
    clock.shift(5 * MINUTE)
    assert jobs.tick() == {"renotified": 1, "reopened": 0}


@pytest.mark.parametrize(
    "status, since, acked, count, expected",
    [
        ("open", 0, None, 0, None),
        ("open", 15, None, 0, "renotify"),
        ("open", 29, None, 1, None),
        ("open", 30, None, 1, "renotify"),
        ("open", 120, None, 3, None),
        ("acknowledged", 15, 15, 0, None),
        ("acknowledged", 24 * 60, 24 * 60, 0, "reopen"),
        ("resolved", 10**5, 10**5, 0, None),
    ],
)
def test_what_the_timers_call_for(status, since, acked, count, expected):
    moment = MONDAY_9
    args = dict(
        kind="lost_credentials",
        status=status,
        attention_since=moment - since * MINUTE,
        acknowledged_at=moment - acked * MINUTE if acked is not None else None,
        renotified=count,
        moment=moment,
    )
    assert due(Timing(), **args) == expected


def _ack_data() -> str:
    return staff_action("ack", only_escalation().id)
