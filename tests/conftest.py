"""Fixtures: a migrated database (SQLite by default, PostgreSQL when DATABASE_URL says so), the project's LINE
double, the app (flaskr style: ``app``, ``client``, ``runner``), and simulated chat users."""
from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from bot import create_app
from bot.demo.line_double import LineDouble
from storage import migrate
from storage.db import normalize_url, unit_of_work
from storage.models import Base
from tests.support import ChatUser

SECRET = "test-channel-secret"


def _postgres_url() -> str | None:
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith("postgres") else None


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    server = _postgres_url()
    if server is None:
        path = Path(tmp_path_factory.mktemp("db")) / "test.sqlite3"
        url = f"sqlite:///{path}"
        migrate.upgrade(url)
        yield url
        return
    name = f"kosodate_test_{os.getpid()}_{secrets.token_hex(3)}"
    admin = create_engine(normalize_url(server), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = normalize_url(server).rsplit("/", 1)[0] + "/" + name
    migrate.upgrade(url)
    yield url
    from storage.db import get_engine

    try:
        get_engine().dispose()
    except RuntimeError:
        pass
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def line():
    double = LineDouble().start()
    yield double
    double.stop()


@pytest.fixture
def app(database_url, line):
    line.reset()
    app = create_app(
        {
            "mode": "test",
            "database_url": database_url,
            "line_api_base_url": line.base_url,
            "line_channel_secret": SECRET,
            "line_channel_access_token": "test-token",
            "public_base_url": "https://bot.example.test",
            "inline_processing": False,
            "line_timeout_seconds": 2.0,
        }
    )
    app.config.update(TESTING=True)
    runtime = app.extensions["kosodate"]
    runtime.gateway.backoff = 0.01
    from handlers.policy_text import POLICY_TEXT
    from storage import people

    with unit_of_work() as session:
        people.ensure_policy(session, POLICY_TEXT)
    yield app
    runtime.close()
    with unit_of_work() as session:
        for table in reversed(Base.metadata.sorted_tables):
            session.execute(table.delete())


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def runtime(app):
    return app.extensions["kosodate"]


@pytest.fixture
def chat(client, line, runtime):
    """A factory of chat users: ``parent = chat()``."""

    def make(user_id: str | None = None) -> ChatUser:
        return ChatUser(client, line, runtime, SECRET, user_id)

    return make
