"""Events: creating them, the staff's changes (publish, new time, cancel), the web-conference details, and the
queries other parts use — the flows' list of upcoming events, the scheduler's reminders (``starting_between``,
``confirmed_enrollments``, ``event_start``), the announcement audience.

Applications are in ``storage.enrollments``, join links in ``storage.join_links``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage import crypto
from storage.clock import now
from storage.models import AnnouncementOptIn, Enrollment, Event, LineUser, Parent
from storage.models.events import SEATED

# Enrollments that hear about a change of time or a cancellation.
AFFECTED = ("confirmed", "pending", "waitlisted")


@dataclass(frozen=True)
class Conference:
    """How to join an event. Secret: shown only on a confirmed participant's join page, never logged or sent."""

    service: str
    join_url: str
    meeting_id: str
    passcode: str


def create(
    session: Session,
    *,
    centre: str,
    kind: str,
    title: str,
    description: str,
    starts_at: datetime,
    ends_at: datetime,
    capacity: int,
    applications_open_at: datetime,
    applications_close_at: datetime,
    needs_approval: bool,
    conference_service: str,
    join_url: str,
    meeting_id: str,
    passcode: str,
    target_min_months: int | None = None,
    target_max_months: int | None = None,
    target_pregnant: bool = False,
    join_opens_minutes: int = 15,
    created_by: str = "",
) -> Event:
    """A new event, as a draft (``publish`` makes it visible). The conference details are sealed here."""
    moment = now()
    event = Event(
        centre=centre,
        kind=kind,
        title=title,
        description=description,
        starts_at=starts_at,
        ends_at=ends_at,
        capacity=capacity,
        applications_open_at=applications_open_at,
        applications_close_at=applications_close_at,
        needs_approval=needs_approval,
        conference_service=conference_service,
        join_url_sealed=crypto.seal(join_url),
        meeting_id_sealed=crypto.seal(meeting_id),
        passcode_sealed=crypto.seal(passcode),
        target_min_months=target_min_months,
        target_max_months=target_max_months,
        target_pregnant=target_pregnant,
        join_opens_minutes=join_opens_minutes,
        status="draft",
        version=1,
        created_by=created_by,
        created_at=moment,
        updated_at=moment,
    )
    session.add(event)
    session.flush()
    return event


def get(session: Session, event_id: int) -> Event | None:
    return session.get(Event, event_id)


def lock(session: Session, event_id: int) -> Event | None:
    """The event, locked for this transaction (PostgreSQL; SQLite's write transactions are serial anyway), so
    seats are counted and taken by one application at a time."""
    return session.scalars(select(Event).where(Event.id == event_id).with_for_update()).first()


def conference(event: Event) -> Conference:
    return Conference(
        event.conference_service,
        crypto.unseal(event.join_url_sealed),
        crypto.unseal(event.meeting_id_sealed),
        crypto.unseal(event.passcode_sealed),
    )


def upcoming(session: Session, moment: datetime, limit: int = 200) -> list[Event]:
    """Published events that have not started yet, soonest first."""
    return list(
        session.scalars(
            select(Event)
            .where(Event.status == "published", Event.starts_at > moment)
            .order_by(Event.starts_at, Event.id)
            .limit(limit)
        )
    )


def listing(session: Session, *, include_past: bool = False, moment: datetime | None = None) -> list[Event]:
    """Every event for staff, soonest first; without ``include_past`` only those not yet ended."""
    query = select(Event).order_by(Event.starts_at, Event.id)
    if not include_past:
        query = query.where(Event.ends_at > (moment or now()))
    return list(session.scalars(query))


def status_counts(session: Session, event_ids: list[int]) -> dict[int, Counter[str]]:
    """{event id: how many applications in each status}."""
    out: dict[int, Counter[str]] = {event_id: Counter() for event_id in event_ids}
    if event_ids:
        rows = session.execute(
            select(Enrollment.event_id, Enrollment.status, func.count())
            .where(Enrollment.event_id.in_(event_ids))
            .group_by(Enrollment.event_id, Enrollment.status)
        ).all()
        for event_id, status, count in rows:
            out[event_id][status] = count
    return out


