"""A source id longer than LINE's is not a LINE event (second outside probe of issue 13, item 7).

LINE's user, group and room ids are 33 characters and the database keeps at most 64 (``line_users.line_user_id``).
A signed event with a longer one used to be stored, then fail at processing on PostgreSQL (a DataError and its
traceback, three times); it is now skipped at the door like any event of an unknown shape, and its neighbours in
the same request are stored.
"""

from __future__ import annotations

from sqlalchemy import select

from storage.db import inbox_unit_of_work
from storage.models import InboxEvent
from tests.conftest import SECRET
from tests.support import body_of, event, new_user_id, sign


def test_an_event_whose_source_id_is_longer_than_lines_is_skipped_and_its_neighbour_stored(client, caplog):
    forged = event("follow", "U" + "a" * 64)
    fine = event("follow", new_user_id())
    raw = body_of(forged, fine)
    answer = client.post(
        "/callback", data=raw, headers={"X-Line-Signature": sign(raw, SECRET), "Content-Type": "application/json"}
    )
    assert answer.status_code == 200
    with inbox_unit_of_work() as s:
        stored = set(s.scalars(select(InboxEvent.webhook_event_id)))
    assert stored == {fine["webhookEventId"]}
    assert "not a LINE event of a known shape" in caplog.text and "a" * 64 not in caplog.text
