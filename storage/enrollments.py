"""Applications (申し込み): taking a seat, the waitlist (キャンセル待ち), staff approval (承認), withdrawal, and the one
rule of who is a participant in good standing (``refusal``), used by the join page, delivery checks and reminders.

Seats are counted with the event row locked, and (event, parent) is UNIQUE: a double tap never makes two.
Every enrollment that becomes confirmed gets a live join link here, so "confirmed" and "has a link" never differ.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, aliased, contains_eager

from storage import events, join_links, people, sanctions
from storage.clock import now
from storage.models import Enrollment, Event, Parent

LIVE = ("confirmed", "pending", "waitlisted")


@dataclass(frozen=True)
class Applied:
    enrollment: Enrollment
    status: str  # confirmed | pending | waitlisted, or declined (an earlier application staff turned down)
    created: bool  # False when the parent had applied already (a double tap, a second device)


def get(session: Session, enrollment_id: int) -> Enrollment | None:
    return session.get(Enrollment, enrollment_id)


def of(session: Session, event_id: int, parent_id: int) -> Enrollment | None:
    return session.scalars(
        select(Enrollment).where(Enrollment.event_id == event_id, Enrollment.parent_id == parent_id)
    ).first()


def for_parent(session: Session, parent_id: int) -> list[Enrollment]:
    """The parent's applications (withdrawn ones left out), soonest event first, each with its event loaded."""
    return list(
        session.scalars(
            select(Enrollment)
            .join(Event, Event.id == Enrollment.event_id)
            .options(contains_eager(Enrollment.event))
            .where(Enrollment.parent_id == parent_id, Enrollment.status != "withdrawn")
            .order_by(Event.starts_at, Enrollment.id)
        )
    )


def apply(session: Session, event: Event, parent_id: int) -> Applied:
    """Take a seat if there is one (承認待ち if staff approve first), else a place on the waitlist.

    The caller checks the rules first (window, target, consent, sanctions); this only keeps the seats right.
    """
    events.lock(session, event.id)
    existing = of(session, event.id, parent_id)
    if existing is not None and existing.status != "withdrawn":
        return Applied(existing, existing.status, False)
    seated, _ = events.seat_counts(session, [event.id])[event.id]
    if seated < event.capacity:
        status = "pending" if event.needs_approval else "confirmed"
    else:
        status = "waitlisted"
    moment = now()
    enrollment = existing or Enrollment(event_id=event.id, parent_id=parent_id)
    enrollment.status, enrollment.queued_at, enrollment.applied_at = status, moment, moment
    enrollment.decided_at = enrollment.decided_by = enrollment.withdrawn_at = None
    if existing is None:
        session.add(enrollment)
    session.flush()
    if status == "confirmed":
        _confirmed(session, enrollment)
    return Applied(enrollment, status, True)


def withdraw(session: Session, enrollment: Enrollment) -> bool:
    """The parent cancels (キャンセル). True if the application was live. The caller then fills the seat (``promote``)."""
    join_links.lock_enrollment(session, enrollment.id)  # waits for a join link being sent right now
    session.refresh(enrollment)
    if enrollment.status not in LIVE:
        return False
    enrollment.status, enrollment.withdrawn_at = "withdrawn", now()
    join_links.revoke(session, enrollment.id, "withdrawn")
    return True


def approve(session: Session, enrollment: Enrollment, *, decided_by: str) -> bool:
    """Staff say yes to an application waiting for approval: it is confirmed (its seat was held)."""
    if enrollment.status != "pending":
        return False
    enrollment.status, enrollment.decided_at, enrollment.decided_by = "confirmed", now(), decided_by
    _confirmed(session, enrollment)
    return True


def decline(session: Session, enrollment: Enrollment, *, decided_by: str) -> bool:
    """Staff say no (to an application waiting for approval or on the waitlist). The caller then fills the seat."""
    if enrollment.status not in ("pending", "waitlisted"):
        return False
    enrollment.status, enrollment.decided_at, enrollment.decided_by = "declined", now(), decided_by
    return True


