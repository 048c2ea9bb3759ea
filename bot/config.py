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
    extra: dict = field(default_factory=dict)

    @property
    def production(self) -> bool:
        return self.mode == "production"

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
    )
    return check(config.with_(**(overrides or {})))


def check(config: Config) -> Config:
    """Refuse to run in production without secrets; elsewhere fill in throwaway ones."""
    if config.production:
        missing = [
            name
            for name, value in (
                ("LINE_CHANNEL_SECRET", config.line_channel_secret),
                ("LINE_CHANNEL_ACCESS_TOKEN", config.line_channel_access_token),
                ("SECRET_KEY", config.secret_key),
            )
            if not value
        ]
        if missing:
            raise ConfigError(
                f"Refusing to start in production: set {', '.join(missing)} (or APP_MODE=development for local work)."
            )
        return config
    return config.with_(
        line_channel_secret=config.line_channel_secret or "development-channel-secret",
        line_channel_access_token=config.line_channel_access_token or "development-access-token",
        secret_key=config.secret_key or secrets.token_hex(32),
    )
