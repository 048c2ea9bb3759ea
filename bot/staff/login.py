"""Signing in (password, then the TOTP code when the member has one) and signing out.

A successful sign-in throws the old cookie session away and starts a new server-side session (no fixation). Between
the password and the code, the server keeps a one-time challenge (``storage.staff.open_challenge``); the cookie holds
only its random nonce. The throttle (``storage.login_throttle``) delays repeated failures per (account, address) pair
and per address, refusing before the password is checked; its keys are always computed here, on the server.
"""
from __future__ import annotations

import math
from datetime import timedelta

from flask import g, redirect, render_template, session, url_for

from bot.staff import auth, bp
from bot.staff.forms import LoginForm, TotpForm
from storage import audit, login_throttle, staff
from storage.db import unit_of_work
from storage.models import StaffMember

CHALLENGE = "staff_login_challenge"
REFUSED = "ログインIDまたはパスワードが違います。"
THROTTLED = ("失敗が続いたため、あと{seconds}秒ほどログインできません。時間をおいてお試しください。"
             "お急ぎのときは管理者に制限の解除を頼んでください。")


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
        wait = login_throttle.wait(s, keys)
        if wait is not None:
            login_throttle.refused(s, keys, member_id)
            return _throttled(form, wait)
        if not (staff.check_password(member, form.password.data) and member.active):
            login_throttle.failed(s, keys, member_id)
            return render_template("staff/login.html", form=form, error=REFUSED), 401
        if member.totp_enabled:
            session[CHALLENGE] = staff.open_challenge(s, member, keys.account)
            return redirect(url_for("staff.login_totp"))
        login_throttle.succeeded(s, keys, member.id)
        return _signed_in(s, member)


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
        wait = login_throttle.wait(s, keys)
        if wait is not None:
            login_throttle.refused(s, keys, pending.staff_id)
            return _throttled(LoginForm(formdata=None), wait)
        member = s.get(StaffMember, pending.staff_id)
        if member is None or not member.active or not staff.check_totp(member, form.code.data):
            login_throttle.failed(s, keys, pending.staff_id)
            return render_template("staff/login_totp.html", form=form, error="確認コードが違います。"), 401
        staff.close_challenge(s, pending)
        login_throttle.succeeded(s, keys, member.id)
        return _signed_in(s, member)


def _throttled(form: LoginForm, wait: timedelta):
    seconds = max(1, math.ceil(wait.total_seconds()))
    page = render_template("staff/login.html", form=form, error=THROTTLED.format(seconds=seconds))
    return page, 429, {"Retry-After": str(seconds)}


def _signed_in(s, member: StaffMember):
    """Regenerate: the old cookie session (and any token in it) is discarded, a new server session begins."""
    old_token = session.get(auth.SESSION_TOKEN)
    wanted = session.get("staff_next")
    if isinstance(old_token, str):
        staff.end_session(s, old_token, "replaced")
    session.clear()
    session[auth.SESSION_TOKEN] = staff.start_session(s, member)
    audit.record(s, action="staff.login", actor=member, subject_type="staff", subject_id=member.id)
    target = wanted if isinstance(wanted, str) and wanted.startswith("/staff/") else url_for("staff.today")
    return redirect(target)


@bp.post("/logout")
@auth.requires("account")
def logout():
    token = session.get(auth.SESSION_TOKEN)
    with unit_of_work() as s:
        staff.end_session(s, token, "logout")
        audit.record(s, action="staff.logout", actor=auth.current(), subject_type="staff",
                     subject_id=auth.current().id)
    session.clear()
    return redirect(url_for("staff.login", bye=1))
