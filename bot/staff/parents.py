"""Parents: search (POST, so the search text never appears in a URL or a log), one parent's whole record, and the
data-rights actions. Every page that shows personal data writes an audit event."""

from __future__ import annotations

import json

from flask import abort, flash, redirect, render_template, url_for

from bot.staff import auth, bp, records
from bot.staff.downloads import csv_response, json_response
from bot.staff.forms import ConfirmForm, ParentCorrectionForm, ParentSearchForm, SanctionForm
from handlers import normalize
from handlers.registration import rules as registration_rules
from storage import audit, people, sanctions, staff, staff_events, staff_parents
from storage.clock import today_tokyo
from storage.db import unit_of_work
from storage.models import Parent

EXPORT_SECTIONS = {
    "parent": "登録情報",
    "children": "子ども",
    "line_account": "LINEアカウント",
    "consents": "同意",
    "applications": "申し込み",
    "announcement_optins": "お知らせ希望",
    "notice_optouts": "お知らせの停止",
    "feedback": "アンケート",
    "reports": "報告・相談",
    "sanctions": "参加制限",
    "messages": "送信メッセージ",
}


def _parent(s, parent_id: int) -> Parent:
    return records.load(s, "parent", parent_id)


def live_parent(s, parent_id: int) -> Parent:
    """A parent whose data still exists (erased records offer no actions)."""
    parent = _parent(s, parent_id)
    if staff_parents.is_erased(s, parent):
        abort(404)
    return parent


@bp.get("/parents")
@auth.requires("parents.read")
def parents():
    return render_template("staff/parents.html", form=ParentSearchForm(formdata=None), results=None)


@bp.post("/parents/search")
@auth.requires("parents.read")
def parents_search():
    form = ParentSearchForm()
    if not form.validate_on_submit():
        return render_template("staff/parents.html", form=form, results=None), 400
    text = normalize.text(form.q.data)
    with unit_of_work() as s:
        results = staff_parents.search(
            s,
            name=text,
            reading=normalize.to_hiragana(text),
            digits=normalize.digits_and_dashes(text).replace("-", ""),
            centres=auth.current().centres,
        )
        audit.record(s, action="parent.search", actor=auth.current(), details={"results": len(results)})
        return render_template("staff/parents.html", form=form, results=results)


@bp.get("/parents/<int:parent_id>")
@auth.requires("parents.read")
def parent(parent_id: int):
    with unit_of_work() as s:
        found = _parent(s, parent_id)
        erased = staff_parents.is_erased(s, found)
        audit.record(s, action="parent.view", actor=auth.current(), subject_type="parent", subject_id=found.id)
        enrollments = staff_parents.enrollments(s, found)
        found_sanctions = sanctions.history(s, found.id)
        return render_template(
            "staff/parent.html",
            parent=found,
            erased=erased,
            suspended=staff_parents.is_suspended(s, found),
            consents=staff_parents.consents(s, found),
            current_policy=people.current_policy(s),
            enrollments=enrollments,
            sanctions=found_sanctions,
            raised=staff_parents.raised(s, found),
            barred=sanctions.bars(s, found.id),
            history=audit.about(s, "parent", found.id, limit=20) if auth.current().can("audit.read") else [],
            staff_names={m.id: m.name for m in staff.members(s)},
            event_titles={e.id: e.title for _, e in enrollments}
            | staff_events.titles(s, [x.event_id for x in found_sanctions if x.event_id]),
            confirm_form=ConfirmForm(formdata=None),
            sanction_form=SanctionForm(formdata=None),
            today=today_tokyo(),
        )


@bp.route("/parents/<int:parent_id>/correct", methods=["GET", "POST"])
@auth.requires("parents.write")
def parent_correct(parent_id: int):
    with unit_of_work() as s:
        found = live_parent(s, parent_id)
        form = ParentCorrectionForm(obj=found)
        if form.validate_on_submit():
            values = _checked(form)
            if values is not None:
                changed = staff_parents.correct(s, found, values)
                audit.record(
                    s,
                    action="parent.correct",
                    actor=auth.current(),
                    subject_type="parent",
                    subject_id=found.id,
                    details={"fields": changed},
                )
                flash("訂正しました。" if changed else "変更はありませんでした。")
                return redirect(url_for("staff.parent", parent_id=found.id))
        else:
            audit.record(
                s,
                action="parent.view",
                actor=auth.current(),
                subject_type="parent",
                subject_id=found.id,
                details={"page": "correct"},
            )
        return render_template("staff/parent_correct.html", parent=found, form=form)


