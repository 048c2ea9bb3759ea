"""Issue 13, item 12, for the variables the first fixes did not reach (second outside probe): a bad LOG_LEVEL,
LOG_FORMAT or DATABASE_URL stops the start with one line naming the variable, not a traceback from logging or
SQLAlchemy (under gunicorn, each worker's traceback and "Worker failed to boot")."""

from __future__ import annotations

import subprocess

import pytest

from bot.config import ConfigError, from_environ
from tests.test_config_refusals import BIN, ROOT
from tests.test_config_refusals import strong as production


@pytest.mark.parametrize(
    "name, value",
    [
        ("LOG_LEVEL", "LOUD"),
        ("LOG_FORMAT", "xml"),
        ("DATABASE_URL", "nonsense"),
        ("DATABASE_URL", "mysql://db.example/kosodate"),
    ],
)
def test_a_bad_value_is_refused_naming_the_variable(name, value):
    with pytest.raises(ConfigError) as refused:
        from_environ(production(**{name: value}))
    assert str(refused.value).startswith(name) and "\n" not in str(refused.value)


@pytest.mark.parametrize(
    "name, value",
    [
        ("LOG_LEVEL", "debug"),
        ("LOG_LEVEL", "WARNING"),
        ("LOG_FORMAT", "json"),
        ("DATABASE_URL", "postgres://u@db.example/kosodate"),
        ("DATABASE_URL", "postgresql+psycopg://u@db.example/kosodate"),
        ("DATABASE_URL", "sqlite:////var/lib/kosodate/kosodate.sqlite3"),
    ],
)
def test_good_values_start(name, value):
    from_environ(production(**{name: value}))


def test_the_web_command_stops_with_one_line_on_a_bad_log_level(tmp_path):
    env = production(LOG_LEVEL="LOUD", DATABASE_URL=f"sqlite:///{tmp_path}/x.sqlite3")
    done = subprocess.run(
        [
            str(BIN / "gunicorn"),
            "-c",
            "gunicorn.conf.py",
            "--workers",
            "2",
            "--bind",
            "127.0.0.1:0",
            "bot.app:create_app()",
        ],
        env={"PATH": f"{BIN}:/usr/bin:/bin", **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0 and "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("kosodate: LOG_LEVEL"), done.stderr
