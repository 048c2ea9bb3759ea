"""Online events (交流会・相談・講座), applications to them (申し込み), personal join links and who opened them,
and parents' wishes to hear about new events.

The web-conference details (join URL, meeting ID, passcode) and the link tokens are stored sealed
(``storage.crypto``); link tokens are found by their hash only.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage.clock import now
from storage.models.base import Base
from storage.models.people import Parent
from storage.types import UTCDateTime

# "division" is 地域子育て支援課; the two centres are 南本町 and 高根台 子育て支援センター.
CENTRES = ("division", "minamihoncho", "takanedai")
# 交流会, 相談, 講座.
KINDS = ("meetup", "consultation", "class")
# draft (下書き) → published (公開) → finished (終了), or cancelled (中止).
EVENT_STATUSES = ("draft", "published", "cancelled", "finished")
# pending = 承認待ち (holds a seat until staff decide); waitlisted = キャンセル待ち; withdrawn = cancelled by the parent.
ENROLLMENT_STATUSES = ("pending", "confirmed", "waitlisted", "declined", "withdrawn")
# Statuses that take up a seat.
SEATED = ("pending", "confirmed")


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (Index("ix_events_status_start", "status", "starts_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    centre: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    # Who it is for: children aged min..max months (inclusive, at the start), and/or pregnant people.
    # No age range and not for pregnant people means everyone may apply.
    target_min_months: Mapped[int | None] = mapped_column(Integer)
    target_max_months: Mapped[int | None] = mapped_column(Integer)
    target_pregnant: Mapped[bool] = mapped_column(default=False)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    capacity: Mapped[int] = mapped_column(Integer)
    applications_open_at: Mapped[datetime] = mapped_column(UTCDateTime)
    applications_close_at: Mapped[datetime] = mapped_column(UTCDateTime)
    needs_approval: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    conference_service: Mapped[str] = mapped_column(String(40), default="")
    join_url_sealed: Mapped[str] = mapped_column(Text)
    meeting_id_sealed: Mapped[str] = mapped_column(Text)
    passcode_sealed: Mapped[str] = mapped_column(Text)
    # How long before the start the join page shows how to join.
    join_opens_minutes: Mapped[int] = mapped_column(Integer, default=15)
    # Goes up with every change parents are told about (new time, cancellation): notices are deduplicated on it.
    version: Mapped[int] = mapped_column(Integer, default=1)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    announced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class Enrollment(Base):
    """One parent's application to one event (one row per pair, reused if they apply again after cancelling)."""

    __tablename__ = "enrollments"
    __table_args__ = (
        UniqueConstraint("event_id", "parent_id"),
        Index("ix_enrollments_event_status", "event_id", "status", "queued_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    parent_id: Mapped[int] = mapped_column(ForeignKey("parents.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    # The place in line: the waitlist is served in this order.
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    applied_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(100))
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The unguessable address of this application's .ics file (bot/calendar.py).
    calendar_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    calendar_token_sealed: Mapped[str | None] = mapped_column(Text)

    event: Mapped[Event] = relationship()
    parent: Mapped[Parent] = relationship()


class JoinLink(Base):
    """A participant's personal join page ``/j/<token>``. At most one is live per enrollment (``revoked_at`` null)."""

    __tablename__ = "join_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    enrollment_id: Mapped[int] = mapped_column(ForeignKey("enrollments.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # None once the parent is erased: the link can then never be sent or rendered again.
    token_sealed: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoke_reason: Mapped[str | None] = mapped_column(String(40))

    enrollment: Mapped[Enrollment] = relationship()


class JoinLinkOpening(Base):
    """One opening of a join page: when, from which device (a keyed hash), and what the page showed."""

    __tablename__ = "join_link_openings"

    id: Mapped[int] = mapped_column(primary_key=True)
    join_link_id: Mapped[int] = mapped_column(ForeignKey("join_links.id", ondelete="CASCADE"), index=True)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    fingerprint: Mapped[str] = mapped_column(String(64))
    # The page's state ("open", "too_early", "barred", ...), and whether the join details were on it.
    outcome: Mapped[str] = mapped_column(String(20))
    details_shown: Mapped[bool] = mapped_column(default=False)


class AnnouncementOptIn(Base):
    """A parent wants to hear about new events of this centre (お知らせを受け取る)."""

    __tablename__ = "announcement_optins"
    __table_args__ = (UniqueConstraint("parent_id", "centre"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int] = mapped_column(ForeignKey("parents.id", ondelete="CASCADE"))
    centre: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
