"""Fixtures: a migrated database (SQLite by default, PostgreSQL when DATABASE_URL says so), the project's LINE
double, the app (flaskr style: ``app``, ``client``, ``runner``), and simulated chat users."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from bot.app import create_app
from bot.demo.line_double import LineDouble
from storage import migrate
from storage.db import inbox_unit_of_work, normalize_url, unit_of_work
from storage.models import Base, InboxEvent
from tests.browser_support import browser  # noqa: F401 (a session fixture: one Chromium for every browser test)
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
    from handlers.registration.policy_text import POLICY_TEXT
    from storage import people

    with unit_of_work() as session:
        people.ensure_policy(session, POLICY_TEXT)
    yield app
    runtime.close()
    with unit_of_work() as session:
        for table in reversed(Base.metadata.sorted_tables):
            session.execute(table.delete())
    with inbox_unit_of_work() as session:  # the inbox's own database on SQLite (the same one on PostgreSQL)
        session.execute(InboxEvent.__table__.delete())


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


# --- staff console (tests/test_staff*.py, tests/test_security*.py) ------------------------------------------------
STAFF_PASSWORD = "correct horse battery staple"


@pytest.fixture
def fast_passwords(monkeypatch):
    """argon2id with small costs, so tests that sign in often stay quick (the real parameters are tested apart)."""
    from argon2 import PasswordHasher

    from storage import staff

    monkeypatch.setattr(staff, "HASHER", PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1))


@pytest.fixture
def staff_factory(app, fast_passwords):
    """``staff_factory(role, centre)`` → a staff account (id, login, password) in the database."""
    from types import SimpleNamespace

    from storage import staff

    def make(role: str = "admin", centre: str = "division", *, name: str = "", active: bool = True):
        login = f"{role}.{centre}.{secrets.token_hex(3)}@city.funabashi.example"
        with unit_of_work() as session:
            member = staff.create_member(
                session,
                name=name or f"職員 {role} {centre}",
                login=login,
                centre=centre,
                role=role,
                password=STAFF_PASSWORD,
            )
            member.active = active
            return SimpleNamespace(id=member.id, login=login, password=STAFF_PASSWORD, role=role, centre=centre)

    return make


@pytest.fixture
def csrf_token():
    """``csrf_token(client, path)`` → the CSRF token from a page's form (the client's session keeps it valid)."""
    import re

    def token(client, path: str = "/staff/login") -> str:
        page = client.get(path, follow_redirects=True)
        found = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page.get_data(as_text=True))
        assert found, f"no CSRF token on {path} ({page.status_code})"
        return found.group(1)

    return token


@pytest.fixture
def sign_in(csrf_token):
    """``sign_in(client, account)`` posts the login form like a browser; returns the response."""

    def post(client, account, password: str | None = None, address: str = "127.0.0.1"):
        token = csrf_token(client)
        return client.post(
            "/staff/login",
            data={"csrf_token": token, "login": account.login, "password": password or account.password},
            environ_base={"REMOTE_ADDR": address},
            headers={"Referer": "https://localhost/staff/login"},
        )

    return post


@pytest.fixture
def console(app, staff_factory, sign_in):
    """A signed-in test client: ``console(role, centre)`` → (client, account)."""

    def make(role: str = "admin", centre: str = "division"):
        client = app.test_client()
        account = staff_factory(role, centre)
        assert sign_in(client, account).status_code == 302
        return client, account

    return make


@pytest.fixture
def parent_factory(app):
    """``parent_factory(name=..., centre=...)`` → the id of a registered parent who agreed to the current policy."""
    from storage import people, users
    from storage.clock import today_tokyo

    def make(
        name: str = "船橋 花子",
        furigana: str = "ふなばし はなこ",
        phone: str = "09012345678",
        centre: str = "minamihoncho",
        line_user_id: str | None = None,
    ) -> int:
        with unit_of_work() as session:
            user = users.get_or_create(session, line_user_id or "U" + secrets.token_hex(16))
            parent = people.save_parent(
                session,
                user.id,
                name=name,
                furigana=furigana,
                phone=phone,
                is_guardian=True,
                is_pregnant=False,
                due_month=None,
                centre=centre,
                children=[today_tokyo().replace(day=1)],
            )
            people.record_consent(session, user.id, people.current_policy(session), "agreed")
            return parent.id

    return make


@pytest.fixture
def event_factory(app):
    """``event_factory(centre=..., starts_in=timedelta(...))`` → the id of a published event."""
    from datetime import timedelta

    from storage import events
    from storage.clock import now

    def make(
        centre: str = "minamihoncho",
        title: str = "オンライン交流会",
        starts_in: timedelta = timedelta(days=3),
        capacity: int = 10,
        needs_approval: bool = False,
    ) -> int:
        start = now() + starts_in
        with unit_of_work() as session:
            event = events.create(
                session,
                centre=centre,
                kind="meetup",
                title=title,
                description="",
                starts_at=start,
                ends_at=start + timedelta(hours=1),
                capacity=capacity,
                applications_open_at=now() - timedelta(days=1),
                applications_close_at=start - timedelta(minutes=1),
                needs_approval=needs_approval,
                conference_service="Zoom",
                join_url="https://zoom.example/j/123",
                meeting_id="123 456 789",
                passcode="secret-pass",
                created_by="test",
            )
            events.publish(session, event)
            return event.id

    return make


# --- privacy: no personal data in any log line, checked over the whole session (tests/privacy_plugin.py) ----------
pytest_plugins = ("tests.privacy_plugin",)
