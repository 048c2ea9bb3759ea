"""One's own account: password, the TOTP second factor, the browsers signed in."""

from __future__ import annotations

from flask import flash, redirect, render_template, session, url_for

from bot.staff import auth, bp
from bot.staff.forms import ConfirmForm, PasswordChangeForm, TotpDisableForm, TotpForm
from storage import audit, login_throttle, staff
from storage.db import unit_of_work


def _page(s, *, password_form=None, disable_form=None, status=200):
    actor = auth.current()
    member = actor.member(s)
    return render_template(
        "staff/account.html",
        member=member,
        sessions=staff.open_sessions(s, member.id),
        current_hash=staff.digest(session.get(auth.SESSION_TOKEN, "")),
        password_form=password_form or PasswordChangeForm(formdata=None),
        disable_form=disable_form or TotpDisableForm(formdata=None),
        confirm_form=ConfirmForm(formdata=None),
    ), status


@bp.get("/account")
@auth.requires("account")
def account():
    with unit_of_work() as s:
        return _page(s)


@bp.post("/account/password")
@auth.requires("account")
def change_password():
    form = PasswordChangeForm()
    with unit_of_work() as s:
        member = auth.current().member(s)
        if form.validate_on_submit():
            problem = staff.password_problem(form.new.data, login=member.login)
            if problem:
                form.new.errors.append(problem)
            elif _password_confirmed(s, member, form.current.data):
                staff.set_password(member, form.new.data)
                staff.end_all_sessions(s, member.id, "password", keep_token=session.get(auth.SESSION_TOKEN))
                audit.record(
                    s, action="staff.password_changed", actor=member, subject_type="staff", subject_id=member.id
                )
                flash("パスワードを変更しました。ほかのブラウザーのログインは終了しました。")
                return redirect(url_for("staff.account"))
            form.current.errors.append("いまのパスワードが違います。")
        return _page(s, password_form=form, status=400)


def _password_confirmed(s, member, password: str) -> bool:
    """Re-checking the password inside a session counts toward the same throttle as signing in. A signed-in session is
    trusted like a device cookie: an attack on the account from elsewhere does not stop its owner changing the
    password."""
    keys = auth.throttle_keys(member.login)
    if login_throttle.wait(s, keys, trusted=True) is not None:
        login_throttle.refused(s, keys, member.id)
        return False
    ok = staff.check_password(member, password)
    if ok:
        login_throttle.succeeded(s, keys, member.id)
    else:
        login_throttle.failed(s, keys, member.id, trusted=True)
    return ok


@bp.post("/account/sessions/end-others")
@auth.requires("account")
def end_other_sessions():
    with unit_of_work() as s:
        ended = staff.end_all_sessions(s, auth.current().id, "revoked", keep_token=session.get(auth.SESSION_TOKEN))
        audit.record(
            s,
            action="staff.sessions_ended",
            actor=auth.current(),
            subject_type="staff",
            subject_id=auth.current().id,
            details={"count": ended},
        )
    flash(f"ほかのブラウザーのログインを{ended}件終了しました。")
    return redirect(url_for("staff.account"))


@bp.post("/account/totp/begin")
@auth.requires("account")
def totp_begin():
    with unit_of_work() as s:
        member = auth.current().member(s)
        if member.totp_enabled:
            flash("二段階認証はすでに有効です。")
        else:
            staff.begin_totp(member)
    return redirect(url_for("staff.totp_setup"))


@bp.route("/account/totp", methods=["GET", "POST"])
@auth.requires("account")
def totp_setup():
    form = TotpForm()
    with unit_of_work() as s:
        member = auth.current().member(s)
        pending = staff.pending_totp_uri(member)
        if pending is None:
            return redirect(url_for("staff.account"))
        if form.validate_on_submit():
            if staff.confirm_totp(member, form.code.data):
                audit.record(s, action="staff.totp_enabled", actor=member, subject_type="staff", subject_id=member.id)
                flash("二段階認証を有効にしました。次回のログインから確認コードが必要です。")
                return redirect(url_for("staff.account"))
            form.code.errors.append("確認コードが違います。アプリの時刻設定もご確認ください。")
        secret, uri = pending
        return render_template("staff/totp_setup.html", form=form, secret=secret, uri=uri)


@bp.post("/account/totp/disable")
@auth.requires("account")
def totp_disable():
    form = TotpDisableForm()
    with unit_of_work() as s:
        member = auth.current().member(s)
        if not form.validate_on_submit() or not _password_confirmed(s, member, form.password.data):
            form.password.errors.append("パスワードが違います。")
            return _page(s, disable_form=form, status=400)
        staff.disable_totp(member)
        audit.record(s, action="staff.totp_disabled", actor=member, subject_type="staff", subject_id=member.id)
    flash("二段階認証を無効にしました。")
    return redirect(url_for("staff.account"))
