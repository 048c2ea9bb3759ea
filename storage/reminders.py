"""Who gets reminders and thank-yous: participants with everything a reminder needs, in a few queries for a whole
batch (the planner looks at every upcoming participant each minute; a send-time check may look at thousands).

Whether a participant is in good standing is ``storage.enrollments.refusal``'s rule — published event, confirmed,
consenting to the current policy, not barred — computed here for many enrollments at once;
tests/test_reminders_storage.py holds the two to the same answers. Added here: the LINE user must still follow the
bot, and the enrollment must have a live join link.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, exists, or_, select
from sqlalchemy.orm import Session, aliased

from storage import people
from storage.clock import today_tokyo
from storage.models import ConsentRecord, Enrollment, Event, JoinLink, JoinLinkOpening, LineUser, Parent, Sanction

CHUNK = 500


@dataclass(frozen=True)
class Participant:
    enrollment_id: int
    event_id: int
    line_user_id: str
    lang: str
    title: str
    starts_at: datetime
    ends_at: datetime
    opens_minutes: int
    link_id: int | None
    # Why no reminder may go to them now ("cancelled", "not_confirmed", "no_consent", "barred", "blocked",
    # "no_link", …), or None.
    refusal: str | None


def upcoming(session: Session, after: datetime, until: datetime) -> list[Participant]:
    """Confirmed participants of published events starting in (after, until], with their standing."""
    return _participants(
        session,
        [
            Event.status == "published",
            Event.starts_at > after,
            Event.starts_at <= until,
            Enrollment.status == "confirmed",
        ],
    )


def by_enrollment(session: Session, enrollment_ids: Iterable[int]) -> dict[int, Participant]:
    """These enrollments, whatever their state (the refusal says what is wrong)."""
    wanted = sorted(set(enrollment_ids))
    found: dict[int, Participant] = {}
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start : start + CHUNK]
        found.update((p.enrollment_id, p) for p in _participants(session, [Enrollment.id.in_(chunk)]))
    return found


def attended(session: Session, ended_after: datetime, ended_until: datetime) -> list[Participant]:
    """Participants in good standing of events (not cancelled) that ended in (ended_after, ended_until] and whose
    join page showed them how to join: the people to thank."""
    shown = exists().where(
        JoinLink.enrollment_id == Enrollment.id,
        JoinLinkOpening.join_link_id == JoinLink.id,
        JoinLinkOpening.details_shown.is_(True),
    )
    found = _participants(
        session,
        [
            Event.status.in_(("published", "finished")),
            Event.ends_at > ended_after,
            Event.ends_at <= ended_until,
            Enrollment.status == "confirmed",
            shown,
        ],
        require_link=False,
    )
    return [p for p in found if p.refusal in (None, "finished")]


def _participants(session: Session, where: list[ColumnElement[bool]], require_link: bool = True) -> list[Participant]:
    rows = session.execute(
        select(
            Enrollment.id,
            Enrollment.status,
            Enrollment.parent_id,
            Event.id,
            Event.status,
            Event.title,
            Event.starts_at,
            Event.ends_at,
            Event.join_opens_minutes,
            Parent.line_user_pk,
            LineUser.line_user_id,
            LineUser.language,
            LineUser.status,
        )
        .join(Event, Event.id == Enrollment.event_id)
        .join(Parent, Parent.id == Enrollment.parent_id)
        .join(LineUser, LineUser.id == Parent.line_user_pk)
        .where(*where)
        .order_by(Event.starts_at, Enrollment.id)
    ).all()
    if not rows:
        return []
    consenting = _consenting(session, {r[9] for r in rows})
    bars = _bars(session, {r[2] for r in rows})
    links = _live_links(session, [r[0] for r in rows]) if require_link else {}
    out = []
    for (
        enrollment_id,
        enrollment_status,
        parent_id,
        event_id,
        event_status,
        title,
        starts_at,
        ends_at,
        opens_minutes,
        user_pk,
        line_user_id,
        lang,
        user_status,
    ) in rows:
        link_id = links.get(enrollment_id)
        refusal = None
        if event_status != "published":
            refusal = event_status if event_status in ("cancelled", "finished") else "not_published"
        elif enrollment_status != "confirmed":
            refusal = "not_confirmed"
        elif user_pk not in consenting:
            refusal = "no_consent"
        elif None in bars.get(parent_id, ()) or event_id in bars.get(parent_id, ()):
            refusal = "barred"
        elif user_status == "blocked":
            refusal = "blocked"
        elif require_link and link_id is None:
            refusal = "no_link"
        out.append(
            Participant(
                enrollment_id, event_id, line_user_id, lang, title, starts_at, ends_at, opens_minutes, link_id, refusal
            )
        )
    return out


def _consenting(session: Session, user_pks: set[int]) -> set[int]:
    """Users whose latest answer is "agreed" to the policy version in force (``people.has_current_consent``)."""
    policy = people.current_policy(session)
    if policy is None:
        return set()
    found: set[int] = set()
    pks = sorted(user_pks)
    later = aliased(ConsentRecord)
    for start in range(0, len(pks), CHUNK):
        found.update(
            session.scalars(
                select(ConsentRecord.line_user_pk).where(
                    ConsentRecord.line_user_pk.in_(pks[start : start + CHUNK]),
                    ConsentRecord.answer == "agreed",
                    ConsentRecord.policy_version_id == policy.id,
                    ~exists().where(later.line_user_pk == ConsentRecord.line_user_pk, later.id > ConsentRecord.id),
                )
            )
        )
    return found


def _bars(session: Session, parent_ids: set[int]) -> dict[int, set[int | None]]:
    """Per parent, the events they are barred from today (None: every event), as ``storage.sanctions.active``."""
    day = today_tokyo()
    out: dict[int, set[int | None]] = {}
    ids = sorted(parent_ids)
    for start in range(0, len(ids), CHUNK):
        for parent_id, event_id in session.execute(
            select(Sanction.parent_id, Sanction.event_id).where(
                Sanction.parent_id.in_(ids[start : start + CHUNK]),
                Sanction.lifted_at.is_(None),
                or_(Sanction.until.is_(None), Sanction.until >= day),
            )
        ):
            out.setdefault(parent_id, set()).add(event_id)
    return out


def _live_links(session: Session, enrollment_ids: list[int]) -> dict[int, int]:
    """{enrollment id: link id} of the live links (the newest, as ``join_links.live``). A reminder names its link by
    id; the sender fills the token in (``storage.join_links.fill``)."""
    found: dict[int, int] = {}
    for start in range(0, len(enrollment_ids), CHUNK):
        for enrollment_id, link_id in session.execute(
            select(JoinLink.enrollment_id, JoinLink.id)
            .where(JoinLink.enrollment_id.in_(enrollment_ids[start : start + CHUNK]), JoinLink.revoked_at.is_(None))
            .order_by(JoinLink.id)
        ):
            found[enrollment_id] = link_id
    return found
