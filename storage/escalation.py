"""Who among staff hears about an escalation, the queue of e-mail / outgoing-webhook notices the worker sends, the
escalations the timers must look at, and the throttle on LINE-link attempts (職員登録). Nothing here commits.

The notice queue works like the outbox (``storage.outbox``): a row is planned in the transaction of the change (its
``dedupe_key`` makes planning idempotent), claimed with a lease before it is sent (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, so two workers never take the same row), and ends sent, failed, or skipped when its channel is not
configured. The lease is short and renewed by the sender's heartbeat while it lives (``runtime.leases``, as for the
outbox): a notice a crashed worker had claimed is free again within seconds, not minutes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import Insert as PgInsert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from storage import rota, staff
from storage.clock import now
from storage.db import affected_rows, dialect_name
from storage.models import Escalation, EscalationNotification, LineUser, LoginAttempt, StaffMember

# How long a claim holds without renewal (``runtime.leases`` renews it every second while the sender lives).
LEASE = timedelta(seconds=5)
MAX_ATTEMPTS = 10
CHANNELS = ("email", "webhook")
# Failed 職員登録 codes one LINE account may send per day before further codes are not even checked.
LINK_FAILURES_PER_DAY = 5


# --- who is told ----------------------------------------------------------------------------------------------
def line_user_of(session: Session, member: StaffMember) -> LineUser | None:
    """The member's linked LINE account, if it still follows the bot."""
    if member.line_user_pk is None:
        return None
    user = session.get(LineUser, member.line_user_pk)
    return user if user is not None and user.status == "active" else None


def on_duty_recipients(session: Session, centre: str) -> list[tuple[StaffMember, LineUser]]:
    """Active staff on duty now for this centre or the division (by the rota or their override: storage/rota.py),
    with a LINE account that can be reached."""
    return [(m, u) for m in rota.on_duty(session, centre) if (u := line_user_of(session, m)) is not None]


def division_recipients(session: Session) -> list[tuple[StaffMember, LineUser]]:
    """Every active division member who may act (on duty or not), with a reachable LINE account: who is alerted
    when nobody acknowledged an escalation in time."""
    members = session.scalars(
        select(StaffMember)
        .where(StaffMember.active, StaffMember.centre == "division", StaffMember.role.in_(("admin", "staff")))
        .order_by(StaffMember.id)
    )
    return [(m, u) for m in members if (u := line_user_of(session, m)) is not None]


def member(session: Session, staff_id: int | None) -> StaffMember | None:
    found = session.get(StaffMember, staff_id) if staff_id is not None else None
    return found if found is not None and found.active else None


def set_on_duty(member: StaffMember, on: bool) -> bool:
    """当番 on/off from the staff chat: an override of the rota. True if it changed."""
    return rota.set_override(member, on)


