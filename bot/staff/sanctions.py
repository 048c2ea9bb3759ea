"""Sanctions under policy 6: remove a participant from an event (強制退去 — their join link dies at once), refuse
further participation until a date or indefinitely, lift a bar. The parent is told in the chat; all is audited."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, url_for

from bot.staff import auth, bp, records, sanction_notices
from bot.staff.events import actor_label, event_in_scope
from bot.staff.forms import RemovalForm, SanctionForm
from bot.staff.parents import live_parent
from handlers.engine import DEFAULT_CONTACT_PHONE
from services.events import operations as event_service
from storage import audit, enrollments, join_links, sanctions, staff_parents
from storage.db import unit_of_work
from storage.models import Sanction


def _phone() -> str:
    return current_app.extensions["kosodate"].config.contact_phone or DEFAULT_CONTACT_PHONE


def _impose(s, parent_id: int, form: SanctionForm, event_id: int | None) -> Sanction:
    return sanctions.impose(
        s,
        parent_id,
        policy_items=form.policy_items.data,
        created_by=actor_label(),
        note=form.note.data or "",
        event_id=event_id,
        until=form.until.data if event_id is None else None,
    )


@bp.route("/events/<int:event_id>/enrollments/<int:enrollment_id>/remove", methods=["GET", "POST"])
@auth.requires("sanctions.write")
def enrollment_remove(event_id: int, enrollment_id: int):
    form = RemovalForm()
    with unit_of_work() as s:
        event = event_in_scope(s, event_id)
        enrollment = records.load(s, "enrollment", enrollment_id, within=event)
        # The event's centre decides here: a parent registered with another centre may take part in its events.
        parent = enrollment.parent
        if staff_parents.is_erased(s, parent):
            abort(404)
        if not form.validate_on_submit():
            return render_template(
                "staff/remove.html", form=form, event=event, parent=parent, enrollment=enrollment
            ), 200 if not form.is_submitted() else 400
        revoked = join_links.revoke(s, enrollment.id, "removed")
        # The seat goes to the next person waiting; the removed parent is told by the removal notice below.
        enrollments.withdraw(s, enrollment)
        event_service.fill_seats(s, event, base_url=current_app.extensions["kosodate"].config.public_base_url)
        removal = _impose(s, parent.id, form, event.id)
        bar = _impose(s, parent.id, form, None) if form.bar_future.data else None
        sanction_notices.plan(s, parent=parent, sanction=removal, removed_from=event, bar=bar, phone=_phone())
        audit.record(
            s,
            action="sanction.remove",
            actor=auth.current(),
            subject_type="parent",
            subject_id=parent.id,
            details={
                "event": event.id,
                "sanction": removal.id,
                "bar": bar.id if bar else None,
                "items": removal.policy_items,
                "links_revoked": revoked,
            },
        )
    flash("退去させました。参加用リンクは無効になり、ご本人にお知らせします。")
    return redirect(url_for("staff.event_participants", event_id=event_id))


@bp.post("/parents/<int:parent_id>/bar")
@auth.requires("sanctions.write")
def parent_bar(parent_id: int):
    form = SanctionForm()
    with unit_of_work() as s:
        parent = live_parent(s, parent_id)
        if not form.validate_on_submit():
            flash(" ".join(e for f in form for e in f.errors) or "入力を確認してください。")
            return redirect(url_for("staff.parent", parent_id=parent_id))
        bar = _impose(s, parent.id, form, None)
        sanction_notices.plan(s, parent=parent, sanction=bar, removed_from=None, bar=bar, phone=_phone())
        audit.record(
            s,
            action="sanction.bar",
            actor=auth.current(),
            subject_type="parent",
            subject_id=parent.id,
            details={
                "sanction": bar.id,
                "items": bar.policy_items,
                "until": bar.until.isoformat() if bar.until else "indefinite",
            },
        )
    flash("以後の参加をお断りする記録をしました。ご本人にお知らせします。")
    return redirect(url_for("staff.parent", parent_id=parent_id))


@bp.post("/sanctions/<int:sanction_id>/lift")
@auth.requires("sanctions.write")
def sanction_lift(sanction_id: int):
    with unit_of_work() as s:
        sanction = records.load(s, "sanction", sanction_id)
        if sanction.lifted_at is None:
            sanctions.lift(s, sanction.id, lifted_by=actor_label())
            audit.record(
                s,
                action="sanction.lift",
                actor=auth.current(),
                subject_type="parent",
                subject_id=sanction.parent_id,
                details={"sanction": sanction.id},
            )
    flash("参加制限を解除しました。")
    return redirect(url_for("staff.parent", parent_id=sanction.parent_id))
