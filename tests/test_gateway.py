"""The one gateway to LINE, under faults: reply-token fallback, retries with one retry key, timeouts."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from linebot.v3.messaging import MulticastRequest, PushMessageRequest, ReplyMessageRequest
from sqlalchemy import select

from handlers.replies import Card, Carousel, Choice, Text
from runtime import delivery
from runtime.render import batches, render_all
from storage import outbox
from storage.db import unit_of_work
from storage.models import OutboxMessage
from tests.support import new_user_id


def plan(to: str, text: str = "こんにちは", reply_token: str | None = None) -> int:
    with unit_of_work() as s:
        return outbox.add(
            s, purpose="test", messages=render_all([Text(text)]), line_user_id=to, reply_token=reply_token
        )


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


# --- the light request path: bodies go to the SDK's ApiClient as they are, without MessagingApi's models --------
CHOICES = (
    Choice("申し込む", data="events:apply:12:3"),
    Choice("いいえ", text="いいえ"),
    Choice("参加ページ", uri="https://bot.example.jp/j/abcdef"),
)
SAMPLES = {
    "text with quick replies": [Text("こんにちは", quick=CHOICES)],
    "card": [Card(title="ねんねの赤ちゃん交流会", lines=("12月1日 10:00", "南本町"), buttons=CHOICES, alt="ご案内")],
    "carousel": [
        Carousel(cards=(Card(title="一", buttons=CHOICES[:1]), Card(title="二")), alt="イベント一覧", quick=CHOICES)
    ],
    "long text in two messages": [Text("あ" * 6000)],
}
SDK_MODELS = {
    "/v2/bot/message/reply": ReplyMessageRequest,
    "/v2/bot/message/push": PushMessageRequest,
    "/v2/bot/message/multicast": MulticastRequest,
}


@pytest.mark.parametrize("replies", SAMPLES.values(), ids=SAMPLES.keys())
def test_what_we_send_is_what_the_sdks_own_request_models_would_send(runtime, line, replies):
    messages = render_all(replies)
    token, user, group = line.issue_reply_token(), new_user_id(), [new_user_id(), new_user_id()]
    outcomes = [
        runtime.gateway.reply(token, messages),
        runtime.gateway.push(user, messages, str(uuid.uuid4())),
        runtime.gateway.multicast(group, messages, str(uuid.uuid4())),
    ]
    assert [o.status for o in outcomes] == ["sent"] * 3
    sent = [
        e
        for e in line.requests("/v2/bot/message/")  # only ours: another test's thread may still be sending
        if (e["json"] or {}).get("replyToken") == token or (e["json"] or {}).get("to") in (user, group)
    ]
    assert len(sent) == 3
    for entry in sent:
        rebuilt = SDK_MODELS[entry["path"]].from_dict(entry["json"]).to_dict()  # validates, as MessagingApi would
        assert rebuilt == {**entry["json"], "notificationDisabled": False}  # LINE's default, left out by us


def test_every_push_and_multicast_attempt_carries_the_retry_key_and_the_channel_token(runtime, line):
    line.inject_fault("/message/multicast", 503, count=1)
    key, group = str(uuid.uuid4()), [new_user_id()]
    assert runtime.gateway.multicast(group, render_all([Text("x")]), key).delivered
    attempts = [e for e in line.requests("/message/multicast") if e["json"]["to"] == group]
    # 200: the double answers 401 without the channel's bearer token.
    assert [a["status"] for a in attempts] == [503, 200] and {a["retry_key"] for a in attempts} == {key}
    token = line.issue_reply_token()
    runtime.gateway.reply(token, render_all([Text("x")]))
    [reply] = [e for e in line.requests("/message/reply") if e["json"]["replyToken"] == token]
    assert reply["status"] == 200 and reply["retry_key"] is None  # LINE refuses a retry key on replies


def test_a_refused_reply_token_is_told_apart_from_other_refusals(runtime, line):
    assert runtime.gateway.reply("never-issued", render_all([Text("x")])).status == "bad_token"
    line.inject_fault("/message/reply", 400, count=1)
    assert runtime.gateway.reply(line.issue_reply_token(), render_all([Text("x")])).status == "failed"


labels = st.text(min_size=1, max_size=40)
choices = st.one_of(
    st.builds(Choice, labels, data=st.from_regex(r"[a-z]{1,10}:[a-z]{1,10}:[0-9]{1,400}", fullmatch=True)),
    st.builds(Choice, labels, text=st.text(min_size=1, max_size=400)),
    st.builds(Choice, labels, uri=st.just("https://bot.example.jp/j/abc")),
)
cards = st.builds(
    Card,
    labels,
    lines=st.lists(st.text(max_size=200), max_size=6).map(tuple),
    buttons=st.lists(choices, max_size=6).map(tuple),
    alt=st.text(max_size=500),
)
replies = st.one_of(
    st.builds(Text, st.text(min_size=1, max_size=6000), quick=st.lists(choices, max_size=15).map(tuple)),
    cards,
    st.builds(Carousel, st.lists(cards, min_size=1, max_size=12).map(tuple), alt=st.text(max_size=500)),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(replies, min_size=1, max_size=3))
def test_our_builders_keep_to_the_limits_the_sdks_models_check(some):
    """The gateway relies on runtime/render.py instead of the SDK's validation: whatever it builds, the SDK accepts."""
    for part in batches(render_all(some)):
        PushMessageRequest.from_dict({"to": "U" + "0" * 32, "messages": part})
