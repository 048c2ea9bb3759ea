"""What happens when a parent reports a loss or asks to borrow equipment, and when staff act on it: the effects the
flows return, their appliers, and the operations behind them (also used by the worker's timers and by the staff
console via ``rotate_event_credentials``).

Join links after a loss report — the default chosen, and why: the parent's personal join links for the events
concerned are revoked at once (``storage.join_links.revoke``), but new links are NOT issued and sent straight away.
They are sent when a staff member resolves the report with "新しいリンクを送って解決". A lost phone or a LINE
account in someone else's hands is one of the things reported (and any loss may come with one): a new link pushed
to that same LINE account at once could go straight to whoever has it, and the applications list (申込状況) and the
reminders would show it too. Until staff confirm, the enrollment stays confirmed without a live link — reminders
skip it ("no_link") and the 申込状況 card shows no join button — and the receipt tells the parent that new links
come after staff have checked. Staff can also send them at any time from the console's reissue button.

Each function runs inside the caller's transaction; rules are checked again here against locked rows, because what a
flow saw was a moment old. A staff action that turns out different from what the staff member was told (a
colleague was quicker) is followed by a short correction in their chat.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from sqlalchemy.orm import Session

from handlers.effects import applies
from handlers.reports.rules import LOAN, RECENTLY_RESOLVED, REPORT, merge_target, responsible_centre, sees
from services.events import operations as event_service
from services.reports import notices
from services.reports.facts import view, views
from storage import audit, crypto, enrollments, events, join_links, people, reports, staff
from storage import escalation as queue
from storage.clock import now
from storage.models import Escalation, LineUser, Parent, StaffMember

log = logging.getLogger(__name__)

URL = re.compile(r"^https?://[^\s]{3,500}$")


# --- effects the parent's flows return ------------------------------------------------------------------------
@dataclass(frozen=True)
class FileReport:
    """紛失・盗難の報告, confirmed by the parent. ``reference`` is the number they were told for a new report."""

    reference: str
    lost: str
    lost_when: str
    misuse: str
    event_ids: tuple[int, ...]
    note: str
    base_url: str


@dataclass(frozen=True)
class RequestLoan:
    reference: str
    equipment: tuple[str, ...]
    event_id: int | None
    reason: str
    note: str
    base_url: str


@dataclass(frozen=True)
class AnswerStaff:
    """The parent's answer to staff, in the thread of one escalation."""

    escalation_id: int
    text: str


# --- effects of the staff chat ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Acknowledge:
    escalation_id: int


@dataclass(frozen=True)
class Resolve:
    escalation_id: int
    send_links: bool
    base_url: str


@dataclass(frozen=True)
class SendInstruction:
    escalation_id: int
    text: str


@dataclass(frozen=True)
class DecideLoan:
    escalation_id: int
    approved: bool
    note: str
    phone: str


@dataclass(frozen=True)
class RotateCredentials:
    escalation_id: int
    event_id: int
    join_url: str
    passcode: str
    base_url: str


# --- filing ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Filed:
    escalation: Escalation
    merged: bool
    revoked: int


def file_report(session: Session, parent: Parent, effect: FileReport) -> Filed:
    """Store the report, revoke the links concerned at once, and alert staff — or, when it is the same matter as an
    unresolved report of the last 24 hours, add it to that one without alerting anybody again."""
    everything = effect.lost == "line_account"  # the account itself: every link it received is at risk
    live = reports.live_enrollments(session, parent.id, None if everything else effect.event_ids)
    event_ids = sorted({e.event_id for e in live})
    held = [e.id for e in live if e.status == "confirmed"]
    revoked = sum(join_links.revoke(session, enrollment_id, "lost_report") for enrollment_id in held)
    moment = now()
    earlier = views(session, reports.of_parent(session, parent.id, moment - RECENTLY_RESOLVED))
    target = merge_target(earlier, effect.lost, event_ids, moment)
    if target is not None:
        escalation = reports.get(session, target.id, lock=True)
        report = reports.report_of(session, escalation.id)
        report.event_ids = sorted(set(report.event_ids) | set(event_ids))
        report.held_enrollment_ids = sorted(set(report.held_enrollment_ids) | set(held))
        report.repeats += 1
        report.last_repeat_at = moment
        if effect.misuse == "yes":
            report.misuse = "yes"
        if effect.note:
            report.note = "\n".join(filter(None, (report.note, effect.note)))
        reports.touch(escalation)
        reports.record(
            session,
            escalation,
            "merged",
            actor_label="parent",
            details={"events": len(event_ids), "links_revoked": revoked},
        )
        return Filed(escalation, True, revoked)
    by_id = {e.id: e for e in (events.get(session, i) for i in event_ids) if e is not None}
    firsts = sorted(by_id.values(), key=lambda e: (e.starts_at, e.id))
    escalation = reports.create_escalation(
        session,
        kind=REPORT,
        reference=effect.reference,
        parent_id=parent.id,
        centre=responsible_centre((e.centre for e in firsts), parent.centre),
    )
    reports.add_report(
        session,
        escalation,
        lost=effect.lost,
        lost_when=effect.lost_when,
        misuse=effect.misuse,
        event_ids=event_ids,
        note=effect.note,
        held=held,
    )
    reports.record(
        session,
        escalation,
        "created",
        actor_label="parent",
        details={"lost": effect.lost, "misuse": effect.misuse, "events": len(event_ids)},
    )
    if revoked:
        reports.record(session, escalation, "links_revoked", details={"links": revoked})
    notify_new(session, escalation, effect.base_url)
    return Filed(escalation, False, revoked)


