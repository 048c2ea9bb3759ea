"""Alembic environment of the inbox's own database (SQLite only, ``storage.db.inbox_url``): the one table
``inbox_events``, with the same definition as in the main schema."""

from alembic import context

from storage.db import make_engine
from storage.inbox import include_object
from storage.models import Base

config = context.config


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url, "storage.migrate.alembic_config sets sqlalchemy.url"
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            include_object=include_object,
            render_as_batch=True,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
