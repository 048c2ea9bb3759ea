"""Signing in (password, then the TOTP code when the member has one) and signing out.

A successful sign-in throws the old cookie session away and starts a new server-side session (no fixation); the
throttle counts failures per account (100 an hour) and per address, and refuses before checking the password.
"""
from __future__ import annotations

from flask import g, redirect, render_template, session, url_for

from bot.staff import auth, bp
from bot.staff.forms import LoginForm, TotpForm
from storage import audit, staff
from storage.clock import now
from storage.db import unit_of_work
from storage.models import StaffMember

PENDING = "staff_totp_pending"
PENDING_SECONDS = 300
REFUSED = "ログインIDまたはパスワードが違います。"
THROTTLED = "失敗が続いたため、しばらくログインできません。時間をおいてお試しいただくか、管理者にご連絡ください。"


@bp.route("/login", methods=["GET", "POST"])
@auth.requires(auth.PUBLIC)
def login():
    if g.staff_actor is not None:
        return redirect(url_for("staff.today"))
    form = LoginForm()
    if not form.validate_on_submit():
        return render_template("staff/login.html", form=form)
    account_key, address_key = auth.account_key(form.login.data), auth.address_key()
    with unit_of_work() as s:
        member = staff.by_login(s, form.login.data)
        if staff.login_refused(s, account_key=account_key, address_key=address_key):
            audit.record(s, action="staff.login_throttled", actor_label="anonymous",
                         subject_type="staff" if member else None, subject_id=member.id if member else None)
            return render_template("staff/login.html", form=form, error=THROTTLED), 429
        ok = staff.check_password(member, form.password.data) and member.active
        if not ok or member.totp_enabled:
            staff.record_attempt(s, account_key=account_key, address_key=address_key, succeeded=False)
        if not ok:
            if member is not None:
                audit.record(s, action="staff.login_failed", actor_label="anonymous", subject_type="staff",
                             subject_id=member.id)
            return render_template("staff/login.html", form=form, error=REFUSED), 401
        if member.totp_enabled:
            # The password alone counts as a failure until the code is given, so guessing codes is throttled too.
            session[PENDING] = {"id": member.id, "at": int(now().timestamp()), "account": account_key}
            return redirect(url_for("staff.login_totp"))
        staff.record_attempt(s, account_key=account_key, address_key=address_key, succeeded=True)
        return _signed_in(s, member)


@bp.route("/login/code", methods=["GET", "POST"])
@auth.requires(auth.PUBLIC)
def login_totp():
    pending = session.get(PENDING)
    if not isinstance(pending, dict) or now().timestamp() - pending.get("at", 0) > PENDING_SECONDS:
        session.pop(PENDING, None)
        return redirect(url_for("staff.login"))
    form = TotpForm()
    if not form.validate_on_submit():
        return render_template("staff/login_totp.html", form=form)
    address_key = auth.address_key()
    with unit_of_work() as s:
        if staff.login_refused(s, account_key=pending["account"], address_key=address_key):
            session.pop(PENDING, None)
            return render_template("staff/login.html", form=LoginForm(formdata=None), error=THROTTLED), 429
        member = s.get(StaffMember, pending["id"])
        if member is None or not member.active or not staff.check_totp(member, form.code.data):
            staff.record_attempt(s, account_key=pending["account"], address_key=address_key, succeeded=False)
            if member is not None:
                audit.record(s, action="staff.login_failed", actor_label="anonymous", subject_type="staff",
                             subject_id=member.id, details={"factor": "totp"})
            return render_template("staff/login_totp.html", form=form, error="確認コードが違います。"), 401
        staff.record_attempt(s, account_key=pending["account"], address_key=address_key, succeeded=True)
        return _signed_in(s, member)


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
