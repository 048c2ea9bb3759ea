"""Changes to events and applications, with what parents are told about them: the effects the flows return
(apply, cancel an application, announcement wishes) and the staff operations (publish, new time, cancel, approve,
decline, reissue a link) used by ``kosodate events`` and the staff console.

Each function runs inside the caller's transaction; the rules are re-checked here against the locked rows, because
the parent's view of the seats was taken a moment earlier.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from handlers.effects import applies
from handlers.events.rules import EventInfo, fits, join_state, quiet_until, window_refusal
from services.events import notices
from services.events.facts import info
from storage import enrollments, events, join_links, people, sanctions
from storage.clock import now
from storage.events import Conference
from storage.models import Enrollment, Event, LineUser, Parent
from storage.models.events import CENTRES

log = logging.getLogger(__name__)


# --- effects the flows return ------------------------------------------------------------------------------
@dataclass(frozen=True)
class ApplyForEvent:
    event_id: int
    expected: str  # what the parent was just told: confirmed | pending | waitlisted
    base_url: str


@dataclass(frozen=True)
class WithdrawApplication:
    enrollment_id: int
    base_url: str


@dataclass(frozen=True)
class SetAnnouncementOptIn:
    centre: str
    wanted: bool


@dataclass(frozen=True)
class Outcome:
    status: str | None  # confirmed | pending | waitlisted | declined, or None when refused
    refusal: str | None = None
    enrollment: Enrollment | None = None
    created: bool = False


def profile_of(parent: Parent) -> dict[str, Any]:
    return {
        "children": [c.birth_month.isoformat()[:7] for c in parent.children],
        "is_pregnant": parent.is_pregnant,
        "due_month": parent.due_month.isoformat()[:7] if parent.due_month else None,
    }


def apply(session: Session, parent: Parent, event: Event, *, base_url: str) -> Outcome:
    """The authoritative application: every rule checked on the locked event, then a seat or the waitlist."""
    events.lock(session, event.id)
    existing = enrollments.of(session, event.id, parent.id)
    if existing is not None and existing.status != "withdrawn":
        return Outcome(existing.status, enrollment=existing)  # a double tap, or a second device
    reason = window_refusal(info(event), now())
    if reason is None and not fits(info(event), profile_of(parent)):
        reason = "not_fit"
    if reason is None:
        reason = enrollments.standing_refusal(session, parent, event.id)
    if reason is not None:
        return Outcome(None, refusal=reason)
    applied = enrollments.apply(session, event, parent.id)
    if applied.created and applied.status == "confirmed":
        notices.plan_join_link(session, applied.enrollment, base_url, "applied")
    return Outcome(applied.status, enrollment=applied.enrollment, created=applied.created)


@applies(ApplyForEvent)
def _apply_for_event(session: Session, user: LineUser, effect: ApplyForEvent) -> None:
    parent = people.parent_of(session, user.id)
    event = events.get(session, effect.event_id)
    if parent is None or event is None:
        log.warning("apply: no parent or no event %s", effect.event_id)
        return
    outcome = apply(session, parent, event, base_url=effect.base_url)
    if outcome.refusal is not None:
        log.info("apply to event %s refused on re-check: %s", event.id, outcome.refusal)
        notices.plan_refused(session, user, event)
    elif outcome.created and outcome.status != effect.expected and outcome.status != "confirmed":
        notices.plan_correction(session, outcome.enrollment, outcome.status)


def withdraw(session: Session, enrollment: Enrollment, *, base_url: str) -> bool:
    """The parent cancels their application; the seat goes to the first in line."""
    if not enrollments.withdraw(session, enrollment):
        return False
    fill_seats(session, enrollment.event, base_url=base_url)
    return True


@applies(WithdrawApplication)
def _withdraw_application(session: Session, user: LineUser, effect: WithdrawApplication) -> None:
    parent = people.parent_of(session, user.id)
    enrollment = enrollments.get(session, effect.enrollment_id)
    if parent is None or enrollment is None or enrollment.parent_id != parent.id:
        log.warning("withdraw: enrollment %s is not this parent's", effect.enrollment_id)
        return
    withdraw(session, enrollment, base_url=effect.base_url)


@applies(SetAnnouncementOptIn)
def _set_announcement_optin(session: Session, user: LineUser, effect: SetAnnouncementOptIn) -> None:
    parent = people.parent_of(session, user.id)
    if parent is not None and effect.centre in CENTRES:
        events.set_optin(session, parent.id, effect.centre, effect.wanted)


def fill_seats(session: Session, event: Event, *, base_url: str) -> list[Enrollment]:
    """Give free seats to the waitlist, and tell each promoted parent at once."""
    promoted = enrollments.promote(session, event)
    for enrollment in promoted:
        if enrollment.status == "confirmed":
            notices.plan_join_link(session, enrollment, base_url, "promoted")
        else:
            notices.plan_promoted_pending(session, enrollment)
    return promoted


# --- staff operations --------------------------------------------------------------------------------------
def publish(session: Session, event: Event) -> int:
    """Make a draft visible and announce it once to the parents who asked (quiet hours respected).
    Returns how many parents the announcement goes to (0 if it was published already)."""
    if not events.publish(session, event) or not events.mark_announced(event):
        return 0
    if event.applications_close_at <= now():
        return 0
    recipients = []
    for user, parent in events.announcement_audience(session, event.centre):
        if not fits(info(event), profile_of(parent)) or sanctions.bars(session, parent.id).covers(event.id):
            continue
        recipients.append((user.line_user_id, user.language))
    notices.plan_announcement(session, event, recipients, not_before=quiet_until(now()))
    return len(recipients)


def cancel_event(session: Session, event: Event) -> int:
    """中止: every parent with a live application is told once. Returns how many notices were planned."""
    affected = events.affected_enrollments(session, event.id)
    if not events.cancel(session, event):
        return 0
    return notices.plan_cancelled(session, event, affected)


def reschedule(session: Session, event: Event, starts_at: datetime, ends_at: datetime) -> int:
    """A new time: every parent with a live application is told once. Join pages, calendars and reminders follow
    the event row. Returns how many notices were planned."""
    old_start, old_end = event.starts_at, event.ends_at
    if not events.reschedule(session, event, starts_at, ends_at):
        return 0
    return notices.plan_changed(session, event, events.affected_enrollments(session, event.id), old_start, old_end)


def approve(session: Session, enrollment: Enrollment, *, decided_by: str, base_url: str) -> bool:
    if not enrollments.approve(session, enrollment, decided_by=decided_by):
        return False
    notices.plan_join_link(session, enrollment, base_url, "approved")
    return True


def decline(session: Session, enrollment: Enrollment, *, decided_by: str, base_url: str) -> bool:
    if not enrollments.decline(session, enrollment, decided_by=decided_by):
        return False
    notices.plan_declined(session, enrollment)
    fill_seats(session, enrollment.event, base_url=base_url)
    return True


def reissue_link(session: Session, enrollment: Enrollment, *, reason: str, base_url: str) -> bool:
    """A lost or leaked link: the old one stops working at once and the participant is sent a new one."""
    link = join_links.reissue(session, enrollment.id, reason)
    if link is None:
        return False
    notices.plan_join_link(session, enrollment, base_url, "reissued")
    return True


# --- the join page ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class JoinPage:
    """What one opening of a join page may show. ``conference`` is set only in state "open" when asked for."""

    state: str  # open | not_ready | too_early | ended | finished | not_confirmed | no_consent | barred
    lang: str
    event: EventInfo
    conference: Conference | None = None


# A link in one of these states is no way in any more: its page is the one for an unknown link (``None``), which
# says nothing of the event (a pregnancy class's title is health information) nor of why.
DEAD_STATES = frozenset({"revoked", "cancelled", "not_published"})


def open_join_link(session: Session, token: str, *, fingerprint: str, reveal: bool) -> JoinPage | None:
    """Decide what the page of this link shows right now, and record the opening. None for a dead link — unknown,
    revoked, erased (its sealed token cleared), or of an event cancelled or withdrawn — and then nothing is
    recorded: an erased parent leaves no new trace, and a dead link's page is the same whoever opens it."""
    link = join_links.resolve(session, token)
    if link is None or link.token_sealed is None:
        return None
    enrollment = link.enrollment
    event = enrollment.event
    state = join_state(
        moment=now(),
        starts_at=event.starts_at,
        ends_at=event.ends_at,
        opens_minutes=event.join_opens_minutes,
        revoked=link.revoked_at is not None,
        refusal=enrollments.refusal(session, enrollment),
    )
    if state in DEAD_STATES:
        return None
    conference = _ready_conference(event) if state == "open" else None
    if state == "open" and conference is None:
        state = "not_ready"
    shown = conference if state == "open" and reveal else None
    join_links.record_opening(session, link, fingerprint=fingerprint, outcome=state, details_shown=shown is not None)
    user = session.get(LineUser, enrollment.parent.line_user_pk)
    return JoinPage(state, user.language, info(event), shown)


def _ready_conference(event: Event) -> Conference | None:
    """How to join, or None while staff have not entered the meeting ID yet (the page then says so, kindly)."""
    if not event.meeting_id_sealed:
        return None
    conference = events.conference(event)
    return conference if conference.meeting_id.strip() else None
