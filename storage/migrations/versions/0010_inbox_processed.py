"""inbox_processed: what processing has committed, for an inbox kept in a database of its own (SQLite)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26 01:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbox_processed",
        sa.Column("webhook_event_id", sa.String(length=64), nullable=False),
        sa.Column("processed_at", storage.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("webhook_event_id", name=op.f("pk_inbox_processed")),
    )
    with op.batch_alter_table("inbox_processed", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_inbox_processed_processed_at"), ["processed_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("inbox_processed", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inbox_processed_processed_at"))
    op.drop_table("inbox_processed")
