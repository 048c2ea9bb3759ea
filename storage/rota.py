"""The duty rota (当番表): who is on duty for a centre at a given moment, and when someone next is. Nothing here commits.

A staff member is on duty when their manual override says so (``StaffMember.on_duty``: True on, False off), or, with
no override (None), when a weekly slot of the rota covers the moment in Asia/Tokyo — unless the day is a Japanese
public holiday (the ``holidays`` package) or a dated "closed" exception, and with "substitute" exceptions handing one
member's slots of that day to another. A dated "open" exception applies the rota on a holiday. The division's staff
on duty count for every centre, as they always have.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache

import holidays
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from storage.clock import TOKYO, now, to_tokyo
from storage.models import DutyException, DutySlot, StaffMember
from storage.models.staff import CENTRES

DIVISION = "division"
EXCEPTION_KINDS = ("closed", "open", "substitute")
# How far ahead "when will staff next be on duty" looks; past that, parents are told "the next working day".
HORIZON_DAYS = 14
DAY_MINUTES = 24 * 60
ON_ROTA_ROLES = ("admin", "staff")  # viewers cannot act on an escalation


@cache
def _japan() -> holidays.HolidayBase:
    return holidays.country_holidays("JP", language="ja")


def holiday_name(day: date) -> str | None:
    """The Japanese public holiday on this day (e.g. 文化の日), or None."""
    return _japan().get(day)


def _covering(centre: str) -> tuple[str, ...]:
    return (centre,) if centre == DIVISION else (centre, DIVISION)


# --- the rota as data -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Shift:
    """Someone on duty for ``centre`` from ``starts`` to ``ends`` (UTC)."""

    centre: str
    staff_id: int
    starts: datetime
    ends: datetime


@dataclass(frozen=True)
class Rota:
    """Everything the rota of some centres says, loaded once: the active members who may act, their weekly slots,
    and the dated exceptions from a given day on."""

    members: dict[int, StaffMember]
    slots: tuple[DutySlot, ...]
    exceptions: tuple[DutyException, ...]

    def shifts_on(self, centre: str, day: date) -> list[Shift]:
        """The shifts of one centre on one Tokyo day, after holidays and exceptions."""
        dated = [e for e in self.exceptions if e.centre == centre and e.day == day]
        kinds = {e.kind for e in dated}
        if "closed" in kinds or (holiday_name(day) and "open" not in kinds):
            return []
        swap = {
            e.replaces_id: e.staff_id
            for e in dated
            if e.kind == "substitute" and e.replaces_id is not None and e.staff_id is not None
        }
        midnight = datetime.combine(day, time(0), TOKYO)
        out = []
        for slot in self.slots:
            if slot.centre != centre or slot.weekday != day.weekday():
                continue
            member = self.members.get(swap.get(slot.staff_id, slot.staff_id))
            if member is None or member.on_duty is not None:  # inactive, or the override decides
                continue
            out.append(
                Shift(
                    centre,
                    member.id,
                    midnight + timedelta(minutes=slot.starts_minute),
                    midnight + timedelta(minutes=slot.ends_minute),
                )
            )
        return out

    def overridden_on(self, centre: str) -> list[StaffMember]:
        return [m for m in self.members.values() if m.on_duty is True and m.centre == centre]

    def on_duty(self, centre: str, moment: datetime) -> list[StaffMember]:
        """Members on duty for this centre now (the centre's and the division's), by override or rota."""
        day = to_tokyo(moment).date()
        found: dict[int, StaffMember] = {}
        for covering in _covering(centre):
            found.update((m.id, m) for m in self.overridden_on(covering))
            for earlier in (day - timedelta(days=1), day):  # a slot may not cross midnight, but stay safe
                for shift in self.shifts_on(covering, earlier):
                    if shift.starts <= moment < shift.ends:
                        found[shift.staff_id] = self.members[shift.staff_id]
        return sorted(found.values(), key=lambda m: m.id)

    def next_on_duty(self, centre: str, moment: datetime) -> datetime | None:
        """When someone is next on duty for this centre (``moment`` itself if someone is now); None when nobody is
        within ``HORIZON_DAYS``."""
        if self.on_duty(centre, moment):
            return moment
        today = to_tokyo(moment).date()
        for offset in range(HORIZON_DAYS + 1):
            starts = [
                s.starts
                for covering in _covering(centre)
                for s in self.shifts_on(covering, today + timedelta(days=offset))
                if s.ends > moment
            ]
            if starts:
                return max(min(starts), moment)
        return None


def load(session: Session, moment: datetime | None = None) -> Rota:
    """The whole rota (a few hundred rows at most: three centres, a few dozen staff)."""
    since = to_tokyo(moment or now()).date() - timedelta(days=1)
    members = {m.id: m for m in session.scalars(select(StaffMember).where(StaffMember.active))}
    may_act = {i: m for i, m in members.items() if m.role in ON_ROTA_ROLES}
    slots = tuple(session.scalars(select(DutySlot).order_by(DutySlot.weekday, DutySlot.starts_minute, DutySlot.id)))
    exceptions = tuple(
        session.scalars(
            select(DutyException).where(DutyException.day >= since).order_by(DutyException.day, DutyException.id)
        )
    )
    overrides = {i: m for i, m in members.items() if m.on_duty is True}  # as before the rota: any active role
    return Rota({**may_act, **overrides}, slots, exceptions)


def on_duty(session: Session, centre: str, moment: datetime | None = None) -> list[StaffMember]:
    moment = moment or now()
    return load(session, moment).on_duty(centre, moment)


def member_on_duty(session: Session, member: StaffMember, moment: datetime | None = None) -> bool:
    """Whether this member is on duty now (for their own centre), by override or rota."""
    moment = moment or now()
    return any(m.id == member.id for m in load(session, moment).on_duty(member.centre, moment))


def after_hours(session: Session, moment: datetime | None = None) -> dict[str, datetime | None]:
    """For each centre nobody is on duty for now: when someone next is (None: not within two weeks)."""
    moment = moment or now()
    rota = load(session, moment)
    return {c: rota.next_on_duty(c, moment) for c in CENTRES if not rota.on_duty(c, moment)}


# --- editing the rota (the console; the caller audits) --------------------------------------------------------------
def slots(session: Session, centre: str) -> list[DutySlot]:
    return list(
        session.scalars(
            select(DutySlot)
            .where(DutySlot.centre == centre)
            .order_by(DutySlot.weekday, DutySlot.starts_minute, DutySlot.id)
        )
    )


def eligible(session: Session, centre: str) -> list[StaffMember]:
    """Who may be put on a centre's rota: active members of that centre or the division who may act."""
    return list(
        session.scalars(
            select(StaffMember)
            .where(StaffMember.active, StaffMember.role.in_(ON_ROTA_ROLES), StaffMember.centre.in_(_covering(centre)))
            .order_by(StaffMember.centre, StaffMember.name)
        )
    )


