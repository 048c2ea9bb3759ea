"""The Flask app: LINE webhook, public pages, staff console, demo simulator. ``from bot.app import create_app``."""

from __future__ import annotations

import os
from typing import Any

from flask import Flask

from bot.config import Config, ConfigError, from_environ


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    os.makedirs(app.instance_path, exist_ok=True)
    try:
        config: Config = from_environ(instance_path=app.instance_path, overrides=test_config)
    except ConfigError as refusal:
        if test_config is not None:
            raise
        # One clear line for the operator (gunicorn, the CLI), not a traceback.
        raise SystemExit(f"kosodate: {refusal}") from None
    from runtime.logs import configure_logging

    configure_logging()
    app.config.update(SECRET_KEY=config.secret_key, MAX_CONTENT_LENGTH=config.webhook_max_bytes)

    from runtime.lanes import Runtime

    app.extensions["kosodate"] = Runtime(config)

    from bot import calendar, joinlink, pages, security, staff, webhook

    app.register_blueprint(webhook.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(joinlink.bp)
    app.register_blueprint(calendar.bp)
    app.register_blueprint(staff.bp)
    csrf_exempt = [webhook.bp]
    if config.mode in ("demo", "development", "test"):
        from bot.demo import simulator

        app.register_blueprint(simulator.bp)
        csrf_exempt.append(simulator.bp)
    security.init_app(app, config, csrf_exempt=csrf_exempt)
    return app