def promote(session: Session, event: Event) -> list[Enrollment]:
    """Fill free seats from the waitlist, first come first served, while the event is still ahead.

    Someone who may not take part right now (no current consent, barred) keeps their place and is passed over.
    An approval event's promoted applicants wait for staff (承認待ち), holding the seat.
    """
    events.lock(session, event.id)
    if event.status != "published" or event.starts_at <= now():
        return []
    seated, _ = events.seat_counts(session, [event.id])[event.id]
    promoted: list[Enrollment] = []
    for candidate in waitlist(session, event.id):
        if seated >= event.capacity:
            break
        if standing_refusal(session, candidate.parent, event.id) is not None:
            continue
        candidate.status = "pending" if event.needs_approval else "confirmed"
        candidate.decided_at = now() if candidate.status == "confirmed" else None
        if candidate.status == "confirmed":
            _confirmed(session, candidate)
        promoted.append(candidate)
        seated += 1
    return promoted


def waitlist(session: Session, event_id: int) -> list[Enrollment]:
    return list(
        session.scalars(
            select(Enrollment)
            .where(Enrollment.event_id == event_id, Enrollment.status == "waitlisted")
            .order_by(Enrollment.queued_at, Enrollment.id)
        )
    )


def waitlist_position(session: Session, enrollment: Enrollment) -> int | None:
    """1 for the first in line; None if not on the waitlist."""
    if enrollment.status != "waitlisted":
        return None
    ahead = session.scalar(
        select(func.count())
        .select_from(Enrollment)
        .where(
            Enrollment.event_id == enrollment.event_id,
            Enrollment.status == "waitlisted",
            or_(
                Enrollment.queued_at < enrollment.queued_at,
                and_(Enrollment.queued_at == enrollment.queued_at, Enrollment.id < enrollment.id),
            ),
        )
    )
    return int(ahead or 0) + 1


def waitlist_positions(session: Session, waiting: list[Enrollment]) -> dict[int, int]:
    """``waitlist_position`` of many enrollments in one query: {enrollment id: 1 for the first in line}."""
    ids = [e.id for e in waiting if e.status == "waitlisted"]
    if not ids:
        return {}
    ahead = aliased(Enrollment)
    rows = session.execute(
        select(Enrollment.id, func.count(ahead.id))
        .outerjoin(
            ahead,
            and_(
                ahead.event_id == Enrollment.event_id,
                ahead.status == "waitlisted",
                or_(
                    ahead.queued_at < Enrollment.queued_at,
                    and_(ahead.queued_at == Enrollment.queued_at, ahead.id < Enrollment.id),
                ),
            ),
        )
        .where(Enrollment.id.in_(ids))
        .group_by(Enrollment.id)
    ).all()
    return {enrollment_id: int(count) + 1 for enrollment_id, count in rows}


# --- who is a participant in good standing ------------------------------------------------------------------
def standing_refusal(session: Session, parent: Parent, event_id: int) -> str | None:
    """Why this parent may not take part in this event right now: "no_consent", "barred", or None."""
    if not people.has_current_consent(session, parent.line_user_pk):
        return "no_consent"
    if sanctions.is_barred(session, parent.id, event_id):
        return "barred"
    return None


def refusal(session: Session, enrollment: Enrollment) -> str | None:
    """Why this enrollment may not join now — "cancelled" / "finished" (the event), "not_confirmed", "no_consent",
    "barred" —
    or None for a confirmed, consenting, unbarred participant of a published event. The time window is the join
    page's business (handlers.events.rules.join_state)."""
    status = enrollment.event.status
    if status != "published":
        return status if status in ("cancelled", "finished") else "not_published"
    if enrollment.status != "confirmed":
        return "not_confirmed"
    return standing_refusal(session, enrollment.parent, enrollment.event_id)


def _confirmed(session: Session, enrollment: Enrollment) -> None:
    join_links.issue(session, enrollment)
    join_links.calendar_token(enrollment)
