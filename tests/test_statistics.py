"""統計 (issue 18, part 2): a fiscal year's figures per centre, the same after the personal data behind them is
purged; CSV and Excel with small numbers suppressed; charts inline as SVG; each centre sees only its own."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from openpyxl import load_workbook

from scheduler.retention import Purge
from storage import enrollments, feedback, reports, retention, statistics
from storage.clock import now
from storage.db import unit_of_work
from storage.models import AttendanceMark, Enrollment, JoinLink, JoinLinkOpening, StaffMember
from tests.events_support import make_event, make_parent
from tests.scheduler_support import clock  # noqa: F401 — the fixture

DAY = timedelta(days=1)


def seed_year(clock) -> None:
    """Over twelve months at 南本町: a meetup a month with three applicants for two seats (one attends, one does not
    come, one waits), one loss report a month acknowledged after 10 minutes and resolved after 2 hours, and one
    class at 高根台 that 南本町's staff must not see counted."""
    with unit_of_work() as session:
        member = StaffMember(name="職員", login="stats@city.funabashi.example", centre="minamihoncho", role="staff")
        session.add(member)
        session.flush()
        member_id = member.id
    for month in range(12):
        with unit_of_work() as session:
            event = make_event(session, starts_in=timedelta(days=2), capacity=2, kind="meetup")
            parents = [make_parent(session) for _ in range(3)]
            applied = [enrollments.apply(session, event, p.id).enrollment for p in parents]
            session.add(AttendanceMark(enrollment_id=applied[0].id, attended=True, marked_by_staff_id=member_id))
            session.add(AttendanceMark(enrollment_id=applied[1].id, attended=False, marked_by_staff_id=member_id))
            link = JoinLink(enrollment_id=applied[0].id, token_hash=f"{month:064d}", token_sealed=None)
            session.add(link)
            session.flush()
            session.add(JoinLinkOpening(join_link_id=link.id, fingerprint="f" * 64, outcome="open", details_shown=True))
            other = make_event(session, starts_in=timedelta(days=2), centre="takanedai", kind="class")
            enrollments.apply(session, other, make_parent(session, centre="takanedai").id)
            escalation = reports.create_escalation(
                session,
                kind="lost_credentials",
                reference=f"R-{month:06d}",
                parent_id=parents[0].id,
                centre="minamihoncho",
            )
            escalation.acknowledged_at = escalation.created_at + timedelta(minutes=10)
            escalation.resolved_at, escalation.status = escalation.created_at + timedelta(hours=2), "resolved"
            event_id, first_parent = event.id, parents[0].id
        clock.shift(3 * DAY)
        with unit_of_work() as session:
            feedback.record_score(session, first_parent, event_id, 4 + month % 2)
        clock.shift(27 * DAY)


def year_figures(centres=("minamihoncho",)):
    with unit_of_work() as session:
        months = statistics.fiscal_year_months(2026)
        return statistics.merge(statistics.figures_for(session, months, centres, retention.DEFAULTS).values())


@pytest.fixture
def year(clock, app):
    clock.tokyo(2026, 4, 1, 9)
    seed_year(clock)
    return year_figures()


def test_a_year_is_counted_by_kind_and_centre(year):
    assert sum(year["events"].values()) == 12 and year["events"]["meetup"] == 12
    assert year["applications"]["meetup"] == 36 and year["confirmed"]["meetup"] == 24
    assert year["waitlisted"]["meetup"] == 12
    assert (year["attended"]["meetup"], year["no_shows"]["meetup"], year["opened"]["meetup"]) == (12, 12, 12)
    assert year["registrations"]["guardian"] == 36
    assert year["reports"]["lost_credentials"] == 12
    assert statistics.quantile(year["ack_minutes"]["lost_credentials"], 0.5) == 10
    assert statistics.quantile(year["resolve_minutes"]["lost_credentials"], 0.9) == 120
    assert (year["scores"]["4"], year["scores"]["5"]) == (6, 6)
    assert year["events"]["class"] == 0, "高根台's class is not 南本町's"


