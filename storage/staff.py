"""Staff accounts: passwords (argon2id), server-side sessions with idle and absolute limits, login throttling,
the optional TOTP second factor, and one-time invitations for linking a staff member's LINE account.

Refusals are values (``None``, ``False``, a reason string); nothing here commits.
"""
from __future__ import annotations

import hashlib
import secrets
import unicodedata
from datetime import timedelta

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from storage import crypto
from storage.clock import now
from storage.models import LoginAttempt, StaffInvite, StaffMember, StaffSession
from storage.models.staff import CENTRES, ROLES

# argon2-cffi's defaults are argon2id with RFC 9106's low-memory profile.
HASHER = PasswordHasher()
PASSWORD_MIN, PASSWORD_MAX = 12, 128

IDLE_LIMIT = timedelta(minutes=30)
ABSOLUTE_LIMIT = timedelta(hours=8)
# Sessions are touched at most this often, so reading pages does not write on every request.
TOUCH_EVERY = timedelta(seconds=30)

ACCOUNT_FAILURES_PER_HOUR = 100
ADDRESS_FAILURES_LIMIT = 30
ADDRESS_WINDOW = timedelta(minutes=15)
ATTEMPTS_KEPT = timedelta(days=2)

INVITE_LIFETIME = timedelta(hours=24)
TOTP_ISSUER = "船橋市子育て支援 スタッフ"


def digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def normalize_login(login: str) -> str:
    return unicodedata.normalize("NFKC", login).strip().lower()


# --- accounts ------------------------------------------------------------------------------------------------------

def password_problem(password: str) -> str | None:
    """Why this password cannot be used, or None. (Length is what matters; no composition rules.)"""
    if len(password) < PASSWORD_MIN:
        return f"パスワードは{PASSWORD_MIN}文字以上にしてください。"
    if len(password) > PASSWORD_MAX:
        return f"パスワードは{PASSWORD_MAX}文字以内にしてください。"
    if len(set(password)) < 4:
        return "同じ文字の繰り返しは使えません。"
    return None


def create_member(session: Session, *, name: str, login: str, centre: str, role: str,
                  password: str | None = None) -> StaffMember:
    if centre not in CENTRES or role not in ROLES:
        raise ValueError("unknown centre or role")
    member = StaffMember(name=name.strip(), login=normalize_login(login), centre=centre, role=role, active=True,
                         totp_enabled=False, on_duty=False, created_at=now(), updated_at=now())
    if password is not None:
        set_password(member, password)
    session.add(member)
    session.flush()
    return member


def by_login(session: Session, login: str) -> StaffMember | None:
    return session.scalars(select(StaffMember).where(StaffMember.login == normalize_login(login))).first()


def login_taken(session: Session, login: str, *, other_than: int | None = None) -> bool:
    found = by_login(session, login)
    return found is not None and found.id != other_than


def members(session: Session) -> list[StaffMember]:
    return list(session.scalars(select(StaffMember).order_by(StaffMember.active.desc(), StaffMember.centre,
                                                             StaffMember.name)))


def administrators(session: Session) -> list[StaffMember]:
    return list(session.scalars(select(StaffMember).where(StaffMember.role == "admin", StaffMember.active)))


def on_duty(session: Session, centre: str | None = None) -> list[StaffMember]:
    """Active staff on duty (for escalations), optionally of one centre; the division's staff always count."""
    query = select(StaffMember).where(StaffMember.active, StaffMember.on_duty)
    if centre is not None:
        query = query.where(StaffMember.centre.in_((centre, "division")))
    return list(session.scalars(query.order_by(StaffMember.id)))


def set_password(member: StaffMember, password: str) -> None:
    problem = password_problem(password)
    if problem:
        raise ValueError(problem)
    member.password_hash = HASHER.hash(password)
    member.password_changed_at = member.updated_at = now()


_DUMMY_HASH: list[str] = []


