"""Sending outbox rows (runtime/delivery.py): retries under one key, the reply token and its push fallback, batches
of more than five messages, multicast without people who blocked the bot, quiet hours, leases, order, threads."""

from __future__ import annotations

from datetime import timedelta

import pytest

from handlers.events.reminders import parse_quiet_hours
from handlers.replies import Text
from runtime import delivery
from runtime.delivery import Dispatcher, batch_retry_key
from runtime.leases import Leases
from runtime.line_gateway import Outcome
from runtime.render import render_all
from scheduler import reminders
from storage import outbox, users
from storage.db import unit_of_work
from tests.scheduler_support import clock, in_flight, plan_text, row, rows, tokyo  # noqa: F401 (fixtures)
from tests.support import new_user_id


def texts(n: int) -> list[dict]:
    return render_all([Text(f"お知らせ {i + 1}") for i in range(n)])


def plan_many(to: str, n: int, reply_token: str | None = None) -> int:
    with unit_of_work() as session:
        return outbox.add(session, purpose="notice", messages=texts(n), line_user_id=to, reply_token=reply_token)


def retry_keys(line) -> list[str]:
    return [e["retry_key"] for e in line.requests("/message/push")]


@pytest.mark.parametrize("fault", ["500", "429", "timeout"])
def test_line_failing_then_ok_is_one_delivery_under_one_retry_key(clock, runtime, line, in_flight, fault):
    runtime.gateway.attempts = 1  # every LINE call here is one outbox attempt
    if fault == "timeout":
        runtime.gateway.timeout = (0.5, 0.3)
        line.inject_fault("/message/push", 0, count=2, delay=0.6)  # LINE takes it, but answers too late
    else:
        line.inject_fault("/message/push", int(fault), count=2)
    user = new_user_id()
    row_id = plan_text(user)
    for wait in (0, 6, 11):
        clock.shift(timedelta(seconds=wait))
        delivery.deliver(runtime.gateway)
        in_flight.settle()  # a timed-out request is still taken by LINE, before the next attempt
    assert row(row_id).status == "sent"
    assert set(retry_keys(line)) == {row(row_id).retry_key}
    assert len(line.delivered(to=user)) == 1


def test_a_permanent_refusal_is_recorded_with_lines_message_and_request_id(runtime, line):
    line.inject_fault("/message/push", 400, count=1)
    row_id = plan_text(new_user_id())
    delivery.deliver(runtime.gateway)
    failed = row(row_id)
    assert failed.status == "failed" and failed.finished_at is not None
    assert failed.last_error.startswith("HTTP 400: Injected fault (x-line-request-id ")


def test_the_reply_token_takes_the_first_five_messages_and_push_the_rest(runtime, line):
    user = new_user_id()
    token = line.issue_reply_token()
    row_id = plan_many(user, 12, reply_token=token)
    delivery.deliver(runtime.gateway)
    assert len(line.requests("/message/reply")) == 1
    key = row(row_id).retry_key
    assert retry_keys(line) == [batch_retry_key(key, 1), batch_retry_key(key, 2)]
    assert row(row_id).status == "sent"


def test_a_refused_reply_token_sends_everything_by_push(runtime, line):
    user = new_user_id()
    row_id = plan_many(user, 7, reply_token="never-issued")
    delivery.deliver(runtime.gateway)
    key = row(row_id).retry_key
    assert retry_keys(line) == [key, batch_retry_key(key, 1)]
    assert len(line.delivered(to=user)) == 7


def test_a_reply_token_is_never_tried_twice(clock, runtime, line):
    runtime.gateway.attempts = 1
    line.inject_fault("/message/", 500, count=2)  # the reply fails, then its push fallback
    row_id = plan_many(new_user_id(), 1, reply_token=line.issue_reply_token())
    delivery.deliver(runtime.gateway)
    clock.shift(timedelta(seconds=6))
    delivery.deliver(runtime.gateway)
    assert len(line.requests("/message/reply")) == 1
    assert [e["status"] for e in line.requests("/message/push")] == [500, 200]
    assert row(row_id).status == "sent"


