"""The rules about events, as pure functions over plain data: who an event is for, when one may apply, what an
application becomes, when the join page may show how to join, and the quiet hours of announcements.

The flows (handlers/events/flow.py, handlers/events/applications.py), the join page and the staff operations all ask here, so a
rule is written once. No database, no clock: the moment is always passed in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from storage.clock import TOKYO, to_tokyo

QUIET_FROM = time(21, 0)  # announcements are not sent from 21:00 …
QUIET_UNTIL = time(8, 0)  # … until 08:00, Asia/Tokyo


@dataclass(frozen=True)
class EventInfo:
    """What a parent may know about an event (never the web-conference details)."""

    id: int
    centre: str
    kind: str
    title: str
    description: str
    starts_at: datetime
    ends_at: datetime
    capacity: int
    seated: int
    waiting: int
    opens_at: datetime
    closes_at: datetime
    needs_approval: bool = False
    target_min_months: int | None = None
    target_max_months: int | None = None
    target_pregnant: bool = False
    status: str = "published"
    join_opens_minutes: int = 15

    @property
    def full(self) -> bool:
        return self.seated >= self.capacity

    @property
    def seats_left(self) -> int:
        return max(0, self.capacity - self.seated)


@dataclass(frozen=True)
class ApplicationInfo:
    """One of the parent's applications; the links are there only while the parent may use them."""

    id: int
    event: EventInfo
    status: str  # confirmed | pending | waitlisted | declined
    position: int | None = None  # place on the waitlist
    join_url: str | None = None
    calendar_url: str | None = None


@dataclass(frozen=True)
class EventFacts:
    """What the events flows know about the parent, loaded with the context (``services.events.facts``)."""

    parent_id: int | None = None
    events: tuple[EventInfo, ...] = ()
    applications: tuple[ApplicationInfo, ...] = ()
    barred_all: bool = False
    barred_events: frozenset[int] = frozenset()
    optins: frozenset[str] = frozenset()

    def event(self, event_id: int) -> EventInfo | None:
        return next((e for e in self.events if e.id == event_id), None)

    def application_for(self, event_id: int) -> ApplicationInfo | None:
        return next((a for a in self.applications if a.event.id == event_id), None)

    def application(self, application_id: int) -> ApplicationInfo | None:
        return next((a for a in self.applications if a.id == application_id), None)

    def barred(self, event_id: int) -> bool:
        return self.barred_all or event_id in self.barred_events


FACTS_KEY = "events"


def facts_of(ctx: Any) -> EventFacts:
    found = ctx.facts.get(FACTS_KEY)
    return found if isinstance(found, EventFacts) else EventFacts()


# --- who an event is for -----------------------------------------------------------------------------------
def months_old(birth_month: date, on: date) -> int:
    """Age in whole months on a day, from the month of birth (registration keeps only the month)."""
    return (on.year - birth_month.year) * 12 + (on.month - birth_month.month)


def _month(value: str | None) -> date | None:
    if not value:
        return None
    year, month = value[:7].split("-")
    return date(int(year), int(month), 1)


def fits(event: EventInfo, profile: Mapping[str, Any]) -> bool:
    """Whether a parent with this profile (children's birth months "YYYY-MM", pregnant, due month) is in the
    event's target. An event with no age range that is not for pregnant people is for everyone."""
    has_range = event.target_min_months is not None or event.target_max_months is not None
    if not has_range and not event.target_pregnant:
        return True
    day = to_tokyo(event.starts_at).date()
    if event.target_pregnant and profile.get("is_pregnant"):
        due = _month(profile.get("due_month"))
        if due is None or due >= day.replace(day=1):
            return True
    if has_range:
        low = event.target_min_months if event.target_min_months is not None else 0
        high = event.target_max_months
        for born in filter(None, map(_month, profile.get("children") or [])):
            age = months_old(born, day)
            if age >= low and (high is None or age <= high):
                return True
    return False


def sorted_for(events: tuple[EventInfo, ...] | list[EventInfo], profile: Mapping[str, Any]) -> list[EventInfo]:
    """Events that fit the parent's family first, then the others; each group soonest first."""
    return sorted(events, key=lambda e: (not fits(e, profile), e.starts_at, e.id))


# --- applying ----------------------------------------------------------------------------------------------
def window_refusal(event: EventInfo, moment: datetime) -> str | None:
    """ "cancelled", "not_published", "started", "not_open_yet", "closed", or None while applications are open."""
    if event.status != "published":
        return "cancelled" if event.status == "cancelled" else "not_published"
    if moment >= event.starts_at:
        return "started"
    if moment < event.opens_at:
        return "not_open_yet"
    if moment >= event.closes_at:
        return "closed"
    return None


def apply_refusal(ctx: Any, event: EventInfo) -> str | None:
    """Why this parent cannot apply to this event now, or None. Consent is asked last: a parent is sent to the
    consent flow only when nothing else stands in the way."""
    facts = facts_of(ctx)
    reason = window_refusal(event, ctx.now)
    if reason:
        return reason
    mine = facts.application_for(event.id)
    if mine is not None:
        return "declined" if mine.status == "declined" else "already"
    if not ctx.registered or facts.parent_id is None:
        return "not_registered"
    if not fits(event, ctx.profile):
        return "not_fit"
    if facts.barred(event.id):
        return "barred"
    if not ctx.consent_current:
        return "no_consent"
    return None


def expected_outcome(event: EventInfo) -> str:
    """What an application becomes: a seat (承認待ち if staff approve first) or a place on the waitlist."""
    if event.full:
        return "waitlisted"
    return "pending" if event.needs_approval else "confirmed"


# --- the join page -----------------------------------------------------------------------------------------
def join_state(
    *, moment: datetime, starts_at: datetime, ends_at: datetime, opens_minutes: int, revoked: bool, refusal: str | None
) -> str:
    """What the join page shows: "open" (how to join) only inside the window, for a live link of a participant in
    good standing; otherwise why not: "revoked", a refusal (cancelled, not_confirmed, no_consent, barred, …),
    "ended" or "too_early"."""
    if revoked:
        return "revoked"
    if refusal:
        return refusal
    if moment >= ends_at:
        return "ended"
    if moment < starts_at - timedelta(minutes=opens_minutes):
        return "too_early"
    return "open"


# --- announcements -----------------------------------------------------------------------------------------
def quiet_until(moment: datetime) -> datetime | None:
    """During quiet hours (21:00–08:00 Tokyo), the next 08:00 in UTC; None outside them."""
    local = to_tokyo(moment)
    if QUIET_UNTIL <= local.time() < QUIET_FROM:
        return None
    day = local.date() if local.time() < QUIET_UNTIL else local.date() + timedelta(days=1)
    return datetime.combine(day, QUIET_UNTIL, tzinfo=TOKYO).astimezone(moment.tzinfo)
