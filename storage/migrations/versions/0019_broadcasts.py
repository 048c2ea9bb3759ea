"""broadcasts: お知らせ to a segment of parents, their multicast batches, parents' opt-outs

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04 10:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "broadcasts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("centre", sa.String(length=20), nullable=True),
        sa.Column("audience", sa.String(length=20), nullable=False),
        sa.Column("age_band", sa.String(length=10), nullable=True),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("card_event_id", sa.Integer(), nullable=True),
        sa.Column("image_url", sa.String(length=500), nullable=True),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("send_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("estimated", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("approved_by", sa.Integer(), nullable=True),
        sa.Column("approved_at", storage.types.UTCDateTime(), nullable=True),
        sa.Column("cancelled_by", sa.Integer(), nullable=True),
        sa.Column("cancelled_at", storage.types.UTCDateTime(), nullable=True),
        sa.Column("released_at", storage.types.UTCDateTime(), nullable=True),
        sa.Column("planned", sa.Integer(), nullable=True),
        sa.Column("excluded", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["approved_by"],
            ["staff_members.id"],
            name=op.f("fk_broadcasts_approved_by_staff_members"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["cancelled_by"],
            ["staff_members.id"],
            name=op.f("fk_broadcasts_cancelled_by_staff_members"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["card_event_id"], ["events.id"], name=op.f("fk_broadcasts_card_event_id_events"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["staff_members.id"],
            name=op.f("fk_broadcasts_created_by_staff_members"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_broadcasts_event_id_events"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_broadcasts")),
    )
    with op.batch_alter_table("broadcasts", schema=None) as batch_op:
        batch_op.create_index("ix_broadcasts_due", ["status", "send_at"], unique=False)

    op.create_table(
        "broadcast_batches",
        sa.Column("outbox_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("broadcast_id", sa.Integer(), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("excluded", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["broadcast_id"],
            ["broadcasts.id"],
            name=op.f("fk_broadcast_batches_broadcast_id_broadcasts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("outbox_id", name=op.f("pk_broadcast_batches")),
    )
    with op.batch_alter_table("broadcast_batches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_broadcast_batches_broadcast_id"), ["broadcast_id"], unique=False)

    op.create_table(
        "broadcast_optouts",
        sa.Column("parent_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["parents.id"], name=op.f("fk_broadcast_optouts_parent_id_parents"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("parent_id", name=op.f("pk_broadcast_optouts")),
    )


def downgrade() -> None:
    op.drop_table("broadcast_optouts")
    with op.batch_alter_table("broadcast_batches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_broadcast_batches_broadcast_id"))
    op.drop_table("broadcast_batches")
    with op.batch_alter_table("broadcasts", schema=None) as batch_op:
        batch_op.drop_index("ix_broadcasts_due")
    op.drop_table("broadcasts")
