"""Helpers for the report, loan, escalation and staff-chat tests: a parent with confirmed applications chatting with
the bot, staff members whose LINE is linked, and a look at the escalation tables and what LINE delivered."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from handlers.postback import decode, encode
from storage import enrollments, join_links, reports, staff, users
from storage.db import unit_of_work
from storage.models import (
    Enrollment,
    Escalation,
    EscalationMessage,
    EscalationNotification,
    Event,
    JoinLink,
    LostCredentialReport,
    OutboxMessage,
    ReportEvent,
    StaffMember,
)
from tests.events_support import make_event, make_parent
from tests.support import ChatUser


@dataclass
class Parent:
    chat: ChatUser
    parent_id: int
    event_ids: list[int]
    enrollment_ids: list[int]


def parent_with_events(
    chat,
    titles: tuple[str, ...] = ("ねんねの赤ちゃん交流会", "よちよち歩きさんの交流会"),
    centre: str = "minamihoncho",
    event_centre: str = "takanedai",
    lang: str = "ja",
) -> Parent:
    """A registered, consenting parent with a confirmed application (and a live join link) for each event."""
    user = chat()
    with unit_of_work() as session:
        parent = make_parent(session, user.user_id, centre=centre, lang=lang)
        event_ids, enrollment_ids = [], []
        for n, title in enumerate(titles):
            event = make_event(session, title=title, centre=event_centre, starts_in=timedelta(days=2 + n))
            applied = enrollments.apply(session, event, parent.id)
            assert applied.status == "confirmed"
            event_ids.append(event.id)
            enrollment_ids.append(applied.enrollment.id)
        return Parent(user, parent.id, event_ids, enrollment_ids)


def staff_in_line(
    chat, *, centre: str = "division", role: str = "staff", on_duty: bool = True, name: str = "市職員 田中"
) -> tuple[ChatUser, int]:
    """A staff member whose LINE account is linked to the bot (a chat user of their own)."""
    user = chat()
    with unit_of_work() as session:
        line_user = users.get_or_create(session, user.user_id)
        member = staff.create_member(
            session, name=name, login=f"{user.user_id[:12]}@city.example", centre=centre, role=role
        )
        member.line_user_pk, member.on_duty = line_user.id, on_duty
        return user, member.id


def file_report(
    parent: ChatUser,
    lost: str = "参加用リンク",
    when: str = "今日",
    misuse: str = "はい",
    events: tuple[str, ...] = (),
    every_event: bool = False,
    note: str | None = None,
) -> list[dict[str, Any]]:
    """Go through 紛失・盗難の報告 by tapping, as a parent would; returns the receipt's messages. ``events`` are
    parts of event titles to choose ("決定" follows), ``every_event`` taps すべて; with neither, 関係なし・不明 is
    chosen where events are asked."""
    messages = parent.tap(encode("report", "start"))
    for label in (lost, when, misuse):
        messages = parent.choose(messages, label)
    if "決定" in parent.choices(messages):
        if every_event:
            messages = parent.choose(messages, "すべて")
        else:
            for title in events:
                messages = parent.choose(messages, label_of(messages, title))
            messages = parent.choose(messages, "決定" if events else "関係なし・不明")
    messages = parent.say(note) if note else parent.choose(messages, "特になし")
    return parent.choose(messages, "報告する")


def label_of(messages: list[dict[str, Any]], starting: str) -> str:
    """The one button label beginning with ``starting`` (event buttons carry a date before the title)."""
    found = [label for label in ChatUser.choices(messages) if starting in label]
    assert len(found) == 1, f"{starting!r} in {sorted(ChatUser.choices(messages))}"
    return found[0]


def postbacks(messages: list[dict[str, Any]]) -> dict[str, str]:
    """label → postback data, for the buttons of these messages."""
    return {
        label: action["data"]
        for label, action in ChatUser.choices(messages).items()
        if action["type"] == "postback" and decode(action["data"]) is not None
    }


# --- the tables -----------------------------------------------------------------------------------------------
def all_escalations() -> list[Escalation]:
    with unit_of_work() as session:
        return list(session.scalars(select(Escalation).order_by(Escalation.id)))


def only_escalation() -> Escalation:
    found = all_escalations()
    assert len(found) == 1, found
    return found[0]


def report_of(escalation_id: int) -> LostCredentialReport:
    with unit_of_work() as session:
        return reports.report_of(session, escalation_id)


def actions(escalation_id: int) -> list[str]:
    with unit_of_work() as session:
        return [
            e.action
            for e in session.scalars(
                select(ReportEvent).where(ReportEvent.escalation_id == escalation_id).order_by(ReportEvent.id)
            )
        ]


def history(escalation_id: int) -> list[ReportEvent]:
    with unit_of_work() as session:
        return list(
            session.scalars(
                select(ReportEvent).where(ReportEvent.escalation_id == escalation_id).order_by(ReportEvent.id)
            )
        )


def thread(escalation_id: int) -> list[EscalationMessage]:
    with unit_of_work() as session:
        return list(
            session.scalars(
                select(EscalationMessage)
                .where(EscalationMessage.escalation_id == escalation_id)
                .order_by(EscalationMessage.id)
            )
        )


def notices() -> list[EscalationNotification]:
    with unit_of_work() as session:
        return list(session.scalars(select(EscalationNotification).order_by(EscalationNotification.id)))


def live_link(enrollment_id: int) -> JoinLink | None:
    with unit_of_work() as session:
        return join_links.live(session, enrollment_id)


def outbox_rows(purpose: str) -> list[OutboxMessage]:
    with unit_of_work() as session:
        return list(
            session.scalars(select(OutboxMessage).where(OutboxMessage.purpose == purpose).order_by(OutboxMessage.id))
        )


def member(staff_id: int) -> StaffMember:
    with unit_of_work() as session:
        return session.get(StaffMember, staff_id)


def event(event_id: int) -> Event:
    with unit_of_work() as session:
        return session.get(Event, event_id)


def enrollment(enrollment_id: int) -> Enrollment:
    with unit_of_work() as session:
        return session.get(Enrollment, enrollment_id)
