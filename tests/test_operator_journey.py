"""An operator's first day, with the installed executables only (tests/operator_support.py): a fresh database, the
release command from the Procfile, the first administrator (password typed, then from a script), events by hand
and from a CSV, the rich menu on LINE (the project's double, as a process), the Procfile's web and worker
processes, signing in to /staff in Chromium, the status commands, and SIGTERM stopping everything cleanly.

The tests of this module run in order on one deployment (``site``); each later one needs the earlier ones.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from storage.clock import now, to_tokyo
from tests.operator_support import (  # noqa: F401
    STARTUP_SECONDS,
    Operator,
    commands_ran,
    free_port,
    fresh_database,
    line_double_process,
    production_environment,
    strong_password,
    terminate,
    wait_until,
)

# Twenty-odd processes, each importing the app: minutes on a busy 2-core machine, not the suite's 120 s.
pytestmark = [pytest.mark.operator, pytest.mark.usefixtures("commands_ran"), pytest.mark.timeout(900)]


@dataclass
class Site:
    operator: Operator
    folder: Path
    admin: tuple[str, str] | None = None
    web: str = ""
    processes: dict = field(default_factory=dict)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("operator")
    with line_double_process(folder) as line_api, fresh_database(folder) as database_url:
        operator = Operator(production_environment(database_url, line_api), folder)
        try:
            yield Site(operator, folder)
        finally:
            operator.stop_all()


def day(days: int, hour: int) -> str:
    return (to_tokyo(now()) + timedelta(days=days)).strftime(f"%Y-%m-%d {hour:02d}:00")


def write_events_csv(path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        table = csv.writer(out)
        table.writerow(["centre", "kind", "title", "start", "end", "capacity", "join_url", "meeting_id", "passcode"])
        table.writerow(
            [
                "takanedai",
                "meetup",
                "よちよち歩きさんの交流会",
                day(20, 10),
                day(20, 11),
                "12",
                "https://meeting.example.com/j/1001",
                "100 100 1001",
                "walk-2026",
            ]
        )
        table.writerow(
            [
                "minamihoncho",
                "class",
                "離乳食講座",
                day(21, 14),
                day(21, 15),
                "20",
                "https://meeting.example.com/j/1002",
                "100 100 1002",
                "food-2026",
            ]
        )


def test_an_operator_sets_up_the_bot_with_the_installed_commands(site):
    op = site.operator
    release = op.procfile("release")
    assert release[1:] == ["db", "upgrade"]
    assert "database upgraded" in op.kosodate(*release[1:]).stdout

    login, password = "chiiki.taro@city.funabashi.example", strong_password()
    created = op.kosodate(
        "staff", "create", "--name", "地域 太郎", "--login", login, input=f"{password}\n{password}\n"
    )  # typed at the prompt, twice
    assert "created staff member" in created.stdout
    scripted = op.kosodate(
        "staff",
        "create",
        "--name",
        "南本町 花子",
        "--login",
        "hanako@city.funabashi.example",
        "--centre",
        "minamihoncho",
        "--role",
        "staff",
        "--password-stdin",
        input=strong_password() + "\n",
    )
    assert "(staff, minamihoncho)" in scripted.stdout
    listed = op.kosodate("staff", "list").stdout
    assert login in listed and "hanako@city.funabashi.example" in listed
    invite = op.kosodate("staff", "invite", "hanako@city.funabashi.example").stdout.strip().splitlines()
    assert len(invite) == 2 and re.fullmatch(r"\S{6,}", invite[1]), invite
    assert (
        "password set"
        in op.kosodate(
            "staff", "password", "hanako@city.funabashi.example", "--password-stdin", input=strong_password() + "\n"
        ).stdout
    )
    assert "sign-in delays lifted" in op.kosodate("staff", "unlock", "hanako@city.funabashi.example").stdout
    refused = op.kosodate("staff", "password", login, "--password-stdin", input="short\n", ok=False)
    assert refused.returncode == 1 and "password refused" in refused.stderr
    site.admin = (login, password)

    added = op.kosodate(
        "events",
        "add",
        "--lang",
        "en",
        "--centre",
        "division",
        "--kind",
        "class",
        "--title",
        "はじめての離乳食講座",
        "--start",
        day(10, 10),
        "--end",
        day(10, 11),
        "--capacity",
        "20",
        "--join-url",
        "https://meeting.example.com/j/2001",
        "--meeting-id",
        "200 200 2001",
        input="rinyu-2026\n",
    ).stdout  # the passcode is prompted
    event_id = re.search(r"Event (\d+) created", added)[1]
    write_events_csv(site.folder / "events.csv")
    assert (
        "2 event(s) imported" in op.kosodate("events", "import", str(site.folder / "events.csv"), "--lang", "en").stdout
    )
    listing = op.kosodate("events", "list", "--lang", "en").stdout
    assert all(title in listing for title in ("はじめての離乳食講座", "よちよち歩きさんの交流会", "離乳食講座"))
    assert "rinyu-2026" not in listing and "meeting.example.com" not in listing
    assert "Published" in op.kosodate("events", "publish", event_id, "--lang", "en").stdout
    assert (
        "Time changed"
        in op.kosodate(
            "events", "reschedule", event_id, "--start", day(11, 10), "--end", day(11, 11), "--lang", "en"
        ).stdout
    )
    assert "No join page" in op.kosodate("events", "links", event_id, "--lang", "en").stdout
    assert "Cancelled" in op.kosodate("events", "cancel", event_id, "--yes", "--lang", "en").stdout

    assert "rich menu deployed and set as default" in op.kosodate("richmenu", "deploy").stdout
    assert "written" in op.kosodate("richmenu", "render", "--out", str(site.folder / "menu.png")).stdout
    assert (site.folder / "menu.png").read_bytes().startswith(b"\x89PNG")

    old_key = op.env["DATA_ENCRYPTION_KEY"]
    from cryptography.fernet import Fernet

    op.env["DATA_ENCRYPTION_KEY"] = f"{Fernet.generate_key().decode()},{old_key}"  # a new key first, the old kept
    assert "re-encrypted" in op.kosodate("keys", "rotate").stdout
    assert "/staff/login" in op.kosodate("routes").stdout
    assert "kosodate-shell-ok" in op.kosodate("shell", input="print('kosodate-shell-ok')\n").stdout


def test_the_procfile_web_and_worker_processes_start_and_serve(site):
    assert site.admin, "needs the setup test of this module"
    op, port = site.operator, free_port()
    web_log, worker_log, sender_log = (site.folder / f"{name}.log" for name in ("web", "worker", "sender"))
    web = op.start(op.procfile("web", PORT=str(port)), web_log)
    worker = op.start(op.procfile("worker"), worker_log)
    sender = op.start(op.procfile("sender"), sender_log)
    site.processes = {"web": (web, web_log), "worker": (worker, worker_log), "sender": (sender, sender_log)}
    site.web = f"http://localhost:{port}"

    def healthy():
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    wait_until(healthy, "gunicorn from the Procfile", web, web_log)
    wait_until(lambda: "worker starting" in worker_log.read_text(), "the worker from the Procfile", worker, worker_log)
    wait_until(lambda: "worker starting" in sender_log.read_text(), "the sender from the Procfile", sender, sender_log)
    outbox = op.kosodate("outbox", "status").stdout
    assert re.search(r"^failed\s+0$", outbox, re.M) and "due now" in outbox
    assert re.search(r"^pending\s+0$", op.kosodate("inbox", "status").stdout, re.M)


def test_the_created_administrator_signs_in_to_the_console_in_chromium(site, browser):
    from playwright.sync_api import expect

    assert site.web, "needs the Procfile test of this module"
    login, password = site.admin
    context = browser.new_context(locale="ja-JP")
    page = context.new_page()
    page.set_default_timeout(STARTUP_SECONDS * 1000)  # an argon2 check and a page on a busy 2-core machine
    try:
        page.goto(site.web + "/staff/login")
        page.get_by_label("ログインID（メールアドレス）").fill(login)
        page.get_by_label("パスワード").fill(password)
        page.get_by_role("button", name="ログイン").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("今日")
        page.goto(site.web + "/staff/events")
        expect(page.get_by_text("よちよち歩きさんの交流会")).to_be_visible()
    except Exception as exc:  # a Playwright timeout too: show what the server said
        pytest.fail(f"{exc}\n--- web log ---\n{site.processes['web'][1].read_text()[-3000:]}")
    finally:
        context.close()


def test_sigterm_stops_the_web_and_the_workers_cleanly(site):
    assert site.processes, "needs the Procfile test of this module"
    for name, (process, log) in site.processes.items():
        assert terminate(process) == 0, f"{name} did not exit cleanly:\n{log.read_text()}"
    for name in ("worker", "sender"):
        text = site.processes[name][1].read_text()
        assert "worker stopping" in text and "worker stopped" in text, text
    assert "Shutting down" in site.processes["web"][1].read_text()
    outbox = site.operator.kosodate("outbox", "status").stdout
    assert re.search(r"^sending\s+0$", outbox, re.M) or "sending" not in outbox


def test_the_development_server_command_starts(site):
    """``kosodate run`` (Flask's development server, listed by ``kosodate --help``) starts with the same settings."""
    op, port = site.operator, free_port()
    log = site.folder / "run.log"
    words = [op.procfile("worker")[0], "run", "--host", "127.0.0.1", "--port", str(port)]
    from tests.operator_support import RAN, command_path

    RAN.add(command_path(words[1:]))
    server = op.start(words, log)

    def answers():
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    wait_until(answers, "kosodate run", server, log)
    server.terminate()
    server.wait(timeout=10)
