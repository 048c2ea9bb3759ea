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
from tests.operator_support import commands_ran  # noqa: F401 (a module fixture: `kosodate demo` ran as a process)

pytestmark = pytest.mark.usefixtures("commands_ran")

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
    result = CliRunner().invoke(cli, ["demo", "--port", "0", "--database", str(tmp_path / "d.sqlite3"), "--fresh"])
    assert result.exit_code == 0, result.output
    assert "/simulator/" in result.output and "Ctrl-C" in result.output
    assert started and started[0].fresh and started[0].database == tmp_path / "d.sqlite3"


# --- the staff console's way in, and reminders at any hour (issue #14) -------------------------------------------
def sign_in(base_url: str, login: str, password: str) -> httpx.Response:
    """The console's login form, as a browser sends it (with its CSRF token)."""
    import re

    with httpx.Client(base_url=base_url, timeout=10) as http:
        form = http.get("/staff/login")
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form.text)[1]
        return http.post("/staff/login", data={"csrf_token": token, "login": login, "password": password})


def test_the_demo_prints_a_console_login_that_works_only_while_the_demo_runs(tmp_path):
    from storage import staff

    demo = Demo(tmp_path / "demo.sqlite3", port=0).start().serve_in_background()
    try:
        login, password = demo.console
        banner = "\n".join(demo.banner())
        assert f"{demo.base_url}/staff/login" in banner and login in banner and password in banner
        signed_in = sign_in(demo.base_url, login, password)
        assert signed_in.status_code == 302 and "/staff/login" not in signed_in.headers["location"]
        assert demo.runtime.config.quiet_hours == "off"
    finally:
        demo.stop()
    with unit_of_work() as session:
        member = staff.by_login(session, login)
        assert member.role == "admin" and not member.active  # the printed password opens nothing any more
    again = Demo(tmp_path / "demo.sqlite3", port=0).start()
    try:
        assert again.console[0] == login and again.console[1] != password  # a new password for each run
        with unit_of_work() as session:
            assert staff.by_login(session, login).active
    finally:
        again.stop()


def test_no_demo_administrator_outside_the_demo(runtime):
    """Only ``kosodate demo`` creates the account: a database set up any other way has none."""
    from storage import staff

    with unit_of_work() as session:
        assert staff.by_login(session, seeding.DEMO_ADMIN_LOGIN) is None


@pytest.mark.parametrize("quiet_hours, reminded", [("off", True), ("21:00-08:00", False)])
def test_the_starting_soon_event_is_reminded_late_at_night_only_without_quiet_hours(
    runtime, line, monkeypatch, quiet_hours, reminded
):
    """At 23:30 in Japan the demo's "starting soon" event (12 minutes later) still gets its reminder: the demo runs
    without quiet hours (``DEMO_QUIET_HOURS``); with the production default it would be held until 08:00."""
    import time_machine

    from bot.demo.run import DEMO_QUIET_HOURS
    from scheduler.worker import Worker
    from tests.scheduler_support import join, reminders_to, tokyo

    hours = DEMO_QUIET_HOURS if reminded else quiet_hours
    assert (hours == "off") is reminded
    monkeypatch.setattr(runtime, "config", runtime.config.with_(quiet_hours=hours))
    with time_machine.travel(tokyo(2030, 6, 3, 23, 30), tick=False):
        with unit_of_work() as session:
            soon = seeding.seed_events(session, seeding.clock_now())[0]
        parent = join(soon)
        worker = Worker(runtime)
        try:
            worker.plan()
            worker.deliver_due()
        finally:
            worker.close()
    assert bool(reminders_to(line, parent.user_id)) is reminded


def test_kosodate_demo_as_a_process_prints_the_login_and_stops_on_sigterm(tmp_path):
    import re
    import signal
    import sqlite3
    import subprocess

    from tests.operator_support import RAN, command_path, executable

    args = ["demo", "--port", "0", "--database", str(tmp_path / "demo.sqlite3")]
    RAN.add(command_path(args))
    process = subprocess.Popen(
        [executable("kosodate"), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8"},
    )
    try:
        lines = []
        while not lines or "Ctrl-C" not in lines[-1]:
            line = process.stdout.readline()
            assert line, "\n".join(lines)
            lines.append(line)
        banner = "".join(lines)
        base = re.search(r"(http://\S+)/staff/login", banner)[1]
        login = re.search(r"Login:\s+(\S+)", banner)[1]
        password = re.search(r"Password:\s+(\S+)", banner)[1]
        assert sign_in(base, login, password).status_code == 302
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    with sqlite3.connect(tmp_path / "demo.sqlite3") as db:
        assert db.execute("SELECT active FROM staff_members WHERE login = ?", (login,)).fetchone() == (0,)
