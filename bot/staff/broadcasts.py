"""お知らせを送る: compose a message to a group of parents, see how many it reaches and how LINE shows it, send it now
or at a time (Japan time), have it approved by a second staff member when it goes to many, cancel it before it goes,
and read its delivery report.

The audience is counted here for the preview and resolved again when the message is released
(services/broadcasts.py); centre staff name only their centre's parents and events (events are loaded
through ``records.load``, so an id outside the actor's scope is a 404). Every step is in the audit trail, with the
segment and counts only.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import current_app, flash, redirect, render_template, url_for
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateTimeLocalField, RadioField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from bot.staff import auth, bp, labels, records
from bot.staff.forms import DATETIME_FORMAT, REQUIRED, ConfirmForm, choices
from services import broadcasts as broadcast_notices
from storage import audit, broadcasts, events, staff
from storage.broadcasts import Audience
from storage.clock import TOKYO, now, today_tokyo
from storage.db import unit_of_work
from storage.models import Broadcast
from storage.models.staff import CENTRES

AUDIENCE_LABELS = {
    "everyone": "友だち登録中の全員（全センター）",
    "centre": "センターの保護者",
    "age": "お子さんの年齢で選ぶ",
    "participants": "イベントの参加者（参加確定）",
    "waitlist": "イベントのキャンセル待ちの方",
}
AGE_LABELS = {"0": "0歳", "1": "1歳", "2": "2歳", "3plus": "3歳以上", "pregnant": "妊娠中"}
STATUS_LABELS = {
    "awaiting_approval": "承認待ち",
    "scheduled": "送信予定",
    "released": "送信済み",
    "cancelled": "取り消し",
}
REASON_LABELS = {"blocked": "ブロック中", "no_consent": "現在のポリシーに未同意", "opted_out": "お知らせを停止中"}
LINE_STATUS = {
    "unready": "LINEの集計はまだです（翌日以降に確定します）",
    "unavailable_for_privacy": "この日の送信数が20通未満のため、LINEは数を出していません",
    "out_of_service": "LINEの集計の対象外の日です",
}
ALL = "all"


class BroadcastForm(FlaskForm):
    text = TextAreaField("本文", [DataRequired(REQUIRED), Length(max=2000, message="2000字以内で入力してください。")])
    audience = RadioField("送り先", choices=choices(AUDIENCE_LABELS), default="centre")
    centre = SelectField("センター")
    age_band = SelectField("年齢（送る日の年齢。妊娠中は出産予定月がまだ先の方）", choices=choices(AGE_LABELS))
    event = SelectField("イベント（参加者・キャンセル待ちに送るとき）")
    card_event = SelectField("イベントのカードを付ける（任意）")
    image_url = StringField("画像のURL（任意。このサーバーの /static/ にあるJPEGかPNG）", [Optional(), Length(max=500)])
    timing = RadioField("送る日時", choices=choices({"now": "すぐに送る", "later": "日時を指定する"}), default="now")
    send_at = DateTimeLocalField("日時（日本時間）", format=DATETIME_FORMAT, validators=[Optional()])
    urgent = BooleanField("緊急：夜間・早朝（お休みの時間帯）でもすぐに届ける")
    preview = SubmitField("人数とプレビューを確認")
    send = SubmitField("この内容で送信する")


def _config():
    return current_app.extensions["kosodate"].config


def _event_label(event) -> str:
    return f"{labels.tokyo(event.starts_at)} {event.title}（{labels.CENTRE_SHORT[event.centre]}）"


def _form(s, actor: auth.Actor) -> BroadcastForm:
    form = BroadcastForm()
    if not actor.all_centres:
        form.audience.choices = choices({k: v for k, v in AUDIENCE_LABELS.items() if k != "everyone"})
    form.centre.choices = choices(
        ({ALL: "すべてのセンター"} if actor.all_centres else {})
        | {c: labels.CENTRE_LABELS[c] for c in CENTRES if actor.sees(c)}
    )
    named = {str(e.id): _event_label(e) for e in broadcasts.events_to_name(s, actor.centres)}
    form.event.choices = choices({"": "―"} | named)
    form.card_event.choices = choices({"": "付けない"} | named)
    if not actor.can("broadcasts.urgent"):
        del form.urgent
    return form


def _audience(s, form: BroadcastForm) -> Audience | None:
    """The audience the form names, within the actor's scope; None (with the field's error) when incomplete."""
    kind = form.audience.data
    if kind in ("participants", "waitlist"):
        if not form.event.data:
            form.event.errors = ["イベントを選んでください。"]
            return None
        event = records.load(s, "event", form.event.data)
        return Audience(kind, event.centre, None, event.id)
    centre = None if form.centre.data == ALL else form.centre.data
    if kind == "everyone":
        return Audience(kind)
    if kind == "centre" and centre is None:
        form.centre.errors = ["センターを選んでください。"]
        return None
    return Audience(kind, centre, form.age_band.data if kind == "age" else None)


def _send_at(form: BroadcastForm) -> datetime | None:
    if form.timing.data != "later":
        return now()
    if form.send_at.data is None:
        form.send_at.errors = ["日時を入力してください。"]
        return None
    moment = form.send_at.data.replace(tzinfo=TOKYO).astimezone(UTC)
    if moment <= now():
        form.send_at.errors = ["これから先の日時を入力してください。"]
        return None
    return moment


def _image_url(form: BroadcastForm) -> str | None:
    url = (form.image_url.data or "").strip()
    if not url:
        return None
    allowed = f"{_config().public_base_url}/static/"
    if not url.startswith(allowed) or ".." in url or not url.lower().endswith((".jpg", ".jpeg", ".png")):
        form.image_url.errors = [f"{allowed} で始まる、JPEGかPNGの画像のURLを入力してください。"]
        return None
    return url


def _draft(form: BroadcastForm, audience: Audience, image_url: str | None, send_at: datetime) -> Broadcast:
    """A broadcast not stored (the preview), or to be stored (sending)."""
    return Broadcast(
        centre=audience.centre,
        audience=audience.kind,
        age_band=audience.age_band,
        event_id=audience.event_id,
        text=form.text.data.strip(),
        card_event_id=int(form.card_event.data) if form.card_event.data else None,
        image_url=image_url,
        urgent=bool(form.urgent.data) if form.urgent else False,
        send_at=send_at,
        excluded={},
    )


@bp.get("/broadcasts")
@auth.requires("broadcasts.read")
def broadcasts_page():
    with unit_of_work() as s:
        found = broadcasts.listed(s, auth.current().centres)
        return render_template(
            "staff/broadcasts.html", broadcasts=found, status_labels=STATUS_LABELS, audience=_audience_text
        )


@bp.route("/broadcasts/new", methods=["GET", "POST"])
@auth.requires("broadcasts.write")
def broadcast_new():
    actor = auth.current()
    threshold = _config().broadcast_approval_threshold
    with unit_of_work() as s:
        form = _form(s, actor)
        counted = preview = None
        if form.validate_on_submit():
            audience, image_url, send_at = _audience(s, form), _image_url(form), _send_at(form)
            if form.card_event.data:
                records.load(s, "event", form.card_event.data)
            if audience is not None and send_at is not None and (image_url or not form.image_url.data):
                counted = broadcasts.count(s, audience)
                draft = _draft(form, audience, image_url, send_at)
                if form.send.data:
                    return _create(s, actor, draft, counted, threshold)
                preview = broadcast_notices.messages(s, draft, "ja")
        return render_template(
            "staff/broadcast_form.html",
            form=form,
            counted=counted,
            preview=preview,
            threshold=threshold,
            reason_labels=REASON_LABELS,
        )


def _create(s, actor: auth.Actor, draft: Broadcast, counted: broadcasts.Count, threshold: int):
    broadcast = broadcasts.create(
        s,
        audience=Audience.of(draft),
        text=draft.text,
        card_event_id=draft.card_event_id,
        image_url=draft.image_url,
        urgent=draft.urgent,
        send_at=draft.send_at,
        author_id=actor.id,
        estimated=counted.eligible,
        needs_approval=counted.eligible > threshold,
    )
    audit.record(
        s,
        action="broadcast.create",
        actor=actor,
        subject_type="broadcast",
        subject_id=broadcast.id,
        details=broadcasts.as_details(broadcast, status=broadcast.status),
    )
    if broadcast.status == "awaiting_approval":
        flash(f"送り先が{threshold}人を超えるため、ほかの職員の承認を待っています。承認されると送信します。")
    elif _release_if_due(s, broadcast, actor):
        flash("送信を始めました。届いた数はこのページで確認できます。")
    else:
        flash("送信を予約しました。送る前なら取り消せます。")
    return redirect(url_for("staff.broadcast", broadcast_id=broadcast.id))


def _release_if_due(s, broadcast: Broadcast, actor: auth.Actor) -> bool:
    if broadcast.status == "scheduled" and broadcast.send_at <= now():
        return broadcast_notices.release(s, broadcast, _config().broadcast_approval_threshold, actor) is not None
    return False


def _audience_text(broadcast: Broadcast, event_title: str | None = None) -> str:
    where = "全センター" if broadcast.centre is None else labels.CENTRE_LABELS.get(broadcast.centre, broadcast.centre)
    if broadcast.audience == "everyone":
        return AUDIENCE_LABELS["everyone"]
    if broadcast.audience == "age":
        return f"{where}・{AGE_LABELS.get(broadcast.age_band or '', '')}"
    if broadcast.audience in ("participants", "waitlist"):
        return f"{AUDIENCE_LABELS[broadcast.audience]}：{event_title or f'イベント {broadcast.event_id}'}"
    return f"{where}の保護者"


def _line_count(report: broadcasts.Report) -> list[tuple[str, str]]:
    """LINE's own count for each day the message went out (the whole channel's multicasts that day)."""
    gateway = current_app.extensions["kosodate"].gateway
    out = []
    for day in report.sent_on:
        answer = gateway.multicast_count(day) if day < today_tokyo() else ("unready", None)
        if answer is None:
            out.append((labels.tokyo_date(day), "LINEから答えがありませんでした（あとでもう一度開いてください）"))
        elif answer[0] == "ready":
            out.append((labels.tokyo_date(day), f"{answer[1]:,}通（この日のマルチキャスト全体）"))
        else:
            out.append((labels.tokyo_date(day), LINE_STATUS.get(answer[0], answer[0])))
    return out


@bp.get("/broadcasts/<int:broadcast_id>")
@auth.requires("broadcasts.read")
def broadcast(broadcast_id: int):
    actor = auth.current()
    with unit_of_work() as s:
        found = records.load(s, "broadcast", broadcast_id)
        event = events.get(s, found.event_id) if found.event_id else None
        report = broadcasts.report(s, found)
        return render_template(
            "staff/broadcast.html",
            broadcast=found,
            audience=_audience_text(found, event.title if event else None),
            report=report,
            line_counts=_line_count(report),
            preview=broadcast_notices.messages(s, found, "ja"),
            status_labels=STATUS_LABELS,
            reason_labels=REASON_LABELS,
            form=ConfirmForm(),
            staff_names={member.id: member.name for member in staff.members(s)},
            may_approve=(
                found.status == "awaiting_approval" and actor.can("broadcasts.write") and found.created_by != actor.id
            ),
            may_cancel=actor.can("broadcasts.write")
            and found.status != "cancelled"
            and (found.status != "released" or report.waiting > 0),
        )


@bp.post("/broadcasts/<int:broadcast_id>/approve")
@auth.requires("broadcasts.write")
def broadcast_approve(broadcast_id: int):
    actor = auth.current()
    with unit_of_work() as s:
        found = records.load(s, "broadcast", broadcast_id)
        refusal = broadcasts.approve(s, found, actor.id)
        if refusal == "own":
            flash("ご自分で作成したお知らせは承認できません。ほかの職員に承認を依頼してください。")
        elif refusal:
            flash("このお知らせは承認待ちではありません。")
        else:
            audit.record(
                s,
                action="broadcast.approve",
                actor=actor,
                subject_type="broadcast",
                subject_id=found.id,
                details=broadcasts.as_details(found),
            )
            flash(
                "承認しました。"
                + ("送信を始めました。" if _release_if_due(s, found, actor) else "予定の日時に送信します。")
            )
    return redirect(url_for("staff.broadcast", broadcast_id=broadcast_id))


@bp.post("/broadcasts/<int:broadcast_id>/cancel")
@auth.requires("broadcasts.write")
def broadcast_cancel(broadcast_id: int):
    actor = auth.current()
    form = ConfirmForm()
    with unit_of_work() as s:
        found = records.load(s, "broadcast", broadcast_id)
        if not form.validate_on_submit():
            flash("「確認しました」にチェックを入れてください。")
        elif broadcasts.cancel(s, found, actor.id):
            flash("すでに送信が終わっているため、取り消せません。")
        else:
            audit.record(
                s,
                action="broadcast.cancel",
                actor=actor,
                subject_type="broadcast",
                subject_id=found.id,
                details=broadcasts.as_details(found),
            )
            flash("お知らせを取り消しました。まだ届いていない方には送りません。")
    return redirect(url_for("staff.broadcast", broadcast_id=broadcast_id))
