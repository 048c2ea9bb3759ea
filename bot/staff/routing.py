"""当番・通知先: per centre, who is on duty now and next, the duty rota (weekly slots, dated exceptions, public
holidays), the manual 当番 overrides, and the e-mail addresses and webhooks escalations go to. Staff of a centre
edit its rota; only administrators edit addresses (a webhook URL is a credential). Every change is audited.

Also the red banner every page shows to staff who may read reports, when an escalation filed now would reach
nobody (storage/routing.py ``unreachable_centres``).
"""

from __future__ import annotations

from datetime import timedelta

from flask import abort, current_app, flash, g, redirect, render_template, url_for

from bot.staff import auth, bp
from bot.staff.labels import CENTRE_LABELS
from bot.staff.routing_forms import (
    CHANNEL_LABELS,
    EXCEPTION_LABELS,
    OVERRIDE_LABELS,
    WEEKDAYS,
    ExceptionForm,
    OverrideForm,
    RouteForm,
    SlotForm,
    clock_text,
    minutes,
    people_choices,
)
from runtime.notify import division_defaults
from storage import audit, health, rota, routing
from storage.clock import now, to_tokyo, today_tokyo
from storage.db import unit_of_work
from storage.models.staff import CENTRES

HOLIDAYS_SHOWN = timedelta(days=90)


def _defaults() -> routing.Defaults:
    return division_defaults(current_app.extensions["kosodate"].config)


@bp.context_processor
def unreachable_banner():
    """The centres (within the actor's scope) an escalation would reach nobody at: shown in red on every page."""
    actor = g.get("staff_actor")
    if actor is None or not actor.can("reports.read"):
        return {}
    with health.reading() as s:  # a snapshot: the page's own transaction may hold SQLite's write lock
        found = routing.unreachable_centres(s, now(), _defaults())
    return {"unreachable_centres": [CENTRE_LABELS[c] for c in found if actor.sees(c)]}


def _centre(centre: str) -> str:
    if centre not in CENTRES:
        abort(404)
    auth.in_scope(centre)
    return centre


def _people(s, centre: str) -> list[tuple[int, str]]:
    return [(m.id, f"{m.name}（{CENTRE_LABELS[m.centre]}）") for m in rota.eligible(s, centre)]


def _forms(s, centre: str, **given):
    people = _people(s, centre)
    slot = given.get("slot") or SlotForm(formdata=None)
    exception = given.get("exception") or ExceptionForm(formdata=None)
    override = given.get("override") or OverrideForm(formdata=None)
    slot.staff_id.choices = override.staff_id.choices = people_choices(people)
    exception.staff_id.choices = exception.replaces_id.choices = people_choices(people, blank=True)
    return {
        "route_form": given.get("route") or RouteForm(formdata=None),
        "slot_form": slot,
        "exception_form": exception,
        "override_form": override,
    }


def _page(s, centre: str, status: int = 200, **given):
    moment = now()
    duty = rota.load(s, moment)
    today = today_tokyo()
    config = current_app.extensions["kosodate"].config
    names = {m.id: m.name for m in rota.eligible(s, centre)} | {m.id: m.name for m in duty.members.values()}
    holidays = [
        (today + timedelta(days=n), rota.holiday_name(today + timedelta(days=n)))
        for n in range(HOLIDAYS_SHOWN.days)
        if rota.holiday_name(today + timedelta(days=n))
    ]
    return render_template(
        "staff/routing.html",
        centre=centre,
        centres=[c for c in CENTRES if auth.current().sees(c)],
        on_duty=duty.on_duty(centre, moment),
        next_on_duty=duty.next_on_duty(centre, moment),
        routes=routing.routes(s, centre),
        environment=centre == rota.DIVISION and division_defaults(config),
        slots=rota.slots(s, centre),
        exceptions=rota.exceptions(s, centre, today),
        holidays=holidays,
        overrides=rota.overrides(s, centre),
        names=names,
        weekdays=WEEKDAYS,
        clock_text=clock_text,
        channel_labels=CHANNEL_LABELS,
        exception_labels=EXCEPTION_LABELS,
        override_labels=OVERRIDE_LABELS,
        to_tokyo=to_tokyo,
        **_forms(s, centre, **given),
    ), status


def _back(centre: str, message: str):
    flash(message)
    return redirect(url_for("staff.routing_centre", centre=centre))


def _record(s, action: str, centre: str, subject_id: int, **details) -> None:
    audit.record(
        s,
        action=action,
        actor=auth.current(),
        subject_type="routing",
        subject_id=subject_id,
        details={"centre": centre, **details},
    )


@bp.get("/routing")
@auth.requires("routing.read")
def routing_page():
    actor = auth.current()
    return redirect(url_for("staff.routing_centre", centre=rota.DIVISION if actor.all_centres else actor.centre))


@bp.get("/routing/<centre>")
@auth.requires("routing.read")
def routing_centre(centre: str):
    with unit_of_work() as s:
        return _page(s, _centre(centre))


