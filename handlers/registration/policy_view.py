"""The policy from the menu (flow "policy"): read it, see one's own consent, agree, or withdraw consent.

Anyone may read it. A registered parent who has not agreed to the version in force can go on to the consent flow;
one who has agreed can withdraw at any time (``ConsentWithdrawn``), after being told plainly what that stops.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from handlers import texts
from handlers.effects import ConsentWithdrawn
from handlers.engine import Context, Finish, Flow, Go, Input, Retry, Step, StepResult, picked
from handlers.postback import encode
from handlers.registration import consent
from handlers.replies import Card, Carousel, Choice, Reply, Text
from storage.clock import to_tokyo

FLOW_NAME = "policy"

TEXTS = texts.Catalog(
    {
        "ja": {
            "title": "ポリシー",
            "overview": "オンライン交流事業等におけるWEB会議サービス運用ポリシー（版 {version}）\n{status}\n全文：{url}",
            "status.agreed": "この版に同意いただいています（{date}）。",
            "status.revised": "ポリシーが改定されました。新しい版にはまだ同意されていません。",
            "status.declined": "「同意しない」とお答えいただいています。イベントへのお申し込みには同意が必要です。",
            "status.withdrawn": "同意を取り消しています。イベントへのお申し込みには同意が必要です。",
            "status.none": "まだ同意されていません。イベントへのお申し込みには同意が必要です。",
            "status.unregistered": "ご登録のあと、同意をお願いしています。",
            "date": "{year}年{month}月{day}日",
            "read": "要点を読む",
            "agree": "確認して同意する",
            "withdraw": "同意を取り消す",
            "register": "登録する",
            "close": "閉じる",
            "summary": "ポリシーの要点",
            "withdraw.ask": "同意を取り消すと、次のことができなくなります。\n・イベントへの新しいお申し込み\n・参加用リンクのお知らせ（申し込み済みのイベントも含みます）\nご登録の内容はそのまま残り、あとでもう一度同意することもできます。取り消しますか？",
            "withdraw.yes": "取り消す",
            "withdraw.no": "取り消さない",
            "withdrawn": "同意を取り消しました。もう一度同意するときは、メニューの「ポリシー」からどうぞ。",
            "help.overview": "下のボタンから選んでください。「要点を読む」で、ポリシーの要点を確認できます。",
            "help.withdraw": "取り消す場合は「取り消す」、そのままにする場合は「取り消さない」を押してください。",
            "choose": "下のボタンから選んでください。",
        },
        "en": {
            "title": "Policy",
            "overview": "Web-conference policy for online events (version {version})\n{status}\nFull text (Japanese): {url}",
            "status.agreed": "You agreed to this version ({date}).",
            "status.revised": "The policy has been revised. You have not agreed to the new version yet.",
            "status.declined": "You answered that you do not agree. Agreement is needed to apply for events.",
            "status.withdrawn": "You have withdrawn your consent. Agreement is needed to apply for events.",
            "status.none": "You have not agreed yet. Agreement is needed to apply for events.",
            "status.unregistered": "After registering, we ask you to agree to it.",
            "date": "{day} {month_name} {year}",
            "read": "Key points",
            "agree": "Read and agree",
            "withdraw": "Withdraw consent",
            "register": "Register",
            "close": "Close",
            "summary": "Key points of the policy",
            "withdraw.ask": "If you withdraw your consent, you can no longer:\n- apply for events\n- receive join links (also for events you have already applied for)\nYour registration stays, and you can agree again later. Withdraw?",
            "withdraw.yes": "Withdraw",
            "withdraw.no": "Keep my consent",
            "withdrawn": "Your consent has been withdrawn. To agree again, choose “Policy” in the menu.",
            "help.overview": "Choose with the buttons below. “Key points” shows the main points of the policy.",
            "help.withdraw": "Tap “Withdraw” to withdraw, or “Keep my consent” to leave it as it is.",
            "choose": "Please choose with the buttons below.",
        },
    }
)
ACTIONS = ("read", "agree", "withdraw", "close")
MONTHS_EN = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def t(ctx: Any, key: str, **values: Any) -> str:
    return TEXTS.t(ctx, key, **values)


def both(key: str) -> tuple[str, ...]:
    return tuple(TEXTS.t(lang, key) for lang in texts.LANGS)


def status(ctx: Context) -> str:
    if not ctx.registered:
        return t(ctx, "status.unregistered")
    facts = ctx.facts.get("consent") or {}
    if ctx.consent_current:
        when = to_tokyo(datetime.fromisoformat(facts["answered_at"])) if facts.get("answered_at") else None
        date = (
            t(ctx, "date", year=when.year, month=when.month, day=when.day, month_name=MONTHS_EN[when.month - 1])
            if when
            else ""
        )
        return t(ctx, "status.agreed", date=date)
    if consent.revised(ctx):
        return t(ctx, "status.revised")
    answered = {"declined": "status.declined", "withdrawn": "status.withdrawn"}
    return t(ctx, answered.get(facts.get("answer"), "status.none"))


def summary(ctx: Context) -> Carousel:
    cards = tuple(
        Card(title=consent.t(ctx, f"section.{name}.title"), lines=tuple(consent.t(ctx, f"section.{name}").split("\n")))
        for name in consent.SECTIONS
    )
    return Carousel(cards=cards, alt=t(ctx, "summary"))


def _overview_prompt(ctx: Context, data: Mapping[str, Any], version: int) -> list[Reply]:
    def button(key: str, action: str) -> Choice:
        return Choice(t(ctx, key), data=encode(FLOW_NAME, action, "", version))

    choices = [button("read", "read"), *consent.link_choice(ctx)]
    if not ctx.registered:
        choices.append(Choice(t(ctx, "register"), data=encode("registration", "start")))
    elif ctx.consent_current:
        choices.append(button("withdraw", "withdraw"))
    else:
        choices.append(button("agree", "agree"))
    choices.append(button("close", "close"))
    text = t(ctx, "overview", version=consent.policy_in_force(ctx)[:8], status=status(ctx), url=consent.policy_url(ctx))
    return [Text(text, quick=tuple(choices))]


def _overview_accept(ctx: Context, data: Mapping[str, Any], inp: Input) -> StepResult:
    action = next((a for a in ACTIONS if picked(inp, FLOW_NAME, a, {"": both(a)}) is not None), None)
    if action == "read":
        return Go(None, say=(summary(ctx),), remember=False)
    if action == "agree" and ctx.registered and not ctx.consent_current:
        return Finish(then=consent.FLOW_NAME)
    if action == "withdraw" and ctx.consent_current:
        return Go("withdraw")
    if action == "close":
        return Finish(say=(texts.menu(ctx),))
    return Retry(Text(t(ctx, "choose")))


def _withdraw_prompt(ctx: Context, data: Mapping[str, Any], version: int) -> list[Reply]:
    quick = (
        Choice(t(ctx, "withdraw.yes"), data=encode(FLOW_NAME, "confirm", "yes", version)),
        Choice(t(ctx, "withdraw.no"), data=encode(FLOW_NAME, "confirm", "no", version)),
    )
    return [Text(t(ctx, "withdraw.ask"), quick=quick)]


def _withdraw_accept(ctx: Context, data: Mapping[str, Any], inp: Input) -> StepResult:
    answer = picked(inp, FLOW_NAME, "confirm", {"yes": both("withdraw.yes"), "no": both("withdraw.no")})
    if answer == "yes":
        withdrawn = ConsentWithdrawn(consent.policy_in_force(ctx))
        return Finish(say=(Text(t(ctx, "withdrawn")), texts.menu(ctx)), effects=(withdrawn,))
    if answer == "no":
        return Go("overview", remember=False)
    return Retry(Text(t(ctx, "choose")))


FLOW = Flow(
    name=FLOW_NAME,
    start="overview",
    steps={
        "overview": Step(_overview_prompt, _overview_accept, help_hint="help.overview", choice=True),
        "withdraw": Step(_withdraw_prompt, _withdraw_accept, help_hint="help.withdraw", choice=True),
    },
    keywords=frozenset({"ポリシー", "ぽりしー", "規約", "きやく", "policy"}),
    title_key="title",
    catalog=TEXTS,
)
