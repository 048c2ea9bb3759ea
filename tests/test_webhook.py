"""The webhook's contract with LINE: verify, store once, acknowledge fast, never crash on bad input."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from storage.db import inbox_unit_of_work, unit_of_work
from storage.models import InboxEvent, OutboxMessage
from tests.conftest import SECRET
from tests.support import body_of, event, new_user_id, sign


def inbox_count() -> int:
    with inbox_unit_of_work() as s:
        return s.scalar(select(func.count()).select_from(InboxEvent))


def post(client, raw: bytes, signature: str | None):
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["X-Line-Signature"] = signature
    return client.post("/callback", data=raw, headers=headers)


def test_wrong_signature_is_refused_and_nothing_stored(client):
    raw = body_of(event("follow", new_user_id()))
    assert post(client, raw, sign(raw, "another-secret")).status_code == 400
    assert post(client, raw, None).status_code == 400
    assert post(client, raw, "").status_code == 400
    assert inbox_count() == 0


def test_oversized_body_is_refused_before_any_work(client):
    raw = b'{"events": [' + b" " * 1_100_000 + b"]}"
    assert post(client, raw, sign(raw, SECRET)).status_code == 413
    assert inbox_count() == 0


def test_malformed_bodies_are_refused_even_when_signed(client):
    for raw in (b"not json", b"[]", b'{"events": 3}', b'{"events": [1]}', b"\xff\xfe", b'{"destination": "x"}'):
        assert post(client, raw, sign(raw, SECRET)).status_code == 400
    assert inbox_count() == 0


def test_url_verification_with_no_events_gets_200(client):
    raw = json.dumps({"destination": "U" + "0" * 32, "events": []}).encode()
    assert post(client, raw, sign(raw, SECRET)).status_code == 200


def test_event_is_stored_before_the_acknowledgement(client):
    raw = body_of(event("follow", new_user_id(), "r" * 32))
    assert post(client, raw, sign(raw, SECRET)).status_code == 200
    with inbox_unit_of_work() as s:
        stored = s.scalars(select(InboxEvent)).one()
    assert stored.status == "pending" and stored.event_type == "follow"


def test_redelivered_event_is_processed_once_with_one_reply(chat, client, runtime, line):
    parent = chat()
    token = line.issue_reply_token()
    line.bind_reply_token(token, parent.user_id)
    follow = event("follow", parent.user_id, token)
    for redelivery in (False, True, True):
        follow["deliveryContext"] = {"isRedelivery": redelivery}
        assert parent.post(follow).status_code == 200
    runtime.drain()
    assert inbox_count() == 1
    assert len(line.requests("/message/reply")) == 1
    with unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == 1


def test_odd_fields_in_one_event_do_not_fail_the_others(client):
    """An event LINE would never send is skipped (it would be as odd on every redelivery); its neighbours are
    stored and the request acknowledged."""
    odd = event("follow", new_user_id())
    odd["timestamp"] = "yesterday"
    odd["source"] = {"type": "user", "userId": 42}
    raw = body_of(odd, event("follow", new_user_id()))
    assert post(client, raw, sign(raw, SECRET)).status_code == 200
    assert inbox_count() == 1


def test_when_the_database_cannot_store_the_answer_is_500_so_line_redelivers(client, monkeypatch):
    import storage.inbox

    def unavailable(*args, **kwargs):
        raise RuntimeError("database unavailable")

    monkeypatch.setattr(storage.inbox, "store", unavailable)
    raw = body_of(event("follow", new_user_id()))
    assert post(client, raw, sign(raw, SECRET)).status_code == 500
    monkeypatch.undo()
    assert post(client, raw, sign(raw, SECRET)).status_code == 200  # the redelivery is stored
    assert inbox_count() == 1


def test_a_burst_of_concurrent_requests_is_stored_completely(app):
    """Group commit: many requests at once share transactions, and every one is stored before its 200."""
    from concurrent.futures import ThreadPoolExecutor

    bodies = [body_of(event("follow", new_user_id())) for _ in range(60)]

    def send(raw):
        with app.test_client() as c:
            return post(c, raw, sign(raw, SECRET)).status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        assert set(pool.map(send, bodies)) == {200}
    assert inbox_count() == 60