def test_purging_the_years_personal_data_leaves_its_statistics_unchanged(clock, year):
    purge = Purge(retention.DEFAULTS)
    purge.run()  # the nightly run keeps each month before anything of it can go
    clock.shift(3 * 365 * DAY + 30 * DAY)  # past every period: participants, openings, feedback, reports
    removed = purge.run()
    assert removed["participants"] > 0 and removed["reports"] == 12 and removed["feedback"] == 12
    with unit_of_work() as session:
        assert session.query(Enrollment).count() == 0
    assert year_figures() == year


def test_a_month_still_changing_is_counted_live(clock, app):
    clock.tokyo(2026, 5, 10, 10)
    with unit_of_work() as session:
        parent = make_parent(session)
        escalation = reports.create_escalation(
            session, kind="equipment_loan", reference="L-000001", parent_id=parent.id, centre="minamihoncho"
        )
        escalation_id = escalation.id
    clock.shift(40 * DAY)
    with unit_of_work() as session:
        statistics.snapshot_months(session, retention.DEFAULTS)
    with unit_of_work() as session:
        from storage.models import Escalation

        session.get(Escalation, escalation_id).acknowledged_at = now()
    figures = year_figures()
    assert figures["reports"]["equipment_loan"] == 1 and len(figures["ack_minutes"]["equipment_loan"]) == 1


def test_centre_staff_see_their_centre_only_and_administrators_every_centre(year, console):
    client, _ = console("staff", "minamihoncho")
    page = client.get("/staff/statistics?period=FY2026")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "<svg" in text and "月別の参加確定者数" in text and "<style" not in text.split("<main", 1)[1]
    assert client.get("/staff/statistics?period=FY2026&centre=takanedai").status_code == 404
    assert client.get("/staff/statistics?period=FY2026&centre=all").status_code == 404
    admin, _ = console("admin", "division")
    every = admin.get("/staff/statistics?period=FY2026&centre=all").get_data(as_text=True)
    classes = re.search(r'id="table-events".*?講座</td><td class="num">(\d+)</td>', every, re.S)
    assert classes and classes.group(1) == "12"


def test_exports_suppress_counts_under_five(year, console):
    client, _ = console("staff", "minamihoncho")
    csv = client.get("/staff/statistics/events.csv?period=2026-04").get_data(as_text=True)
    meetups = next(line for line in csv.splitlines() if line.startswith("交流会"))
    assert meetups.split(",")[1:10] == ["5未満", "0", "5未満", "5未満", "5未満", "0", "5未満", "5未満", "5未満"]
    assert meetups.split(",")[10] == "50.0%", "rates are not counts"
    workbook = load_workbook(io.BytesIO(client.get("/staff/statistics.xlsx?period=FY2026").data))
    rows = list(workbook["イベント（種類別）"].iter_rows(values_only=True))
    assert rows[1][0] == "種類" and rows[2][0] == "交流会" and rows[2][1] == 12
    months = list(workbook["月別の推移"].iter_rows(values_only=True))
    assert "5未満" in months[2]


def test_a_period_that_makes_no_sense_is_not_found(console, app):
    client, _ = console("admin", "division")
    assert client.get("/staff/statistics?period=2026-13").status_code == 404
    assert client.get("/staff/statistics?period=yesterday").status_code == 404
    assert client.get("/staff/statistics/passwords.csv").status_code == 404


def test_a_chart_of_counts_has_whole_numbers_on_its_axis():
    import re as regex

    from bot.staff.charts import Bar, bar_chart

    svg = str(bar_chart("人数", [Bar("4月", 1), Bar("5月", 3), Bar("6月", 2)], "人"))
    ticks = regex.findall(r'text-anchor="end"[^>]*>([^<]+)<', svg)
    assert ticks == ["0", "1", "2", "3", "4"]
    assert "<script" not in svg and "style=" not in svg
