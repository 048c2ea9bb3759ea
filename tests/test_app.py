"""The app factory, configuration and small public pages."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from bot.config import ConfigError, from_environ
from handlers.registration.policy_text import POLICY_TEXT


def test_production_refuses_to_start_without_secrets():
    with pytest.raises(ConfigError) as info:
        from_environ({"APP_MODE": "production", "LINE_CHANNEL_SECRET": "s"})
    message = str(info.value)
    assert "\n" not in message and "LINE_CHANNEL_ACCESS_TOKEN" in message and "SECRET_KEY" in message


def test_the_refusal_is_one_clear_line_not_a_traceback(tmp_path):
    env = {"APP_MODE": "production", "PATH": "/usr/bin:/bin", "DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}
    done = subprocess.run(
        [sys.executable, "-c", "from bot.app import create_app; create_app()"], env=env, capture_output=True, text=True
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().count("\n") == 0 and "LINE_CHANNEL_SECRET" in done.stderr


def test_unknown_mode_is_refused():
    with pytest.raises(ConfigError):
        from_environ({"APP_MODE": "staging"})


def test_test_mode_fills_throwaway_secrets():
    config = from_environ({"APP_MODE": "test"})
    assert config.line_channel_secret and config.secret_key and config.database_url.startswith("sqlite:///")


def test_line_api_base_url_points_the_sdk_at_a_double(app, line):
    assert app.extensions["kosodate"].gateway.api.api_client.configuration.host == line.base_url


def test_healthz_reports_database_reachability(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json["database"] is True


def test_healthz_says_503_when_the_database_is_gone(client, monkeypatch):
    import bot.pages

    monkeypatch.setattr(bot.pages, "ping", lambda: False)
    assert client.get("/healthz").status_code == 503


def test_policy_page_shows_the_exact_policy_text(client):
    page = client.get("/policy").get_data(as_text=True)
    for line in POLICY_TEXT.splitlines():
        words = line.strip().removeprefix("- ")
        if words:
            assert words in page


def test_policy_page_shows_the_version_in_force_after_staff_publish_a_new_one(client):
    from storage import people
    from storage.db import unit_of_work

    with unit_of_work() as session:
        people.ensure_policy(session, POLICY_TEXT + "\n\n10. 附則\n\nこの改定は公開の日から施行する。")
    page = client.get("/policy").get_data(as_text=True)
    assert "この改定は公開の日から施行する。" in page


@pytest.mark.parametrize("path", ["/policy", "/staff/login"])
def test_parents_and_staff_pages_name_an_icon_that_exists(client, path):
    """Without one the browser asks for /favicon.ico on every page, a 404 in every log and console."""
    page = client.get(path).get_data(as_text=True)
    icon = re.search(r'<link rel="icon" href="([^"]+)"', page)
    assert icon and client.get(icon.group(1)).status_code == 200
