"""Staff accounts: passwords (argon2id; 12+ characters, not a common one, not containing the login), server-side
sessions with idle and absolute limits, the half-finished sign-in awaiting a TOTP code (kept here, not in the cookie),
the optional TOTP second factor, and one-time invitations for linking a staff member's LINE account. Sign-in
throttling is ``storage.login_throttle``.

Refusals are values (``None``, ``False``, a reason string); nothing here commits.
"""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from datetime import timedelta
from functools import cache

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from storage import crypto
from storage.clock import now
from storage.db import affected_rows
from storage.models import LoginAttempt, LoginChallenge, StaffDevice, StaffInvite, StaffMember, StaffSession
from storage.models.staff import CENTRES, ROLES

# argon2-cffi's defaults are argon2id with RFC 9106's low-memory profile.
HASHER = PasswordHasher()
PASSWORD_MIN, PASSWORD_MAX = 12, 128

IDLE_LIMIT = timedelta(minutes=30)
ABSOLUTE_LIMIT = timedelta(hours=8)
# Sessions are touched at most this often, so reading pages does not write on every request.
TOUCH_EVERY = timedelta(seconds=30)

# A password accepted, a TOTP code still due: how long the server keeps that half-finished sign-in.
CHALLENGE_LIFETIME = timedelta(minutes=5)
# Wrong codes one challenge takes; then it is gone and the sign-in starts again with the password.
CHALLENGE_TRIES = 5
# Device cookies (OWASP): wrong passwords or codes from one device before its token is revoked; unused tokens are
# deleted after DEVICE_KEPT (the browser's cookie lives as long).
DEVICE_TRIES = 10
DEVICE_KEPT = timedelta(days=90)
ATTEMPTS_KEPT = timedelta(days=2)
# A login's local part shorter than this is not looked for inside passwords (it would refuse too much).
LOGIN_PART_MIN = 3

INVITE_LIFETIME = timedelta(hours=24)
TOTP_ISSUER = "船橋市子育て支援 スタッフ"


def digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def normalize_login(login: str) -> str:
    return unicodedata.normalize("NFKC", login).strip().lower()


# --- accounts ------------------------------------------------------------------------------------------------------


@cache
def common_passwords() -> frozenset[str]:
    """The 30,000 most common passwords, as zxcvbn ships them (its ``passwords`` frequency list), lower-case."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS  # type: ignore[import-untyped]

    return frozenset(word.lower() for word in FREQUENCY_LISTS["passwords"])


def password_problem(password: str, *, login: str | None = None) -> str | None:
    """Why this password cannot be used, or None (NIST SP 800-63B: length, a blocklist of common passwords, no
    context words such as the login; no composition rules). ``login`` is the account's, when it is known."""
    if len(password) < PASSWORD_MIN:
        return f"パスワードは{PASSWORD_MIN}文字以上にしてください。"
    if len(password) > PASSWORD_MAX:
        return f"パスワードは{PASSWORD_MAX}文字以内にしてください。"
    if len(set(password)) < 4:
        return "同じ文字の繰り返しは使えません。"
    folded = unicodedata.normalize("NFKC", password).lower()
    if folded in common_passwords():
        return "よく使われているパスワードのため使えません。ほかの人が思いつかない言葉を組み合わせてください。"
    if login:
        name = normalize_login(login)
        if any(len(part) >= LOGIN_PART_MIN and part in folded for part in (name, name.split("@")[0])):
            return "ログインIDを含むパスワードは使えません。"
    return None


def create_member(
    session: Session, *, name: str, login: str, centre: str, role: str, password: str | None = None
) -> StaffMember:
    if centre not in CENTRES or role not in ROLES:
        raise ValueError("unknown centre or role")
    member = StaffMember(
        name=name.strip(),
        login=normalize_login(login),
        centre=centre,
        role=role,
        active=True,
        totp_enabled=False,
        on_duty=None,
        created_at=now(),
        updated_at=now(),
    )
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
    return list(
        session.scalars(select(StaffMember).order_by(StaffMember.active.desc(), StaffMember.centre, StaffMember.name))
    )


def administrators(session: Session) -> list[StaffMember]:
    return list(session.scalars(select(StaffMember).where(StaffMember.role == "admin", StaffMember.active)))


def on_duty(session: Session, centre: str | None = None) -> list[StaffMember]:
    """Active staff on duty (for escalations), optionally of one centre; the division's staff always count."""
    query = select(StaffMember).where(StaffMember.active, StaffMember.on_duty.is_(True))
    if centre is not None:
        query = query.where(StaffMember.centre.in_((centre, "division")))
    return list(session.scalars(query.order_by(StaffMember.id)))


def set_password(member: StaffMember, password: str) -> None:
    """Every way a password is set ends here, so the rules hold everywhere (the forms check first, to explain)."""
    problem = password_problem(password, login=member.login)
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
        member.on_duty = None  # back on the rota's terms if enabled again
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
    return affected_rows(session.execute(query.values(ended_at=now(), end_reason=reason)))


def open_sessions(session: Session, staff_id: int) -> list[StaffSession]:
    """Sessions not ended and still within their limits."""
    moment = now()
    rows = session.scalars(
        select(StaffSession)
        .where(StaffSession.staff_id == staff_id, StaffSession.ended_at.is_(None))
        .order_by(StaffSession.created_at.desc())
    )
    return [r for r in rows if moment - r.last_seen_at <= IDLE_LIMIT and moment - r.created_at <= ABSOLUTE_LIMIT]


