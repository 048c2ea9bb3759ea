"""Writing and reading the append-only audit trail (``audit_events``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from storage.clock import now
from storage.models import AuditEvent

# Keys that would put personal data into the trail; ``record`` refuses them. Values are short scalars or lists of
# them: ids, names of fields, counts.
_PERSONAL_KEYS = frozenset(
    {"name", "furigana", "phone", "email", "login", "line_user_id", "text", "note", "value", "query", "address"}
)
_MAX_TEXT = 80


class HasId(Protocol):
    id: int


def record(
    session: Session,
    *,
    action: str,
    actor: HasId | None = None,
    actor_label: str | None = None,
    subject_type: str | None = None,
    subject_id: int | str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add one event. ``actor`` is the staff member (a ``StaffMember`` or the console's ``Actor``), or None with
    ``actor_label`` saying who ("cli", "system", "anonymous")."""
    details = dict(details or {})
    for key, value in details.items():
        if key in _PERSONAL_KEYS:
            raise ValueError(f"audit details must not carry personal data ({key!r})")
        for item in value if isinstance(value, list) else [value]:
            if not isinstance(item, (str, int, float, bool, type(None))) or len(str(item)) > _MAX_TEXT:
                raise ValueError(f"audit detail {key!r} must be ids, names of fields or counts")
    row = AuditEvent(
        at=now(),
        actor_staff_id=actor.id if actor is not None else None,
        actor_label=actor_label or (f"staff:{actor.id}" if actor is not None else "system"),
        action=action,
        subject_type=subject_type,
        subject_id=None if subject_id is None else str(subject_id),
        details=details,
    )
    session.add(row)
    session.flush()
    return row


@dataclass(frozen=True)
class Filter:
    actor_staff_id: int | None = None
    action_prefix: str | None = None
    subject_type: str | None = None
    subject_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _query(flt: Filter) -> Select[AuditEvent]:
    query = select(AuditEvent)
    if flt.actor_staff_id is not None:
        query = query.where(AuditEvent.actor_staff_id == flt.actor_staff_id)
    if flt.action_prefix:
        query = query.where(AuditEvent.action.startswith(flt.action_prefix, autoescape=True))
    if flt.subject_type:
        query = query.where(AuditEvent.subject_type == flt.subject_type)
    if flt.subject_id:
        query = query.where(AuditEvent.subject_id == flt.subject_id)
    if flt.since is not None:
        query = query.where(AuditEvent.at >= flt.since)
    if flt.until is not None:
        query = query.where(AuditEvent.at < flt.until)
    return query


def search(session: Session, flt: Filter, *, limit: int | None = 100, offset: int = 0) -> list[AuditEvent]:
    query = _query(flt).order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def count(session: Session, flt: Filter) -> int:
    return session.scalars(select(func.count()).select_from(_query(flt).subquery())).one()


def actions(session: Session) -> list[str]:
    """Every action name that occurs, for the filter's choices."""
    return list(session.scalars(select(AuditEvent.action).distinct().order_by(AuditEvent.action)))


def about(session: Session, subject_type: str, subject_id: int | str, limit: int = 50) -> list[AuditEvent]:
    return search(session, Filter(subject_type=subject_type, subject_id=str(subject_id)), limit=limit)