def request_loan(session: Session, parent: Parent, effect: RequestLoan) -> Escalation:
    event = events.get(session, effect.event_id) if effect.event_id is not None else None
    escalation = reports.create_escalation(
        session,
        kind=LOAN,
        reference=effect.reference,
        parent_id=parent.id,
        centre=responsible_centre([event.centre] if event else [], parent.centre),
    )
    reports.add_loan(
        session,
        escalation,
        equipment=list(effect.equipment),
        event_id=event.id if event else None,
        reason=effect.reason,
        note=effect.note,
    )
    reports.record(
        session,
        escalation,
        "created",
        actor_label="parent",
        details={"equipment": list(effect.equipment), "reason": effect.reason},
    )
    notify_new(session, escalation, effect.base_url)
    return escalation


def notify_new(session: Session, escalation: Escalation, base_url: str) -> None:
    """At once: LINE to every on-duty member of the centre and the division, e-mail, the outgoing webhook."""
    on_duty = queue.on_duty_recipients(session, escalation.centre)
    alerted = notices.plan_staff_alerts(session, escalation, on_duty, "new")
    external = notices.plan_external(session, escalation, "new", base_url)
    reports.record(session, escalation, "notified", details={"line": alerted, "external": external})


@applies(FileReport)
def _file_report(session: Session, user: LineUser, effect: FileReport) -> None:
    parent = people.parent_of(session, user.id)
    if parent is None:
        log.warning("report: the user is not a registered parent")
        return
    file_report(session, parent, effect)


@applies(RequestLoan)
def _request_loan(session: Session, user: LineUser, effect: RequestLoan) -> None:
    parent = people.parent_of(session, user.id)
    if parent is None:
        log.warning("loan request: the user is not a registered parent")
        return
    request_loan(session, parent, effect)


# --- the thread -------------------------------------------------------------------------------------------------
def record_answer(session: Session, parent: Parent, escalation_id: int, text: str) -> bool:
    """The parent's answer: into the thread, to the staff member who wrote last (else whoever is on duty)."""
    escalation = reports.get(session, escalation_id)
    if escalation is None or escalation.parent_id != parent.id or escalation.status == "resolved":
        return False
    instruction = reports.latest_instruction(session, escalation.id)
    author = queue.member(session, instruction.staff_id) if instruction is not None else None
    answer = reports.add_message(
        session, escalation, direction="from_parent", text=text, staff_id=author.id if author else None
    )
    if instruction is not None and instruction.answered_at is None:
        instruction.answered_at = answer.created_at
    reports.touch(escalation)
    reports.record(session, escalation, "answered", actor_label="parent", details={"message": answer.id})
    reached = [(author, u)] if author and (u := queue.line_user_of(session, author)) else []
    for member, user in reached or queue.on_duty_recipients(session, escalation.centre):
        notices.plan_answer_relay(session, escalation, answer, member, user)
    return True


@applies(AnswerStaff)
def _answer_staff(session: Session, user: LineUser, effect: AnswerStaff) -> None:
    parent = people.parent_of(session, user.id)
    if parent is None or not record_answer(session, parent, effect.escalation_id, effect.text):
        log.warning("answer to escalation %s refused on re-check", effect.escalation_id)


# --- staff actions ---------------------------------------------------------------------------------------------
def _in_reach(member: StaffMember, escalation: Escalation | None) -> str | None:
    """Why this member may not act on this escalation now ("not_found", "not_allowed", "resolved"), or None."""
    if escalation is None or not sees(member.centre, member.role, escalation.centre):
        return "not_found"
    if member.role not in ("admin", "staff"):
        return "not_allowed"
    if escalation.status == "resolved":
        return "resolved"
    return None


