"""``kosodate``: every command of the project (a Flask CLI group)."""
from __future__ import annotations

import click
from flask import current_app
from flask.cli import FlaskGroup

from bot import create_app


def _runtime():
    return current_app.extensions["kosodate"]


@click.group(cls=FlaskGroup, create_app=create_app, add_default_commands=True, load_dotenv=False)
def cli() -> None:
    """船橋市 子育て支援 LINE ボット / Funabashi child-rearing support LINE bot."""


@cli.group()
def db() -> None:
    """Database schema (Alembic)."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration, then register the shipped policy text as a policy version."""
    from handlers.policy_text import POLICY_TEXT
    from storage import migrate, people
    from storage.db import unit_of_work

    migrate.upgrade(_runtime().config.database_url)
    with unit_of_work() as session:
        version = people.ensure_policy(session, POLICY_TEXT)
    click.echo(f"database upgraded; policy version {version.content_hash[:12]}")


@cli.command()
def worker() -> None:
    """Run the scheduler process (the Procfile's worker)."""
    from scheduler import worker as worker_process

    worker_process.run(_runtime())


@cli.group()
def outbox() -> None:
    """Messages the bot sends."""


@outbox.command("status")
def outbox_status() -> None:
    """Counts of outgoing messages by status."""
    from storage import outbox as rows
    from storage.db import unit_of_work

    with unit_of_work() as session:
        counts = rows.summary(session)
    for status in ("planned", "sent", "failed", "expired"):
        click.echo(f"{status:8} {counts.get(status, 0)}")


@cli.group()
def inbox() -> None:
    """Webhook events received."""


@inbox.command("status")
def inbox_status() -> None:
    from storage import inbox as events
    from storage.db import unit_of_work

    with unit_of_work() as session:
        counts = events.counts(session)
    for status in ("pending", "done", "failed"):
        click.echo(f"{status:8} {counts.get(status, 0)}")


def main() -> None:
    cli()