def _checked(form: ParentCorrectionForm) -> dict | None:
    """The corrected values, normalised by the same rules as registration; None (with errors on the form) if not."""
    name = normalize.text(form.name.data)
    if registration_rules.name_problem(name):
        form.name.errors.append("氏名として使えない文字が含まれているか、長すぎます。")
    furigana = registration_rules.parse_furigana(form.furigana.data)
    if isinstance(furigana, registration_rules.Invalid):
        form.furigana.errors.append("ひらがな（またはカタカナ）で入力してください。")
    phone = registration_rules.parse_phone(form.phone.data)
    if isinstance(phone, registration_rules.Invalid):
        form.phone.errors.append("電話番号の形式が正しくありません。")
    if not (form.is_guardian.data or form.is_pregnant.data):
        form.is_guardian.errors.append("「保護者」「妊娠中」の少なくとも一方を選んでください。")
    if form.is_pregnant.data and form.due_month.data is None:
        form.due_month.errors.append("妊娠中の方は出産予定月を入力してください。")
    if any(field.errors for field in form):
        return None
    return {
        "name": name,
        "furigana": furigana,
        "phone": phone,
        "centre": form.centre.data,
        "is_guardian": form.is_guardian.data,
        "is_pregnant": form.is_pregnant.data,
        "due_month": form.due_month.data.replace(day=1) if form.is_pregnant.data else None,
    }


@bp.post("/parents/<int:parent_id>/suspend")
@auth.requires("parents.write")
def parent_suspend(parent_id: int):
    form = ConfirmForm()
    with unit_of_work() as s:
        found = live_parent(s, parent_id)
        if not form.validate_on_submit():
            flash("確認のチェックを入れてください。")
            return redirect(url_for("staff.parent", parent_id=found.id))
        dropped = staff_parents.suspend(s, found, people.current_policy(s))
        audit.record(
            s,
            action="parent.suspend",
            actor=auth.current(),
            subject_type="parent",
            subject_id=found.id,
            details={"messages_dropped": dropped},
        )
    flash("利用を停止しました。ご本人が改めて同意するまで、ボットはこの方の情報を使いません。")
    return redirect(url_for("staff.parent", parent_id=parent_id))


@bp.post("/parents/<int:parent_id>/export.json")
@auth.requires("parents.rights")
def parent_export_json(parent_id: int):
    with unit_of_work() as s:
        found = live_parent(s, parent_id)
        data = staff_parents.everything_held(s, found)
        audit.record(
            s,
            action="parent.export",
            actor=auth.current(),
            subject_type="parent",
            subject_id=found.id,
            details={"format": "json"},
        )
    return json_response(f"parent-{parent_id}-{today_tokyo():%Y%m%d}.json", data)


@bp.post("/parents/<int:parent_id>/export.csv")
@auth.requires("parents.rights")
def parent_export_csv(parent_id: int):
    with unit_of_work() as s:
        found = live_parent(s, parent_id)
        data = staff_parents.everything_held(s, found)
        audit.record(
            s,
            action="parent.export",
            actor=auth.current(),
            subject_type="parent",
            subject_id=found.id,
            details={"format": "csv"},
        )
    return csv_response(
        f"parent-{parent_id}-{today_tokyo():%Y%m%d}.csv", ["区分", "番号", "項目", "値"], _flatten(data)
    )


def _flatten(data: dict):
    """One row per value: (section, item number within the section, field, value)."""
    yield ["出力日時", "", "exported_at", data["exported_at"]]
    for section, label in EXPORT_SECTIONS.items():
        content = data[section]
        for index, item in enumerate(content if isinstance(content, list) else [content], start=1):
            for field, value in item.items():
                yield [label, index, field, _cell(value)]


def _cell(value):
    if isinstance(value, bool):
        return "はい" if value else "いいえ"
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return value


@bp.post("/parents/<int:parent_id>/erase")
@auth.requires("parents.rights")
def parent_erase(parent_id: int):
    form = ConfirmForm()
    with unit_of_work() as s:
        found = live_parent(s, parent_id)
        if not form.validate_on_submit():
            flash("確認のチェックを入れてください。")
            return redirect(url_for("staff.parent", parent_id=found.id))
        staff_parents.erase(s, found)
        audit.record(s, action="parent.erase", actor=auth.current(), subject_type="parent", subject_id=found.id)
    flash("個人を特定できる情報を削除しました。統計に必要な情報だけが残っています。")
    return redirect(url_for("staff.parent", parent_id=parent_id))
