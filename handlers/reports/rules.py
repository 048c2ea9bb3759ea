"""The rules about lost-credential reports, equipment loans and their escalation to staff, as pure functions over
plain data: what a parent may answer, when a second report is the same matter as a first (merged, not escalated
twice), which centre is responsible, who among staff may see and act, and when the timers call for a
re-notification or a reopening.

The flows (handlers/reports/flow.py, handlers/reports/loan.py, handlers/reports/staff_chat.py), the effects that store what they decide
(services/reports/operations.py) and the worker's timers (scheduler/escalation.py) all ask here, so a rule is written
once. No database, no clock: the moment is always passed in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

# What was lost or stolen (policy 5-(3) "ID等"): the personal join link, the meeting ID / passcode, the parent's own
# web-conference account, their LINE account or the phone itself, something else.
LOST = ("join_link", "meeting_details", "service_account", "line_account", "other")
LOST_WHEN = ("today", "yesterday", "this_week", "earlier", "unknown")
MISUSE = ("yes", "no", "unsure")
# Equipment the city may lend (policy 4-(1)).
EQUIPMENT = ("pc", "tablet", "camera", "microphone", "router")
LOAN_REASONS = ("no_device", "device_unsuitable", "no_camera_mic", "no_internet", "other")

REPORT, LOAN = "lost_credentials", "equipment_loan"
# 受付番号: "R-7KQ2MX" for a report, "L-3HT8PA" for a loan request (the body: storage.reports.new_reference_body).
REFERENCE_PREFIX = {REPORT: "R", LOAN: "L"}

# A second report about the same thing within this time joins the first instead of alerting staff again.
MERGE_WINDOW = timedelta(hours=24)
NOTE_MAX = 500
MESSAGE_MAX = 1000
# Roles that may act on escalations (viewers may read).
ACTING_ROLES = ("admin", "staff")
# What the parent's own list shows besides unresolved matters: those resolved this recently.
RECENTLY_RESOLVED = timedelta(days=30)


def reference(kind: str, body: str) -> str:
    return f"{REFERENCE_PREFIX[kind]}-{body}"


# --- what flows and staff know ------------------------------------------------------------------------------
@dataclass(frozen=True)
class EventRef:
    id: int
    title: str
    starts_at: datetime
    centre: str


@dataclass(frozen=True)
class ThreadMessage:
    id: int
    direction: str  # to_parent | from_parent
    text: str
    at: datetime
    centre: str  # the centre of the staff member who wrote it, or to whom the answer went
    answered: bool = False


@dataclass(frozen=True)
class EscalationInfo:
    """One report or loan request as flows see it (the parent's own, or those a staff member may see)."""

    id: int
    reference: str
    kind: str
    status: str  # open | acknowledged | resolved
    centre: str
    created_at: datetime
    events: tuple[EventRef, ...] = ()
    note: str = ""
    # Reports.
    lost: str | None = None
    lost_when: str | None = None
    misuse: str | None = None
    held_links: int = 0  # join links revoked by the report and waiting for staff to send new ones
    repeats: int = 0
    # Loans.
    equipment: tuple[str, ...] = ()
    reason: str | None = None
    outcome: str | None = None  # links_sent | links_held | approved | declined
    decision_note: str = ""
    acknowledged_by_id: int | None = None
    acknowledged_by: str = ""  # the staff member's name
    # The latest message staff sent to the parent, if any.
    instruction: ThreadMessage | None = None

    @property
    def event_ids(self) -> tuple[int, ...]:
        return tuple(e.id for e in self.events)

    @property
    def resolved(self) -> bool:
        return self.status == "resolved"

    @property
    def awaiting_answer(self) -> bool:
        return not self.resolved and self.instruction is not None and not self.instruction.answered


@dataclass(frozen=True)
class ReportFacts:
    """The parent's reports and requests (unresolved, and recently resolved), newest first, and a fresh random
    reference body for anything filed in this step (drawn when the context is loaded, so the reply can quote it)."""

    escalations: tuple[EscalationInfo, ...] = ()
    fresh: str = ""
    # The centres nobody is on duty for now (storage/rota.py), each with when someone next is (None: not within two
    # weeks): a parent filing there is told when staff will see it.
    after_hours: Mapping[str, datetime | None] = field(default_factory=dict)

    def get(self, escalation_id: int) -> EscalationInfo | None:
        return next((e for e in self.escalations if e.id == escalation_id), None)

    def awaiting_answer(self) -> EscalationInfo | None:
        return next((e for e in self.escalations if e.awaiting_answer), None)


@dataclass(frozen=True)
class StaffFacts:
    """The staff member this LINE account is linked to, and the escalations they may see."""

    id: int
    name: str
    centre: str
    role: str
    on_duty: bool
    escalations: tuple[EscalationInfo, ...] = ()

    @property
    def can_act(self) -> bool:
        return self.role in ACTING_ROLES

    def get(self, escalation_id: int) -> EscalationInfo | None:
        return next((e for e in self.escalations if e.id == escalation_id), None)

    def unresolved(self) -> list[EscalationInfo]:
        return [e for e in self.escalations if not e.resolved]


REPORTS_KEY, STAFF_KEY = "reports", "staff"


def report_facts(ctx: Any) -> ReportFacts:
    found = ctx.facts.get(REPORTS_KEY)
    return found if isinstance(found, ReportFacts) else ReportFacts()


def staff_facts(ctx: Any) -> StaffFacts | None:
    found = ctx.facts.get(STAFF_KEY)
    return found if isinstance(found, StaffFacts) else None


# --- rules ------------------------------------------------------------------------------------------------
def scope(centre_of_member: str, role: str) -> str | None:
    """The centre whose escalations a staff member sees: None (every centre) for division staff and
    administrators, else their own centre."""
    return None if role == "admin" or centre_of_member == "division" else centre_of_member


def sees(centre_of_member: str, role: str, centre: str) -> bool:
    return scope(centre_of_member, role) in (None, centre)


def responsible_centre(event_centres: Iterable[str], parent_centre: str | None) -> str:
    """The centre of the (first) event concerned, else the parent's own centre, else the division."""
    for centre in event_centres:
        return centre
    return parent_centre or "division"


def same_matter(earlier: EscalationInfo, lost: str, event_ids: Iterable[int], moment: datetime) -> bool:
    """A new report is about the same thing as an earlier, unresolved one: the same kind of loss within
    ``MERGE_WINDOW``, and (unless the LINE account or phone itself is lost, which concerns everything) the same
    events — or no event on either side."""
    if earlier.kind != REPORT or earlier.resolved or earlier.lost != lost:
        return False
    if moment - earlier.created_at > MERGE_WINDOW:
        return False
    if lost == "line_account":
        return True
    mine, theirs = set(event_ids), set(earlier.event_ids)
    return (not mine and not theirs) or bool(mine & theirs)


def merge_target(
    earlier: Iterable[EscalationInfo], lost: str, event_ids: Iterable[int], moment: datetime
) -> EscalationInfo | None:
    """The earliest unresolved report the new one joins, if any."""
    wanted = tuple(event_ids)
    matches = [e for e in earlier if same_matter(e, lost, wanted, moment)]
    return min(matches, key=lambda e: (e.created_at, e.id)) if matches else None


@dataclass(frozen=True)
class Timing:
    """How long staff have before the bot calls again: acknowledge a report within ``ack_after`` (a loan request,
    less urgent, within ``reopen_after``); resolve an acknowledged one within ``reopen_after``."""

    ack_after: timedelta = timedelta(minutes=15)
    reopen_after: timedelta = timedelta(hours=24)
    max_renotify: int = 3

    def ack_window(self, kind: str) -> timedelta:
        return self.ack_after if kind == REPORT else self.reopen_after


def due(
    timing: Timing,
    *,
    kind: str,
    status: str,
    attention_since: datetime,
    acknowledged_at: datetime | None,
    renotified: int,
    moment: datetime,
) -> str | None:
    """What the timers call for now: "renotify" (nobody acknowledged it in time: tell the centre again and the
    division), "reopen" (acknowledged, unresolved too long: open it again and remind), or None."""
    if status == "open":
        if renotified >= timing.max_renotify:
            return None
        if moment >= attention_since + timing.ack_window(kind) * (renotified + 1):
            return "renotify"
        return None
    if status == "acknowledged" and acknowledged_at is not None and moment >= acknowledged_at + timing.reopen_after:
        return "reopen"
    return None
