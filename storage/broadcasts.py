"""お知らせ (broadcasts): whom a message is for, who may not receive it and why, and what became of it.

The audience is resolved from the tables when the message is released (``members``), so an age band is the
children's age in Asia/Tokyo on that day and a parent who registered since is included. Everyone in it is then
checked (``exclusions``): a parent who blocked the bot, has not consented to the policy in force, or asked to stop
お知らせ is left out, counted by reason. Each multicast row is checked again just before it is sent
(``check_batches``, registered with runtime.delivery by services/broadcasts.py) and the result kept per row
(``BroadcastBatch``), so the delivery report (``report``) says how many got it, how many were left out and why, and
how many failed. Nothing here logs or returns a parent's identity beyond the LINE ids the outbox needs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from storage import outbox, people
from storage.clock import now, to_tokyo
from storage.models import (
    Broadcast,
    BroadcastBatch,
    BroadcastOptOut,
    Child,
    ConsentRecord,
    Enrollment,
    Event,
    LineUser,
    OutboxMessage,
    Parent,
)

SUBJECT = "broadcast"
# Why a parent of the audience is left out, most decisive first.
REASONS = ("blocked", "no_consent", "opted_out")


@dataclass(frozen=True)
class Audience:
    """Whom a broadcast is for: ``kind`` is one of storage.models.broadcasts.AUDIENCES; ``centre`` narrows
    everyone / an age band to one centre's parents (None: every centre)."""

    kind: str
    centre: str | None = None
    age_band: str | None = None
    event_id: int | None = None

    @classmethod
    def of(cls, broadcast: Broadcast) -> Audience:
        return cls(broadcast.audience, broadcast.centre, broadcast.age_band, broadcast.event_id)


@dataclass(frozen=True)
class Member:
    user_pk: int
    line_user_id: str
    language: str
    parent_id: int


# --- age bands (Asia/Tokyo, from birth and due months: the day of birth is not held) ---------------------------
def age_in_years(birth_month: date, today: date) -> int:
    """Full years on ``today`` for a child born in ``birth_month`` (counted from the first of that month)."""
    return today.year - birth_month.year - (1 if today.month < birth_month.month else 0)


def band_of_child(birth_month: date, today: date) -> str | None:
    if birth_month > today:
        return None
    years = age_in_years(birth_month, today)
    return str(years) if years < 3 else "3plus"


def in_band(band: str, children: Iterable[date], is_pregnant: bool, due_month: date | None, today: date) -> bool:
    if band == "pregnant":
        return is_pregnant and (due_month is None or due_month >= today.replace(day=1))
    return any(band_of_child(b, today) == band for b in children)


# --- the audience ------------------------------------------------------------------------------------------------
def members(session: Session, audience: Audience, moment: datetime | None = None) -> list[Member]:
    """Everyone the audience names right now (before exclusions), in a stable order."""
    query = select(LineUser.id, LineUser.line_user_id, LineUser.language, Parent.id).join(
        Parent, Parent.line_user_pk == LineUser.id
    )
    if audience.kind in ("participants", "waitlist"):
        status = "confirmed" if audience.kind == "participants" else "waitlisted"
        query = query.join(Enrollment, Enrollment.parent_id == Parent.id).where(
            Enrollment.event_id == (audience.event_id or 0), Enrollment.status == status
        )
    elif audience.centre is not None:
        query = query.where(Parent.centre == audience.centre)
    rows = [Member(*row) for row in session.execute(query.order_by(Parent.id))]
    if audience.kind != "age":
        return rows
    today = to_tokyo(moment or now()).date()
    wanted = {m.parent_id for m in rows}
    births: dict[int, list[date]] = {}
    for parent_id, birth in session.execute(select(Child.parent_id, Child.birth_month)):
        if parent_id in wanted:
            births.setdefault(parent_id, []).append(birth)
    pregnancy = {
        pid: (pregnant, due)
        for pid, pregnant, due in session.execute(select(Parent.id, Parent.is_pregnant, Parent.due_month))
    }
    return [
        m
        for m in rows
        if in_band(
            audience.age_band or "", births.get(m.parent_id, ()), *pregnancy.get(m.parent_id, (False, None)), today
        )
    ]


