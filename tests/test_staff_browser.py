"""The staff console in headless Chromium, as staff use it: sign in, create an event, see a parent's application
arrive from the LINE chat, export the list, remove and bar a parent under policy 6, export and erase a parent's data.

Set UPDATE_SCREENSHOTS=1 to refresh docs/screenshots/staff-*.png from this run.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from handlers.postback import encode
from storage import audit
from storage.db import unit_of_work
from tests.browser_support import serving

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"


@pytest.fixture
def served(app):
    with serving(app, "staff-console-test-web") as url:
        yield url


@pytest.fixture
def shoot(tmp_path):
    folder = SCREENSHOTS if os.environ.get("UPDATE_SCREENSHOTS") == "1" else tmp_path

    def take(page, name: str) -> None:
        page.screenshot(path=str(folder / f"staff-{name}.png"), full_page=True)

    return take


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="ja-JP", accept_downloads=True)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    # A CSP violation is reported on the console; a missing resource is reported below with its address.
    tab.on(
        "console",
        lambda message: (
            errors.append(message.text)
            if message.type == "error" and not message.text.startswith("Failed to load resource")
            else None
        ),
    )
    tab.on(
        "response",
        lambda response: (
            errors.append(f"{response.status} {response.url}")
            if response.status >= 400 and not response.url.endswith("/favicon.ico")
            else None
        ),
    )
    yield tab
    context.close()
    assert errors == []


def sign_in(page, served, account) -> None:
    from playwright.sync_api import expect

    page.goto(served + "/staff/login")
    page.get_by_label("ログインID（メールアドレス）").fill(account.login)
    page.get_by_label("パスワード").fill(account.password)
    page.get_by_role("button", name="ログイン").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("今日")


def apply_in_the_chat(person) -> None:
    """The parent's side, through the webhook: イベント一覧 → 詳しく見る → 申し込む → 申し込む."""
    listing = person.tap(encode("events", "start"))
    details = person.choose(listing, "詳しく見る")
    confirm = person.choose(details, "申し込む")
    done = person.choose(confirm, "申し込む")
    assert "参加が確定" in person.texts(done)


def test_staff_carry_out_the_main_tasks(page, served, shoot, staff_factory, parent_factory, chat, line):
    from playwright.sync_api import expect

    admin = staff_factory("admin", name="地域 太郎")
    page.goto(served + "/staff/login")
    shoot(page, "login")
    sign_in(page, served, admin)

    # Create an event and publish it at once.
    page.get_by_role("link", name="イベント", exact=True).click()
    page.get_by_role("link", name="イベントを作成").click()
    page.get_by_label("主催").select_option("minamihoncho")
    page.get_by_label("タイトル").fill("ほっとひと息 オンライン交流会")
    page.get_by_label("内容（保護者に表示されます）").fill("おうちから気軽に参加できる交流会です。")
    page.get_by_label("定員").fill("6")
    page.get_by_label("参加URL").fill("https://zoom.example.test/j/81234567890")
    page.get_by_label("ミーティングID").fill("812 3456 7890")
    page.get_by_label("パスコード（保存後は表示されません。変えるときだけ入力）").fill("hiyoko-2024")
    page.get_by_label("作成してすぐに公開する").check()
    shoot(page, "event-form")
    page.get_by_role("button", name="作成する").click()
    expect(page.locator(".flash")).to_contain_text("イベントを1件作成しました")
    expect(page.get_by_role("heading", level=1)).to_contain_text("公開中")
    assert "hiyoko-2024" not in page.content()
    shoot(page, "event")

    # A parent applies in the LINE chat; the application shows up on the participants page.
    person = chat()
    parent_factory(name="船橋 花子", furigana="ふなばし はなこ", phone="09012345678", line_user_id=person.user_id)
    apply_in_the_chat(person)
    page.get_by_role("link", name="参加者・キャンセル待ち").click()
    expect(page.locator("table.list")).to_contain_text("船橋 花子")
    expect(page.locator("table.list")).to_contain_text("参加確定")
    expect(page.locator("table.list")).to_contain_text("参加用リンク：")
    shoot(page, "participants")

    # Export the list as CSV.
    with page.expect_download() as download:
        page.get_by_role("link", name="CSVで出力").click()
    content = Path(download.value.path()).read_bytes()
    assert content.startswith(b"\xef\xbb\xbf") and "船橋 花子".encode() in content
    assert "番号,状態,氏名,ふりがな,電話番号".encode() in content

    # Remove her under policy 6 and refuse further participation; she is told in the chat.
    page.get_by_role("link", name="退去・参加制限").click()
    page.get_by_label("6-(4) 映像・写真・音声のSNS等への投稿").check()
    page.get_by_label("メモ（経緯など。ご本人には送られません）").fill("交流会の画面写真をSNSに投稿")
    page.get_by_label("以後のイベントへの参加も断る").check()
    shoot(page, "remove")
    page.get_by_role("button", name="退去させる").click()
    expect(page.locator(".flash")).to_contain_text("退去させました")
    person.runtime.drain()
    told = person.texts(person.new_messages())
    assert "6-(4)" in told and "SNSに投稿" not in told

    # Her record: export everything held, then erase it.
    page.get_by_role("link", name="船橋 花子").click()
    expect(page.locator("h1")).to_contain_text("船橋 花子")
    expect(page.locator("h1")).to_contain_text("参加制限中")
    shoot(page, "parent")
    with page.expect_download() as download:
        page.get_by_role("button", name="保有データを出力（JSON）").click()
    exported = Path(download.value.path()).read_text(encoding="utf-8")
    assert "船橋 花子" in exported and "09012345678" in exported
    page.locator("#confirm-erase").check()
    page.get_by_role("button", name="個人情報を削除する").click()
    expect(page.locator("h1")).to_contain_text("削除済み")
    assert "船橋 花子" not in page.content()

    # Every step is in the audit log.
    page.get_by_role("link", name="監査ログ").click()
    for label in ("イベント", "保護者情報の削除", "保有個人データの開示（出力）", "参加者一覧の閲覧"):
        expect(page.locator("table.list")).to_contain_text(label)
    shoot(page, "audit")
    with unit_of_work() as s:
        assert audit.count(s, audit.Filter(action_prefix="sanction.remove")) == 1


