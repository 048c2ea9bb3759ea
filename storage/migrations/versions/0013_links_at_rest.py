"""personal links at rest: join_links.token_sealed may be cleared (erasure); outbox bodies hold links by reference

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 12:00:00.000000

Data, once: erased parents' links lose their sealed token; ended outbox rows lose their body; planned rows that
hold a token in clear get the reference the sender now fills in (``storage.join_links.fill``), found by the token's
hash, so no data key is needed here.
"""

import hashlib
import json
import re

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

JOIN = re.compile(r"/j/([A-Za-z0-9_-]{32,64})")
CALENDAR = re.compile(r"/c/([A-Za-z0-9_-]{32,64})\.ics")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def upgrade() -> None:
    with op.batch_alter_table("join_links", schema=None) as batch_op:
        batch_op.alter_column("token_sealed", existing_type=sa.Text(), nullable=True)
    bind = op.get_bind()
    bind.execute(
        sa.text(
            "UPDATE join_links SET token_sealed = NULL WHERE enrollment_id IN ("
            " SELECT enrollments.id FROM enrollments JOIN parents ON parents.id = enrollments.parent_id"
            " JOIN line_users ON line_users.id = parents.line_user_pk WHERE line_users.status = 'erased')"
        )
    )
    bind.execute(sa.text("UPDATE outbox_messages SET messages = '[]' WHERE status IN ('sent', 'expired', 'failed')"))
    links: dict[str, int] = dict(bind.execute(sa.text("SELECT token_hash, id FROM join_links")).all())
    calendars: dict[str, int] = dict(
        bind.execute(
            sa.text("SELECT calendar_token_hash, id FROM enrollments WHERE calendar_token_hash IS NOT NULL")
        ).all()
    )
    value = "CAST(:body AS json)" if bind.dialect.name == "postgresql" else ":body"
    for row_id, body in bind.execute(
        sa.text("SELECT id, messages FROM outbox_messages WHERE status = 'planned'")
    ).all():
        text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
        changed = JOIN.sub(lambda m: f"/j/{{join_link:{links.get(_hash(m[1]), 0)}}}", text)
        changed = CALENDAR.sub(lambda m: f"/c/{{calendar:{calendars.get(_hash(m[1]), 0)}}}.ics", changed)
        if changed != text:  # a link no longer found becomes reference 0: the sender expires the row
            bind.execute(
                sa.text(f"UPDATE outbox_messages SET messages = {value} WHERE id = :id"),
                {"body": changed, "id": row_id},
            )


def downgrade() -> None:
    # Dropped bodies and cleared tokens cannot come back; token_sealed stays nullable, as erased links hold NULL.
    pass
