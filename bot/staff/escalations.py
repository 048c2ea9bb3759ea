"""Lost-credential reports (policy 5-(3)) and equipment-loan requests (policy 4-(1)) in the console: the list, one
matter with its thread and history, and the staff actions — acknowledge (対応します), send an instruction to the
parent (指示), resolve with or without new join links, decide a loan. The operations are
``services.reports.operations``'s, the same the staff chat uses; each is recorded in the audit trail there."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, url_for

from bot.staff import auth, bp, records
from bot.staff.forms import InstructionForm, LoanDecisionForm, ResolveForm
from handlers.engine import DEFAULT_CONTACT_PHONE
from handlers.reports.rules import RECENTLY_RESOLVED
from services.reports import facts as report_facts
from services.reports import operations as report_service
from storage import audit, reports
from storage.clock import now
from storage.db import unit_of_work
from storage.models import Escalation, Parent

REFUSALS = {
    "not_found": "見つかりません。",
    "not_allowed": "この操作の権限がありません。",
    "resolved": "すでに解決済みです。",
    "taken": "ほかの職員がすでに対応しています。",
}


def _escalation(s, escalation_id: int) -> Escalation:
    return records.load(s, "escalation", escalation_id)


def _done(result: str, message: str, escalation_id: int):
    flash(message if result == "done" else REFUSALS.get(result, "操作できませんでした。"))
    return redirect(url_for("staff.escalation", escalation_id=escalation_id))


@bp.get("/escalations")
@auth.requires("reports.read")
def escalations():
    centres = auth.current().centres
    with unit_of_work() as s:
        rows = reports.visible(s, centres[0] if centres else None, resolved_since=now() - RECENTLY_RESOLVED, limit=300)
        return render_template(
            "staff/escalations.html", rows=report_facts.views(s, rows), moment=now(), recent_days=RECENTLY_RESOLVED.days
        )


@bp.get("/escalations/<int:escalation_id>")
@auth.requires("reports.read")
def escalation(escalation_id: int):
    with unit_of_work() as s:
        found = _escalation(s, escalation_id)
        info = report_facts.view(s, found)
        thread = reports.messages(s, [found.id])[found.id]
        audit.record(s, action="escalation.view", actor=auth.current(), subject_type="escalation", subject_id=found.id)
        return render_template(
            "staff/escalation.html",
            escalation=found,
            info=info,
            thread=thread,
            history=reports.history(s, found.id),
            parent=s.get(Parent, found.parent_id),
            authors=reports.staff_names(
                s, [m.staff_id for m in thread] + [h.actor_staff_id for h in reports.history(s, found.id)]
            ),
            instruction_form=InstructionForm(formdata=None),
            resolve_form=ResolveForm(formdata=None),
            loan_form=LoanDecisionForm(formdata=None),
            moment=now(),
        )


@bp.post("/escalations/<int:escalation_id>/acknowledge")
@auth.requires("reports.write")
def escalation_acknowledge(escalation_id: int):
    with unit_of_work() as s:
        _escalation(s, escalation_id)
        result = report_service.acknowledge(s, auth.current().member(s), escalation_id)
    return _done(result, "対応中にしました。ほかの当番の職員にも伝えます。", escalation_id)


@bp.post("/escalations/<int:escalation_id>/instruct")
@auth.requires("reports.write")
def escalation_instruct(escalation_id: int):
    form = InstructionForm()
    if not form.validate_on_submit():
        flash(" ".join(form.text.errors) or "入力してください。")
        return redirect(url_for("staff.escalation", escalation_id=escalation_id))
    with unit_of_work() as s:
        _escalation(s, escalation_id)
        result = report_service.send_instruction(s, auth.current().member(s), escalation_id, form.text.data.strip())
    return _done(result, "ご本人のトークにお送りします。", escalation_id)


@bp.post("/escalations/<int:escalation_id>/resolve")
@auth.requires("reports.write")
def escalation_resolve(escalation_id: int):
    form = ResolveForm()
    if not form.validate_on_submit():
        flash("解決のしかたを選んでください。")
        return redirect(url_for("staff.escalation", escalation_id=escalation_id))
    with unit_of_work() as s:
        _escalation(s, escalation_id)
        result = report_service.resolve(
            s,
            auth.current().member(s),
            escalation_id,
            send_links=form.links.data == "send",
            base_url=current_app.extensions["kosodate"].config.public_base_url,
        )
    return _done(result, "解決にしました。ご本人にお知らせします。", escalation_id)


@bp.post("/escalations/<int:escalation_id>/loan")
@auth.requires("reports.write")
def escalation_loan(escalation_id: int):
    form = LoanDecisionForm()
    if not form.validate_on_submit():
        flash(" ".join(e for f in form for e in f.errors) or "入力してください。")
        return redirect(url_for("staff.escalation", escalation_id=escalation_id))
    config = current_app.extensions["kosodate"].config
    with unit_of_work() as s:
        _escalation(s, escalation_id)
        result = report_service.decide_loan(
            s,
            auth.current().member(s),
            escalation_id,
            approved=form.decision.data == "approve",
            note=form.note.data.strip(),
            phone=config.contact_phone or DEFAULT_CONTACT_PHONE,
        )
    return _done(result, "決定をご本人にお知らせします。", escalation_id)
