"""Configuration, read from the environment once, in ``create_app`` or the CLI; never at import time.

The variable names are a contract with deployments (README, "Configuration"): keep them.
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path

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
    # Reminders before each event (handlers/reminders.py): "1d@10:00" = the day before at 10:00 (Tokyo),
    # "30m" = 30 minutes before. Quiet hours: nothing is pushed to parents then ("off" for none).
    reminder_offsets: str = "1d@10:00,30m"
    quiet_hours: str = "21:00-08:00"
    # Threads of the worker that send outbox rows in parallel (LINE allows 2,000 pushes a second).
    delivery_threads: int = 8
    # Escalation of loss reports and loan requests to staff (handlers/report_service.py, scheduler/escalation.py):
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


def from_environ(environ: os._Environ | dict | None = None, instance_path: str | Path = "instance",
                 overrides: dict | None = None) -> Config:
    """The configuration from the environment (and, for tests, explicit overrides), checked."""
    env = os.environ if environ is None else environ
    mode = env.get("APP_MODE", "production")
    if mode not in MODES:
        raise ConfigError(f"APP_MODE must be one of {', '.join(MODES)} (got {mode!r})")
    default_db = "sqlite:///" + str(Path(instance_path).absolute() / "kosodate.sqlite3")
    config = Config(
        mode=mode,
        line_channel_secret=env.get("LINE_CHANNEL_SECRET", ""),
        line_channel_access_token=env.get("LINE_CHANNEL_ACCESS_TOKEN", ""),
        line_api_base_url=env.get("LINE_API_BASE_URL", LINE_API_DEFAULT).rstrip("/"),
        database_url=env.get("DATABASE_URL") or default_db,
        public_base_url=env.get("PUBLIC_BASE_URL", "http://127.0.0.1:8000").rstrip("/"),
        secret_key=env.get("SECRET_KEY", ""),
        contact_phone=env.get("CONTACT_PHONE", ""),
        webhook_max_bytes=int(env.get("WEBHOOK_MAX_BYTES", "1000000")),
        line_timeout_seconds=float(env.get("LINE_TIMEOUT_SECONDS", "5")),
        inline_processing=env.get("INLINE_PROCESSING", "1") not in ("0", "false", "no"),
        data_encryption_key=env.get("DATA_ENCRYPTION_KEY", ""),
        trusted_proxies=int(env.get("TRUSTED_PROXIES", "0")),
        reminder_offsets=env.get("REMINDER_OFFSETS", "1d@10:00,30m"),
        quiet_hours=env.get("QUIET_HOURS", "21:00-08:00"),
        delivery_threads=int(env.get("DELIVERY_THREADS", "8")),
        smtp_url=env.get("SMTP_URL", ""),
        escalation_email_to=env.get("ESCALATION_EMAIL_TO", ""),
        escalation_email_from=env.get("ESCALATION_EMAIL_FROM", "kosodate-bot@localhost"),
        escalation_webhook_url=env.get("ESCALATION_WEBHOOK_URL", ""),
        escalation_ack_minutes=int(env.get("ESCALATION_ACK_MINUTES", "15")),
        escalation_reopen_hours=int(env.get("ESCALATION_REOPEN_HOURS", "24")),
        retention_days=_retention_days(env),
    )
    return check(config.with_(**(overrides or {})))


def _retention_days(env) -> dict:
    from storage.retention import days_from

    try:
        return days_from(env)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


def check(config: Config) -> Config:
    """Refuse to run in production without secrets; elsewhere fill in throwaway ones."""
    if config.data_encryption_key:
        from cryptography.fernet import Fernet

        try:
            Fernet(config.data_encryption_key.encode())
        except ValueError as exc:
            raise ConfigError("DATA_ENCRYPTION_KEY must be a Fernet key (32 url-safe base64-encoded bytes)") from exc
    from handlers.reminders import parse_offsets, parse_quiet_hours

    try:
        parse_offsets(config.reminder_offsets)
        parse_quiet_hours(config.quiet_hours)
    except ValueError as exc:
        raise ConfigError(f"REMINDER_OFFSETS / QUIET_HOURS: {exc}") from exc
    if not 1 <= config.delivery_threads <= 32:
        raise ConfigError("DELIVERY_THREADS must be between 1 and 32")
    from bot.notify import config_problem

    problem = config_problem(config)
    if problem:
        raise ConfigError(problem)
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
            raise ConfigError(
                f"Refusing to start in production: set {', '.join(missing)} (or APP_MODE=development for local work)."
            )
        return config
    from storage.crypto import dev_key

    secret_key = config.secret_key or secrets.token_hex(32)
    return config.with_(
        line_channel_secret=config.line_channel_secret or "development-channel-secret",
        line_channel_access_token=config.line_channel_access_token or "development-access-token",
        secret_key=secret_key,
        # Outside production the data key follows SECRET_KEY: keep SECRET_KEY to keep a database readable.
        data_encryption_key=config.data_encryption_key or dev_key(secret_key),
    )
