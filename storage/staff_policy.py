"""Consent statistics for the console's policy page: who has agreed to which published version."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Subquery, func, select
from sqlalchemy.orm import Session

from storage.models import ConsentRecord, LineUser, Parent, PolicyVersion
from storage.staff_parents import ERASED_STATUS


@dataclass(frozen=True)
class VersionStats:
    version: PolicyVersion
    # Latest answer of each person, counted by answer ("agreed", "declined", "withdrawn").
    answers: dict[str, int]


def _latest_answers() -> Subquery:
    """The id of each person's latest consent record."""
    return select(func.max(ConsentRecord.id).label("id")).group_by(ConsentRecord.line_user_pk).subquery()


def versions(session: Session) -> list[VersionStats]:
    """Every published version, newest first, with the latest answer of each person counted where it was given."""
    latest = _latest_answers()
    counts: dict[int, dict[str, int]] = {}
    rows = session.execute(
        select(ConsentRecord.policy_version_id, ConsentRecord.answer, func.count())
        .join(latest, latest.c.id == ConsentRecord.id)
        .group_by(ConsentRecord.policy_version_id, ConsentRecord.answer)
    )
    for version_id, answer, n in rows:
        counts.setdefault(version_id, {})[answer] = n
    published = session.scalars(
        select(PolicyVersion).order_by(PolicyVersion.published_at.desc(), PolicyVersion.id.desc())
    )
    return [VersionStats(v, counts.get(v.id, {})) for v in published]


def registered_parents(session: Session) -> int:
    """Registered parents whose records still exist (erased ones are statistics only)."""
    return session.scalars(
        select(func.count())
        .select_from(Parent)
        .join(LineUser, LineUser.id == Parent.line_user_pk)
        .where(LineUser.status != ERASED_STATUS)
    ).one()


def parents_agreed_to(session: Session, version: PolicyVersion) -> int:
    """Registered parents whose latest answer is 同意 to this version."""
    latest = _latest_answers()
    return session.scalars(
        select(func.count())
        .select_from(Parent)
        .join(LineUser, LineUser.id == Parent.line_user_pk)
        .join(ConsentRecord, ConsentRecord.line_user_pk == Parent.line_user_pk)
        .join(latest, latest.c.id == ConsentRecord.id)
        .where(
            ConsentRecord.policy_version_id == version.id,
            ConsentRecord.answer == "agreed",
            LineUser.status != ERASED_STATUS,
        )
    ).one()
