"""Signing in (password, then the TOTP code when the member has one) and signing out.

A successful sign-in throws the old cookie session away and starts a new server-side session (no fixation). Between
the password and the code, the server keeps a one-time challenge (``storage.staff.open_challenge``); the cookie holds
only its random nonce. The throttle (``storage.login_throttle``) delays repeated failures per (account, address) pair,
per address, and per account for browsers without a device cookie, refusing before the password is checked; its keys
are always computed here, on the server. A successful sign-in leaves a device cookie (``DEVICE_COOKIE``: random
tokens, only their hashes stored, ``storage.staff.issue_device``) so that the owner's own browser is not held back
while the account is under attack from elsewhere (OWASP's device cookies).
"""

from __future__ import annotations

import math
from datetime import timedelta

from flask import current_app, g, redirect, render_template, request, session, url_for

from bot.staff import auth, bp
from bot.staff.forms import LoginForm, TotpForm
from storage import audit, login_throttle, staff
from storage.db import unit_of_work
from storage.models import StaffDevice, StaffMember

CHALLENGE = "staff_login_challenge"
DEVICE_COOKIE = "kosodate_staff_device"
# Tokens one browser keeps (a centre's shared computer: several members); the oldest goes first.
DEVICE_TOKENS_KEPT = 5
REFUSED = "ログインIDまたはパスワードが違います。"
THROTTLED = (
    "失敗が続いたため、あと{seconds}秒ほどログインできません。時間をおいてお試しください。"
    "お急ぎのときは管理者に制限の解除を頼んでください。"
)
CODE_TRIES_USED = "確認コードの誤りが続きました。お手数ですが、パスワードからもう一度入力してください。"


@bp.route("/login", methods=["GET", "POST"])
@auth.requires(auth.PUBLIC)
def login():
    if g.staff_actor is not None:
        return redirect(url_for("staff.today"))
    form = LoginForm()
    if not form.validate_on_submit():
        return render_template("staff/login.html", form=form)
    keys = auth.throttle_keys(form.login.data)
    with unit_of_work() as s:
        member = staff.by_login(s, form.login.data)
        member_id = member.id if member is not None else None
        device = staff.device_for(s, _device_tokens(), member_id)
        wait = login_throttle.wait(s, keys, trusted=device is not None)
        if wait is not None:
            login_throttle.refused(s, keys, member_id)
            return _throttled(form, wait)
        if not (staff.check_password(member, form.password.data) and member.active):
            _failed(s, keys, member_id, device)
            return render_template("staff/login.html", form=form, error=REFUSED), 401
        if member.totp_enabled:
            session[CHALLENGE] = staff.open_challenge(s, member, keys.account)
            return redirect(url_for("staff.login_totp"))
        login_throttle.succeeded(s, keys, member.id)
        return _signed_in(s, member, device)


@bp.route("/login/code", methods=["GET", "POST"])
@auth.requires(auth.PUBLIC)
def login_totp():
    nonce = session.get(CHALLENGE)
    form = TotpForm()
    with unit_of_work() as s:
        pending = staff.challenge(s, nonce) if isinstance(nonce, str) else None
        if pending is None:
            session.pop(CHALLENGE, None)
            return redirect(url_for("staff.login"))
        if not form.validate_on_submit():
            return render_template("staff/login_totp.html", form=form)
        keys = login_throttle.Keys(pending.account_key, auth.address_key())
        device = staff.device_for(s, _device_tokens(), pending.staff_id)
        wait = login_throttle.wait(s, keys, trusted=device is not None)
        if wait is not None:
            login_throttle.refused(s, keys, pending.staff_id)
            return _throttled(LoginForm(formdata=None), wait)
        member = s.get(StaffMember, pending.staff_id)
        if member is None or not member.active or not staff.check_totp(member, form.code.data):
            _failed(s, keys, pending.staff_id, device)
            if staff.challenge_failed(s, pending):
                session.pop(CHALLENGE, None)
                return render_template("staff/login.html", form=LoginForm(formdata=None), error=CODE_TRIES_USED), 401
            return render_template("staff/login_totp.html", form=form, error="確認コードが違います。"), 401
        staff.close_challenge(s, pending)
        login_throttle.succeeded(s, keys, member.id)
        return _signed_in(s, member, device)


def _device_tokens() -> list[str]:
    """The device tokens this browser sent (at most ``DEVICE_TOKENS_KEPT``; anything else is ignored)."""
    value = request.cookies.get(DEVICE_COOKIE, "")
    return [t for t in value.split(".") if 20 <= len(t) <= 64][-DEVICE_TOKENS_KEPT:]


def _failed(s, keys: login_throttle.Keys, staff_id: int | None, device: StaffDevice | None) -> None:
    """A wrong password or code: from a trusted browser it counts on its device, not on the account-wide limit."""
    login_throttle.failed(s, keys, staff_id, trusted=device is not None)
    if device is not None:
        staff.device_failed(s, device)


def _throttled(form: LoginForm, wait: timedelta):
    seconds = max(1, math.ceil(wait.total_seconds()))
    page = render_template("staff/login.html", form=form, error=THROTTLED.format(seconds=seconds))
    return page, 429, {"Retry-After": str(seconds)}


def _signed_in(s, member: StaffMember, device: StaffDevice | None):
    """Regenerate: the old cookie session (and any token in it) is discarded, a new server session begins. The
    browser keeps (or gets) a device token of the member."""
    old_token = session.get(auth.SESSION_TOKEN)
    wanted = session.get("staff_next")
    if isinstance(old_token, str):
        staff.end_session(s, old_token, "replaced")
    session.clear()
    session[auth.SESSION_TOKEN] = staff.start_session(s, member)
    audit.record(s, action="staff.login", actor=member, subject_type="staff", subject_id=member.id)
    target = wanted if isinstance(wanted, str) and wanted.startswith("/staff/") else url_for("staff.today")
    tokens = _device_tokens()
    if device is not None:
        staff.device_used(device)
    else:
        tokens.append(staff.issue_device(s, member))
    response = redirect(target)
    response.set_cookie(
        DEVICE_COOKIE,
        ".".join(tokens[-DEVICE_TOKENS_KEPT:]),
        max_age=staff.DEVICE_KEPT,
        path="/staff",
        secure=current_app.config["SESSION_COOKIE_SECURE"],
        httponly=True,
        samesite="Lax",
    )
    return response


@bp.post("/logout")
@auth.requires("account")
def logout():
    token = session.get(auth.SESSION_TOKEN)
    with unit_of_work() as s:
        staff.end_session(s, token, "logout")
        audit.record(s, action="staff.logout", actor=auth.current(), subject_type="staff", subject_id=auth.current().id)
    session.clear()
    return redirect(url_for("staff.login", bye=1))
