"""Every ``kosodate`` command is run at least once as a separate process of the installed executable.

The tree is walked as click sees it (every group, every subcommand, Flask's own ``routes``/``run``/``shell``
included); a command added later without a test in ``tests/operator_support.SUBPROCESS_TESTS`` fails here, and
each listed module checks that it ran the commands it is listed for (``commands_ran``).
"""

from __future__ import annotations

import importlib
import subprocess

import click
from flask.cli import ScriptInfo

from bot.app import create_app
from bot.cli import cli
from tests.operator_support import SUBPROCESS_TESTS, command_path, executable


def commands(command: click.Command, ctx: click.Context, prefix: tuple[str, ...] = ()) -> list[str]:
    if not isinstance(command, click.Group):
        return [" ".join(prefix)]
    found = []
    for name in command.list_commands(ctx):
        sub = command.get_command(ctx, name)
        found += commands(sub, click.Context(sub, parent=ctx, info_name=name), (*prefix, name))
    return found


def tree() -> list[str]:
    info = ScriptInfo(create_app=lambda: create_app({"mode": "test", "database_url": "sqlite://"}))
    return commands(cli, click.Context(cli, info_name="kosodate", obj=info))


def test_every_command_has_a_test_that_runs_it_as_a_separate_process():
    walked = tree()
    assert {"staff create", "db upgrade", "worker", "events import"} <= set(walked)  # the walk reaches subcommands
    missing = sorted(set(walked) - set(SUBPROCESS_TESTS))
    assert not missing, f"commands without a subprocess test (add one, and list it in SUBPROCESS_TESTS): {missing}"
    assert not sorted(set(SUBPROCESS_TESTS) - set(walked)), "SUBPROCESS_TESTS lists commands that no longer exist"
    for module in set(SUBPROCESS_TESTS.values()):
        tests = importlib.import_module(f"tests.{module}")
        assert _checks_commands(tests), f"tests/{module}.py must use the commands_ran fixture"


def _checks_commands(module) -> bool:
    marks = getattr(module, "pytestmark", [])
    marks = marks if isinstance(marks, list) else [marks]
    return any(m.name == "usefixtures" and "commands_ran" in m.args for m in marks)


def test_arguments_name_the_command_they_run():
    assert command_path(["staff", "create", "--name", "x"]) == "staff create"
    assert command_path(["db", "backup", "/tmp/x.sqlite3"]) == "db backup"
    assert command_path(["worker", "--job", "outbox-deliver"]) == "worker"


def test_kosodate_help_lists_the_same_commands_as_the_tree():
    shown = subprocess.run(
        [executable("kosodate"), "--help"],
        capture_output=True,
        text=True,
        env={"APP_MODE": "test", "PATH": "/usr/bin:/bin", "DATABASE_URL": "sqlite://"},
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    listed = shown.stdout.split("Commands:", 1)[1].split()
    assert {path.split()[0] for path in tree()} <= set(listed)
