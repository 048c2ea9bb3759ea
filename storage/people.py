"""Parents, children, policy versions and consents: the queries the flows and pages need."""

from __future__ import annotations

import hashlib
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.clock import now
from storage.models import Child, ConsentRecord, Parent, PolicyVersion

CONSENT_ANSWERS = ("agreed", "declined", "withdrawn")


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
    return session.scalars(
        select(PolicyVersion).order_by(PolicyVersion.published_at.desc(), PolicyVersion.id.desc())
    ).first()


def policy_by_hash(session: Session, digest: str) -> PolicyVersion | None:
    return session.scalars(select(PolicyVersion).where(PolicyVersion.content_hash == digest)).first()


def parent_of(session: Session, user_pk: int) -> Parent | None:
    return session.scalars(select(Parent).where(Parent.line_user_pk == user_pk)).first()


def save_parent(
    session: Session,
    user_pk: int,
    *,
    name: str,
    furigana: str,
    phone: str,
    is_guardian: bool,
    is_pregnant: bool,
    due_month: date | None,
    centre: str,
    children: list[date],
) -> Parent:
    """Register the parent, or replace their details: exactly what they confirmed, nothing kept from before."""
    parent = parent_of(session, user_pk)
    moment = now()
    if parent is None:
        parent = Parent(line_user_pk=user_pk, registered_at=moment)
        session.add(parent)
    parent.name, parent.furigana, parent.phone = name, furigana, phone
    parent.is_guardian, parent.is_pregnant = is_guardian, is_pregnant
    parent.due_month = due_month if is_pregnant else None
    parent.centre = centre
    parent.updated_at = moment
    parent.children = [Child(birth_month=month) for month in sorted(children)] if is_guardian else []
    session.flush()
    return parent


def latest_consent(session: Session, user_pk: int) -> ConsentRecord | None:
    return session.scalars(
        select(ConsentRecord).where(ConsentRecord.line_user_pk == user_pk).order_by(ConsentRecord.id.desc())
    ).first()


def record_consent(
    session: Session, user_pk: int, policy: PolicyVersion, answer: str, channel: str = "line"
) -> ConsentRecord:
    """Add an answer to one policy version (rows are never changed: the history is the record)."""
    if answer not in CONSENT_ANSWERS:
        raise ValueError(f"not a consent answer: {answer!r}")
    record = ConsentRecord(
        line_user_pk=user_pk, policy_version_id=policy.id, answer=answer, channel=channel, answered_at=now()
    )
    session.add(record)
    session.flush()
    return record


def has_current_consent(session: Session, user_pk: int) -> bool:
    policy = current_policy(session)
    latest = latest_consent(session, user_pk)
    return bool(policy and latest and latest.answer == "agreed" and latest.policy_version_id == policy.id)
