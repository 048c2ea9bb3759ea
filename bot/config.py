"""Configuration, read from the environment once, in ``create_app`` or the CLI; never at import time.

The variable names are a contract with deployments (README, "Configuration"): keep them.
"""

from __future__ import annotations

import math
import os
import re
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

LINE_API_DEFAULT = "https://api.line.me"
MODES = ("production", "development", "demo", "test")


class ConfigError(RuntimeError):
    """The app cannot start with this configuration; the message is one line for the operator."""


@dataclass(frozen=True)
class Config:
    mode: str = "production"
    line_channel_secret: str = ""
    line_channel_access_token: str = ""
    line_api_base_url: str = LINE_API_DEFAULT
    # This channel's bot user id, the destination of its webhooks; empty: learned from LINE (runtime/bot_identity.py).
    line_bot_user_id: str = ""
    database_url: str = ""
    public_base_url: str = "http://127.0.0.1:8000"
    secret_key: str = ""
    # Where parents call in a hurry (shown in help and in loss reports).
    contact_phone: str = ""
    # Limits and timings.
    webhook_max_bytes: int = 1_000_000
    line_timeout_seconds: float = 5.0
    # Process inbox events in a background thread of the web process (the worker also sweeps).
    inline_processing: bool = True
    # A Fernet key (``python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"``)
    # for secrets stored in the database (storage.crypto).
    data_encryption_key: str = ""
    # How many reverse proxies in front of the app set X-Forwarded-For/-Proto (0 = none; the client address then
    # comes from the socket). Login throttling per address and HTTPS detection depend on it.
    trusted_proxies: int = 0
    # Reminders before each event (handlers/events/reminders.py): "1d@10:00" = the day before at 10:00 (Tokyo),
    # "30m" = 30 minutes before. Quiet hours: nothing is pushed to parents then ("off" for none).
    reminder_offsets: str = "1d@10:00,30m"
    quiet_hours: str = "21:00-08:00"
    # Threads of the worker that send outbox rows in parallel (LINE allows 2,000 pushes a second).
    delivery_threads: int = 8
    # Escalation of loss reports and loan requests to staff (services/reports/operations.py, scheduler/escalation.py):
    # e-mail through SMTP ("smtp://host:port", "smtps://user:password@host:465", "?starttls=1" for STARTTLS), to
    # these comma-separated addresses; an outgoing webhook receiving {"text": ...} (Slack / Teams style). Either may be
    # left empty. Nobody has acknowledged a report after ``escalation_ack_minutes``: staff are alerted again and the
    # division too; acknowledged but unresolved after ``escalation_reopen_hours``: reopened and staff reminded.
    smtp_url: str = ""
    escalation_email_to: str = ""
    escalation_email_from: str = "kosodate-bot@localhost"
    escalation_webhook_url: str = ""
    escalation_ack_minutes: int = 15
    escalation_reopen_hours: int = 24
    # How long each kind of data is kept, in days (storage/retention.py, RETENTION_<KIND>_DAYS; docs/privacy.md).
    retention_days: dict = field(default_factory=dict)
    # The worker's nightly backup (scheduler/backups.py): where, and for how many days copies are kept; off if empty.
    backup_dir: str = ""
    backup_keep_days: int = 14
    # Bearer token for GET /metrics (runtime/metrics.py); without one, /metrics answers only on loopback.
    metrics_token: str = ""
    # お知らせ (services/broadcasts.py) to more parents than this need a second staff member's approval.
    broadcast_approval_threshold: int = 100
    extra: dict = field(default_factory=dict)

    @property
    def production(self) -> bool:
        return self.mode == "production"

    @property
    def https(self) -> bool:
        """Served over HTTPS: cookies get Secure and responses HSTS."""
        return self.production or self.public_base_url.startswith("https://")

    def with_(self, **changes) -> Config:
        return replace(self, **changes)


