"""staff sign-in: device cookies (staff_devices) and wrong codes per second-factor challenge

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03 20:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_devices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("last_used_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["staff_id"], ["staff_members.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index(op.f("ix_staff_devices_staff_id"), "staff_devices", ["staff_id"], unique=False)
    op.create_index(op.f("ix_staff_devices_last_used_at"), "staff_devices", ["last_used_at"], unique=False)
    with op.batch_alter_table("staff_login_challenges") as batch:
        batch.add_column(sa.Column("failures", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("staff_login_challenges") as batch:
        batch.drop_column("failures")
    op.drop_index(op.f("ix_staff_devices_last_used_at"), table_name="staff_devices")
    op.drop_index(op.f("ix_staff_devices_staff_id"), table_name="staff_devices")
    op.drop_table("staff_devices")
