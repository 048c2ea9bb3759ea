"""Loads the read-only ``Context`` a flow step sees.

Only what every step may need is read up front: the LINE user's registration (``registered``) and whether their
consent is to the policy in force (``consent_current``). The rest — the profile, and the facts of the events, report
and staff flows — is read from the database the first time the step looks at it (``Lazy``): ヘルプ or a tap in the
registration flow does not load the event list, the parent's reports or a staff member's escalations. Everything
is read in the event's one transaction, before any effect is applied; once the step has returned, the context is
sealed (``seal``) so that nothing is read afterwards, when the effects have changed the tables.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from sqlalchemy.orm import Session

from handlers.engine import DEFAULT_CONTACT_PHONE, Context
from handlers.events.rules import FACTS_KEY
from handlers.reports.rules import REPORTS_KEY, STAFF_KEY
from services.events import facts as event_facts
from services.news import NEWS_KEY
from services.reports import facts as report_facts
from storage import broadcasts, people
from storage.clock import now
from storage.models import LineUser, Parent

CONSENT_KEY = "consent"


class Lazy(Mapping[str, Any]):
    """A mapping whose values are loaded on first access, each by its own loader. With ``none_is_absent`` a loader
    returning None means the key is absent (as it was when everything was loaded eagerly: no ``staff`` entry for a
    parent)."""

    def __init__(self, loaders: Mapping[str, Callable[[], Any]], none_is_absent: bool = True):
        self._loaders = dict(loaders)
        self._none_is_absent = none_is_absent
        self._values: dict[str, Any] = {}
        self._sealed = False

    def seal(self) -> None:
        self._sealed = True

    def _load(self, key: str) -> Any:
        if key not in self._values:
            if self._sealed:
                raise RuntimeError(f"context fact {key!r} read after the step: the tables may have changed since")
            self._values[key] = self._loaders[key]()
        return self._values[key]

    def __getitem__(self, key: str) -> Any:
        if key not in self._loaders:
            raise KeyError(key)
        value = self._load(key)
        if value is None and self._none_is_absent:
            raise KeyError(key)
        return value

    def __iter__(self) -> Iterator[str]:
        return (key for key in self._loaders if not self._none_is_absent or self._load(key) is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)


def load(session: Session, user: LineUser, *, public_base_url: str = "", contact_phone: str = "") -> Context:
    parent = people.parent_of(session, user.id)
    moment = now()
    consent = _consent_facts(session, user)
    consent_current = consent["answer"] == "agreed" and consent["for_current"]
    facts = Lazy(
        {
            CONSENT_KEY: lambda: consent,
            FACTS_KEY: lambda: event_facts.load(
                session, parent, moment=moment, consent_current=consent_current, public_base_url=public_base_url
            ),
            # The parent's reports and loan requests; whether the LINE account is a staff member's (StaffMember).
            REPORTS_KEY: lambda: report_facts.of_parent(session, parent, moment=moment),
            STAFF_KEY: lambda: report_facts.of_staff_member(session, user, moment=moment),
            # Whether the parent stopped staff's お知らせ (handlers/news/flow.py).
            NEWS_KEY: lambda: broadcasts.opted_out(session, parent.id) if parent is not None else None,
        }
    )
    return Context(
        now=moment,
        lang=user.language,
        registered=parent is not None,
        consent_current=consent_current,
        profile=_profile(parent) if parent is not None else {},
        facts=facts,
        public_base_url=public_base_url,
        contact_phone=contact_phone or DEFAULT_CONTACT_PHONE,
    )


def seal(ctx: Context) -> None:
    """No more reads for this context (called by the dispatcher once the step has returned)."""
    for part in (ctx.facts, ctx.profile):
        if isinstance(part, Lazy):
            part.seal()


def _profile(parent: Parent) -> Lazy:
    return Lazy(
        {
            "name": lambda: parent.name,
            "furigana": lambda: parent.furigana,
            "phone": lambda: parent.phone,
            "is_guardian": lambda: parent.is_guardian,
            "is_pregnant": lambda: parent.is_pregnant,
            "due_month": lambda: parent.due_month.isoformat()[:7] if parent.due_month else None,
            # The one value that costs a query: read only when the step asks for it.
            "children": lambda: [c.birth_month.isoformat()[:7] for c in parent.children],
            "centre": lambda: parent.centre,
        },
        none_is_absent=False,
    )


def _consent_facts(session: Session, user: LineUser) -> dict[str, Any]:
    """The policy version in force (it may have been published from the staff console), the parent's latest answer,
    and whether that answer was to the version in force (one who agreed to an older text is asked again)."""
    latest = people.latest_consent(session, user.id)
    policy = people.current_policy(session)
    return {
        "policy_hash": policy.content_hash if policy else None,
        "answer": latest.answer if latest else None,
        "for_current": bool(latest and policy and latest.policy_version_id == policy.id),
        "answered_at": latest.answered_at.isoformat() if latest else None,
    }
