"""Personal join links (``/j/<token>``) and calendar addresses (``/c/<token>.ics``): issuing, revoking, finding
them by token, and the record of openings that shows staff a link used from many devices (policy 5).

Only a hash of each token finds it; the token itself is kept sealed so the bot can send the same link again.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage import crypto
from storage.clock import now
from storage.models import Enrollment, JoinLink, JoinLinkOpening

CHUNK = 500  # ids per IN (...) list
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


def lock_enrollment(session: Session, enrollment_id: int) -> None:
    """Take the application's row lock before changing whether its link may be sent (PostgreSQL; a no-op on SQLite).

    A sender holds these rows ``FOR SHARE`` while it sends join links (``hold_for_sending``): a withdrawal or a
    revocation waits here until that send is over, and only then reads the clock, so the recorded moment is always
    after any link that went out while the parent was still a participant.
    """
    session.execute(select(Enrollment.id).where(Enrollment.id == enrollment_id).with_for_update())


def hold_for_sending(session: Session, tokens: Iterable[str]) -> dict[str, str]:
    """Lock, until ``session`` ends, the applications behind these join tokens (``FOR SHARE`` on PostgreSQL), then
    say which tokens must no longer be sent, and why: {token: reason}. The others may go while the lock is held.

    In PostgreSQL's READ COMMITTED each statement sees what was committed when it started, so the state read after
    the lock is the state no withdrawal can change until the session ends. (SQLite has no row locks: there the
    answer is only as fresh as the moment of the check, just before sending.)
    """
    by_hash = {crypto.token_hash(token): token for token in tokens}
    hashes = sorted(by_hash)
    enrollment_ids: set[int] = set()
    for start in range(0, len(hashes), CHUNK):
        enrollment_ids.update(session.scalars(
            select(JoinLink.enrollment_id).where(JoinLink.token_hash.in_(hashes[start:start + CHUNK]))))
    ids = sorted(enrollment_ids)
    for start in range(0, len(ids), CHUNK):  # in id order: two senders never wait for each other in a circle
        session.execute(select(Enrollment.id).where(Enrollment.id.in_(ids[start:start + CHUNK]))
                        .order_by(Enrollment.id).with_for_update(read=True))
    found = {}
    for start in range(0, len(hashes), CHUNK):
        found.update((row.token_hash, row) for row in session.execute(
            select(JoinLink.token_hash, JoinLink.revoked_at, JoinLink.revoke_reason, Enrollment.status)
            .join(Enrollment, Enrollment.id == JoinLink.enrollment_id)
            .where(JoinLink.token_hash.in_(hashes[start:start + CHUNK]))))
    refused = {}
    for token_hash, token in by_hash.items():
        row = found.get(token_hash)
        if row is None:
            refused[token] = "the join link no longer exists"
        elif row.revoked_at is not None:
            refused[token] = f"the join link was revoked ({row.revoke_reason})"
        elif row.status != "confirmed":
            refused[token] = f"the application is {row.status}"
    return refused


def revoke(session: Session, enrollment_id: int, reason: str) -> int:
    """Revoke the enrollment's live link(s). Returns how many were live."""
    lock_enrollment(session, enrollment_id)
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
