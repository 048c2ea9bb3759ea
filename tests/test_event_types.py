"""Every LINE event type, and unknown ones, is handled without error."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from storage.db import inbox_unit_of_work, unit_of_work
from storage.models import InboxEvent, LineUser
from tests import samples as sample_events
from tests.support import new_user_id

USER = new_user_id()
SAMPLES = sample_events.samples(USER)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_each_event_type_is_acknowledged_and_processed_without_error(name, chat, runtime, line):
    parent = chat(USER)
    sample = dict(SAMPLES[name])
    if "replyToken" in sample:
        sample["replyToken"] = line.issue_reply_token()
        line.bind_reply_token(sample["replyToken"], USER)
    assert parent.post(sample).status_code == 200
    runtime.drain()
    with inbox_unit_of_work() as s:
        statuses = {e.status for e in s.scalars(select(InboxEvent))}
    assert statuses == {"done"}
    assert all(r["status"] == 200 for r in line.requests("/v2/bot/"))


def test_text_sticker_and_postback_get_answers(chat):
    parent = chat()
    assert parent.say("こんにちは")
    assert parent.sticker()
    assert parent.tap("1|menu|help||")


def test_standby_events_are_stored_but_answered_by_nobody(chat, line, runtime):
    parent = chat(USER)
    sample = dict(SAMPLES["standby:text"], replyToken=line.issue_reply_token())
    parent.post(sample)
    runtime.drain()
    assert line.requests("/v2/bot/message") == []


def test_unfollow_marks_the_user_blocked(chat):
    parent = chat()
    parent.follow()
    parent.send("unfollow")
    with unit_of_work() as s:
        assert s.scalars(select(LineUser)).one().status == "blocked"


def test_the_bot_leaves_groups_politely(chat, line, runtime):
    parent = chat(USER)
    sample = dict(SAMPLES["join:group"], replyToken=line.issue_reply_token())
    parent.post(sample)
    runtime.drain()
    assert len(line.requests("/message/reply")) == 1
    assert line.left == [sample["source"]["groupId"]]


def test_processed_events_keep_no_message_text(chat):
    parent = chat()
    parent.say("私の電話番号は 090-1234-5678 です")
    with inbox_unit_of_work() as s:
        payloads = [e.payload for e in s.scalars(select(InboxEvent))]
    assert "090" not in repr(payloads) and parent.user_id not in repr(payloads)
