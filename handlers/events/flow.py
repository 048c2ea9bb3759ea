"""イベント一覧: upcoming events as a carousel (those that fit the parent's children first), narrowed by centre and
kind, ten at a time (もっと見る); an event's details; applying, or joining the waitlist when it is full; and the
お知らせ設定 toggles for new-event announcements. Diagram: events.mmd.

Who may apply is decided in handlers/events/rules.py; the application itself is the ``ApplyForEvent`` effect.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from handlers import texts
from handlers.engine import Context, Finish, Flow, Go, Input, Retry, Step
from handlers.events import views
from handlers.events.rules import EventInfo, apply_refusal, expected_outcome, facts_of, fits, sorted_for
from handlers.normalize import keyword
from handlers.postback import encode
from handlers.replies import Card, Carousel, Choice, Reply, Text
from services.events.operations import ApplyForEvent, SetAnnouncementOptIn
from storage.models.events import CENTRES, KINDS

NAME = "events"
PAGE = 10  # LINE shows at most 10 bubbles in a carousel here (runtime.render.MAX_BUBBLES)

EVENTS = texts.Catalog(
    {
        "ja": {
            "list.header": "これからのイベントです（{first}〜{last}件目／全{total}件）。",
            "list.header_all": "これからのイベントです（{total}件）。",
            "list.header_fit": "お子さんの月齢に合うものから順に並べています。",
            "list.filtered": "絞り込み：{filters}",
            "list.none": "いま申し込めるイベントはありません。新しいイベントができたときにお知らせを受け取るには、「お知らせ設定」からどうぞ。",
            "list.none_filtered": "この条件に合うイベントはありません。「すべて表示」で全部のイベントを見られます。",
            "list.alt": "イベント一覧",
            "list.details": "詳しく見る",
            "list.mine": "あなたの申し込み：{status}",
            "list.not_fit": "※ご登録の内容では対象外です",
            "list.more": "もっと見る（残り{n}件）",
            "list.by_centre": "センターで選ぶ",
            "list.by_kind": "種類で選ぶ",
            "list.all": "すべて表示",
            "list.notices": "お知らせ設定",
            "list.applications": "申込状況",
            "pick.centre": "どちらのイベントを見ますか？",
            "pick.kind": "どの種類のイベントを見ますか？",
            "pick.any": "すべて",
            "pick.buttons": "下のボタンから選んでください。",
            "detail.where": "{centre}・{kind}",
            "detail.when": "日時：{when}",
            "detail.target": "対象：{target}",
            "detail.capacity": "定員：{capacity}名（{seats}）",
            "detail.window": "申込受付：{opens}〜{closes}",
            "detail.approval": "お申し込みのあと、スタッフが確認してからご参加が決まります。",
            "detail.apply": "申し込む",
            "detail.waitlist": "キャンセル待ちに登録",
            "detail.applications": "申込状況を見る",
            "detail.back": "一覧にもどる",
            "detail.gone": "このイベントはもう一覧にありません。",
            "confirm.title": "お申し込みの確認",
            "confirm.waitlist": "いまは満席のため、キャンセル待ちとして登録します。順番が来たら、このトークでお知らせします。",
            "confirm.approval": "スタッフが確認してからご参加が決まります。結果はこのトークでお知らせします。",
            "confirm.rules": "参加のときは、録画・録音・撮影やSNSへの投稿をしないこと、参加用リンクをほかの人に渡さないことをお守りください。",
            "confirm.yes": "申し込む",
            "confirm.yes_waitlist": "キャンセル待ちに登録する",
            "confirm.no": "やめる",
            "done.confirmed": "「{title}」のお申し込みを受け付けました。参加が確定です。\nこのあと、あなた専用の参加用リンクをお送りします。",
            "done.pending": "「{title}」のお申し込みを受け付けました（承認待ち）。スタッフが確認して、結果をこのトークでお知らせします。",
            "done.waitlisted": "「{title}」のキャンセル待ちに登録しました。順番が来たら、このトークでお知らせします。",
            "refusal.cancelled": "このイベントは中止になりました。",
            "refusal.not_published": "このイベントは、いまはお申し込みいただけません。",
            "refusal.started": "このイベントはもう始まっているため、お申し込みいただけません。",
            "refusal.not_open_yet": "このイベントの申し込み受付は{opens}からです。もうしばらくお待ちください。",
            "refusal.closed": "このイベントの申し込み受付は終了しました。",
            "refusal.already": "このイベントにはすでにお申し込みいただいています（{status}）。",
            "refusal.declined": "このイベントのお申し込みは、今回はお受けできませんでした。",
            "refusal.not_registered": "お申し込みの前に、かんたんな登録をお願いします。",
            "refusal.not_fit": "このイベントの対象は「{target}」です。ご登録の内容では対象外のため、お申し込みいただけません。お子さんの情報などが変わったときは「登録情報」から更新してください。",
            "refusal.barred": "申し訳ありません。いまはこのイベントにお申し込みいただけません。くわしくは地域子育て支援課へお問い合わせください：{phone}",
            "refusal.no_consent": "お申し込みの前に、WEB会議サービスの利用のきまり（ポリシー）への同意が必要です。メニューの「ポリシー」からお願いします。",
            "notices.prompt": "新しいイベントができたときに、お知らせを受け取るかどうかをセンターごとに選べます。\n{lines}",
            "notices.line": "・{centre}：{state}",
            "notices.on": "受け取る",
            "notices.off": "受け取らない",
            "notices.turn_on": "{centre}：受け取る",
            "notices.turn_off": "{centre}：止める",
            "notices.done": "設定をおわる",
            "notices.saved": "お知らせの設定を保存しました。",
        },
        "en": {
            "list.header": "Upcoming events ({first}–{last} of {total}).",
            "list.header_all": "Upcoming events ({total}).",
            "list.header_fit": "Those that fit your children's ages come first.",
            "list.filtered": "Showing: {filters}",
            "list.none": "There are no events open for applications right now. To hear about new ones, choose “Notices”.",
            "list.none_filtered": "No events match. Choose “Show all” to see every event.",
            "list.alt": "Events",
            "list.details": "Details",
            "list.mine": "Your application: {status}",
            "list.not_fit": "* Not for your family, going by your registration",
            "list.more": "More ({n} left)",
            "list.by_centre": "By centre",
            "list.by_kind": "By type",
            "list.all": "Show all",
            "list.notices": "Notices",
            "list.applications": "My applications",
            "pick.centre": "Which centre's events would you like to see?",
            "pick.kind": "Which type of event would you like to see?",
            "pick.any": "All",
            "pick.buttons": "Please choose one of the buttons below.",
            "detail.where": "{centre} · {kind}",
            "detail.when": "When: {when}",
            "detail.target": "For: {target}",
            "detail.capacity": "Places: {capacity} ({seats})",
            "detail.window": "Applications: {opens} – {closes}",
            "detail.approval": "After you apply, staff check your application before your place is confirmed.",
            "detail.apply": "Apply",
            "detail.waitlist": "Join the waitlist",
            "detail.applications": "My applications",
            "detail.back": "Back to the list",
            "detail.gone": "This event is no longer on the list.",
            "confirm.title": "Confirm your application",
            "confirm.waitlist": "The event is full, so you will join the waitlist. We will tell you here when a place opens up.",
            "confirm.approval": "Staff will check your application and tell you the result here.",
            "confirm.rules": "When you take part, please do not record, film or post anything on social media, and do not pass your join link on.",
            "confirm.yes": "Apply",
            "confirm.yes_waitlist": "Join the waitlist",
            "confirm.no": "Not now",
            "done.confirmed": "Thank you: your place at “{title}” is confirmed.\nYour personal join link follows in a moment.",
            "done.pending": "Thank you: we have your application for “{title}” (waiting for approval). Staff will check it and tell you here.",
            "done.waitlisted": "You are on the waitlist for “{title}”. We will tell you here when a place opens up.",
            "refusal.cancelled": "This event has been cancelled.",
            "refusal.not_published": "This event is not open for applications.",
            "refusal.started": "This event has already started, so applications are closed.",
            "refusal.not_open_yet": "Applications for this event open on {opens}. Please wait a little.",
            "refusal.closed": "Applications for this event have closed.",
            "refusal.already": "You have already applied for this event ({status}).",
            "refusal.declined": "We could not accept your application for this event this time.",
            "refusal.not_registered": "Before applying, please register (it only takes a moment).",
            "refusal.not_fit": "This event is for {target}. Going by your registration it is not for your family, so you cannot apply. If your details have changed, please update them in “My details”.",
            "refusal.barred": "We are sorry, but you cannot apply for this event at the moment. Please contact the Community Child-rearing Support Division: {phone}",
            "refusal.no_consent": "Before applying, please agree to the rules for using the web-conference service: choose “Policy” in the menu.",
            "notices.prompt": "You can choose, for each centre, whether to hear about new events.\n{lines}",
            "notices.line": "- {centre}: {state}",
            "notices.on": "on",
            "notices.off": "off",
            "notices.turn_on": "{centre}: on",
            "notices.turn_off": "{centre}: off",
            "notices.done": "Done",
            "notices.saved": "Your notice settings are saved.",
        },
    }
)
t = EVENTS.t


def _pb(action: str, value: str, version: int) -> str:
    return encode(NAME, action, value, version)


def _event(ctx: Context, data: Mapping[str, Any]) -> EventInfo | None:
    facts = facts_of(ctx)
    event_id = int(data.get("event") or 0)
    mine = facts.application_for(event_id)
    return facts.event(event_id) or (mine.event if mine else None)


def refusal_text(ctx: Context, reason: str, event: EventInfo) -> str:
    mine = facts_of(ctx).application_for(event.id)
    return t(
        ctx,
        f"refusal.{reason}",
        opens=views.moment_text(ctx, event.opens_at),
        target=views.target(ctx, event),
        phone=ctx.contact_phone,
        status=views.status(ctx, mine) if mine else "",
    )


# --- list --------------------------------------------------------------------------------------------------
def _visible(ctx: Context, data: Mapping[str, Any]) -> list[EventInfo]:
    centre, kind = data.get("centre") or "", data.get("kind") or ""
    chosen = [e for e in facts_of(ctx).events if (not centre or e.centre == centre) and (not kind or e.kind == kind)]
    return sorted_for(chosen, ctx.profile)


def _card(ctx: Context, event: EventInfo, version: int) -> Card:
    lines = [
        t(ctx, "detail.where", centre=views.centre(ctx, event.centre), kind=views.kind(ctx, event.kind)),
        views.when(ctx, event.starts_at, event.ends_at),
        t(ctx, "detail.target", target=views.target(ctx, event)),
        views.seats(ctx, event),
    ]
    mine = facts_of(ctx).application_for(event.id)
    if mine is not None:
        lines.append(t(ctx, "list.mine", status=views.status(ctx, mine)))
    elif ctx.registered and not fits(event, ctx.profile):
        lines.append(t(ctx, "list.not_fit"))
    return Card(
        title=event.title,
        lines=tuple(lines),
        alt=event.title,
        buttons=(Choice(t(ctx, "list.details"), data=_pb("detail", str(event.id), version)),),
    )


def _list_prompt(ctx: Context, data: Mapping[str, Any], version: int) -> list[Reply]:
    shown = _visible(ctx, data)
    first = int(data.get("page") or 0) * PAGE
    chunk = shown[first : first + PAGE]
    filters = [views.centre(ctx, data["centre"])] if data.get("centre") else []
    filters += [views.kind(ctx, data["kind"])] if data.get("kind") else []
    quick = []
    if first + PAGE < len(shown):
        quick.append(Choice(t(ctx, "list.more", n=len(shown) - first - PAGE), data=_pb("more", "", version)))
    quick += [
        Choice(t(ctx, "list.by_centre"), data=_pb("pick_centre", "", version)),
        Choice(t(ctx, "list.by_kind"), data=_pb("pick_kind", "", version)),
    ]
    if filters:
        quick.append(Choice(t(ctx, "list.all"), data=_pb("clear", "", version)))
    if ctx.registered:
        quick.append(Choice(t(ctx, "list.notices"), data=_pb("notices", "", version)))
        quick.append(Choice(t(ctx, "list.applications"), data=encode("applications", "start")))
    if not chunk:
        return [Text(t(ctx, "list.none_filtered" if filters else "list.none"), quick=tuple(quick))]
    key = "list.header" if len(chunk) < len(shown) else "list.header_all"  # all on one page: no "1–3 of 3"
    header = [t(ctx, key, first=first + 1, last=first + len(chunk), total=len(shown))]
    if filters:
        header.append(t(ctx, "list.filtered", filters="・".join(filters)))
    if ctx.registered:
        header.append(t(ctx, "list.header_fit"))
    cards = tuple(_card(ctx, e, version) for e in chunk)
    return [Text("\n".join(header)), Carousel(cards=cards, alt=t(ctx, "list.alt"), quick=tuple(quick))]


def _list_accept(ctx: Context, data: Mapping[str, Any], inp: Input):
    pb = inp.postback
    action = pb.action if pb is not None and pb.flow == NAME else ""
    if action == "detail" and pb.value.isdigit():
        if _event(ctx, {"event": pb.value}) is None:
            return Retry(Text(t(ctx, "detail.gone")))
        return Go("detail", {"event": int(pb.value)})
    if action == "more":
        return Go(None, {"page": int(data.get("page") or 0) + 1}, remember=False)
    if action in ("pick_centre", "pick_kind"):
        return Go(action)
    if action == "clear":
        return Go(None, {"centre": "", "kind": "", "page": 0}, remember=False)
    if action == "notices" and ctx.registered:
        return Go("notices", {"optins": sorted(facts_of(ctx).optins)})
    return Retry(Text(t(ctx, "pick.buttons")))


# --- narrowing ---------------------------------------------------------------------------------------------
def _typed(inp: Input, options: Mapping[str, tuple[str, ...]]) -> str | None:
    if inp.kind != "text":
        return None
    typed = keyword(inp.text)
    return next((value for value, labels in options.items() if typed in {keyword(x) for x in labels}), None)


def _picker(field: str, values: tuple[str, ...], label):
    def prompt(ctx: Context, data: Mapping[str, Any], version: int) -> list[Reply]:
        quick = [Choice(label(ctx, v), data=_pb(field, v, version)) for v in values]
        quick.append(Choice(t(ctx, "pick.any"), data=_pb(field, "", version)))
        return [Text(t(ctx, f"pick.{field}"), quick=tuple(quick))]

    def accept(ctx: Context, data: Mapping[str, Any], inp: Input):
        pb = inp.postback
        if pb is not None and pb.flow == NAME and pb.action == field and pb.value in (*values, ""):
            return Go("list", {field: pb.value, "page": 0}, remember=False)
        names = {v: tuple(label(lang, v) for lang in texts.LANGS) for v in values}
        typed = _typed(inp, names | {"": tuple(t(lang, "pick.any") for lang in texts.LANGS)})
        if typed is not None:
            return Go("list", {field: typed, "page": 0}, remember=False)
        return Retry(Text(t(ctx, "pick.buttons")))

    return Step(prompt, accept)


# --- one event ---------------------------------------------------------------------------------------------
def _detail_prompt(ctx: Context, data: Mapping[str, Any], version: int) -> list[Reply]:
    event = _event(ctx, data)
    back = Choice(t(ctx, "detail.back"), data=_pb("list", "", version))
    if event is None:
        return [Text(t(ctx, "detail.gone"), quick=(back,))]
    lines = [
        t(ctx, "detail.where", centre=views.centre(ctx, event.centre), kind=views.kind(ctx, event.kind)),
        t(ctx, "detail.when", when=views.when(ctx, event.starts_at, event.ends_at)),
        t(ctx, "detail.target", target=views.target(ctx, event)),
        t(ctx, "detail.capacity", capacity=event.capacity, seats=views.seats(ctx, event)),
        t(
            ctx,
            "detail.window",
            opens=views.moment_text(ctx, event.opens_at),
            closes=views.moment_text(ctx, event.closes_at),
        ),
    ]
    if event.needs_approval:
        lines.append(t(ctx, "detail.approval"))
    if event.description:
        lines.append(event.description)
    reason = apply_refusal(ctx, event)
    buttons = []
    if reason in (None, "no_consent", "not_registered"):
        label = "detail.waitlist" if event.full else "detail.apply"
        buttons.append(Choice(t(ctx, label), data=_pb("apply", str(event.id), version)))
    else:
        lines.append(refusal_text(ctx, reason, event))
    if facts_of(ctx).application_for(event.id) is not None:
        buttons.append(Choice(t(ctx, "detail.applications"), data=encode("applications", "start")))
    buttons.append(back)
    return [Card(title=event.title, lines=tuple(lines), buttons=tuple(buttons), alt=event.title)]


def _detail_accept(ctx: Context, data: Mapping[str, Any], inp: Input):
    pb = inp.postback
    action = pb.action if pb is not None and pb.flow == NAME else ""
    if action == "list":
        return Go("list", remember=False)
    event = _event(ctx, data)
    if action != "apply" or event is None or pb.value != str(event.id):
        return Retry(Text(t(ctx, "pick.buttons")))
    reason = apply_refusal(ctx, event)
    if reason == "not_registered":
        return Finish(say=(Text(t(ctx, "refusal.not_registered")),), then="registration")
    if reason == "no_consent":  # the consent flow's introduction says why it is asked now
        return Finish(then="consent")
    if reason is not None:
        return Retry(Text(refusal_text(ctx, reason, event)))
    return Go("confirm")


def _confirm_prompt(ctx: Context, data: Mapping[str, Any], version: int) -> list[Reply]:
    event = _event(ctx, data)
    if event is None:
        return [Text(t(ctx, "detail.gone"), quick=(Choice(t(ctx, "detail.back"), data=_pb("list", "", version)),))]
    outcome = expected_outcome(event)
    lines = [event.title, views.when(ctx, event.starts_at, event.ends_at)]
    if outcome == "waitlisted":
        lines.append(t(ctx, "confirm.waitlist"))
    elif outcome == "pending":
        lines.append(t(ctx, "confirm.approval"))
    lines.append(t(ctx, "confirm.rules"))
    yes = t(ctx, "confirm.yes_waitlist" if outcome == "waitlisted" else "confirm.yes")
    buttons = (
        Choice(yes, data=_pb("yes", str(event.id), version)),
        Choice(t(ctx, "confirm.no"), data=_pb("no", str(event.id), version)),
    )
    return [Card(title=t(ctx, "confirm.title"), lines=tuple(lines), buttons=buttons, alt=t(ctx, "confirm.title"))]


def _confirm_accept(ctx: Context, data: Mapping[str, Any], inp: Input):
    pb = inp.postback
    action = pb.action if pb is not None and pb.flow == NAME else ""
    event = _event(ctx, data)
    if action == "list" or event is None:
        return Go("list", remember=False)
    if action == "no":
        return Go("detail", remember=False)
    if action != "yes" or pb.value != str(event.id):
        return Retry(Text(t(ctx, "pick.buttons")))
    reason = apply_refusal(ctx, event)
    if reason is not None:
        return Finish(say=(Text(refusal_text(ctx, reason, event)), texts.menu(ctx)))
    outcome = expected_outcome(event)
    quick = (
        Choice(texts.t(ctx, "menu.applications"), data=encode("applications", "start")),
        Choice(texts.t(ctx, "menu.events"), data=encode(NAME, "start")),
    )
    return Finish(
        say=(Text(t(ctx, f"done.{outcome}", title=event.title), quick=quick),),
        effects=(ApplyForEvent(event.id, outcome, ctx.public_base_url),),
    )


# --- お知らせ設定 ----------------------------------------------------------------------------------------------
def _notices_prompt(ctx: Context, data: Mapping[str, Any], version: int) -> list[Reply]:
    on = set(data.get("optins") or ())
    lines = "\n".join(
        t(ctx, "notices.line", centre=views.centre(ctx, c), state=t(ctx, "notices.on" if c in on else "notices.off"))
        for c in CENTRES
    )
    quick = [
        Choice(
            t(ctx, "notices.turn_off" if c in on else "notices.turn_on", centre=views.centre_short(ctx, c)),
            data=_pb("optout" if c in on else "optin", c, version),
        )
        for c in CENTRES
    ]
    quick.append(Choice(t(ctx, "notices.done"), data=_pb("done", "", version)))
    return [Text(t(ctx, "notices.prompt", lines=lines), quick=tuple(quick))]


def _notices_accept(ctx: Context, data: Mapping[str, Any], inp: Input):
    pb = inp.postback
    action = pb.action if pb is not None and pb.flow == NAME else ""
    if action == "done":
        return Go("list", say=(Text(t(ctx, "notices.saved")),), remember=False)
    if action in ("optin", "optout") and pb.value in CENTRES and ctx.registered:
        on = set(data.get("optins") or ())
        (on.add if action == "optin" else on.discard)(pb.value)
        return Go(
            None, {"optins": sorted(on)}, effects=(SetAnnouncementOptIn(pb.value, action == "optin"),), remember=False
        )
    return Retry(Text(t(ctx, "pick.buttons")))


FLOW = Flow(
    name=NAME,
    start="list",
    steps={
        "list": Step(_list_prompt, _list_accept),
        "pick_centre": _picker("centre", CENTRES, views.centre),
        "pick_kind": _picker("kind", KINDS, views.kind),
        "detail": Step(_detail_prompt, _detail_accept),
        "confirm": Step(_confirm_prompt, _confirm_accept),
        "notices": Step(_notices_prompt, _notices_accept),
    },
    keywords=frozenset(keyword(w) for w in ("イベント", "イベント一覧", "いべんと", "events", "event")),
    title_key="menu.events",
    initial=lambda ctx: {"centre": "", "kind": "", "page": 0},
)
