"""The simulator page in headless Chromium, as a person uses it: add the bot as a friend, type, tap chips and cards.

Set UPDATE_SCREENSHOTS=1 to refresh docs/screenshots/simulator.png from this run.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from bot.demo.simulator import BY_KEY
from handlers.postback import encode
from handlers.replies import Card, Carousel, Choice
from runtime.render import render
from tests.browser_support import serving

pytestmark = pytest.mark.browser

SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "screenshots" / "simulator.png"


@pytest.fixture
def served(app, line):
    """The test app on a real port; with inline processing off, the simulator answers within each request."""
    app.extensions["line_double"] = line
    with serving(app, "simulator-test-web") as url:
        yield url


def event_cards() -> list[dict]:
    cards = (
        Card(
            "ほっとひと息 オンライン交流会",
            ("6月12日（木）10:30〜11:15", "南本町子育て支援センター", "0〜1歳のお子さんと保護者"),
            (
                Choice("申し込む", data=encode("events", "apply", "1"), display="交流会に申し込む"),
                Choice("センターの案内", uri="https://www.city.funabashi.lg.jp/"),
            ),
        ),
        Card(
            "離乳食のはなし（講座）",
            ("6月19日（木）14:00〜14:45", "高根台子育て支援センター"),
            (Choice("申し込む", data=encode("events", "apply", "2"), display="講座に申し込む"),),
        ),
    )
    more = (
        Choice("ほかのイベント", data=encode("events", "more"), display="ほかのイベントを見る"),
        Choice("メニュー", text="メニュー"),
    )
    return render(Carousel(cards, alt="イベント一覧", quick=more))


def test_a_parent_chats_with_the_bot_in_the_simulator(browser, served, runtime, tmp_path):
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 400, "height": 860}, device_scale_factor=2)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.goto(served + "/simulator/")
    chat = page.locator("#chat")
    bot_rows = page.locator(".sim-row-bot")
    user_bubbles = page.locator(".sim-bubble-user")

    page.get_by_role("button", name="友だち追加").click()
    expect(chat).to_contain_text("友だち追加しました")
    expect(chat).to_contain_text("友だち追加ありがとうございます")

    greeted = bot_rows.count()
    page.locator("#text").fill("こんにちは")
    page.locator("#text").press("Enter")
    expect(user_bubbles.last).to_have_text("こんにちは")
    expect(bot_rows).not_to_have_count(greeted)
    expect(page.locator("#text")).to_have_value("")

    chip = page.locator(".sim-chip").first
    expect(chip).to_be_visible()
    answered, said = bot_rows.count(), user_bubbles.count()
    chip.click()
    expect(user_bubbles).to_have_count(said + 1)
    expect(bot_rows).not_to_have_count(answered)
    page.screenshot(path=str(tmp_path / "simulator.png"))
    if os.environ.get("UPDATE_SCREENSHOTS"):
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT))

    # A message the bot pushes (an event list) appears as a carousel whose buttons work.
    assert runtime.gateway.push(BY_KEY["sakura"].user_id, event_cards(), str(uuid.uuid4())).delivered
    carousel = page.locator(".sim-carousel")
    expect(carousel.locator(".fx-bubble")).to_have_count(2)
    expect(carousel).to_contain_text("ほっとひと息 オンライン交流会")
    expect(carousel.locator(".fx-primary")).to_have_count(2)
    answered = bot_rows.count()
    carousel.get_by_role("button", name="申し込む").first.click()
    expect(user_bubbles.last).to_have_text("交流会に申し込む")
    expect(bot_rows).not_to_have_count(answered)

    # Another persona has a chat of their own; coming back restores the first one.
    page.get_by_role("tab", name="はるか").click()
    expect(chat).to_contain_text("友だち追加")
    expect(page.locator(".sim-bubble-user")).to_have_count(0)
    page.get_by_role("tab", name="さくら").click()
    expect(user_bubbles.last).to_have_text("交流会に申し込む")
    assert errors == []
