"""「カレンダーに追加」: a valid .ics per confirmed application at an unguessable address, following a new time or a
cancellation (same UID, higher SEQUENCE), never carrying the join details, gone once the application is withdrawn."""

from __future__ import annotations

from datetime import timedelta

import icalendar
import pytest

from services.events import operations as event_service
from storage import enrollments, join_links
from storage.db import unit_of_work
from storage.models import Event
from tests.events_support import leaks, make_event, make_parent

pytestmark = pytest.mark.usefixtures("app")

BASE = "https://bot.example.test"


def confirmed(capacity: int = 10) -> tuple[str, int, int]:
    with unit_of_work() as session:
        event = make_event(session, capacity=capacity, title="よちよち歩きさんの交流会")
        enrollment = event_service.apply(session, make_parent(session), event, base_url=BASE).enrollment
        return join_links.calendar_token(enrollment), event.id, enrollment.id


def fetch(client, token: str) -> icalendar.Calendar:
    response = client.get(f"/c/{token}.ics")
    assert response.status_code == 200
    assert response.mimetype == "text/calendar" and response.headers["Cache-Control"] == "no-store"
    assert leaks(response.get_data(as_text=True)) == []
    return icalendar.Calendar.from_ical(response.data)


def test_the_ics_is_a_valid_calendar_with_the_event_in_utc(client):
    token, event_id, enrollment_id = confirmed()
    calendar = fetch(client, token)
    assert calendar["VERSION"] == "2.0" and calendar["PRODID"]
    (entry,) = calendar.walk("VEVENT")
    with unit_of_work() as session:
        event = session.get(Event, event_id)
        assert entry.decoded("DTSTART") == event.starts_at
        assert entry.decoded("DTEND") == event.ends_at
    assert str(entry["SUMMARY"]) == "よちよち歩きさんの交流会"
    assert str(entry["UID"]) == f"event-{event_id}-enrollment-{enrollment_id}@bot.example.test"
    assert str(entry["STATUS"]) == "CONFIRMED" and int(entry["SEQUENCE"]) == 1
    assert "南本町子育て支援センター" in str(entry["DESCRIPTION"])
    (alarm,) = entry.walk("VALARM")
    assert alarm.decoded("TRIGGER") == -timedelta(minutes=30)


def test_a_new_time_or_a_cancellation_updates_the_same_entry(client):
    token, event_id, _ = confirmed()
    uid = str(fetch(client, token).walk("VEVENT")[0]["UID"])
    with unit_of_work() as session:
        event = session.get(Event, event_id)
        event_service.reschedule(session, event, event.starts_at + timedelta(days=1), event.ends_at + timedelta(days=1))
        new_start = event.starts_at
    entry = fetch(client, token).walk("VEVENT")[0]
    assert (str(entry["UID"]), int(entry["SEQUENCE"]), entry.decoded("DTSTART")) == (uid, 2, new_start)
    with unit_of_work() as session:
        event_service.cancel_event(session, session.get(Event, event_id))
    entry = fetch(client, token).walk("VEVENT")[0]
    assert (str(entry["STATUS"]), int(entry["SEQUENCE"])) == ("CANCELLED", 3)


def test_only_confirmed_applications_have_a_calendar(client):
    token, event_id, enrollment_id = confirmed()
    with unit_of_work() as session:
        event_service.withdraw(session, enrollments.get(session, enrollment_id), base_url=BASE)
    assert client.get(f"/c/{token}.ics").status_code == 404
    assert client.get("/c/not-a-token.ics").status_code == 404
    assert client.get(f"/c/{'x' * 43}.ics").status_code == 404