# --- the timers -----------------------------------------------------------------------------------------------
def unresolved(session: Session, limit: int = 200) -> list[Escalation]:
    """Escalations the timers look at, locked (rows another worker holds are skipped: it is on them)."""
    return list(
        session.scalars(
            select(Escalation)
            .where(Escalation.status.in_(("open", "acknowledged")))
            .order_by(Escalation.attention_since, Escalation.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )


# --- e-mail and webhook notices -----------------------------------------------------------------------------------
def _insert(session: Session) -> Callable[..., PgInsert | SqliteInsert]:
    return pg_insert if dialect_name(session) == "postgresql" else sqlite_insert


def plan_notice(
    session: Session,
    *,
    escalation_id: int,
    channel: str,
    dedupe_key: str,
    subject: str,
    body: str,
    route_id: int | None = None,
) -> int | None:
    """Plan one notice, to an address set in the console (``route_id``, storage/routing.py) or to the division's
    default from the environment (None). Returns its id, or None when one with this key was planned already."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    moment = now()
    stmt = (
        _insert(session)(EscalationNotification)
        .values(
            escalation_id=escalation_id,
            channel=channel,
            route_id=route_id,
            dedupe_key=dedupe_key,
            subject=subject[:200],
            body=body,
            status="planned",
            attempts=0,
            next_attempt_at=moment,
            created_at=moment,
        )
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
    )
    return session.execute(stmt.returning(EscalationNotification.id)).scalar()


def claim_notices(session: Session, limit: int = 50) -> list[EscalationNotification]:
    """Claim due notices for this sender; the caller commits, then sends."""
    moment = now()
    rows = session.scalars(
        select(EscalationNotification)
        .where(
            EscalationNotification.status == "planned",
            EscalationNotification.next_attempt_at <= moment,
            or_(EscalationNotification.claimed_until.is_(None), EscalationNotification.claimed_until < moment),
        )
        .order_by(EscalationNotification.next_attempt_at, EscalationNotification.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    claimed = []
    for row in rows:
        row.claimed_until = moment + LEASE
        row.attempts += 1
        claimed.append(row)
    return claimed


def _held_as_claimed(held: dict[int, int]) -> tuple[ColumnElement[bool], ...]:
    """The notices still as this sender claimed them ({id: attempts when claimed}): a claim counts an attempt."""
    return (
        EscalationNotification.status == "planned",
        EscalationNotification.claimed_until.is_not(None),
        tuple_(EscalationNotification.id, EscalationNotification.attempts).in_(sorted(held.items())),
    )


def renew(session: Session, held: dict[int, int]) -> set[int]:
    """Extend the leases of the notices this sender still holds; returns their ids (``runtime.leases``)."""
    if not held:
        return set()
    return set(
        session.scalars(
            update(EscalationNotification)
            .where(*_held_as_claimed(held))
            .values(claimed_until=now() + LEASE)
            .returning(EscalationNotification.id),
            execution_options={"synchronize_session": False},
        )
    )


def release(session: Session, held: dict[int, int]) -> int:
    """Hand back claimed notices whose sending never started (a graceful stop): free at once, the attempt not
    counted. Returns how many."""
    if not held:
        return 0
    return affected_rows(
        session.execute(
            update(EscalationNotification)
            .where(*_held_as_claimed(held))
            .values(claimed_until=None, attempts=EscalationNotification.attempts - 1)
            .execution_options(synchronize_session=False)
        )
    )


def _finish(row: EscalationNotification, status: str, error: str | None) -> None:
    row.status, row.claimed_until, row.finished_at = status, None, now()
    row.last_error = error[:300] if error else None


def notice_sent(session: Session, notice_id: int) -> None:
    row = session.get(EscalationNotification, notice_id)
    if row is not None and row.status == "planned":
        _finish(row, "sent", None)


def notice_skipped(session: Session, notice_id: int, why: str) -> None:
    row = session.get(EscalationNotification, notice_id)
    if row is not None and row.status == "planned":
        _finish(row, "skipped", why)


def notice_failed(session: Session, notice_id: int, error: str) -> bool:
    """Try again later (backoff: 30 s, 1 min, 2 min … at most an hour); give up after ``MAX_ATTEMPTS``.
    Returns True when it gave up."""
    row = session.get(EscalationNotification, notice_id)
    if row is None or row.status != "planned":
        return False
    if row.attempts >= MAX_ATTEMPTS:
        _finish(row, "failed", f"gave up after {row.attempts} attempts: {error}")
        return True
    row.claimed_until = None
    row.last_error = error[:300]
    row.next_attempt_at = now() + timedelta(seconds=min(3600, 30 * 2 ** (row.attempts - 1)))
    return False


def notices(session: Session, escalation_id: int | None = None) -> list[EscalationNotification]:
    query = select(EscalationNotification).order_by(EscalationNotification.id)
    if escalation_id is not None:
        query = query.where(EscalationNotification.escalation_id == escalation_id)
    return list(session.scalars(query))


# --- 職員登録 attempts ----------------------------------------------------------------------------------------------
# Recorded with the console's sign-in attempts (its LoginAttempt model), under keys of their own.
_LINK_ACCOUNT_KEY = hashlib.sha256(b"staff-line-link").hexdigest()


def _link_address_key(line_user_pk: int) -> str:
    return hashlib.sha256(f"staff-line-link:{line_user_pk}".encode()).hexdigest()


def link_refused(session: Session, line_user_pk: int, moment: datetime | None = None) -> bool:
    """Too many wrong codes from this LINE account in the last day: the next code is not even checked."""
    since = (moment or now()) - timedelta(days=1)
    failures = session.scalars(
        select(func.count())
        .select_from(LoginAttempt)
        .where(
            LoginAttempt.address_key == _link_address_key(line_user_pk),
            LoginAttempt.succeeded.is_(False),
            LoginAttempt.at > since,
        )
    ).one()
    return failures >= LINK_FAILURES_PER_DAY


def record_link_attempt(session: Session, line_user_pk: int, succeeded: bool) -> None:
    staff.record_attempt(
        session, account_key=_LINK_ACCOUNT_KEY, address_key=_link_address_key(line_user_pk), succeeded=succeeded
    )
