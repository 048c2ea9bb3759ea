"""The staff side of the chat (flow "staff") and linking a staff member's LINE account (flow "staff_link").

A staff member links their LINE account with the one-time code an administrator issued (``kosodate staff invite``,
bot/cli_staff.py), sent to the bot as 「職員登録 <code>」 (or 「職員登録」, then the code). From then on the context
knows them (``StaffFacts``): their chat shows the staff menu — 未対応の報告, 当番 on/off — instead of parents'
registration, and the buttons of the alerts they receive (対応します, 指示を送る, 解決, 貸出OK, お断り, 参加情報を変更)
are entry points of this flow carrying the action and the escalation ("ack.12").

Parents never see any of it: the menu items are shown to staff only, and a staff postback or keyword from anyone
else — a forged postback included — is answered with the ordinary menu, exactly as an unknown button would be, and
logged without anything personal. The appliers check again that the LINE account is active staff before acting.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.orm import Session

from handlers import texts
from handlers.effects import applies
from handlers.engine import Context, Finish, Flow, Go, Input, Retry, State, Step, StepResult, Transition, picked
from handlers.events import views
from handlers.normalize import keyword
from handlers.postback import encode
from handlers.replies import Card, Carousel, Choice, Reply, Text
from handlers.reports.rules import LOAN, MESSAGE_MAX, REPORT, EscalationInfo, StaffFacts, staff_facts
from handlers.reports.staff_chat_texts import TEXTS
from handlers.reports.texts import label, nav
from runtime.render import render_all
from services.reports import notices
from services.reports.operations import URL, Acknowledge, DecideLoan, Resolve, RotateCredentials, SendInstruction
from storage import audit, outbox, staff
from storage import escalation as queue
from storage.models import LineUser

log = logging.getLogger(__name__)

NAME, LINK_NAME = "staff", "staff_link"
MENU, INSTRUCTION, INSTRUCTION_CONFIRM, RESOLVE = "menu", "instruction", "instruction_confirm", "resolve"
DECISION, DECISION_CONFIRM = "decision", "decision_confirm"
ROTATE_EVENT, ROTATE_URL = "rotate_event", "rotate_url"
ROTATE_PASSCODE, ROTATE_CONFIRM = "rotate_passcode", "rotate_confirm"
CODE = "code"
LINK_PREFIX = "職員登録"
CODE_SHAPE = re.compile(r"^[0-9A-Za-z-]{6,32}$")
# The shape ``storage.staff.create_invite`` gives codes ("1A2B-3C4D-5E6F"): pasted alone, it is taken as 職員登録 too.
INVITE_SHAPE = re.compile(r"^[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}$")
ACTIONS = ("ack", "instruct", "resolve", "approve", "decline", "rotate")

t = TEXTS.t


# --- effects only this chat returns ---------------------------------------------------------------------------
@dataclass(frozen=True)
class SetOnDuty:
    on: bool


@dataclass(frozen=True)
class LinkStaffAccount:
    """A 職員登録 code: whether it links is known only when it is checked, so the answer is pushed then."""

    code: str


@applies(SetOnDuty)
def _set_on_duty(session: Session, user: LineUser, effect: SetOnDuty) -> None:
    member = staff.by_line_user(session, user.id)
    if member is None:
        log.warning("on-duty change from a LINE account that is not active staff: ignored")
        return
    if queue.set_on_duty(member, effect.on):
        audit.record(
            session,
            action="staff.on_duty",
            actor=member,
            subject_type="staff",
            subject_id=member.id,
            details={"on": effect.on},
        )


@applies(LinkStaffAccount)
def _link(session: Session, user: LineUser, effect: LinkStaffAccount) -> None:
    if queue.link_refused(session, user.id):
        _push(session, user, [Text(t(user.language, "link.refused"))])
        return
    member = staff.redeem_invite(session, effect.code, user.id)
    queue.record_link_attempt(session, user.id, member is not None)
    if member is None:
        log.info("a staff LINE-link code was refused")
        _push(session, user, [Text(t(user.language, "link.failed"))])
        return
    audit.record(session, action="staff.line_link", actor=member, subject_type="staff", subject_id=member.id)
    lang = user.language
    text = t(lang, "link.done", name=member.name, centre=views.centre(lang, member.centre))
    quick = (Choice(t(lang, "menu.duty_on"), data=_entry("duty.on")), Choice(t(lang, "menu.list"), data=_entry("list")))
    _push(session, user, [Text(text, quick=quick)])


def _push(session: Session, user: LineUser, replies: list[Reply]) -> None:
    outbox.add(session, purpose="staff_link", messages=render_all(replies), line_user_id=user.line_user_id)


# --- the staff menu ---------------------------------------------------------------------------------------------
def _entry(value: str) -> str:
    return encode(NAME, "start", value)


def staff_quick(ctx: Context, member: StaffFacts) -> tuple[Choice, ...]:
    duty = ("menu.duty_off", "duty.off") if member.on_duty else ("menu.duty_on", "duty.on")
    return (Choice(t(ctx, "menu.list"), data=_entry("list")), Choice(t(ctx, duty[0]), data=_entry(duty[1])))


def menu_reply(ctx: Context, member: StaffFacts, before: str = "") -> Text:
    unresolved = member.unresolved()
    text = t(
        ctx,
        "menu",
        name=member.name,
        centre=views.centre(ctx, member.centre),
        duty=t(ctx, "duty.on" if member.on_duty else "duty.off"),
        open=sum(e.status == "open" for e in unresolved),
        taken=sum(e.status == "acknowledged" for e in unresolved),
    )
    return Text("\n\n".join(filter(None, (before, text))), quick=staff_quick(ctx, member))


def _card(ctx: Context, info: EscalationInfo) -> Card:
    title = t(ctx, "list.title", kind=label(ctx, "kind", info.kind), reference=info.reference)
    return Card(
        title=title,
        lines=tuple(notices.detail_lines(ctx.lang, info)),
        buttons=notices.staff_buttons(ctx.lang, info),
        alt=title,
    )


def _list(ctx: Context, member: StaffFacts) -> list[Reply]:
    unresolved = member.unresolved()[:10]
    if not unresolved:
        return [Text(t(ctx, "list.none"), quick=staff_quick(ctx, member))]
    return [
        Carousel(cards=tuple(_card(ctx, e) for e in unresolved), alt=t(ctx, "list.alt"), quick=staff_quick(ctx, member))
    ]


def _guard(ctx: Context) -> list[Reply] | None:
    if staff_facts(ctx) is not None:
        return None
    log.warning("a staff-chat entry (button or keyword) came from a LINE account that is not staff: refused")
    return [texts.menu(ctx)]


def _me(ctx: Context) -> StaffFacts:
    member = staff_facts(ctx)
    assert member is not None, "the guard lets only staff in"
    return member


def _refusal(ctx: Context, member: StaffFacts, reason: str, info: EscalationInfo | None) -> Finish:
    text = notices.t(
        ctx.lang,
        f"refused.{reason}",
        reference=info.reference if info else "—",
        name=info.acknowledged_by if info else "",
    )
    return Finish(say=(menu_reply(ctx, member, text),))


def _menu_prompt(ctx: Context, data: Mapping[str, Any], version: int) -> list[Reply]:
    return [menu_reply(ctx, _me(ctx))]


def _menu_accept(ctx: Context, data: Mapping[str, Any], inp: Input) -> StepResult:
    member = _me(ctx)
    pb = inp.postback
    value = pb.value if pb is not None and pb.flow == NAME else ""
    if value == "list":
        return Finish(say=tuple(_list(ctx, member)))
    if value in ("duty.on", "duty.off"):
        on = value == "duty.on"
        changed = replace(member, on_duty=on)
        return Finish(
            say=(menu_reply(ctx, changed, t(ctx, "duty.now_on" if on else "duty.now_off")),), effects=(SetOnDuty(on),)
        )
    action, _, number = value.partition(".")
    if action not in ACTIONS or not number.isdigit():
        return Retry(Text(t(ctx, "choose.buttons")))
    info = member.get(int(number))
    if info is None:
        return _refusal(ctx, member, "not_found", None)
    if not member.can_act:
        return _refusal(ctx, member, "not_allowed", info)
    if info.resolved:
        return _refusal(ctx, member, "resolved", info)
    return _act(ctx, member, action, info)


def _act(ctx: Context, member: StaffFacts, action: str, info: EscalationInfo) -> StepResult:
    if action == "ack":
        if info.status == "acknowledged" and info.acknowledged_by_id != member.id:
            return _refusal(ctx, member, "taken", info)
        taken = replace(info, status="acknowledged", acknowledged_by_id=member.id, acknowledged_by=member.name)
        if info.status == "acknowledged":
            return Finish(say=(Text(t(ctx, "ack.mine", reference=info.reference)), _card(ctx, taken)))
        return Finish(
            say=(Text(t(ctx, "ack.done", reference=info.reference)), _card(ctx, taken)), effects=(Acknowledge(info.id),)
        )
    needs = {"resolve": REPORT, "rotate": REPORT, "approve": LOAN, "decline": LOAN}.get(action)
    if (needs is not None and info.kind != needs) or (action == "rotate" and not info.events):
        return _refusal(ctx, member, "not_found", info)
    if action == "instruct":
        return Go(INSTRUCTION, {"escalation": info.id})
    if action == "resolve":
        return Go(RESOLVE, {"escalation": info.id})
    if action in ("approve", "decline"):
        return Go(DECISION, {"escalation": info.id, "approved": action == "approve"})
    if len(info.events) == 1:
        return Go(ROTATE_URL, {"escalation": info.id, "event": info.events[0].id})
    return Go(ROTATE_EVENT, {"escalation": info.id})


# --- instruction, resolve, loan decision, new join details ------------------------------------------------------
def _current(ctx: Context, data: Mapping[str, Any]) -> EscalationInfo | None:
    info = _me(ctx).get(int(data.get("escalation") or 0))
    return info if info is not None and not info.resolved else None


def _pb(action: str, value: str, version: int) -> str:
    return encode(NAME, action, value, version)


def _gone(ctx: Context) -> Finish:
    return Finish(say=(menu_reply(ctx, _me(ctx), t(ctx, "gone")),))


def _text_step(ask, next_step: str, key: str, check=None):
    """A step that takes one typed text (at most MESSAGE_MAX characters) into ``data[key]``."""

    def prompt(ctx: Context, data: Mapping[str, Any], version: int) -> list[Reply]:
        return [Text(ask(ctx, data), quick=nav(ctx, back=False))]

    def accept(ctx: Context, data: Mapping[str, Any], inp: Input) -> StepResult:
        if _current(ctx, data) is None:
            return _gone(ctx)
        typed = inp.text.strip()
        if not typed:
            return Retry(Text(ask(ctx, data)))
        if len(typed) > MESSAGE_MAX:
            return Retry(Text(t(ctx, "instruction.too_long", max=MESSAGE_MAX)))
        problem = check(ctx, typed) if check else None
        return Retry(Text(problem)) if problem else Go(next_step, {key: typed})

    return Step(prompt, accept, accepts=frozenset({"text"}))


def _preview(
    ctx: Context, title: str, lines: tuple[str, ...], send_key: str, version: int, rewrite: bool = True
) -> list[Reply]:
    buttons = [Choice(t(ctx, send_key), data=_pb("send", "", version))]
    if rewrite:
        buttons.append(Choice(t(ctx, "instruction.rewrite"), data=_pb("rewrite", "", version)))
    return [Card(title=title, lines=lines, buttons=tuple(buttons), alt=title, quick=(*buttons, *nav(ctx, back=False)))]


def _confirm_step(preview, finish, rewrite_step: str | None):
    def accept(ctx: Context, data: Mapping[str, Any], inp: Input) -> StepResult:
        info = _current(ctx, data)
        if info is None:
            return _gone(ctx)
        if rewrite_step and picked(inp, NAME, "rewrite", {"": ()}) is not None:
            return Go(rewrite_step)
        if picked(inp, NAME, "send", {"": ()}) is None:
            return Retry(Text(t(ctx, "choose.buttons")))
        return finish(ctx, data, info)

    return Step(preview, accept, choice=True)


def _centre(ctx: Context) -> str:
    return views.centre(ctx, _me(ctx).centre)


def _instruction_ask(ctx: Context, data: Mapping[str, Any]) -> str:
    info = _current(ctx, data)
    return t(ctx, "instruction.ask", reference=info.reference if info else "—", centre=_centre(ctx))


def _instruction_preview(ctx: Context, data: Mapping[str, Any], version: int) -> list[Reply]:
    lines = (t(ctx, "instruction.lead", centre=_centre(ctx)), data.get("text") or "")
    return _preview(ctx, t(ctx, "instruction.title"), lines, "instruction.send", version)


def _instruction_send(ctx: Context, data: Mapping[str, Any], info: EscalationInfo) -> Finish:
    said = t(ctx, "instruction.sent", reference=info.reference)
    return Finish(say=(menu_reply(ctx, _me(ctx), said),), effects=(SendInstruction(info.id, data["text"]),))


def _resolve_prompt(ctx: Context, data: Mapping[str, Any], version: int) -> list[Reply]:
    info = _current(ctx, data)
    if info is None:
        return [menu_reply(ctx, _me(ctx))]
    lines = tuple(notices.detail_lines(ctx.lang, info))
    if info.held_links:
        buttons = (
            Choice(t(ctx, "resolve.send_links"), data=_pb("resolve", "send", version)),
            Choice(t(ctx, "resolve.hold_links"), data=_pb("resolve", "hold", version)),
        )
    else:
        buttons = (Choice(t(ctx, "resolve.plain"), data=_pb("resolve", "hold", version)),)
    title = t(ctx, "resolve.title", reference=info.reference)
    return [Card(title=title, lines=lines, buttons=buttons, alt=title, quick=(*buttons, *nav(ctx, back=False)))]


def _resolve_accept(ctx: Context, data: Mapping[str, Any], inp: Input) -> StepResult:
    info = _current(ctx, data)
    if info is None:
        return _gone(ctx)
    choice = picked(inp, NAME, "resolve", {"send": (), "hold": ()})
    if choice is None:
        return Retry(Text(t(ctx, "choose.buttons")))
    send = choice == "send" and info.held_links > 0
    said = t(ctx, "resolve.done_links" if send else "resolve.done", reference=info.reference)
    return Finish(say=(menu_reply(ctx, _me(ctx), said),), effects=(Resolve(info.id, send, ctx.public_base_url),))


def _decision_ask(ctx: Context, data: Mapping[str, Any]) -> str:
    info = _current(ctx, data)
    which = "approve" if data.get("approved") else "decline"
    return t(ctx, f"decision.ask.{which}", reference=info.reference if info else "—")


def _decision_preview(ctx: Context, data: Mapping[str, Any], version: int) -> list[Reply]:
    which = "approve" if data.get("approved") else "decline"
    return _preview(ctx, t(ctx, f"decision.title.{which}"), (data.get("note") or "",), "instruction.send", version)


def _decision_send(ctx: Context, data: Mapping[str, Any], info: EscalationInfo) -> Finish:
    effect = DecideLoan(info.id, bool(data.get("approved")), data["note"], ctx.contact_phone)
    return Finish(
        say=(menu_reply(ctx, _me(ctx), t(ctx, "decision.sent", reference=info.reference)),), effects=(effect,)
    )


def _event_of(info: EscalationInfo | None, data: Mapping[str, Any]):
    return next((e for e in (info.events if info else ()) if e.id == data.get("event")), None)


def _rotate_event_prompt(ctx: Context, data: Mapping[str, Any], version: int) -> list[Reply]:
    info = _current(ctx, data)
    quick = tuple(
        Choice(f"{views.date_text(ctx, e.starts_at)} {e.title}", data=_pb("event", str(e.id), version))
        for e in (info.events if info else ())[:11]
    )
    return [Text(t(ctx, "rotate.event"), quick=(*quick, *nav(ctx, back=False)))]


def _rotate_event_accept(ctx: Context, data: Mapping[str, Any], inp: Input) -> StepResult:
    info = _current(ctx, data)
    if info is None:
        return _gone(ctx)
    chosen = picked(inp, NAME, "event", {str(e.id): () for e in info.events})
    return Go(ROTATE_URL, {"event": int(chosen)}) if chosen else Retry(Text(t(ctx, "choose.buttons")))


def _rotate_url_ask(ctx: Context, data: Mapping[str, Any]) -> str:
    event = _event_of(_current(ctx, data), data)
    return t(ctx, "rotate.url", title=event.title if event else "—")


def _url_problem(ctx: Context, typed: str) -> str | None:
    return None if URL.match(typed) else t(ctx, "rotate.url_bad")


def _rotate_preview(ctx: Context, data: Mapping[str, Any], version: int) -> list[Reply]:
    event = _event_of(_current(ctx, data), data)
    lines = tuple(
        t(
            ctx,
            "rotate.lines",
            title=event.title if event else "—",
            url=data.get("url", ""),
            passcode=data.get("passcode", ""),
        ).split("\n")
    )
    return _preview(ctx, t(ctx, "rotate.title"), lines, "rotate.send", version, rewrite=False)


def _rotate_send(ctx: Context, data: Mapping[str, Any], info: EscalationInfo) -> Finish:
    event = _event_of(info, data)
    if event is None:
        return _gone(ctx)
    effect = RotateCredentials(info.id, event.id, data["url"], data["passcode"], ctx.public_base_url)
    return Finish(say=(menu_reply(ctx, _me(ctx), t(ctx, "rotate.done", title=event.title)),), effects=(effect,))


def _staff_only(steps: dict[str, Step]) -> dict[str, Step]:
    """Every step checks again that the user is still staff (an account made inactive mid-way): if not, the
    ordinary menu, as for anyone else."""

    def guarded(step: Step) -> Step:
        def prompt(ctx: Context, data: Mapping[str, Any], version: int) -> list[Reply]:
            return step.prompt(ctx, data, version) if staff_facts(ctx) else [texts.menu(ctx)]

        def accept(ctx: Context, data: Mapping[str, Any], inp: Input) -> StepResult:
            return step.accept(ctx, data, inp) if staff_facts(ctx) else Finish(say=(texts.menu(ctx),))

        return replace(step, prompt=prompt, accept=accept)

    return {name: guarded(step) for name, step in steps.items()}


FLOW = Flow(
    name=NAME,
    start=MENU,
    steps=_staff_only(
        {
            MENU: Step(_menu_prompt, _menu_accept, choice=True),
            INSTRUCTION: _text_step(_instruction_ask, INSTRUCTION_CONFIRM, "text"),
            INSTRUCTION_CONFIRM: _confirm_step(_instruction_preview, _instruction_send, INSTRUCTION),
            RESOLVE: Step(_resolve_prompt, _resolve_accept, choice=True),
            DECISION: _text_step(_decision_ask, DECISION_CONFIRM, "note"),
            DECISION_CONFIRM: _confirm_step(_decision_preview, _decision_send, DECISION),
            ROTATE_EVENT: Step(_rotate_event_prompt, _rotate_event_accept, choice=True),
            ROTATE_URL: _text_step(_rotate_url_ask, ROTATE_PASSCODE, "url", _url_problem),
            ROTATE_PASSCODE: _text_step(lambda ctx, data: t(ctx, "rotate.passcode"), ROTATE_CONFIRM, "passcode"),
            ROTATE_CONFIRM: _confirm_step(_rotate_preview, _rotate_send, None),
        }
    ),
    keywords=frozenset(keyword(w) for w in ("職員メニュー", "staff menu")),
    title_key="title",
    guard=_guard,
    catalog=TEXTS,
)


# --- linking a LINE account ----------------------------------------------------------------------------------------
def _code_of(text: str) -> str | None:
    code = text.strip()
    return code if CODE_SHAPE.match(code) else None


def _code_prompt(ctx: Context, data: Mapping[str, Any], version: int) -> list[Reply]:
    return [Text(t(ctx, "link.ask"), quick=nav(ctx, back=False))]


def _code_accept(ctx: Context, data: Mapping[str, Any], inp: Input) -> StepResult:
    code = _code_of(inp.text)
    return Finish(effects=(LinkStaffAccount(code),)) if code else Retry(Text(t(ctx, "link.shape")))


LINK_FLOW = Flow(
    name=LINK_NAME,
    start=CODE,
    steps={CODE: Step(_code_prompt, _code_accept, accepts=frozenset({"text"}))},
    keywords=frozenset(keyword(w) for w in (LINK_PREFIX, "staff registration")),
    title_key="title",
    catalog=TEXTS,
)


def idle(state: State, ctx: Context, inp: Input) -> Transition | None:
    """Outside any flow (router idle hook): 「職員登録 <code>」 in one message (or an invitation code alone) from
    anyone; for staff, a greeting on follow and the staff menu for anything typed, instead of parents' registration
    and menu."""
    if inp.kind == "text" and (inp.text.startswith(LINK_PREFIX) or INVITE_SHAPE.match(inp.text)):
        code = _code_of(inp.text.removeprefix(LINK_PREFIX))
        if code is not None:
            return Transition(state, [], [LinkStaffAccount(code)])
    member = staff_facts(ctx)
    if member is None:
        return None
    if inp.kind == "follow":
        return Transition(state, [menu_reply(ctx, member, t(ctx, "greeting", name=member.name))])
    if inp.kind == "text" and not texts.is_keyword(inp.text, texts.MENU_WORDS):
        return Transition(state, [menu_reply(ctx, member)])
    return None
