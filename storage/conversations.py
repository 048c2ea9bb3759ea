"""Conversation state per user (flow, step, data, version, expiry)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from storage.clock import now
from storage.models import ConversationState


def load(session: Session, user_pk: int) -> ConversationState | None:
    return session.get(ConversationState, user_pk)


def save(
    session: Session,
    user_pk: int,
    flow: str | None,
    step: str | None,
    data: dict[str, Any],
    version: int,
    expires_at: datetime | None,
) -> None:
    row = session.get(ConversationState, user_pk)
    if row is None:
        row = ConversationState(line_user_pk=user_pk)
        session.add(row)
    row.flow, row.step, row.data, row.version = flow, step, dict(data), version
    row.expires_at = expires_at if flow else None
    row.updated_at = now()
