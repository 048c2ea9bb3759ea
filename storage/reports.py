"""Lost-credential reports, equipment-loan requests, their escalations, the thread with the parent and the history of
each (``report_events``, mirrored into the console's audit trail). Queries take the session first and never commit.

Which staff are told, the e-mail / webhook queue and the timers' queries are in ``storage.escalation``.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from storage import audit
from storage.clock import now
from storage.models import (
    Enrollment,
    Escalation,
    EscalationMessage,
    Event,
    LoanRequest,
    LostCredentialReport,
    ReportEvent,
    StaffMember,
)

# Letters and digits that cannot be mistaken for one another when read out on the phone (no 0/O, 1/I).
REFERENCE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"


def new_reference_body(length: int = 6) -> str:
    """A random reference body ("7KQ2MX"): about 10⁹ values, so a clash is rare; the UNIQUE constraint refuses it if
    one happens, and the event is processed again with a new one."""
    return "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(length))


# --- creating -------------------------------------------------------------------------------------------------
def create_escalation(session: Session, *, kind: str, reference: str, parent_id: int, centre: str) -> Escalation:
    moment = now()
    escalation = Escalation(
        kind=kind,
        reference=reference,
        parent_id=parent_id,
        centre=centre,
        status="open",
        created_at=moment,
        updated_at=moment,
        attention_since=moment,
        renotified=0,
        reopened=0,
    )
    session.add(escalation)
    session.flush()
    return escalation


def add_report(
    session: Session,
    escalation: Escalation,
    *,
    lost: str,
    lost_when: str,
    misuse: str,
    event_ids: list[int],
    note: str,
    held: list[int],
) -> LostCredentialReport:
    report = LostCredentialReport(
        escalation_id=escalation.id,
        lost=lost,
        lost_when=lost_when,
        misuse=misuse,
        event_ids=sorted(set(event_ids)),
        note=note,
        held_enrollment_ids=sorted(set(held)),
        repeats=0,
    )
    session.add(report)
    session.flush()
    return report


def add_loan(
    session: Session, escalation: Escalation, *, equipment: list[str], event_id: int | None, reason: str, note: str
) -> LoanRequest:
    loan = LoanRequest(
        escalation_id=escalation.id,
        equipment=list(equipment),
        event_id=event_id,
        reason=reason,
        note=note,
        decision_note="",
    )
    session.add(loan)
    session.flush()
    return loan


# --- finding ----------------------------------------------------------------------------------------------------
def get(session: Session, escalation_id: int, *, lock: bool = False) -> Escalation | None:
    """The escalation; locked for this transaction when two staff members may act on it at once."""
    query = select(Escalation).where(Escalation.id == escalation_id)
    if lock:
        query = query.with_for_update()
    return session.scalars(query).first()


def report_of(session: Session, escalation_id: int) -> LostCredentialReport | None:
    return session.scalars(
        select(LostCredentialReport).where(LostCredentialReport.escalation_id == escalation_id)
    ).first()


def loan_of(session: Session, escalation_id: int) -> LoanRequest | None:
    return session.scalars(select(LoanRequest).where(LoanRequest.escalation_id == escalation_id)).first()


def of_parent(session: Session, parent_id: int, resolved_since: datetime) -> list[Escalation]:
    """The parent's unresolved escalations and those resolved since then, newest first."""
    return list(
        session.scalars(
            select(Escalation)
            .where(
                Escalation.parent_id == parent_id,
                or_(Escalation.resolved_at.is_(None), Escalation.resolved_at >= resolved_since),
            )
            .order_by(Escalation.created_at.desc(), Escalation.id.desc())
        )
    )


def visible(session: Session, centre: str | None, resolved_since: datetime, limit: int = 50) -> list[Escalation]:
    """Unresolved escalations, and those resolved since then, of one centre (None: every centre), oldest first."""
    query = select(Escalation).where(or_(Escalation.resolved_at.is_(None), Escalation.resolved_at >= resolved_since))
    if centre is not None:
        query = query.where(Escalation.centre == centre)
    return list(session.scalars(query.order_by(Escalation.created_at, Escalation.id).limit(limit)))


def reports_by_escalation(session: Session, escalation_ids: Iterable[int]) -> dict[int, LostCredentialReport]:
    ids = sorted(set(escalation_ids))
    if not ids:
        return {}
    rows = session.scalars(select(LostCredentialReport).where(LostCredentialReport.escalation_id.in_(ids)))
    return {r.escalation_id: r for r in rows}


