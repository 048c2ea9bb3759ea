"""Effects: what a step asks to change in the world. The dispatcher applies them in the event's transaction.

Each effect is a frozen dataclass; ``apply`` maps it to storage functions (no SQL here either).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from handlers.registration.policy_text import POLICY_TEXT, policy_hash
from handlers.registration.rules import as_date
from storage import people
from storage.models import LineUser


@dataclass(frozen=True)
class SetLanguage:
    lang: str


@dataclass(frozen=True)
class SaveProfile:
    """Register the parent or replace their details with what they confirmed on the card. Months are "YYYY-MM"."""

    name: str
    furigana: str
    phone: str
    is_guardian: bool
    is_pregnant: bool
    due_month: str | None
    children: tuple[str, ...]
    centre: str


@dataclass(frozen=True)
class RecordConsent:
    """同意する / 同意しない to the policy text whose content hash is ``policy_hash`` (the one the parent was shown)."""

    answer: str  # "agreed" | "declined"
    policy_hash: str


@dataclass(frozen=True)
class ConsentWithdrawn:
    """The parent withdrew consent. Recorded here and nothing more: features that act on consent (applications,
    join links, reminders) check ``storage.people.has_current_consent`` at the time they act or send, so nothing is
    sent after a withdrawal without a hook here. A feature that must react at once adds its own
    ``@applies(ConsentWithdrawn)``; it runs after the recording one."""

    policy_hash: str


Applier = Callable[[Session, LineUser, Any], Any]
# Several features may react to one effect (ConsentWithdrawn, say): each registers its applier; they run in the
# order they were registered, in the event's transaction.
APPLIERS: dict[type, list[Applier]] = {}


def applies(effect_type: type):
    def register(fn: Applier) -> Applier:
        APPLIERS.setdefault(effect_type, []).append(fn)
        return fn

    return register


@applies(SetLanguage)
def _set_language(session: Session, user: LineUser, effect: SetLanguage) -> None:
    if effect.lang in ("ja", "en"):
        user.language = effect.lang


@applies(SaveProfile)
def _save_profile(session: Session, user: LineUser, effect: SaveProfile) -> None:
    people.save_parent(
        session,
        user.id,
        name=effect.name,
        furigana=effect.furigana,
        phone=effect.phone,
        is_guardian=effect.is_guardian,
        is_pregnant=effect.is_pregnant,
        due_month=as_date(effect.due_month) if effect.due_month else None,
        centre=effect.centre,
        children=[as_date(month) for month in effect.children],
    )


def _policy_shown(session: Session, digest: str):
    """The policy version with this hash; the shipped text is published on first use if the deployment has not yet
    run ``kosodate db upgrade`` since it changed."""
    found = people.policy_by_hash(session, digest)
    if found is None and digest == policy_hash():
        found = people.ensure_policy(session, POLICY_TEXT)
    if found is None:
        raise LookupError("consent given to a policy version that is not published")
    return found


@applies(RecordConsent)
def _record_consent(session: Session, user: LineUser, effect: RecordConsent) -> None:
    people.record_consent(session, user.id, _policy_shown(session, effect.policy_hash), effect.answer)


@applies(ConsentWithdrawn)
def _consent_withdrawn(session: Session, user: LineUser, effect: ConsentWithdrawn) -> None:
    people.record_consent(session, user.id, _policy_shown(session, effect.policy_hash), "withdrawn")


def apply(session: Session, user: LineUser, effects: list[Any]) -> dict[Any, Any]:
    """Apply the effects in order; returns each effect's outcome (what its appliers returned; the last one that
    returned something), which the step's ``After`` replies are written from."""
    outcomes: dict[Any, Any] = {}
    for effect in effects:
        for applier in APPLIERS[type(effect)]:
            result = applier(session, user, effect)
            if result is not None:
                outcomes[effect] = result
            else:
                outcomes.setdefault(effect, None)
    return outcomes