def check_password(member: StaffMember | None, password: str) -> bool:
    """True when ``password`` is this member's. Costs one argon2 verification even for an unknown login, so the
    answer time does not tell which logins exist. Upgrades the hash when the parameters have changed."""
    if len(password) > PASSWORD_MAX:
        return False
    if member is None or member.password_hash is None:
        if not _DUMMY_HASH:
            _DUMMY_HASH.append(HASHER.hash(secrets.token_urlsafe(16)))
        try:
            HASHER.verify(_DUMMY_HASH[0], password)
        except VerificationError:
            pass
        return False
    try:
        HASHER.verify(member.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
    if HASHER.check_needs_rehash(member.password_hash):
        member.password_hash = HASHER.hash(password)
    return True


def set_active(session: Session, member: StaffMember, active: bool) -> None:
    """Enable or disable an account; disabling ends every session of it at once."""
    member.active = active
    member.updated_at = now()
    if not active:
        member.on_duty = False
        end_all_sessions(session, member.id, "disabled")


# --- sessions ------------------------------------------------------------------------------------------------------

def start_session(session: Session, member: StaffMember) -> str:
    """A new session; returns the token for the browser (only its hash is kept)."""
    token = secrets.token_urlsafe(32)
    moment = now()
    session.add(StaffSession(token_hash=digest(token), staff_id=member.id, created_at=moment, last_seen_at=moment))
    session.flush()
    return token


def member_for_token(session: Session, token: str) -> StaffMember | None:
    """The signed-in member for this browser token, or None (ending the session if it has run out)."""
    row = session.scalars(
        select(StaffSession).where(StaffSession.token_hash == digest(token), StaffSession.ended_at.is_(None))
    ).first()
    if row is None:
        return None
    member = session.get(StaffMember, row.staff_id)
    moment = now()
    reason = None
    if member is None or not member.active:
        reason = "disabled"
    elif moment - row.created_at > ABSOLUTE_LIMIT:
        reason = "expired"
    elif moment - row.last_seen_at > IDLE_LIMIT:
        reason = "idle"
    if reason:
        row.ended_at, row.end_reason = moment, reason
        return None
    if moment - row.last_seen_at >= TOUCH_EVERY:
        row.last_seen_at = moment
    return member


def end_session(session: Session, token: str, reason: str) -> None:
    session.execute(
        update(StaffSession)
        .where(StaffSession.token_hash == digest(token), StaffSession.ended_at.is_(None))
        .values(ended_at=now(), end_reason=reason)
    )


def end_all_sessions(session: Session, staff_id: int, reason: str, *, keep_token: str | None = None) -> int:
    query = update(StaffSession).where(StaffSession.staff_id == staff_id, StaffSession.ended_at.is_(None))
    if keep_token is not None:
        query = query.where(StaffSession.token_hash != digest(keep_token))
    return session.execute(query.values(ended_at=now(), end_reason=reason)).rowcount


def open_sessions(session: Session, staff_id: int) -> list[StaffSession]:
    """Sessions not ended and still within their limits."""
    moment = now()
    rows = session.scalars(
        select(StaffSession).where(StaffSession.staff_id == staff_id, StaffSession.ended_at.is_(None))
        .order_by(StaffSession.created_at.desc())
    )
    return [r for r in rows if moment - r.last_seen_at <= IDLE_LIMIT and moment - r.created_at <= ABSOLUTE_LIMIT]


# --- login throttling ----------------------------------------------------------------------------------------------

def login_refused(session: Session, *, account_key: str, address_key: str) -> bool:
    """Too many recent failures for this account (100 an hour) or from this address (30 in 15 minutes)."""
    moment = now()
    for_account = session.scalar(
        select(func.count()).select_from(LoginAttempt).where(
            LoginAttempt.account_key == account_key, LoginAttempt.succeeded.is_(False),
            LoginAttempt.at > moment - timedelta(hours=1))
    )
    if for_account >= ACCOUNT_FAILURES_PER_HOUR:
        return True
    from_address = session.scalar(
        select(func.count()).select_from(LoginAttempt).where(
            LoginAttempt.address_key == address_key, LoginAttempt.succeeded.is_(False),
            LoginAttempt.at > moment - ADDRESS_WINDOW)
    )
    return from_address >= ADDRESS_FAILURES_LIMIT


def record_attempt(session: Session, *, account_key: str, address_key: str, succeeded: bool) -> None:
    moment = now()
    session.add(LoginAttempt(at=moment, account_key=account_key, address_key=address_key, succeeded=succeeded))
    session.execute(delete(LoginAttempt).where(LoginAttempt.at < moment - ATTEMPTS_KEPT))


# --- TOTP second factor --------------------------------------------------------------------------------------------

def begin_totp(member: StaffMember) -> str:
    """A fresh secret for the authenticator app (stored sealed); the factor is on only after ``confirm_totp``."""
    secret = pyotp.random_base32()
    member.totp_secret = crypto.seal(secret)
    member.totp_enabled = False
    member.totp_last_step = None
    return secret


def pending_totp_uri(member: StaffMember) -> tuple[str, str] | None:
    """(secret, otpauth URI) of a factor being set up, for showing again on the set-up page."""
    if member.totp_enabled or not member.totp_secret:
        return None
    secret = crypto.unseal(member.totp_secret)
    return secret, pyotp.TOTP(secret).provisioning_uri(name=member.login, issuer_name=TOTP_ISSUER)


def check_totp(member: StaffMember, code: str) -> bool:
    """True for a current code (±30 s) not used before; a used code is refused even inside its window."""
    code = "".join(ch for ch in unicodedata.normalize("NFKC", code) if ch.isdigit())
    if not member.totp_secret or len(code) != 6:
        return False
    totp = pyotp.TOTP(crypto.unseal(member.totp_secret))
    current = totp.timecode(now())
    for step in (current - 1, current, current + 1):
        if member.totp_last_step is not None and step <= member.totp_last_step:
            continue
        if secrets.compare_digest(totp.generate_otp(step), code):
            member.totp_last_step = step
            return True
    return False


def confirm_totp(member: StaffMember, code: str) -> bool:
    if member.totp_enabled or not check_totp(member, code):
        return False
    member.totp_enabled = True
    member.updated_at = now()
    return True


def disable_totp(member: StaffMember) -> None:
    member.totp_secret, member.totp_enabled, member.totp_last_step = None, False, None
    member.updated_at = now()


# --- LINE-link invitations -----------------------------------------------------------------------------------------

def create_invite(session: Session, member: StaffMember) -> str:
    """A one-time code (shown once) the member sends to the bot to link their LINE account; earlier unused codes
    of the member stop working."""
    session.execute(
        update(StaffInvite).where(StaffInvite.staff_id == member.id, StaffInvite.used_at.is_(None))
        .values(expires_at=now())
    )
    code = "-".join(secrets.token_hex(2).upper() for _ in range(3))
    session.add(StaffInvite(staff_id=member.id, code_hash=digest(code), created_at=now(),
                            expires_at=now() + INVITE_LIFETIME))
    session.flush()
    return code


def redeem_invite(session: Session, code: str, line_user_pk: int) -> StaffMember | None:
    """Link the LINE user to the invited, active member; None for an unknown, used or expired code."""
    normalized = unicodedata.normalize("NFKC", code).strip().upper()
    invite = session.scalars(select(StaffInvite).where(StaffInvite.code_hash == digest(normalized))).first()
    moment = now()
    if invite is None or invite.used_at is not None or invite.expires_at <= moment:
        return None
    member = session.get(StaffMember, invite.staff_id)
    if member is None or not member.active:
        return None
    session.execute(update(StaffMember).where(StaffMember.line_user_pk == line_user_pk, StaffMember.id != member.id)
                    .values(line_user_pk=None))
    invite.used_at = moment
    member.line_user_pk = line_user_pk
    member.updated_at = moment
    return member


def by_line_user(session: Session, line_user_pk: int) -> StaffMember | None:
    return session.scalars(
        select(StaffMember).where(StaffMember.line_user_pk == line_user_pk, StaffMember.active)
    ).first()
