"""``kosodate demo``: one process with the web app, the worker and the LINE double, on its own SQLite file.

These tests start the real thing on a free port. Processing runs in the background there (inline lanes and the
worker's sweep), as in the demo, so the one end-to-end check waits for the answer with a deadline.
"""
from __future__ import annotations

import time

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from bot.cli import cli
from bot.demo import seed as seeding
from bot.demo.run import Demo
from storage.db import unit_of_work
from storage.models import PolicyVersion

DEADLINE_SECONDS = 15


@pytest.fixture
def recorded_seeds(monkeypatch) -> list[tuple]:
    """Stands in for the areas' seeding functions, to see when the demo seeds."""
    calls: list[tuple] = []
    monkeypatch.setattr(seeding, "SEEDERS", ("seed_sample",))
    monkeypatch.setattr(seeding, "seed_sample", lambda session, now: calls.append((session, now)), raising=False)
    return calls


def run_demo(database, fresh: bool = False) -> Demo:
    demo = Demo(database, port=0, fresh=fresh).start()
    demo.stop()
    return demo


def test_the_demo_answers_a_new_friend_in_the_simulator(tmp_path):
    demo = Demo(tmp_path / "demo.sqlite3", port=0).start().serve_in_background()
    try:
        with httpx.Client(base_url=demo.base_url, timeout=5) as http:
            page = http.get("/simulator/")
            assert page.status_code == 200 and "さくら（保護者）" in page.text
            assert http.post("/simulator/api/send", json={"persona": "sakura", "kind": "follow"}).status_code == 200
            deadline = time.monotonic() + DEADLINE_SECONDS
            texts = ""
            while "友だち追加ありがとうございます" not in texts and time.monotonic() < deadline:
                items = http.get("/simulator/api/messages", params={"persona": "sakura"}).json()["items"]
                texts = " ".join(str(i.get("message", "")) for i in items if i["from"] == "bot")
                time.sleep(0.05)
        assert "友だち追加ありがとうございます" in texts
        assert demo.app.extensions["line_double"] is demo.double
        assert demo.runtime.config.mode == "demo"
        assert demo.runtime.config.line_api_base_url == demo.double.base_url
        assert demo.simulator_url == demo.base_url + "/simulator/"
        assert any(demo.simulator_url in line for line in demo.banner())
        with unit_of_work() as session:
            assert session.scalar(select(func.count()).select_from(PolicyVersion)) == 1
    finally:
        demo.stop()
    assert not demo.scheduler.running


def test_a_new_database_is_seeded_once_and_fresh_starts_over(tmp_path, recorded_seeds):
    database = tmp_path / "instance" / "demo.sqlite3"
    first = run_demo(database)
    assert first.created and first.seeded == ["seed_sample"] and len(recorded_seeds) == 1
    again = run_demo(database)
    assert not again.created and again.seeded == [] and len(recorded_seeds) == 1
    fresh = run_demo(database, fresh=True)
    assert fresh.created and len(recorded_seeds) == 2


def test_seed_runs_only_the_seeders_that_exist(monkeypatch):
    monkeypatch.setattr(seeding, "SEEDERS", ("seed_nothing_yet",))
    assert seeding.seed(session=None) == []


def test_the_demo_command_starts_without_an_app_context(monkeypatch, tmp_path):
    started: list[Demo] = []
    monkeypatch.setattr(Demo, "serve_forever", lambda self: (started.append(self), self.stop()))
    result = CliRunner().invoke(
        cli, ["demo", "--port", "0", "--database", str(tmp_path / "d.sqlite3"), "--fresh"]
    )
    assert result.exit_code == 0, result.output
    assert "/simulator/" in result.output and "Ctrl-C" in result.output
    assert started and started[0].fresh and started[0].database == tmp_path / "d.sqlite3"
