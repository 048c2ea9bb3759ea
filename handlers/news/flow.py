"""お知らせの停止 / お知らせを受け取る (flow "news"): whether the parent receives the お知らせ staff send to a group of
parents (storage/broadcasts.py). Every お知らせ ends with how to stop them and a 「お知らせの停止」 button, which
stops them at once (an entry button carrying its answer); typed, the words ask first."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from handlers.engine import Context, Finish, Flow, Input, Retry, Step, picked
from handlers.normalize import keyword
from handlers.postback import encode
from handlers.replies import Choice, Reply, Text
from handlers.texts import Catalog
from services.news import NEWS_KEY, SetNewsOptOut

NAME = "news"

TEXTS = Catalog(
    {
        "ja": {
            "title": "お知らせの設定",
            "state.on": "いまは、センターや支援課からのお知らせ（イベントの中止や休館など）を受け取っています。",
            "state.off": "いまは、センターや支援課からのお知らせを止めています。",
            "ask": "どうしますか？\n（参加を申し込んだイベントのご案内やリマインダーは、この設定にかかわらず届きます）",
            "off": "お知らせの停止",
            "on": "お知らせを受け取る",
            "done.off": "お知らせを止めました。また受け取るときは、下の「お知らせを受け取る」を押してください。",
            "done.on": "お知らせを受け取る設定にしました。",
            "not_registered": "お知らせの設定は、ご登録のあとで使えます。",
            "pick": "下のボタンから選んでください。",
        },
        "en": {
            "title": "Notice settings",
            "state.on": "You are receiving notices from the centres and the division (cancellations, closures and so on).",
            "state.off": "You have stopped notices from the centres and the division.",
            "ask": "What would you like to do?\n(Messages about events you applied for, and reminders, come whatever you choose.)",
            "off": "Stop notices",
            "on": "Receive notices",
            "done.off": "Notices are stopped. To receive them again, tap “Receive notices” below.",
            "done.on": "You will receive notices.",
            "not_registered": "Notice settings are available once you have registered.",
            "pick": "Please choose with the buttons below.",
        },
    }
)
t = TEXTS.t
LABELS = {"off": ("お知らせの停止", "お知らせ停止", "Stop notices"), "on": ("お知らせを受け取る", "Receive notices")}


def _guard(ctx: Context) -> list[Reply] | None:
    return None if ctx.registered else [Text(t(ctx, "not_registered"))]


def _prompt(ctx: Context, data: Mapping[str, Any], version: int) -> list[Reply]:
    stopped = bool(ctx.facts.get(NEWS_KEY, False))
    quick = tuple(Choice(t(ctx, value), data=encode(NAME, "choose", value, version)) for value in ("off", "on"))
    return [Text(t(ctx, "state.off" if stopped else "state.on") + "\n" + t(ctx, "ask"), quick=quick)]


def _accept(ctx: Context, data: Mapping[str, Any], inp: Input):
    pb = inp.postback
    if pb is not None and pb.flow == NAME and pb.action == "start":
        value = pb.value if pb.value in LABELS else None  # 「お知らせの停止」 under a お知らせ: the answer itself
    else:
        value = picked(inp, NAME, "choose", LABELS)
    if value is None:
        return Retry(Text(t(ctx, "pick")))
    # After stopping, the way back is one tap (the same entry button as under a お知らせ: it acts at once).
    again = (Choice(t(ctx, "on"), data=encode(NAME, "start", "on")),) if value == "off" else ()
    return Finish(say=(Text(t(ctx, f"done.{value}"), quick=again),), effects=(SetNewsOptOut(value == "off"),))


FLOW = Flow(
    name=NAME,
    start="choose",
    steps={"choose": Step(_prompt, _accept, choice=True)},
    keywords=frozenset(keyword(w) for words in LABELS.values() for w in words),
    title_key="title",
    guard=_guard,
    catalog=TEXTS,
)