def loans_by_escalation(session: Session, escalation_ids: Iterable[int]) -> dict[int, LoanRequest]:
    ids = sorted(set(escalation_ids))
    if not ids:
        return {}
    return {r.escalation_id: r for r in session.scalars(select(LoanRequest).where(LoanRequest.escalation_id.in_(ids)))}


def events_by_id(session: Session, event_ids: Iterable[int]) -> dict[int, Event]:
    ids = sorted(set(event_ids))
    if not ids:
        return {}
    return {e.id: e for e in session.scalars(select(Event).where(Event.id.in_(ids)))}


def staff_names(session: Session, staff_ids: Iterable[int]) -> dict[int, StaffMember]:
    ids = sorted({i for i in staff_ids if i is not None})
    if not ids:
        return {}
    return {m.id: m for m in session.scalars(select(StaffMember).where(StaffMember.id.in_(ids)))}


def held_enrollments(session: Session, other_than: int | None = None) -> set[int]:
    """Enrollments whose join link an unresolved report (other than escalation ``other_than``) holds back until
    staff send a new one."""
    query = (
        select(LostCredentialReport.held_enrollment_ids)
        .join(Escalation, Escalation.id == LostCredentialReport.escalation_id)
        .where(Escalation.status != "resolved")
    )
    if other_than is not None:
        query = query.where(Escalation.id != other_than)
    rows = session.scalars(query)
    return {enrollment_id for held in rows for enrollment_id in held or []}


def live_enrollments(session: Session, parent_id: int, event_ids: Iterable[int] | None) -> list[Enrollment]:
    """The parent's live applications (confirmed, pending, waitlisted) to published events not yet over, for these
    events (None: every such event) — the applications a report can concern."""
    query = (
        select(Enrollment)
        .join(Event, Event.id == Enrollment.event_id)
        .where(
            Enrollment.parent_id == parent_id,
            Enrollment.status.in_(("confirmed", "pending", "waitlisted")),
            Event.status == "published",
            Event.ends_at > now(),
        )
    )
    if event_ids is not None:
        query = query.where(Enrollment.event_id.in_(sorted(set(event_ids))))
    return list(session.scalars(query.order_by(Enrollment.id)))


# --- the thread -------------------------------------------------------------------------------------------------
def add_message(
    session: Session, escalation: Escalation, *, direction: str, text: str, staff_id: int | None
) -> EscalationMessage:
    message = EscalationMessage(
        escalation_id=escalation.id, direction=direction, text=text, staff_id=staff_id, created_at=now()
    )
    session.add(message)
    session.flush()
    return message


def messages(session: Session, escalation_ids: Iterable[int]) -> dict[int, list[EscalationMessage]]:
    """Each escalation's thread, oldest first."""
    ids = sorted(set(escalation_ids))
    out: dict[int, list[EscalationMessage]] = {i: [] for i in ids}
    if ids:
        for row in session.scalars(
            select(EscalationMessage).where(EscalationMessage.escalation_id.in_(ids)).order_by(EscalationMessage.id)
        ):
            out[row.escalation_id].append(row)
    return out


def latest_instruction(session: Session, escalation_id: int) -> EscalationMessage | None:
    return session.scalars(
        select(EscalationMessage)
        .where(EscalationMessage.escalation_id == escalation_id, EscalationMessage.direction == "to_parent")
        .order_by(EscalationMessage.id.desc())
    ).first()


# --- the history --------------------------------------------------------------------------------------------------
def record(
    session: Session,
    escalation: Escalation,
    action: str,
    *,
    actor: StaffMember | None = None,
    actor_label: str | None = None,
    details: dict[str, Any] | None = None,
) -> ReportEvent:
    """One change in the escalation's life, with time and actor, here and in the console's audit trail."""
    label = actor_label or (f"staff:{actor.id}" if actor is not None else "system")
    facts = {"reference": escalation.reference, "kind": escalation.kind, **(details or {})}
    row = ReportEvent(
        escalation_id=escalation.id,
        at=now(),
        action=action,
        actor_staff_id=actor.id if actor is not None else None,
        actor_label=label,
        details=facts,
    )
    session.add(row)
    audit.record(
        session,
        action=f"escalation.{action}",
        actor=actor,
        actor_label=label,
        subject_type="escalation",
        subject_id=escalation.id,
        details=facts,
    )
    session.flush()
    return row


def history(session: Session, escalation_id: int) -> list[ReportEvent]:
    return list(
        session.scalars(
            select(ReportEvent)
            .where(ReportEvent.escalation_id == escalation_id)
            .order_by(ReportEvent.at, ReportEvent.id)
        )
    )


def touch(escalation: Escalation) -> None:
    escalation.updated_at = now()
