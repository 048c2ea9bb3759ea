"""Plans reminders and thank-yous as outbox rows (a worker job, every minute) and checks them again when sent.

Each run works out which reminders should exist now — for every confirmed participant in good standing of an
event starting within the schedule's horizon, one per offset (``handlers.events.reminders.Schedule``) — and makes the
outbox agree: missing rows are added (``not_before`` = when it goes, ``not_after`` = the start), rows no longer
wanted are expired with the reason, and an expired row wanted again (a parent re-applied, consented again) is
planned again under its old retry key. The dedupe key names the offset, the enrollment, the event's start and the
join link, so a moved event or a replaced link gets new rows and the old ones are expired, never sent.

Because the plan is derived from the tables each time, a run can be missed, repeated or run by two workers at once:
the unique dedupe key makes a second insert a no-op, and a reminder due while the worker was down is still sent
when it comes back, if the event has not started. The send-time check (``check_reminders``) asks the same questions
as the planner, for the case that something changed in between.

After an event, its participants who were shown how to join get a thank-you with the feedback question: one
multicast row per language and 500 people (the same text for all of them).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config import Config
from handlers.engine import DEFAULT_CONTACT_PHONE
from handlers.events.reminders import (
    Offset,
    ReminderFacts,
    Schedule,
    parse_offsets,
    parse_quiet_hours,
    reminder,
    thanks,
)
from runtime import delivery
from runtime.render import render_all
from storage import join_links, outbox
from storage import reminders as participants
from storage.clock import now
from storage.db import unit_of_work
from storage.models import Event, OutboxMessage

log = logging.getLogger(__name__)

REMINDER = "reminder"
THANKS = "thanks"
REFUSALS = {
    "cancelled": "the event was cancelled",
    "finished": "the event is over",
    "not_published": "the event is not published",
    "not_confirmed": "the participant is no longer confirmed (withdrew or was declined)",
    "no_consent": "the participant's consent to the current policy is missing or withdrawn",
    "barred": "the participant is barred from this event",
    "blocked": "the participant has blocked the bot",
    "no_link": "the participant has no live join link",
}


class ReminderKey(NamedTuple):
    offset: str
    enrollment_id: int
    start: int
    link_id: int


def reminder_key(offset: Offset, who: participants.Participant) -> str:
    return f"{REMINDER}:{offset.key}:{who.enrollment_id}:{_epoch(who.starts_at)}:{who.link_id}"


def parse_key(dedupe_key: str | None) -> ReminderKey | None:
    head, *numbers = (dedupe_key or "").rsplit(":", 3)  # the offset itself may contain ":" ("1d@10:00")
    if len(numbers) != 3 or not head.startswith(f"{REMINDER}:") or not all(n.isdigit() for n in numbers):
        return None
    return ReminderKey(head.removeprefix(f"{REMINDER}:"), *map(int, numbers))


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def schedule_of(config: Config) -> Schedule:
    return Schedule(parse_offsets(config.reminder_offsets), parse_quiet_hours(config.quiet_hours))


@dataclass(frozen=True)
class Planned:
    added: int = 0
    replanned: int = 0
    expired: int = 0
    thanks: int = 0


class Planner:
    def __init__(self, schedule: Schedule, public_base_url: str, contact_phone: str = ""):
        self.schedule = schedule
        self.public_base_url = public_base_url
        self.contact_phone = contact_phone or DEFAULT_CONTACT_PHONE

    @classmethod
    def from_config(cls, config: Config) -> Planner:
        return cls(schedule_of(config), config.public_base_url, config.contact_phone)

    def run(self) -> Planned:
        """One planning pass in its own transaction (the worker's job)."""
        with unit_of_work() as session:
            planned = self.plan(session)
        if planned != Planned():
            log.info("reminders: %s", planned)
        return planned

    def plan(self, session: Session) -> Planned:
        moment = now()
        wanted = {}
        for who in participants.upcoming(session, moment, moment + self.schedule.horizon):
            if who.refusal is None:
                for offset, at in self.schedule.reminders(who.starts_at, moment).items():
                    wanted[reminder_key(offset, who)] = (who, offset, at)
        rows = outbox.still_relevant(session, REMINDER, moment)
        existing = {row.dedupe_key: row for row in rows}
        stale = [row for row in rows if row.status == "planned" and row.dedupe_key not in wanted]
        expired = self._expire(session, stale)
        new, replanned = [], 0
        for key, (who, offset, at) in wanted.items():
            row = existing.get(key)
            if row is None:
                new.append(
                    dict(
                        purpose=REMINDER,
                        messages=self._messages(who, offset),
                        line_user_id=who.line_user_id,
                        dedupe_key=key,
                        not_before=at,
                        not_after=who.starts_at,
                        subject=f"enrollment:{who.enrollment_id}",
                    )
                )
            elif row.status == "expired":
                outbox.replan(
                    session, row, messages=self._messages(who, offset), not_before=at, not_after=who.starts_at
                )
                replanned += 1
        outbox.add_many(session, new)
        return Planned(len(new), replanned, expired, self._plan_thanks(session, moment))

    def _expire(self, session: Session, rows: list[OutboxMessage]) -> int:
        reasons = check_reminders(session, rows)
        by_reason: dict[str, list[int]] = defaultdict(list)
        for row in rows:
            by_reason[reasons.get(row.id, "no longer in the reminder schedule")].append(row.id)
        return sum(outbox.expire(session, ids, reason) for reason, ids in by_reason.items())

    def _messages(self, who: participants.Participant, offset: Offset) -> list[dict]:
        facts = ReminderFacts(
            who.lang,
            who.title,
            who.starts_at,
            who.ends_at,
            join_links.join_url(self.public_base_url, who.link_id),
            who.opens_minutes,
            self.contact_phone,
        )
        return render_all(reminder(facts, offset))

    def _plan_thanks(self, session: Session, moment: datetime) -> int:
        """Once per event and language, after the event: its audience is known by then."""
        done = {row.dedupe_key.partition("#")[0] for row in outbox.still_relevant(session, THANKS, moment)}
        audiences: dict[str, list[participants.Participant]] = defaultdict(list)
        for who in participants.attended(session, moment - self.schedule.thanks_until, moment):
            audiences[f"{THANKS}:{who.event_id}:{who.lang}"].append(who)
        rows = 0
        for key, people in audiences.items():
            first = people[0]
            if key not in done:
                rows += len(
                    outbox.add_multicast(
                        session,
                        purpose=THANKS,
                        messages=render_all(thanks(first.lang, first.event_id, first.title)),
                        recipients=[p.line_user_id for p in people],
                        dedupe_key=key,
                        subject=f"event:{first.event_id}",
                        not_before=self.schedule.thanks_time(first.ends_at),
                        not_after=first.ends_at + self.schedule.thanks_until,
                    )
                )
        return rows


# --- at send time (runtime/delivery.py) --------------------------------------------------------------------------
def check_reminders(session: Session, rows: list[OutboxMessage]) -> dict[int, str]:
    """Why each reminder must not go now: the same questions as the planner, asked again just before sending."""
    if not rows:
        return {}
    moment = now()
    keys = {row.id: parse_key(row.dedupe_key) for row in rows}
    found = participants.by_enrollment(session, [k.enrollment_id for k in keys.values() if k])
    latest: dict[tuple[str, datetime | None], datetime] = {}
    for _id, subject, due, start in outbox.due_about(session, REMINDER, {r.subject for r in rows}, moment):
        latest[(subject, start)] = max(due, latest.get((subject, start), due))
    reasons = {}
    for row in rows:
        key = keys[row.id]
        who = found.get(key.enrollment_id) if key else None
        if who is None:
            reasons[row.id] = "the application no longer exists"
        elif who.refusal:
            reasons[row.id] = REFUSALS.get(who.refusal, who.refusal)
        elif _epoch(who.starts_at) != key.start:
            reasons[row.id] = "the event was moved"
        elif who.link_id != key.link_id:
            reasons[row.id] = "the join link was replaced"
        elif latest.get((row.subject, row.not_after), row.not_before) > row.not_before:
            reasons[row.id] = "a later reminder is due already"
    return reasons


def check_thanks(session: Session, rows: list[OutboxMessage]) -> dict[int, str]:
    ids = {row.id: int(row.subject.partition(":")[2]) for row in rows if (row.subject or "").startswith("event:")}
    cancelled = set(
        session.scalars(select(Event.id).where(Event.id.in_(set(ids.values())), Event.status == "cancelled"))
    )
    return {row_id: "the event was cancelled" for row_id, event_id in ids.items() if event_id in cancelled}


def install() -> None:
    """Register the checks and the quiet-hours rule with the delivery (the worker calls this at start)."""
    delivery.batch_eligibility_checks.update({REMINDER: check_reminders, THANKS: check_thanks})
    delivery.quiet_purposes.update({REMINDER, THANKS})
