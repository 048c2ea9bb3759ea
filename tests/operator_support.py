"""The operator's tier: the installed executables (``kosodate``, ``gunicorn``) run as separate processes with nothing
but environment variables, as an operator runs them on a fresh machine — no app built by the test, no test runner
inside the process. A plain ``click.group`` without the app (the staff group until issue 14) fails only this way.

``SUBPROCESS_TESTS`` says which test module runs each ``kosodate`` command as a process; tests/test_cli_tree.py fails
when the command tree has a command it does not list, and each listed module checks, once all its tests have run,
that it did run every command it is listed for (``commands_ran``).
"""

from __future__ import annotations

import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
PROCFILE = ROOT / "Procfile"
# The venv's own bin directory (where pip installed the project's scripts), then the machine's.
BIN = Path(sys.executable).parent
PG_BIN = Path("/usr/lib/postgresql/15/bin")
STARTUP_SECONDS = 120  # four processes importing the app at once on a busy machine
STOP_SECONDS = 40  # gunicorn's graceful timeout is 30 s
COMMAND_SECONDS = 60

SUBPROCESS_TESTS = {
    "db upgrade": "test_operator_journey",
    "db backup": "test_backup",
    "db restore": "test_backup",
    "demo": "test_demo",
    "events add": "test_operator_journey",
    "events cancel": "test_operator_journey",
    "events import": "test_operator_journey",
    "events links": "test_operator_journey",
    "events list": "test_operator_journey",
    "events publish": "test_operator_journey",
    "events reschedule": "test_operator_journey",
    "inbox status": "test_operator_journey",
    "keys rotate": "test_operator_journey",
    "outbox status": "test_operator_journey",
    "richmenu deploy": "test_operator_journey",
    "richmenu render": "test_operator_journey",
    "routes": "test_operator_journey",
    "run": "test_operator_journey",
    "shell": "test_operator_journey",
    "staff create": "test_operator_journey",
    "staff invite": "test_operator_journey",
    "staff list": "test_operator_journey",
    "staff password": "test_operator_journey",
    "staff unlock": "test_operator_journey",
    "worker": "test_operator_journey",
}
RAN: set[str] = set()


