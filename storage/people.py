"""Parents, children, policy versions and consents: the queries the flows and pages need."""
from __future__ import annotations

import hashlib

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.clock import now
from storage.models import ConsentRecord, Parent, PolicyVersion


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def ensure_policy(session: Session, text: str) -> PolicyVersion:
    """Make ``text`` a published policy version (idempotent: the same text is the same version)."""
    digest = content_hash(text)
    found = session.scalars(select(PolicyVersion).where(PolicyVersion.content_hash == digest)).first()
    if found is not None:
        return found
    version = PolicyVersion(content_hash=digest, text=text, published_at=now())
    session.add(version)
    session.flush()
    return version


def current_policy(session: Session) -> PolicyVersion | None:
    return session.scalars(select(PolicyVersion).order_by(PolicyVersion.published_at.desc(), PolicyVersion.id.desc())).first()


def parent_of(session: Session, user_pk: int) -> Parent | None:
    return session.scalars(select(Parent).where(Parent.line_user_pk == user_pk)).first()


def latest_consent(session: Session, user_pk: int) -> ConsentRecord | None:
    return session.scalars(
        select(ConsentRecord).where(ConsentRecord.line_user_pk == user_pk).order_by(ConsentRecord.id.desc())
    ).first()


def has_current_consent(session: Session, user_pk: int) -> bool:
    policy = current_policy(session)
    latest = latest_consent(session, user_pk)
    return bool(policy and latest and latest.answer == "agreed" and latest.policy_version_id == policy.id)
