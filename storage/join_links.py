"""Personal join links (``/j/<token>``) and calendar addresses (``/c/<token>.ics``): issuing, revoking, finding
them by token, and the record of openings that shows staff a link used from many devices (policy 5).

Only a hash of each token finds it; the token itself is kept sealed so the bot can send the same link again.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage import crypto
from storage.clock import now
from storage.models import Enrollment, JoinLink, JoinLinkOpening

# A link whose join details were shown on this many different devices is worth a look by staff.
MANY_DEVICES = 3


@dataclass(frozen=True)
class LinkUse:
    enrollment_id: int
    parent_id: int
    openings: int
    devices: int  # distinct devices that opened the page
    devices_shown: int  # distinct devices that were shown the join details
    last_opened_at: datetime | None

    @property
    def many_devices(self) -> bool:
        return self.devices_shown >= MANY_DEVICES


def issue(session: Session, enrollment: Enrollment) -> JoinLink:
    """A new live link for a confirmed enrollment (any earlier live link is revoked as replaced)."""
    revoke(session, enrollment.id, "replaced")
    token = crypto.new_token()
    link = JoinLink(enrollment_id=enrollment.id, token_hash=crypto.token_hash(token), token_sealed=crypto.seal(token),
                    created_at=now())
    session.add(link)
    session.flush()
    return link


def live(session: Session, enrollment_id: int) -> JoinLink | None:
    return session.scalars(
        select(JoinLink).where(JoinLink.enrollment_id == enrollment_id, JoinLink.revoked_at.is_(None))
        .order_by(JoinLink.id.desc())
    ).first()


def live_for(session: Session, enrollment_ids: list[int]) -> dict[int, JoinLink]:
    """The live link of each of these enrollments (those that have one), in one query: ``live`` for many."""
    found: dict[int, JoinLink] = {}
    if enrollment_ids:
        for link in session.scalars(select(JoinLink).where(JoinLink.enrollment_id.in_(enrollment_ids),
                                                           JoinLink.revoked_at.is_(None)).order_by(JoinLink.id)):
            found[link.enrollment_id] = link  # the newest live one wins, as in ``live``
    return found


def token_of(link: JoinLink) -> str:
    return crypto.unseal(link.token_sealed)


def revoke(session: Session, enrollment_id: int, reason: str) -> int:
    """Revoke the enrollment's live link(s). Returns how many were live."""
    links = list(session.scalars(
        select(JoinLink).where(JoinLink.enrollment_id == enrollment_id, JoinLink.revoked_at.is_(None))))
    for link in links:
        link.revoked_at, link.revoke_reason = now(), reason[:40]
    return len(links)


def reissue(session: Session, enrollment_id: int, reason: str) -> JoinLink | None:
    """Revoke and replace the link of a confirmed enrollment (lost or leaked link). None if not confirmed."""
    enrollment = session.get(Enrollment, enrollment_id)
    if enrollment is None or enrollment.status != "confirmed":
        return None
    revoke(session, enrollment_id, reason)
    return issue(session, enrollment)


def resolve(session: Session, token: str) -> JoinLink | None:
    """The link with this token, live or revoked; None if there is none."""
    return session.scalars(select(JoinLink).where(JoinLink.token_hash == crypto.token_hash(token))).first()


def record_opening(session: Session, link: JoinLink, *, fingerprint: str, outcome: str, details_shown: bool) -> None:
    session.add(JoinLinkOpening(join_link_id=link.id, opened_at=now(), fingerprint=fingerprint, outcome=outcome,
                                details_shown=details_shown))


def usage(session: Session, event_id: int) -> list[LinkUse]:
    """How each participant's links of this event were opened (every link they had, live or revoked)."""
    rows = session.execute(
        select(Enrollment.id, Enrollment.parent_id, func.count(JoinLinkOpening.id),
               func.count(func.distinct(JoinLinkOpening.fingerprint)), func.max(JoinLinkOpening.opened_at))
        .join(JoinLink, JoinLink.enrollment_id == Enrollment.id)
        .join(JoinLinkOpening, JoinLinkOpening.join_link_id == JoinLink.id)
        .where(Enrollment.event_id == event_id)
        .group_by(Enrollment.id, Enrollment.parent_id)
        .order_by(Enrollment.id)
    ).all()
    shown = dict(session.execute(
        select(Enrollment.id, func.count(func.distinct(JoinLinkOpening.fingerprint)))
        .join(JoinLink, JoinLink.enrollment_id == Enrollment.id)
        .join(JoinLinkOpening, JoinLinkOpening.join_link_id == JoinLink.id)
        .where(Enrollment.event_id == event_id, JoinLinkOpening.details_shown.is_(True))
        .group_by(Enrollment.id)
    ).all())
    return [LinkUse(eid, pid, openings, devices, shown.get(eid, 0), last) for eid, pid, openings, devices, last in rows]


# --- calendar addresses ------------------------------------------------------------------------------------
def calendar_token(enrollment: Enrollment) -> str:
    """The enrollment's calendar token, made on first use."""
    if enrollment.calendar_token_sealed:
        return crypto.unseal(enrollment.calendar_token_sealed)
    token = crypto.new_token()
    enrollment.calendar_token_hash, enrollment.calendar_token_sealed = crypto.token_hash(token), crypto.seal(token)
    return token


def by_calendar_token(session: Session, token: str) -> Enrollment | None:
    return session.scalars(select(Enrollment).where(Enrollment.calendar_token_hash == crypto.token_hash(token))).first()
