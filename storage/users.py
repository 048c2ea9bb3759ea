"""LINE users: who follows the bot, their language, whether pushes may reach them."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from storage.clock import now
from storage.db import dialect_name
from storage.models import LineUser


def get_or_create(session: Session, line_user_id: str) -> LineUser:
    user = session.scalars(select(LineUser).where(LineUser.line_user_id == line_user_id)).first()
    if user is not None:
        return user
    insert = pg_insert if dialect_name(session) == "postgresql" else sqlite_insert
    session.execute(
        insert(LineUser)
        .values(line_user_id=line_user_id, language="ja", status="active", created_at=now())
        .on_conflict_do_nothing(index_elements=["line_user_id"])
    )
    return session.scalars(select(LineUser).where(LineUser.line_user_id == line_user_id)).one()


def by_line_id(session: Session, line_user_id: str) -> LineUser | None:
    return session.scalars(select(LineUser).where(LineUser.line_user_id == line_user_id)).first()


def mark_followed(user: LineUser) -> None:
    user.status = "active"
    user.followed_at = now()
    user.unfollowed_at = None


def mark_unfollowed(user: LineUser) -> None:
    user.status = "blocked"
    user.unfollowed_at = now()
