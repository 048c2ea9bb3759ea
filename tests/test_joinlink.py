"""The personal join page (policy 5): how to join is shown only inside the event's window, only after the parent
taps past the two rules, and only to a confirmed participant who consents and is not barred. Every opening is
recorded with a keyed fingerprint; a link can be revoked and reissued; tokens never reach the logs."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select

from runtime.logs import redact
from services.events import operations as event_service
from storage import crypto, enrollments, join_links
from storage.clock import TOKYO
from storage.db import unit_of_work
from storage.models import Event, JoinLinkOpening, Parent
from tests.events_support import CONFERENCE, bar, give_consent, leaks, make_event, make_parent, planned

pytestmark = pytest.mark.usefixtures("app")

BASE = "https://bot.example.test"
START = datetime(2026, 12, 1, 10, 0, tzinfo=TOKYO)
APPLIED_AT = START - timedelta(days=2)
GONE = "このリンクでは、ご案内できません"  # the one page of every dead link


def participant(**parent_options) -> tuple[str, int, int]:
    """(token, parent id, event id) of a confirmed participant of an event starting at START, lasting an hour."""
    with time_machine.travel(APPLIED_AT, tick=False):
        with unit_of_work() as session:
            event = make_event(session, starts_in=START - APPLIED_AT)
            parent = make_parent(session, **parent_options)
            enrollment = event_service.apply(session, parent, event, base_url=BASE).enrollment
            return join_links.token_of(join_links.live(session, enrollment.id)), parent.id, event.id


def reveal(client, token: str, agent: str = "test-browser"):
    """Open the page, then tap past the rules: what the parent would see."""
    page = client.get(f"/j/{token}", headers={"User-Agent": agent})
    return page, (
        client.post(f"/j/{token}", headers={"User-Agent": agent}, data={"csrf_token": csrf(page.text)})
        if 'id="reveal"' in page.text
        else None
    )


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def shows_details(response) -> bool:
    return bool(response is not None and CONFERENCE["passcode"] in response.text)


def test_inside_the_window_the_details_come_after_the_two_rules(client):
    token, _, _ = participant()
    with time_machine.travel(START - timedelta(minutes=15), tick=False):
        page, revealed = reveal(client, token)
    assert leaks(page.text) == []  # a link preview (GET only) never sees them
    assert "録画・録音・撮影" in page.text and "ほかの人に渡したり" in page.text
    assert revealed.status_code == 200
    html = revealed.text
    assert CONFERENCE["meeting_id"] in html and CONFERENCE["passcode"] in html
    assert html.index("録画・録音・撮影") < html.index("ほかの人に渡したり") < html.index('id="join-button"')
    assert 'href="https://zoom.example.test/j/98765432100?pwd=SeCrEtJoInPwD"' in html.replace("&amp;", "&")
    assert revealed.headers["Cache-Control"] == "no-store"
    assert "noindex" in revealed.headers["X-Robots-Tag"]


@pytest.mark.parametrize(
    "moment, message",
    [
        (START - timedelta(minutes=16), "開始15分前（09:45）から表示します"),
        (START + timedelta(hours=1), "終了しました"),
    ],
)
def test_outside_the_window_nothing_is_shown(client, moment, message):
    token, _, _ = participant()
    with time_machine.travel(moment, tick=False):
        page, revealed = reveal(client, token)
        forced = client.post(f"/j/{token}", data={})
    assert message in page.text
    assert revealed is None and not shows_details(forced)


def _during(client, token):
    with time_machine.travel(START, tick=False):
        return reveal(client, token)


def test_withdrawing_consent_being_barred_or_cancelling_hides_the_details(client):
    cases = []
    token, parent_id, event_id = participant()
    with unit_of_work() as session:
        give_consent(session, session.get(Parent, parent_id), "withdrawn")
    cases.append((token, "同意が必要です"))
    token, parent_id, event_id = participant()
    with unit_of_work() as session:
        bar(session, session.get(Parent, parent_id), event_id)
    cases.append((token, "ご参加いただけません"))
    token, parent_id, event_id = participant()
    with unit_of_work() as session:
        event_service.cancel_event(session, session.get(Event, event_id))
    cases.append((token, GONE))  # a cancelled event's link is a dead link (tests/test_links_at_rest.py)
    for token, message in cases:
        page, revealed = _during(client, token)
        assert message in page.text and not shows_details(revealed)
    token, _, _ = participant()
    assert shows_details(_during(client, token)[1])  # the same moment, in good standing: shown


def test_a_cancelled_application_revokes_its_link(client):
    token, parent_id, event_id = participant()
    with unit_of_work() as session:
        enrollment = enrollments.of(session, event_id, parent_id)
        event_service.withdraw(session, enrollment, base_url=BASE)
    page, revealed = _during(client, token)
    assert GONE in page.text and not shows_details(revealed)


def test_a_revoked_link_stops_working_and_the_new_one_is_sent(client):
    token, parent_id, event_id = participant()
    with unit_of_work() as session:
        enrollment = enrollments.of(session, event_id, parent_id)
        assert event_service.reissue_link(session, enrollment, reason="lost", base_url=BASE)
        new_token = join_links.token_of(join_links.live(session, enrollment.id))
        reissued = planned(session, "join_link")[-1]
        new_link = join_links.live(session, enrollment.id).id
        assert f"/j/{{join_link:{new_link}}}" in str(reissued.messages) and new_token not in str(reissued.messages)
        assert "新しい参加用リンク" in str(reissued.messages)
    old_page, old_revealed = _during(client, token)
    assert GONE in old_page.text and not shows_details(old_revealed)
    assert shows_details(_during(client, new_token)[1])


def test_unknown_and_malformed_tokens_get_a_kind_not_found(client):
    for token in (crypto.new_token(), "short", "a" * 200, "..%2f..%2fetc"):
        response = client.get(f"/j/{token}")
        assert response.status_code == 404
        assert leaks(response.text) == []
    assert GONE in client.get(f"/j/{crypto.new_token()}").text


def test_every_opening_is_recorded_without_the_browser_or_address(client):
    token, _, _ = participant()
    with time_machine.travel(START, tick=False):
        reveal(client, token, "iPhone; CPU iPhone OS 17_0")
        reveal(client, token, "Android 14; Pixel 8")
        client.get(f"/j/{token}", headers={"User-Agent": "Android 14; Pixel 8"})
    with unit_of_work() as session:
        openings = session.scalars(select(JoinLinkOpening).order_by(JoinLinkOpening.id)).all()
        assert [(o.outcome, o.details_shown) for o in openings] == [
            ("open", False),
            ("open", True),
            ("open", False),
            ("open", True),
            ("open", False),
        ]
        assert len({o.fingerprint for o in openings}) == 2
        assert all("iPhone" not in o.fingerprint and "127.0.0.1" not in o.fingerprint for o in openings)
        event_id = session.scalars(select(Event.id)).one()
        (use,) = join_links.usage(session, event_id)
        assert (use.openings, use.devices, use.devices_shown, use.many_devices) == (5, 2, 2, False)


def test_the_page_speaks_the_parents_language_and_can_switch(client):
    token, _, _ = participant(lang="en")
    with time_machine.travel(START - timedelta(hours=1), tick=False):
        english = client.get(f"/j/{token}")
        japanese = client.get(f"/j/{token}?lang=ja")
    assert "from 15 minutes before the start (09:45)" in english.text and 'lang="en"' in english.text
    assert "開始15分前" in japanese.text


def test_tokens_are_masked_in_logs():
    token = crypto.new_token()
    assert token not in redact(f"GET /j/{token} HTTP/1.1 200")