def exclusions(session: Session, user_pks: Iterable[int]) -> dict[int, str]:
    """{LINE user pk: why they must not receive a お知らせ now} for those who must not (REASONS)."""
    wanted = sorted(set(user_pks))
    if not wanted:
        return {}
    policy = people.current_policy(session)
    out: dict[int, str] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        blocked = set(session.scalars(select(LineUser.id).where(LineUser.id.in_(chunk), LineUser.status != "active")))
        latest = (
            select(func.max(ConsentRecord.id))
            .where(ConsentRecord.line_user_pk.in_(chunk))
            .group_by(ConsentRecord.line_user_pk)
        )
        consented = set(
            session.scalars(
                select(ConsentRecord.line_user_pk).where(
                    ConsentRecord.id.in_(latest),
                    ConsentRecord.answer == "agreed",
                    ConsentRecord.policy_version_id == (policy.id if policy else -1),
                )
            )
        )
        opted_out = set(
            session.scalars(
                select(Parent.line_user_pk)
                .join(BroadcastOptOut, BroadcastOptOut.parent_id == Parent.id)
                .where(Parent.line_user_pk.in_(chunk))
            )
        )
        for pk in chunk:
            if pk in blocked:
                out[pk] = "blocked"
            elif pk not in consented:
                out[pk] = "no_consent"
            elif pk in opted_out:
                out[pk] = "opted_out"
    return out


@dataclass(frozen=True)
class Count:
    """The audience's size, and how many of it may receive the message now."""

    total: int
    excluded: dict[str, int] = field(default_factory=dict)

    @property
    def eligible(self) -> int:
        return self.total - sum(self.excluded.values())


def count(session: Session, audience: Audience) -> Count:
    found = members(session, audience)
    return Count(len(found), dict(Counter(exclusions(session, [m.user_pk for m in found]).values())))


# --- the parent's choice (「お知らせの停止」 / 「お知らせを受け取る」) ---------------------------------------------------
def opted_out(session: Session, parent_id: int) -> bool:
    return session.get(BroadcastOptOut, parent_id) is not None


def set_opted_out(session: Session, parent_id: int, wanted: bool) -> None:
    if wanted and session.get(BroadcastOptOut, parent_id) is None:
        session.add(BroadcastOptOut(parent_id=parent_id, created_at=now()))
        session.flush()
    elif not wanted:
        session.execute(delete(BroadcastOptOut).where(BroadcastOptOut.parent_id == parent_id))


# --- the life of a broadcast ---------------------------------------------------------------------------------------
def create(
    session: Session,
    *,
    audience: Audience,
    text: str,
    card_event_id: int | None,
    image_url: str | None,
    urgent: bool,
    send_at: datetime,
    author_id: int,
    estimated: int,
    needs_approval: bool,
) -> Broadcast:
    broadcast = Broadcast(
        centre=audience.centre,
        audience=audience.kind,
        age_band=audience.age_band,
        event_id=audience.event_id,
        text=text,
        card_event_id=card_event_id,
        image_url=image_url,
        urgent=urgent,
        send_at=send_at,
        estimated=estimated,
        created_by=author_id,
        created_at=now(),
        excluded={},
        status="awaiting_approval" if needs_approval else "scheduled",
    )
    session.add(broadcast)
    session.flush()
    return broadcast


def approve(session: Session, broadcast: Broadcast, approver_id: int) -> str | None:
    """A second staff member's approval; returns why it cannot be given, or None."""
    if broadcast.status != "awaiting_approval":
        return "not_awaiting"
    if broadcast.created_by == approver_id:
        return "own"
    broadcast.status, broadcast.approved_by, broadcast.approved_at = "scheduled", approver_id, now()
    return None


def cancel(session: Session, broadcast: Broadcast, staff_id: int) -> str | None:
    """Stop a broadcast before it goes: a scheduled one is not released; a released one's rows not yet sent are
    expired (a row being sent right now is checked again by its sender and refused). Returns a refusal or None."""
    if broadcast.status == "cancelled":
        return "cancelled"
    if broadcast.status == "released" and not _waiting_rows(session, broadcast.id):
        return "sent"
    broadcast.status, broadcast.cancelled_by, broadcast.cancelled_at = "cancelled", staff_id, now()
    outbox.expire(session, _waiting_rows(session, broadcast.id), "the broadcast was cancelled")
    return None


def _waiting_rows(session: Session, broadcast_id: int) -> list[int]:
    return list(
        session.scalars(
            select(OutboxMessage.id).where(
                OutboxMessage.subject == f"{SUBJECT}:{broadcast_id}", OutboxMessage.status == "planned"
            )
        )
    )


def due(session: Session, moment: datetime | None = None) -> list[Broadcast]:
    """Scheduled broadcasts whose time has come, oldest first."""
    return list(
        session.scalars(
            select(Broadcast)
            .where(Broadcast.status == "scheduled", Broadcast.send_at <= (moment or now()))
            .order_by(Broadcast.send_at, Broadcast.id)
        )
    )


def released(
    session: Session, broadcast: Broadcast, planned: int, excluded: dict[str, int], outbox_ids: list[int]
) -> None:
    """Record the release: the audience's size, who was left out, and one batch record per multicast row."""
    broadcast.status, broadcast.released_at = "released", now()
    broadcast.planned, broadcast.excluded = planned, dict(excluded)
    for row in session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(outbox_ids))):
        session.add(
            BroadcastBatch(
                outbox_id=row.id, broadcast_id=broadcast.id, recipients=len(row.recipients or []), excluded={}
            )
        )


