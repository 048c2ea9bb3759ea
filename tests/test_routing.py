"""Escalations reach someone on duty: the duty rota by weekday and time (Asia/Tokyo), Japanese public holidays, dated
exceptions, the manual override, addresses per centre with the division as the fallback, and what happens when an
escalation would reach nobody (a red banner, an error in the worker's log, /healthz?full=1). Times are set with the
test clock."""

from __future__ import annotations

import logging
from datetime import date

import pytest

from runtime.notify import division_defaults
from scheduler.escalation import Jobs
from storage import rota, routing, staff, users
from storage.db import unit_of_work
from storage.models import StaffMember
from tests.scheduler_support import clock, tokyo  # noqa: F401 (the fixture)

MON, TUE = 0, 1
NINE, FIVE_PM = 9 * 60, 17 * 60
pytestmark = pytest.mark.usefixtures("app")


def member(
    centre: str = "minamihoncho", name: str = "センター職員 佐藤", *, line: bool = True, role: str = "staff"
) -> int:
    with unit_of_work() as s:
        m = staff.create_member(
            s, name=name, login=f"{name}.{centre}@city.example".replace(" ", ""), centre=centre, role=role
        )
        if line:
            m.line_user_pk = users.get_or_create(s, "U" + f"{m.id:032x}").id
        return m.id


def on_rota(staff_id: int, centre: str = "minamihoncho", weekdays=(MON, TUE), starts=NINE, ends=FIVE_PM) -> None:
    with unit_of_work() as s:
        rota.add_slots(s, centre, staff_id, weekdays, starts, ends)


def on_duty(centre: str = "minamihoncho") -> list[int]:
    with unit_of_work() as s:
        return [m.id for m in rota.on_duty(s, centre)]


def override(staff_id: int, value: bool | None) -> None:
    with unit_of_work() as s:
        rota.set_override(s.get(StaffMember, staff_id), value)


# --- the rota -------------------------------------------------------------------------------------------------------
def test_staff_on_the_rota_are_on_duty_on_a_weekday_within_their_hours_only(clock):
    sato = member()
    on_rota(sato)
    clock.tokyo(2026, 11, 2, 9)  # Monday 09:00
    assert on_duty() == [sato]
    clock.tokyo(2026, 11, 2, 16, 59)
    assert on_duty() == [sato]
    clock.tokyo(2026, 11, 2, 17)
    assert on_duty() == []
    clock.tokyo(2026, 11, 4, 10)  # Wednesday: not on the rota
    assert on_duty() == []


def test_nobody_is_on_duty_by_the_rota_on_a_public_holiday_unless_the_centre_opens(clock):
    sato = member()
    on_rota(sato)
    clock.tokyo(2026, 11, 3, 10)  # Tuesday, 文化の日
    assert rota.holiday_name(date(2026, 11, 3)) == "文化の日"
    assert on_duty() == []
    with unit_of_work() as s:
        rota.add_exception(s, "minamihoncho", date(2026, 11, 3), "open")
    assert on_duty() == [sato]


def test_the_manual_override_beats_the_rota_both_ways(clock):
    sato, ito = member(), member(name="センター職員 伊藤")
    on_rota(sato)
    clock.tokyo(2026, 11, 2, 10)
    override(sato, False)
    override(ito, True)
    assert on_duty() == [ito]
    clock.tokyo(2026, 11, 2, 22)  # out of hours, but switched on by hand
    assert on_duty() == [ito]
    override(sato, None)
    clock.tokyo(2026, 11, 2, 10)
    assert on_duty() == [sato, ito]


def test_a_dated_exception_closes_a_day_or_hands_a_slot_to_a_substitute(clock):
    sato, ito = member(), member(name="センター職員 伊藤")
    on_rota(sato)
    with unit_of_work() as s:
        rota.add_exception(s, "minamihoncho", date(2026, 11, 9), "closed")
        rota.add_exception(s, "minamihoncho", date(2026, 11, 10), "substitute", staff_id=ito, replaces_id=sato)
    clock.tokyo(2026, 11, 9, 10)  # Monday, closed
    assert on_duty() == []
    clock.tokyo(2026, 11, 10, 10)  # Tuesday: 伊藤 covers for 佐藤
    assert on_duty() == [ito]
    clock.tokyo(2026, 11, 16, 10)  # the Monday after: the rota as usual
    assert on_duty() == [sato]


def test_the_division_on_duty_counts_for_every_centre(clock):
    tanaka = member("division", "市職員 田中")
    on_rota(tanaka, "division", weekdays=(MON,))
    clock.tokyo(2026, 11, 2, 10)
    assert on_duty("takanedai") == [tanaka] and on_duty("minamihoncho") == [tanaka]


def test_when_staff_are_next_on_duty_skips_the_holiday(clock):
    on_rota(member())
    clock.tokyo(2026, 11, 2, 18)  # Monday evening; Tuesday is 文化の日
    with unit_of_work() as s:
        outlook = rota.after_hours(s)
    assert outlook["minamihoncho"] == tokyo(2026, 11, 9, 9)
    assert outlook["takanedai"] is None  # no rota at all