def slot_problem(weekdays: Iterable[int], starts: int, ends: int) -> str | None:
    if not list(weekdays) or any(not 0 <= d <= 6 for d in weekdays):
        return "曜日を選んでください。"
    if not (0 <= starts < ends <= DAY_MINUTES):
        return "終わりの時刻は始まりより後にしてください（日をまたぐときは二つに分けてください）。"
    return None


def add_slots(
    session: Session, centre: str, staff_id: int, weekdays: Iterable[int], starts: int, ends: int
) -> list[DutySlot]:
    added = [
        DutySlot(centre=centre, staff_id=staff_id, weekday=d, starts_minute=starts, ends_minute=ends, created_at=now())
        for d in sorted(set(weekdays))
    ]
    session.add_all(added)
    session.flush()
    return added


def remove_slot(session: Session, centre: str, slot_id: int) -> DutySlot | None:
    slot = session.get(DutySlot, slot_id)
    if slot is None or slot.centre != centre:
        return None
    session.delete(slot)
    return slot


def exceptions(session: Session, centre: str, since: date) -> list[DutyException]:
    return list(
        session.scalars(
            select(DutyException)
            .where(DutyException.centre == centre, DutyException.day >= since)
            .order_by(DutyException.day, DutyException.id)
        )
    )


def add_exception(
    session: Session, centre: str, day: date, kind: str, *, staff_id: int | None = None, replaces_id: int | None = None
) -> DutyException:
    if kind not in EXCEPTION_KINDS or (kind == "substitute") != (staff_id is not None and replaces_id is not None):
        raise ValueError("a substitute names who covers for whom; other exceptions name nobody")
    row = DutyException(centre=centre, day=day, kind=kind, staff_id=staff_id, replaces_id=replaces_id, created_at=now())
    session.add(row)
    session.flush()
    return row


def remove_exception(session: Session, centre: str, exception_id: int) -> DutyException | None:
    row = session.get(DutyException, exception_id)
    if row is None or row.centre != centre:
        return None
    session.delete(row)
    return row


def set_override(member: StaffMember, value: bool | None) -> bool:
    """当番 on (True), off (False), or back to the rota (None). True if it changed."""
    if member.on_duty is value:
        return False
    member.on_duty, member.updated_at = value, now()
    return True


def overrides(session: Session, centre: str) -> list[StaffMember]:
    """Members of this centre (or the division) whose 当番 is set by hand, not by the rota."""
    return list(
        session.scalars(
            select(StaffMember)
            .where(
                StaffMember.active,
                StaffMember.centre.in_(_covering(centre)),
                or_(StaffMember.on_duty.is_(True), StaffMember.on_duty.is_(False)),
            )
            .order_by(StaffMember.name)
        )
    )
