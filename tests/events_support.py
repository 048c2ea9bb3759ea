"""Helpers for the events tests: parents with children and consent, events at a chosen time, the secret conference
details every test checks never leak, and a look at what the outbox planned."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from handlers.registration.policy_text import POLICY_TEXT
from storage import events, people, sanctions, users
from storage.clock import now
from storage.models import Child, ConsentRecord, Enrollment, Event, OutboxMessage, Parent
from tests.support import ChatUser, new_user_id

# Distinctive values, so a leak anywhere (a message, a page, a log) is found by a plain substring search.
CONFERENCE = {
    "conference_service": "Zoom",
    "join_url": "https://zoom.example.test/j/98765432100?pwd=SeCrEtJoInPwD",
    "meeting_id": "987 6543 2100",
    "passcode": "kodomo-7731",
}
SECRETS = (CONFERENCE["join_url"], "SeCrEtJoInPwD", CONFERENCE["meeting_id"], "98765432100", CONFERENCE["passcode"])


def leaks(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]


def month(moment: datetime, months_ago: int) -> date:
    """The first day of the month ``months_ago`` months before ``moment``."""
    index = moment.year * 12 + moment.month - 1 - months_ago
    return date(index // 12, index % 12 + 1, 1)


def make_parent(
    session,
    line_user_id: str | None = None,
    *,
    child_months: tuple[int, ...] = (6,),
    pregnant: bool = False,
    consent: bool = True,
    lang: str = "ja",
    centre: str = "minamihoncho",
    at: datetime | None = None,
) -> Parent:
    """A registered parent whose children are ``child_months`` months old at ``at`` (default now)."""
    moment = at or now()
    user = users.get_or_create(session, line_user_id or new_user_id())
    user.language = lang
    parent = Parent(
        line_user_pk=user.id,
        name="船橋 花子",
        furigana="ふなばし はなこ",
        phone="090-1234-5678",
        is_guardian=bool(child_months),
        is_pregnant=pregnant,
        centre=centre,
        due_month=month(moment, -3) if pregnant else None,
    )
    parent.children = [Child(birth_month=month(moment, m)) for m in child_months]
    session.add(parent)
    session.flush()
    if consent:
        give_consent(session, parent)
    return parent


def give_consent(session, parent: Parent, answer: str = "agreed") -> None:
    policy = people.ensure_policy(session, POLICY_TEXT)
    session.add(
        ConsentRecord(line_user_pk=parent.line_user_pk, policy_version_id=policy.id, answer=answer, answered_at=now())
    )
    session.flush()


def bar(session, parent: Parent, event_id: int | None = None) -> None:
    sanctions.impose(session, parent.id, policy_items=["6-(4)"], created_by="test", note="SNS投稿", event_id=event_id)


def make_event(
    session,
    *,
    starts_in: timedelta = timedelta(days=3),
    minutes: int = 60,
    capacity: int = 10,
    approval: bool = False,
    ages: tuple[int | None, int | None] = (None, None),
    pregnant: bool = False,
    centre: str = "minamihoncho",
    kind: str = "meetup",
    title: str = "ねんねの赤ちゃん交流会",
    opens_in: timedelta = -timedelta(days=1),
    closes_before: timedelta = timedelta(hours=1),
    publish: bool = True,
    at: datetime | None = None,
) -> Event:
    moment = at or now()
    start = (moment + starts_in).replace(second=0, microsecond=0)  # staff give times to the minute
    event = events.create(
        session,
        centre=centre,
        kind=kind,
        title=title,
        description="オンラインで気軽に話しましょう。",
        starts_at=start,
        ends_at=start + timedelta(minutes=minutes),
        capacity=capacity,
        applications_open_at=moment + opens_in,
        applications_close_at=start - closes_before,
        needs_approval=approval,
        target_min_months=ages[0],
        target_max_months=ages[1],
        target_pregnant=pregnant,
        created_by="test",
        **CONFERENCE,
    )
    if publish:
        events.publish(session, event)
        events.mark_announced(event)
    return event


def planned(session, purpose: str | None = None) -> list[OutboxMessage]:
    query = select(OutboxMessage).order_by(OutboxMessage.id)
    if purpose is not None:
        query = query.where(OutboxMessage.purpose == purpose)
    return list(session.scalars(query))


def enrollment_of(session, event_id: int, parent_id: int) -> Enrollment | None:
    return session.scalars(
        select(Enrollment).where(Enrollment.event_id == event_id, Enrollment.parent_id == parent_id)
    ).first()


def texts_of(messages: list[dict[str, Any]]) -> str:
    return ChatUser.texts(messages)