# --- addresses ---------------------------------------------------------------------------------------------------
def test_webhook_urls_must_be_https_except_to_this_machine():
    assert routing.webhook_problem("https://hooks.slack.com/services/T0/B0/x") is None
    assert routing.webhook_problem("http://127.0.0.1:9000/hook") is None
    assert routing.webhook_problem("http://localhost/hook") is None
    assert routing.webhook_problem("http://hooks.example.com/x") is not None
    assert routing.webhook_problem("https://user:pw@hooks.example.com/x") is not None
    assert routing.webhook_problem("ftp://hooks.example.com/x") is not None
    assert routing.webhook_problem("https://") is not None
    assert routing.address_problem("email", "centre@city.example") is None
    assert routing.address_problem("email", "not an address") is not None


def add(centre: str, channel: str, address: str) -> routing.Route:
    with unit_of_work() as s:
        return routing.add_route(s, centre, channel, address, by=None)


def targets(centre: str = "minamihoncho", **kw) -> tuple[set[str], bool]:
    with unit_of_work() as s:
        found = routing.targets(s, centre, **kw)
    return {r.address for r in found.routes}, found.environment


def test_within_the_centres_rota_notices_go_to_the_centre_outside_it_to_the_division(clock):
    on_rota(member())
    add("minamihoncho", "email", "minamihoncho@city.example")
    add("division", "webhook", "https://hooks.example.com/division")
    clock.tokyo(2026, 11, 2, 10)
    assert targets() == ({"minamihoncho@city.example"}, False)
    assert targets(with_division=True) == ({"minamihoncho@city.example", "https://hooks.example.com/division"}, True)
    clock.tokyo(2026, 11, 2, 20)
    assert targets() == ({"https://hooks.example.com/division"}, True)
    clock.tokyo(2026, 11, 3, 10)  # 文化の日
    assert targets() == ({"https://hooks.example.com/division"}, True)


def test_a_centre_without_addresses_falls_back_to_the_division_and_vice_versa(clock):
    on_rota(member())
    clock.tokyo(2026, 11, 2, 10)
    assert targets() == (set(), True)  # the environment's defaults
    add("minamihoncho", "email", "minamihoncho@city.example")
    clock.tokyo(2026, 11, 2, 20)  # the division has no address of its own: the centre's go with the defaults
    assert targets() == ({"minamihoncho@city.example"}, True)


# --- nobody reachable -------------------------------------------------------------------------------------------------
def unreachable(runtime, **config) -> list[str]:
    with unit_of_work() as s:
        return routing.unreachable_centres(s, None, division_defaults(runtime.config.with_(**config)))


def test_an_escalation_can_reach_nobody_without_duty_line_email_or_webhook(runtime, clock):
    assert unreachable(runtime) == ["division", "minamihoncho", "takanedai"]
    assert unreachable(runtime, escalation_webhook_url="https://hooks.example.com/x") == []
    # e-mail addresses need an SMTP server to go out
    assert unreachable(runtime, escalation_email_to="duty@city.example") == ["division", "minamihoncho", "takanedai"]
    sato = member()
    on_rota(sato)
    clock.tokyo(2026, 11, 2, 10)
    assert unreachable(runtime) == ["division", "takanedai"]
    clock.tokyo(2026, 11, 3, 10)  # the holiday
    assert unreachable(runtime) == ["division", "minamihoncho", "takanedai"]
    add("takanedai", "webhook", "https://hooks.example.com/takanedai")  # with no division address: the centre's
    assert unreachable(runtime) == ["division", "minamihoncho"]
    add("division", "webhook", "https://hooks.example.com/division")  # the fallback of every centre
    assert unreachable(runtime) == []


def test_staff_on_duty_without_line_do_not_count_as_reachable(runtime, clock):
    on_rota(member(line=False))
    clock.tokyo(2026, 11, 2, 10)
    assert "minamihoncho" in unreachable(runtime)


def test_the_worker_logs_an_error_once_when_nobody_can_be_reached_and_names_centres_only(runtime, clock, caplog):
    jobs = Jobs(runtime.config)
    sato = member(name="センター職員 佐藤")
    on_rota(sato, "division", weekdays=(MON,))
    clock.tokyo(2026, 11, 2, 10)
    with caplog.at_level(logging.INFO, logger="scheduler.escalation"):
        assert jobs.watch() == []
        clock.tokyo(2026, 11, 2, 20)
        assert jobs.watch() == ["division", "minamihoncho", "takanedai"]
        jobs.watch()
        clock.tokyo(2026, 11, 9, 10)
        assert jobs.watch() == []
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "division,minamihoncho,takanedai" in errors[0].getMessage()
    assert "佐藤" not in caplog.text
    assert any("reach someone again" in r.getMessage() for r in caplog.records)


def test_healthz_full_lists_the_centres_nobody_can_be_reached_at(client, clock):
    on_rota(member(), weekdays=(MON,))
    clock.tokyo(2026, 11, 2, 10)
    assert client.get("/healthz?full=1").json["escalations"] == {"unreachable_centres": ["division", "takanedai"]}


@pytest.mark.parametrize(
    ("role", "centre", "shown"), [("staff", "takanedai", "高根台"), ("viewer", "minamihoncho", None)]
)
def test_the_console_shows_a_red_banner_on_every_page_to_staff_who_read_reports(console, clock, role, centre, shown):
    on_rota(member(), weekdays=(MON,))
    clock.tokyo(2026, 11, 2, 10)
    client, _ = console(role, centre)
    for path in ("/staff/today", "/staff/events", "/staff/account"):
        page = client.get(path).get_data(as_text=True)
        if shown:
            assert 'id="unreachable"' in page and shown in page
        else:
            assert 'id="unreachable"' not in page  # 南本町 is on duty, and this viewer sees only 南本町