def test_the_other_pages_render_and_print(page, served, shoot, staff_factory, parent_factory, event_factory):
    from playwright.sync_api import expect

    admin = staff_factory("admin", name="地域 太郎")
    staff_factory("staff", "minamihoncho", name="南本町 花子")
    staff_factory("viewer", "takanedai", name="高根台 次郎")
    event_factory(centre="minamihoncho", title="ねんねの赤ちゃん交流会")
    event_factory(centre="takanedai", title="離乳食のはなし（講座）", needs_approval=True)
    parent_factory(name="習志野 ゆき", furigana="ならしの ゆき")
    sign_in(page, served, admin)
    expect(page.locator("main")).to_contain_text("ねんねの赤ちゃん交流会")
    shoot(page, "today")
    page.get_by_role("link", name="保護者", exact=True).click()
    page.get_by_label("氏名・ふりがな・電話番号の一部").fill("ならしの")
    page.get_by_role("button", name="検索").click()
    expect(page.locator("table.list")).to_contain_text("習志野 ゆき")
    assert "ならしの" not in page.url
    shoot(page, "parents")
    page.get_by_role("link", name="ポリシー", exact=True).click()
    expect(page.locator("main")).to_contain_text("版ごとの回答")
    shoot(page, "policy")
    page.get_by_role("link", name="職員", exact=True).click()
    expect(page.locator("table.list")).to_contain_text("南本町 花子")
    shoot(page, "members")
    page.goto(served + "/staff/account")
    shoot(page, "account")
    # Printing hides the menu and the forms, and says who printed.
    page.goto(served + "/staff/events")
    page.emulate_media(media="print")
    expect(page.locator(".topbar")).to_be_hidden()
    expect(page.locator(".print-footer")).to_be_visible()
    expect(page.locator(".print-footer")).to_contain_text("地域 太郎")
    shoot(page, "events-print")


def test_staff_take_a_loss_report_and_instruct_the_parent(
    page, served, shoot, staff_factory, parent_factory, event_factory, chat
):
    from playwright.sync_api import expect

    from services.events import operations as event_service
    from services.reports import operations as report_service
    from storage import events
    from storage.models import Parent

    person = chat()
    parent_id = parent_factory(name="船橋 花子", line_user_id=person.user_id)
    event_id = event_factory(centre="minamihoncho", title="ねんねの赤ちゃん交流会")
    with unit_of_work() as s:
        parent = s.get(Parent, parent_id)
        event_service.apply(s, parent, events.get(s, event_id), base_url="https://bot.example.test")
        # What the chat's 紛失・盗難の報告 files when the parent confirms.
        report_service.file_report(
            s,
            parent,
            report_service.FileReport(
                reference="R-7KQ2MX",
                lost="join_link",
                lost_when="today",
                misuse="unsure",
                event_ids=(event_id,),
                note="スマホを電車に置き忘れました",
                base_url="https://bot.example.test",
            ),
        )
    person.runtime.drain()
    person.new_messages()
    sign_in(page, served, staff_factory("staff", "minamihoncho", name="南本町 花子"))
    expect(page.locator("main")).to_contain_text("R-7KQ2MX")
    page.get_by_role("link", name="報告・相談").click()
    page.get_by_role("link", name="R-7KQ2MX").click()
    expect(page.locator("main")).to_contain_text("スマホを電車に置き忘れました")
    page.get_by_role("button", name="対応します").click()
    expect(page.locator(".flash")).to_contain_text("対応中にしました")
    page.get_by_label("ご本人への連絡・指示（このままLINEで届きます）").fill("お電話でご本人確認をさせてください。")
    page.get_by_role("button", name="LINEで送る").click()
    expect(page.locator(".flash")).to_contain_text("ご本人のトークにお送りします")
    shoot(page, "escalation")
    person.runtime.drain()
    assert "お電話でご本人確認をさせてください。" in person.texts(person.new_messages())
    page.get_by_label("新しい参加用リンクを送って解決する").check()
    page.get_by_role("button", name="解決にする").click()
    expect(page.locator("h1")).to_contain_text("対応が終わりました")
    person.runtime.drain()
    assert "参加用ページを開く" in person.choices(person.new_messages())
