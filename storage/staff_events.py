"""What only the staff console does with events: events of some centres in a period, applications waiting for a
decision, participant lists with their parents, direct changes of details, and attendance (出欠)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVarTuple

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from storage import crypto
from storage.clock import now
from storage.models import AttendanceMark, Enrollment, Event, JoinLink, Parent

_Row = TypeVarTuple("_Row")


def _scoped(query: Select[*_Row], centres: tuple[str, ...] | None) -> Select[*_Row]:
    return query if centres is None else query.where(Event.centre.in_(centres))


def between(session: Session, start: datetime, end: datetime, centres: tuple[str, ...] | None) -> list[Event]:
    """Events starting in [start, end) of these centres (None: every centre), drafts and cancelled ones included."""
    query = select(Event).where(Event.starts_at >= start, Event.starts_at < end).order_by(Event.starts_at, Event.id)
    return list(session.scalars(_scoped(query, centres)))


def listing(
    session: Session,
    centres: tuple[str, ...] | None,
    *,
    ended_before: datetime | None = None,
    not_ended_at: datetime | None = None,
    limit: int = 300,
) -> list[Event]:
    """Events for the console's list: upcoming (``not_ended_at``, soonest first) or past (``ended_before``,
    latest first)."""
    query = select(Event)
    if not_ended_at is not None:
        query = query.where(Event.ends_at > not_ended_at).order_by(Event.starts_at, Event.id)
    if ended_before is not None:
        query = query.where(Event.ends_at <= ended_before).order_by(Event.starts_at.desc(), Event.id.desc())
    return list(session.scalars(_scoped(query, centres).limit(limit)))


def waiting_for_decision(
    session: Session, centres: tuple[str, ...] | None, moment: datetime
) -> list[tuple[Event, int, datetime]]:
    """Events not yet ended with applications waiting for approval: (event, how many, the oldest's time)."""
    query = (
        select(Event, func.count(Enrollment.id), func.min(Enrollment.queued_at))
        .join(Enrollment, Enrollment.event_id == Event.id)
        .where(Enrollment.status == "pending", Event.ends_at > moment, Event.status == "published")
        .group_by(Event.id)
        .order_by(func.min(Enrollment.queued_at))
    )
    return list(session.execute(_scoped(query, centres)).all())


def roster(session: Session, event_id: int) -> list[tuple[Enrollment, Parent]]:
    """Everyone who applied to the event, with their parent record, in the order they queued."""
    return list(
        session.execute(
            select(Enrollment, Parent)
            .join(Parent, Parent.id == Enrollment.parent_id)
            .where(Enrollment.event_id == event_id)
            .order_by(Enrollment.queued_at, Enrollment.id)
        ).all()
    )


# Details staff may change directly; a change of time goes through the event service (parents are told).
EDITABLE = (
    "centre",
    "kind",
    "title",
    "description",
    "capacity",
    "target_min_months",
    "target_max_months",
    "target_pregnant",
    "applications_open_at",
    "applications_close_at",
    "needs_approval",
    "conference_service",
    "join_opens_minutes",
)
SEALED = {"join_url": "join_url_sealed", "meeting_id": "meeting_id_sealed", "passcode": "passcode_sealed"}


def update_details(event: Event, values: dict[str, Any]) -> list[str]:
    """Apply changed details (the conference ones are sealed; a None passcode means unchanged). Returns the names
    of the fields that changed."""
    changed = [f for f in EDITABLE if f in values and getattr(event, f) != values[f]]
    for field in changed:
        setattr(event, field, values[field])
    for field, column in SEALED.items():
        value = values.get(field)
        if value is not None and crypto.unseal(getattr(event, column)) != value:
            setattr(event, column, crypto.seal(value))
            changed.append(field)
    if changed:
        event.updated_at = now()
    return changed


def attendance(session: Session, event_id: int) -> dict[int, AttendanceMark]:
    """{enrollment id: mark} for the event's participants that have been marked."""
    return {
        m.enrollment_id: m
        for m in session.scalars(
            select(AttendanceMark)
            .join(Enrollment, Enrollment.id == AttendanceMark.enrollment_id)
            .where(Enrollment.event_id == event_id)
        )
    }


def mark_attendance(session: Session, enrollment: Enrollment, attended: bool | None, staff_id: int) -> bool:
    """Record 出席 (True) / 欠席 (False), or clear the mark (None). True if anything changed."""
    mark = session.get(AttendanceMark, enrollment.id)
    if attended is None:
        if mark is None:
            return False
        session.delete(mark)
        return True
    if mark is not None and mark.attended == attended:
        return False
    if mark is None:
        mark = AttendanceMark(enrollment_id=enrollment.id)
        session.add(mark)
    mark.attended, mark.marked_at, mark.marked_by_staff_id = attended, now(), staff_id
    return True


def message_subjects(session: Session, event_id: int) -> dict[int, list[str]]:
    """{enrollment id: the outbox subjects of messages about it} — its own ("enrollment:<id>") and its join
    links' ("join_link:<id>") — so the console can show what each participant was sent."""
    out: dict[int, list[str]] = {}
    for enrollment_id, link_id in session.execute(
        select(Enrollment.id, JoinLink.id)
        .outerjoin(JoinLink, JoinLink.enrollment_id == Enrollment.id)
        .where(Enrollment.event_id == event_id)
    ):
        subjects = out.setdefault(enrollment_id, [f"enrollment:{enrollment_id}"])
        if link_id is not None:
            subjects.append(f"join_link:{link_id}")
    return out


def titles(session: Session, event_ids: list[int]) -> dict[int, str]:
    if not event_ids:
        return {}
    return dict(session.execute(select(Event.id, Event.title).where(Event.id.in_(event_ids))).all())
