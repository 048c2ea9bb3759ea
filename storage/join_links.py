"""Personal join links (``/j/<token>``) and calendar addresses (``/c/<token>.ics``): issuing, revoking, finding
them by token, and the record of openings that shows staff a link used from many devices (policy 5).

Only a hash of each token finds it; the token itself is kept sealed so the bot can send the same link again.
A planned message never holds a token: it names the link by reference (``join_url``, ``calendar_url``: e.g.
``https://…/j/{join_link:12}``) and the sender fills the tokens in just before the message goes (``fill``), so the
outbox, which keeps messages for days before and after, has nothing a reader of the database could use.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, select
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
    link = JoinLink(
        enrollment_id=enrollment.id,
        token_hash=crypto.token_hash(token),
        token_sealed=crypto.seal(token),
        created_at=now(),
    )
    session.add(link)
    session.flush()
    return link


def live(session: Session, enrollment_id: int) -> JoinLink | None:
    return session.scalars(
        select(JoinLink)
        .where(JoinLink.enrollment_id == enrollment_id, JoinLink.revoked_at.is_(None))
        .order_by(JoinLink.id.desc())
    ).first()


def live_for(session: Session, enrollment_ids: list[int]) -> dict[int, JoinLink]:
    """The live link of each of these enrollments (those that have one), in one query: ``live`` for many."""
    found: dict[int, JoinLink] = {}
    if enrollment_ids:
        for link in session.scalars(
            select(JoinLink)
            .where(JoinLink.enrollment_id.in_(enrollment_ids), JoinLink.revoked_at.is_(None))
            .order_by(JoinLink.id)
        ):
            found[link.enrollment_id] = link  # the newest live one wins, as in ``live``
    return found


def token_of(link: JoinLink) -> str:
    if link.token_sealed is None:
        raise ValueError(f"join link {link.id} holds no token")
    return crypto.unseal(link.token_sealed)


# --- references in planned messages ---------------------------------------------------------------------------
# Braces cannot occur in a token (URL-safe base64) nor in a URL we write, so a reference is never mistaken for one.
REFERENCE = re.compile(r"\{(join_link|calendar):(\d+)\}")


def join_url(base_url: str, link_id: int) -> str:
    """The address of a join page as a planned message holds it: the link's id, not its token."""
    return f"{base_url}/j/{{join_link:{link_id}}}"


def calendar_url(base_url: str, enrollment: Enrollment) -> str:
    """The address of the enrollment's .ics as a planned message holds it (the calendar token is made if needed)."""
    calendar_token(enrollment)
    return f"{base_url}/c/{{calendar:{enrollment.id}}}.ics"


def fill(session: Session, bodies: dict[int, list[Any]]) -> dict[int, list[Any] | None]:
    """The messages of each outbox row with the tokens of its references filled in, for sending now; None for a row
    naming a link that no longer exists or whose token was erased (it must not go)."""
    texts = {row_id: json.dumps(body, ensure_ascii=False) for row_id, body in bodies.items()}
    wanted: dict[str, set[int]] = {"join_link": set(), "calendar": set()}
    for text in texts.values():
        for kind, number in REFERENCE.findall(text):
            wanted[kind].add(int(number))
    if not wanted["join_link"] and not wanted["calendar"]:
        return dict(bodies)
    sealed: dict[tuple[str, int], str | None] = {}
    for kind, column, key in (
        ("join_link", JoinLink.token_sealed, JoinLink.id),
        ("calendar", Enrollment.calendar_token_sealed, Enrollment.id),
    ):
        ids = sorted(wanted[kind])
        for start in range(0, len(ids), CHUNK):
            sealed.update(
                ((kind, i), value)
                for i, value in session.execute(select(key, column).where(key.in_(ids[start : start + CHUNK])))
            )
    tokens = {ref: crypto.unseal(value) for ref, value in sealed.items() if value}
    filled: dict[int, list[Any] | None] = {}
    for row_id, text in texts.items():
        refs = {(kind, int(number)) for kind, number in REFERENCE.findall(text)}
        if not refs:
            filled[row_id] = bodies[row_id]
        elif refs - tokens.keys():
            filled[row_id] = None
        else:
            filled[row_id] = json.loads(REFERENCE.sub(lambda m: tokens[(m[1], int(m[2]))], text))
    return filled


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
        enrollment_ids.update(
            session.scalars(
                select(JoinLink.enrollment_id).where(JoinLink.token_hash.in_(hashes[start : start + CHUNK]))
            )
        )
    ids = sorted(enrollment_ids)
    for start in range(0, len(ids), CHUNK):  # in id order: two senders never wait for each other in a circle
        session.execute(
            select(Enrollment.id)
            .where(Enrollment.id.in_(ids[start : start + CHUNK]))
            .order_by(Enrollment.id)
            .with_for_update(read=True)
        )
    found: dict[str, Row[str, datetime | None, str | None, str]] = {}
    for start in range(0, len(hashes), CHUNK):
        found.update(
            (row.token_hash, row)
            for row in session.execute(
                select(JoinLink.token_hash, JoinLink.revoked_at, JoinLink.revoke_reason, Enrollment.status)
                .join(Enrollment, Enrollment.id == JoinLink.enrollment_id)
                .where(JoinLink.token_hash.in_(hashes[start : start + CHUNK]))
            )
        )
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
    links = list(
        session.scalars(select(JoinLink).where(JoinLink.enrollment_id == enrollment_id, JoinLink.revoked_at.is_(None)))
    )
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
    session.add(
        JoinLinkOpening(
            join_link_id=link.id, opened_at=now(), fingerprint=fingerprint, outcome=outcome, details_shown=details_shown
        )
    )


def usage(session: Session, event_id: int) -> list[LinkUse]:
    """How each participant's links of this event were opened (every link they had, live or revoked)."""
    rows = session.execute(
        select(
            Enrollment.id,
            Enrollment.parent_id,
            func.count(JoinLinkOpening.id),
            func.count(func.distinct(JoinLinkOpening.fingerprint)),
            func.max(JoinLinkOpening.opened_at),
        )
        .join(JoinLink, JoinLink.enrollment_id == Enrollment.id)
        .join(JoinLinkOpening, JoinLinkOpening.join_link_id == JoinLink.id)
        .where(Enrollment.event_id == event_id)
        .group_by(Enrollment.id, Enrollment.parent_id)
        .order_by(Enrollment.id)
    ).all()
    shown = dict(
        session.execute(
            select(Enrollment.id, func.count(func.distinct(JoinLinkOpening.fingerprint)))
            .join(JoinLink, JoinLink.enrollment_id == Enrollment.id)
            .join(JoinLinkOpening, JoinLinkOpening.join_link_id == JoinLink.id)
            .where(Enrollment.event_id == event_id, JoinLinkOpening.details_shown.is_(True))
            .group_by(Enrollment.id)
        ).all()
    )
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