def _take(session: Session, member: StaffMember, escalation: Escalation) -> None:
    escalation.status, escalation.acknowledged_at, escalation.acknowledged_by = "acknowledged", now(), member.id
    reports.touch(escalation)
    reports.record(session, escalation, "acknowledged", actor=member)
    others = queue.on_duty_recipients(session, escalation.centre)
    if escalation.escalated_at is not None:
        others += queue.division_recipients(session)
    notices.plan_taken(session, escalation, member, list({m.id: (m, u) for m, u in others}.values()))


def acknowledge(session: Session, member: StaffMember, escalation_id: int) -> str:
    """対応します. "done", or why not: "not_found", "not_allowed", "resolved", "taken" (by a colleague)."""
    escalation = reports.get(session, escalation_id, lock=True)
    refusal = _in_reach(member, escalation)
    if refusal:
        return refusal
    if escalation.status == "acknowledged":
        return "done" if escalation.acknowledged_by == member.id else "taken"
    _take(session, member, escalation)
    return "done"


def send_instruction(session: Session, member: StaffMember, escalation_id: int, text: str) -> str:
    """指示を送る: relayed to the parent, marked as from the member's centre; sending it also takes the matter."""
    escalation = reports.get(session, escalation_id, lock=True)
    refusal = _in_reach(member, escalation)
    if refusal:
        return refusal
    if escalation.status == "open":
        _take(session, member, escalation)
    message = reports.add_message(session, escalation, direction="to_parent", text=text, staff_id=member.id)
    parent_user = _parent_user(session, escalation)
    notices.plan_instruction(session, escalation, message, member, parent_user)
    reports.record(session, escalation, "instruction_sent", actor=member, details={"message": message.id})
    return "done"


def resolve(session: Session, member: StaffMember, escalation_id: int, *, send_links: bool, base_url: str) -> str:
    """解決 (reports): with new join links for the links the report stopped, or without (staff guide the parent
    another way; the console can reissue later)."""
    escalation = reports.get(session, escalation_id, lock=True)
    refusal = _in_reach(member, escalation)
    if refusal or escalation.kind != REPORT:
        return refusal or "not_found"
    report = reports.report_of(session, escalation.id)
    sent = 0
    if send_links:
        still_held = reports.held_enrollments(session, other_than=escalation.id)  # another open report's to send
        for enrollment_id in report.held_enrollment_ids:
            enrollment = enrollments.get(session, enrollment_id)
            if enrollment is None or enrollment.id in still_held or enrollment.event.ends_at <= now():
                continue
            if event_service.reissue_link(session, enrollment, reason="lost_report", base_url=base_url):
                sent += 1
    moment = now()
    escalation.status, escalation.resolved_at, escalation.resolved_by = "resolved", moment, member.id
    # No link was stopped: nothing to send or to hold, and the parent hears only that it is done.
    escalation.outcome = ("links_sent" if send_links else "links_held") if report.held_enrollment_ids else None
    reports.touch(escalation)
    reports.record(
        session, escalation, "resolved", actor=member, details={"outcome": escalation.outcome or "", "links": sent}
    )
    notices.plan_report_resolved(
        session,
        escalation,
        _parent_user(session, escalation),
        "links_sent" if sent else escalation.outcome and "links_held",
    )
    return "done"


def decide_loan(
    session: Session, member: StaffMember, escalation_id: int, *, approved: bool, note: str, phone: str
) -> str:
    """貸出OK (with the pick-up details) or お断り (with the reason): the parent is told in their chat."""
    escalation = reports.get(session, escalation_id, lock=True)
    refusal = _in_reach(member, escalation)
    if refusal or escalation.kind != LOAN:
        return refusal or "not_found"
    reports.loan_of(session, escalation.id).decision_note = note
    moment = now()
    escalation.status, escalation.resolved_at, escalation.resolved_by = "resolved", moment, member.id
    escalation.outcome = "approved" if approved else "declined"
    if escalation.acknowledged_by is None:
        escalation.acknowledged_at, escalation.acknowledged_by = moment, member.id
    reports.touch(escalation)
    reports.record(session, escalation, f"loan_{escalation.outcome}", actor=member)
    notices.plan_loan_decision(
        session, escalation, _parent_user(session, escalation), approved=approved, note=note, phone=phone
    )
    return "done"