# --- the second-factor step of signing in --------------------------------------------------------------------------


def open_challenge(session: Session, member: StaffMember, account_key: str) -> str:
    """The password was right and a TOTP code is due: a one-time challenge; returns its nonce for the browser's
    cookie (only the nonce's SHA-256 is stored). Expired challenges of anyone are removed on the way."""
    moment = now()
    session.execute(delete(LoginChallenge).where(LoginChallenge.created_at < moment - CHALLENGE_LIFETIME))
    nonce = secrets.token_urlsafe(32)
    session.add(
        LoginChallenge(nonce_hash=digest(nonce), staff_id=member.id, account_key=account_key, created_at=moment)
    )
    session.flush()
    return nonce


def challenge(session: Session, nonce: str) -> LoginChallenge | None:
    """The open challenge for this nonce, or None (unknown, used, or older than 5 minutes: then it is deleted)."""
    row = session.scalars(select(LoginChallenge).where(LoginChallenge.nonce_hash == digest(nonce))).first()
    if row is not None and now() - row.created_at > CHALLENGE_LIFETIME:
        session.delete(row)
        return None
    return row


def close_challenge(session: Session, row: LoginChallenge) -> None:
    """Used: the nonce can never be replayed."""
    session.delete(row)


def challenge_failed(session: Session, row: LoginChallenge) -> bool:
    """A wrong code, counted on the server-side row (the cookie cannot reset it). Returns True when that was the
    last try: the challenge is deleted and whoever holds it must give the password again."""
    row.failures += 1
    if row.failures >= CHALLENGE_TRIES:
        session.delete(row)
        return True
    return False


def purge_challenges(session: Session, batch: int) -> int:
    """Retention: challenges past their 5 minutes (normally already gone), at most ``batch``."""
    ids = list(
        session.scalars(
            select(LoginChallenge.id).where(LoginChallenge.created_at < now() - CHALLENGE_LIFETIME).limit(batch)
        )
    )
    if ids:
        session.execute(delete(LoginChallenge).where(LoginChallenge.id.in_(ids)))
    return len(ids)


# --- device cookies (OWASP "Slow Down Online Guessing Attacks with Device Cookies") ----------------------------


def issue_device(session: Session, member: StaffMember) -> str:
    """A browser just signed in as ``member``: a new device token for its cookie (only the hash is kept)."""
    token = secrets.token_urlsafe(32)
    moment = now()
    session.add(StaffDevice(token_hash=digest(token), staff_id=member.id, created_at=moment, last_used_at=moment))
    session.flush()
    return token


def device_for(session: Session, tokens: list[str], staff_id: int | None) -> StaffDevice | None:
    """The device row of ``staff_id`` among the browser's tokens, or None (no cookie, another member's, revoked,
    or unused for longer than ``DEVICE_KEPT``)."""
    if staff_id is None or not tokens:
        return None
    row = session.scalars(
        select(StaffDevice).where(
            StaffDevice.token_hash.in_([digest(t) for t in tokens]), StaffDevice.staff_id == staff_id
        )
    ).first()
    if row is None or now() - row.last_used_at > DEVICE_KEPT:
        return None
    return row


def device_failed(session: Session, row: StaffDevice) -> None:
    """A wrong password or code from a trusted device; after ``DEVICE_TRIES`` in a row its token is revoked (a
    stolen cookie buys a few guesses, not the account-wide limit's exemption)."""
    row.failures += 1
    if row.failures >= DEVICE_TRIES:
        session.delete(row)


def device_used(row: StaffDevice) -> None:
    row.failures = 0
    row.last_used_at = now()


def purge_devices(session: Session, batch: int) -> int:
    """Retention: device tokens unused for ``DEVICE_KEPT``, at most ``batch``."""
    ids = list(
        session.scalars(select(StaffDevice.id).where(StaffDevice.last_used_at < now() - DEVICE_KEPT).limit(batch))
    )
    if ids:
        session.execute(delete(StaffDevice).where(StaffDevice.id.in_(ids)))
    return len(ids)


# --- attempts at LINE-link codes (storage.escalation counts them) ---------------------------------------------------


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
        update(StaffInvite)
        .where(StaffInvite.staff_id == member.id, StaffInvite.used_at.is_(None))
        .values(expires_at=now())
    )
    code = "-".join(secrets.token_hex(2).upper() for _ in range(3))
    session.add(
        StaffInvite(staff_id=member.id, code_hash=digest(code), created_at=now(), expires_at=now() + INVITE_LIFETIME)
    )
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
    session.execute(
        update(StaffMember)
        .where(StaffMember.line_user_pk == line_user_pk, StaffMember.id != member.id)
        .values(line_user_pk=None)
    )
    invite.used_at = moment
    member.line_user_pk = line_user_pk
    member.updated_at = moment
    return member


def by_line_user(session: Session, line_user_pk: int) -> StaffMember | None:
    return session.scalars(
        select(StaffMember).where(StaffMember.line_user_pk == line_user_pk, StaffMember.active)
    ).first()
