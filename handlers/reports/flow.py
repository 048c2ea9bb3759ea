"""紛失・盗難の報告 (flow "report") and 報告・相談の状況 (flow "my_reports"). Diagram: report.mmd.

Policy 5-(3): a parent who loses the IDs, passwords or links of the web-conference service, has them stolen, or
learns they were misused, tells 地域子育て支援課 at once and follows its instructions. The report flow asks what was
lost, roughly when, whether misuse is suspected, which of their applications it concerns (several may be chosen;
for a phone or LINE account every application is concerned) and an optional note, shows it all on a card, and on
"報告する" answers at once with the 受付番号, what happens next and what to do meanwhile (``FileReport``:
services/reports/operations.py revokes the links concerned and alerts staff; see its docstring for why new links wait
for staff). A second report of the same thing within 24 hours is added to the first, and the answer says so.

"my_reports" lists the parent's reports and requests with their status and the latest word from staff, and sends
the parent's answers back into the same thread (``AnswerStaff``). While an instruction from staff awaits an answer,
free text the parent sends outside any flow is offered as that answer, after a confirmation (``offer_answer``,
called by the router's idle handling).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from handlers import texts
from handlers.engine import (
    STATE_TTL,
    Context,
    Finish,
    Flow,
    Go,
    Input,
    Retry,
    State,
    Step,
    StepResult,
    Transition,
    picked,
)
from handlers.events import views
from handlers.events.rules import ApplicationInfo, facts_of
from handlers.normalize import keyword
from handlers.postback import encode
from handlers.replies import Card, Carousel, Choice, Reply, Text
from handlers.reports.rules import (
    LOST,
    LOST_WHEN,
    MESSAGE_MAX,
    MISUSE,
    NOTE_MAX,
    REPORT,
    EscalationInfo,
    ReportFacts,
    merge_target,
    reference,
    report_facts,
    responsible_centre,
)
from handlers.reports.texts import LABELS, STATUS, both_languages, label, nav, status_label
from handlers.reports.texts import REPORT as REPORT_TEXTS
from services.reports.operations import AnswerStaff, FileReport
from storage.clock import to_tokyo

NAME, STATUS_NAME = "report", "my_reports"
WHAT, WHEN, MISUSE_STEP, EVENTS, NOTE, CONFIRM = "what", "when", "misuse", "events", "note", "confirm"
LIST, ANSWER, ANSWER_CONFIRM = "list", "answer", "answer_confirm"
LIVE = ("confirmed", "pending", "waitlisted")
MAX_EVENT_BUTTONS = 8  # with すべて, 関係なし, 決定, もどる and やめる: LINE's 13 quick replies
PAGE = 10


def t(ctx: Any, key: str, **values: Any) -> str:
    return REPORT_TEXTS.t(ctx, key, **values)


def ts(ctx: Any, key: str, **values: Any) -> str:
    return STATUS.t(ctx, key, **values)


def _pb(action: str, value: str, version: int, flow: str = NAME) -> str:
    return encode(flow, action, value, version)


def _registered_only(catalog, ctx: Context) -> list[Reply] | None:
    if ctx.registered:
        return None
    return [Text(catalog.t(ctx, "guard.unregistered", phone=ctx.contact_phone), quick=texts.menu_choices(ctx))]


def candidates(ctx: Context) -> list[ApplicationInfo]:
    """The parent's live applications to events still ahead or under way: what a report or a loan may concern."""
    return [a for a in facts_of(ctx).applications if a.status in LIVE and a.event.status == "published"]


def event_button_label(ctx: Context, app: ApplicationInfo, chosen: bool = False) -> str:
    day = to_tokyo(app.event.starts_at)
    return f"{'✓' if chosen else ''}{day.month}/{day.day} {app.event.title}"


