"""Redelivered events across processes: stored once, processed once, answered once, in order per user."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select

from storage.db import inbox_unit_of_work, unit_of_work
from storage.models import InboxEvent, OutboxMessage
from tests.support import body_of, event, new_user_id

ROOT = Path(__file__).resolve().parent.parent


def test_same_events_delivered_to_two_processes_at_once_are_processed_once(database_url, line, app, tmp_path):
    users = [new_user_id() for _ in range(5)]
    events = []
    for user in users:
        token = line.issue_reply_token()
        line.bind_reply_token(token, user)
        events.append(event("follow", user, token))
        events.append(
            event(
                "message",
                user,
                line.issue_reply_token(),
                message={"type": "text", "id": "1", "text": "ヘルプ", "quoteToken": "q"},
            )
        )
    body = tmp_path / "body.json"
    body.write_bytes(body_of(*events))
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.concurrent_client", database_url, line.base_url, str(body), str(go)], cwd=ROOT
        )
        for _ in range(2)
    ]
    go.touch()
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    with inbox_unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(InboxEvent)) == len(events)
        assert set(s.scalars(select(InboxEvent.status))) == {"done"}
    with unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == len(events)
    replies = line.requests("/message/reply")
    assert len(replies) == len(events) and all(r["status"] == 200 for r in replies)
    for user in users:
        # the follow greeting arrives before the answer to the message sent after it
        texts = [d["message"].get("text", "") for d in line.delivered(to=user)]
        assert "友だち追加" in texts[0]
