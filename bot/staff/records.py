"""The records a console request names by id — in its URL or in its form body — loaded only within the actor's scope.

Every id a view acts on comes through ``load``: an id that is not a number, an unknown record and a record of a centre
outside the actor's scope all answer 404 alike (whether a record exists is not told), and a record named together
with the URL's record (an enrollment of the URL's event, a loss report about it) must belong to it. Ids in a form
body are ``RecordId`` fields (bot/staff/forms.py) read only with ``from_form``, so a hidden field or a select cannot
reach another centre's record by a route the URL checks never see.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import abort
from sqlalchemy.orm import Session

from bot.staff import auth
from services.reports import operations as report_service
from storage import enrollments, events, reports
from storage.models import Broadcast, Enrollment, Escalation, Event, Parent, Sanction

# The primary keys are 32-bit integers; a larger number names nothing (and would make PostgreSQL raise).
LARGEST_ID = 2**31 - 1


@dataclass(frozen=True)
class Kind:
    model: type
    get: Callable[[Session, int], Any]
    # The centres a record belongs to: the actor must see one of them.
    centres: Callable[[Session, Any], tuple[str | None, ...]]


def _sanction_centres(s: Session, sanction: Sanction) -> tuple[str | None, ...]:
    # A removal from an event is the event's centre's matter; any sanction is also the parent's centre's.
    event = events.get(s, sanction.event_id) if sanction.event_id else None
    return (s.get(Parent, sanction.parent_id).centre, *((event.centre,) if event else ()))


KINDS: dict[str, Kind] = {
    "event": Kind(Event, events.get, lambda s, event: (event.centre,)),
    "enrollment": Kind(Enrollment, enrollments.get, lambda s, enrollment: (enrollment.event.centre,)),
    "escalation": Kind(Escalation, reports.get, lambda s, escalation: (escalation.centre,)),
    "parent": Kind(Parent, lambda s, parent_id: s.get(Parent, parent_id), lambda s, parent: (parent.centre,)),
    "sanction": Kind(Sanction, lambda s, sanction_id: s.get(Sanction, sanction_id), _sanction_centres),
    # A お知らせ for every centre (centre None) is seen only by those who see every centre.
    "broadcast": Kind(
        Broadcast, lambda s, broadcast_id: s.get(Broadcast, broadcast_id), lambda s, broadcast: (broadcast.centre,)
    ),
}

# (kind, kind of the URL's record) → whether the record belongs to that one.
BELONGS: dict[tuple[str, str], Callable[[Session, Any, Any], bool]] = {
    ("enrollment", "event"): lambda s, enrollment, event: enrollment.event_id == event.id,
    ("escalation", "event"): lambda s, escalation, event: report_service.concerns_event(s, escalation, event.id),
}


def _number(record_id: int | str | None) -> int | None:
    if isinstance(record_id, str):
        record_id = int(record_id) if record_id.isascii() and record_id.isdigit() else None
    return record_id if isinstance(record_id, int) and 0 < record_id <= LARGEST_ID else None


def _kind_of(record: Any) -> str:
    return next(name for name, kind in KINDS.items() if isinstance(record, kind.model))


def find(s: Session, kind: str, record_id: int | str | None, *, within: Any = None) -> Any:
    """The record, or None when the id names nothing the actor sees (or nothing of ``within``)."""
    number = _number(record_id)
    found = KINDS[kind].get(s, number) if number is not None else None
    if found is None or not any(map(auth.current().sees, KINDS[kind].centres(s, found))):
        return None
    if within is not None and not BELONGS[(kind, _kind_of(within))](s, found, within):
        return None
    return found


def load(s: Session, kind: str, record_id: int | str | None, *, within: Any = None) -> Any:
    """The record, or 404 (the same answer for "no such record" and "not yours")."""
    found = find(s, kind, record_id, within=within)
    if found is None:
        abort(404)
    return found


def from_form(s: Session, field, *, within: Any = None) -> Any:
    """The record a ``RecordId`` field names, or None when the field is blank; 404 like ``load`` otherwise."""
    if (field.within is None) != (within is None) or (within is not None and _kind_of(within) != field.within):
        raise TypeError(f"{field.name} names a {field.kind} of the URL's {field.within}: pass that record")
    raw = (field.data or "").strip()
    return load(s, field.kind, raw, within=within) if raw else None
