"""Which part of the schema the inbox's own database holds (see ``storage.db.inbox_url``)."""
from __future__ import annotations

INBOX_TABLES = frozenset({"inbox_events"})


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """Alembic's filter: only the inbox's tables and what belongs to them."""
    table = obj if type_ == "table" else getattr(obj, "table", None)
    return table is None or table.name in INBOX_TABLES
