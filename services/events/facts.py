"""Loads what the events flows may know (``EventFacts``) for the context: upcoming events with their seats, the
parent's applications with their personal links, sanctions in force, announcement wishes.

Join and calendar links are included only for a confirmed participant in good standing, as references
(``storage.join_links.join_url``): a reply carries them so to the outbox, and the sender fills the tokens in. They
live in the context of one step and are never written into the conversation state.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from handlers.events.rules import ApplicationInfo, EventFacts, EventInfo
from storage import enrollments, events, join_links, sanctions
from storage.models import Event, Parent


def info(event: Event, seated: int = 0, waiting: int = 0) -> EventInfo:
    return EventInfo(
        id=event.id,
        centre=event.centre,
        kind=event.kind,
        title=event.title,
        description=event.description,
        starts_at=event.starts_at,
        ends_at=event.ends_at,
        capacity=event.capacity,
        seated=seated,
        waiting=waiting,
        opens_at=event.applications_open_at,
        closes_at=event.applications_close_at,
        needs_approval=event.needs_approval,
        target_min_months=event.target_min_months,
        target_max_months=event.target_max_months,
        target_pregnant=event.target_pregnant,
        status=event.status,
        join_opens_minutes=event.join_opens_minutes,
    )


def load(
    session: Session, parent: Parent | None, *, moment: datetime, consent_current: bool, public_base_url: str
) -> EventFacts:
    upcoming = events.upcoming(session, moment)
    mine = [e for e in enrollments.for_parent(session, parent.id) if e.event.ends_at > moment] if parent else []
    by_id = {e.id: e for e in upcoming} | {e.event.id: e.event for e in mine}
    counts = events.seat_counts(session, list(by_id))
    infos = {event_id: info(event, *counts[event_id]) for event_id, event in by_id.items()}
    if parent is None:
        return EventFacts(events=tuple(infos[e.id] for e in upcoming))
    bars = sanctions.bars(session, parent.id)
    # One query each for every application's link and waitlist place, whatever their number.
    links = join_links.live_for(session, [e.id for e in mine if e.status == "confirmed"])
    positions = enrollments.waitlist_positions(session, mine)
    applications = []
    for enrollment in mine:
        in_good_standing = consent_current and not bars.covers(enrollment.event_id)
        join_url = calendar_url = None
        if enrollment.status == "confirmed" and enrollment.event.status == "published":
            calendar_url = join_links.calendar_url(public_base_url, enrollment)
            link = links.get(enrollment.id) if in_good_standing else None
            if link is not None:
                join_url = join_links.join_url(public_base_url, link.id)
        applications.append(
            ApplicationInfo(
                id=enrollment.id,
                event=infos[enrollment.event_id],
                status=enrollment.status,
                position=positions.get(enrollment.id),
                join_url=join_url,
                calendar_url=calendar_url,
            )
        )
    return EventFacts(
        parent_id=parent.id,
        events=tuple(infos[e.id] for e in upcoming),
        applications=tuple(applications),
        barred_all=bars.everything,
        barred_events=bars.events,
        optins=events.optins(session, parent.id),
    )