def seat_counts(session: Session, event_ids: list[int]) -> dict[int, tuple[int, int]]:
    """{event id: (seats taken, people waiting)}; a pending application holds a seat until staff decide."""
    return {
        event_id: (sum(counts[s] for s in SEATED), counts["waitlisted"])
        for event_id, counts in status_counts(session, event_ids).items()
    }


# --- staff changes ------------------------------------------------------------------------------------------
def publish(session: Session, event: Event) -> bool:
    """Make a draft visible to parents. True if it was a draft (False if already published, cancelled, …)."""
    if event.status != "draft":
        return False
    moment = now()
    event.status, event.published_at, event.updated_at = "published", moment, moment
    return True


def mark_announced(event: Event) -> bool:
    """Record that the announcement was planned; True only the first time."""
    if event.announced_at is not None:
        return False
    event.announced_at = now()
    return True


def cancel(session: Session, event: Event) -> bool:
    """中止. True if this changed anything; the version goes up so the notices of this change are sent once."""
    if event.status in ("cancelled", "finished"):
        return False
    moment = now()
    event.status, event.cancelled_at, event.updated_at = "cancelled", moment, moment
    event.version += 1
    return True


def reschedule(session: Session, event: Event, starts_at: datetime, ends_at: datetime) -> bool:
    """A new time. True if the time really changed (the version then goes up)."""
    if ends_at <= starts_at:
        raise ValueError("an event must end after it starts")
    if event.status in ("cancelled", "finished"):
        raise ValueError("a cancelled or finished event cannot be moved")
    if (event.starts_at, event.ends_at) == (starts_at, ends_at):
        return False
    event.starts_at, event.ends_at, event.updated_at = starts_at, ends_at, now()
    event.version += 1
    return True


def affected_enrollments(session: Session, event_id: int) -> list[Enrollment]:
    """Everyone with a live application (confirmed, waiting for approval, or on the waitlist)."""
    return list(
        session.scalars(
            select(Enrollment)
            .where(Enrollment.event_id == event_id, Enrollment.status.in_(AFFECTED))
            .order_by(Enrollment.queued_at, Enrollment.id)
        )
    )


# --- for the scheduler (reminders) -------------------------------------------------------------------------
def event_start(session: Session, event_id: int) -> datetime | None:
    """When the event starts now (after any change of time); None for an unknown event."""
    return session.scalar(select(Event.starts_at).where(Event.id == event_id))


def starting_between(session: Session, start: datetime, end: datetime) -> list[Event]:
    """Published events starting in [start, end): what reminders are planned from."""
    return list(
        session.scalars(
            select(Event)
            .where(Event.status == "published", Event.starts_at >= start, Event.starts_at < end)
            .order_by(Event.starts_at, Event.id)
        )
    )


def confirmed_enrollments(session: Session, event_id: int) -> list[Enrollment]:
    """The confirmed participants' enrollments. Whether each may still join (consent, sanctions) is
    ``storage.enrollments.refusal``."""
    return list(
        session.scalars(
            select(Enrollment)
            .where(Enrollment.event_id == event_id, Enrollment.status == "confirmed")
            .order_by(Enrollment.id)
        )
    )


# --- announcements ------------------------------------------------------------------------------------------
def optins(session: Session, parent_id: int) -> frozenset[str]:
    return frozenset(session.scalars(select(AnnouncementOptIn.centre).where(AnnouncementOptIn.parent_id == parent_id)))


def set_optin(session: Session, parent_id: int, centre: str, wanted: bool) -> None:
    found = session.scalars(
        select(AnnouncementOptIn).where(AnnouncementOptIn.parent_id == parent_id, AnnouncementOptIn.centre == centre)
    ).first()
    if wanted and found is None:
        session.add(AnnouncementOptIn(parent_id=parent_id, centre=centre, created_at=now()))
        session.flush()
    elif not wanted and found is not None:
        session.delete(found)


def announcement_audience(session: Session, centre: str) -> list[tuple[LineUser, Parent]]:
    """Parents who asked to hear about this centre's new events and still follow the bot."""
    return list(
        session.execute(
            select(LineUser, Parent)
            .join(Parent, Parent.line_user_pk == LineUser.id)
            .join(AnnouncementOptIn, AnnouncementOptIn.parent_id == Parent.id)
            .where(AnnouncementOptIn.centre == centre, LineUser.status == "active")
            .order_by(Parent.id)
        ).all()
    )
