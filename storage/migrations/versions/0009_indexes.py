"""indexes for scale: the worker's inbox sweep and the reminder planner's outbox lookup; statistics for the planner

Merges the heads before it. Measured with bench/scale.py (docs/benchmarks.md, "Scale"): with 100,000 parents the
inbox sweep (``storage.inbox.pending_sources``, every 2 s) scanned every processed event, and the reminder planner
(``storage.outbox.still_relevant``, every minute) every message ever sent. ANALYZE gives SQLite's query planner the
statistics it needs to use the two outbox indexes together for the planner's OR (the nightly retention job keeps
them current).

Revision ID: 0009
Revises: 0005, 0006
Create Date: 2026-11-25 16:10:00.000000
"""

from alembic import op

revision = "0009"
# The branches' tips. ``alembic heads`` also lists 0003 and 0004, which 0004, 0005 and 0006 already depend on
# (``depends_on``): a database at 0005 + 0006 has them, and naming them here too makes Alembic fail the merge.
down_revision = ("0005", "0006")
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inbox_events", schema=None) as batch_op:
        batch_op.create_index("ix_inbox_status_source", ["status", "source_key", "id"], unique=False)
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_purpose_status", ["purpose", "status"], unique=False)
        batch_op.create_index("ix_outbox_purpose_not_after", ["purpose", "not_after"], unique=False)
    op.execute("ANALYZE")


def downgrade() -> None:
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_purpose_not_after")
        batch_op.drop_index("ix_outbox_purpose_status")
    with op.batch_alter_table("inbox_events", schema=None) as batch_op:
        batch_op.drop_index("ix_inbox_status_source")
