"""Programme statistics (事業報告) per calendar month and centre, and the monthly snapshots that keep them once the
personal data behind them is purged (storage/retention.py).

A month's figures are counted from the live tables while every row behind them is still there; from the day the
shortest relevant retention period could have removed some of them, the month is *frozen* and its snapshot
(``statistics_months``, written by the nightly job before it purges: ``snapshot_months``) is what counts. A
snapshot holds counts and bare numbers of minutes only: nothing in it identifies a parent.

Months are Asia/Tokyo calendar months; a fiscal year (年度) runs from April to March.
"""

from __future__ import annotations

import statistics as stats
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from storage.clock import TOKYO, now, to_tokyo
from storage.models import (
    AttendanceMark,
    ConsentRecord,
    Enrollment,
    Escalation,
    Event,
    Feedback,
    JoinLink,
    JoinLinkOpening,
    LineUser,
    Parent,
    StatisticsMonth,
)
from storage.models.events import KINDS
from storage.models.reports import ESCALATION_KINDS
from storage.models.staff import CENTRES

# Retention kinds whose purge removes rows a month's figures are counted from.
PURGED_SOURCES = ("participants", "feedback", "reports", "link_openings")
ENROLLMENT_COUNTS = (
    "applications",
    "confirmed",
    "waitlisted",
    "withdrawn",
    "declined",
    "attended",
    "no_shows",
    "opened",
)
SCORES = (1, 2, 3, 4, 5)


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(first: date) -> date:
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


def fiscal_year_months(year: int) -> list[date]:
    """April of ``year`` to March of the next (令和/西暦の「年度」)."""
    first = date(year, 4, 1)
    months = [first]
    while len(months) < 12:
        months.append(next_month(months[-1]))
    return months


def fiscal_year_of(day: date) -> int:
    return day.year if day.month >= 4 else day.year - 1


def _bounds(first: date) -> tuple[datetime, datetime]:
    start = datetime(first.year, first.month, 1, tzinfo=TOKYO)
    after = next_month(first)
    return start, datetime(after.year, after.month, 1, tzinfo=TOKYO)


def frozen_since(first: date, retention_days: Mapping[str, int]) -> datetime:
    """From when some of this month's rows may have been purged: a row made on its first day, kept for the shortest
    of the periods that remove what the figures count."""
    shortest = min(retention_days[kind] for kind in PURGED_SOURCES)
    return _bounds(first)[0] + timedelta(days=shortest)


def empty() -> dict[str, Any]:
    return {
        "events": {k: 0 for k in KINDS},
        "cancelled": {k: 0 for k in KINDS},
        **{name: {k: 0 for k in KINDS} for name in ENROLLMENT_COUNTS},
        "registrations": {"guardian": 0, "pregnant": 0},
        "reports": {k: 0 for k in ESCALATION_KINDS},
        "ack_minutes": {k: [] for k in ESCALATION_KINDS},
        "resolve_minutes": {k: [] for k in ESCALATION_KINDS},
        "scores": {str(s): 0 for s in SCORES},
    }


def count_month(session: Session, first: date, centres: Iterable[str], moment: datetime) -> dict[str, dict[str, Any]]:
    """{centre: figures} for one month, from the live tables, in one query per kind of figure for all the centres.
    Events count in the month they start; only events already started by ``moment`` count as held."""
    start, end = _bounds(first)
    centres = list(centres)
    out = {centre: empty() for centre in centres}
    in_month = (Event.centre.in_(centres), Event.starts_at >= start, Event.starts_at < end)
    held = (*in_month, Event.status.in_(("published", "finished")), Event.starts_at <= moment)
    for centre, kind, n in session.execute(
        select(Event.centre, Event.kind, func.count())
        .where(*in_month, Event.status == "cancelled")
        .group_by(Event.centre, Event.kind)
    ):
        out[centre]["cancelled"][kind] = n
    for centre, kind, n in session.execute(
        select(Event.centre, Event.kind, func.count()).where(*held).group_by(Event.centre, Event.kind)
    ):
        out[centre]["events"][kind] = n
    for centre, kind, status, n in session.execute(
        select(Event.centre, Event.kind, Enrollment.status, func.count())
        .join(Event, Enrollment.event_id == Event.id)
        .where(*held)
        .group_by(Event.centre, Event.kind, Enrollment.status)
    ):
        out[centre]["applications"][kind] += n
        if status in ("confirmed", "waitlisted", "withdrawn", "declined"):
            out[centre][status][kind] += n
    for centre, kind, attended, n in session.execute(
        select(Event.centre, Event.kind, AttendanceMark.attended, func.count())
        .join(Enrollment, AttendanceMark.enrollment_id == Enrollment.id)
        .join(Event, Enrollment.event_id == Event.id)
        .where(*held)
        .group_by(Event.centre, Event.kind, AttendanceMark.attended)
    ):
        out[centre]["attended" if attended else "no_shows"][kind] += n
    for centre, kind, n in session.execute(
        select(Event.centre, Event.kind, func.count(distinct(JoinLink.enrollment_id)))
        .join(Enrollment, JoinLink.enrollment_id == Enrollment.id)
        .join(Event, Enrollment.event_id == Event.id)
        .where(
            *held, JoinLink.id.in_(select(JoinLinkOpening.join_link_id).where(JoinLinkOpening.details_shown.is_(True)))
        )
        .group_by(Event.centre, Event.kind)
    ):
        out[centre]["opened"][kind] = n
    for centre, guardians, pregnant in session.execute(
        select(Parent.centre, func.count().filter(Parent.is_guardian), func.count().filter(Parent.is_pregnant))
        .where(Parent.centre.in_(centres), Parent.registered_at >= start, Parent.registered_at < end)
        .group_by(Parent.centre)
    ):
        out[centre]["registrations"] = {"guardian": guardians, "pregnant": pregnant}
    for centre, kind, created, acknowledged, resolved in session.execute(
        select(
            Escalation.centre,
            Escalation.kind,
            Escalation.created_at,
            Escalation.acknowledged_at,
            Escalation.resolved_at,
        ).where(Escalation.centre.in_(centres), Escalation.created_at >= start, Escalation.created_at < end)
    ):
        figures = out[centre]
        figures["reports"][kind] += 1
        if acknowledged is not None:
            figures["ack_minutes"][kind].append(_minutes(created, acknowledged))
        if resolved is not None:
            figures["resolve_minutes"][kind].append(_minutes(created, resolved))
    for centre, score, n in session.execute(
        select(Event.centre, Feedback.score, func.count())
        .join(Event, Feedback.event_id == Event.id)
        .where(*held)
        .group_by(Event.centre, Feedback.score)
    ):
        if score in SCORES:
            out[centre]["scores"][str(score)] += n
    return out


