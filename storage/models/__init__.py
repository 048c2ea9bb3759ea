"""All models, imported here so ``Base.metadata`` is complete for Alembic and tests."""
from storage.models.base import Base
from storage.models.core import ConversationState, InboxEvent, LineUser, OutboxMessage
from storage.models.people import Child, ConsentRecord, Parent, PolicyVersion

__all__ = [
    "Base",
    "Child",
    "ConsentRecord",
    "ConversationState",
    "InboxEvent",
    "LineUser",
    "OutboxMessage",
    "Parent",
    "PolicyVersion",
]
