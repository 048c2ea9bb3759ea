"""Alembic, driven from code: ``kosodate db upgrade`` and the tests use these, no alembic.ini needed."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import delete, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from storage.db import inbox_url, make_engine, table_of
from storage.models import InboxEvent

MIGRATIONS = Path(__file__).parent / "migrations"
# The inbox's own database (SQLite: ``storage.db.inbox_url``) has its own, one-table history.
INBOX_MIGRATIONS = Path(__file__).parent / "inbox_migrations"


def alembic_config(url: str, script_location: Path = MIGRATIONS) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "heads") -> None:
    """Bring the main database, and the inbox's own where there is one, to the newest schema."""
    command.upgrade(alembic_config(url), revision)
    separate = inbox_url(url)
    if separate and revision == "heads":
        command.upgrade(alembic_config(separate, INBOX_MIGRATIONS), "heads")
        _move_pending_inbox(url, separate)


def _move_pending_inbox(url: str, separate: str) -> None:
    """Events a version before the separate inbox stored but did not process yet move to the new inbox file, so an
    upgrade loses none. Idempotent: an event already there is not stored twice."""
    table = table_of(InboxEvent)
    main, inbox = make_engine(url), make_engine(separate)
    try:
        with main.begin() as source:
            rows = [dict(r._mapping) for r in source.execute(select(table).where(table.c.status == "pending"))]
            if rows:
                for row in rows:
                    del row["id"]
                with inbox.begin() as target:
                    target.execute(
                        sqlite_insert(table).on_conflict_do_nothing(index_elements=["webhook_event_id"]), rows
                    )
                source.execute(delete(table).where(table.c.status == "pending"))
    finally:
        main.dispose()
        inbox.dispose()


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


def revision(url: str, message: str, autogenerate: bool = True) -> None:
    command.revision(alembic_config(url), message=message, autogenerate=autogenerate)
