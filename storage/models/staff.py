"""Staff of the division and the centres who use the web console, their server-side sessions, LINE-link invitations,
the half-finished sign-ins awaiting a second factor, the sign-in throttle's counters, and the attendance staff mark
after an event."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.clock import now
from storage.models.base import Base
from storage.types import UTCDateTime

# Where a staff member works. "division" is 地域子育て支援課 (the operator, policy 3); the others are the two centres.
CENTRES = ("division", "minamihoncho", "takanedai")
# "admin": division administrator (everything, every centre); "staff": centre staff (their centre); "viewer": read-only.
ROLES = ("admin", "staff", "viewer")


class StaffMember(Base):
    """A person who signs in to the staff console. Never deleted: a leaver is made inactive, which keeps the audit
    trail pointing at a real account."""

    __tablename__ = "staff_members"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    # The sign-in name (usually a work e-mail address), stored lower-case.
    login: Mapped[str] = mapped_column(String(254), unique=True)
    centre: Mapped[str] = mapped_column(String(20))
    role: Mapped[str] = mapped_column(String(10))
    active: Mapped[bool] = mapped_column(default=True)
    # argon2id (argon2-cffi's encoded form); None until a password is set.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # TOTP second factor: the secret is sealed with the data key (storage.crypto).
    totp_secret: Mapped[str | None] = mapped_column(Text)
    totp_enabled: Mapped[bool] = mapped_column(default=False)
    # The last accepted TOTP time step: a code is accepted once only.
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    # The staff member's own LINE account, once linked (the staff chat flow uses it); staff on duty get escalations.
    line_user_pk: Mapped[int | None] = mapped_column(ForeignKey("line_users.id", ondelete="SET NULL"), unique=True)
    # 当番: None follows the duty rota (storage/rota.py); True / False is the manual override (on / off).
    on_duty: Mapped[bool | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class StaffSession(Base):
    """One signed-in browser. The browser holds a random token; only its SHA-256 is stored, so a copy of the
    database cannot be used to sign in. Ending a session (log out, disabled account, idle/absolute limit) is
    setting ``ended_at``."""

    __tablename__ = "staff_sessions"
    __table_args__ = (Index("ix_staff_sessions_member_open", "staff_id", "ended_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_members.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Why it ended: "logout", "idle", "expired", "disabled", "revoked", "password".
    end_reason: Mapped[str | None] = mapped_column(String(16))


class StaffInvite(Base):
    """A one-time code a staff member sends to the bot in LINE to link their LINE account (``kosodate staff
    invite``). Only the code's SHA-256 is stored."""

    __tablename__ = "staff_invites"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_members.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LoginAttempt(Base):
    """One attempt at a LINE-link code sent to the bot (``storage.escalation``), counted to refuse guessing. The keys
    are hashes only: enough to count, nothing to read. (The console's sign-in uses ``LoginThrottle``.)"""

    __tablename__ = "staff_login_attempts"
    __table_args__ = (
        Index("ix_staff_login_attempts_account", "account_key", "at"),
        Index("ix_staff_login_attempts_address", "address_key", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    account_key: Mapped[str] = mapped_column(String(64))
    address_key: Mapped[str] = mapped_column(String(64))
    succeeded: Mapped[bool] = mapped_column(default=False)


class LoginChallenge(Base):
    """A sign-in waiting for its TOTP code: the password was right. It lives here, not in the cookie, which holds only
    a random nonce (of which only the SHA-256 is stored): a forged or copied cookie cannot skip the password, choose
    its own throttle key, or replay. Deleted when used, and after 5 minutes."""

    __tablename__ = "staff_login_challenges"

    id: Mapped[int] = mapped_column(primary_key=True)
    nonce_hash: Mapped[str] = mapped_column(String(64), unique=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_members.id", ondelete="CASCADE"), index=True)
    # The throttle's account key, computed on the server when the password was checked.
    account_key: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, index=True)
    # Wrong codes against this challenge; at ``storage.staff.CHALLENGE_TRIES`` it is deleted (password again).
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class StaffDevice(Base):
    """A browser a member has signed in from (OWASP's "device cookie"): the browser holds a random token, only its
    SHA-256 is stored. While an account is under attack from many addresses, attempts from such a browser are not
    held back by the account-wide delay (``storage.login_throttle``). Wrong passwords from it count here; at
    ``storage.staff.DEVICE_TRIES`` the row is deleted, and the cookie is worth nothing."""

    __tablename__ = "staff_devices"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_members.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    last_used_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, index=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)


class LoginThrottle(Base):
    """The sign-in throttle's counter for one (account, address) pair, or for an address whatever the account
    (``account_key == "*"``); see ``storage.login_throttle``. Keys are keyed hashes only: nothing to read."""

    __tablename__ = "staff_login_throttles"
    __table_args__ = (UniqueConstraint("account_key", "address_key", name="uq_staff_login_throttles_pair"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_key: Mapped[str] = mapped_column(String(64))
    address_key: Mapped[str] = mapped_column(String(64))
    # The account's member when the login exists (the audit summary's subject); None for an unknown login.
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_members.id", ondelete="CASCADE"), index=True)
    # Failures since the pair last succeeded or was cleared (for an address: since it was last quiet for an hour).
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # Not yet in the audit trail: failures and refused attempts since the pair's last summary row.
    unreported_failures: Mapped[int] = mapped_column(Integer, default=0)
    unreported_refusals: Mapped[int] = mapped_column(Integer, default=0)
    reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AttendanceMark(Base):
    """Whether a confirmed participant took part (出欠), marked by staff after the event."""

    __tablename__ = "attendance_marks"

    enrollment_id: Mapped[int] = mapped_column(ForeignKey("enrollments.id", ondelete="CASCADE"), primary_key=True)
    attended: Mapped[bool]
    marked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    marked_by_staff_id: Mapped[int] = mapped_column(ForeignKey("staff_members.id"))
