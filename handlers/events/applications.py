"""申込状況: the parent's applications with their status, the personal join page and calendar links of confirmed
ones, and cancelling (with a confirmation). A cancelled seat goes to the first on the waitlist
(``WithdrawApplication``, services/events/operations.py). Diagram: applications.mmd.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from handlers import texts
from handlers.engine import Context, Finish, Flow, Go, Input, Retry, Step
from handlers.events import views
from handlers.events.rules import ApplicationInfo, facts_of
from handlers.normalize import keyword
from handlers.postback import encode
from handlers.replies import Card, Carousel, Choice, Reply, Text
from services.events.operations import WithdrawApplication

NAME = "applications"
PAGE = 10
CANCELLABLE = ("confirmed", "pending", "waitlisted")

APPLICATIONS = texts.Catalog(
    {
        "ja": {
            "guard.unregistered": "申込状況を見るには、はじめに登録をお願いします。",
            "list.none": "いまお申し込み中のイベントはありません。「イベント一覧」から探してみてください。",
            "list.header": "お申し込み中のイベントです（{first}〜{last}件目／全{total}件）。",
            "list.header_all": "お申し込み中のイベントです（{total}件）。",
            "list.alt": "申込状況",
            "list.status": "状況：{status}",
            "list.join": "参加用ページを開く",
            "list.calendar": "カレンダーに追加",
            "list.cancel": "キャンセルする",
            "list.withdraw": "申し込みを取り消す",
            "list.join_note": "参加用ページは、開始{minutes}分前から参加方法を表示します。リンクはあなた専用です。",
            "list.more": "もっと見る（残り{n}件）",
            "list.events": "イベント一覧",
            "pick.buttons": "下のボタンから選んでください。",
            "cancel.gone": "このお申し込みは、もうキャンセルできない状態です。",
            "cancel.title": "キャンセルの確認",
            "cancel.ask": "「{title}」（{when}）のお申し込みをキャンセルしますか？",
            "cancel.seat_note": "キャンセルすると、参加枠はキャンセル待ちの方にお譲りします。",
            "cancel.yes": "キャンセルする",
            "cancel.no": "キャンセルしない",
            "cancel.done": "「{title}」のお申し込みをキャンセルしました。ご連絡ありがとうございます。",
        },
        "en": {
            "guard.unregistered": "Please register first to see your applications.",
            "list.none": "You have no applications at the moment. Have a look at “Events”.",
            "list.header": "Your applications ({first}–{last} of {total}).",
            "list.header_all": "Your applications ({total}).",
            "list.alt": "My applications",
            "list.status": "Status: {status}",
            "list.join": "Open join page",
            "list.calendar": "Add to calendar",
            "list.cancel": "Cancel",
            "list.withdraw": "Withdraw",
            "list.join_note": "The join page shows how to join from {minutes} minutes before the start. The link is yours alone.",
            "list.more": "More ({n} left)",
            "list.events": "Events",
            "pick.buttons": "Please choose one of the buttons below.",
            "cancel.gone": "This application can no longer be cancelled.",
            "cancel.title": "Cancel your application?",
            "cancel.ask": "Cancel your application for “{title}” ({when})?",
            "cancel.seat_note": "Your place will go to the next person on the waitlist.",
            "cancel.yes": "Yes, cancel",
            "cancel.no": "Keep it",
            "cancel.done": "Your application for “{title}” is cancelled. Thank you for letting us know.",
        },
    }
)
t = APPLICATIONS.t


def _pb(action: str, value: str, version: int) -> str:
    return encode(NAME, action, value, version)


def _guard(ctx: Context) -> list[Reply] | None:
    if ctx.registered:
        return None
    return [Text(t(ctx, "guard.unregistered"), quick=texts.menu_choices(ctx))]


def _card(ctx: Context, app: ApplicationInfo, version: int) -> Card:
    event = app.event
    lines = [
        views.when(ctx, event.starts_at, event.ends_at),
        f"{views.centre(ctx, event.centre)}・{views.kind(ctx, event.kind)}",
        t(ctx, "list.status", status=views.status(ctx, app)),
    ]
    buttons = []
    if app.join_url:
        lines.append(t(ctx, "list.join_note", minutes=event.join_opens_minutes))
        buttons.append(Choice(t(ctx, "list.join"), uri=app.join_url))
    if app.calendar_url:
        buttons.append(Choice(t(ctx, "list.calendar"), uri=app.calendar_url))
    if app.status in CANCELLABLE and event.status == "published" and event.starts_at > ctx.now:
        label = "list.cancel" if app.status == "confirmed" else "list.withdraw"
        buttons.append(Choice(t(ctx, label), data=_pb("cancel", str(app.id), version)))
    return Card(title=event.title, lines=tuple(lines), buttons=tuple(buttons), alt=event.title)


def _list_prompt(ctx: Context, data: Mapping[str, Any], version: int) -> list[Reply]:
    apps = facts_of(ctx).applications
    events = Choice(t(ctx, "list.events"), data=encode("events", "start"))
    if not apps:
        return [Text(t(ctx, "list.none"), quick=(events,))]
    first = int(data.get("page") or 0) * PAGE
    chunk = apps[first : first + PAGE]
    quick = [events]
    if first + PAGE < len(apps):
        quick.insert(0, Choice(t(ctx, "list.more", n=len(apps) - first - PAGE), data=_pb("more", "", version)))
    key = "list.header" if len(chunk) < len(apps) else "list.header_all"  # all on one page: no "1–3 of 3"
    header = Text(t(ctx, key, first=first + 1, last=first + len(chunk), total=len(apps)))
    cards = tuple(_card(ctx, app, version) for app in chunk)
    return [header, Carousel(cards=cards, alt=t(ctx, "list.alt"), quick=tuple(quick))]


def _cancellable(ctx: Context, value: str) -> ApplicationInfo | None:
    app = facts_of(ctx).application(int(value)) if value.isdigit() else None
    if app is None or app.status not in CANCELLABLE or app.event.starts_at <= ctx.now:
        return None
    return app


def _list_accept(ctx: Context, data: Mapping[str, Any], inp: Input):
    pb = inp.postback
    action = pb.action if pb is not None and pb.flow == NAME else ""
    if action == "more":
        return Go(None, {"page": int(data.get("page") or 0) + 1}, remember=False)
    if action == "cancel":
        if _cancellable(ctx, pb.value) is None:
            return Retry(Text(t(ctx, "cancel.gone")))
        return Go("confirm_cancel", {"application": int(pb.value)})
    return Retry(Text(t(ctx, "pick.buttons")))


def _confirm_prompt(ctx: Context, data: Mapping[str, Any], version: int) -> list[Reply]:
    app = _cancellable(ctx, str(data.get("application")))
    if app is None:
        return [Text(t(ctx, "cancel.gone"), quick=(Choice(t(ctx, "cancel.no"), data=_pb("no", "", version)),))]
    event = app.event
    lines = [t(ctx, "cancel.ask", title=event.title, when=views.when(ctx, event.starts_at, event.ends_at))]
    if app.status != "waitlisted":
        lines.append(t(ctx, "cancel.seat_note"))
    buttons = (
        Choice(t(ctx, "cancel.yes"), data=_pb("yes", str(app.id), version)),
        Choice(t(ctx, "cancel.no"), data=_pb("no", str(app.id), version)),
    )
    return [Card(title=t(ctx, "cancel.title"), lines=tuple(lines), buttons=buttons, alt=t(ctx, "cancel.title"))]


def _confirm_accept(ctx: Context, data: Mapping[str, Any], inp: Input):
    pb = inp.postback
    action = pb.action if pb is not None and pb.flow == NAME else ""
    if action == "no":
        return Go("list", remember=False)
    app = _cancellable(ctx, str(data.get("application")))
    if action != "yes":
        return Retry(Text(t(ctx, "pick.buttons")))
    if app is None or pb.value != str(app.id):
        return Go("list", say=(Text(t(ctx, "cancel.gone")),), remember=False)
    return Finish(
        say=(Text(t(ctx, "cancel.done", title=app.event.title), quick=texts.menu_choices(ctx)),),
        effects=(WithdrawApplication(app.id, ctx.public_base_url),),
    )


FLOW = Flow(
    name=NAME,
    start="list",
    steps={
        "list": Step(_list_prompt, _list_accept),
        "confirm_cancel": Step(_confirm_prompt, _confirm_accept),
    },
    keywords=frozenset(
        keyword(w) for w in ("申込状況", "申し込み状況", "申込み状況", "もうしこみ", "applications", "my applications")
    ),
    title_key="menu.applications",
    guard=_guard,
)
