"""Every column that holds a secret sealed with ``DATA_ENCRYPTION_KEY`` (storage.crypto), and re-sealing them all
with the first key, so an old key can be dropped from the list (``kosodate keys rotate``; docs/operations.md).

A column added later that stores ``crypto.seal(...)`` belongs in ``SEALED_COLUMNS``: tests/test_keys.py fails for a
``*_sealed`` column missing here."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import InstrumentedAttribute, Session

from storage import crypto
from storage.models import Enrollment, Event, JoinLink, RoutingChannel, StaffMember

SEALED_COLUMNS: tuple[InstrumentedAttribute[Any], ...] = (
    Event.join_url_sealed,
    Event.meeting_id_sealed,
    Event.passcode_sealed,
    Enrollment.calendar_token_sealed,
    JoinLink.token_sealed,
    StaffMember.totp_secret,
    RoutingChannel.address_sealed,
)

BATCH = 500


def rotate(session: Session, column: InstrumentedAttribute[Any]) -> int:
    """Re-seal every stored value of one column with the first key; returns how many rows changed. Rows are read in
    primary-key order in batches, so a large table is not held in memory at once."""
    model = column.class_
    key = model.__mapper__.primary_key[0]
    changed, after = 0, None
    while True:
        query = select(model).where(column.is_not(None)).order_by(key).limit(BATCH)
        if after is not None:
            query = query.where(key > after)
        rows = list(session.scalars(query))
        if not rows:
            return changed
        for row in rows:
            setattr(row, column.key, crypto.reseal(getattr(row, column.key)))
            changed += 1
        session.flush()
        after = getattr(rows[-1], key.key)
