"""Personal links at rest (issue 13, items 5 and 6; item 12's join page without a meeting ID).

Whoever reads the database or a backup must not find a live join or calendar token in clear: planned messages name
the link by reference and the sender fills the token in just before sending; a message's body goes when it ends.
A dead link (unknown, revoked, erased, of a cancelled event) gets one page that says nothing of the event or of
why, and its openings are not recorded; erasure clears the sealed token itself."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import time_machine
from sqlalchemy import JSON, String, Text, func, select, update

from handlers.postback import encode
from handlers.replies import Choice
from handlers.replies import Text as TextReply
from runtime import delivery
from runtime.line_gateway import Outcome
from runtime.render import render_all
from services.events import operations as event_service
from storage import crypto, join_links, outbox, staff_parents
from storage.db import unit_of_work
from storage.models import Base, Enrollment, Event, JoinLink, JoinLinkOpening, OutboxMessage, Parent
from tests.events_support import make_event, make_parent
from tests.scheduler_support import clock, event_at, join, row, tokyo, worker  # noqa: F401 (fixtures)
from tests.support import new_user_id

BASE = "https://bot.example.test"
GONE = "このリンクでは、ご案内できません"
PHONE = "047-436-2111"
TOKEN_IN_URL = re.compile(r"/(?:j|c)/([A-Za-z0-9_-]{32,64})")


def stored_text() -> dict[str, list[str]]:
    """Every string and JSON value of every table, by "table.column" (as the erasure tests scan)."""
    found: dict[str, list[str]] = {}
    with unit_of_work() as s:
        for table in Base.metadata.sorted_tables:
            columns = [c for c in table.columns if isinstance(c.type, (String, Text, JSON))]
            for values in s.execute(select(*columns)) if columns else ():
                for column, value in zip(columns, values, strict=True):
                    if value is not None:
                        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
                        found.setdefault(f"{table.name}.{column.name}", []).append(text)
    return found


def live_tokens() -> set[str]:
    """Every token that opens something now: live join links and calendar addresses."""
    with unit_of_work() as s:
        joins = {join_links.token_of(link) for link in s.scalars(select(JoinLink).where(JoinLink.revoked_at.is_(None)))}
        calendars = {
            crypto.unseal(v)
            for v in s.scalars(
                select(Enrollment.calendar_token_sealed).where(Enrollment.calendar_token_sealed.is_not(None))
            )
        }
    return joins | calendars


def where_in_clear(tokens: set[str]) -> dict[str, int]:
    return {
        column: n for column, values in stored_text().items() if (n := sum(1 for v in values for t in tokens if t in v))
    }


# --- item 5: no live token in clear, before or after sending -----------------------------------------------------
def test_no_column_holds_a_live_personal_link_after_planning_or_after_sending(clock, chat, worker, line):
    event_id = event_at(tokyo(2030, 6, 5, 14))
    someone = join(event_id)
    with unit_of_work() as s:  # a lost link: the new one is planned as a notice (sent at the next delivery)
        enrollment = s.get(Enrollment, someone.enrollment_id)
        assert event_service.reissue_link(s, enrollment, reason="lost", base_url=BASE)
    worker.plan()  # the reminders of the day before and of 30 minutes before, planned days ahead
    tokens = live_tokens()
    with unit_of_work() as s:
        planned = {r.purpose for r in s.scalars(select(OutboxMessage).where(OutboxMessage.status == "planned"))}
    assert len(tokens) == 2 and planned == {"join_link", "reminder"}
    assert where_in_clear(tokens) == {}

    parent = chat(someone.user_id)
    listed = parent.tap(encode("applications", "start"))  # a reply that carries both links
    worker.deliver_due()  # the notice
    clock.tokyo(2030, 6, 4, 10)
    worker.deliver_due()
    clock.tokyo(2030, 6, 5, 13, 30)
    worker.deliver_due()
    assert where_in_clear(tokens) == {}

    # LINE got the real links: the reply, the notice and both reminders, each with the live tokens.
    received = json.dumps([d["message"] for d in line.delivered(to=someone.user_id)], ensure_ascii=False)
    assert "{join_link:" not in received and "{calendar:" not in received
    assert set(TOKEN_IN_URL.findall(received)) == tokens
    assert set(TOKEN_IN_URL.findall(json.dumps(listed, ensure_ascii=False))) == tokens
    with unit_of_work() as s:
        ended = list(s.scalars(select(OutboxMessage)))
        assert {r.status for r in ended} == {"sent"} and all(r.messages == [] for r in ended)
        # What staff and `kosodate outbox status` show is kept: purpose, status, times.
        seen = outbox.for_enrollment(s, someone.enrollment_id)
        assert [d.purpose for d in seen].count("reminder") == 2 and all(d.status == "sent" for d in seen)


def test_a_message_naming_a_link_that_is_gone_is_expired_not_sent(runtime, line):
    user = new_user_id()
    with unit_of_work() as s:
        row_id = outbox.add(
            s,
            purpose="notice",
            line_user_id=user,
            messages=render_all(
                [TextReply("参加用ページ", quick=(Choice("開く", uri=f"{BASE}/j/{{join_link:424242}}"),))]
            ),
        )
    delivery.deliver(runtime.gateway)
    assert line.requests("/message/") == []
    gone = row(row_id)
    assert (gone.status, gone.last_error, gone.messages) == ("expired", "the personal link no longer exists", [])


def test_after_a_partial_send_what_is_kept_names_the_link_not_its_token(clock, runtime, line, monkeypatch):
    """Seven messages: five pushed, the last two pushed but the answer lost. What is kept for the retry is the
    stored form (the link by reference), and the retry still sends the real link."""
    event_id = event_at(tokyo(2030, 6, 5, 14))
    someone = join(event_id)
    with unit_of_work() as s:
        link = join_links.live(s, someone.enrollment_id)
        token, url = join_links.token_of(link), join_links.join_url(BASE, link.id)
        row_id = outbox.add(
            s,
            purpose="notice",
            line_user_id=someone.user_id,
            messages=render_all([TextReply(f"{n}: {url}") for n in range(7)]),
        )
    calls = []
    real_push = runtime.gateway.push

    def push(to, messages, retry_key):
        calls.append(retry_key)
        outcome = real_push(to, messages, retry_key)
        return Outcome("retry", None, "ReadTimeoutError") if len(calls) == 2 else outcome

    monkeypatch.setattr(runtime.gateway, "push", push)
    delivery.deliver(runtime.gateway)
    kept = json.dumps(row(row_id).messages, ensure_ascii=False)
    assert row(row_id).status == "planned" and len(row(row_id).messages) == 2
    assert url in kept and token not in kept
    clock.shift(timedelta(seconds=6))
    delivery.deliver(runtime.gateway)
    assert row(row_id).status == "sent"
    texts = [d["message"]["text"] for d in line.delivered(to=someone.user_id)]
    assert len(texts) == 7 and all(f"{BASE}/j/{token}" in text for text in texts)


# --- item 6: a dead link shows nothing of the event and records nothing -------------------------------------------
START = tokyo(2030, 6, 5, 14)


def _participant(title: str) -> tuple[str, int, int]:
    """(token, parent id, event id) of a confirmed participant of an event at START."""
    with unit_of_work() as s:
        event = make_event(s, starts_in=START - tokyo(2030, 6, 3, 9), title=title)
        parent = make_parent(s)
        enrollment = event_service.apply(s, parent, event, base_url=BASE).enrollment
        return join_links.token_of(join_links.live(s, enrollment.id)), parent.id, event.id


def _openings() -> int:
    with unit_of_work() as s:
        return s.scalar(select(func.count()).select_from(JoinLinkOpening))


def test_revoked_cancelled_erased_and_unknown_links_get_one_page_that_tells_nothing(clock, client):
    title = "妊婦さんのための両親学級"  # health information: must not show on a dead link's page
    revoked, parent_id, event_id = _participant(title)
    with unit_of_work() as s:
        enrollment = s.scalars(select(Enrollment).where(Enrollment.parent_id == parent_id)).one()
        join_links.reissue(s, enrollment.id, "lost")
    cancelled, _, cancelled_event = _participant(title)
    with unit_of_work() as s:
        event_service.cancel_event(s, s.get(Event, cancelled_event))
    erased, erased_parent, _ = _participant(title)
    with unit_of_work() as s:
        staff_parents.erase(s, s.get(Parent, erased_parent))
    unknown = crypto.new_token()
    before = _openings()
    with time_machine.travel(START - timedelta(minutes=5), tick=False):  # inside the join window
        pages = {
            name: client.get(f"/j/{token}")
            for name, token in (
                ("revoked", revoked),
                ("cancelled", cancelled),
                ("erased", erased),
                ("unknown", unknown),
            )
        }
        posted = client.post(f"/j/{erased}?lang=ja", data={})
    bodies = {page.get_data(as_text=True) for page in pages.values()}
    assert len(bodies) == 1 and {page.status_code for page in pages.values()} == {404}  # the same page for all
    (body,) = bodies
    assert GONE in body and PHONE in body
    assert title not in body and "14:00" not in body and "南本町" not in body and 'id="reveal"' not in body
    assert posted.status_code in (400, 404) and title not in posted.get_data(as_text=True)
    assert _openings() == before  # no opening recorded for a dead link or an erased parent


def test_erasure_clears_every_sealed_token_of_the_parent(clock):
    token, parent_id, _ = _participant("ねんねの赤ちゃん交流会")
    with unit_of_work() as s:
        enrollment = s.scalars(select(Enrollment).where(Enrollment.parent_id == parent_id)).one()
        join_links.reissue(s, enrollment.id, "lost")  # one revoked link, one live
        staff_parents.erase(s, s.get(Parent, parent_id))
    with unit_of_work() as s:
        links = list(s.scalars(select(JoinLink)))
        assert len(links) == 2 and all(link.token_sealed is None for link in links)
        assert s.get(Enrollment, enrollment.id).calendar_token_sealed is None
    assert live_tokens() == set()


# --- item 12: an event whose meeting ID is not entered yet --------------------------------------------------------
def test_a_join_page_without_a_meeting_id_says_kindly_that_the_details_are_not_ready(clock, client):
    token, _, event_id = _participant("ねんねの赤ちゃん交流会")
    with unit_of_work() as s:
        s.execute(update(Event).where(Event.id == event_id).values(meeting_id_sealed=crypto.seal("")))
    with time_machine.travel(START - timedelta(minutes=5), tick=False):
        page = client.get(f"/j/{token}")
        with unit_of_work() as s:  # what the button behind the rules would get
            revealed = event_service.open_join_link(s, token, fingerprint="a-browser", reveal=True)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "準備が、まだ整っていません" in html and PHONE in html and 'id="reveal"' not in html
    assert (revealed.state, revealed.conference) == ("not_ready", None)
    with unit_of_work() as s:
        assert s.scalars(select(JoinLinkOpening.outcome)).all() == ["not_ready", "not_ready"]


# --- the upgrade: what older versions left at rest ---------------------------------------------------------------
def test_the_upgrade_takes_the_tokens_out_of_what_older_versions_stored(tmp_path):
    """Migration 0013 on a database of the version before: planned messages get references instead of tokens,
    ended ones lose their body, an erased parent's links lose their sealed token."""
    import sqlite3

    from storage.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    upgrade(url, "0011")
    kept, erased, calendar = crypto.new_token(), crypto.new_token(), crypto.new_token()
    body = json.dumps([{"type": "text", "text": f"{BASE}/j/{kept}\n{BASE}/c/{calendar}.ics\n{BASE}/j/{'x' * 43}"}])
    moment = "2030-06-03 00:00:00.000000"
    db = sqlite3.connect(tmp_path / "old.sqlite3")
    with db:
        db.executemany(
            "INSERT INTO line_users (id, line_user_id, language, status, created_at) VALUES (?, ?, 'ja', ?, ?)",
            [(1, "U" + "1" * 32, "active", moment), (2, "erased:00", "erased", moment)],
        )
        db.executemany(
            "INSERT INTO parents (id, line_user_pk, name, furigana, phone, is_guardian, is_pregnant, centre,"
            " registered_at, updated_at) VALUES (?, ?, '', '', '', 1, 0, 'minamihoncho', ?, ?)",
            [(1, 1, moment, moment), (2, 2, moment, moment)],
        )
        db.executemany(
            "INSERT INTO enrollments (id, event_id, parent_id, status, queued_at, applied_at,"
            " calendar_token_hash) VALUES (?, 1, ?, 'confirmed', ?, ?, ?)",
            [(1, 1, moment, moment, crypto.token_hash(calendar)), (2, 2, moment, moment, None)],
        )
        db.executemany(
            "INSERT INTO join_links (id, enrollment_id, token_hash, token_sealed, created_at) VALUES (?, ?, ?, ?, ?)",
            [
                (7, 1, crypto.token_hash(kept), "sealed-7", moment),
                (8, 2, crypto.token_hash(erased), "sealed-8", moment),
            ],
        )
        db.executemany(
            "INSERT INTO outbox_messages (id, purpose, messages, retry_key, status, attempts,"
            " next_attempt_at, created_at) VALUES (?, 'reminder', ?, 'k', ?, 0, ?, ?)",
            [(1, body, "planned", moment, moment), (2, body, "sent", moment, moment)],
        )
    upgrade(url, "0013")
    with db:
        (planned,), (sent,) = db.execute("SELECT messages FROM outbox_messages ORDER BY id").fetchall()
        sealed = dict(db.execute("SELECT id, token_sealed FROM join_links").fetchall())
    db.close()
    assert json.loads(planned)[0]["text"] == (
        f"{BASE}/j/{{join_link:7}}\n{BASE}/c/{{calendar:1}}.ics\n{BASE}/j/{{join_link:0}}"
    )  # a link not found: 0, never sent
    assert json.loads(sent) == []
    assert sealed == {7: "sealed-7", 8: None}


def test_the_nightly_purge_drops_a_body_an_ended_row_still_has(app):
    """A row ended by an older version, or failed while claimed, still had its body: the purge drops it, once."""
    from storage import retention

    with unit_of_work() as s:
        ended = outbox.add(s, purpose="notice", line_user_id=new_user_id(), messages=[{"type": "text", "text": "x"}])
        waiting = outbox.add(s, purpose="notice", line_user_id=new_user_id(), messages=[{"type": "text", "text": "y"}])
        s.execute(update(OutboxMessage).where(OutboxMessage.id == ended).values(status="failed"))
    long_ago = tokyo(2000, 1, 1)
    with unit_of_work() as s:
        assert retention.purge_outbox(s, long_ago, 100) == 1
    with unit_of_work() as s:
        assert retention.purge_outbox(s, long_ago, 100) == 0
        assert s.get(OutboxMessage, ended).messages == [] and s.get(OutboxMessage, waiting).messages != []
