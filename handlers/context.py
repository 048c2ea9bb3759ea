"""Loads the read-only ``Context`` a flow step sees, and applies the effects a step returns."""
from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from handlers import event_facts, report_facts
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
    moment = now()
    consent_current = people.has_current_consent(session, user.id)
    return Context(
        now=moment,
        lang=user.language,
        registered=parent is not None,
        consent_current=consent_current,
        profile=profile,
        facts={
            "consent": _consent_facts(session, user),
            **event_facts.load(session, parent, moment=moment, consent_current=consent_current,
                               public_base_url=public_base_url),
            # The parent's reports and loan requests; whether the LINE account is a staff member's (StaffMember).
            **report_facts.load(session, user, parent, moment=moment),
        },
        public_base_url=public_base_url,
        contact_phone=contact_phone or DEFAULT_CONTACT_PHONE,
    )


def _consent_facts(session: Session, user: LineUser) -> dict[str, Any]:
    """The policy version in force (it may have been published from the staff console), the parent's latest answer,
    and whether that answer was to the version in force (one who agreed to an older text is asked again)."""
    latest = people.latest_consent(session, user.id)
    policy = people.current_policy(session)
    return {
        "policy_hash": policy.content_hash if policy else None,
        "answer": latest.answer if latest else None,
        "for_current": bool(latest and policy and latest.policy_version_id == policy.id),
        "answered_at": latest.answered_at.isoformat() if latest else None,
    }