def broadcast_of(row: OutboxMessage) -> int | None:
    kind, _, value = (row.subject or "").partition(":")
    return int(value) if kind == SUBJECT and value.isdigit() else None


def check_batches(session: Session, rows: list[OutboxMessage]) -> dict[int, set[str]]:
    """Just before sending: {row id: LINE ids of its recipients who must not receive it now}. What was found is kept
    per row (replacing an earlier attempt's), for the delivery report."""
    users = {u for row in rows for u in row.recipients or []}
    pks: dict[str, int] = {}
    wanted = sorted(users)
    for start in range(0, len(wanted), 500):
        pks.update(
            session.execute(
                select(LineUser.line_user_id, LineUser.id).where(LineUser.line_user_id.in_(wanted[start : start + 500]))
            ).all()
        )
    reasons = exclusions(session, pks.values())
    out: dict[int, set[str]] = {}
    for row in rows:
        # A recipient whose LINE user is gone (erased after blocking the bot) counts as blocked.
        found = {u: reasons.get(pks[u]) if u in pks else "blocked" for u in row.recipients or []}
        left_out = {u: why for u, why in found.items() if why}
        batch = session.get(BroadcastBatch, row.id)
        if batch is not None:
            batch.excluded = dict(Counter(left_out.values()))
        if left_out:
            out[row.id] = set(left_out)
    return out


@dataclass(frozen=True)
class Report:
    """What became of one broadcast, in parents (not messages). ``excluded`` adds up those left out at release and
    when each batch was sent; ``waiting`` are in rows not sent yet; ``stopped`` in rows cancelled or too late."""

    planned: int
    excluded: dict[str, int]
    sent: int
    failed: int
    waiting: int
    stopped: int
    rows: dict[str, int]
    sent_on: list[date]
    errors: list[str]


def report(session: Session, broadcast: Broadcast) -> Report:
    excluded: Counter[str] = Counter(broadcast.excluded or {})
    batches = {
        b.outbox_id: b
        for b in session.scalars(select(BroadcastBatch).where(BroadcastBatch.broadcast_id == broadcast.id))
    }
    outcome: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    days: set[date] = set()
    errors: list[str] = []
    for row in session.scalars(select(OutboxMessage).where(OutboxMessage.subject == f"{SUBJECT}:{broadcast.id}")):
        batch = batches.get(row.id)
        left_out = Counter(batch.excluded if batch is not None else {})
        excluded.update(left_out)
        reach = len(row.recipients or []) - sum(left_out.values())
        statuses[row.status] += 1
        key = {"sent": "sent", "failed": "failed", "planned": "waiting"}.get(row.status, "stopped")
        outcome[key] += reach
        if row.status == "sent" and row.sent_at is not None:
            days.add(to_tokyo(row.sent_at).date())
        if row.status in ("failed", "expired") and row.last_error and row.last_error not in errors:
            errors.append(row.last_error)
    return Report(
        planned=broadcast.planned or 0,
        excluded={r: excluded[r] for r in REASONS if excluded[r]},
        sent=outcome["sent"],
        failed=outcome["failed"],
        waiting=outcome["waiting"],
        stopped=outcome["stopped"],
        rows=dict(statuses),
        sent_on=sorted(days),
        errors=errors[:5],
    )


def listed(session: Session, centres: tuple[str, ...] | None, limit: int = 100) -> list[Broadcast]:
    """The latest broadcasts the actor may see (``centres`` None: all, including those for every centre)."""
    query = select(Broadcast).order_by(Broadcast.send_at.desc(), Broadcast.id.desc()).limit(limit)
    if centres is not None:
        query = query.where(Broadcast.centre.in_(centres))
    return list(session.scalars(query))


def as_details(broadcast: Broadcast, **extra: Any) -> dict[str, Any]:
    """What the audit trail keeps of a broadcast: ids, the segment and counts, never the text or a recipient."""
    return {
        "audience": broadcast.audience,
        "centre": broadcast.centre or "all",
        "age_band": broadcast.age_band,
        "event_id": broadcast.event_id,
        "urgent": broadcast.urgent,
        "estimated": broadcast.estimated,
        **extra,
    }


def events_to_name(session: Session, centres: tuple[str, ...] | None, moment: datetime | None = None) -> list[Event]:
    """The events a お知らせ may be about (its participants, its waitlist, its card): published, not over more than
    a week ago, of the actor's centres."""
    query = select(Event).where(Event.status == "published", Event.ends_at >= (moment or now()) - timedelta(days=7))
    if centres is not None:
        query = query.where(Event.centre.in_(centres))
    return list(session.scalars(query.order_by(Event.starts_at, Event.id).limit(200)))
