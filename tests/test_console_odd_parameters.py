"""Odd query parameters of console pages are answered as not found or as the nearest page, never with an error page
(second outside probe of issue 13: a year 1 period and a page number beyond any integer the database holds)."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("period", ["0001-01", "FY0001", "9999-12", "FY9999"])
@pytest.mark.parametrize("page", ["/staff/statistics", "/staff/statistics.xlsx", "/staff/statistics/events.csv"])
def test_a_period_outside_the_calendar_the_bot_can_have_is_not_found(console, period, page):
    client, _ = console("admin", "division")
    assert client.get(f"{page}?period={period}").status_code == 404


def test_an_audit_page_beyond_the_last_shows_the_last(console):
    client, _ = console("admin", "division")
    assert client.get("/staff/audit?page=" + "9" * 30).status_code == 200
