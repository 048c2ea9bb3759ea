"""Helpers for the scheduler, outbox and delivery tests: Tokyo times, participants of events, a worker whose jobs the
test runs by hand under a controlled clock, and what LINE received."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from sqlalchemy import select

from handlers.replies import Text
from runtime.render import render_all
from scheduler.worker import Worker
from storage import enrollments, events, join_links, outbox
from storage.clock import TOKYO, now
from storage.db import unit_of_work
from storage.models import Enrollment, Event, LineUser, OutboxMessage
from tests.events_support import make_event, make_parent
from tests.support import ChatUser, new_user_id


def tokyo(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=TOKYO).astimezone(UTC)


# Monday 3 June 2030, 09:00 in Tokyo: the tests' "now" unless they say otherwise.
MONDAY_9 = tokyo(2030, 6, 3, 9)


@dataclass(frozen=True)
class Participant:
    user_id: str
    parent_id: int
    enrollment_id: int
    event_id: int


def event_at(start: datetime, minutes: int = 60, title: str = "ねんねの赤ちゃん交流会") -> int:
    """A published event starting at ``start`` (applications open now)."""
    with unit_of_work() as session:
        return make_event(
            session,
            starts_in=start - now(),
            minutes=minutes,
            title=title,
            capacity=500,
            closes_before=timedelta(minutes=1),
        ).id


def join(event_id: int, lang: str = "ja", user_id: str | None = None) -> Participant:
    """A consenting parent who applied and is confirmed (with a live join link)."""
    with unit_of_work() as session:
        parent = make_parent(session, user_id or new_user_id(), lang=lang)
        applied = enrollments.apply(session, session.get(Event, event_id), parent.id)
        assert applied.status == "confirmed"
        user = session.get(LineUser, parent.line_user_pk)
        return Participant(user.line_user_id, parent.id, applied.enrollment.id, event_id)


def live_link_url(enrollment_id: int, base: str = "https://bot.example.test") -> str:
    with unit_of_work() as session:
        return f"{base}/j/{join_links.token_of(join_links.live(session, enrollment_id))}"


def rows(purpose: str | None = None) -> list[OutboxMessage]:
    with unit_of_work() as session:
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        if purpose is not None:
            query = query.where(OutboxMessage.purpose == purpose)
        return list(session.scalars(query))


def row(row_id: int) -> OutboxMessage:
    with unit_of_work() as session:
        return session.get(OutboxMessage, row_id)


def plan_text(to: str, text: str = "お知らせです", purpose: str = "notice", **extra: Any) -> int:
    with unit_of_work() as session:
        return outbox.add(session, purpose=purpose, messages=render_all([Text(text)]), line_user_id=to, **extra)


def pushed(line, user_id: str, purpose: str = "reminder") -> list[list[dict[str, Any]]]:
    """The messages of each push of this purpose that LINE accepted for this user (known by the rows' retry keys)."""
    keys = {r.retry_key for r in rows(purpose)}
    return [
        e["json"]["messages"]
        for e in line.requests("/message/push")
        if e["status"] == 200 and e["retry_key"] in keys and e["json"]["to"] == user_id
    ]


def reminders_to(line, user_id: str) -> list[str]:
    """The reminders LINE delivered to this user, each as its text."""
    return [ChatUser.texts(messages) for messages in pushed(line, user_id)]


def links(messages: list[dict[str, Any]]) -> list[str]:
    """The join-page addresses written in these messages."""
    return [url for m in messages for url in re.findall(r"https?://\S+/j/\S+", m.get("text", ""))]


def enrollment(enrollment_id: int) -> Enrollment:
    with unit_of_work() as session:
        return session.get(Enrollment, enrollment_id)


def move_event(event_id: int, start: datetime, minutes: int = 60) -> None:
    with unit_of_work() as session:
        events.reschedule(session, session.get(Event, event_id), start, start + timedelta(minutes=minutes))


class Clock:
    """The time-machine traveller, with Tokyo wall-clock moves."""

    def __init__(self, traveller):
        self.traveller = traveller

    def to(self, moment: datetime) -> None:
        self.traveller.move_to(moment)

    def tokyo(self, *args: int) -> None:
        self.traveller.move_to(tokyo(*args))

    def shift(self, delta: timedelta) -> None:
        self.traveller.shift(delta)


@pytest.fixture
def clock():
    """Time stands still at MONDAY_9 until the test moves it."""
    with time_machine.travel(MONDAY_9, tick=False) as traveller:
        yield Clock(traveller)


@pytest.fixture
def worker(runtime):
    """The worker's jobs over the test app's runtime; the test runs them (``tick``)."""
    jobs = Worker(runtime)
    yield jobs
    jobs.close()


class InFlight:
    """Counts the requests the LINE double is handling, so a test can wait (on a condition, not a clock) for a
    request whose client gave up (a timeout) to be finished by "LINE" before it goes on."""

    def __init__(self, line):
        self.started = self.finished = 0
        self.arrived = threading.Event()
        self._done = threading.Condition()
        self._handle = line.handle

    def handle(self, request):
        with self._done:
            self.started += 1
        self.arrived.set()
        try:
            return self._handle(request)
        finally:
            with self._done:
                self.finished += 1
                self._done.notify_all()

    def settle(self, timeout: float = 10.0) -> None:
        self.wait_until(lambda: self.finished == self.started, timeout)

    def wait_until(self, condition, timeout: float) -> None:
        """Wait until ``condition()`` holds, looking again each time the double finishes a request."""
        with self._done:
            assert self._done.wait_for(condition, timeout), "the LINE double did not see it happen in time"


@pytest.fixture
def in_flight(line, monkeypatch):
    watch = InFlight(line)
    monkeypatch.setattr(line, "handle", watch.handle)
    yield watch
    watch.settle()


def tick(worker: Worker) -> None:
    """One round of the worker's jobs, as APScheduler would run them."""
    worker.plan()
    worker.deliver_due()
