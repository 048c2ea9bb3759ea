"""What the staff console needs about parents: search, the whole record of one parent, and the data-rights actions
of the APPI (個人情報保護法) — disclose everything held, correct, suspend use, erase.

Erasure keeps the parent's row and everything that counts (centre, registration date, children's birth months,
applications, attendance, consents, feedback scores, the kind, codes and times of reports and loan requests) so
statistics stay right, and removes what identifies the person: name, ふりがな, phone number, the LINE user id
(everywhere it is stored), messages, chat state, their own words and words about them (feedback comments, sanction
notes; report and loan notes, decisions and the thread with staff, also in the copies staff received in LINE —
``storage.staff_parents_reports``).
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from storage import inbox, outbox, people, sanctions, staff_parents_reports
from storage.clock import now
from storage.models import (
    AnnouncementOptIn,
    BroadcastOptOut,
    ConsentRecord,
    ConversationState,
    Enrollment,
    Event,
    Feedback,
    JoinLink,
    JoinLinkOpening,
    LineUser,
    OutboxMessage,
    Parent,
    PolicyVersion,
)
from storage.staff_parents_reports import Raised

ERASED_STATUS = "erased"
SEARCH_LIMIT = 50
CORRECTABLE = ("name", "furigana", "phone", "centre", "is_guardian", "is_pregnant", "due_month")


def search(session: Session, *, name: str, reading: str, digits: str, centres: tuple[str, ...] | None) -> list[Parent]:
    """Parents (not erased) whose name contains ``name``, ふりがな contains ``reading`` or phone number contains
    ``digits`` (3 or more), within ``centres`` (None: every centre). The caller normalises the search text."""
    if not name:
        return []
    conditions = [Parent.name.contains(name, autoescape=True), Parent.furigana.contains(reading, autoescape=True)]
    if digits.isdigit() and len(digits) >= 3:
        conditions.append(Parent.phone.contains(digits, autoescape=True))
    stmt = (
        select(Parent)
        .join(LineUser, LineUser.id == Parent.line_user_pk)
        .where(or_(*conditions), LineUser.status != ERASED_STATUS)
        .order_by(Parent.furigana, Parent.id)
        .limit(SEARCH_LIMIT)
    )
    if centres is not None:
        stmt = stmt.where(Parent.centre.in_(centres))
    return list(session.scalars(stmt))


def line_user(session: Session, parent: Parent) -> LineUser:
    return session.get_one(LineUser, parent.line_user_pk)


def is_erased(session: Session, parent: Parent) -> bool:
    return line_user(session, parent).status == ERASED_STATUS


def consents(session: Session, parent: Parent) -> list[tuple[ConsentRecord, PolicyVersion]]:
    return list(
        session.execute(
            select(ConsentRecord, PolicyVersion)
            .join(PolicyVersion, PolicyVersion.id == ConsentRecord.policy_version_id)
            .where(ConsentRecord.line_user_pk == parent.line_user_pk)
            .order_by(ConsentRecord.id.desc())
        ).all()
    )


def enrollments(session: Session, parent: Parent) -> list[tuple[Enrollment, Event]]:
    return list(
        session.execute(
            select(Enrollment, Event)
            .join(Event, Event.id == Enrollment.event_id)
            .where(Enrollment.parent_id == parent.id)
            .order_by(Event.starts_at.desc())
        ).all()
    )


def messages_to(session: Session, parent: Parent) -> list[OutboxMessage]:
    user = line_user(session, parent)
    return list(
        session.scalars(
            select(OutboxMessage).where(OutboxMessage.line_user_id == user.line_user_id).order_by(OutboxMessage.id)
        )
    )


def raised(session: Session, parent: Parent) -> list[Raised]:
    """Every lost-credential report and loan request of the parent, newest first, with its thread."""
    return staff_parents_reports.raised(session, parent.id)


def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def everything_held(session: Session, parent: Parent) -> dict[str, Any]:
    """Every piece of data held about the parent (for a disclosure request), as plain JSON-ready values."""
    user = line_user(session, parent)
    return {
        "exported_at": _iso(now()),
        "parent": {
            "id": parent.id,
            "name": parent.name,
            "furigana": parent.furigana,
            "phone": parent.phone,
            "is_guardian": parent.is_guardian,
            "is_pregnant": parent.is_pregnant,
            "due_month": _iso(parent.due_month),
            "centre": parent.centre,
            "registered_at": _iso(parent.registered_at),
            "updated_at": _iso(parent.updated_at),
        },
        "children": [{"birth_month": _iso(c.birth_month)} for c in parent.children],
        "line_account": {
            "line_user_id": user.line_user_id,
            "language": user.language,
            "status": user.status,
            "followed_at": _iso(user.followed_at),
            "unfollowed_at": _iso(user.unfollowed_at),
        },
        "consents": [
            {
                "answer": c.answer,
                "channel": c.channel,
                "answered_at": _iso(c.answered_at),
                "policy_version": v.content_hash[:12],
                "policy_published_at": _iso(v.published_at),
            }
            for c, v in consents(session, parent)
        ],
        "applications": [
            {
                "event_id": e.id,
                "event_title": e.title,
                "event_starts_at": _iso(e.starts_at),
                "status": en.status,
                "applied_at": _iso(en.applied_at),
                "decided_at": _iso(en.decided_at),
                "withdrawn_at": _iso(en.withdrawn_at),
            }
            for en, e in enrollments(session, parent)
        ],
        "announcement_optins": [
            {"centre": o.centre, "since": _iso(o.created_at)}
            for o in session.scalars(select(AnnouncementOptIn).where(AnnouncementOptIn.parent_id == parent.id))
        ],
        "notice_optouts": [
            {"since": _iso(o.created_at)}
            for o in session.scalars(select(BroadcastOptOut).where(BroadcastOptOut.parent_id == parent.id))
        ],
        "feedback": [
            {"event_id": f.event_id, "score": f.score, "comment": f.comment, "answered_at": _iso(f.answered_at)}
            for f in session.scalars(select(Feedback).where(Feedback.parent_id == parent.id).order_by(Feedback.id))
        ],
        "reports": staff_parents_reports.exported(session, parent.id),
        "sanctions": [
            {
                "event_id": s.event_id,
                "until": _iso(s.until),
                "policy_items": list(s.policy_items),
                "note": s.note,
                "created_at": _iso(s.created_at),
                "lifted_at": _iso(s.lifted_at),
            }
            for s in sanctions.history(session, parent.id)
        ],
        "messages": [
            {
                "purpose": m.purpose,
                "status": m.status,
                "created_at": _iso(m.created_at),
                "sent_at": _iso(m.sent_at),
                "messages": m.messages,
            }
            for m in messages_to(session, parent)
        ],
    }


def correct(session: Session, parent: Parent, values: dict[str, Any]) -> list[str]:
    """Apply corrected values (already validated); returns the names of the fields that changed."""
    changed = [f for f in CORRECTABLE if f in values and getattr(parent, f) != values[f]]
    for field in changed:
        setattr(parent, field, values[field])
    if changed:
        parent.updated_at = now()
    return changed


def suspend(session: Session, parent: Parent, current_policy: PolicyVersion) -> int:
    """Stop using the parent's data (利用停止): their consent is recorded as withdrawn, so the bot asks again before
    doing anything for them, and messages not yet sent are dropped. Returns how many messages were dropped."""
    people.record_consent(session, parent.line_user_pk, current_policy, "withdrawn", channel="staff")
    planned = session.scalars(
        select(OutboxMessage.id).where(
            OutboxMessage.line_user_id == line_user(session, parent).line_user_id, OutboxMessage.status == "planned"
        )
    )
    return outbox.expire(session, list(planned), "use suspended by staff")


def is_suspended(session: Session, parent: Parent) -> bool:
    latest = people.latest_consent(session, parent.line_user_pk)
    return latest is not None and latest.answer == "withdrawn" and latest.channel == "staff"


def erase(session: Session, parent: Parent) -> None:
    """Remove what identifies the parent; keep the anonymous facts that statistics count."""
    user = line_user(session, parent)
    line_id = user.line_user_id
    moment = now()
    parent.name, parent.furigana, parent.phone = "", "", ""
    parent.updated_at = moment
    user.line_user_id = "erased:" + secrets.token_hex(16)
    user.status, user.unfollowed_at = ERASED_STATUS, user.unfollowed_at or moment
    session.execute(delete(ConversationState).where(ConversationState.line_user_pk == user.id))
    inbox.forget_source(session, line_id)
    session.execute(delete(OutboxMessage).where(OutboxMessage.line_user_id == line_id))
    # Multicast rows have no single recipient; ``recipients`` of the others is JSON null, not SQL NULL.
    for row in session.scalars(select(OutboxMessage).where(OutboxMessage.line_user_id.is_(None))):
        if row.recipients and line_id in row.recipients:
            row.recipients = [r for r in row.recipients if r != line_id]
    session.execute(delete(AnnouncementOptIn).where(AnnouncementOptIn.parent_id == parent.id))
    enrollment_ids = select(Enrollment.id).where(Enrollment.parent_id == parent.id)
    link_ids = select(JoinLink.id).where(JoinLink.enrollment_id.in_(enrollment_ids))
    session.execute(delete(JoinLinkOpening).where(JoinLinkOpening.join_link_id.in_(link_ids)))
    session.execute(
        update(JoinLink)
        .where(JoinLink.enrollment_id.in_(enrollment_ids), JoinLink.revoked_at.is_(None))
        .values(revoked_at=moment, revoke_reason="erased")
    )
    # No link of theirs can be sent or rendered again: only the hash stays, which finds nothing but a dead page.
    session.execute(update(JoinLink).where(JoinLink.enrollment_id.in_(enrollment_ids)).values(token_sealed=None))
    session.execute(
        update(Enrollment)
        .where(Enrollment.parent_id == parent.id)
        .values(calendar_token_hash=None, calendar_token_sealed=None)
    )
    for sanction in sanctions.history(session, parent.id):
        sanction.note = ""
    session.execute(update(Feedback).where(Feedback.parent_id == parent.id).values(comment=None))
    staff_parents_reports.erase(session, parent.id)
