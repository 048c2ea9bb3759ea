"""How long each kind of data is kept (APPI, 個人情報保護法), and the queries that remove what is older.

The periods are the table below, each overridable with ``RETENTION_<KIND>_DAYS`` (README "Configuration",
docs/privacy.md). The daily job (``scheduler/retention.py``) calls the ``purge_*`` functions: each removes at most
``batch`` rows in the caller's transaction and returns how many, so the job loops in short transactions until a
kind is done. Every function is idempotent: run again, it finds nothing more.

What "removed" means, by kind:
- conversation state, webhook events, outbox messages, join-page openings, staff sessions: deleted (an outbox
  message's content already went when it was sent, expired or failed).
- participants of events that ended long ago: the applications are deleted (with their join links, openings and
  attendance marks); the event's anonymous counts are kept in the audit trail (``retention.event_archived``).
- feedback: the answers are deleted; the event's score counts are kept in the audit trail
  (``retention.feedback_anonymised``).
- lost-credential reports and loan requests resolved long ago: deleted with their thread, history and notices.
- the audit trail itself after its period: the only deletion the append-only trail ever sees.
- a parent who unfollowed (blocked) the bot longer ago than the period: erased with the staff console's
  ``storage.staff_parents.erase`` — identity removed, anonymous facts kept for statistics. A LINE account that
  never registered loses its LINE user id the same way.
"""

from __future__ import annotations

import json
import secrets
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Text, cast, delete, func, select, update
from sqlalchemy.orm import Session

from storage import audit, inbox, login_throttle, outbox, staff, staff_parents
from storage.db import affected_rows, dialect_name, table_of
from storage.models import (
    AttendanceMark,
    AuditEvent,
    Base,
    ConversationState,
    Enrollment,
    Escalation,
    Event,
    Feedback,
    JoinLinkOpening,
    LineUser,
    OutboxMessage,
    Parent,
    StaffInvite,
    StaffMember,
    StaffSession,
)

SYSTEM = "system:retention"
ENDED = ("sent", "expired", "failed")


@dataclass(frozen=True)
class Period:
    kind: str
    days: int
    what: str  # what is removed, counted from when

    @property
    def variable(self) -> str:
        return f"RETENTION_{self.kind.upper()}_DAYS"


PERIODS: tuple[Period, ...] = (
    Period("conversations", 30, "conversation state (where a user is in a flow), after the last step"),
    Period("inbox", 14, "webhook events after processing (already reduced to their type when processed)"),
    Period(
        "outbox",
        90,
        "messages sent, expired or failed, after they ended (recipients, purpose, outcome; "
        "their content is dropped when they end)",
    ),
    Period("link_openings", 365, "join-page openings (device fingerprint, time, what was shown)"),
    Period(
        "participants",
        365,
        "applications, join links and attendance of an event, after it ended; the event's counts are kept",
    ),
    Period("feedback", 365, "feedback answers (score, comment), after answering; the event's score counts are kept"),
    Period(
        "reports",
        3 * 365,
        "lost-credential reports and loan requests with their thread and history, after they were resolved",
    ),
    Period("audit", 5 * 365, "the audit trail of staff actions"),
    Period("staff_sessions", 365, "staff sign-in sessions and LINE-link invitations, after they ended"),
    Period("unfollowed", 180, "a parent who blocked (unfollowed) the bot: erased after this long"),
)
DEFAULTS: dict[str, int] = {p.kind: p.days for p in PERIODS}
MAX_DAYS = 36_500  # a hundred years: longer would overflow the date arithmetic of the purge


def days_from(environ: Mapping[str, str]) -> dict[str, int]:
    """Every period in days, from ``RETENTION_<KIND>_DAYS`` where set. Raises ValueError naming a bad variable."""
    out = {}
    for period in PERIODS:
        raw = environ.get(period.variable, "").strip()
        if not raw:
            out[period.kind] = period.days
            continue
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_DAYS:
            raise ValueError(
                f"{period.variable} must be a whole number of days from 1 to {MAX_DAYS} (got {raw[:20]!r})"
            )
        out[period.kind] = int(raw)
    return out


def cutoffs(days: Mapping[str, int], moment: datetime) -> dict[str, datetime]:
    """For each kind, the moment before which its data goes."""
    return {kind: moment - timedelta(days=n) for kind, n in days.items()}


