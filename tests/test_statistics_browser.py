"""統計 in headless Chromium, as an administrator preparing the division's report: pick a fiscal year, read the
charts and tables, download the Excel file. The page must load nothing from elsewhere and break no CSP rule.

Set UPDATE_SCREENSHOTS=1 to refresh docs/screenshots/staff-statistics.png from this run.
"""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook

from tests.scheduler_support import clock  # noqa: F401 — the fixture
from tests.test_staff_browser import page, served, shoot, sign_in  # noqa: F401 — fixtures
from tests.test_statistics import seed_year

pytestmark = pytest.mark.browser


def test_an_administrator_reads_the_year_and_downloads_it_for_the_report(page, served, shoot, staff_factory, clock):
    from playwright.sync_api import expect

    clock.tokyo(2026, 4, 1, 9)
    seed_year(clock)
    admin = staff_factory("admin", "division")
    sign_in(page, served, admin)
    page.get_by_role("link", name="統計").click()
    page.get_by_label("期間").select_option("FY2026")
    page.get_by_label("センター").select_option("minamihoncho")
    page.get_by_role("button", name="表示").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("2026年度")
    expect(page.locator("svg.chart")).to_have_count(3)
    expect(page.locator("#table-events tbody tr").first).to_contain_text("交流会")
    expect(page.get_by_role("img", name="種類別の出席率")).to_be_visible()
    shoot(page, "statistics")
    with page.expect_download() as download:
        page.get_by_role("link", name="Excelで出力").click()
    workbook = load_workbook(io.BytesIO(open(download.value.path(), "rb").read()))
    assert "満足度（アンケート）" in workbook.sheetnames
    page.emulate_media(media="print")
    expect(page.get_by_role("button", name="表示")).to_be_hidden()
