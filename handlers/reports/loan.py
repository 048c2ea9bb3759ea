"""機器の貸出相談 (flow "loan"). Policy 4-(1): participants prepare their own devices and connection, but the city
may lend what a participant needs, where it judges that necessary and as far as it can.

The parent chooses the equipment (any of パソコン, タブレット, WEBカメラ, マイク, Wi-Fiルーター), the event it is for
(one of their applications, or not decided yet), the reason in short choices and an optional note, confirms on a
card, and gets a 受付番号 at once (``RequestLoan``: staff of the event's centre — else the parent's — are alerted
like for a loss report, services/reports/operations.py). The staff decision — approved with pick-up details, or declined
with the reason — comes back in the chat, and shows in 報告・相談の状況.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from handlers import texts
from handlers.engine import Context, Finish, Flow, Go, Input, Retry, Step, StepResult, picked
from handlers.normalize import keyword
from handlers.postback import encode
from handlers.replies import Card, Choice, Reply, Text
from handlers.reports.flow import STATUS_NAME, after_hours_note, candidates, event_button_label
from handlers.reports.rules import (
    EQUIPMENT,
    LOAN,
    LOAN_REASONS,
    NOTE_MAX,
    reference,
    report_facts,
    responsible_centre,
)
from handlers.reports.texts import LABELS, both_languages, label, labels, nav
from handlers.texts import Catalog
from services.reports.operations import RequestLoan

NAME = "loan"
EQUIPMENT_STEP, EVENT, REASON, NOTE, CONFIRM = "equipment", "event", "reason", "note", "confirm"
MAX_EVENT_BUTTONS = 9  # with まだ決めていない, もどる, やめる: within LINE's 13 quick replies

TEXTS = Catalog(
    {
        "ja": {
            "title": "機器の貸出相談",
            "guard.unregistered": "機器の貸出のご相談は、ご登録のある方からこのトークで受け付けています。\nお電話でもご相談いただけます：{phone}",
            "intro": "オンラインの交流会・相談・講座に参加するための機器を、必要な方に、できる範囲でお貸ししています（利用ポリシー4-(1)）。いくつか質問します。",
            "equipment.ask": "お借りしたい機器を選んでください（いくつでも）。選び終わったら「決定」を押してください。",
            "equipment.chosen": "選んだ機器：{value}",
            "equipment.done": "決定",
            "equipment.needed": "機器を1つ以上選んでから「決定」を押してください。",
            "event.ask": "どのイベントで使いますか？",
            "event.undecided": "まだ決めていない",
            "reason.ask": "お借りしたい理由に近いものを選んでください。",
            "note.ask": "受け取りのご希望（センター・日時など）や、伝えたいことがあればお書きください（なくても大丈夫です）。",
            "note.skip": "特になし",
            "note.too_long": "{max}文字以内でお願いします。",
            "confirm.title": "ご相談内容の確認",
            "confirm.equipment": "機器：{value}",
            "confirm.event": "イベント：{value}",
            "confirm.reason": "理由：{value}",
            "confirm.note": "メモ：{value}",
            "confirm.send": "相談する",
            "choose.buttons": "下のボタンから選んでください。",
            "done": "ご相談を受け付けました。\n受付番号：{reference}\n\nお貸しできるかどうかを職員が確認し、このトークでお知らせします。数日かかることがあります。\nお急ぎのときは、お電話でどうぞ：{phone}",
            "menu.status": "報告・相談の状況",
        },
        "en": {
            "title": "Borrow equipment",
            "guard.unregistered": "We take equipment loan requests in this chat from registered users.\nYou can also call us: {phone}",
            "intro": "If you need equipment to take part in our online meetups, consultations or classes, we lend it where we can (policy 4-(1)). A few questions follow.",
            "equipment.ask": "What would you like to borrow? Choose as many as you need, then tap “Done”.",
            "equipment.chosen": "Chosen: {value}",
            "equipment.done": "Done",
            "equipment.needed": "Please choose at least one item, then tap “Done”.",
            "event.ask": "Which event is it for?",
            "event.undecided": "Not decided yet",
            "reason.ask": "Which is closest to your reason?",
            "note.ask": "Any wishes for picking it up (centre, day, time), or anything else to tell us? (optional)",
            "note.skip": "Nothing more",
            "note.too_long": "Please keep it within {max} characters.",
            "confirm.title": "Please check your request",
            "confirm.equipment": "Equipment: {value}",
            "confirm.event": "Event: {value}",
            "confirm.reason": "Reason: {value}",
            "confirm.note": "Note: {value}",
            "confirm.send": "Send request",
            "choose.buttons": "Please choose one of the buttons below.",
            "done": "Thank you, we have your request.\nReference number: {reference}\n\nStaff will check whether we can lend it and tell you here. This can take a few days.\nUrgent? Please call: {phone}",
            "menu.status": "My reports",
        },
    }
)
t = TEXTS.t


def _pb(action: str, value: str, version: int) -> str:
    return encode(NAME, action, value, version)


def _guard(ctx: Context) -> list[Reply] | None:
    if ctx.registered:
        return None
    return [Text(t(ctx, "guard.unregistered", phone=ctx.contact_phone), quick=texts.menu_choices(ctx))]


def _event_title(ctx: Context, event_id: int | None) -> str:
    app = next((a for a in candidates(ctx) if a.event.id == event_id), None)
    return event_button_label(ctx, app) if app else t(ctx, "event.undecided")


# --- steps --------------------------------------------------------------------------------------------------
def _equipment_prompt(ctx: Context, data: Mapping[str, Any], version: int) -> list[Reply]:
    chosen = set(data.get("equipment") or ())
    quick = [
        Choice(("✓" if e in chosen else "") + label(ctx, "equipment", e), data=_pb("toggle", e, version))
        for e in EQUIPMENT
    ]
    quick.append(Choice(t(ctx, "equipment.done"), data=_pb("done", "", version)))
    lines = [t(ctx, "equipment.ask")]
    if chosen:
        lines.append(t(ctx, "equipment.chosen", value=labels(ctx, "equipment", [e for e in EQUIPMENT if e in chosen])))
    return [Text("\n\n".join(lines), quick=(*quick, *nav(ctx, back=False)))]


def _equipment_accept(ctx: Context, data: Mapping[str, Any], inp: Input) -> StepResult:
    chosen = set(data.get("equipment") or ())
    toggle = picked(inp, NAME, "toggle", {e: both_languages(LABELS, f"equipment.{e}") for e in EQUIPMENT})
    if toggle is not None:
        return Go(None, {"equipment": [e for e in EQUIPMENT if e in chosen ^ {toggle}]}, remember=False)
    if picked(inp, NAME, "done", {"": both_languages(TEXTS, "equipment.done")}) is None:
        return Retry(Text(t(ctx, "choose.buttons")))
    if not chosen:
        return Retry(Text(t(ctx, "equipment.needed")))
    return Go(EVENT if candidates(ctx) else REASON, {"event": None})


def _event_prompt(ctx: Context, data: Mapping[str, Any], version: int) -> list[Reply]:
    quick = [
        Choice(event_button_label(ctx, a), data=_pb("event", str(a.event.id), version))
        for a in candidates(ctx)[:MAX_EVENT_BUTTONS]
    ]
    quick.append(Choice(t(ctx, "event.undecided"), data=_pb("event", "none", version)))
    return [Text(t(ctx, "event.ask"), quick=(*quick, *nav(ctx)))]


def _event_accept(ctx: Context, data: Mapping[str, Any], inp: Input) -> StepResult:
    options = {str(a.event.id): () for a in candidates(ctx)[:MAX_EVENT_BUTTONS]}
    options["none"] = both_languages(TEXTS, "event.undecided")
    value = picked(inp, NAME, "event", options)
    if value is None:
        return Retry(Text(t(ctx, "choose.buttons")))
    return Go(REASON, {"event": None if value == "none" else int(value)})


def _reason_prompt(ctx: Context, data: Mapping[str, Any], version: int) -> list[Reply]:
    quick = tuple(Choice(label(ctx, "reason", r), data=_pb("reason", r, version)) for r in LOAN_REASONS)
    return [Text(t(ctx, "reason.ask"), quick=(*quick, *nav(ctx)))]


def _reason_accept(ctx: Context, data: Mapping[str, Any], inp: Input) -> StepResult:
    value = picked(inp, NAME, "reason", {r: both_languages(LABELS, f"reason.{r}") for r in LOAN_REASONS})
    return Go(NOTE, {"reason": value}) if value else Retry(Text(t(ctx, "choose.buttons")))


def _note_prompt(ctx: Context, data: Mapping[str, Any], version: int) -> list[Reply]:
    return [Text(t(ctx, "note.ask"), quick=(Choice(t(ctx, "note.skip"), data=_pb("skip", "", version)), *nav(ctx)))]


def _note_accept(ctx: Context, data: Mapping[str, Any], inp: Input) -> StepResult:
    if picked(inp, NAME, "skip", {"": both_languages(TEXTS, "note.skip") + ("なし",)}) is not None:
        return Go(CONFIRM, {"note": ""})
    if inp.kind != "text" or not inp.text.strip():
        return Retry(Text(t(ctx, "note.ask")))
    if len(inp.text) > NOTE_MAX:
        return Retry(Text(t(ctx, "note.too_long", max=NOTE_MAX)))
    return Go(CONFIRM, {"note": inp.text.strip()})


def _confirm_prompt(ctx: Context, data: Mapping[str, Any], version: int) -> list[Reply]:
    lines = (
        t(ctx, "confirm.equipment", value=labels(ctx, "equipment", data.get("equipment") or ())),
        t(ctx, "confirm.event", value=_event_title(ctx, data.get("event"))),
        t(ctx, "confirm.reason", value=label(ctx, "reason", data.get("reason"))),
        t(ctx, "confirm.note", value=data.get("note") or LABELS.t(ctx, "none")),
    )
    send = Choice(t(ctx, "confirm.send"), data=_pb("send", "", version))
    return [
        Card(
            title=t(ctx, "confirm.title"),
            lines=lines,
            buttons=(send,),
            alt=t(ctx, "confirm.title"),
            quick=(send, *nav(ctx)),
        )
    ]


def _confirm_accept(ctx: Context, data: Mapping[str, Any], inp: Input) -> StepResult:
    if picked(inp, NAME, "send", {"": both_languages(TEXTS, "confirm.send")}) is None:
        return Retry(Text(t(ctx, "choose.buttons")))
    facts = report_facts(ctx)
    ref = reference(LOAN, facts.fresh)
    effect = RequestLoan(
        reference=ref,
        equipment=tuple(data["equipment"]),
        event_id=data.get("event"),
        reason=data["reason"],
        note=data.get("note") or "",
        base_url=ctx.public_base_url,
    )
    quick = texts.menu_choices_led_by(ctx, Choice(t(ctx, "menu.status"), data=encode(STATUS_NAME, "start")))
    # Routed as the request will be (the event's centre, else the parent's): out of hours, say when staff will see it.
    event = next((a.event for a in candidates(ctx) if a.event.id == data.get("event")), None)
    centre = responsible_centre([event.centre] if event else [], ctx.profile.get("centre"))
    body = t(ctx, "done", reference=ref, phone=ctx.contact_phone)
    after = after_hours_note(ctx, facts, centre)
    return Finish(say=(Text(f"{body}\n\n{after}" if after else body, quick=quick),), effects=(effect,))


FLOW = Flow(
    name=NAME,
    start=EQUIPMENT_STEP,
    steps={
        EQUIPMENT_STEP: Step(_equipment_prompt, _equipment_accept, choice=True),
        EVENT: Step(_event_prompt, _event_accept, choice=True),
        REASON: Step(_reason_prompt, _reason_accept, choice=True),
        NOTE: Step(_note_prompt, _note_accept),
        CONFIRM: Step(_confirm_prompt, _confirm_accept, choice=True),
    },
    keywords=frozenset(
        keyword(w)
        for w in (
            "機器の貸出相談",
            "機器の貸出",
            "貸出",
            "貸し出し",
            "機器を借りたい",
            "loan",
            "borrow",
            "borrow equipment",
        )
    ),
    title_key="title",
    guard=_guard,
    intro=lambda ctx: [Text(t(ctx, "intro"))],
    catalog=TEXTS,
)