# --- deleted outright --------------------------------------------------------------------------------------------
def _delete_ids(session: Session, model: type[Base], ids: list[int]) -> int:
    if not ids:
        return 0
    table = table_of(model)
    session.execute(delete(table).where(table.c.id.in_(ids)))
    return len(ids)


def purge_conversations(session: Session, before: datetime, batch: int) -> int:
    keys = list(
        session.scalars(
            select(ConversationState.line_user_pk).where(ConversationState.updated_at < before).limit(batch)
        )
    )
    if keys:
        session.execute(delete(ConversationState).where(ConversationState.line_user_pk.in_(keys)))
    return len(keys)


def purge_inbox(session: Session, before: datetime, batch: int) -> int:
    return inbox.purge(session, before, batch)


def purge_outbox(session: Session, before: datetime, batch: int) -> int:
    """Rows that ended before ``before``; and the body of any ended row that still has one (a row ended by older
    code, or given up while claimed), whatever its age: a body is dropped when its row ends (``storage.outbox``)."""
    ended = OutboxMessage.status.in_(ENDED)
    deleted = _delete_ids(
        session,
        OutboxMessage,
        list(session.scalars(select(OutboxMessage.id).where(ended, OutboxMessage.finished_at < before).limit(batch))),
    )
    with_body = list(
        session.scalars(
            select(OutboxMessage.id)
            .where(ended, cast(OutboxMessage.messages, Text) != json.dumps(outbox.NO_BODY))
            .limit(batch)
        )
    )
    if with_body:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(with_body))
            .values(messages=outbox.NO_BODY)
            .execution_options(synchronize_session=False)
        )
    return deleted + len(with_body)


def purge_link_openings(session: Session, before: datetime, batch: int) -> int:
    return _delete_ids(
        session,
        JoinLinkOpening,
        list(session.scalars(select(JoinLinkOpening.id).where(JoinLinkOpening.opened_at < before).limit(batch))),
    )


def purge_staff_sessions(session: Session, before: datetime, batch: int) -> int:
    done = _delete_ids(
        session,
        StaffSession,
        list(session.scalars(select(StaffSession.id).where(StaffSession.ended_at < before).limit(batch))),
    )
    closed = func.coalesce(StaffInvite.used_at, StaffInvite.expires_at)
    done += _delete_ids(
        session, StaffInvite, list(session.scalars(select(StaffInvite.id).where(closed < before).limit(batch)))
    )
    # Whatever the period: second-factor challenges past their 5 minutes, sign-in throttle counters quiet for a day
    # (their unreported failures written to the audit trail first), device tokens unused for 90 days.
    return (
        done
        + staff.purge_challenges(session, batch)
        + login_throttle.purge(session, batch)
        + staff.purge_devices(session, batch)
    )


def purge_reports(session: Session, before: datetime, batch: int) -> int:
    """Resolved escalations; the report or loan request, thread, history and notices go with them (ON DELETE
    CASCADE). Open or acknowledged ones are never purged, however old."""
    return _delete_ids(
        session,
        Escalation,
        list(
            session.scalars(
                select(Escalation.id)
                .where(Escalation.status == "resolved", Escalation.resolved_at < before)
                .limit(batch)
            )
        ),
    )


def purge_audit(session: Session, before: datetime, batch: int) -> int:
    """The append-only trail's one deletion: rows past their period (Core, so the ORM's guard does not apply)."""
    return _delete_ids(
        session, AuditEvent, list(session.scalars(select(AuditEvent.id).where(AuditEvent.at < before).limit(batch)))
    )


