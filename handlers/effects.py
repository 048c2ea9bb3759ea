"""Effects: what a step asks to change in the world. The dispatcher applies them in the event's transaction.

Each effect is a frozen dataclass; ``apply`` maps it to storage functions (no SQL here either).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from sqlalchemy.orm import Session

from storage.models import LineUser


@dataclass(frozen=True)
class SetLanguage:
    lang: str


Applier = Callable[[Session, LineUser, Any], None]
APPLIERS: dict[type, Applier] = {}


def applies(effect_type: type):
    def register(fn: Applier) -> Applier:
        APPLIERS[effect_type] = fn
        return fn

    return register


@applies(SetLanguage)
def _set_language(session: Session, user: LineUser, effect: SetLanguage) -> None:
    if effect.lang in ("ja", "en"):
        user.language = effect.lang


def apply(session: Session, user: LineUser, effects: list[Any]) -> None:
    for effect in effects:
        APPLIERS[type(effect)](session, user, effect)
