"""The Flask app: LINE webhook, public pages, demo simulator. ``from bot import create_app``."""
from __future__ import annotations

import os
from typing import Any

from flask import Flask

from bot.config import Config, from_environ


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    os.makedirs(app.instance_path, exist_ok=True)
    config: Config = from_environ(instance_path=app.instance_path, overrides=test_config)
    from bot.logs import configure_logging

    configure_logging()
    app.config.update(SECRET_KEY=config.secret_key, MAX_CONTENT_LENGTH=config.webhook_max_bytes)

    from bot.runtime import Runtime

    app.extensions["kosodate"] = Runtime(config)

    from bot import pages, webhook

    app.register_blueprint(webhook.bp)
    app.register_blueprint(pages.bp)
    if config.mode in ("demo", "development", "test"):
        from bot.demo import simulator

        app.register_blueprint(simulator.bp)
    return app
