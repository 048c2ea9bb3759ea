"""statistics_months: programme statistics per month and centre, kept before personal data is purged

Revision ID: 0017
Revises: 0014
Create Date: 2026-12-03 19:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0017"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "statistics_months",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("centre", sa.String(length=20), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.Column("computed_at", storage.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("month", "centre", name=op.f("pk_statistics_months")),
    )


def downgrade() -> None:
    op.drop_table("statistics_months")
