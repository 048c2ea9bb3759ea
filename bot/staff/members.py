"""Staff accounts, managed by division administrators: create, change, disable (ends sessions at once), reset a
password or a lost second factor, lift sign-in delays, issue a LINE-link code."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for

from bot.staff import auth, bp
from bot.staff.forms import ConfirmForm, NewStaffForm, PasswordResetForm, StaffForm
from storage import audit, login_throttle, staff
from storage.db import unit_of_work
from storage.models import StaffMember


def _member(s, member_id: int) -> StaffMember:
    member = s.get(StaffMember, member_id)
    if member is None:
        abort(404)
    return member


def _leaves_no_administrator(s, member: StaffMember, *, role: str, active: bool) -> bool:
    others = [m for m in staff.administrators(s) if m.id != member.id]
    return not others and not (role == "admin" and active)


@bp.get("/members")
@auth.requires("staff.manage")
def members():
    with unit_of_work() as s:
        return render_template("staff/members.html", members=staff.members(s))


@bp.route("/members/new", methods=["GET", "POST"])
@auth.requires("staff.manage")
def member_new():
    form = NewStaffForm()
    with unit_of_work() as s:
        if form.validate_on_submit():
            if staff.login_taken(s, form.login.data):
                form.login.errors.append("このログインIDはすでに使われています。")
            else:
                member = staff.create_member(
                    s,
                    name=form.name.data,
                    login=form.login.data,
                    centre=form.centre.data,
                    role=form.role.data,
                    password=form.password.data,
                )
                audit.record(
                    s,
                    action="staff.create",
                    actor=auth.current(),
                    subject_type="staff",
                    subject_id=member.id,
                    details={"role": member.role, "centre": member.centre},
                )
                flash("職員アカウントを作成しました。")
                return redirect(url_for("staff.member_edit", member_id=member.id))
        return render_template("staff/member_form.html", form=form, member=None)


@bp.route("/members/<int:member_id>", methods=["GET", "POST"])
@auth.requires("staff.manage")
def member_edit(member_id: int):
    with unit_of_work() as s:
        member = _member(s, member_id)
        form = StaffForm(obj=member)
        if form.validate_on_submit():
            if staff.login_taken(s, form.login.data, other_than=member.id):
                form.login.errors.append("このログインIDはすでに使われています。")
            elif _leaves_no_administrator(s, member, role=form.role.data, active=member.active):
                form.role.errors.append("有効な管理者が一人もいなくなるため、変更できません。")
            else:
                changed = sorted(
                    f for f in ("name", "login", "centre", "role") if getattr(form, f).data != getattr(member, f)
                )
                form.populate_obj(member)
                member.login = staff.normalize_login(member.login)
                if {"role", "centre"} & set(changed):
                    staff.end_all_sessions(s, member.id, "revoked")
                audit.record(
                    s,
                    action="staff.update",
                    actor=auth.current(),
                    subject_type="staff",
                    subject_id=member.id,
                    details={"fields": changed},
                )
                flash("変更を保存しました。")
                return redirect(url_for("staff.member_edit", member_id=member.id))
        return render_template(
            "staff/member_form.html",
            form=form,
            member=member,
            sessions=staff.open_sessions(s, member.id),
            confirm_form=ConfirmForm(formdata=None),
            password_form=PasswordResetForm(formdata=None),
            delayed=login_throttle.delayed_addresses(s, auth.account_key(member.login)),
        )


@bp.post("/members/<int:member_id>/disable")
@auth.requires("staff.manage")
def member_disable(member_id: int):
    with unit_of_work() as s:
        member = _member(s, member_id)
        if _leaves_no_administrator(s, member, role=member.role, active=False):
            flash("有効な管理者が一人もいなくなるため、停止できません。")
        else:
            staff.set_active(s, member, False)
            audit.record(s, action="staff.disable", actor=auth.current(), subject_type="staff", subject_id=member.id)
            flash("アカウントを停止しました。ログイン中のブラウザーもすべて終了しました。")
    return redirect(url_for("staff.member_edit", member_id=member_id))


@bp.post("/members/<int:member_id>/enable")
@auth.requires("staff.manage")
def member_enable(member_id: int):
    with unit_of_work() as s:
        member = _member(s, member_id)
        staff.set_active(s, member, True)
        audit.record(s, action="staff.enable", actor=auth.current(), subject_type="staff", subject_id=member.id)
    flash("アカウントを再開しました。")
    return redirect(url_for("staff.member_edit", member_id=member_id))


@bp.post("/members/<int:member_id>/end-sessions")
@auth.requires("staff.manage")
def member_end_sessions(member_id: int):
    with unit_of_work() as s:
        member = _member(s, member_id)
        ended = staff.end_all_sessions(s, member.id, "revoked")
        audit.record(
            s,
            action="staff.sessions_ended",
            actor=auth.current(),
            subject_type="staff",
            subject_id=member.id,
            details={"count": ended},
        )
    flash(f"ログイン中のブラウザーを{ended}件終了しました。")
    return redirect(url_for("staff.member_edit", member_id=member_id))


@bp.post("/members/<int:member_id>/password")
@auth.requires("staff.manage")
def member_password(member_id: int):
    form = PasswordResetForm()
    with unit_of_work() as s:
        member = _member(s, member_id)
        if not form.validate_on_submit():
            flash(" ".join(form.password.errors) or "入力してください。")
            return redirect(url_for("staff.member_edit", member_id=member_id))
        problem = staff.password_problem(form.password.data, login=member.login)
        if problem:
            flash(problem)
            return redirect(url_for("staff.member_edit", member_id=member_id))
        staff.set_password(member, form.password.data)
        staff.end_all_sessions(s, member.id, "password")
        audit.record(s, action="staff.password_reset", actor=auth.current(), subject_type="staff", subject_id=member.id)
    flash("パスワードを再設定しました。本人に安全な方法で伝えてください。")
    return redirect(url_for("staff.member_edit", member_id=member_id))


@bp.post("/members/<int:member_id>/unlock")
@auth.requires("staff.manage")
def member_unlock(member_id: int):
    """Lift the sign-in delays of the account from every address (the same as ``kosodate staff unlock``)."""
    with unit_of_work() as s:
        member = _member(s, member_id)
        lifted = login_throttle.clear(s, auth.account_key(member.login))
        audit.record(
            s,
            action="staff.unlock",
            actor=auth.current(),
            subject_type="staff",
            subject_id=member.id,
            details={"addresses": lifted},
        )
    flash("ログインの待ち時間を解除しました。")
    return redirect(url_for("staff.member_edit", member_id=member_id))


@bp.post("/members/<int:member_id>/totp-reset")
@auth.requires("staff.manage")
def member_totp_reset(member_id: int):
    form = ConfirmForm()
    with unit_of_work() as s:
        member = _member(s, member_id)
        if form.validate_on_submit():
            staff.disable_totp(member)
            audit.record(
                s, action="staff.totp_disabled", actor=auth.current(), subject_type="staff", subject_id=member.id
            )
            flash("二段階認証を解除しました。本人に再設定してもらってください。")
        else:
            flash("確認のチェックを入れてください。")
    return redirect(url_for("staff.member_edit", member_id=member_id))


@bp.post("/members/<int:member_id>/invite")
@auth.requires("staff.manage")
def member_invite(member_id: int):
    with unit_of_work() as s:
        member = _member(s, member_id)
        if not member.active:
            abort(404)
        code = staff.create_invite(s, member)
        audit.record(s, action="staff.invite", actor=auth.current(), subject_type="staff", subject_id=member.id)
        return render_template(
            "staff/member_invite.html",
            member=member,
            code=code,
            hours=int(staff.INVITE_LIFETIME.total_seconds() // 3600),
        )
