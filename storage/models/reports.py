"""What parents raise with staff, and how staff handle it: lost-credential reports (policy 5-(3)), equipment-loan
requests (policy 4-(1)), the escalation each one becomes, the thread between staff and the parent, the history of
every change (``report_events``), and the e-mail / outgoing-webhook notices the worker delivers.

An ``Escalation`` is the part staff work with — reference number (受付番号), responsible centre, status, who
acknowledged and resolved it, the timers. The report or the loan request beside it holds what the parent answered.
Free text (the parent's note, the messages of the thread) is the parent's or staff's own words: personal data,
never logged, never put into e-mail or webhooks.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage.clock import now
from storage.models.base import Base
from storage.types import UTCDateTime

# "lost_credentials": 紛失・盗難の報告; "equipment_loan": 機器の貸出相談.
ESCALATION_KINDS = ("lost_credentials", "equipment_loan")
# open (未対応) → acknowledged (対応中) → resolved (解決). An acknowledged one left unresolved too long is reopened.
ESCALATION_STATUSES = ("open", "acknowledged", "resolved")


class Escalation(Base):
    __tablename__ = "escalations"
    __table_args__ = (Index("ix_escalations_status_centre", "status", "centre"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # The 受付番号 parents and staff quote to each other ("R-7KQ2MX", "L-3HT8PA").
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    parent_id: Mapped[int] = mapped_column(ForeignKey("parents.id", ondelete="CASCADE"), index=True)
    # The centre responsible: the event's, else the parent's. The division (地域子育て支援課) is always told too.
    centre: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    # Since when nobody has acknowledged it (set when created and when reopened): the re-notification timer.
    attention_since: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    # Re-notifications sent since ``attention_since``.
    renotified: Mapped[int] = mapped_column(Integer, default=0)
    # When the division was alerted because nobody acknowledged it in time.
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by: Mapped[int | None] = mapped_column(ForeignKey("staff_members.id"))
    # How often it was reopened because it stayed acknowledged but unresolved too long.
    reopened: Mapped[int] = mapped_column(Integer, default=0)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by: Mapped[int | None] = mapped_column(ForeignKey("staff_members.id"))
    # How it ended: "links_sent" / "links_held" (reports), "approved" / "declined" (loans).
    outcome: Mapped[str | None] = mapped_column(String(16))


class LostCredentialReport(Base):
    """紛失・盗難の報告: what was lost or stolen, roughly when, whether misuse is suspected, which events."""

    __tablename__ = "lost_credential_reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    escalation_id: Mapped[int] = mapped_column(ForeignKey("escalations.id", ondelete="CASCADE"), unique=True)
    # join_link | meeting_details | service_account | line_account | other
    lost: Mapped[str] = mapped_column(String(20))
    # today | yesterday | this_week | earlier | unknown
    lost_when: Mapped[str] = mapped_column(String(12))
    # yes | no | unsure
    misuse: Mapped[str] = mapped_column(String(8))
    event_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    note: Mapped[str] = mapped_column(Text, default="")
    # Enrollments whose join link this report revoked and that get a new one only when staff say so.
    held_enrollment_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    # Later reports about the same thing merged into this one, and the last of them.
    repeats: Mapped[int] = mapped_column(Integer, default=0)
    last_repeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    escalation: Mapped[Escalation] = relationship()


class LoanRequest(Base):
    """機器の貸出相談: which equipment, for which event, why; and the staff decision."""

    __tablename__ = "loan_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    escalation_id: Mapped[int] = mapped_column(ForeignKey("escalations.id", ondelete="CASCADE"), unique=True)
    # Any of: pc | tablet | camera | microphone | router
    equipment: Mapped[list[str]] = mapped_column(JSON, default=list)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="SET NULL"))
    # no_device | device_unsuitable | no_camera_mic | no_internet | other
    reason: Mapped[str] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(Text, default="")
    # The pick-up details (approved) or the reason (declined) staff gave the parent.
    decision_note: Mapped[str] = mapped_column(Text, default="")

    escalation: Mapped[Escalation] = relationship()


class EscalationMessage(Base):
    """The thread: an instruction or question staff relayed to the parent (指示), or the parent's answer."""

    __tablename__ = "escalation_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    escalation_id: Mapped[int] = mapped_column(ForeignKey("escalations.id", ondelete="CASCADE"), index=True)
    # "to_parent" (written by ``staff_id``) or "from_parent" (an answer, relayed to ``staff_id``).
    direction: Mapped[str] = mapped_column(String(12))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_members.id"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    # For an instruction: when the parent answered it.
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ReportEvent(Base):
    """One change in an escalation's life, with its time and actor: created, merged, links_revoked, notified,
    renotified, escalated, acknowledged, instruction_sent, answered, resolved, reopened, credentials_rotated,
    loan_approved, loan_declined. Only ever added. ``details`` holds codes, ids and counts, never free text."""

    __tablename__ = "report_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    escalation_id: Mapped[int] = mapped_column(ForeignKey("escalations.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    action: Mapped[str] = mapped_column(String(30))
    actor_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_members.id"))
    # "parent", "system", or "staff:<id>".
    actor_label: Mapped[str] = mapped_column(String(40))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class EscalationNotification(Base):
    """An e-mail or outgoing-webhook notice about an escalation, planned in the transaction of the change and sent by
    the worker (``scheduler.escalation``), retried with backoff. The text carries the reference, the kind, the centre
    and the console link only: no personal data."""

    __tablename__ = "escalation_notifications"
    __table_args__ = (Index("ix_escalation_notifications_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    escalation_id: Mapped[int] = mapped_column(ForeignKey("escalations.id", ondelete="CASCADE"), index=True)
    # "email" | "webhook"
    channel: Mapped[str] = mapped_column(String(10))
    # The address set in the console it goes to (storage/routing.py); None: the division's default from the
    # environment (ESCALATION_EMAIL_TO / ESCALATION_WEBHOOK_URL).
    route_id: Mapped[int | None] = mapped_column(ForeignKey("routing_channels.id"))
    dedupe_key: Mapped[str] = mapped_column(String(120), unique=True)
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    # planned → sent | failed | skipped (the channel is not configured)
    status: Mapped[str] = mapped_column(String(10), default="planned")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
