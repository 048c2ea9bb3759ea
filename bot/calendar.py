"""「カレンダーに追加」: an .ics file for a confirmed application at ``/c/<token>.ics`` (an unguessable address per
application). It carries the time, title and centre, never the join details: the personal join page stays the only
way in. The UID is stable and SEQUENCE is the event's version, so a calendar that re-reads it follows a new time
or a cancellation.
"""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

import icalendar
from flask import Blueprint, Response, abort, current_app

from handlers.events import views
from handlers.events.rules import EventInfo
from handlers.texts import Catalog
from services.events.facts import info
from storage import join_links
from storage.clock import now
from storage.db import unit_of_work
from storage.models import LineUser

bp = Blueprint("calendar", __name__)
TOKEN = re.compile(r"^[A-Za-z0-9_-]{32,64}$")
ALARM_BEFORE = timedelta(minutes=30)

ICS = Catalog(
    {
        "ja": {
            "location": "オンライン（参加用リンクはLINEでお送りしています）",
            "join": "参加方法は、LINEで届いた参加用ページで、開始{minutes}分前から表示されます。",
            "rules": "録画・録音・撮影やSNSへの投稿はしないでください。参加用リンクはほかの人に渡さないでください。",
            "alarm": "まもなく「{title}」が始まります",
        },
        "en": {
            "location": "Online (your join link is in LINE)",
            "join": "Your personal join page (sent in LINE) shows how to join from {minutes} minutes before the start.",
            "rules": "Please do not record or post anything on social media, and do not pass your join link on.",
            "alarm": "“{title}” starts soon",
        },
    }
)


def ics_for(event: EventInfo, *, enrollment_id: int, version: int, lang: str, host: str) -> bytes:
    t = ICS.t
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//Funabashi City//kosodate-line-bot//JA")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    entry = icalendar.Event()
    entry.add("uid", f"event-{event.id}-enrollment-{enrollment_id}@{host}")
    entry.add("dtstamp", now())
    entry.add("dtstart", event.starts_at)
    entry.add("dtend", event.ends_at)
    entry.add("summary", event.title)
    entry.add("location", t(lang, "location"))
    entry.add(
        "description",
        "\n".join(
            (
                f"{views.centre(lang, event.centre)}・{views.kind(lang, event.kind)}",
                t(lang, "join", minutes=event.join_opens_minutes),
                t(lang, "rules"),
            )
        ),
    )
    entry.add("sequence", version)
    entry.add("status", "CANCELLED" if event.status == "cancelled" else "CONFIRMED")
    entry.add("transp", "OPAQUE")
    if event.status != "cancelled":
        alarm = icalendar.Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", t(lang, "alarm", title=event.title))
        alarm.add("trigger", -ALARM_BEFORE)
        entry.add_component(alarm)
    calendar.add_component(entry)
    return calendar.to_ical()


@bp.get("/c/<token>.ics")
def calendar_file(token: str):
    if not TOKEN.match(token):
        abort(404)
    host = urlsplit(current_app.extensions["kosodate"].config.public_base_url).hostname or "localhost"
    with unit_of_work() as session:
        enrollment = join_links.by_calendar_token(session, token)
        if enrollment is None or enrollment.status != "confirmed":
            abort(404)
        lang = session.get(LineUser, enrollment.parent.line_user_pk).language
        body = ics_for(
            info(enrollment.event), enrollment_id=enrollment.id, version=enrollment.event.version, lang=lang, host=host
        )
    return Response(
        body,
        mimetype="text/calendar",
        headers={
            "Content-Disposition": 'inline; filename="event.ics"',
            "Cache-Control": "no-store",
            "X-Robots-Tag": "noindex, nofollow",
        },
    )
