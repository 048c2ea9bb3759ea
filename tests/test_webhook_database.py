"""While the database is away (PostgreSQL restarting, issue 19), the webhook answers 503 with Retry-After, so LINE
redelivers, and no traceback is logged; once it is back the same process stores again, without a restart."""

from __future__ import annotations

import logging
import os
import time

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import func, select

from bot.app import create_app
from storage import migrate
from storage.db import inbox_unit_of_work
from storage.models import InboxEvent
from tests.conftest import SECRET
from tests.support import body_of, event, new_user_id, sign
from tests.test_scheduler_postgres import cluster  # noqa: F401 (a disposable PostgreSQL of this test's own)


def post(client, raw: bytes):
    return client.post(
        "/callback", data=raw, headers={"X-Line-Signature": sign(raw, SECRET), "Content-Type": "application/json"}
    )


def inbox_count() -> int:
    with inbox_unit_of_work() as s:
        return s.scalar(select(func.count()).select_from(InboxEvent))


def tracebacks(records: list[logging.LogRecord]) -> list[str]:
    return [r.getMessage() for r in records if r.exc_info or r.levelno >= logging.ERROR]


def test_while_the_database_is_unreachable_the_webhook_answers_503_with_retry_after(client, monkeypatch, caplog):
    import storage.inbox

    def unreachable(*args, **kwargs):
        raise sa_exc.OperationalError("INSERT INTO inbox_events", {}, ConnectionRefusedError("connection refused"))

    monkeypatch.setattr(storage.inbox, "store", unreachable)
    raw = body_of(event("follow", new_user_id()))
    response = post(client, raw)
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0
    assert tracebacks(caplog.records) == []
    monkeypatch.undo()
    assert post(client, raw).status_code == 200  # LINE's redelivery
    assert inbox_count() == 1


@pytest.mark.postgres
@pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="PostgreSQL tier: set DATABASE_URL=postgresql://… to run",
)
def test_the_webhook_answers_503_while_postgresql_restarts_and_stores_again_without_a_restart(cluster, line, caplog):  # noqa: F811
    migrate.upgrade(cluster.url)
    app = create_app(
        {
            "mode": "test",
            "database_url": cluster.url,
            "line_api_base_url": line.base_url,
            "line_channel_secret": SECRET,
            "line_channel_access_token": "test-token",
            "inline_processing": False,
        }
    )
    runtime = app.extensions["kosodate"]
    client = app.test_client()
    try:
        assert post(client, body_of(event("follow", new_user_id()))).status_code == 200  # the pool has connections

        cluster.stop()
        away = body_of(event("follow", new_user_id()))
        response = post(client, away)
        assert response.status_code == 503 and response.headers["Retry-After"]

        cluster.start()  # returns once PostgreSQL accepts connections
        back = time.monotonic()
        assert post(client, away).status_code == 200, "the pool's dead connections were replaced (pre-ping)"
        logging.getLogger(__name__).info(
            "first webhook stored %.3f s after PostgreSQL was back", time.monotonic() - back
        )
        with inbox_unit_of_work() as s:
            assert s.scalar(select(func.count()).select_from(InboxEvent)) == 2
    finally:
        runtime.close()
        runtime.engine.dispose()
    assert tracebacks(caplog.records) == []
