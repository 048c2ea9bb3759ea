"""The conversation engine: flows declared as data, one pure ``step(state, input, ctx) -> Transition``.

A flow (see ``Flow``) is a table of named steps; each step has a ``prompt`` (what to say on entering it) and an
``accept`` (what to do with the parent's input: go to another step, finish, or re-prompt kindly). Global fallbacks
— ヘルプ, やめる, もどる, stale buttons, stickers where text was asked, timeouts, 続きから — are handled here once,
for every flow. Nothing here touches a database, Flask or LINE: the dispatcher stores the new state and applies the
effects in one transaction, then sends the replies.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from handlers import texts
from handlers.normalize import keyword
from handlers.postback import Postback, encode
from handlers.replies import Choice, Reply, Said, Text

STATE_TTL = timedelta(hours=24)
# The city hall's switchboard; deployments set CONTACT_PHONE to the division's direct line.
DEFAULT_CONTACT_PHONE = "047-436-2111（船橋市役所 代表・地域子育て支援課へ）"
RESUME_FLOW = "resume"


# --- inputs, context, state ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Input:
    """What the parent did. ``kind``: text, postback, follow, sticker, image, video, audio, file, location, other."""

    kind: str
    text: str = ""
    postback: Postback | None = None
    # Set when a postback arrived whose data could not be decoded (forged, old format, oversized).
    malformed: bool = False


@dataclass(frozen=True)
class Context:
    """A read-only snapshot of what the flows may know about the user, loaded by the dispatcher."""

    now: datetime
    lang: str = "ja"
    registered: bool = False
    consent_current: bool = False
    profile: Mapping[str, Any] = field(default_factory=dict)
    facts: Mapping[str, Any] = field(default_factory=dict)
    public_base_url: str = ""
    contact_phone: str = DEFAULT_CONTACT_PHONE


@dataclass(frozen=True)
class State:
    flow: str | None = None
    step: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    version: int = 0
    expires_at: datetime | None = None

    @property
    def idle(self) -> bool:
        return self.flow is None


@dataclass
class Transition:
    state: State
    # Replies, and ``After``s that the processing turns into replies once the effects have been applied.
    replies: list[Said] = field(default_factory=list)
    effects: list[Any] = field(default_factory=list)


# --- what a step returns ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Go:
    """Move to ``step`` (or stay, when None) with ``data`` merged in; optional effects and extra replies first."""

    step: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    effects: tuple[Any, ...] = ()
    say: tuple[Said, ...] = ()
    remember: bool = True  # push the current step on the もどる stack


@dataclass(frozen=True)
class Finish:
    """Leave the flow; ``then`` optionally starts another flow (e.g. registration → consent)."""

    say: tuple[Said, ...] = ()
    effects: tuple[Any, ...] = ()
    then: str | None = None


@dataclass(frozen=True)
class Retry:
    """Invalid input: say why, kindly, and show the same step again."""

    reason: Reply


StepResult = Go | Finish | Retry


@dataclass(frozen=True)
class Step:
    prompt: Callable[[Context, Mapping[str, Any], int], list[Reply]]
    accept: Callable[[Context, Mapping[str, Any], Input], StepResult]
    # What kinds of input the step understands; anything else is answered with a hint and the prompt again.
    accepts: frozenset[str] = frozenset({"text", "postback"})
    help_key: str = "help.in_flow"
    # A line of help about this step (a key in the flow's catalogue), added after the general help.
    help_hint: str = ""
    # True where the answer is one of the buttons: a sticker or photo is then answered "please tap a button".
    choice: bool = False


@dataclass(frozen=True)
class Flow:
    name: str
    start: str
    steps: Mapping[str, Step]
    keywords: frozenset[str] = frozenset()  # normalised keywords (handlers.normalize.keyword) that start it
    title_key: str = ""
    # Who may start it: returns a refusal (replies) or None.
    guard: Callable[[Context], list[Reply] | None] | None = None
    initial: Callable[[Context], Mapping[str, Any]] | None = None
    # Said once when the flow starts (or restarts), before the first step: e.g. why we ask what we ask.
    intro: Callable[[Context], list[Reply]] | None = None
    # The flow's own texts; ``title_key`` and ``help_hint`` are looked up here first, then in handlers.texts.
    catalog: texts.Catalog | None = None

    def text(self, ctx: Context, key: str, **values: Any) -> str:
        if self.catalog is not None and key in self.catalog.entries["ja"]:
            return self.catalog.t(ctx, key, **values)
        return texts.t(ctx, key, **values)

    def title(self, ctx: Context) -> str:
        return self.text(ctx, self.title_key) if self.title_key else self.name


# The flow data key a step sets to switch the conversation language at once (the SetLanguage effect is applied
# in the same transaction, but this transition's prompts are built before it: they read this key).
LANG_KEY = "_lang"


def in_language(ctx: Context, data: Mapping[str, Any]) -> Context:
    lang = data.get(LANG_KEY)
    return replace(ctx, lang=lang) if lang in texts.LANGS and lang != ctx.lang else ctx


def picked(inp: Input, flow: str, action: str, options: Mapping[str, Iterable[str]]) -> str | None:
    """Which option the parent chose: a button of ``flow``/``action`` carrying one of the options' values, or a typed
    word matching one of its labels (any language). None when the input is neither."""
    if inp.postback is not None:
        pb = inp.postback
        return pb.value if pb.flow == flow and pb.action == action and pb.value in options else None
    if inp.kind != "text":
        return None
    typed = keyword(inp.text)
    for value, labels in options.items():
        if typed in {keyword(label) for label in labels}:
            return value
    return None


class Engine:
    def __init__(self, flows: list[Flow], idle: Callable[[State, Context, Input], Transition | None]):
        self.flows = {f.name: f for f in flows}
        self.idle = idle  # what to do with input outside any flow (main menu, help)

    # The one entry point ---------------------------------------------------------------------------------
    def step(self, state: State, inp: Input, ctx: Context) -> Transition:
        if state.expires_at is not None and state.expires_at <= ctx.now and not state.idle:
            # Abandoned too long: forget it (and what was typed), say so, and carry on from idle.
            transition = self._step(State(version=state.version), inp, ctx)
            transition.replies.insert(0, Text(texts.t(ctx, "expired.notice")))
            return transition
        return self._step(state, inp, in_language(ctx, state.data))

    def _step(self, state: State, inp: Input, ctx: Context) -> Transition:
        kw = keyword(inp.text) if inp.kind == "text" else ""
        if kw in texts.CANCEL_WORDS:
            return self._cancel(state, ctx)
        if kw in texts.HELP_WORDS or (inp.postback and inp.postback.flow == "menu" and inp.postback.action == "help"):
            return self._help(state, ctx)
        if inp.malformed:
            return self._stale(state, ctx)
        pb = inp.postback
        if pb is not None and pb.flow == RESUME_FLOW:
            return self._resume_answer(state, pb, ctx)
        if pb is not None and pb.version is not None:
            if state.idle or pb.flow != state.flow or pb.version != state.version:
                return self._stale(state, ctx)
        entry = self._entry_flow(inp)
        if entry is not None:
            answer = pb is not None and bool(pb.value)
            if not state.idle and entry.name == state.flow and state.step != entry.start and not answer:
                return self._offer_resume(state, entry, ctx)
            started = self.start(entry.name, state, ctx)
            if answer and started.state.flow == entry.name:
                # An entry button that carries a value (the 満足度 buttons of a thank-you) is at once the answer
                # to the flow's first step.
                return self._accept(started.state, inp, ctx)
            return started
        current = self._current(state)
        if current is not None:
            if inp.kind == "follow":  # unblocked us half-way through: offer to carry on
                return self._offer_resume(state, current, ctx)
            if pb is not None and pb.version is None:
                # In-flow buttons always carry the state version; anything else (another flow's old button,
                # a hand-made postback) is not an answer to this step.
                return self._stale(state, ctx)
        if state.idle:
            found = self.idle(state, ctx, inp)
            return found if found is not None else Transition(state, [texts.menu(ctx)])
        if kw in texts.BACK_WORDS:
            return self._back(state, ctx)
        return self._accept(state, inp, ctx)

    def start(self, flow_name: str, state: State, ctx: Context, before: list[Said] | None = None) -> Transition:
        flow = self.flows[flow_name]
        before = list(before or [])
        if flow.guard is not None:
            refusal = flow.guard(ctx)
            if refusal:
                current = self._current(state)
                if current is not None and current is not flow:
                    # A refused detour must not cost the parent what they were in the middle of.
                    return self._reprompt(current, state, ctx, [*before, *refusal])
                return Transition(self._idle_state(state), [*before, *refusal])
        data = dict(flow.initial(ctx)) if flow.initial else {}
        intro = flow.intro(ctx) if flow.intro else []
        return self._enter(flow, flow.start, data, state.version, ctx, [*before, *intro])

    # Internals ------------------------------------------------------------------------------------------
    def _current(self, state: State) -> Flow | None:
        """The flow the state is in, if it is installed and knows the step (states outlive releases)."""
        flow = self.flows.get(state.flow or "")
        return flow if flow is not None and state.step in flow.steps else None

    def _entry_flow(self, inp: Input) -> Flow | None:
        if inp.postback is not None and inp.postback.version is None and inp.postback.action == "start":
            return self.flows.get(inp.postback.flow)
        if inp.kind == "text":
            kw = keyword(inp.text)
            for flow in self.flows.values():
                if kw in flow.keywords:
                    return flow
        return None

    def _enter(
        self, flow: Flow, step_name: str, data: dict[str, Any], version: int, ctx: Context, before: list[Said]
    ) -> Transition:
        new_version = version + 1
        state = State(flow.name, step_name, data, new_version, ctx.now + STATE_TTL)
        prompt = flow.steps[step_name].prompt(in_language(ctx, data), data, new_version)
        return Transition(state, [*before, *prompt])

    def _idle_state(self, state: State) -> State:
        return State(version=state.version + 1)

    def _accept(self, state: State, inp: Input, ctx: Context) -> Transition:
        flow = self._current(state)
        if flow is None or state.step is None:  # a state from an older release: start over kindly
            return Transition(self._idle_state(state), [texts.menu(ctx)])
        step = flow.steps[state.step]
        if inp.kind not in step.accepts:
            return self._reprompt(flow, state, ctx, [texts.unexpected_kind(ctx, inp.kind, choice=step.choice)])
        result = step.accept(ctx, state.data, inp)
        if isinstance(result, Retry):
            return self._reprompt(flow, state, ctx, [result.reason])
        if isinstance(result, Finish):
            after = Transition(self._idle_state(state), list(result.say), list(result.effects))
            if result.then:
                nxt = self.start(result.then, after.state, ctx, before=after.replies)
                nxt.effects = after.effects + nxt.effects
                return nxt
            return after
        data = {**state.data, **result.data}
        target = result.step or state.step
        if result.remember and target != state.step:
            data["_back"] = [*state.data.get("_back", []), state.step][-20:]
        nxt = self._enter(flow, target, data, state.version, in_language(ctx, data), list(result.say))
        nxt.effects = list(result.effects)
        return nxt

    def _reprompt(self, flow: Flow, state: State, ctx: Context, before: list[Said]) -> Transition:
        assert state.step is not None, "a state inside a flow names its step"
        return self._enter(flow, state.step, dict(state.data), state.version, ctx, before)

    def _back(self, state: State, ctx: Context) -> Transition:
        flow = self._current(state)
        if flow is None:
            return Transition(self._idle_state(state), [texts.menu(ctx)])
        stack = [name for name in state.data.get("_back", []) if name in flow.steps]
        if not stack:
            return self._reprompt(flow, state, ctx, [Text(texts.t(ctx, "back.at_start"))])
        data = {**state.data, "_back": stack[:-1]}
        return self._enter(flow, stack[-1], data, state.version, ctx, [])

    def _cancel(self, state: State, ctx: Context) -> Transition:
        key = "cancel.done" if not state.idle else "cancel.nothing"
        return Transition(self._idle_state(state), [Text(texts.t(ctx, key)), texts.menu(ctx)])

    def _help(self, state: State, ctx: Context) -> Transition:
        if state.idle:
            return Transition(state, [texts.help_idle(ctx)])
        flow = self._current(state)
        if flow is None or state.step is None:
            return Transition(self._idle_state(state), [texts.help_idle(ctx)])
        step = flow.steps[state.step]
        lines = [texts.t(ctx, step.help_key, where=flow.title(ctx))]
        if step.help_hint:
            lines.append(flow.text(ctx, step.help_hint))
        return self._reprompt(flow, state, ctx, [Text("\n\n".join(lines))])

    def _stale(self, state: State, ctx: Context) -> Transition:
        notice = Text(texts.t(ctx, "stale.button"))
        if state.idle:
            return Transition(state, [notice, texts.menu(ctx)])
        flow = self._current(state)
        if flow is None:
            return Transition(self._idle_state(state), [notice, texts.menu(ctx)])
        return self._reprompt(flow, state, ctx, [notice])

    def _offer_resume(self, state: State, flow: Flow, ctx: Context) -> Transition:
        where = flow.title(ctx)
        version = state.version + 1
        choices = (
            Choice(texts.t(ctx, "resume.continue"), data=encode(RESUME_FLOW, "continue", "", version)),
            Choice(texts.t(ctx, "resume.restart"), data=encode(RESUME_FLOW, "restart", "", version)),
        )
        return Transition(
            replace(state, version=version), [Text(texts.t(ctx, "resume.ask", where=where), quick=choices)]
        )

    def _resume_answer(self, state: State, pb: Postback, ctx: Context) -> Transition:
        flow = self._current(state)
        if flow is None or pb.version != state.version:
            return self._stale(state, ctx)
        if pb.action == "restart":
            return self.start(flow.name, state, ctx)
        return self._reprompt(flow, state, ctx, [])
