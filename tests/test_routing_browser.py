"""当番・通知先 in headless Chromium: with nobody on duty and no address, every page shows the red banner; a centre's
staff member puts themself on the weekday rota and the banner goes.

Set UPDATE_SCREENSHOTS=1 to refresh docs/screenshots/staff-routing.png from this run.
"""

from __future__ import annotations

import pytest

from storage import users
from storage.db import unit_of_work
from storage.models import StaffMember
from tests.scheduler_support import clock  # noqa: F401 — the fixture
from tests.test_staff_browser import page, served, shoot, sign_in  # noqa: F401 — fixtures

pytestmark = pytest.mark.browser


def test_staff_put_themselves_on_the_rota_and_the_red_banner_goes(page, served, shoot, staff_factory, clock):
    from playwright.sync_api import expect

    clock.tokyo(2026, 11, 2, 10)  # Monday
    member = staff_factory("staff", "takanedai", name="センター職員 佐藤")
    with unit_of_work() as s:
        s.get(StaffMember, member.id).line_user_pk = users.get_or_create(s, "U" + "5" * 32).id
    sign_in(page, served, member)
    banner = page.get_by_role("alert").filter(has_text="いま報告・相談が届く人がいません")
    expect(banner).to_contain_text("高根台")
    page.get_by_role("link", name="当番・通知先").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("高根台")
    page.get_by_label("職員").first.select_option(label="センター職員 佐藤（高根台子育て支援センター）")
    for day in "月火水木金":
        page.get_by_label(day, exact=True).check()
    page.get_by_label("開始").fill("9:00")
    page.get_by_label("終了").fill("17:00")
    page.get_by_role("button", name="当番表に追加").click()
    expect(page.get_by_role("status")).to_contain_text("当番表に追加しました")
    expect(page.locator("#now")).to_contain_text("センター職員 佐藤")
    expect(page.locator("#unreachable")).to_have_count(0)
    expect(page.locator("#exceptions")).to_contain_text("文化の日")
    shoot(page, "routing")
