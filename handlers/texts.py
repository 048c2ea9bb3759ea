"""User-facing text shared by every flow, in Japanese and English. Flows keep their own catalogues beside them.

Plain, short, kind: the readers are tired parents on a phone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from handlers.normalize import keyword
from handlers.postback import encode
from handlers.replies import Choice, Text

LANGS = ("ja", "en")

CANCEL_WORDS = frozenset({"やめる", "やめます", "キャンセル", "中止", "cancel", "stop", "quit"})
HELP_WORDS = frozenset({"ヘルプ", "へるぷ", "help", "使い方", "?", "？"})
BACK_WORDS = frozenset({"もどる", "戻る", "back"})
MENU_WORDS = frozenset({"メニュー", "めにゅー", "menu"})


class Catalog:
    """Texts per language; a missing English text falls back to Japanese, a missing key is a programming error."""

    def __init__(self, entries: Mapping[str, Mapping[str, str]]):
        self.entries = entries

    def t(self, ctx: Any, key: str, **values: Any) -> str:
        lang = getattr(ctx, "lang", ctx) if not isinstance(ctx, str) else ctx
        table = self.entries.get(lang) or self.entries["ja"]
        template = table.get(key) or self.entries["ja"][key]
        return template.format(**values) if values else template


COMMON = Catalog(
    {
        "ja": {
            "cancel.done": "やめました。入力の途中の内容は保存していません。",
            "cancel.nothing": "いまは進めている手続きはありません。",
            "back.at_start": "これが最初の質問です。",
            "stale.button": "このボタンは古いため、いまは使えません。最新のメッセージから選んでください。",
            "resume.ask": "「{where}」の途中です。続きから進めますか？",
            "resume.continue": "続きから",
            "resume.restart": "最初から",
            "expired.notice": "前回のやりとりから時間がたったため、途中まで入力された内容は消去しました。お手数ですが、もう一度はじめからお願いします。",
            "help.in_flow": "いまは「{where}」の途中です。\n・ボタンを押すか、文字で答えてください\n・「もどる」で一つ前に\n・「やめる」でいつでも中止できます",
            "help.idle": "船橋市の子育て支援センターのオンライン交流会・相談・講座のご案内です。\n下のメニューから選んでください。\n・イベント一覧：参加できるイベント\n・申込状況：申し込んだイベント\n・登録情報：お名前などの確認・変更\n・ポリシー：利用のきまり\n・紛失・盗難の報告：参加用のID・リンクをなくしたとき\n・機器の貸出相談：パソコンなどを借りたいとき\nお急ぎのときは、お電話で地域子育て支援課へ：{phone}",
            "menu.prompt": "ご用件をメニューから選んでください。",
            "menu.events": "イベント一覧",
            "menu.applications": "申込状況",
            "menu.profile": "登録情報",
            "menu.policy": "ポリシー",
            "menu.report": "紛失・盗難の報告",
            "menu.loan": "機器の貸出相談",
            "menu.my_reports": "報告・相談の状況",
            "menu.staff": "職員メニュー",
            "menu.help": "ヘルプ",
            "menu.register": "登録する",
            "kind.text_wanted": "ありがとうございます。ここでは文字で入力するか、ボタンを押してください。",
            "kind.choice_wanted": "ありがとうございます。ここでは下のボタンから選んでください。",
            "error.apology": "ごめんなさい、うまく処理できませんでした。少し時間をおいてもう一度お試しください。",
            "group.leave": "このアカウントは1対1のトークでご利用いただくものです。グループからは退出します。ありがとうございました。",
        },
        "en": {
            "cancel.done": "Cancelled. Nothing you had typed has been saved.",
            "cancel.nothing": "There is nothing in progress right now.",
            "back.at_start": "This is the first question.",
            "stale.button": "That button is from an older message and no longer works. Please use the latest one.",
            "resume.ask": "You were in the middle of “{where}”. Continue where you left off?",
            "resume.continue": "Continue",
            "resume.restart": "Start over",
            "expired.notice": "Some time has passed since we last talked, so what you had typed so far has been cleared. Please start again from the beginning.",
            "help.in_flow": "You are in “{where}”.\n- Tap a button or type your answer\n- Send “back” to go back one step\n- Send “cancel” to stop at any time",
            "help.idle": "Online meetups, consultations and classes of Funabashi City's child-rearing support centres.\nChoose from the menu below.\n- Events: what you can join\n- My applications\n- My details: check or change\n- Policy: the rules of use\n- Report loss: lost your meeting ID or link\n- Borrow equipment: a computer, camera and more\nUrgent? Call the Community Child-rearing Support Division: {phone}",
            "menu.prompt": "Please choose from the menu.",
            "menu.events": "Events",
            "menu.applications": "My applications",
            "menu.profile": "My details",
            "menu.policy": "Policy",
            "menu.report": "Report loss",
            "menu.loan": "Borrow equipment",
            "menu.my_reports": "My reports",
            "menu.staff": "Staff menu",
            "menu.help": "Help",
            "menu.register": "Register",
            "kind.text_wanted": "Thank you! Here, please type your answer or tap a button.",
            "kind.choice_wanted": "Thank you! Here, please choose one of the buttons below.",
            "error.apology": "Sorry, something went wrong on our side. Please try again in a little while.",
            "group.leave": "This account is for one-to-one chats, so it will leave this group. Thank you.",
        },
    }
)

t = COMMON.t

# The main menu: (flow name, label key). A flow that is not installed is left out by ``menu``.
MENU_ITEMS = (
    ("events", "menu.events"),
    ("applications", "menu.applications"),
    ("profile", "menu.profile"),
    ("policy", "menu.policy"),
    ("report", "menu.report"),
)
# Further entries of the quick-reply main menu, which has room for more than the rich menu's fixed areas.
MENU_MORE_ITEMS = (
    ("loan", "menu.loan"),
    ("my_reports", "menu.my_reports"),
)
installed_flows: set[str] = set()


def menu_choices(ctx: Any) -> tuple[Choice, ...]:
    items = [
        Choice(t(ctx, key), data=encode(flow, "start"))
        for flow, key in MENU_ITEMS + MENU_MORE_ITEMS
        if flow in installed_flows
    ]
    # Staff (a linked StaffMember: services.reports.facts) get their own menu first, and are not asked to register.
    if getattr(ctx, "facts", {}).get("staff") and "staff" in installed_flows:
        items.insert(0, Choice(t(ctx, "menu.staff"), data=encode("staff", "start")))
    elif not getattr(ctx, "registered", True) and "registration" in installed_flows:
        items.insert(0, Choice(t(ctx, "menu.register"), data=encode("registration", "start")))
    items.append(Choice(t(ctx, "menu.help"), data=encode("menu", "help")))
    return tuple(items)


def menu_choices_led_by(ctx: Any, lead: Choice) -> tuple[Choice, ...]:
    """The main menu with ``lead`` first (after a report or a loan request: 報告・相談の状況), each entry once."""
    return (lead, *(c for c in menu_choices(ctx) if c.data != lead.data))


def menu(ctx: Any) -> Text:
    return Text(t(ctx, "menu.prompt"), quick=menu_choices(ctx))


def help_idle(ctx: Any) -> Text:
    return Text(t(ctx, "help.idle", phone=ctx.contact_phone), quick=menu_choices(ctx))


def unexpected_kind(ctx: Any, kind: str, choice: bool = False) -> Text:
    return Text(t(ctx, "kind.choice_wanted" if choice else "kind.text_wanted"))


def is_keyword(value: str, words: frozenset[str]) -> bool:
    return keyword(value) in {keyword(w) for w in words}