def _minutes(start: datetime, end: datetime) -> int:
    return max(0, round((end - start).total_seconds() / 60))


def snapshot_months(session: Session, retention_days: Mapping[str, int], moment: datetime | None = None) -> int:
    """Write (or refresh) the snapshot of every month up to this one whose figures may still change or that has none
    yet, for every centre; frozen months that have a snapshot are left as they are. Run before each purge, so a
    month is kept before any of its rows can go. Returns how many snapshots were written."""
    moment = moment or now()
    oldest = session.scalar(select(func.min(Event.starts_at)))
    candidates = [
        d
        for d in (
            oldest,
            session.scalar(select(func.min(Parent.registered_at))),
            session.scalar(select(func.min(Escalation.created_at))),
        )
        if d is not None
    ]
    if not candidates:
        return 0
    first = month_start(to_tokyo(min(candidates)).date())
    this_month = month_start(to_tokyo(moment).date())
    kept = {(row.month, row.centre) for row in session.execute(select(StatisticsMonth.month, StatisticsMonth.centre))}
    written = 0
    while first <= this_month:
        frozen = moment >= frozen_since(first, retention_days)
        due = [centre for centre in CENTRES if not (frozen and (first, centre) in kept)]
        for centre, figures in (count_month(session, first, due, moment) if due else {}).items():
            row = session.get(StatisticsMonth, (first, centre))
            if row is None:
                session.add(StatisticsMonth(month=first, centre=centre, figures=figures, computed_at=moment))
            else:
                row.figures, row.computed_at = figures, moment
            written += 1
        first = next_month(first)
    session.flush()
    return written


def figures_for(
    session: Session,
    months: Iterable[date],
    centres: Iterable[str],
    retention_days: Mapping[str, int],
    moment: datetime | None = None,
) -> dict[date, dict[str, Any]]:
    """{month: figures summed over ``centres``}: a frozen month from its snapshot, the others counted live."""
    moment = moment or now()
    centres = list(centres)
    out = {}
    for first in months:
        if first > to_tokyo(moment).date():
            out[first] = empty()
            continue
        frozen = moment >= frozen_since(first, retention_days)
        kept = {}
        if frozen:
            kept = {
                row.centre: row.figures
                for row in session.scalars(
                    select(StatisticsMonth).where(StatisticsMonth.month == first, StatisticsMonth.centre.in_(centres))
                )
            }
        live = [c for c in centres if c not in kept]
        counted = count_month(session, first, live, moment) if live else {}
        out[first] = merge([kept.get(c) or counted[c] for c in centres])
    return out


def merge(parts: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Figures added together (counts summed, lists of minutes joined)."""
    total = empty()
    for part in parts:
        for name, values in part.items():
            for key, value in values.items():
                if isinstance(value, list):
                    total[name].setdefault(key, []).extend(value)
                else:
                    total[name][key] = total[name].get(key, 0) + value
    return total


@dataclass(frozen=True)
class Consent:
    registered: int
    consented: int

    @property
    def rate(self) -> float | None:
        return self.consented / self.registered if self.registered else None


def consent_now(session: Session, centres: Iterable[str], policy_version_id: int | None) -> Consent:
    """Registered parents still following the bot, and how many of them agreed to the current policy last."""
    latest = (
        select(ConsentRecord.line_user_pk, func.max(ConsentRecord.id).label("last"))
        .group_by(ConsentRecord.line_user_pk)
        .subquery()
    )
    rows = session.execute(
        select(ConsentRecord.answer, ConsentRecord.policy_version_id)
        .select_from(Parent)
        .join(LineUser, Parent.line_user_pk == LineUser.id)
        .outerjoin(latest, latest.c.line_user_pk == LineUser.id)
        .outerjoin(ConsentRecord, ConsentRecord.id == latest.c.last)
        .where(Parent.centre.in_(list(centres)), LineUser.status == "active")
    ).all()
    agreed = Counter(answer == "agreed" and version == policy_version_id for answer, version in rows)
    return Consent(len(rows), agreed[True])


def quantile(values: list[int], q: float) -> float | None:
    """The median (q=0.5) or the 90th percentile (q=0.9), interpolated as spreadsheets do (PERCENTILE.INC)."""
    if not values:
        return None
    if len(values) == 1:
        return float(values[0])
    return stats.quantiles(values, n=10, method="inclusive")[round(q * 10) - 1]
