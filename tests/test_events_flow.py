"""イベント一覧 end to end: a parent in a LINE chat (webhook → dispatch → outbox → the LINE double) browses, reads the
details, and applies — or is kindly refused: outside the window, not in the target, barred, without consent."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from handlers.postback import encode
from services.events.operations import apply
from storage import crypto
from storage.db import unit_of_work
from storage.models import AnnouncementOptIn, Enrollment, Event, JoinLink, Parent
from tests.events_support import bar, enrollment_of, leaks, make_event, make_parent, planned, texts_of
from tests.support import _flex_actions, new_user_id

pytestmark = pytest.mark.usefixtures("app")  # a migrated database, emptied after each test

EVENTS = encode("events", "start")


def open_list(person):
    """イベント一覧 from the menu; half-way through the flow the engine first asks 続きから／最初から."""
    listing = person.tap(EVENTS)
    if "最初から" in person.choices(listing):
        listing = person.choose(listing, "最初から")
    return listing


def open_details(person, title: str | None = None):
    listing = open_list(person)
    if title is not None:
        assert title in texts_of(listing)
    return person.choose(listing, "詳しく見る")


def setup(**event_options):
    uid = new_user_id()
    parent_options = {k: event_options.pop(k) for k in ("child_months", "consent", "pregnant") if k in event_options}
    with unit_of_work() as session:
        parent = make_parent(session, uid, **parent_options)
        event = make_event(session, **event_options)
        return uid, parent.id, event.id


def test_a_parent_applies_within_the_window_and_gets_a_personal_link(chat, line):
    uid, parent_id, event_id = setup(ages=(0, 11))
    parent = chat(uid)
    details = open_details(parent, "ねんねの赤ちゃん交流会")
    assert "定員：10名（残り10名）" in texts_of(details)
    confirm = parent.choose(details, "申し込む")
    assert "録画・録音・撮影やSNSへの投稿をしないこと" in texts_of(confirm)
    done = parent.choose(confirm, "申し込む")
    said = texts_of(done)
    assert "参加が確定です" in said and "参加が確定しました" in said
    buttons = parent.choices(done)
    join_url = buttons["参加用ページを開く"]["uri"]
    assert join_url.startswith("https://bot.example.test/j/")
    assert buttons["カレンダーに追加"]["uri"].endswith(".ics")
    token = join_url.rsplit("/", 1)[1]
    assert len(token) >= 43  # 256 bits
    with unit_of_work() as session:
        assert enrollment_of(session, event_id, parent_id).status == "confirmed"
        link = session.scalars(select(JoinLink)).one()
        # Only a hash finds the token; the stored copy is sealed.
        assert link.token_hash == crypto.token_hash(token) and token not in link.token_sealed
        assert len(planned(session, "join_link")) == 1
    assert leaks(str(line.delivered())) == []


def test_the_list_counts_its_events_and_gives_pages_only_when_there_are_more(chat):
    uid, _, _ = setup(ages=(0, 11))
    parent = chat(uid)
    assert "これからのイベントです（1件）。" in texts_of(open_list(parent))
    with unit_of_work() as session:
        for _ in range(10):
            make_event(session, ages=(0, 11))
    assert "これからのイベントです（1〜10件目／全11件）。" in texts_of(open_list(parent))


def test_applications_are_refused_before_the_window_opens_and_after_it_closes(chat):
    uid, _, event_id = setup(opens_in=timedelta(days=1))
    details = open_details(chat(uid))
    assert "申し込み受付は" in texts_of(details) and "からです" in texts_of(details)
    assert "申し込む" not in chat(uid).choices(details)
    with unit_of_work() as session:
        closed = make_event(
            session,
            title="締切ずみの講座",
            opens_in=-timedelta(days=5),
            starts_in=timedelta(hours=2),
            closes_before=timedelta(hours=3),
        )
        closed_id = closed.id
    person = chat(uid)
    listing = open_list(person)
    detail = person.tap(next(a["data"] for a in _detail_buttons(listing) if f"|{closed_id}|" in a["data"]))
    assert "受付は終了しました" in texts_of(detail)
    with unit_of_work() as session:
        assert session.scalars(select(Enrollment)).all() == []
    assert event_id


def _detail_buttons(messages):
    return [a for m in messages for a in _flex_actions(m.get("contents")) if a.get("label") == "詳しく見る"]


def test_a_parent_outside_the_target_is_told_kindly_and_cannot_apply(chat):
    uid, _, _ = setup(ages=(0, 11), child_months=(30,))
    person = chat(uid)
    listing = person.tap(EVENTS)
    assert "ご登録の内容では対象外" in texts_of(listing)
    details = person.choose(listing, "詳しく見る")
    assert "対象は「0か月〜11か月のお子さんと保護者」です" in texts_of(details)
    assert "申し込む" not in person.choices(details)


def test_a_barred_parent_cannot_apply(chat):
    uid, parent_id, event_id = setup()
    with unit_of_work() as session:
        bar(session, session.get(Parent, parent_id))
    details = open_details(chat(uid))
    assert "お申し込みいただけません" in texts_of(details)
    with unit_of_work() as session:
        assert enrollment_of(session, event_id, parent_id) is None


def test_a_parent_without_consent_is_taken_to_the_consent_flow_and_nothing_is_applied(chat):
    uid, parent_id, event_id = setup(consent=False)
    person = chat(uid)
    details = open_details(person)
    answer = person.choose(details, "申し込む")
    assert "ポリシー" in texts_of(answer)
    assert "次へ" in person.choices(answer)
    with unit_of_work() as session:
        assert enrollment_of(session, event_id, parent_id) is None


def test_a_double_tap_on_apply_makes_one_application_and_one_link(chat, line):
    uid, parent_id, event_id = setup()
    person = chat(uid)
    confirm = person.choose(open_details(person), "申し込む")
    data = person.choices(confirm)["申し込む"]["data"]
    person.tap(data)
    second = person.tap(data)
    assert "古い" in texts_of(second)
    with unit_of_work() as session:
        assert len(session.scalars(select(Enrollment)).all()) == 1
        assert len(session.scalars(select(JoinLink)).all()) == 1
        assert len(planned(session, "join_link")) == 1


def test_a_full_event_offers_the_waitlist(chat):
    uid, parent_id, event_id = setup(capacity=1)
    with unit_of_work() as session:
        other = make_parent(session)
        apply(session, other, session.get(Event, event_id), base_url="https://bot.example.test")
    person = chat(uid)
    details = open_details(person)
    assert "満席（キャンセル待ち0名）" in texts_of(details)
    confirm = person.choose(details, "キャンセル待ちに登録")
    done = person.choose(confirm, "キャンセル待ちに登録する")
    assert "キャンセル待ちに登録しました" in texts_of(done)
    with unit_of_work() as session:
        assert enrollment_of(session, event_id, parent_id).status == "waitlisted"
        assert planned(session, "join_link")[-1].line_user_id != uid


def test_an_unregistered_person_can_browse_and_is_asked_to_register_before_applying(chat):
    with unit_of_work() as session:
        make_event(session)
    person = chat()
    details = open_details(person, "ねんねの赤ちゃん交流会")
    answer = person.choose(details, "申し込む")
    assert "登録" in texts_of(answer)


def test_announcement_wishes_are_kept_per_centre(chat):
    uid, parent_id, _ = setup()
    person = chat(uid)
    listing = person.tap(EVENTS)
    settings = person.choose(listing, "お知らせ設定")
    turned = person.choose(settings, "南本町：受け取る")
    assert "南本町子育て支援センター：受け取る" in texts_of(turned)
    person.choose(turned, "高根台：受け取る")
    with unit_of_work() as session:
        centres = set(session.scalars(select(AnnouncementOptIn.centre).where(AnnouncementOptIn.parent_id == parent_id)))
    assert centres == {"minamihoncho", "takanedai"}
