"""The effect of 「お知らせの停止」 / 「お知らせを受け取る」 (handlers/news/flow.py) and its applier."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from handlers.effects import applies
from storage import broadcasts, people
from storage.models import LineUser

# The context fact (services/context.py): True when the parent has stopped お知らせ; absent when not registered.
NEWS_KEY = "news_opted_out"


@dataclass(frozen=True)
class SetNewsOptOut:
    stopped: bool


@applies(SetNewsOptOut)
def _set_news_opt_out(session: Session, user: LineUser, effect: SetNewsOptOut) -> None:
    parent = people.parent_of(session, user.id)
    if parent is not None:
        broadcasts.set_opted_out(session, parent.id, effect.stopped)
