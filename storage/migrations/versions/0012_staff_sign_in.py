"""staff sign-in: second-factor challenges kept on the server, progressive-delay throttle counters

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_login_challenges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("nonce_hash", sa.String(length=64), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("account_key", sa.String(length=64), nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff_members.id"],
            name=op.f("fk_staff_login_challenges_staff_id_staff_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_login_challenges")),
        sa.UniqueConstraint("nonce_hash", name=op.f("uq_staff_login_challenges_nonce_hash")),
    )
    with op.batch_alter_table("staff_login_challenges", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_staff_login_challenges_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_staff_login_challenges_staff_id"), ["staff_id"], unique=False)

    op.create_table(
        "staff_login_throttles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_key", sa.String(length=64), nullable=False),
        sa.Column("address_key", sa.String(length=64), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", storage.types.UTCDateTime(), nullable=True),
        sa.Column("unreported_failures", sa.Integer(), nullable=False),
        sa.Column("unreported_refusals", sa.Integer(), nullable=False),
        sa.Column("reported_at", storage.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff_members.id"],
            name=op.f("fk_staff_login_throttles_staff_id_staff_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_login_throttles")),
        sa.UniqueConstraint("account_key", "address_key", name="uq_staff_login_throttles_pair"),
    )
    with op.batch_alter_table("staff_login_throttles", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_staff_login_throttles_last_failure_at"), ["last_failure_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_staff_login_throttles_staff_id"), ["staff_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("staff_login_throttles", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staff_login_throttles_staff_id"))
        batch_op.drop_index(batch_op.f("ix_staff_login_throttles_last_failure_at"))
    op.drop_table("staff_login_throttles")
    with op.batch_alter_table("staff_login_challenges", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staff_login_challenges_staff_id"))
        batch_op.drop_index(batch_op.f("ix_staff_login_challenges_created_at"))
    op.drop_table("staff_login_challenges")
