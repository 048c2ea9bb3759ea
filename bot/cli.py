"""``kosodate``: every command of the project (a Flask CLI group)."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import FlaskGroup

from bot.app import create_app
from bot.cli_events import events as event_commands
from bot.cli_keys import keys_group
from bot.cli_staff import staff_group


def _runtime():
    return current_app.extensions["kosodate"]


class Commands(FlaskGroup):
    """Flask's group, except that listing the commands (``kosodate --help``) does not build the app: every command
    is declared here, none by the app, so help works before the configuration is complete. Running a command still
    builds the app, and a configuration it refuses stops it with the one-line reason."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return click.Group.list_commands(self, ctx)


@click.group(cls=Commands, create_app=create_app, add_default_commands=True, load_dotenv=False)
def cli() -> None:
    """船橋市 子育て支援 LINE ボット / Funabashi child-rearing support LINE bot."""


cli.add_command(event_commands)
cli.add_command(staff_group)
cli.add_command(keys_group)


@cli.group()
def db() -> None:
    """Database schema (Alembic)."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration, then register the shipped policy text as a policy version."""
    from handlers.registration.policy_text import POLICY_TEXT
    from storage import migrate, people
    from storage.db import unit_of_work

    migrate.upgrade(_runtime().config.database_url)
    with unit_of_work() as session:
        version = people.ensure_policy(session, POLICY_TEXT)
    click.echo(f"database upgraded; policy version {version.content_hash[:12]}")


@db.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def db_backup(path: Path) -> None:
    """Write a consistent copy of the database while the bot runs (SQLite: PATH and its inbox file beside it;
    PostgreSQL: a pg_dump custom-format file)."""
    from storage import backup

    try:
        written = backup.backup(_runtime().config.database_url, path)
    except backup.BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo("backup written: " + ", ".join(str(p) for p in written))


@db.command("restore")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite a database that already holds data.")
def db_restore(path: Path, force: bool) -> None:
    """Put a backup made by `kosodate db backup` into the database (stop the bot first)."""
    from storage import backup

    try:
        read = backup.restore(_runtime().config.database_url, path, force=force)
    except backup.BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo("restored from: " + ", ".join(str(p) for p in read))


@cli.command()
@click.option(
    "--job",
    "jobs",
    multiple=True,
    metavar="ID",
    help="Run only this job (repeatable), e.g. --job outbox-deliver for an extra sender process.",
)
def worker(jobs: tuple[str, ...]) -> None:
    """Run the scheduler process (the Procfile's worker)."""
    from scheduler import worker as worker_process

    try:
        worker_process.run(_runtime(), only=jobs)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc


@cli.command(with_appcontext=False)
@click.option("--port", default=8000, show_default=True, help="Port of the web app and simulator.")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on (this machine only: a loopback address).",
)
@click.option(
    "--database",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("instance/demo.sqlite3"),
    show_default=True,
    help="SQLite file of the demo.",
)
@click.option("--fresh", is_flag=True, help="Delete the demo database first and start over.")
def demo(port: int, host: str, database: Path, fresh: bool) -> None:
    """Run the whole bot offline (web app, worker, LINE double) then print the simulator page's address."""
    from bot.config import ConfigError
    from bot.demo.run import Demo

    try:
        running = Demo(database, host, port, fresh).start()
    except ConfigError as refusal:
        raise click.ClickException(str(refusal)) from None
    for line in running.banner():
        click.echo(line)
    running.serve_forever()
    click.echo("デモを終了しました / demo stopped")


@cli.group()
def outbox() -> None:
    """Messages the bot sends."""


@outbox.command("status")
@click.option("--event", "event_id", type=int, help="Every message about this event, one line each.")
@click.option("--enrollment", "enrollment_id", type=int, help="Every message about this application.")
@click.option("--failed", "failed", is_flag=True, help="The latest failures, with LINE's error message.")
@click.option("--purpose", help="Count only messages of this purpose (reminder, thanks, reply, …).")
def outbox_status(event_id: int | None, enrollment_id: int | None, failed: bool, purpose: str | None) -> None:
    """Outgoing messages: counts by status and what is due now, or message by message (times in Asia/Tokyo)."""
    from storage import outbox as rows
    from storage.clock import to_tokyo
    from storage.db import unit_of_work

    def when(moment) -> str:
        return to_tokyo(moment).strftime("%Y-%m-%d %H:%M") if moment else "-"

    with unit_of_work() as session:
        if event_id is not None or enrollment_id is not None or failed:
            if failed:
                found = rows.recent_problems(session)
            elif event_id is not None:
                found = rows.for_event(session, event_id)
            else:
                found = rows.for_enrollment(session, enrollment_id)
            for d in found:
                click.echo(
                    f"#{d.id:<7} {d.purpose:18} {d.subject or '-':18} {d.status:8} due {when(d.due_at)}  "
                    f"done {when(d.finished_at)}  attempts {d.attempts}  {d.last_error or ''}".rstrip()
                )
            if not found:
                click.echo("no messages")
            return
        counts = rows.summary(session, purpose)
        due, oldest = rows.backlog(session)
    for status in rows.STATUSES:
        click.echo(f"{status:8} {counts.get(status, 0)}")
    click.echo(f"due now  {due}" + (f" (oldest due since {when(oldest)})" if due else ""))


@cli.group()
def inbox() -> None:
    """Webhook events received."""


@inbox.command("status")
def inbox_status() -> None:
    from storage import inbox as events
    from storage.db import inbox_unit_of_work

    with inbox_unit_of_work(read_only=True) as session:
        counts = events.counts(session)
    for status in ("pending", "done", "failed"):
        click.echo(f"{status:8} {counts.get(status, 0)}")


@cli.group()
def richmenu() -> None:
    """The rich menu under the chat (bot/richmenu.py)."""


@richmenu.command("deploy")
def richmenu_deploy() -> None:
    """Create the rich menu with its image and make it every user's default."""
    from bot import richmenu as menu

    menu_id = _runtime().gateway.deploy_rich_menu(menu.definition(), menu.image_png())
    click.echo(f"rich menu deployed and set as default: {menu_id}")


@richmenu.command("render", with_appcontext=False)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the PNG (default: the shipped bot/static/richmenu.png).",
)
def richmenu_render(out: Path | None) -> None:
    """Draw the rich-menu image again (uses a Japanese font when the machine has one)."""
    from bot import richmenu as menu

    target = out or menu.IMAGE_PATH
    try:
        image = menu.render_image()
    except menu.PillowMissing as exc:
        raise click.ClickException(str(exc)) from exc
    target.write_bytes(image)
    click.echo(f"{target} written (Japanese font: {menu.japanese_font() or 'none, English labels'})")


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