# --- removed, anonymous counts kept -------------------------------------------------------------------------------
def purge_participants(session: Session, before: datetime, batch: int) -> int:
    """Applications to events that ended before ``before``, a few events at a time; each event's counts by status
    (and attendance) are recorded first. Returns how many applications were deleted."""
    event_ids = list(
        session.scalars(
            select(Enrollment.event_id)
            .join(Event, Event.id == Enrollment.event_id)
            .where(Event.ends_at < before)
            .group_by(Enrollment.event_id)
            .order_by(Enrollment.event_id)
            .limit(max(1, batch // 100))
        )
    )
    if not event_ids:
        return 0
    statuses: dict[int, Counter[str]] = {event_id: Counter() for event_id in event_ids}
    for event_id, status, count in session.execute(
        select(Enrollment.event_id, Enrollment.status, func.count())
        .where(Enrollment.event_id.in_(event_ids))
        .group_by(Enrollment.event_id, Enrollment.status)
    ):
        statuses[event_id][status] = count
    attended = dict(
        session.execute(
            select(Enrollment.event_id, func.count())
            .join(AttendanceMark, AttendanceMark.enrollment_id == Enrollment.id)
            .where(Enrollment.event_id.in_(event_ids), AttendanceMark.attended.is_(True))
            .group_by(Enrollment.event_id)
        ).all()
    )
    for event_id in event_ids:
        audit.record(
            session,
            action="retention.event_archived",
            actor_label=SYSTEM,
            subject_type="event",
            subject_id=event_id,
            details={
                **{f"applications_{s}": n for s, n in sorted(statuses[event_id].items())},
                "attended": attended.get(event_id, 0),
            },
        )
    table = table_of(Enrollment)
    return affected_rows(session.execute(delete(table).where(table.c.event_id.in_(event_ids))))


def purge_feedback(session: Session, before: datetime, batch: int) -> int:
    """Feedback answered before ``before``: each event's score counts are recorded, then the answers deleted."""
    rows = session.execute(
        select(Feedback.id, Feedback.event_id, Feedback.score, Feedback.comment)
        .where(Feedback.answered_at < before)
        .order_by(Feedback.id)
        .limit(batch)
    ).all()
    by_event: dict[int, Counter[str]] = {}
    for _id, event_id, score, comment in rows:
        counts = by_event.setdefault(event_id, Counter())
        counts[f"score_{score}"] += 1
        counts["comments"] += 1 if comment else 0
    for event_id, counts in sorted(by_event.items()):
        audit.record(
            session,
            action="retention.feedback_anonymised",
            actor_label=SYSTEM,
            subject_type="event",
            subject_id=event_id,
            details=dict(sorted(counts.items())),
        )
    return _delete_ids(session, Feedback, [row[0] for row in rows])


# --- erased ---------------------------------------------------------------------------------------------------------
def erase_unfollowed(session: Session, before: datetime, batch: int) -> int:
    """LINE accounts that blocked the bot before ``before`` (and not a staff member's): a registered parent is erased
    as the staff console erases (``staff_parents.erase``); an account that never registered loses its LINE id."""
    staff_accounts = select(StaffMember.line_user_pk).where(StaffMember.line_user_pk.is_not(None))
    query = (
        select(LineUser)
        .where(LineUser.status == "blocked", LineUser.unfollowed_at < before, LineUser.id.not_in(staff_accounts))
        .order_by(LineUser.id)
        .limit(batch)
    )
    if dialect_name(session) == "postgresql":
        query = query.with_for_update(skip_locked=True)  # two workers never erase the same account at once
    users = list(session.scalars(query))
    parents = {
        p.line_user_pk: p for p in session.scalars(select(Parent).where(Parent.line_user_pk.in_([u.id for u in users])))
    }
    for user in users:
        parent = parents.get(user.id)
        if parent is not None:
            staff_parents.erase(session, parent)
            audit.record(
                session,
                action="parent.erase",
                actor_label=SYSTEM,
                subject_type="parent",
                subject_id=parent.id,
                details={"reason": "unfollowed"},
            )
        else:
            _forget(session, user)
    return len(users)


def _forget(session: Session, user: LineUser) -> None:
    """An account with no registration: its LINE id goes from every table that holds it."""
    line_id = user.line_user_id
    session.execute(delete(ConversationState).where(ConversationState.line_user_pk == user.id))
    inbox.forget_source(session, line_id)
    session.execute(delete(OutboxMessage).where(OutboxMessage.line_user_id == line_id))
    user.line_user_id = "erased:" + secrets.token_hex(16)
    user.status = staff_parents.ERASED_STATUS


PURGES = {
    "conversations": purge_conversations,
    "inbox": purge_inbox,
    "outbox": purge_outbox,
    "link_openings": purge_link_openings,
    "participants": purge_participants,
    "feedback": purge_feedback,
    "reports": purge_reports,
    "audit": purge_audit,
    "staff_sessions": purge_staff_sessions,
    "unfollowed": erase_unfollowed,
}
