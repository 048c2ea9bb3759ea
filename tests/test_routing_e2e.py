"""End to end through the LINE double and a local mail server: a parent's loss report in the chat reaches the staff
member on duty by the rota in LINE and the centre's e-mail address; out of hours it goes to the division's address,
nobody off duty is woken in LINE, and the parent is told when staff will see it."""

from __future__ import annotations

import pytest

from handlers.events import views
from scheduler.escalation import Jobs
from storage import rota, routing
from storage.db import unit_of_work
from tests.report_support import file_report, notices, only_escalation, parent_with_events, staff_in_line
from tests.scheduler_support import clock, tokyo, worker  # noqa: F401 (fixtures)
from tests.support import ChatUser
from tests.test_escalation_channels import smtp_server  # noqa: F401 (the fixture)

WEEKDAYS = (0, 1, 2, 3, 4)
ALERT = "【至急】紛失・盗難の報告"


@pytest.fixture
def takanedai(chat, clock):
    """高根台: 佐藤 on the rota on weekdays 9:00–17:00, 伊藤 on no rota (both with LINE linked); an e-mail address
    for the centre and one for the division."""
    sato, sato_id = staff_in_line(chat, centre="takanedai", on_duty=None, name="センター職員 佐藤")
    ito, _ = staff_in_line(chat, centre="takanedai", on_duty=None, name="センター職員 伊藤")
    with unit_of_work() as s:
        rota.add_slots(s, "takanedai", sato_id, WEEKDAYS, 9 * 60, 17 * 60)
        routing.add_route(s, "takanedai", "email", "takanedai@city.example", by=None)
        routing.add_route(s, "division", "email", "kosodate@city.example", by=None)
    return sato, ito


def send_mail(runtime, smtp_server) -> None:
    Jobs(runtime.config.with_(smtp_url=smtp_server.url, escalation_email_from="bot@city.example")).send()


def test_a_report_on_a_weekday_reaches_the_member_on_duty_in_line_and_the_centres_mailbox(
    chat, runtime, clock, takanedai, smtp_server
):
    sato, ito = takanedai
    clock.tokyo(2026, 11, 2, 10)  # Monday 10:00
    parent = parent_with_events(chat, event_centre="takanedai")
    receipt = ChatUser.texts(file_report(parent.chat, events=("ねんね",)))
    assert "当番時間外" not in receipt
    assert ALERT in ChatUser.texts(sato.new_messages())
    assert ito.new_messages() == []
    send_mail(runtime, smtp_server)
    assert smtp_server.envelopes == [("bot@city.example", ["takanedai@city.example"])]
    assert only_escalation().reference in smtp_server.messages[0]["Subject"]


def test_out_of_hours_the_division_is_mailed_nobody_off_duty_is_woken_and_the_parent_hears_when(
    chat, runtime, clock, takanedai, smtp_server
):
    sato, ito = takanedai
    clock.tokyo(2026, 11, 2, 19)  # Monday evening; Tuesday 3 November is 文化の日
    parent = parent_with_events(chat, event_centre="takanedai")
    receipt = ChatUser.texts(file_report(parent.chat, events=("ねんね",)))
    when = views.moment_text("ja", tokyo(2026, 11, 4, 9))
    assert f"ただいまは職員の当番時間外です。職員が確認するのは{when}ごろの予定です。" in receipt
    assert sato.new_messages() == [] and ito.new_messages() == []
    send_mail(runtime, smtp_server)
    assert [rcpt for _, rcpt in smtp_server.envelopes] == [["kosodate@city.example"]]
    assert "地域子育て支援課の通知先" in smtp_server.messages[0].get_content()
    assert {n.status for n in notices()} == {"sent", "skipped"}  # the environment's webhook is not configured


def test_on_the_morning_after_the_holiday_the_member_on_duty_gets_it_again_in_line(
    chat, runtime, clock, takanedai, worker
):
    sato, _ = takanedai
    clock.tokyo(2026, 11, 3, 10)  # 文化の日
    parent = parent_with_events(chat, event_centre="takanedai")
    file_report(parent.chat, events=("ねんね",))
    assert sato.new_messages() == []
    clock.tokyo(2026, 11, 4, 9, 30)  # nobody acknowledged it: the timers announce it again, now to 佐藤 on duty
    worker.escalation.tick()
    worker.deliver_due()
    assert "【未対応】紛失・盗難の報告" in ChatUser.texts(sato.new_messages())


def test_a_loan_request_out_of_hours_tells_the_parent_when_staff_will_see_it(chat, runtime, clock, takanedai):
    from tests.test_loan import request

    clock.tokyo(2026, 11, 2, 19)  # Monday evening; Tuesday 3 November is 文化の日
    parent = parent_with_events(chat, event_centre="takanedai")
    receipt = ChatUser.texts(parent.chat.choose(request(parent.chat), "相談する"))
    when = views.moment_text("ja", tokyo(2026, 11, 4, 9))
    assert f"ただいまは職員の当番時間外です。職員が確認するのは{when}ごろの予定です。" in receipt
    clock.tokyo(2026, 11, 4, 10)  # Wednesday, on duty: no such sentence
    assert "当番時間外" not in ChatUser.texts(parent.chat.choose(request(parent.chat), "相談する"))