# --- addresses (administrators) ------------------------------------------------------------------------------------
@bp.post("/routing/<centre>/routes")
@auth.requires("routing.write")
def routing_route_add(centre: str):
    form = RouteForm()
    with unit_of_work() as s:
        _centre(centre)
        if form.validate_on_submit():
            address = form.address.data.strip()
            problem = routing.address_problem(form.channel.data, address)
            if problem is None and any(
                r.channel == form.channel.data and r.address == address for r in routing.routes(s, centre)
            ):
                problem = "この通知先はすでに登録されています。"
            if problem is None:
                added = routing.add_route(s, centre, form.channel.data, address, by=auth.current().id)
                _record(s, "routing.route_added", centre, added.id, channel=added.channel)
                return _back(centre, "通知先を追加しました。")
            form.address.errors.append(problem)
        return _page(s, centre, 400, route=form)


@bp.post("/routing/<centre>/routes/<int:route_id>/remove")
@auth.requires("routing.write")
def routing_route_remove(centre: str, route_id: int):
    with unit_of_work() as s:
        removed = routing.remove_route(s, _centre(centre), route_id)
        if removed is None:
            abort(404)
        _record(s, "routing.route_removed", centre, removed.id, channel=removed.channel)
    return _back(centre, "通知先を削除しました。")


# --- the rota (staff of the centre) ---------------------------------------------------------------------------------
@bp.post("/routing/<centre>/slots")
@auth.requires("rota.write")
def routing_slot_add(centre: str):
    form = SlotForm()
    with unit_of_work() as s:
        _centre(centre)
        form.staff_id.choices = people_choices(_people(s, centre))
        if form.validate_on_submit():
            starts, ends = minutes(form.starts.data), minutes(form.ends.data)
            problem = rota.slot_problem(form.weekdays.data or [], starts, ends)
            if problem is None:
                added = rota.add_slots(s, centre, form.staff_id.data, form.weekdays.data, starts, ends)
                _record(
                    s,
                    "rota.slot_added",
                    centre,
                    form.staff_id.data,
                    weekdays=[a.weekday for a in added],
                    hours=f"{form.starts.data}-{form.ends.data}",
                )
                return _back(centre, "当番表に追加しました。")
            form.weekdays.errors = [*form.weekdays.errors, problem]
        return _page(s, centre, 400, slot=form)


@bp.post("/routing/<centre>/slots/<int:slot_id>/remove")
@auth.requires("rota.write")
def routing_slot_remove(centre: str, slot_id: int):
    with unit_of_work() as s:
        removed = rota.remove_slot(s, _centre(centre), slot_id)
        if removed is None:
            abort(404)
        _record(s, "rota.slot_removed", centre, removed.staff_id, weekday=removed.weekday)
    return _back(centre, "当番表から外しました。")


@bp.post("/routing/<centre>/exceptions")
@auth.requires("rota.write")
def routing_exception_add(centre: str):
    form = ExceptionForm()
    with unit_of_work() as s:
        _centre(centre)
        form.staff_id.choices = form.replaces_id.choices = people_choices(_people(s, centre), blank=True)
        if form.validate_on_submit():
            substitute = form.kind.data == "substitute"
            staff_id, replaces_id = (
                (form.staff_id.data or None, form.replaces_id.data or None) if substitute else (None, None)
            )
            if form.day.data < today_tokyo():
                form.day.errors.append("今日以降の日付を選んでください。")
            elif substitute and not (staff_id and replaces_id and staff_id != replaces_id):
                form.staff_id.errors.append("休む職員と、代わりに入る職員を選んでください。")
            else:
                row = rota.add_exception(
                    s, centre, form.day.data, form.kind.data, staff_id=staff_id, replaces_id=replaces_id
                )
                _record(s, "rota.exception_added", centre, row.id, day=row.day.isoformat(), kind=row.kind)
                return _back(centre, "例外の日を登録しました。")
        return _page(s, centre, 400, exception=form)


@bp.post("/routing/<centre>/exceptions/<int:exception_id>/remove")
@auth.requires("rota.write")
def routing_exception_remove(centre: str, exception_id: int):
    with unit_of_work() as s:
        removed = rota.remove_exception(s, _centre(centre), exception_id)
        if removed is None:
            abort(404)
        _record(s, "rota.exception_removed", centre, removed.id, day=removed.day.isoformat(), kind=removed.kind)
    return _back(centre, "例外の日を削除しました。")


@bp.post("/routing/<centre>/overrides")
@auth.requires("rota.write")
def routing_override(centre: str):
    form = OverrideForm()
    with unit_of_work() as s:
        _centre(centre)
        form.staff_id.choices = people_choices(_people(s, centre))
        if not form.validate_on_submit():
            return _page(s, centre, 400, override=form)
        member = next(m for m in rota.eligible(s, centre) if m.id == form.staff_id.data)
        value = {"rota": None, "on": True, "off": False}[form.value.data]
        if rota.set_override(member, value):
            audit.record(
                s,
                action="staff.on_duty",
                actor=auth.current(),
                subject_type="staff",
                subject_id=member.id,
                details={"on": form.value.data},
            )
    return _back(centre, f"当番を「{OVERRIDE_LABELS[form.value.data]}」にしました。")
