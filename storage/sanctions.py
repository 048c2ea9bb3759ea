"""Sanctions (policy 6): imposing, lifting, and the one question everything else asks — is this parent barred?"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from storage.clock import now, today_tokyo
from storage.models import Sanction
from storage.models.sanctions import POLICY_ITEMS


@dataclass(frozen=True)
class Bars:
    """Where a parent is barred today: from everything, and/or from these events."""

    everything: bool
    events: frozenset[int]

    def covers(self, event_id: int) -> bool:
        return self.everything or event_id in self.events


def impose(
    session: Session,
    parent_id: int,
    *,
    policy_items: list[str],
    created_by: str,
    note: str = "",
    event_id: int | None = None,
    until: date | None = None,
) -> Sanction:
    """Bar a parent (from one event, or from all when ``event_id`` is None) until ``until`` or until lifted."""
    unknown = [item for item in policy_items if item not in POLICY_ITEMS]
    if not policy_items or unknown:
        raise ValueError(f"cite at least one of {POLICY_ITEMS[0]}…{POLICY_ITEMS[-1]} (unknown: {unknown})")
    sanction = Sanction(
        parent_id=parent_id,
        event_id=event_id,
        until=until,
        policy_items=list(policy_items),
        note=note,
        created_by=created_by,
        created_at=now(),
    )
    session.add(sanction)
    session.flush()
    return sanction


def lift(session: Session, sanction_id: int, *, lifted_by: str) -> Sanction | None:
    sanction = session.get(Sanction, sanction_id)
    if sanction is None or sanction.lifted_at is not None:
        return sanction
    sanction.lifted_at, sanction.lifted_by = now(), lifted_by
    return sanction


def active(session: Session, parent_id: int, on: date | None = None) -> list[Sanction]:
    """The parent's sanctions in force on ``on`` (today in Tokyo by default)."""
    day = on or today_tokyo()
    return list(
        session.scalars(
            select(Sanction)
            .where(
                Sanction.parent_id == parent_id,
                Sanction.lifted_at.is_(None),
                or_(Sanction.until.is_(None), Sanction.until >= day),
            )
            .order_by(Sanction.id)
        )
    )


def bars(session: Session, parent_id: int, on: date | None = None) -> Bars:
    found = active(session, parent_id, on)
    return Bars(any(s.event_id is None for s in found), frozenset(s.event_id for s in found if s.event_id))


def is_barred(session: Session, parent_id: int, event_id: int, on: date | None = None) -> bool:
    return bars(session, parent_id, on).covers(event_id)


def history(session: Session, parent_id: int) -> list[Sanction]:
    """Every sanction of a parent, lifted or not, newest first (for the staff console)."""
    return list(session.scalars(select(Sanction).where(Sanction.parent_id == parent_id).order_by(Sanction.id.desc())))
