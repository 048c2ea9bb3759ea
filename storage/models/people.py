"""Registered parents, their children, the policy versions and the consents given to them."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage.clock import now
from storage.models.base import Base
from storage.types import UTCDateTime


class Parent(Base):
    """A registered guardian (保護者) and/or pregnant person (妊娠中の方). Every field here is personal data."""

    __tablename__ = "parents"

    id: Mapped[int] = mapped_column(primary_key=True)
    line_user_pk: Mapped[int] = mapped_column(ForeignKey("line_users.id", ondelete="CASCADE"), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    furigana: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str] = mapped_column(String(20))
    is_guardian: Mapped[bool] = mapped_column(default=False)
    is_pregnant: Mapped[bool] = mapped_column(default=False)
    due_month: Mapped[date | None] = mapped_column(Date)  # first day of the month
    centre: Mapped[str] = mapped_column(String(20))  # "division" | "minamihoncho" | "takanedai"
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)

    children: Mapped[list[Child]] = relationship(
        back_populates="parent", cascade="all, delete-orphan", order_by="Child.birth_month"
    )


class Child(Base):
    __tablename__ = "children"

    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int] = mapped_column(ForeignKey("parents.id", ondelete="CASCADE"), index=True)
    birth_month: Mapped[date] = mapped_column(Date)  # first day of the month

    parent: Mapped[Parent] = relationship(back_populates="children")


class PolicyVersion(Base):
    """One published text of the web-conference policy; consent is recorded against its content hash."""

    __tablename__ = "policy_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    content_hash: Mapped[str] = mapped_column(String(64), unique=True)
    text: Mapped[str] = mapped_column(Text)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class ConsentRecord(Base):
    """An answer (同意する / 同意しない / withdrawal) to one policy version. Rows are only ever added."""

    __tablename__ = "consent_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    line_user_pk: Mapped[int] = mapped_column(ForeignKey("line_users.id", ondelete="CASCADE"), index=True)
    policy_version_id: Mapped[int] = mapped_column(ForeignKey("policy_versions.id"))
    answer: Mapped[str] = mapped_column(String(16))  # "agreed" | "declined" | "withdrawn"
    channel: Mapped[str] = mapped_column(String(16), default="line")
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
