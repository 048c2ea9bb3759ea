"""今日: what needs attention now — open lost-credential reports and loan requests with their age, applications
waiting for a decision, today's and the coming events of one's centres."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from flask import redirect, render_template, url_for

from bot.staff import auth, bp
from storage import events, reports, staff_events
from storage.clock import TOKYO, now, today_tokyo
from storage.db import unit_of_work

UPCOMING_DAYS = 14


@bp.get("/")
@auth.requires("today")
def home():
    return redirect(url_for("staff.today"))


@bp.get("/today")
@auth.requires("today")
def today():
    day = today_tokyo()
    start = datetime.combine(day, time(), TOKYO)
    tomorrow = start + timedelta(days=1)
    centres = auth.current().centres
    with unit_of_work() as s:
        todays = staff_events.between(s, start, tomorrow, centres)
        coming = staff_events.between(s, tomorrow, tomorrow + timedelta(days=UPCOMING_DAYS), centres)
        seats = events.seat_counts(s, [e.id for e in todays + coming])
        unresolved = reports.visible(s, centres[0] if centres else None, resolved_since=now(), limit=200)
        return render_template(
            "staff/today.html",
            day=day,
            todays=todays,
            coming=coming,
            seats=seats,
            moment=now(),
            waiting=staff_events.waiting_for_decision(s, centres, now()),
            upcoming_days=UPCOMING_DAYS,
            escalations=[e for e in unresolved if e.kind == "lost_credentials"],
            loans=[e for e in unresolved if e.kind == "equipment_loan"],
        )
