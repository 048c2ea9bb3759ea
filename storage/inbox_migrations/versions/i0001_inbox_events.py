"""inbox_events in the inbox's own database, as in the main schema at 0009

Revision ID: i0001
Revises:
Create Date: 2026-11-26 01:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "i0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbox_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("webhook_event_id", sa.String(length=64), nullable=False),
        sa.Column("source_key", sa.String(length=64), nullable=False),
        sa.Column("event_type", sa.String(length=40), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("event_timestamp", sa.BigInteger(), nullable=False),
        sa.Column("redelivery", sa.Boolean(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.Column("received_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("processed_at", storage.types.UTCDateTime(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox_events")),
        sa.UniqueConstraint("webhook_event_id", name=op.f("uq_inbox_events_webhook_event_id")),
    )
    with op.batch_alter_table("inbox_events", schema=None) as batch_op:
        batch_op.create_index("ix_inbox_pending", ["source_key", "processed_at", "event_timestamp"], unique=False)
        batch_op.create_index("ix_inbox_status_source", ["status", "source_key", "id"], unique=False)


def downgrade() -> None:
    op.drop_table("inbox_events")