def test_after_a_partial_failure_only_what_line_has_not_taken_is_sent_again_under_its_first_key(
    clock, runtime, line, monkeypatch
):
    """15 messages: the first five by reply, the next five by push, the last five pushed but the answer lost (LINE
    may have them). The retry sends only the last five, under the key they were first offered with."""
    user, token = new_user_id(), line.issue_reply_token()
    line.bind_reply_token(token, user)
    row_id = plan_many(user, 15, reply_token=token)
    key = row(row_id).retry_key
    calls = []
    real_push = runtime.gateway.push

    def push(to, messages, retry_key):
        calls.append(retry_key)
        outcome = real_push(to, messages, retry_key)
        return Outcome("retry", None, "ReadTimeoutError") if len(calls) == 2 else outcome  # the answer is lost

    monkeypatch.setattr(runtime.gateway, "push", push)
    delivery.deliver(runtime.gateway)
    assert row(row_id).status == "planned" and len(row(row_id).messages) == 5
    clock.shift(timedelta(seconds=6))
    delivery.deliver(runtime.gateway)
    assert calls == [batch_retry_key(key, 1), batch_retry_key(key, 2), batch_retry_key(key, 2)]
    assert [e["status"] for e in line.requests("/message/")] == [200, 200, 200, 409]
    assert len(line.delivered(to=user)) == 15 and row(row_id).status == "sent"


def test_multicast_leaves_out_whoever_blocked_the_bot(runtime, line):
    stay, leave = new_user_id(), new_user_id()
    with unit_of_work() as session:
        users.mark_unfollowed(users.get_or_create(session, leave))
        outbox.add_multicast(
            session, purpose="notice", messages=texts(1), recipients=[stay, leave], dedupe_key="notice:1"
        )
        outbox.add_multicast(session, purpose="notice", messages=texts(1), recipients=[leave], dedupe_key="notice:2")
    delivery.deliver(runtime.gateway)
    [sent] = line.requests("/message/multicast")
    assert sent["json"]["to"] == [stay]
    assert [(r.status, r.last_error) for r in rows("notice")] == [
        ("sent", None),
        ("expired", "every recipient has blocked the bot"),
    ]


def test_multicast_rows_hold_at_most_500_people_and_planning_again_adds_nothing():
    people = [new_user_id() for _ in range(1201)]
    with unit_of_work() as session:
        first = outbox.add_multicast(
            session, purpose="notice", messages=texts(1), recipients=people, dedupe_key="cancelled:7"
        )
        again = outbox.add_multicast(
            session, purpose="notice", messages=texts(1), recipients=reversed(people), dedupe_key="cancelled:7"
        )
    assert again == [] and [len(r.recipients) for r in rows("notice")] == [500, 500, 201]
    assert len(first) == 3 and sorted(u for r in rows("notice") for u in r.recipients) == sorted(people)


def test_messages_of_the_bots_own_initiative_wait_for_the_end_of_quiet_hours(clock, runtime, line, monkeypatch):
    monkeypatch.setattr(delivery, "quiet_purposes", {"notice"})
    dispatcher = Dispatcher(runtime.gateway, quiet=parse_quiet_hours("21:00-08:00"))
    clock.to(tokyo(2030, 6, 4, 22, 30))
    notice = plan_text(new_user_id())
    answer = plan_text(new_user_id(), purpose="reply")
    dispatcher.deliver()
    assert (row(notice).status, row(answer).status) == ("planned", "sent")
    clock.to(tokyo(2030, 6, 5, 8, 0))
    dispatcher.deliver()
    assert row(notice).status == "sent"


# What quiet hours hold back (delivery.quiet_purposes, filled by the features): what can wait for the morning.
HELD_AT_NIGHT = ("reminder", "thanks", "event_announcement")
# What goes at once, night or not: answers to the parent (replies, a staff instruction after a loss report, the
# report's and a loan's outcome), a place the parent is waiting for (a join link, a waitlist promotion), what staff
# must act on (alerts), and the few notices about the account itself.
SENT_AT_NIGHT = (
    "reply",
    "apology",
    "join_link",
    "application_update",
    "staff_instruction",
    "report_update",
    "loan_decision",
    "staff_alert",
    "staff_notice",
    "staff_link",
    "sanction_notice",
)


def test_quiet_hours_hold_what_can_wait_and_never_an_answer_or_a_place_a_parent_waits_for(clock, runtime, line):
    reminders.install()
    dispatcher = Dispatcher(runtime.gateway, quiet=parse_quiet_hours("21:00-08:00"))
    clock.to(tokyo(2030, 6, 4, 23, 30))
    held = [plan_text(new_user_id(), purpose=p) for p in HELD_AT_NIGHT]
    sent = [plan_text(new_user_id(), purpose=p) for p in SENT_AT_NIGHT]
    dispatcher.deliver()
    assert [row(i).status for i in held] == ["planned"] * len(held)
    # Claimed and decided at once (a purpose's own check may expire a row made up for this test, never hold it).
    assert [row(i).attempts for i in sent] == [1] * len(sent)
    assert "planned" not in {row(i).status for i in sent}


