"""Events: the list, creating (also as a weekly or monthly series, or as a copy), changing, publishing, cancelling.

Changes parents must hear about (publish, new time, cancel, more seats) go through ``services.events.operations``,
which plans the notices in the same transaction. Times are entered and shown in Japan time.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta

from flask import current_app, flash, redirect, render_template, request, url_for

from bot.staff import auth, bp, records
from bot.staff.forms import ConfirmForm, EventForm, NewEventForm, RotateForm
from services.events import operations as event_service
from services.reports import operations as report_service
from storage import audit, crypto, events, feedback, staff_events
from storage.clock import TOKYO, now, to_tokyo
from storage.db import unit_of_work
from storage.models import Event

DETAIL_FIELDS = (
    "centre",
    "kind",
    "title",
    "description",
    "capacity",
    "target_min_months",
    "target_max_months",
    "target_pregnant",
    "needs_approval",
    "conference_service",
    "join_opens_minutes",
)
TIME_FIELDS = ("starts_at", "ends_at", "applications_open_at", "applications_close_at")


def base_url() -> str:
    return current_app.extensions["kosodate"].config.public_base_url


def actor_label() -> str:
    return f"staff:{auth.current().id}"


def event_in_scope(s, event_id: int | str) -> Event:
    return records.load(s, "event", event_id)


def _aware(local: datetime) -> datetime:
    """A time typed in Japan time (naive, from datetime-local) as an aware UTC moment."""
    return local.replace(tzinfo=TOKYO).astimezone(UTC)


def _local(moment: datetime) -> datetime:
    return to_tokyo(moment).replace(tzinfo=None)


def _limit_centres(form: EventForm) -> None:
    actor = auth.current()
    if not actor.all_centres:
        form.centre.choices = [c for c in form.centre.choices if c.value == actor.centre]


def _prefill(form: EventForm, event: Event, shift: timedelta = timedelta(0)) -> None:
    for name in DETAIL_FIELDS:
        getattr(form, name).data = getattr(event, name)
    for name in TIME_FIELDS:
        getattr(form, name).data = _local(getattr(event, name) + shift)
    conference = events.conference(event)
    form.join_url.data, form.meeting_id.data = conference.join_url, conference.meeting_id


def _values(form: EventForm) -> dict:
    values = {name: getattr(form, name).data for name in DETAIL_FIELDS}
    values.update({name: _aware(getattr(form, name).data) for name in TIME_FIELDS})
    values.update(
        join_url=form.join_url.data.strip(),
        meeting_id=form.meeting_id.data.strip(),
        passcode=form.passcode.data or None,
    )
    values["description"] = values["description"] or ""
    return values


def _shifted(moment: datetime, repeat: str, n: int) -> datetime | None:
    """The n-th repetition of a time in Japan time: n weeks later, or the same day n months later (None when that
    month has no such day)."""
    local = to_tokyo(moment)
    if repeat == "weekly":
        return (local + timedelta(weeks=n)).astimezone(UTC)
    index = local.month - 1 + n
    year, month = local.year + index // 12, index % 12 + 1
    if local.day > calendar.monthrange(year, month)[1]:
        return None
    return local.replace(year=year, month=month).astimezone(UTC)


def series(values: dict, repeat: str, count: int) -> list[dict] | None:
    """The values of each event of a series; every time moves with the start. None if a month lacks the day."""
    if repeat == "none":
        return [values]
    out = []
    for n in range(count):
        start = _shifted(values["starts_at"], repeat, n)
        if start is None:
            return None
        delta = start - values["starts_at"]
        out.append({**values, **{name: values[name] + delta for name in TIME_FIELDS}})
    return out


# --- views -------------------------------------------------------------------------------------------------
@bp.get("/events", endpoint="events")
@auth.requires("events.read")
def events_list():
    past = request.args.get("past") == "1"
    moment = now()
    with unit_of_work() as s:
        rows = staff_events.listing(
            s, auth.current().centres, ended_before=moment if past else None, not_ended_at=None if past else moment
        )
        seats = events.seat_counts(s, [e.id for e in rows])
        return render_template("staff/events.html", rows=rows, seats=seats, past=past)


@bp.route("/events/new", methods=["GET", "POST"])
@auth.requires("events.write")
def event_new():
    form = NewEventForm()
    _limit_centres(form)
    if request.method == "GET":
        start = to_tokyo(now()).replace(hour=10, minute=0, second=0, microsecond=0) + timedelta(days=7)
        form.starts_at.data, form.ends_at.data = (
            start.replace(tzinfo=None),
            (start + timedelta(hours=1)).replace(tzinfo=None),
        )
        form.applications_open_at.data = _local(now()).replace(second=0, microsecond=0)
        form.applications_close_at.data = (start - timedelta(days=1)).replace(hour=17, tzinfo=None)
        form.centre.data = auth.current().centre
    if not form.validate_on_submit():
        return render_template("staff/event_form.html", form=form, event=None), 200 if request.method == "GET" else 400
    values = _values(form)
    with unit_of_work() as s:
        source = records.from_form(s, form.copy_of)
        if values["passcode"] is None and source is not None:
            values["passcode"] = crypto.unseal(source.passcode_sealed)
        planned = series(values, form.repeat.data, form.repeat_count.data)
        if planned is None:
            form.repeat.errors.append("その日がない月があります（29〜31日）。毎週にするか、日付を見直してください。")
            return render_template("staff/event_form.html", form=form, event=None), 400
        created = []
        for item in planned:
            event = events.create(s, **{**item, "passcode": item["passcode"] or ""}, created_by=actor_label())
            if form.publish.data:
                event_service.publish(s, event)
            audit.record(
                s,
                action="event.create",
                actor=auth.current(),
                subject_type="event",
                subject_id=event.id,
                details={
                    "series": len(planned),
                    "published": bool(form.publish.data),
                    **({"copy_of": source.id} if source is not None else {}),
                },
            )
            created.append(event)
    flash(
        f"イベントを{len(created)}件作成しました。"
        + ("" if form.publish.data else "公開するまで保護者には表示されません。")
    )
    return redirect(url_for("staff.event", event_id=created[0].id))


@bp.get("/events/<int:event_id>/copy")
@auth.requires("events.write")
def event_copy(event_id: int):
    with unit_of_work() as s:
        source = event_in_scope(s, event_id)
        form = NewEventForm(formdata=None)
        _limit_centres(form)
        _prefill(form, source, shift=timedelta(weeks=1))
        form.copy_of.data = str(source.id)
        return render_template("staff/event_form.html", form=form, event=None, copy_of=source)


@bp.get("/events/<int:event_id>")
@auth.requires("events.read")
def event(event_id: int):
    with unit_of_work() as s:
        found = event_in_scope(s, event_id)
        seated, waiting = events.seat_counts(s, [found.id])[found.id]
        # Opened from a loss report about this event: the rotation below is recorded in that report's history.
        report = records.find(s, "escalation", request.args.get("escalation"), within=found)
        return render_template(
            "staff/event.html",
            event=found,
            seated=seated,
            waiting=waiting,
            moment=now(),
            conference=events.conference(found) if auth.current().can("events.write") else None,
            feedback=feedback.summary(s, found.id),
            rotate_form=RotateForm(formdata=None, escalation_id=str(report.id) if report else ""),
            confirm_form=ConfirmForm(formdata=None),
        )


@bp.route("/events/<int:event_id>/edit", methods=["GET", "POST"])
@auth.requires("events.write")
def event_edit(event_id: int):
    with unit_of_work() as s:
        found = event_in_scope(s, event_id)
        if found.status in ("cancelled", "finished"):
            flash("中止・終了したイベントは変更できません。")
            return redirect(url_for("staff.event", event_id=found.id))
        form = EventForm()
        _limit_centres(form)
        if request.method == "GET":
            _prefill(form, found)
        if not form.validate_on_submit():
            return render_template(
                "staff/event_form.html", form=form, event=found
            ), 200 if request.method == "GET" else 400
        values = _values(form)
        seated, _ = events.seat_counts(s, [found.id])[found.id]
        if values["capacity"] < seated:
            form.capacity.errors.append(f"すでに{seated}人が参加・承認待ちです。定員はそれより少なくできません。")
            return render_template("staff/event_form.html", form=form, event=found), 400
        told = event_service.reschedule(s, found, values["starts_at"], values["ends_at"])
        more_seats = values["capacity"] > found.capacity
        changed = staff_events.update_details(
            found, {k: v for k, v in values.items() if k not in ("starts_at", "ends_at")}
        )
        if more_seats:
            event_service.fill_seats(s, found, base_url=base_url())
        if told:
            changed.append("time")
        audit.record(
            s,
            action="event.update",
            actor=auth.current(),
            subject_type="event",
            subject_id=found.id,
            details={"fields": changed, "notified": told},
        )
    flash("変更を保存しました。" + (f"日時の変更を{told}人にお知らせします。" if told else ""))
    return redirect(url_for("staff.event", event_id=event_id))


@bp.post("/events/<int:event_id>/rotate")
@auth.requires("events.write")
def event_rotate(event_id: int):
    form = RotateForm()
    with unit_of_work() as s:
        found = event_in_scope(s, event_id)
        if not form.validate_on_submit():
            flash(" ".join(e for f in form for e in f.errors))
            return redirect(url_for("staff.event", event_id=event_id))
        report = records.from_form(s, form.escalation_id, within=found)
        planned = report_service.rotate_event_credentials(
            s,
            found.id,
            form.join_url.data.strip(),
            form.passcode.data,
            auth.current().member(s),
            base_url=base_url(),
            escalation_id=report.id if report else None,
        )
    flash(
        "変更できませんでした（公開中で終わっていないイベントだけ、前と違う内容に変更できます）。"
        if planned is None
        else f"参加URLとパスコードを変更し、{planned}人に新しい参加用リンクを送ります。"
    )
    return redirect(url_for("staff.event", event_id=event_id))


@bp.post("/events/<int:event_id>/publish")
@auth.requires("events.write")
def event_publish(event_id: int):
    with unit_of_work() as s:
        found = event_in_scope(s, event_id)
        if found.status != "draft":
            flash("下書きのイベントだけを公開できます。")
            return redirect(url_for("staff.event", event_id=event_id))
        announced = event_service.publish(s, found)
        audit.record(
            s,
            action="event.publish",
            actor=auth.current(),
            subject_type="event",
            subject_id=found.id,
            details={"announced": announced},
        )
    flash(f"公開しました。お知らせを希望した{announced}人に通知します。")
    return redirect(url_for("staff.event", event_id=event_id))


@bp.post("/events/<int:event_id>/cancel")
@auth.requires("events.write")
def event_cancel(event_id: int):
    form = ConfirmForm()
    with unit_of_work() as s:
        found = event_in_scope(s, event_id)
        if not form.validate_on_submit():
            flash("確認のチェックを入れてください。")
            return redirect(url_for("staff.event", event_id=event_id))
        told = event_service.cancel_event(s, found)
        audit.record(
            s,
            action="event.cancel",
            actor=auth.current(),
            subject_type="event",
            subject_id=found.id,
            details={"notified": told},
        )
    flash(f"中止にしました。申し込んでいた{told}人にお知らせします。")
    return redirect(url_for("staff.event", event_id=event_id))
