"""The audit trail, for division administrators: filter, page, export. There is nothing to edit, by design.

Filters travel in the query string: they are staff ids, action names, record ids and dates, never personal data.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from flask import render_template, request

from bot.staff import auth, bp
from bot.staff.downloads import csv_response
from bot.staff.labels import ACTION_LABELS, audit_details, tokyo
from storage import audit, staff
from storage.clock import TOKYO, today_tokyo
from storage.db import unit_of_work

PAGE = 100


def _day(name: str) -> date | None:
    try:
        return date.fromisoformat(request.args.get(name, ""))
    except ValueError:
        return None


def _filter() -> audit.Filter:
    actor = request.args.get("actor", "")
    since, until = _day("from"), _day("to")
    return audit.Filter(
        actor_staff_id=int(actor) if actor.isdigit() else None,
        action_prefix=request.args.get("action") or None,
        subject_type=request.args.get("subject_type") or None,
        subject_id=request.args.get("subject_id") or None,
        since=datetime.combine(since, time(), TOKYO) if since else None,
        until=datetime.combine(until + timedelta(days=1), time(), TOKYO) if until else None,
    )


@bp.get("/audit")
@auth.requires("audit.read")
def audit_log():
    flt = _filter()
    asked = request.args.get("page", "")
    page = int(asked) if asked.isdigit() and int(asked) > 0 else 1
    with unit_of_work() as s:
        total = audit.count(s, flt)
        page = min(page, max(1, -(-total // PAGE)))  # beyond the last page: the last (an offset the database holds)
        return render_template(
            "staff/audit.html",
            events=audit.search(s, flt, limit=PAGE, offset=(page - 1) * PAGE),
            total=total,
            page=page,
            pages=max(1, -(-total // PAGE)),
            members={m.id: m for m in staff.members(s)},
            actions=audit.actions(s),
            args=request.args,
            today=today_tokyo(),
        )


@bp.get("/audit/export.csv")
@auth.requires("audit.read")
def audit_export():
    flt = _filter()
    with unit_of_work() as s:
        events = audit.search(s, flt, limit=None)
        names = {m.id: m.name for m in staff.members(s)}
        audit.record(s, action="audit.export", actor=auth.current(), details={"rows": len(events)})
    rows = (
        [
            e.id,
            tokyo(e.at),
            names.get(e.actor_staff_id, e.actor_label),
            e.action,
            ACTION_LABELS.get(e.action, ""),
            e.subject_type or "",
            e.subject_id or "",
            audit_details(e.details),
        ]
        for e in events
    )
    return csv_response(
        f"audit-{today_tokyo():%Y%m%d}.csv",
        ["番号", "日時", "操作者", "操作", "操作（説明）", "対象の種類", "対象ID", "詳細"],
        rows,
    )
