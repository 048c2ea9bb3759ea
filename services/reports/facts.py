"""Loads what the report, loan and staff flows may know into the context: the parent's reports and requests (with
the latest word from staff), and — when the LINE account is a staff member's — who they are and the escalations
they may see. Also builds the same view of one escalation for the notices to staff.

Loaded into the context when a step first looks at them (``services.context``); the fresh reference drawn here is
used only if the step files a report or a request.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.orm import Session

from handlers.reports.rules import (
    RECENTLY_RESOLVED,
    EscalationInfo,
    EventRef,
    ReportFacts,
    StaffFacts,
    ThreadMessage,
    scope,
)
from storage import reports, rota, staff
from storage.models import Escalation, LineUser, Parent


def of_parent(session: Session, parent: Parent | None, *, moment: datetime) -> ReportFacts | None:
    """The parent's reports and requests (None for a LINE user who has not registered)."""
    if parent is None:
        return None
    mine = reports.of_parent(session, parent.id, moment - RECENTLY_RESOLVED)
    return ReportFacts(
        escalations=tuple(views(session, mine)),
        fresh=reports.new_reference_body(),
        after_hours=rota.after_hours(session, moment),
    )


def of_staff_member(session: Session, user: LineUser, *, moment: datetime) -> StaffFacts | None:
    """The staff member this LINE account is linked to, with the escalations they may see; None for everyone else."""
    member = staff.by_line_user(session, user.id)
    if member is None:
        return None
    seen = reports.visible(session, scope(member.centre, member.role), moment - RECENTLY_RESOLVED)
    return StaffFacts(
        id=member.id,
        name=member.name,
        centre=member.centre,
        role=member.role,
        on_duty=rota.member_on_duty(session, member, moment),
        escalations=tuple(views(session, seen)),
    )


def view(session: Session, escalation: Escalation) -> EscalationInfo:
    return views(session, [escalation])[0]


def views(session: Session, escalations: Iterable[Escalation]) -> list[EscalationInfo]:
    """Each escalation with its report or loan request, its events, who acknowledged it and the latest message
    from staff to the parent — in a few queries for the lot."""
    rows = list(escalations)
    ids = [e.id for e in rows]
    by_report = reports.reports_by_escalation(session, ids)
    by_loan = reports.loans_by_escalation(session, ids)
    event_ids = [i for r in by_report.values() for i in r.event_ids] + [
        loan.event_id for loan in by_loan.values() if loan.event_id is not None
    ]
    events = reports.events_by_id(session, event_ids)
    threads = reports.messages(session, ids)
    authors = reports.staff_names(
        session, [e.acknowledged_by for e in rows] + [m.staff_id for thread in threads.values() for m in thread]
    )
    out = []
    for escalation in rows:
        report, loan = by_report.get(escalation.id), by_loan.get(escalation.id)
        wanted = report.event_ids if report else ([loan.event_id] if loan and loan.event_id else [])
        refs = tuple(EventRef(e.id, e.title, e.starts_at, e.centre) for i in wanted if (e := events.get(i)))
        instruction = _latest_instruction(threads.get(escalation.id, []), authors, escalation.centre)
        acknowledger = authors.get(escalation.acknowledged_by) if escalation.acknowledged_by else None
        common = dict(
            id=escalation.id,
            reference=escalation.reference,
            kind=escalation.kind,
            status=escalation.status,
            centre=escalation.centre,
            created_at=escalation.created_at,
            events=refs,
            outcome=escalation.outcome,
            acknowledged_by_id=escalation.acknowledged_by,
            acknowledged_by=acknowledger.name if acknowledger else "",
            instruction=instruction,
        )
        if report is not None:
            out.append(
                EscalationInfo(
                    **common,
                    note=report.note,
                    lost=report.lost,
                    lost_when=report.lost_when,
                    misuse=report.misuse,
                    held_links=len(report.held_enrollment_ids or []),
                    repeats=report.repeats,
                )
            )
        elif loan is not None:
            out.append(
                EscalationInfo(
                    **common,
                    note=loan.note,
                    equipment=tuple(loan.equipment or ()),
                    reason=loan.reason,
                    decision_note=loan.decision_note,
                )
            )
        else:
            out.append(EscalationInfo(**common))
    return out


def _latest_instruction(thread, authors, fallback_centre: str) -> ThreadMessage | None:
    sent = [m for m in thread if m.direction == "to_parent"]
    if not sent:
        return None
    last = sent[-1]
    author = authors.get(last.staff_id)
    return ThreadMessage(
        id=last.id,
        direction=last.direction,
        text=last.text,
        at=last.created_at,
        centre=author.centre if author else fallback_centre,
        answered=last.answered_at is not None,
    )
