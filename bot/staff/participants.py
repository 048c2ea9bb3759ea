"""One event's participants and waitlist: approve or decline, re-send a lost link, mark attendance after the event,
see what each participant was sent, export the list as CSV. Showing or exporting the list is audited."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for

from bot.staff import auth, bp, records
from bot.staff.downloads import csv_response
from bot.staff.events import actor_label, base_url, event_in_scope
from bot.staff.labels import ENROLLMENT_LABELS, tokyo
from handlers.registration.rules import format_phone
from services.events import operations as event_service
from storage import audit, feedback, join_links, outbox, staff_events
from storage.clock import now
from storage.db import unit_of_work
from storage.models import Enrollment

ATTENDANCE = {"present": True, "absent": False, "": None}
# One radio group per participant, named by the enrollment: "attendance-<enrollment id>".
ATTENDANCE_FIELD = "attendance-"


def _enrollment(s, event_id: int, enrollment_id: int) -> Enrollment:
    return records.load(s, "enrollment", enrollment_id, within=event_in_scope(s, event_id))


def _attendance_marks(s, event) -> list[tuple[Enrollment, str]]:
    """The enrollments the form names, each loaded like any other id (404 for one not of this event), and the
    value chosen for it."""
    marks = [
        (records.load(s, "enrollment", key.removeprefix(ATTENDANCE_FIELD), within=event), value)
        for key, value in request.form.items()
        if key.startswith(ATTENDANCE_FIELD)
    ]
    return sorted(marks, key=lambda mark: mark[0].id)


def _positions(roster) -> dict[int, int]:
    waiting = [en.id for en, _ in roster if en.status == "waitlisted"]
    return {eid: n for n, eid in enumerate(waiting, start=1)}


@bp.get("/events/<int:event_id>/participants")
@auth.requires("participants.read")
def event_participants(event_id: int):
    with unit_of_work() as s:
        event = event_in_scope(s, event_id)
        roster = staff_events.roster(s, event.id)
        subjects = staff_events.message_subjects(s, event.id)
        by_subject = {}
        for delivery in outbox.deliveries(s, [x for xs in subjects.values() for x in xs]):
            by_subject.setdefault(delivery.subject, []).append(delivery)
        sent = {eid: [d for x in xs for d in by_subject.get(x, [])] for eid, xs in subjects.items()}
        audit.record(
            s,
            action="event.participants",
            actor=auth.current(),
            subject_type="event",
            subject_id=event.id,
            details={"rows": len(roster)},
        )
        return render_template(
            "staff/participants.html",
            event=event,
            roster=roster,
            positions=_positions(roster),
            sent=sent,
            usage={u.enrollment_id: u for u in join_links.usage(s, event.id)},
            attendance=staff_events.attendance(s, event.id),
            started=event.starts_at <= now(),
            comments=feedback.summary(s, event.id).comments,
        )


@bp.get("/events/<int:event_id>/participants.csv")
@auth.requires("participants.read")
def event_participants_csv(event_id: int):
    with unit_of_work() as s:
        event = event_in_scope(s, event_id)
        roster = staff_events.roster(s, event.id)
        marks = staff_events.attendance(s, event.id)
        positions = _positions(roster)
        rows = [
            [
                n,
                ENROLLMENT_LABELS.get(en.status, en.status),
                parent.name,
                parent.furigana,
                format_phone(parent.phone),
                tokyo(en.applied_at),
                positions.get(en.id, ""),
                {True: "出席", False: "欠席"}.get(marks[en.id].attended, "") if en.id in marks else "",
            ]
            for n, (en, parent) in enumerate(roster, start=1)
        ]
        audit.record(
            s,
            action="event.export",
            actor=auth.current(),
            subject_type="event",
            subject_id=event.id,
            details={"rows": len(rows)},
        )
    return csv_response(
        f"event-{event_id}-participants.csv",
        ["番号", "状態", "氏名", "ふりがな", "電話番号", "申込日時", "キャンセル待ち順", "出欠"],
        rows,
    )


@bp.post("/events/<int:event_id>/enrollments/<int:enrollment_id>/approve")
@auth.requires("participants.write")
def enrollment_approve(event_id: int, enrollment_id: int):
    with unit_of_work() as s:
        found = _enrollment(s, event_id, enrollment_id)
        done = event_service.approve(s, found, decided_by=actor_label(), base_url=base_url())
        if done:
            audit.record(
                s,
                action="enrollment.approve",
                actor=auth.current(),
                subject_type="enrollment",
                subject_id=found.id,
                details={"event": event_id},
            )
    flash("承認しました。参加用リンクをお送りします。" if done else "この申し込みは承認待ちではありません。")
    return redirect(url_for("staff.event_participants", event_id=event_id))


@bp.post("/events/<int:event_id>/enrollments/<int:enrollment_id>/decline")
@auth.requires("participants.write")
def enrollment_decline(event_id: int, enrollment_id: int):
    with unit_of_work() as s:
        found = _enrollment(s, event_id, enrollment_id)
        done = event_service.decline(s, found, decided_by=actor_label(), base_url=base_url())
        if done:
            audit.record(
                s,
                action="enrollment.decline",
                actor=auth.current(),
                subject_type="enrollment",
                subject_id=found.id,
                details={"event": event_id},
            )
    flash("お断りしました。ご本人にお知らせします。" if done else "この申し込みはお断りできる状態ではありません。")
    return redirect(url_for("staff.event_participants", event_id=event_id))


@bp.post("/events/<int:event_id>/enrollments/<int:enrollment_id>/reissue")
@auth.requires("participants.write")
def enrollment_reissue(event_id: int, enrollment_id: int):
    with unit_of_work() as s:
        found = _enrollment(s, event_id, enrollment_id)
        done = event_service.reissue_link(s, found, reason="staff", base_url=base_url())
        if done:
            audit.record(
                s,
                action="enrollment.reissue_link",
                actor=auth.current(),
                subject_type="enrollment",
                subject_id=found.id,
                details={"event": event_id},
            )
    flash("前のリンクを無効にし、新しい参加用リンクをお送りします。" if done else "参加確定の方にだけ送り直せます。")
    return redirect(url_for("staff.event_participants", event_id=event_id))


@bp.post("/events/<int:event_id>/attendance")
@auth.requires("participants.write")
def event_attendance(event_id: int):
    with unit_of_work() as s:
        event = event_in_scope(s, event_id)
        if event.starts_at > now():
            flash("出欠はイベントの開始後に記録できます。")
            return redirect(url_for("staff.event_participants", event_id=event_id))
        changed = 0
        for enrollment, value in _attendance_marks(s, event):
            if enrollment.status != "confirmed" or value not in ATTENDANCE:
                continue
            changed += staff_events.mark_attendance(s, enrollment, ATTENDANCE[value], auth.current().id)
        audit.record(
            s,
            action="event.attendance",
            actor=auth.current(),
            subject_type="event",
            subject_id=event.id,
            details={"changed": changed},
        )
    flash(f"出欠を記録しました（{changed}件の変更）。")
    return redirect(url_for("staff.event_participants", event_id=event_id))