def from_environ(
    environ: os._Environ | dict | None = None, instance_path: str | Path = "instance", overrides: dict | None = None
) -> Config:
    """The configuration from the environment (and, for tests, explicit overrides), checked."""
    env = os.environ if environ is None else environ
    mode = env.get("APP_MODE", "production")
    if mode not in MODES:
        raise ConfigError(f"APP_MODE must be one of {', '.join(MODES)} (got {mode!r})")
    default_db = "sqlite:///" + str(Path(instance_path).absolute() / "kosodate.sqlite3")
    _check_logging(env)
    config = Config(
        mode=mode,
        line_channel_secret=env.get("LINE_CHANNEL_SECRET", ""),
        line_channel_access_token=env.get("LINE_CHANNEL_ACCESS_TOKEN", ""),
        line_api_base_url=env.get("LINE_API_BASE_URL", LINE_API_DEFAULT).rstrip("/"),
        line_bot_user_id=env.get("LINE_BOT_USER_ID", "").strip(),
        database_url=_database_url(env.get("DATABASE_URL") or default_db),
        public_base_url=env.get("PUBLIC_BASE_URL", "http://127.0.0.1:8000").rstrip("/"),
        secret_key=env.get("SECRET_KEY", ""),
        contact_phone=env.get("CONTACT_PHONE", ""),
        webhook_max_bytes=_integer(env, "WEBHOOK_MAX_BYTES", Config.webhook_max_bytes, 1_000, 100_000_000),
        line_timeout_seconds=_number(env, "LINE_TIMEOUT_SECONDS", Config.line_timeout_seconds, 0.1, 120),
        inline_processing=_flag(env, "INLINE_PROCESSING", Config.inline_processing),
        data_encryption_key=env.get("DATA_ENCRYPTION_KEY", ""),
        trusted_proxies=_integer(env, "TRUSTED_PROXIES", Config.trusted_proxies, 0, 5),
        reminder_offsets=env.get("REMINDER_OFFSETS", "1d@10:00,30m"),
        quiet_hours=env.get("QUIET_HOURS", "21:00-08:00"),
        delivery_threads=_integer(env, "DELIVERY_THREADS", Config.delivery_threads, 1, 32),
        smtp_url=env.get("SMTP_URL", ""),
        escalation_email_to=env.get("ESCALATION_EMAIL_TO", ""),
        escalation_email_from=env.get("ESCALATION_EMAIL_FROM", "kosodate-bot@localhost"),
        escalation_webhook_url=env.get("ESCALATION_WEBHOOK_URL", ""),
        escalation_ack_minutes=_integer(env, "ESCALATION_ACK_MINUTES", Config.escalation_ack_minutes),
        escalation_reopen_hours=_integer(env, "ESCALATION_REOPEN_HOURS", Config.escalation_reopen_hours),
        retention_days=_retention_days(env),
        backup_dir=env.get("BACKUP_DIR", "").strip(),
        backup_keep_days=_integer(env, "BACKUP_KEEP", Config.backup_keep_days, 1, 3650),
        metrics_token=env.get("METRICS_TOKEN", ""),
        broadcast_approval_threshold=_integer(
            env, "BROADCAST_APPROVAL_THRESHOLD", Config.broadcast_approval_threshold, 0, 1_000_000
        ),
    )
    return check(config.with_(**(overrides or {})), set_in_code=overrides is not None)


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _check_logging(env) -> None:
    """runtime/logs.py reads these itself, at the first log line: a bad value would end there in a traceback."""
    level = env.get("LOG_LEVEL", "INFO").strip().upper()
    if level not in LOG_LEVELS:
        raise ConfigError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)} (got {level[:20]!r})")
    if env.get("LOG_FORMAT", "text").strip() not in ("text", "json"):
        raise ConfigError("LOG_FORMAT must be text or json")


def _database_url(url: str) -> str:
    """A SQLAlchemy URL of one of the two databases the app runs on (storage/db.py), else one line, not the
    traceback SQLAlchemy would give at the first connection."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        backend = make_url(url).get_backend_name()
    except (ArgumentError, ValueError):
        raise ConfigError(
            "DATABASE_URL must be a database URL such as postgresql://user:password@host/name or "
            "sqlite:////path/kosodate.sqlite3"
        ) from None
    if backend not in ("postgresql", "postgres", "sqlite"):
        raise ConfigError(f"DATABASE_URL must be a PostgreSQL or SQLite URL (got the {backend[:20]!r} database)")
    return url


def _integer(env, name: str, default: int, low: int | None = None, high: int | None = None) -> int:
    """A whole number from the environment; a bad value stops the start with one line naming the variable."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number (got {raw[:20]!r})") from None
    return _within(name, value, low, high)


