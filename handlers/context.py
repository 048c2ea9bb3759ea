"""Loads the read-only ``Context`` a flow step sees, and applies the effects a step returns."""
from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from handlers.engine import DEFAULT_CONTACT_PHONE, Context
from storage import people
from storage.clock import now
from storage.models import LineUser


def load(session: Session, user: LineUser, *, public_base_url: str = "", contact_phone: str = "") -> Context:
    parent = people.parent_of(session, user.id)
    profile: dict[str, Any] = {}
    if parent is not None:
        profile = {
            "name": parent.name,
            "furigana": parent.furigana,
            "phone": parent.phone,
            "is_guardian": parent.is_guardian,
            "is_pregnant": parent.is_pregnant,
            "due_month": parent.due_month.isoformat()[:7] if parent.due_month else None,
            "children": [c.birth_month.isoformat()[:7] for c in parent.children],
            "centre": parent.centre,
        }
    return Context(
        now=now(),
        lang=user.language,
        registered=parent is not None,
        consent_current=people.has_current_consent(session, user.id),
        profile=profile,
        public_base_url=public_base_url,
        contact_phone=contact_phone or DEFAULT_CONTACT_PHONE,
    )
