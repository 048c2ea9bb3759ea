"""All models, imported here so ``Base.metadata`` is complete for Alembic and tests."""

from storage.models.audit import AuditEvent
from storage.models.base import Base
from storage.models.broadcasts import Broadcast, BroadcastBatch, BroadcastOptOut
from storage.models.core import ConversationState, InboxEvent, InboxProcessed, LineUser, OutboxMessage
from storage.models.events import AnnouncementOptIn, Enrollment, Event, JoinLink, JoinLinkOpening
from storage.models.feedback import Feedback
from storage.models.health import WorkerHeartbeat
from storage.models.people import Child, ConsentRecord, Parent, PolicyVersion
from storage.models.reports import (
    Escalation,
    EscalationMessage,
    EscalationNotification,
    LoanRequest,
    LostCredentialReport,
    ReportEvent,
)
from storage.models.routing import DutyException, DutySlot, RoutingChannel
from storage.models.sanctions import Sanction
from storage.models.staff import (
    AttendanceMark,
    LoginAttempt,
    LoginChallenge,
    LoginThrottle,
    StaffDevice,
    StaffInvite,
    StaffMember,
    StaffSession,
)
from storage.models.statistics import StatisticsMonth

__all__ = [
    "AnnouncementOptIn",
    "AttendanceMark",
    "AuditEvent",
    "Base",
    "Broadcast",
    "BroadcastBatch",
    "BroadcastOptOut",
    "Child",
    "ConsentRecord",
    "ConversationState",
    "DutyException",
    "DutySlot",
    "Enrollment",
    "Escalation",
    "EscalationMessage",
    "EscalationNotification",
    "Event",
    "Feedback",
    "InboxEvent",
    "InboxProcessed",
    "JoinLink",
    "JoinLinkOpening",
    "LineUser",
    "LoanRequest",
    "LoginAttempt",
    "LoginChallenge",
    "LoginThrottle",
    "LostCredentialReport",
    "OutboxMessage",
    "Parent",
    "PolicyVersion",
    "ReportEvent",
    "RoutingChannel",
    "Sanction",
    "StaffDevice",
    "StaffInvite",
    "StaffMember",
    "StaffSession",
    "StatisticsMonth",
    "WorkerHeartbeat",
]
