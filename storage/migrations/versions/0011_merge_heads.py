"""merge the three branches (events, staff, scheduler/reports) into one history

Revision ID: 0011
Revises: 0003, 0004, 0010
Create Date: 2026-12-03 18:50:00.000000
"""

revision = "0011"
down_revision = ("0003", "0004", "0010")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
