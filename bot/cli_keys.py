"""``kosodate keys rotate``: re-seal what is stored with the first key of DATA_ENCRYPTION_KEY."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from storage import audit, sealed
from storage.crypto import SecretUnreadable
from storage.db import unit_of_work


@click.group("keys", cls=AppGroup)
def keys_group() -> None:
    """Data encryption keys (DATA_ENCRYPTION_KEY)."""


@keys_group.command("rotate")
def rotate() -> None:
    """Re-encrypt every stored secret with the first key listed in DATA_ENCRYPTION_KEY.

    Put the new key first (DATA_ENCRYPTION_KEY=new,old), restart, run this, then remove the old key."""
    total = 0
    try:
        with unit_of_work() as session:
            for column in sealed.SEALED_COLUMNS:
                changed = sealed.rotate(session, column)
                total += changed
                click.echo(f"{column.class_.__tablename__}.{column.key}: {changed}")
            audit.record(session, action="keys.rotate", actor_label="cli", details={"values": total})
    except SecretUnreadable:
        raise click.ClickException(
            "a stored secret opens with none of the keys in DATA_ENCRYPTION_KEY: "
            "add the key it was sealed with (nothing was changed)"
        ) from None
    click.echo(f"re-encrypted {total} stored secrets with the first key")
