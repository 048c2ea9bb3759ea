"""The join page in headless Chromium on a phone-sized screen: the rules come first, the details only after the tap
and only inside the window, and a revoked link explains itself kindly."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from services.events import operations as event_service
from storage import join_links
from storage.db import unit_of_work
from tests.browser_support import serving
from tests.events_support import CONFERENCE, leaks, make_event, make_parent
from tests.test_joinlink import APPLIED_AT, BASE, START

pytestmark = pytest.mark.browser


@pytest.fixture
def served(app):
    with serving(app, "joinlink-test-web") as url:
        yield url


def tokens(count: int) -> list[str]:
    with time_machine.travel(APPLIED_AT, tick=False), unit_of_work() as session:
        event = make_event(session, starts_in=START - APPLIED_AT)
        found = []
        for _ in range(count):
            enrollment = event_service.apply(session, make_parent(session), event, base_url=BASE).enrollment
            found.append(join_links.token_of(join_links.live(session, enrollment.id)))
        return found


def test_a_parent_opens_their_join_page_on_a_phone(browser, served):
    from playwright.sync_api import expect

    mine, revoked = tokens(2)
    with unit_of_work() as session:
        link = join_links.resolve(session, revoked)
        join_links.revoke(session, link.enrollment_id, "lost")
    page = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    with time_machine.travel(START - timedelta(minutes=30), tick=False):
        page.goto(f"{served}/j/{mine}")
        expect(page.locator("#message")).to_contain_text("開始15分前（09:45）から表示します")
        assert page.locator("#reveal").count() == 0
        assert leaks(page.content()) == []
    with time_machine.travel(START - timedelta(minutes=5), tick=False):
        page.goto(f"{served}/j/{mine}")
        expect(page.locator("#rules")).to_contain_text("録画・録音・撮影")
        expect(page.locator("#rules")).to_contain_text("ほかの人に渡したり")
        assert leaks(page.content()) == []
        page.locator("#reveal").click()
        expect(page.locator("#passcode")).to_have_text(CONFERENCE["passcode"])
        expect(page.locator("#meeting-id")).to_have_text(CONFERENCE["meeting_id"])
        button = page.locator("#join-button")
        expect(button).to_have_attribute("href", CONFERENCE["join_url"])
        expect(button).to_have_attribute("rel", "noopener noreferrer")
        rules_box, button_box = page.locator("#rules").bounding_box(), button.bounding_box()
        assert rules_box["y"] + rules_box["height"] <= button_box["y"]  # the rules are read first
        assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling on a phone
        page.locator("#switch-lang").click()
        expect(page.locator("h1")).to_have_text("Join page")
        page.goto(f"{served}/j/{revoked}")
        expect(page.locator("#message")).to_contain_text("このリンクでは、ご案内できません")  # any dead link
        assert leaks(page.content()) == []
    with time_machine.travel(START + timedelta(hours=2), tick=False):
        page.goto(f"{served}/j/{mine}")
        expect(page.locator("#message")).to_contain_text("終了しました")
        assert leaks(page.content()) == []
    assert errors == []
