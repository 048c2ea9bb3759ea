"""scheduler: outbox finish times and subject index, feedback after events

Revision ID: 0005
Revises: 0001
Create Date: 2026-11-25 15:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0005"
down_revision = "0001"
branch_labels = None
depends_on = "0003"


def upgrade() -> None:
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("finished_at", storage.types.UTCDateTime(), nullable=True))
        batch_op.create_index(batch_op.f("ix_outbox_messages_subject"), ["subject"], unique=False)

    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("answered_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("commented_at", storage.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_feedback_event_id_events"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["parents.id"], name=op.f("fk_feedback_parent_id_parents"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback")),
        sa.UniqueConstraint("event_id", "parent_id", name=op.f("uq_feedback_event_id")),
    )
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_feedback_event_id"), ["event_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_feedback_parent_id"), ["parent_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_feedback_parent_id"))
        batch_op.drop_index(batch_op.f("ix_feedback_event_id"))

    op.drop_table("feedback")
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_messages_subject"))
        batch_op.drop_column("finished_at")
