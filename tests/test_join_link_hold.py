"""A join link never leaves after its holder stopped being a participant (policy 5; issue 8's chaos invariant).

The sender checks a row when it claims it, and once more right before the batch goes, with the applications behind
the links locked until the batch is done (bot/delivery.hold_join_links): a withdrawal that commits between the claim
and the send stops the link, and on PostgreSQL a withdrawal that starts while the link is on its way waits for it.
"""

from __future__ import annotations

import os
import threading

import pytest

from runtime.delivery import Dispatcher
from scheduler.reminders import Planner
from storage import enrollments
from storage.db import unit_of_work
from storage.models import Enrollment
from tests.scheduler_support import clock, event_at, join, rows, tokyo  # noqa: F401 (fixture)


def _withdraw(enrollment_id: int) -> None:
    with unit_of_work() as session:
        assert enrollments.withdraw(session, session.get(Enrollment, enrollment_id))


def _reminder_due(runtime, clock) -> tuple[int, object]:
    event = event_at(tokyo(2030, 6, 5, 14))
    parent = join(event)
    Planner.from_config(runtime.config).run()
    clock.tokyo(2030, 6, 4, 10)  # the day-before reminder, with the join link, is due
    return event, parent


def test_a_withdrawal_between_the_claim_and_the_send_stops_the_join_link(clock, runtime, line):
    _, parent = _reminder_due(runtime, clock)
    dispatcher = Dispatcher(runtime.gateway)
    # The two halves of Dispatcher.deliver, with the parent's キャンセル committed between them (as when the next
    # batch is claimed while the current one is still being sent).
    claimed, jobs = dispatcher._claim()
    assert claimed == 1 and len(jobs) == 1  # still a participant when claimed
    _withdraw(parent.enrollment_id)
    dispatcher._record(claimed, jobs, dispatcher._start(jobs)())

    assert line.requests("/message/push") == []
    [reminder] = [r for r in rows("reminder") if r.not_before == tokyo(2030, 6, 4, 10)]
    assert reminder.status == "expired" and "revoked (withdrawn)" in reminder.last_error


def test_messages_without_a_join_link_are_not_held(clock, runtime, line):
    from tests.scheduler_support import plan_text
    from tests.support import new_user_id

    user = new_user_id()
    plan_text(user, "お知らせです https://bot.example.test/policy")
    Dispatcher(runtime.gateway).deliver()
    assert len(line.delivered(to=user)) == 1


@pytest.mark.postgres
@pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="needs PostgreSQL (row locks): set DATABASE_URL=postgresql://…",
)
def test_a_withdrawal_waits_for_the_join_link_being_sent(clock, runtime, line, monkeypatch):
    _, parent = _reminder_due(runtime, clock)
    on_the_wire, let_go = threading.Event(), threading.Event()
    order: list[str] = []
    push = runtime.gateway.push

    def slow_push(*args, **kwargs):
        on_the_wire.set()
        assert let_go.wait(30)
        outcome = push(*args, **kwargs)
        order.append("link sent")
        return outcome

    monkeypatch.setattr(runtime.gateway, "push", slow_push)
    sender = threading.Thread(target=lambda: Dispatcher(runtime.gateway).deliver())
    sender.start()
    assert on_the_wire.wait(30)

    withdrawn = threading.Event()

    def cancel():
        _withdraw(parent.enrollment_id)
        order.append("withdrawn")
        withdrawn.set()

    canceller = threading.Thread(target=cancel)
    canceller.start()
    # Not a timing assertion: without the lock the withdrawal has nothing to wait for and is done at once.
    assert not withdrawn.wait(1.0), "the withdrawal did not wait for the join link in flight"
    let_go.set()
    sender.join(30)
    canceller.join(30)
    assert order == ["link sent", "withdrawn"]
    assert [p["json"]["to"] for p in line.requests("/message/push")] == [parent.user_id]