def _number(env, name: str, default: float, low: float, high: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds (got {raw[:20]!r})") from None
    if not math.isfinite(value):
        raise ConfigError(f"{name} must be a number of seconds (got {raw[:20]!r})")
    return _within(name, value, low, high)


def _within(name: str, value, low, high):
    if (low is not None and value < low) or (high is not None and value > high):
        raise ConfigError(f"{name} must be between {low} and {high} (got {value})")
    return value


def _flag(env, name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be 1 or 0 (got {raw[:20]!r})")


def _retention_days(env) -> dict:
    from storage.retention import days_from

    try:
        return days_from(env)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


def check(config: Config, *, set_in_code: bool = False) -> Config:
    """Refuse a configuration that cannot run safely; outside production fill in throwaway secrets.

    Every refusal is one line naming the variable and what it expects. ``set_in_code``: the caller passed its own
    values to ``create_app`` (the test suite's in-process apps), not a deployment's environment."""
    from storage.crypto import data_keys_problem

    if config.data_encryption_key:
        problem = data_keys_problem(config.data_encryption_key)
        if problem:
            raise ConfigError(f"DATA_ENCRYPTION_KEY {problem}")
    from handlers.events.reminders import parse_offsets, parse_quiet_hours

    for name, parse, value in (
        ("REMINDER_OFFSETS", parse_offsets, config.reminder_offsets),
        ("QUIET_HOURS", parse_quiet_hours, config.quiet_hours),
    ):
        try:
            parse(value)
        except ValueError as exc:
            raise ConfigError(f"{name}: {exc}") from exc
    if not 1 <= config.delivery_threads <= 32:
        raise ConfigError("DELIVERY_THREADS must be between 1 and 32")
    from runtime.notify import config_problem

    problem = config_problem(config)
    if problem:
        raise ConfigError(problem)
    if config.line_bot_user_id and not re.fullmatch(r"U[0-9a-f]{32}", config.line_bot_user_id):
        raise ConfigError(
            "LINE_BOT_USER_ID must be the bot's user id (U and 32 hexadecimal characters, "
            "from GET /v2/bot/info), or unset to learn it from LINE"
        )
    _check_public_base_url(config)
    local_only = ("development", "demo") if set_in_code else ("development", "demo", "test")
    if config.mode in local_only and not _loopback(config.public_base_url):
        # These modes serve the CSRF-exempt simulator and plain-HTTP cookies, and test and demo invent their secrets:
        # never on a reachable address. (The suite's in-process apps, which never listen, set their own address.)
        raise ConfigError(
            f"APP_MODE={config.mode} runs only on this machine: PUBLIC_BASE_URL must be a loopback "
            "address such as http://127.0.0.1:8000"
        )
    if config.production:
        missing = [
            name
            for name, value in (
                ("LINE_CHANNEL_SECRET", config.line_channel_secret),
                ("LINE_CHANNEL_ACCESS_TOKEN", config.line_channel_access_token),
                ("SECRET_KEY", config.secret_key),
                ("DATA_ENCRYPTION_KEY", config.data_encryption_key),
            )
            if not value
        ]
        if missing:
            raise ConfigError(f"Refusing to start in production: set {', '.join(missing)}.")
        _check_channel_secret(config)
        if urlsplit(config.line_api_base_url).scheme != "https" and not _loopback(config.line_api_base_url):
            raise ConfigError("LINE_API_BASE_URL must be https (the channel access token goes with every call)")
        if config.metrics_token and secret_bits(config.metrics_token) < METRICS_TOKEN_BITS:
            raise ConfigError(
                f"METRICS_TOKEN is too weak: use at least {METRICS_TOKEN_BITS // 8} random bytes, e.g. "
                'the output of: python -c "import secrets; print(secrets.token_hex(16))"'
            )
        if secret_bits(config.secret_key) < SECRET_KEY_BITS:
            raise ConfigError(
                f"SECRET_KEY is too weak: use at least {SECRET_KEY_BITS // 8} random bytes, e.g. "
                'the output of: python -c "import secrets; print(secrets.token_hex(32))"'
            )
        return config
    if config.mode == "development" and not config.line_channel_secret:
        raise ConfigError(
            "APP_MODE=development needs LINE_CHANNEL_SECRET (a throwaway channel secret is only "
            "filled in for APP_MODE=test and demo)"
        )
    if config.mode == "development":
        _check_channel_secret(config)
    from storage.crypto import dev_key

    secret_key = config.secret_key or secrets.token_hex(32)
    return config.with_(
        line_channel_secret=config.line_channel_secret or secrets.token_hex(16),
        line_channel_access_token=config.line_channel_access_token or "development-access-token",
        secret_key=secret_key,
        # Outside production the data key follows SECRET_KEY: keep SECRET_KEY to keep a database readable.
        data_encryption_key=config.data_encryption_key or dev_key(secret_key),
    )


# What LINE issues as a channel secret.
CHANNEL_SECRET = re.compile(r"[0-9a-f]{32}")
SECRET_KEY_BITS = 256
METRICS_TOKEN_BITS = 128
_ALPHABETS = ((re.compile(r"[0-9a-fA-F]+"), 16), (re.compile(r"[A-Za-z0-9_\-+/=]+"), 64))


def _check_channel_secret(config: Config) -> None:
    if not CHANNEL_SECRET.fullmatch(config.line_channel_secret):
        raise ConfigError(
            "LINE_CHANNEL_SECRET must be the channel secret from the LINE Developers console "
            "(32 hexadecimal characters)"
        )


def secret_bits(value: str) -> float:
    """An upper estimate of the randomness in a secret, in bits: its length times the bits per character of the
    smallest alphabet it is written in (hex 4, base64 6, other printable text 6.5). A value made of a few
    repeated characters counts as nothing, so "aaaa…" or "kkkk…" never passes for a long random key."""
    if len(set(value)) < min(10, len(value) // 4):
        return 0.0
    size = next((n for pattern, n in _ALPHABETS if pattern.fullmatch(value)), 94)
    return len(value) * math.log2(size)


def _check_public_base_url(config: Config) -> None:
    """Parents open their personal join links and calendar addresses here: an http(s) address with a host, and in
    production https (else the tokens cross the network in clear) unless it is this machine's own address."""
    from urllib.parse import urlsplit

    parts = urlsplit(config.public_base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError("PUBLIC_BASE_URL must be the web address of this server, e.g. https://kosodate.example.jp")
    if config.production and parts.scheme != "https" and not _loopback(config.public_base_url):
        raise ConfigError(
            "PUBLIC_BASE_URL must be an https:// address in production (parents' join links and "
            "calendar addresses are sent with it)"
        )


def _loopback(url: str) -> bool:
    from ipaddress import ip_address
    from urllib.parse import urlsplit

    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False
