"""Policy 5 as a property: whatever parents and staff do, in any order — apply, cancel, withdraw or give consent,
bar and lift, revoke or reissue a link, move the event, let time pass — the join URL, meeting ID and passcode are
shown on a join page, and a personal link is delivered by LINE, only to someone who at that moment is a confirmed,
consenting, unbarred participant. (And, so the property cannot hold vacuously: such a participant inside the
event's window is shown them.)"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test
from sqlalchemy import func, select

from handlers.effects import apply as apply_effects
from handlers.registration.policy_text import POLICY_TEXT
from services.events import operations as event_service
from services.events.operations import ApplyForEvent, WithdrawApplication
from storage import join_links, people, sanctions
from storage.clock import now
from storage.db import unit_of_work
from storage.models import Base, Enrollment, Event, JoinLink, LineUser, OutboxMessage, Parent, Sanction
from tests.events_support import CONFERENCE, give_consent, leaks, make_event, make_parent
from tests.test_joinlink import START

pytestmark = pytest.mark.usefixtures("app")

BASE = "https://bot.example.test"
PARENTS = 4
LINK = re.compile(r"/j/([A-Za-z0-9_-]{32,64})")


class JoinSecrecy(RuleBasedStateMachine):
    def __init__(self, client, runtime, line):
        super().__init__()
        self.client, self.runtime, self.line = client, runtime, line
        # Half an hour before the start: applying is still open, and the join window is one or two steps away.
        self.clock = time_machine.travel(START - timedelta(minutes=30), tick=False)
        self.traveller = self.clock.start()
        with unit_of_work() as session:
            for table in reversed(Base.metadata.sorted_tables):
                session.execute(table.delete())
            people.ensure_policy(session, POLICY_TEXT)
            self.event_id = make_event(
                session, capacity=2, starts_in=timedelta(minutes=30), minutes=60, closes_before=timedelta(0)
            ).id
            found = [make_parent(session) for _ in range(PARENTS)]
            self.parents = [p.id for p in found]
            self.users = [session.get(LineUser, p.line_user_pk).line_user_id for p in found]
        line.reset()
        self.consenting = [True] * PARENTS
        self.barred = [False] * PARENTS
        self.tokens: list[set[str]] = [set() for _ in range(PARENTS)]
        self.seen = [0] * PARENTS
        self._form_token = ""

    def teardown(self):
        self.clock.stop()

    # --- what the database says, read directly (not through the code under test) ----------------------------
    def _status(self, session, p: int) -> str | None:
        return session.scalar(
            select(Enrollment.status).where(
                Enrollment.event_id == self.event_id, Enrollment.parent_id == self.parents[p]
            )
        )

    def _live_token(self, session, p: int) -> str | None:
        link = session.scalars(
            select(JoinLink)
            .join(Enrollment, Enrollment.id == JoinLink.enrollment_id)
            .where(Enrollment.parent_id == self.parents[p], JoinLink.revoked_at.is_(None))
        ).first()
        return join_links.token_of(link) if link else None

    def _in_good_standing(self, session, p: int) -> bool:
        return self._status(session, p) == "confirmed" and self.consenting[p] and not self.barred[p]

    def _user(self, session, p: int) -> LineUser:
        return session.scalars(select(LineUser).where(LineUser.line_user_id == self.users[p])).one()

    def _remember_tokens(self) -> None:
        with unit_of_work() as session:
            for p in range(PARENTS):
                token = self._live_token(session, p)
                if token:
                    self.tokens[p].add(token)

    # --- what parents do ------------------------------------------------------------------------------------
    @rule(p=st.integers(0, PARENTS - 1))
    def apply(self, p):
        with unit_of_work() as session:
            apply_effects(session, self._user(session, p), [ApplyForEvent(self.event_id, "confirmed", BASE)])
        self._remember_tokens()

    @rule(p=st.integers(0, PARENTS - 1))
    def cancel(self, p):
        with unit_of_work() as session:
            enrollment_id = session.scalar(
                select(Enrollment.id).where(
                    Enrollment.event_id == self.event_id, Enrollment.parent_id == self.parents[p]
                )
            )
            if enrollment_id is not None:
                apply_effects(session, self._user(session, p), [WithdrawApplication(enrollment_id, BASE)])
        self._remember_tokens()

    @rule(p=st.integers(0, PARENTS - 1), agree=st.booleans())
    def consent(self, p, agree):
        with unit_of_work() as session:
            give_consent(session, session.get(Parent, self.parents[p]), "agreed" if agree else "withdrawn")
        self.consenting[p] = agree

    # --- what staff do --------------------------------------------------------------------------------------
    @rule(p=st.integers(0, PARENTS - 1), this_event_only=st.booleans())
    def bar(self, p, this_event_only):
        with unit_of_work() as session:
            sanctions.impose(
                session,
                self.parents[p],
                policy_items=["6-(4)"],
                created_by="staff",
                event_id=self.event_id if this_event_only else None,
            )
        self.barred[p] = True

    @rule(p=st.integers(0, PARENTS - 1))
    def lift(self, p):
        with unit_of_work() as session:
            for sanction_id in session.scalars(select(Sanction.id).where(Sanction.parent_id == self.parents[p])):
                sanctions.lift(session, sanction_id, lifted_by="staff")
        self.barred[p] = False

    @rule(p=st.integers(0, PARENTS - 1), reissue=st.booleans())
    def revoke(self, p, reissue):
        with unit_of_work() as session:
            enrollment = session.scalars(
                select(Enrollment).where(Enrollment.event_id == self.event_id, Enrollment.parent_id == self.parents[p])
            ).first()
            if enrollment is not None:
                if reissue:
                    event_service.reissue_link(session, enrollment, reason="lost", base_url=BASE)
                else:
                    join_links.revoke(session, enrollment.id, "lost")
        self._remember_tokens()

    @rule(minutes=st.sampled_from([-30, -10, 10, 30, 24 * 60]))
    def change_time(self, minutes):
        with unit_of_work() as session:
            event = session.get(Event, self.event_id)
            if event.status == "published":
                shift = timedelta(minutes=minutes)
                event_service.reschedule(session, event, event.starts_at + shift, event.ends_at + shift)

    @rule(minutes=st.sampled_from([5, 10, 20, 60]))
    def time_passes(self, minutes):
        self.traveller.shift(timedelta(minutes=minutes))

    # --- what reaches parents ---------------------------------------------------------------------------------
    @rule()
    def deliver(self):
        self.runtime.deliver_outbox()
        with unit_of_work() as session:
            for p in range(PARENTS):
                delivered = self.line.delivered(to=self.users[p])
                fresh, self.seen[p] = delivered[self.seen[p] :], len(delivered)
                for item in fresh:
                    text = str(item["message"])
                    assert leaks(text) == [], "conference details sent by LINE"
                    for token in LINK.findall(text):
                        assert self._in_good_standing(session, p), "a join link sent to someone not in good standing"
                        assert token == self._live_token(session, p), "a revoked or foreign link was sent"

    @rule()
    @precondition(lambda self: any(self.tokens))
    def open_pages(self):
        """Every link ever sent to anyone is opened, and how to join asked for."""
        for p in range(PARENTS):
            for token in sorted(self.tokens[p]):
                self._check_page(p, token)

    def _check_page(self, p: int, token: str) -> None:
        page = self.client.get(f"/j/{token}")
        # Asked for directly, whether or not the page offers it (with the page's form token, or any other).
        found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        token_field = found.group(1) if found else self._form_token
        revealed = self.client.post(f"/j/{token}", data={"csrf_token": token_field})
        shown = CONFERENCE["passcode"] in revealed.text
        assert leaks(page.text) == [], "details on a page anyone can GET"
        with unit_of_work() as session:
            event = session.get(Event, self.event_id)
            in_window = event.starts_at - timedelta(minutes=event.join_opens_minutes) <= now() < event.ends_at
            allowed = (
                self._in_good_standing(session, p)
                and token == self._live_token(session, p)
                and event.status == "published"
                and in_window
            )
        assert shown == allowed, f"details shown={shown} but allowed={allowed}"
        if found:
            self._form_token = found.group(1)  # the session's token: valid for the other links' forms too
        if not shown:
            assert leaks(revealed.text) == []

    @invariant()
    def seats_are_never_oversold_and_the_outbox_holds_no_conference_details(self):
        with unit_of_work() as session:
            confirmed = session.scalar(
                select(func.count())
                .select_from(Enrollment)
                .where(Enrollment.event_id == self.event_id, Enrollment.status.in_(("confirmed", "pending")))
            )
            assert confirmed <= 2
            assert leaks(str(session.scalars(select(OutboxMessage.messages)).all())) == []


@pytest.mark.timeout(900)  # a failure is shrunk to the shortest story, which takes a while
def test_conference_details_reach_only_confirmed_consenting_unbarred_participants(client, runtime, line):
    run_state_machine_as_test(
        lambda: JoinSecrecy(client, runtime, line),
        settings=settings(
            max_examples=60,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