def test_no_send_starts_on_a_lease_nobody_renewed_and_the_row_is_handed_back_at_once(clock, runtime, line, monkeypatch):
    row_id = plan_text(new_user_id())
    check = delivery._eligible

    def slow_check(session, rows):  # meanwhile no heartbeat could renew the lease (the database was unreachable)
        clock.shift(outbox.LEASE - timedelta(seconds=1))
        return check(session, rows)

    monkeypatch.setattr(delivery, "_eligible", slow_check)
    Dispatcher(runtime.gateway, leases=Leases(heartbeat=False)).deliver()
    assert line.requests("/message/push") == []
    assert (row(row_id).claimed_until, row(row_id).attempts) == (None, 0)  # free now; the attempt is not counted
    monkeypatch.setattr(delivery, "_eligible", check)
    Dispatcher(runtime.gateway).deliver()
    assert row(row_id).status == "sent" and row(row_id).attempts == 1


def test_one_parents_messages_keep_their_order_when_sent_by_many_threads(runtime, line):
    hanako = new_user_id()
    ids = []
    for i in range(30):
        ids.append(plan_text(new_user_id(), f"ほかの方 {i}"))
        if i % 10 == 0:
            ids.append(plan_text(hanako, f"花子さんへ {i}"))
    dispatcher = Dispatcher(runtime.gateway, threads=8)
    try:
        assert dispatcher.deliver() == 33
    finally:
        dispatcher.close()
    assert [m["message"]["text"] for m in line.delivered(to=hanako)] == [
        "花子さんへ 0",
        "花子さんへ 10",
        "花子さんへ 20",
    ]
    assert {row(i).status for i in ids} == {"sent"}


def test_a_bug_while_sending_one_row_does_not_strand_the_others(runtime, line, monkeypatch):
    unlucky, lucky = new_user_id(), new_user_id()
    real_push = runtime.gateway.push

    def push(to, messages, retry_key):
        if to == unlucky:
            raise KeyError("surprise")
        return real_push(to, messages, retry_key)

    monkeypatch.setattr(runtime.gateway, "push", push)
    bad, good = plan_text(unlucky), plan_text(lucky)
    delivery.deliver(runtime.gateway)
    assert row(good).status == "sent"
    assert (row(bad).status, row(bad).last_error) == ("planned", "internal error: KeyError")


def test_a_row_whose_senders_keep_dying_is_given_up(clock, runtime, line):
    row_id = plan_text(new_user_id())
    for _ in range(outbox.MAX_ATTEMPTS):
        with unit_of_work() as session:
            assert outbox.claim(session)  # claimed, then the sender dies
        clock.shift(outbox.LEASE + timedelta(seconds=1))
    delivery.deliver(runtime.gateway)
    assert row(row_id).status == "failed" and "gave up after 8 attempts" in row(row_id).last_error
    assert row(row_id).messages == [], "an ended row keeps no body (a personal link could be in it)"
    assert line.requests("/message/push") == []


def test_per_row_and_batch_checks_expire_what_is_no_longer_right(runtime, line, monkeypatch):
    monkeypatch.setitem(delivery.eligibility_checks, "single", lambda session, r: "no longer wanted")
    seen = []

    def batch(session, rows):
        seen.append(len(rows))
        return {rows[0].id: "first one only"}

    monkeypatch.setitem(delivery.batch_eligibility_checks, "bulk", batch)
    single = plan_text(new_user_id(), purpose="single")
    bulk = [plan_text(new_user_id(), purpose="bulk") for _ in range(3)]
    delivery.deliver(runtime.gateway)
    assert (row(single).status, row(single).last_error) == ("expired", "no longer wanted")
    assert seen == [3] and [row(i).status for i in bulk] == ["expired", "sent", "sent"]


def test_a_row_past_not_after_is_expired_unsent(clock, runtime, line):
    row_id = plan_text(new_user_id(), not_after=tokyo(2030, 6, 3, 9, 30))
    clock.to(tokyo(2030, 6, 3, 9, 31))
    delivery.deliver(runtime.gateway)
    assert (row(row_id).status, row(row_id).last_error) == ("expired", "too late: past not_after")
    assert line.requests("/message/push") == []
