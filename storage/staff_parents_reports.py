"""What a parent raised with staff — lost-credential reports, equipment-loan requests, the thread with staff and the
history of each — in the APPI data-rights actions of ``storage.staff_parents``: disclosed whole by the export, and
on erasure stripped of every word written by or about the parent while the rows (kind, codes, status, times) stay for
anonymous statistics. The parent's words also reached staff — alerts, relayed answers and the staff menu's lists in
their LINE chats (outbox rows), a staff member half-way through writing an instruction or a decision (conversation
state) — and erasure takes them out of those copies too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from storage import reports
from storage.models import (
    ConversationState,
    Escalation,
    EscalationMessage,
    LineUser,
    LoanRequest,
    LostCredentialReport,
    OutboxMessage,
    ReportEvent,
    StaffMember,
)

EVER = datetime(2000, 1, 1, tzinfo=UTC)
# The staff chat's flow (handlers.reports.staff_chat.NAME): its state holds ``escalation`` and, while a staff member writes
# an instruction or a loan decision, the text (shown back to them in a preview before it is sent).
STAFF_FLOW = "staff"
DRAFTS = ("text", "note")
# What stands in copies of LINE messages for the words taken out (a LINE text may not be empty).
REDACTED = "（削除済み）"


@dataclass(frozen=True)
class Raised:
    """Something the parent raised with staff: the escalation, and the report or loan request behind it."""

    escalation: Escalation
    report: LostCredentialReport | None
    loan: LoanRequest | None
    thread: list[EscalationMessage]


def raised(session: Session, parent_id: int) -> list[Raised]:
    """Every lost-credential report and loan request of the parent, newest first, with its thread."""
    found = reports.of_parent(session, parent_id, resolved_since=EVER)
    ids = [e.id for e in found]
    by_report, by_loan = reports.reports_by_escalation(session, ids), reports.loans_by_escalation(session, ids)
    threads = reports.messages(session, ids)
    return [Raised(e, by_report.get(e.id), by_loan.get(e.id), threads.get(e.id, [])) for e in found]


def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def _history(session: Session, escalation_ids: list[int]) -> dict[int, list[ReportEvent]]:
    out: dict[int, list[ReportEvent]] = {i: [] for i in escalation_ids}
    if escalation_ids:
        for row in session.scalars(
            select(ReportEvent)
            .where(ReportEvent.escalation_id.in_(escalation_ids))
            .order_by(ReportEvent.at, ReportEvent.id)
        ):
            out[row.escalation_id].append(row)
    return out


def _event(row: ReportEvent) -> dict[str, Any]:
    # Who acted, without staff account numbers: "parent", "system" or "staff".
    details = {k: v for k, v in (row.details or {}).items() if k not in ("reference", "kind")}
    return {"action": row.action, "at": _iso(row.at), "actor": row.actor_label.split(":")[0], "details": details}


def _escalation(e: Escalation) -> dict[str, Any]:
    return {
        "reference": e.reference,
        "kind": e.kind,
        "centre": e.centre,
        "status": e.status,
        "outcome": e.outcome,
        "created_at": _iso(e.created_at),
        "updated_at": _iso(e.updated_at),
        "acknowledged_at": _iso(e.acknowledged_at),
        "escalated_at": _iso(e.escalated_at),
        "resolved_at": _iso(e.resolved_at),
        "renotified": e.renotified,
        "reopened": e.reopened,
    }


def _report(r: LostCredentialReport) -> dict[str, Any]:
    return {
        "lost": r.lost,
        "lost_when": r.lost_when,
        "misuse": r.misuse,
        "event_ids": list(r.event_ids or []),
        "note": r.note,
        "held_enrollment_ids": list(r.held_enrollment_ids or []),
        "repeats": r.repeats,
        "last_repeat_at": _iso(r.last_repeat_at),
    }


def _loan(r: LoanRequest) -> dict[str, Any]:
    return {
        "equipment": list(r.equipment or []),
        "event_id": r.event_id,
        "reason": r.reason,
        "note": r.note,
        "decision_note": r.decision_note,
    }


def exported(session: Session, parent_id: int) -> list[dict[str, Any]]:
    """The export's "reports" section: each report or loan request (newest first) with its escalation (受付番号,
    status, decision, times), the thread's messages and the history of changes."""
    found = raised(session, parent_id)
    history = _history(session, [r.escalation.id for r in found])
    return [
        {
            **_escalation(r.escalation),
            **(_report(r.report) if r.report else {}),
            **(_loan(r.loan) if r.loan else {}),
            "messages": [
                {"direction": m.direction, "text": m.text, "at": _iso(m.created_at), "answered_at": _iso(m.answered_at)}
                for m in r.thread
            ],
            "events": [_event(e) for e in history[r.escalation.id]],
        }
        for r in found
    ]


def erase(session: Session, parent_id: int) -> None:
    """Blank the free text of the parent's reports, loan requests and threads (the rows stay, with their codes,
    status and times), and take the same words out of the copies staff received (see ``_redact_copies``)."""
    found = raised(session, parent_id)
    words: set[str] = set()
    for item in found:
        texts = [m.text for m in item.thread]
        if item.report is not None:
            texts.append(item.report.note)
            item.report.note = ""
        if item.loan is not None:
            texts += [item.loan.note, item.loan.decision_note]
            item.loan.note, item.loan.decision_note = "", ""
        for message in item.thread:
            message.text = ""
        words.update(t.strip() for t in texts if t and t.strip())
    if found:
        _redact_copies(session, [item.escalation for item in found], words)


def _redact_copies(session: Session, escalations: list[Escalation], words: set[str]) -> None:
    """The parent's words also went to staff: alerts, relayed answers and decisions (outbox rows about the
    escalation), and the staff chat's replies — lists of open matters, previews of an instruction or a decision —
    in the LINE chats of staff since the first of these escalations. Every occurrence in those messages becomes
    ``REDACTED`` (the rows stay: delivery records, and a message not yet sent still goes, without the words). A staff
    chat left half-way through one of these escalations is ended, and the text being written in it (already in the
    preview staff were shown) is taken out of the copies as well."""
    ids = {e.id for e in escalations}
    for state in session.scalars(select(ConversationState).where(ConversationState.flow == STAFF_FLOW)):
        data = state.data or {}
        if data.get("escalation") in ids:
            words.update(data[k].strip() for k in DRAFTS if isinstance(data.get(k), str) and data[k].strip())
            session.delete(state)
    since = min(e.created_at for e in escalations)
    staff_chats = select(LineUser.line_user_id).join(StaffMember, StaffMember.line_user_pk == LineUser.id)
    copies = session.scalars(
        select(OutboxMessage).where(
            or_(
                OutboxMessage.subject.in_([f"escalation:{i}" for i in sorted(ids)]),
                and_(OutboxMessage.line_user_id.in_(staff_chats), OutboxMessage.created_at >= since),
            )
        )
    )
    ordered = sorted(words, key=len, reverse=True)  # a longer text first, should it contain a shorter one
    for row in copies:
        redacted = _without(row.messages, ordered)
        if redacted != row.messages:
            row.messages = redacted


def _without(value: Any, words: list[str]) -> Any:
    """``value`` (LINE message objects) with every occurrence of ``words`` in its strings replaced by REDACTED."""
    if isinstance(value, str):
        for word in words:
            value = value.replace(word, REDACTED)
        return value
    if isinstance(value, list):
        return [_without(v, words) for v in value]
    if isinstance(value, dict):
        return {k: _without(v, words) for k, v in value.items()}
    return value
