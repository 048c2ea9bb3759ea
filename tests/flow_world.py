"""A parent's world for pure flow tests: the engine, plus what the effects would have stored, in memory.

No Flask, no LINE, no database: ``World.send`` runs the engine's step and applies the effects to plain attributes the
next ``Context`` is built from, as ``services.context`` would from the tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.demo.line_double import check_messages
from handlers import router
from handlers.effects import ConsentWithdrawn, RecordConsent, SaveProfile, SetLanguage
from handlers.engine import Context, Engine, Input, State, Transition
from handlers.postback import decode
from handlers.registration import consent, policy_view, profile
from handlers.registration import flow as registration
from handlers.registration.policy_text import policy_hash
from handlers.replies import Card, Carousel, Choice, Reply, Text
from runtime.render import MAX_DATA, MAX_LABEL, MAX_QUICK_ITEMS, MAX_TEXT_UTF16, render_all, utf16_len

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)  # 12:00 in Tokyo
BASE_URL = "https://bot.example.test"
PHONE = "047-436-2111"


def own_engine() -> Engine:
    """Registration, consent, profile and policy with the router's idle handling, and no other team's flows."""
    engine = Engine([registration.FLOW, consent.FLOW, profile.FLOW, policy_view.FLOW], idle=lambda *_: None)
    engine.idle = router._idle(engine)
    return engine


ENGINE = own_engine()


@dataclass
class World:
    now: datetime = NOW
    lang: str = "ja"
    state: State = field(default_factory=State)
    profile: dict[str, Any] | None = None
    consents: list[tuple[str, str, datetime]] = field(default_factory=list)  # (answer, policy hash, when)
    policy: str = field(default_factory=policy_hash)  # the version in force
    effects: list[Any] = field(default_factory=list)
    last: Transition | None = None

    # --- the context services.context would load ---------------------------------------------------------------
    def ctx(self) -> Context:
        latest = self.consents[-1] if self.consents else None
        facts = {"policy_hash": self.policy, "answer": None, "for_current": False, "answered_at": None}
        if latest:
            facts.update(answer=latest[0], for_current=latest[1] == self.policy, answered_at=latest[2].isoformat())
        return Context(
            now=self.now,
            lang=self.lang,
            registered=self.profile is not None,
            consent_current=bool(latest and latest[0] == "agreed" and latest[1] == self.policy),
            profile=dict(self.profile or {}),
            facts={"consent": facts},
            public_base_url=BASE_URL,
            contact_phone=PHONE,
        )

    # --- what the parent does --------------------------------------------------------------------------------------
    def send(self, inp: Input) -> Transition:
        transition = ENGINE.step(self.state, inp, self.ctx())
        for effect in transition.effects:
            self._apply(effect)
        self.effects += transition.effects
        self.state, self.last = transition.state, transition
        return transition

    def follow(self) -> Transition:
        return self.send(Input("follow"))

    def say(self, text: str) -> Transition:
        return self.send(Input("text", text=text))

    def tap_data(self, data: str) -> Transition:
        postback = decode(data)
        return self.send(Input("postback", postback=postback, malformed=postback is None))

    def tap(self, label: str) -> Transition:
        """Tap the button with this label in the last replies (quick reply or card button)."""
        choice = self.choices().get(label)
        assert choice is not None, f"no button {label!r} in {sorted(self.choices())}"
        if choice.data is not None:
            return self.tap_data(choice.data)
        assert choice.text is not None, "a link button cannot be tapped here"
        return self.say(choice.text)

    # --- reading what the bot said -----------------------------------------------------------------------------
    def choices(self) -> dict[str, Choice]:
        out: dict[str, Choice] = {}
        for reply in self.last.replies if self.last else []:
            for choice in (*reply.quick, *(reply.buttons if isinstance(reply, Card) else ())):
                out[choice.label] = choice
        return out

    def text(self) -> str:
        return "\n".join(reply_text(r) for r in (self.last.replies if self.last else []))

    def _apply(self, effect: Any) -> None:
        if isinstance(effect, SetLanguage):
            self.lang = effect.lang
        elif isinstance(effect, SaveProfile):
            self.profile = {
                "name": effect.name,
                "furigana": effect.furigana,
                "phone": effect.phone,
                "is_guardian": effect.is_guardian,
                "is_pregnant": effect.is_pregnant,
                "due_month": effect.due_month,
                "children": sorted(effect.children),
                "centre": effect.centre,
            }
        elif isinstance(effect, RecordConsent):
            self.consents.append((effect.answer, effect.policy_hash, self.now))
        elif isinstance(effect, ConsentWithdrawn):
            self.consents.append(("withdrawn", effect.policy_hash, self.now))
        else:
            raise AssertionError(f"unknown effect {effect!r}")


def reply_text(reply: Reply) -> str:
    if isinstance(reply, Text):
        return reply.text
    if isinstance(reply, Card):
        return "\n".join((reply.title, *reply.lines))
    assert isinstance(reply, Carousel)
    return "\n".join(reply_text(c) for c in reply.cards)


def assert_valid_for_line(replies: list[Reply]) -> list[dict[str, Any]]:
    """The replies as LINE would receive them, checked against LINE's limits (and by the double's own checker)."""
    messages = render_all(replies)
    assert 1 <= len(messages) <= 5, f"{len(messages)} messages in one reply"
    assert check_messages(messages) == []
    for m in messages:
        if m["type"] == "text":
            assert 1 <= utf16_len(m["text"]) <= MAX_TEXT_UTF16
        items = (m.get("quickReply") or {}).get("items", [])
        assert len(items) <= MAX_QUICK_ITEMS
        for item in items:
            action = item["action"]
            assert 1 <= len(action["label"]) <= MAX_LABEL
            if action["type"] == "postback":
                assert len(action["data"]) <= MAX_DATA and decode(action["data"]) is not None
    return messages
