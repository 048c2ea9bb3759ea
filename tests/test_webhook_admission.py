"""Which signed events are ours to store (issue 13, item 8): only those addressed to this channel's bot, and none
older than a day unless LINE says it is redelivering them. Refused events are acknowledged (LINE would otherwise
redeliver them) but never stored, and the log says why without saying whose they were."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.app import create_app
from bot.config import ConfigError, from_environ
from bot.demo.line_double import BOT_USER_ID
from runtime.bot_identity import RETRY_SECONDS, BotIdentity
from storage.clock import now
from storage.db import inbox_unit_of_work
from storage.models import InboxEvent
from tests.conftest import SECRET
from tests.support import body_of, event, new_user_id, sign

ANOTHER_BOT = "U" + "a" * 32


def post(client, raw: bytes):
    return client.post(
        "/callback", data=raw, headers={"X-Line-Signature": sign(raw, SECRET), "Content-Type": "application/json"}
    )


def inbox_count() -> int:
    with inbox_unit_of_work() as s:
        return s.scalar(select(func.count()).select_from(InboxEvent))


def addressed_to(destination: str, *events) -> bytes:
    return body_of(*events).replace(BOT_USER_ID.encode(), destination.encode())


@pytest.fixture
def identity(app):
    """This channel's bot user id, learned from LINE (the double) before the test posts anything."""
    found = app.extensions["bot_identity"]
    assert found.learn() == BOT_USER_ID
    return found


def test_the_bot_user_id_is_learned_from_lines_bot_info(identity, line):
    assert identity.known == BOT_USER_ID
    assert [r["method"] for r in line.requests(r"^/v2/bot/info$")] == ["GET"]


def test_events_for_another_channels_bot_are_acknowledged_but_not_stored(client, identity, caplog):
    user = new_user_id()
    assert post(client, addressed_to(ANOTHER_BOT, event("follow", user))).status_code == 200
    assert inbox_count() == 0
    assert "addressed to another bot" in caplog.text
    assert ANOTHER_BOT not in caplog.text and user not in caplog.text


def test_events_for_this_channels_bot_are_stored(client, identity):
    assert post(client, body_of(event("follow", new_user_id()))).status_code == 200
    assert inbox_count() == 1


def test_a_configured_bot_user_id_is_used_without_asking_line(database_url, line, app):
    configured = create_app(
        {
            "mode": "test",
            "database_url": database_url,
            "line_api_base_url": line.base_url,
            "line_channel_secret": SECRET,
            "line_bot_user_id": ANOTHER_BOT,
            "inline_processing": False,
        }
    )
    try:
        client = configured.test_client()
        assert post(client, body_of(event("follow", new_user_id()))).status_code == 200
        assert inbox_count() == 0, "the double's bot id is not the configured one"
        assert post(client, addressed_to(ANOTHER_BOT, event("follow", new_user_id()))).status_code == 200
        assert inbox_count() == 1
        assert line.requests(r"^/v2/bot/info$") == []
    finally:
        configured.extensions["kosodate"].close()


def test_a_bot_user_id_that_is_not_one_stops_the_start_with_one_line():
    with pytest.raises(ConfigError, match="^LINE_BOT_USER_ID must be"):
        from_environ({"APP_MODE": "test", "LINE_BOT_USER_ID": "@kosodate"})


def test_while_line_cannot_say_who_we_are_events_are_accepted_and_learning_is_retried_later(app, client, line):
    line.inject_fault(r"^/v2/bot/info$", 500)
    identity = app.extensions["bot_identity"]
    assert identity.learn() is None
    assert post(client, addressed_to(ANOTHER_BOT, event("follow", new_user_id()))).status_code == 200
    assert inbox_count() == 1, "accepted: refusing would lose parents' messages while LINE's API is down"


def test_learning_is_tried_again_at_most_once_a_minute():
    moment = [0.0]
    attempts: list[float] = []
    answers = iter([None, BOT_USER_ID])

    def fetch():
        attempts.append(moment[0])
        return next(answers)

    identity = BotIdentity("", fetch, clock=lambda: moment[0], run=lambda work: work())  # no thread: seen at once
    assert identity.accepts(ANOTHER_BOT) and attempts == [0.0]
    moment[0] = RETRY_SECONDS - 1
    assert identity.accepts(ANOTHER_BOT) and attempts == [0.0]
    moment[0] = RETRY_SECONDS
    assert identity.accepts(ANOTHER_BOT) and attempts == [0.0, RETRY_SECONDS]
    assert not identity.accepts(ANOTHER_BOT) and identity.accepts(BOT_USER_ID)


@pytest.mark.parametrize(
    "age, redelivery, stored",
    [
        (timedelta(hours=25), False, False),
        (timedelta(hours=25), True, True),
        (timedelta(hours=23), False, True),
    ],
)
def test_events_older_than_a_day_are_refused_unless_redelivered(client, identity, caplog, age, redelivery, stored):
    old = event(
        "follow",
        new_user_id(),
        deliveryContext={"isRedelivery": redelivery},
        timestamp=int((now() - age).timestamp() * 1000),
    )
    assert post(client, body_of(old)).status_code == 200
    assert inbox_count() == (1 if stored else 0)
    assert ("older than 24 hours" in caplog.text) is not stored


def test_the_simulator_and_the_test_builders_address_this_channel(app, chat, identity, line):
    parent = chat()
    assert parent.follow(), "a follow from tests.support reached the bot and was answered"
    app.extensions["line_double"] = line
    assert (
        app.test_client().post("/simulator/api/send", json={"persona": "sakura", "kind": "follow"}).status_code == 200
    )
    assert inbox_count() == 2
