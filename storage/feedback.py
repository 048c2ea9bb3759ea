"""Feedback after an event (満足度 1–5, an optional comment): recording a participant's answer, and what staff see."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.clock import now
from storage.models import Enrollment, Feedback

SCORES = range(1, 6)
MAX_COMMENT = 1000


def _took_part(session: Session, parent_id: int, event_id: int) -> bool:
    return (
        session.scalar(
            select(Enrollment.id).where(
                Enrollment.event_id == event_id, Enrollment.parent_id == parent_id, Enrollment.status == "confirmed"
            )
        )
        is not None
    )


def record_score(session: Session, parent_id: int, event_id: int, score: int) -> Feedback | None:
    """Store (or replace) the parent's score for the event. None when they were not a participant."""
    if score not in SCORES or not _took_part(session, parent_id, event_id):
        return None
    found = session.scalars(
        select(Feedback).where(Feedback.event_id == event_id, Feedback.parent_id == parent_id)
    ).first()
    if found is None:
        found = Feedback(event_id=event_id, parent_id=parent_id)
        session.add(found)
    found.score, found.answered_at = score, now()
    session.flush()
    return found


def record_comment(session: Session, parent_id: int, event_id: int, comment: str) -> bool:
    """Add the parent's comment to their answer. False when there is no answer to add it to."""
    found = session.scalars(
        select(Feedback).where(Feedback.event_id == event_id, Feedback.parent_id == parent_id)
    ).first()
    if found is None:
        return False
    found.comment, found.commented_at = comment.strip()[:MAX_COMMENT] or None, now()
    return True


@dataclass(frozen=True)
class Summary:
    """An event's feedback for staff: how many answered, the mean score, how many gave each score, the comments."""

    answers: int
    mean: float | None
    by_score: dict[int, int]
    comments: list[tuple[datetime | None, str]] = field(default_factory=list)


def summary(session: Session, event_id: int) -> Summary:
    rows = list(session.scalars(select(Feedback).where(Feedback.event_id == event_id).order_by(Feedback.answered_at)))
    by_score = {score: sum(1 for r in rows if r.score == score) for score in SCORES}
    mean = round(sum(r.score for r in rows) / len(rows), 2) if rows else None
    comments = [(r.commented_at, r.comment) for r in rows if r.comment]
    return Summary(len(rows), mean, by_score, comments)
