"""The audit trail: every staff read of a parent's personal data and every change made from the console or the CLI.

Rows are only ever added (``storage.audit`` has no update or delete, and the ORM refuses both). ``details`` holds
ids, field names and counts, never personal data, so erasing a parent never has to touch the audit trail.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, event
from sqlalchemy.orm import Mapped, mapped_column

from storage.clock import now
from storage.models.base import Base
from storage.types import UTCDateTime


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_at", "at"),
        Index("ix_audit_events_subject", "subject_type", "subject_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    # The staff member who acted; None for the system and for the command line ("actor_label" says which).
    actor_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_members.id"), index=True)
    actor_label: Mapped[str] = mapped_column(String(40))
    # What happened, as "area.verb": "parent.view", "event.update", "sanction.bar", "staff.login" ...
    action: Mapped[str] = mapped_column(String(60), index=True)
    subject_type: Mapped[str | None] = mapped_column(String(30))
    subject_id: Mapped[str | None] = mapped_column(String(40))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class AuditTrailIsAppendOnly(RuntimeError):
    pass


@event.listens_for(AuditEvent, "before_update")
@event.listens_for(AuditEvent, "before_delete")
def _refuse_changes(_mapper: Any, _connection: Any, _target: Any) -> None:
    raise AuditTrailIsAppendOnly("audit events cannot be changed or deleted")
