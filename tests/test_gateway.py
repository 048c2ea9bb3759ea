"""The one gateway to LINE, under faults: reply-token fallback, retries with one retry key, timeouts."""
from __future__ import annotations

from sqlalchemy import select

from bot import delivery
from bot.messages import render_all
from handlers.replies import Text
from storage import outbox
from storage.db import unit_of_work
from storage.models import OutboxMessage
from tests.support import new_user_id


def plan(to: str, text: str = "こんにちは", reply_token: str | None = None) -> int:
    with unit_of_work() as s:
        return outbox.add(s, purpose="test", messages=render_all([Text(text)]), line_user_id=to, reply_token=reply_token)


def row(row_id: int) -> OutboxMessage:
    with unit_of_work() as s:
        return s.get(OutboxMessage, row_id)


def test_rejected_reply_token_falls_back_to_push(runtime, line):
    user = new_user_id()
    row_id = plan(user, reply_token="never-issued-token")
    delivery.deliver(runtime.gateway, [row_id])
    assert [r["status"] for r in line.requests("/message/reply")] == [400]
    pushes = line.requests("/message/push")
    assert [p["status"] for p in pushes] == [200] and pushes[0]["json"]["to"] == user
    assert row(row_id).status == "sent"


def test_push_failing_500_twice_then_ok_is_one_delivery_with_one_retry_key(runtime, line):
    user = new_user_id()
    line.inject_fault("/message/push", 500, count=2)
    row_id = plan(user)
    delivery.deliver(runtime.gateway, [row_id])
    pushes = line.requests("/message/push")
    assert [p["status"] for p in pushes] == [500, 500, 200]
    assert len({p["retry_key"] for p in pushes}) == 1 and pushes[0]["retry_key"] == row(row_id).retry_key
    assert len(line.delivered(to=user)) == 1


def test_429_backs_off_then_succeeds(runtime, line):
    line.inject_fault("/message/push", 429, count=1)
    row_id = plan(new_user_id())
    delivery.deliver(runtime.gateway, [row_id])
    assert [p["status"] for p in line.requests("/message/push")] == [429, 200]
    assert row(row_id).status == "sent"


def test_retry_after_a_lost_answer_is_not_delivered_twice(runtime, line):
    """LINE accepted the push but the answer never came back: the retry carries the same key and gets 409."""
    user = new_user_id()
    row_id = plan(user)
    key = row(row_id).retry_key
    runtime.gateway.push(user, render_all([Text("x")]), key)  # the "lost" first attempt
    delivery.deliver(runtime.gateway, [row_id])
    assert [p["status"] for p in line.requests("/message/push")] == [200, 409]
    assert row(row_id).status == "sent"
    assert len(line.delivered(to=user)) == 1


def test_timeouts_are_retried_later_with_the_same_key(runtime, line):
    runtime.gateway.timeout = (0.5, 0.3)
    runtime.gateway.attempts = 1
    line.inject_fault("/message/push", 0, count=1, delay=0.6)
    row_id = plan(new_user_id())
    delivery.deliver(runtime.gateway, [row_id])
    first = row(row_id)
    assert first.status == "planned" and first.attempts == 1 and "ReadTimeout" in (first.last_error or "")
    with unit_of_work() as s:
        s.get(OutboxMessage, row_id).next_attempt_at = first.created_at  # due again now
    delivery.deliver(runtime.gateway, [row_id])
    assert row(row_id).status == "sent"
    assert len({p["retry_key"] for p in line.requests("/message/push")}) == 1


def test_permanent_errors_are_recorded_with_lines_message(runtime, line):
    line.inject_fault("/message/push", 400, count=1)
    row_id = plan(new_user_id())
    delivery.deliver(runtime.gateway, [row_id])
    failed = row(row_id)
    assert failed.status == "failed" and "400" in failed.last_error


def test_a_6000_character_answer_is_split_within_lines_limits(runtime, line):
    user = new_user_id()
    row_id = plan(user, "あ" * 6000)
    delivery.deliver(runtime.gateway, [row_id])
    assert row(row_id).status == "sent"
    assert sum(len(m["message"]["text"]) for m in line.delivered(to=user)) == 6000


def test_blocked_user_gets_no_push(runtime, line, chat):
    parent = chat()
    parent.follow()
    parent.send("unfollow")
    row_id = plan(parent.user_id)
    delivery.deliver(runtime.gateway, [row_id])
    assert row(row_id).status == "expired"
    with unit_of_work() as s:
        assert s.scalars(select(OutboxMessage).where(OutboxMessage.id == row_id)).one().last_error