def rotate_event_credentials(
    session: Session,
    event_id: int,
    new_url: str,
    new_passcode: str,
    actor: StaffMember,
    *,
    base_url: str,
    escalation_id: int | None = None,
) -> int | None:
    """New join URL and passcode for an event (the old ones leaked): the event's sealed details are replaced, so
    the old ones are never shown again; every confirmed participant's personal link is replaced and the new one
    sent once (its dedupe key names the new link). Participants whose link a loss report still holds back get
    theirs when that report is resolved. Returns how many new links were planned; None when the event may not be
    changed (unknown, not the actor's centre, cancelled or over) or nothing changed — and, when it is done from a
    report (``escalation_id``), when that report is not one the actor may act on or not about this event: the
    rotation is then written into no report's history, not into somebody else's."""
    if not URL.match(new_url) or not new_passcode.strip():
        raise ValueError("a join URL (http/https) and a passcode are needed")
    event = events.lock(session, event_id)
    if event is None or not sees(actor.centre, actor.role, event.centre) or actor.role not in ("admin", "staff"):
        return None
    escalation = reports.get(session, escalation_id) if escalation_id is not None else None
    if escalation_id is not None and not (
        escalation is not None
        and sees(actor.centre, actor.role, escalation.centre)
        and concerns_event(session, escalation, event.id)
    ):
        return None
    if event.status != "published" or event.ends_at <= now():
        return None
    current = events.conference(event)
    if (current.join_url, current.passcode) == (new_url, new_passcode):
        return None
    event.join_url_sealed, event.passcode_sealed = crypto.seal(new_url), crypto.seal(new_passcode)
    event.updated_at = now()
    held = reports.held_enrollments(session)
    planned = waiting = 0
    for enrollment in events.confirmed_enrollments(session, event.id):
        if enrollment.id in held:
            join_links.revoke(session, enrollment.id, "rotated")
            waiting += 1
        elif event_service.reissue_link(session, enrollment, reason="rotated", base_url=base_url):
            planned += 1
    audit.record(
        session,
        action="event.rotate_credentials",
        actor=actor,
        subject_type="event",
        subject_id=event.id,
        details={"links": planned, "held": waiting},
    )
    if escalation is not None:
        reports.record(
            session, escalation, "credentials_rotated", actor=actor, details={"event": event.id, "links": planned}
        )
    return planned


def concerns_event(session: Session, escalation: Escalation, event_id: int) -> bool:
    """Whether this is a loss report about that event: the only report a change of the event's join details may be
    recorded in."""
    report = reports.report_of(session, escalation.id) if escalation.kind == REPORT else None
    return report is not None and event_id in report.event_ids


def _parent_user(session: Session, escalation: Escalation) -> LineUser:
    parent = session.get(Parent, escalation.parent_id)
    return session.get(LineUser, parent.line_user_pk)


def _correct(session: Session, user: LineUser, escalation_id: int, outcome: str) -> None:
    """Tell the staff member the action did not happen as they were told, and why."""
    if outcome == "done":
        return
    escalation = reports.get(session, escalation_id)
    if escalation is None:
        log.info("staff action on escalation %s refused: %s", escalation_id, outcome)
        return
    info = view(session, escalation)
    text = notices.t(user.language, f"refused.{outcome}", reference=info.reference, name=info.acknowledged_by)
    notices.plan_staff_note(session, user, escalation, text, f"refused:{escalation.id}:{user.id}:{now().timestamp()}")


def _staff_applier(effect_type, run):
    @applies(effect_type)
    def apply(session: Session, user: LineUser, effect) -> None:
        member = staff.by_line_user(session, user.id)
        if member is None:
            log.warning("a staff action came from a LINE account that is not active staff: ignored")
            return
        _correct(session, user, effect.escalation_id, run(session, member, effect))

    return apply


_staff_applier(Acknowledge, lambda s, m, e: acknowledge(s, m, e.escalation_id))
_staff_applier(SendInstruction, lambda s, m, e: send_instruction(s, m, e.escalation_id, e.text))
_staff_applier(Resolve, lambda s, m, e: resolve(s, m, e.escalation_id, send_links=e.send_links, base_url=e.base_url))
_staff_applier(
    DecideLoan, lambda s, m, e: decide_loan(s, m, e.escalation_id, approved=e.approved, note=e.note, phone=e.phone)
)
_staff_applier(
    RotateCredentials,
    lambda s, m, e: (
        "done"
        if rotate_event_credentials(
            s, e.event_id, e.join_url, e.passcode, m, base_url=e.base_url, escalation_id=e.escalation_id
        )
        is not None
        else "not_rotated"
    ),
)
