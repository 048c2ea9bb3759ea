"""A configuration that cannot run safely stops the start with one line naming the variable (issue 13, items 2, 10,
11, 12): weak secrets in production, development modes on a reachable address, bad values of any variable, SMTP
passwords in clear, and the refusal reaching the operator from gunicorn's master and the worker at once."""

from __future__ import annotations

import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from bot.config import ConfigError, from_environ, secret_bits

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[1]


def strong(**changes: str) -> dict[str, str]:
    env = {
        "APP_MODE": "production",
        "LINE_CHANNEL_SECRET": secrets.token_hex(16),
        "LINE_CHANNEL_ACCESS_TOKEN": "token",
        "SECRET_KEY": secrets.token_hex(32),
        "DATA_ENCRYPTION_KEY": Fernet.generate_key().decode(),
    }
    env.update(changes)
    return env


def refusal(env: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as info:
        from_environ(env)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_strong_production_secrets_start():
    assert from_environ(strong()).production


@pytest.mark.parametrize(
    "weak", ["a", "k" * 64, "password1234password1234password1234", "0123456789abcdef" * 2, secrets.token_hex(16)]
)
def test_a_secret_key_under_32_random_bytes_is_refused(weak):
    assert "SECRET_KEY" in refusal(strong(SECRET_KEY=weak))


@pytest.mark.parametrize("good", [secrets.token_hex(32), secrets.token_urlsafe(32), Fernet.generate_key().decode()])
def test_generated_secret_keys_pass(good):
    assert secret_bits(good) >= 256
    assert from_environ(strong(SECRET_KEY=good)).secret_key == good


@pytest.mark.parametrize("bad", ["not-a-key", secrets.token_hex(32), "a,b"])
def test_a_data_key_that_is_not_a_fernet_key_is_refused(bad):
    assert "DATA_ENCRYPTION_KEY" in refusal(strong(DATA_ENCRYPTION_KEY=bad))


def test_several_data_keys_are_accepted_and_a_bad_one_among_them_is_named():
    keys = f"{Fernet.generate_key().decode()}, {Fernet.generate_key().decode()}"
    assert from_environ(strong(DATA_ENCRYPTION_KEY=keys)).data_encryption_key == keys
    message = refusal(strong(DATA_ENCRYPTION_KEY=f"{Fernet.generate_key().decode()},oops"))
    assert "DATA_ENCRYPTION_KEY" in message and "key 2 of 2" in message


@pytest.mark.parametrize("bad", ["s", "test-channel-secret", secrets.token_hex(16).upper(), secrets.token_hex(17)])
def test_a_channel_secret_that_is_not_32_hex_characters_is_refused(bad):
    assert "LINE_CHANNEL_SECRET" in refusal(strong(LINE_CHANNEL_SECRET=bad))


def test_the_production_refusal_does_not_suggest_development_mode():
    message = refusal({"APP_MODE": "production"})
    assert "development" not in message.lower() and "SECRET_KEY" in message


def test_development_mode_never_invents_a_channel_secret():
    assert "LINE_CHANNEL_SECRET" in refusal({"APP_MODE": "development"})
    config = from_environ({"APP_MODE": "development", "LINE_CHANNEL_SECRET": secrets.token_hex(16)})
    assert config.secret_key and config.data_encryption_key


def test_test_and_demo_modes_get_a_random_channel_secret_not_a_public_one():
    first, second = from_environ({"APP_MODE": "test"}), from_environ({"APP_MODE": "test"})
    assert first.line_channel_secret != second.line_channel_secret


@pytest.mark.parametrize("mode", ["development", "demo", "test"])
@pytest.mark.parametrize("url", ["https://bot.city.example.jp", "http://0.0.0.0:8000", "http://192.168.1.10:8000"])
def test_development_demo_and_test_modes_refuse_a_reachable_public_url(mode, url):
    message = refusal({"APP_MODE": mode, "LINE_CHANNEL_SECRET": secrets.token_hex(16), "PUBLIC_BASE_URL": url})
    assert "PUBLIC_BASE_URL" in message


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000", "http://localhost:5000", "http://[::1]:8000"])
def test_development_mode_runs_on_loopback(url):
    assert (
        from_environ(
            {"APP_MODE": "development", "LINE_CHANNEL_SECRET": secrets.token_hex(16), "PUBLIC_BASE_URL": url}
        ).mode
        == "development"
    )


@pytest.mark.parametrize(
    "name, value",
    [
        ("WEBHOOK_MAX_BYTES", "1MB"),
        ("WEBHOOK_MAX_BYTES", "0"),
        ("LINE_TIMEOUT_SECONDS", "five"),
        ("LINE_TIMEOUT_SECONDS", "nan"),
        ("INLINE_PROCESSING", "maybe"),
        ("TRUSTED_PROXIES", "-1"),
        ("TRUSTED_PROXIES", "one"),
        ("DELIVERY_THREADS", "8 threads"),
        ("DELIVERY_THREADS", "64"),
        ("ESCALATION_ACK_MINUTES", "15m"),
        ("ESCALATION_REOPEN_HOURS", "1.5"),
        ("REMINDER_OFFSETS", "tomorrow"),
        ("QUIET_HOURS", "night"),
        ("RETENTION_AUDIT_DAYS", "forever"),
        ("RETENTION_AUDIT_DAYS", "99999999999"),
        ("APP_MODE", "staging"),
    ],
)
def test_every_bad_value_gives_one_line_naming_the_variable(name, value):
    assert name in refusal(strong(**{name: value}))


def test_line_api_over_plain_http_elsewhere_is_refused_in_production():
    assert "LINE_API_BASE_URL" in refusal(strong(LINE_API_BASE_URL="http://api.line.example"))
    assert from_environ(strong(LINE_API_BASE_URL="http://127.0.0.1:8089")).line_api_base_url == "http://127.0.0.1:8089"


def test_a_short_metrics_token_is_refused_in_production():
    assert "METRICS_TOKEN" in refusal(strong(METRICS_TOKEN="x"))
    assert from_environ(strong(METRICS_TOKEN=secrets.token_hex(16))).metrics_token


@pytest.mark.parametrize("url", ["smtp://user:secret@mail.example:587", "smtp://user@mail.example:25"])
def test_smtp_credentials_over_plain_smtp_are_refused(url):
    assert "SMTP_URL" in refusal(strong(SMTP_URL=url))


@pytest.mark.parametrize(
    "url",
    [
        "smtps://user:secret@mail.example:465",
        "smtp://user:secret@mail.example:587?starttls=1",
        "smtp://user:secret@127.0.0.1:25?insecure=1",
        "smtp://relay.example:25",
    ],
)
def test_smtp_with_tls_or_an_explicit_insecure_flag_is_accepted(url):
    assert from_environ(strong(SMTP_URL=url)).smtp_url == url


def _one_line_exit(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    started = time.monotonic()
    done = subprocess.run(
        command, env={"PATH": f"{BIN}:/usr/bin:/bin", **env}, cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert time.monotonic() - started < 20
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("kosodate: "), done.stderr
    return done


def test_the_procfile_web_command_stops_at_once_on_a_weak_secret_instead_of_rebooting_workers(tmp_path):
    web = next(line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:"))
    assert "-c gunicorn.conf.py" in web
    done = _one_line_exit(
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
        strong(SECRET_KEY="a", DATABASE_URL=f"sqlite:///{tmp_path}/x.sqlite3"),
    )
    assert "SECRET_KEY" in done.stderr and "Booting worker" not in done.stderr


def test_the_worker_stops_at_once_with_one_line(tmp_path):
    kosodate = shutil.which("kosodate", path=str(BIN))
    assert kosodate, "the kosodate executable is installed in the virtual environment"
    done = _one_line_exit(
        [kosodate, "worker"], strong(DATA_ENCRYPTION_KEY="oops", DATABASE_URL=f"sqlite:///{tmp_path}/x.sqlite3")
    )
    assert "DATA_ENCRYPTION_KEY" in done.stderr


def test_a_bad_value_stops_a_command_with_one_line(tmp_path):
    done = _one_line_exit(
        [str(BIN / "kosodate"), "outbox", "status"],
        strong(WEBHOOK_MAX_BYTES="1MB", DATABASE_URL=f"sqlite:///{tmp_path}/x.sqlite3"),
    )
    assert "WEBHOOK_MAX_BYTES must be a whole number" in done.stderr


def test_help_works_before_the_configuration_is_complete(tmp_path):
    """An operator's first `kosodate --help` on a fresh machine lists the commands; running one still refuses."""
    env = {"PATH": f"{BIN}:/usr/bin:/bin"}
    listed = subprocess.run(
        [str(BIN / "kosodate"), "--help"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert listed.returncode == 0 and "staff" in listed.stdout and "keys" in listed.stdout, listed.stderr
    staff_help = subprocess.run(
        [str(BIN / "kosodate"), "staff", "--help"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert staff_help.returncode == 0 and "create" in staff_help.stdout
    _one_line_exit([str(BIN / "kosodate"), "staff", "list"], {})
