"""Which flow handles what: the engine with every installed flow, and what happens outside any flow."""

from __future__ import annotations

from handlers import texts
from handlers.engine import Context, Engine, Flow, Input, State, Transition
from handlers.replies import Text

GREETING = texts.Catalog(
    {
        "ja": {
            "greeting.new": "友だち追加ありがとうございます。\n船橋市 地域子育て支援課・南本町／高根台 子育て支援センターです。\nオンラインの交流会・相談・講座のお申し込みやご案内を、このトークでお届けします。",
            "greeting.back": "おかえりなさい。またご利用いただけてうれしいです。",
            "idle.unknown": "メッセージありがとうございます。お急ぎのご相談は、お電話でどうぞ：{phone}",
        },
        "en": {
            "greeting.new": "Thank you for adding us!\nThis is Funabashi City's Community Child-rearing Support Division and the Minamihoncho / Takanedai centres.\nHere you can apply for our online meetups, consultations and classes, and get reminders.",
            "greeting.back": "Welcome back! We are glad to see you again.",
            "idle.unknown": "Thank you for your message. For anything urgent, please call: {phone}",
        },
    }
)


def _flows() -> list[Flow]:
    """Every installed conversation flow. A flow module exposes ``FLOW``."""
    from handlers.events import applications, feedback
    from handlers.events import flow as events
    from handlers.news import flow as news
    from handlers.registration import consent, policy_view, profile
    from handlers.registration import flow as registration
    from handlers.reports import flow as report
    from handlers.reports import loan, staff_chat

    return [
        registration.FLOW,
        consent.FLOW,
        profile.FLOW,
        policy_view.FLOW,
        events.FLOW,
        applications.FLOW,
        feedback.FLOW,
        report.FLOW,
        report.STATUS_FLOW,
        loan.FLOW,
        staff_chat.FLOW,
        staff_chat.LINK_FLOW,
        news.FLOW,
    ]


def _idle_hooks():
    """Flows that may take input outside any flow before the greeting and the main menu do: 職員登録 and the staff
    menu (handlers/reports/staff_chat.py), a parent's answer to staff (handlers/reports/flow.py). Each returns a Transition or
    None."""
    from handlers.reports import flow as report
    from handlers.reports import staff_chat

    return (staff_chat.idle, report.offer_answer)


def _idle(engine: Engine):
    def idle(state: State, ctx: Context, inp: Input) -> Transition | None:
        for hook in _idle_hooks():
            taken = hook(state, ctx, inp)
            if taken is not None:
                return taken
        if inp.kind == "follow":
            greeting = Text(GREETING.t(ctx, "greeting.back" if ctx.registered else "greeting.new"))
            if not ctx.registered and "registration" in engine.flows:
                return engine.start("registration", state, ctx, before=[greeting])
            return Transition(state, [greeting, texts.menu(ctx)])
        if inp.kind == "text" and texts.is_keyword(inp.text, texts.MENU_WORDS):
            return Transition(state, [texts.menu(ctx)])
        if inp.kind == "postback":
            return Transition(state, [texts.menu(ctx)])
        return Transition(state, [Text(GREETING.t(ctx, "idle.unknown", phone=ctx.contact_phone)), texts.menu(ctx)])

    return idle


def build_engine() -> Engine:
    flows = _flows()
    texts.installed_flows.update(f.name for f in flows)
    engine = Engine(flows, idle=lambda state, ctx, inp: None)
    engine.idle = _idle(engine)
    return engine


ENGINE = build_engine()


def step(state: State, inp: Input, ctx: Context) -> Transition:
    return ENGINE.step(state, inp, ctx)
