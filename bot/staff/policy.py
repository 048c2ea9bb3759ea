"""The web-conference policy: the current version, who has agreed to which version, and publishing a new text
(division administrators). A new text is a new version: every parent is asked to consent again."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for

from bot.staff import auth, bp
from bot.staff.forms import PolicyForm
from storage import audit, people, staff_policy
from storage.db import unit_of_work


def _page(s, form: PolicyForm, status: int = 200):
    current = people.current_policy(s)
    return render_template(
        "staff/policy.html",
        current=current,
        versions=staff_policy.versions(s),
        registered=staff_policy.registered_parents(s),
        agreed_current=staff_policy.parents_agreed_to(s, current) if current else 0,
        form=form,
    ), status


@bp.get("/policy")
@auth.requires("policy.read")
def policy():
    with unit_of_work() as s:
        current = people.current_policy(s)
        return _page(s, PolicyForm(formdata=None, data={"text": current.text if current else ""}))


@bp.post("/policy/publish")
@auth.requires("policy.publish")
def policy_publish():
    form = PolicyForm()
    with unit_of_work() as s:
        if not form.validate_on_submit():
            return _page(s, form, 400)
        text = form.text.data.replace("\r\n", "\n")
        current = people.current_policy(s)
        if current is not None and current.content_hash == people.content_hash(text):
            form.text.errors.append("いまの版と同じ本文です。")
            return _page(s, form, 400)
        version = people.ensure_policy(s, text)
        if people.current_policy(s).id != version.id:
            form.text.errors.append("過去に公開した版と同じ本文です。文面を見直してください。")
            return _page(s, form, 400)
        audit.record(
            s,
            action="policy.publish",
            actor=auth.current(),
            subject_type="policy_version",
            subject_id=version.id,
            details={"version": version.content_hash[:12]},
        )
    flash("新しい版を公開しました。登録者には次回の利用時に改めて同意をお願いします。")
    return redirect(url_for("staff.policy"))
