"""お知らせを送る in headless Chromium, as a centre's staff member uses it: write the message, choose the centre's
parents, check the count and the preview (drawn by the simulator's renderer), send, and read the delivery report
once the LINE double has taken it. The page loads nothing from elsewhere and breaks no CSP rule (the ``page``
fixture fails the test otherwise).

Set UPDATE_SCREENSHOTS=1 to refresh docs/screenshots/staff-broadcast*.png from this run.
"""

from __future__ import annotations

import pytest

from tests.test_staff_browser import page, served, shoot, sign_in  # noqa: F401 — fixtures

pytestmark = pytest.mark.browser


def test_staff_send_a_notice_to_their_centres_parents_and_read_what_became_of_it(
    page, served, shoot, staff_factory, parent_factory, runtime, line
):
    from playwright.sync_api import expect

    for _ in range(3):
        parent_factory(centre="minamihoncho")
    parent_factory(centre="takanedai")
    member = staff_factory("staff", "minamihoncho")
    sign_in(page, served, member)
    page.get_by_role("link", name="お知らせ").click()
    page.get_by_role("link", name="お知らせを送る").click()
    page.get_by_label("本文").fill("明日の交流会は、台風のためお休みします。")
    page.get_by_label("センターの保護者").check()
    page.get_by_role("button", name="人数とプレビューを確認").click()
    expect(page.locator("#broadcast-count")).to_contain_text("3人に送ります")
    bubble = page.locator(".line-preview .sim-bubble").first
    expect(bubble).to_contain_text("台風のためお休みします")
    expect(bubble).to_contain_text("南本町子育て支援センターからのお知らせです")
    expect(page.locator(".line-preview-chip")).to_have_text("お知らせの停止")
    shoot(page, "broadcast-preview")
    page.get_by_role("button", name="この内容で送信する").click()
    expect(page.locator("#broadcast-status")).to_have_text("送信済み")
    runtime.drain()
    page.reload()
    expect(page.locator("#report-sent")).to_have_text("3")
    expect(page.locator("#report-failed")).to_have_text("0")
    shoot(page, "broadcast-report")
    [call] = line.requests(r"/v2/bot/message/multicast$")
    assert len(call["json"]["to"]) == 3