def executable(name: str) -> str:
    found = shutil.which(name, path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    if found is None:
        pytest.fail(f"{name} is not installed in {BIN} (pip install -e '.[dev]')")
    return found


def command_path(args: list[str]) -> str:
    """``["staff", "create", "--name", …]`` → "staff create": the command of the tree these arguments run."""
    import click

    from bot.cli import cli

    group, words = cli, []
    for arg in args:
        if not isinstance(group, click.Group) or arg not in group.commands:
            break
        group, words = group.commands[arg], [*words, arg]
    return " ".join(words)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def production_environment(database_url: str, line_api: str) -> dict[str, str]:
    """Nothing but what a deployment sets: production mode with strong secrets, and PATH/HOME/LANG."""
    path = [str(BIN), "/usr/local/bin", "/usr/bin", "/bin"]
    if PG_BIN.is_dir():
        path.append(str(PG_BIN))
    return {
        "PATH": os.pathsep.join(path),
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
        "APP_MODE": "production",
        "SECRET_KEY": secrets.token_hex(32),
        "DATA_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "LINE_CHANNEL_SECRET": secrets.token_hex(16),
        "LINE_CHANNEL_ACCESS_TOKEN": secrets.token_urlsafe(32),
        "LINE_API_BASE_URL": line_api,
        "DATABASE_URL": database_url,
        "PUBLIC_BASE_URL": "https://kosodate.example.jp",
    }


def strong_password() -> str:
    return "Op-" + secrets.token_urlsafe(18)


class Operator:
    """Runs ``kosodate …`` (and the Procfile's processes) with ``env``, in ``workdir``."""

    def __init__(self, env: dict[str, str], workdir: Path):
        self.env, self.workdir = env, workdir
        self.started: list[subprocess.Popen] = []

    def kosodate(
        self, *args: str, input: str | None = None, ok: bool = True, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess:
        RAN.add(command_path(list(args)))
        try:
            done = subprocess.run(
                [executable("kosodate"), *args],
                input=input or "",
                capture_output=True,
                text=True,
                env=env or self.env,
                cwd=self.workdir,
                timeout=COMMAND_SECONDS,
            )
        except subprocess.TimeoutExpired as late:
            pytest.fail(
                f"kosodate {' '.join(args)} still running after {COMMAND_SECONDS} s\n{late.stdout}\n{late.stderr}"
            )
        if ok:
            assert done.returncode == 0, f"kosodate {' '.join(args)} → {done.returncode}\n{done.stdout}\n{done.stderr}"
        return done

    def procfile(self, name: str, **variables: str) -> list[str]:
        """The Procfile's ``name:`` command as arguments, ``${VAR:-default}`` filled from ``variables``/env."""
        line = next(line for line in PROCFILE.read_text().splitlines() if line.startswith(f"{name}:"))
        values = {**self.env, **variables}

        def fill(found: re.Match) -> str:
            return values.get(found[1]) or found[2] or ""

        words = shlex.split(re.sub(r"\$\{(\w+)(?::-([^}]*))?\}", fill, line.split(":", 1)[1]))
        words[0] = executable(words[0])
        if Path(words[0]).name == "kosodate":
            RAN.add(command_path(words[1:]))
        return words

    def start(self, words: list[str], log: Path, **variables: str) -> subprocess.Popen:
        """A long-running process, started as a Procfile platform does: in the application's root folder."""
        process = subprocess.Popen(
            words, env={**self.env, **variables}, cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT, text=True
        )
        self.started.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.kill()
                process.wait()


def wait_until(
    check, what: str, process: subprocess.Popen | None = None, log: Path | None = None, seconds: float = STARTUP_SECONDS
):
    """Polls ``check`` (a readiness probe, not a timing assumption) until it returns something true."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            pytest.fail(f"{what}: the process exited with {process.returncode}\n{log.read_text() if log else ''}")
        found = check()
        if found:
            return found
        time.sleep(0.1)
    pytest.fail(f"{what}: not ready within {seconds} s\n{log.read_text() if log else ''}")


def terminate(process: subprocess.Popen, seconds: float = STOP_SECONDS) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=seconds)


@contextmanager
def fresh_database(folder: Path) -> Iterator[str]:
    """A new, empty database: a SQLite file, or — when the suite runs on PostgreSQL (DATABASE_URL) — a database
    created for this test and dropped afterwards."""
    server = os.environ.get("DATABASE_URL", "")
    if not server.startswith("postgres"):
        yield f"sqlite:///{folder / 'kosodate.sqlite3'}"
        return
    from storage.db import normalize_url

    name = f"kosodate_operator_{secrets.token_hex(4)}"
    admin = create_engine(normalize_url(server), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def line_double_process(folder: Path) -> Iterator[str]:
    """The project's LINE double as its own process (bench/serve_double.py); yields its base URL."""
    log = folder / "line-double.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.serve_double", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
        text=True,
    )
    try:
        first = process.stdout.readline()
        found = re.search(r"(http://\S+)", first)
        if not found:
            pytest.fail(f"the LINE double did not start: {first!r} {log.read_text()}")
        yield found[1]
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def commands_ran(request):
    """After the whole module has run (nothing deselected or skipped), every command ``SUBPROCESS_TESTS`` lists for
    it must have been run as a process."""
    yield
    module = request.module.__name__.rsplit(".", 1)[-1]
    items = [item for item in request.session.items if item.module is request.module]
    every_test = len(items) == len([name for name in dir(request.module) if name.startswith("test_")])
    if every_test and not request.session.testsfailed:
        missing = sorted(c for c, m in SUBPROCESS_TESTS.items() if m == module and c not in RAN)
        assert not missing, f"{module} is listed for these commands but did not run them: {missing}"