# --- the report: what, when, misuse ------------------------------------------------------------------------------
def _options(group: str, values: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    return {v: both_languages(LABELS, f"{group}.{v}") for v in values}


def _ask(
    ctx: Context, key: str, group: str, values: tuple[str, ...], action: str, version: int, back: bool = True
) -> list[Reply]:
    quick = tuple(Choice(label(ctx, group, v), data=_pb(action, v, version)) for v in values)
    return [Text(t(ctx, key), quick=(*quick, *nav(ctx, back)))]


def _what_prompt(ctx: Context, data: Mapping[str, Any], version: int) -> list[Reply]:
    return _ask(ctx, "what.ask", "lost", LOST, "what", version, back=False)


def _what_accept(ctx: Context, data: Mapping[str, Any], inp: Input) -> StepResult:
    value = picked(inp, NAME, "what", _options("lost", LOST))
    return Go(WHEN, {"lost": value}) if value else Retry(Text(t(ctx, "choose.buttons")))


def _when_prompt(ctx: Context, data: Mapping[str, Any], version: int) -> list[Reply]:
    return _ask(ctx, "when.ask", "when", LOST_WHEN, "when", version)


def _when_accept(ctx: Context, data: Mapping[str, Any], inp: Input) -> StepResult:
    value = picked(inp, NAME, "when", _options("when", LOST_WHEN))
    return Go(MISUSE_STEP, {"lost_when": value}) if value else Retry(Text(t(ctx, "choose.buttons")))


def _misuse_prompt(ctx: Context, data: Mapping[str, Any], version: int) -> list[Reply]:
    return _ask(ctx, "misuse.ask", "misuse", MISUSE, "misuse", version)


def _misuse_accept(ctx: Context, data: Mapping[str, Any], inp: Input) -> StepResult:
    value = picked(inp, NAME, "misuse", _options("misuse", MISUSE))
    if value is None:
        return Retry(Text(t(ctx, "choose.buttons")))
    apps = candidates(ctx)
    if data.get("lost") == "line_account":
        ids = sorted({a.event.id for a in apps})
        say = (Text(t(ctx, "events.all_affected")),) if ids else ()
        return Go(NOTE, {"misuse": value, "events": ids}, say=say)
    if not apps:
        return Go(NOTE, {"misuse": value, "events": []})
    return Go(EVENTS, {"misuse": value, "events": []})


# --- which events -------------------------------------------------------------------------------------------------
def _titles(ctx: Context, event_ids) -> str:
    by_id = {a.event.id: a for a in candidates(ctx)}
    chosen = [event_button_label(ctx, by_id[i]) for i in event_ids if i in by_id]
    return LABELS.t(ctx, "separator").join(chosen) if chosen else LABELS.t(ctx, "none")


def _events_prompt(ctx: Context, data: Mapping[str, Any], version: int) -> list[Reply]:
    chosen = set(data.get("events") or ())
    apps = candidates(ctx)[:MAX_EVENT_BUTTONS]
    quick = [
        Choice(event_button_label(ctx, a, a.event.id in chosen), data=_pb("toggle", str(a.event.id), version))
        for a in apps
    ]
    quick += [
        Choice(t(ctx, "events.all"), data=_pb("all", "", version)),
        Choice(t(ctx, "events.none"), data=_pb("none", "", version)),
        Choice(t(ctx, "events.done"), data=_pb("done", "", version)),
    ]
    lines = [t(ctx, "events.ask")]
    if chosen:
        lines.append(t(ctx, "events.chosen", titles=_titles(ctx, sorted(chosen))))
    return [Text("\n\n".join(lines), quick=(*quick, *nav(ctx)))]


def _events_accept(ctx: Context, data: Mapping[str, Any], inp: Input) -> StepResult:
    ids = {a.event.id for a in candidates(ctx)[:MAX_EVENT_BUTTONS]}
    chosen = set(data.get("events") or ())
    toggle = picked(inp, NAME, "toggle", {str(i): () for i in ids})
    if toggle is not None:
        return Go(None, {"events": sorted(chosen ^ {int(toggle)})}, remember=False)
    if picked(inp, NAME, "all", {"": both_languages(REPORT_TEXTS, "events.all")}) is not None:
        return Go(NOTE, {"events": sorted(ids)})
    if picked(inp, NAME, "none", {"": both_languages(REPORT_TEXTS, "events.none")}) is not None:
        return Go(NOTE, {"events": []})
    if picked(inp, NAME, "done", {"": both_languages(REPORT_TEXTS, "events.done")}) is not None:
        return Go(NOTE, {"events": sorted(chosen & ids)})
    return Retry(Text(t(ctx, "choose.buttons")))


# --- a note, the card, the receipt ------------------------------------------------------------------------------------
def _note_prompt(ctx: Context, data: Mapping[str, Any], version: int) -> list[Reply]:
    skip = Choice(t(ctx, "note.skip"), data=_pb("skip", "", version))
    return [Text(t(ctx, "note.ask"), quick=(skip, *nav(ctx)))]


def _note_accept(ctx: Context, data: Mapping[str, Any], inp: Input) -> StepResult:
    if picked(inp, NAME, "skip", {"": both_languages(REPORT_TEXTS, "note.skip") + ("なし",)}) is not None:
        return Go(CONFIRM, {"note": ""})
    if inp.kind != "text" or not inp.text.strip():
        return Retry(Text(t(ctx, "note.ask")))
    if len(inp.text) > NOTE_MAX:
        return Retry(Text(t(ctx, "note.too_long", max=NOTE_MAX)))
    return Go(CONFIRM, {"note": inp.text.strip()})


def _stops_links(ctx: Context, event_ids) -> bool:
    return any(a.status == "confirmed" and a.event.id in set(event_ids) for a in candidates(ctx))


def _confirm_prompt(ctx: Context, data: Mapping[str, Any], version: int) -> list[Reply]:
    lines = [
        t(ctx, "confirm.lost", value=label(ctx, "lost", data["lost"])),
        t(ctx, "confirm.when", value=label(ctx, "when", data["lost_when"])),
        t(ctx, "confirm.misuse", value=label(ctx, "misuse", data["misuse"])),
        t(ctx, "confirm.events", value=_titles(ctx, data.get("events") or ())),
        t(ctx, "confirm.note", value=data.get("note") or LABELS.t(ctx, "none")),
    ]
    if _stops_links(ctx, data.get("events") or ()):
        lines.append(t(ctx, "confirm.links"))
    send = Choice(t(ctx, "confirm.send"), data=_pb("send", "", version))
    return [
        Card(
            title=t(ctx, "confirm.title"),
            lines=tuple(lines),
            buttons=(send,),
            alt=t(ctx, "confirm.title"),
            quick=(send, *nav(ctx)),
        )
    ]


def _confirm_accept(ctx: Context, data: Mapping[str, Any], inp: Input) -> StepResult:
    if picked(inp, NAME, "send", {"": both_languages(REPORT_TEXTS, "confirm.send")}) is None:
        return Retry(Text(t(ctx, "choose.buttons")))
    return _filed(ctx, data)


def _filed(ctx: Context, data: Mapping[str, Any]) -> Finish:
    facts = report_facts(ctx)
    event_ids = tuple(sorted(data.get("events") or ()))
    earlier = merge_target(facts.escalations, data["lost"], event_ids, ctx.now)
    new_reference = reference(REPORT, facts.fresh)
    if earlier is not None:
        head = t(ctx, "done.merged", when=views.moment_text(ctx, earlier.created_at), reference=earlier.reference)
    else:
        head = t(ctx, "done.new", reference=new_reference)
    meanwhile = [t(ctx, "done.meanwhile")]
    if _stops_links(ctx, event_ids):
        meanwhile.append(t(ctx, "done.links"))
    if data["lost"] in ("service_account", "line_account"):
        meanwhile.append(t(ctx, f"done.tip.{data['lost']}"))
    meanwhile.append(t(ctx, "done.watch"))
    after = _after_hours(ctx, facts, data, event_ids) if earlier is None else None
    body = "\n\n".join(
        filter(
            None,
            (head, t(ctx, "done.next"), after, "\n".join(meanwhile), t(ctx, "done.urgent", phone=ctx.contact_phone)),
        )
    )
    quick = texts.menu_choices_led_by(ctx, Choice(t(ctx, "menu.status"), data=encode(STATUS_NAME, "start")))
    effect = FileReport(
        reference=new_reference,
        lost=data["lost"],
        lost_when=data["lost_when"],
        misuse=data["misuse"],
        event_ids=event_ids,
        note=data.get("note") or "",
        base_url=ctx.public_base_url,
    )
    return Finish(say=(Text(body, quick=quick),), effects=(effect,))


def _after_hours(ctx: Context, facts: ReportFacts, data: Mapping[str, Any], event_ids) -> str | None:
    """When nobody is on duty for the centre that will handle the report (the same choice as the report's: the
    first event concerned, else the parent's centre): when staff will see it."""
    concerned = [a.event for a in candidates(ctx) if data["lost"] == "line_account" or a.event.id in set(event_ids)]
    centre = responsible_centre(
        (e.centre for e in sorted(concerned, key=lambda e: (e.starts_at, e.id))), ctx.profile.get("centre")
    )
    return after_hours_note(ctx, facts, centre)


def after_hours_note(ctx: Context, facts: ReportFacts, centre: str) -> str | None:
    """When nobody is on duty for ``centre`` now: when staff will see what was just filed (reports and loans)."""
    if centre not in facts.after_hours:
        return None
    when = facts.after_hours[centre]
    return t(ctx, "done.after_hours", when=views.moment_text(ctx, when)) if when else t(ctx, "done.after_hours_later")


FLOW = Flow(
    name=NAME,
    start=WHAT,
    steps={
        WHAT: Step(_what_prompt, _what_accept, help_hint="help.what", choice=True),
        WHEN: Step(_when_prompt, _when_accept, choice=True),
        MISUSE_STEP: Step(_misuse_prompt, _misuse_accept, choice=True),
        EVENTS: Step(_events_prompt, _events_accept, choice=True),
        NOTE: Step(_note_prompt, _note_accept),
        CONFIRM: Step(_confirm_prompt, _confirm_accept, choice=True),
    },
    keywords=frozenset(
        keyword(w)
        for w in (
            "紛失",
            "盗難",
            "紛失・盗難の報告",
            "なくした",
            "無くした",
            "失くした",
            "盗まれた",
            "lost",
            "stolen",
            "report loss",
        )
    ),
    title_key="title",
    guard=lambda ctx: _registered_only(REPORT_TEXTS, ctx),
    intro=lambda ctx: [Text(t(ctx, "intro"))],
    catalog=REPORT_TEXTS,
)


# --- 報告・相談の状況 -----------------------------------------------------------------------------------------------
def _answerable(ctx: Context, escalation_id: Any) -> EscalationInfo | None:
    found = report_facts(ctx).get(int(escalation_id)) if str(escalation_id).isdigit() else None
    return found if found is not None and not found.resolved and found.instruction is not None else None


def _card(ctx: Context, info: EscalationInfo) -> Card:
    lines = [
        ts(ctx, "card.received", when=views.moment_text(ctx, info.created_at)),
        ts(ctx, "card.status", status=status_label(ctx, info.status, info.outcome)),
    ]
    if info.kind != REPORT and info.resolved and info.decision_note:
        lines.append(ts(ctx, "card.decision", text=info.decision_note))
    if info.instruction is not None and not info.resolved:
        lines.append(ts(ctx, "card.instruction", text=info.instruction.text))
        if info.awaiting_answer:
            lines.append(ts(ctx, "card.waiting"))
    buttons = ()
    if info.instruction is not None and not info.resolved:
        buttons = (Choice(ts(ctx, "card.answer"), data=encode(STATUS_NAME, "start", f"answer.{info.id}")),)
    title = ts(ctx, "card.title", kind=label(ctx, "kind", info.kind), reference=info.reference)
    return Card(title=title, lines=tuple(lines), buttons=buttons, alt=title)


def _elsewhere(ctx: Context) -> tuple[Choice, ...]:
    return (
        Choice(ts(ctx, "menu.report"), data=encode(NAME, "start")),
        Choice(ts(ctx, "menu.loan"), data=encode("loan", "start")),
        Choice(ts(ctx, "menu.main"), data=encode("menu", "help")),
    )


def _list_prompt(ctx: Context, data: Mapping[str, Any], version: int) -> list[Reply]:
    mine = report_facts(ctx).escalations[:PAGE]
    if not mine:
        return [Text(ts(ctx, "list.none"), quick=_elsewhere(ctx))]
    cards = tuple(_card(ctx, info) for info in mine)
    return [Text(ts(ctx, "list.header")), Carousel(cards=cards, alt=ts(ctx, "list.alt"), quick=_elsewhere(ctx))]


def _list_accept(ctx: Context, data: Mapping[str, Any], inp: Input) -> StepResult:
    pb = inp.postback
    if pb is not None and pb.flow == STATUS_NAME and pb.value.startswith("answer."):
        found = _answerable(ctx, pb.value.removeprefix("answer."))
        if found is None:
            return Finish(say=(Text(ts(ctx, "answer.gone", phone=ctx.contact_phone), quick=_elsewhere(ctx)),))
        return Go(ANSWER, {"escalation": found.id})
    waiting = report_facts(ctx).awaiting_answer()
    if inp.kind == "text" and waiting is not None:
        return _answer_typed(ctx, waiting, inp.text)
    return Retry(Text(ts(ctx, "choose.buttons")))


def _answer_typed(ctx: Context, info: EscalationInfo, text: str) -> StepResult:
    if len(text) > MESSAGE_MAX:
        return Retry(Text(ts(ctx, "answer.too_long", max=MESSAGE_MAX)))
    return Go(ANSWER_CONFIRM, {"escalation": info.id, "answer": text.strip()})


def _answer_prompt(ctx: Context, data: Mapping[str, Any], version: int) -> list[Reply]:
    info = _answerable(ctx, data.get("escalation"))
    if info is None:
        return [Text(ts(ctx, "answer.gone", phone=ctx.contact_phone), quick=nav(ctx, back=False))]
    lines = [ts(ctx, "answer.ask", reference=info.reference), ts(ctx, "answer.quote", text=info.instruction.text)]
    return [Text("\n\n".join(lines), quick=nav(ctx, back=False))]


def _answer_accept(ctx: Context, data: Mapping[str, Any], inp: Input) -> StepResult:
    info = _answerable(ctx, data.get("escalation"))
    if info is None:
        return Finish(say=(texts.menu(ctx),))
    if inp.kind != "text" or not inp.text.strip():
        return Retry(Text(ts(ctx, "answer.ask", reference=info.reference)))
    return _answer_typed(ctx, info, inp.text)


def _answer_confirm_prompt(ctx: Context, data: Mapping[str, Any], version: int) -> list[Reply]:
    info = _answerable(ctx, data.get("escalation"))
    if data.get("offered"):
        title = ts(ctx, "answer.offer", reference=info.reference if info else "")
        send_key, other_key, other_action = "answer.send_offered", "answer.not_offered", "keep"
    else:
        title = ts(ctx, "answer.title")
        send_key, other_key, other_action = "answer.send", "answer.rewrite", "rewrite"
    buttons = (
        Choice(ts(ctx, send_key), data=_pb("send", "", version, STATUS_NAME)),
        Choice(ts(ctx, other_key), data=_pb(other_action, "", version, STATUS_NAME)),
    )
    return [Card(title=title, lines=(data.get("answer") or "",), buttons=buttons, alt=title, quick=buttons)]


def _answer_confirm_accept(ctx: Context, data: Mapping[str, Any], inp: Input) -> StepResult:
    info = _answerable(ctx, data.get("escalation"))
    if picked(inp, STATUS_NAME, "keep", {"": both_languages(STATUS, "answer.not_offered")}) is not None:
        return Finish(say=(Text(ts(ctx, "answer.kept"), quick=texts.menu_choices(ctx)),))
    if picked(inp, STATUS_NAME, "rewrite", {"": both_languages(STATUS, "answer.rewrite")}) is not None:
        return Go(ANSWER, {"answer": ""})
    send_words = both_languages(STATUS, "answer.send") + both_languages(STATUS, "answer.send_offered")
    if picked(inp, STATUS_NAME, "send", {"": send_words}) is None:
        return Retry(Text(ts(ctx, "choose.buttons")))
    if info is None:
        return Finish(say=(Text(ts(ctx, "answer.gone", phone=ctx.contact_phone), quick=texts.menu_choices(ctx)),))
    return Finish(
        say=(Text(ts(ctx, "answer.sent"), quick=_elsewhere(ctx)),), effects=(AnswerStaff(info.id, data["answer"]),)
    )


STATUS_FLOW = Flow(
    name=STATUS_NAME,
    start=LIST,
    steps={
        LIST: Step(_list_prompt, _list_accept),
        ANSWER: Step(_answer_prompt, _answer_accept, accepts=frozenset({"text"})),
        ANSWER_CONFIRM: Step(_answer_confirm_prompt, _answer_confirm_accept, choice=True),
    },
    keywords=frozenset(keyword(w) for w in ("報告・相談の状況", "報告の状況", "相談の状況", "受付状況", "my reports")),
    title_key="title",
    guard=lambda ctx: _registered_only(STATUS, ctx),
    catalog=STATUS,
)


def offer_answer(state: State, ctx: Context, inp: Input) -> Transition | None:
    """Outside any flow, while staff wait for an answer: offer the parent's text as that answer (router idle hook)."""
    if inp.kind != "text" or not ctx.registered or not inp.text.strip():
        return None
    waiting = report_facts(ctx).awaiting_answer()
    if waiting is None:
        return None
    if len(inp.text) > MESSAGE_MAX:
        return Transition(state, [Text(ts(ctx, "answer.too_long", max=MESSAGE_MAX))])
    data = {"escalation": waiting.id, "answer": inp.text.strip(), "offered": True}
    version = state.version + 1
    new = State(STATUS_NAME, ANSWER_CONFIRM, data, version, ctx.now + STATE_TTL)
    return Transition(new, STATUS_FLOW.steps[ANSWER_CONFIRM].prompt(ctx, data, version))
