"""Every request the bot makes is valid per LINE's official OpenAPI spec (messaging-api.yml).

The journeys walk the bot the way a person would — follow, then tap what it offers, type answers, send stickers,
ask for help, cancel — so every message builder in use is exercised against the spec, not just our own limits.
"""

from __future__ import annotations

import collections

import pytest

from handlers.replies import Card, Carousel, Choice, Text
from runtime import delivery
from runtime.line_gateway import Gateway
from runtime.render import render_all
from storage import outbox
from storage.db import unit_of_work
from tests.support import ChatUser

pytestmark = pytest.mark.contract

ANSWERS = [
    "山田 花子",
    "やまだ はなこ",
    "090-1234-5678",
    "2024-05",
    "2025年3月",
    "はい",
    "1",
    "テスト",
    "ヘルプ",
    "もどる",
]


def walk(user: ChatUser, first: list[dict], steps: int) -> int:
    """Breadth-first over what the bot offers; returns how many messages the bot sent."""
    queue = collections.deque([first])
    seen_labels: set[str] = set()
    sent = len(first)
    answers = iter(ANSWERS * 3)
    for _ in range(steps):
        if not queue:
            break
        messages = queue.popleft()
        choices = [(label, a) for label, a in user.choices(messages).items() if a["type"] != "uri"]
        fresh = [c for c in choices if c[0] not in seen_labels] or choices
        if fresh:
            label, _ = fresh[0]
            seen_labels.add(label)
            got = user.choose(messages, label)
        else:
            got = user.say(next(answers, "こんにちは"))
        sent += len(got)
        queue.append(got)
    return sent


def test_a_parent_walking_through_the_bot_never_sends_an_invalid_request(official_chat, official):
    parent = official_chat()
    greeting = parent.follow()
    assert greeting, "the follow event got no answer"
    sent = walk(parent, greeting, steps=40)
    parent.sticker()
    parent.say("ヘルプ")
    parent.say("やめる")
    parent.say("あ" * 6000)
    assert sent > 5
    assert official.rejected() == []


def test_push_multicast_and_retry_keys_follow_the_spec(contract_app, official):
    gateway: Gateway = contract_app.extensions["kosodate"].gateway
    users = ["U" + f"{i:032x}" for i in range(3)]
    rich = [
        Text("テキスト", quick=tuple(Choice(f"選択{i}", data=f"1|menu|help||{i}") for i in range(13))),
        Card(
            title="カード",
            lines=("一行目", "二行目"),
            buttons=(Choice("はい", data="1|x|y||1"), Choice("ひらく", uri="https://example.test/p")),
        ),
        Carousel(
            alt="一覧",
            cards=tuple(Card(title=f"イベント{i}", buttons=(Choice("詳しく", data="1|e|d|1|"),)) for i in range(10)),
        ),
    ]
    with unit_of_work() as s:
        ids = [
            outbox.add(s, purpose="test", messages=render_all(rich), line_user_id=users[0]),
            outbox.add(s, purpose="test", messages=render_all([Text("みなさんへ")]), recipients=users),
        ]
    delivery.deliver(gateway, ids)
    assert official.rejected() == []
    assert {r["operation"] for r in official.requests("/v2/bot/message")} == {"pushMessage", "multicast"}


def test_the_contract_tier_would_catch_an_invalid_message(contract_app, official):
    """The tier can fail: a message our builders would never produce is refused by the spec double."""
    gateway: Gateway = contract_app.extensions["kosodate"].gateway
    outcome = gateway.push(
        "U" + "a" * 32,
        [
            {
                "type": "text",
                "text": "x",
                "quickReply": {
                    "items": [{"type": "action", "action": {"type": "message", "label": "あ" * 21, "text": "x"}}]
                },
            }
        ],
        "123e4567-e89b-12d3-a456-426614174000",
    )
    assert outcome.status == "failed" and official.rejected()
