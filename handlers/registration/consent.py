"""Consent to the web-conference policy (flow "consent"), and the check other features call before acting.

The policy is shown in plain, short sections, one message each, moved through with 次へ; the full text is a link to
the bot's own page (``/policy``). The parent answers 同意する or 同意しない; either answer is recorded against the
content hash of the exact policy text they were shown (``RecordConsent``), with the time and channel. A new policy
text is a new version: ``ctx.consent_current`` turns False and ``require_consent`` sends the parent here again
before the next application or join link.

For other flows: ``require_consent(ctx)`` returns None when the parent may apply, otherwise the replies that lead
them to registration or to this flow; it has the shape of ``Flow.guard``, so ``Flow(guard=require_consent)`` works.
Diagram: consent.mmd.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from handlers import texts
from handlers.effects import RecordConsent
from handlers.engine import Context, Finish, Flow, Go, Input, Retry, Step, StepResult, picked
from handlers.postback import encode
from handlers.registration.policy_text import policy_hash
from handlers.replies import Choice, Reply, Text

FLOW_NAME = "consent"
# The policy text the plain sections below were written from. When the text in handlers/content/ changes, a test
# fails until someone has re-read the sections against the new text and updated this hash.
SUMMARISED_POLICY = "7970803797439f10231415717ce7464f40cc06bd78dbc5bb89aca26ea0abca44"
SECTIONS = ("environment", "credentials", "conduct", "disclaimer", "privacy")

TEXTS = texts.Catalog(
    {
        "ja": {
            "title": "ポリシーの確認",
            "intro.first": "イベントにお申し込みいただく前に、WEB会議サービスの利用のきまり（運用ポリシー）をご確認ください。5つに分けて、短くご案内します。",
            "intro.revised": "WEB会議サービス運用ポリシーが改定されました。お手数ですが、あらためてご確認のうえ、同意をお願いします。",
            "section.environment.title": "必要な環境と費用",
            "section.environment": "・インターネットにつながるスマートフォン・タブレット・パソコン（カメラ・マイク・スピーカー付き）が必要です。\n・通信費などの費用は、原則としてご自身のご負担です。\n・機器の用意が難しい方には、市が必要と認めた場合、できる範囲でお貸しします。お気軽にご相談ください。\n・必要に応じて、WEB会議のアプリを前もって入れておいてください。\n・ご自身の回線や機器の不具合で参加できないことがあります。あらかじめご了承ください。",
            "section.credentials.title": "ID・パスワードの管理",
            "section.credentials": "・参加用のID・パスワード・リンクは、参加する方だけで使ってください。ほかの人に教える、貸す、譲る、売ることはできません。\n・管理が不十分だったことなどで生じた損害は、ご自身の責任になります。\n・なくしたり盗まれたりしたとき、また他人に使われていると気づいたときは、すぐに地域子育て支援課へご連絡ください（メニューの「紛失・盗難の報告」からもできます）。その後は市の指示に従ってください。",
            "section.conduct.title": "してはいけないこと",
            "section.conduct": "特にお願い：交流会などの映像・写真・音声を、SNSなどに投稿しないでください。ほかの参加者とお子さんのプライバシーを守るためです。\n\nほかにも、次のことは禁止です。\n(1) 有害なプログラムを送ったり書き込んだりすること\n(2) 他人の著作権などの権利を侵害すること\n(3) 他人の悪口・中傷など、名誉を傷つけること\n(4) 映像・写真・音声をSNSなどに投稿すること\n(5) 他人の財産やプライバシーを侵害すること\n(6) 事実と違うことや意味のないことを書き込むこと\n(7) 公序良俗に反する情報などを公開すること\n(8) 必要のない個人情報をほかの人に公開すること\n(9) 保護者の同意なく、未成年者だけで利用すること\n(10) その他、法令に違反すること\n(11) WEB会議サービスの規約に違反すること\n\n違反があった場合、退出していただいたり、以後の参加をお断りすることがあります。違反による損害はご本人の責任になります。",
            "section.disclaimer.title": "市が責任を負わないこと",
            "section.disclaimer": "・WEB会議サービスの利用で利用者に生じた損害や損失について、船橋市は責任を負いません。\n・利用者がほかの利用者や第三者に損害を与えた場合も、船橋市は責任を負いません。",
            "section.privacy.title": "個人情報の取扱い",
            "section.privacy": "・WEB会議サービスの運用に関わる個人情報は、船橋市が法令や条例に基づいて適切に取り扱います。\n・ご登録の内容は、お申し込みの受付・ご連絡・参加の確認のためだけに使います。",
            "heading": "【{n}/{total} {title}】",
            "full_text": "ポリシーの全文：{url}",
            "question": "以上の内容に同意しますか？",
            "next": "次へ",
            "read_all": "全文を読む",
            "agree": "同意する",
            "decline": "同意しない",
            "agreed": "同意いただき、ありがとうございます。メニューの「イベント一覧」から、交流会・相談・講座に申し込めます。\n同意はメニューの「ポリシー」からいつでも取り消せます。",
            "declined": "わかりました。同意いただけない場合、オンラインのイベントへのお申し込みと参加はできません。ご登録の内容はそのまま残ります。\n気が変わったときは、メニューの「ポリシー」から、いつでも同意できます。ご不明な点はお電話でどうぞ：{phone}",
            "already": "最新のポリシーには、すでに同意いただいています。",
            "changed_meanwhile": "ご確認の途中でポリシーが改定されました。お手数ですが、新しい内容をご確認ください。",
            "read_full_text": "今回の改定内容は、下の要点にまだ反映されていないことがあります。必ず全文もお読みください：{url}",
            "help.read": "内容を読んだら「次へ」を押してください。全文はリンクから読めます。",
            "help.answer": "同意いただける場合は「同意する」、そうでない場合は「同意しない」を押してください。",
            "choose.next": "読み終わったら「次へ」を押してください。",
            "choose.answer": "「同意する」か「同意しない」を選んでください。",
            "need.registration": "イベントへのお申し込みには、はじめにご登録が必要です（2分ほどです）。",
            "need.consent": "イベントへのお申し込みの前に、WEB会議サービス運用ポリシーへの同意をお願いしています。",
            "need.revised": "WEB会議サービス運用ポリシーが改定されました。お申し込みの前に、あらためて同意をお願いします。",
            "go.register": "登録する",
            "go.consent": "ポリシーを確認する",
            "nav.back": "もどる",
            "nav.cancel": "やめる",
        },
        "en": {
            "title": "Policy check",
            "intro.first": "Before you apply for an event, please read the rules for using the web-conference service (the policy). It comes in five short parts.",
            "intro.revised": "The web-conference policy has been revised. Please read it again and tell us whether you agree.",
            "section.environment.title": "What you need, and costs",
            "section.environment": "- A smartphone, tablet or computer with an internet connection (camera, microphone and speaker).\n- Data and other costs are, as a rule, your own.\n- If that is hard for you, the city can lend equipment where it agrees this is needed, as far as it can. Please ask.\n- Install the web-conference app in advance if needed.\n- A problem with your own connection or device may stop you from joining. Please accept this in advance.",
            "section.credentials.title": "Your meeting ID and password",
            "section.credentials": "- Meeting IDs, passwords and links are only for the people taking part. Do not share, lend, give or sell them.\n- Any damage from not keeping them safe is your own responsibility.\n- If you lose them, they are stolen, or you notice someone else using them, tell the Community Child-rearing Support Division at once (also from “Report loss” in the menu), and follow the city's instructions.",
            "section.conduct.title": "What you must not do",
            "section.conduct": "Above all: do not post video, photos or voice from the meetups on social media or anywhere else. This protects the other families and their children.\n\nAlso not allowed:\n(1) sending or posting harmful programs\n(2) infringing copyright or other rights\n(3) insulting or defaming others\n(4) posting video, photos or voice on social media\n(5) infringing others' property or privacy\n(6) posting false or meaningless information\n(7) showing content against public order and morals\n(8) revealing personal information that is not needed\n(9) minors using the service alone without a guardian's consent\n(10) anything else against the law\n(11) breaking the web-conference service's own terms\n\nIf these rules are broken, the city may remove you from a session or refuse future participation. Damage caused by a violation is the violator's responsibility.",
            "section.disclaimer.title": "What the city is not responsible for",
            "section.disclaimer": "- Funabashi City is not responsible for damage or loss that users suffer through using the web-conference service.\n- Nor for damage that a user causes to other users or to anyone else.",
            "section.privacy.title": "Personal information",
            "section.privacy": "- Funabashi City handles personal information related to the web-conference service properly, under the law and city rules.\n- Your registration details are used only to take applications, contact you and check attendance.",
            "heading": "[{n}/{total} {title}]",
            "full_text": "Full policy (Japanese): {url}",
            "question": "Do you agree to the above?",
            "next": "Next",
            "read_all": "Read full text",
            "agree": "I agree",
            "decline": "I do not agree",
            "agreed": "Thank you for agreeing. You can now apply for meetups, consultations and classes from “Events” in the menu.\nYou can withdraw your consent at any time from “Policy” in the menu.",
            "declined": "Understood. Without your agreement you cannot apply for or join our online events. Your registration stays as it is.\nIf you change your mind, you can agree at any time from “Policy” in the menu. Questions: please call {phone}",
            "already": "You have already agreed to the latest policy.",
            "changed_meanwhile": "The policy was revised while you were reading. Please read the new version.",
            "read_full_text": "The key points below may not yet include this revision. Please also read the full text: {url}",
            "help.read": "When you have read it, tap “Next”. The full text is at the link.",
            "help.answer": "Tap “I agree” if you agree, or “I do not agree” if not.",
            "choose.next": "When you have read it, please tap “Next”.",
            "choose.answer": "Please choose “I agree” or “I do not agree”.",
            "need.registration": "To apply for events, please register first (about 2 minutes).",
            "need.consent": "Before you apply, please agree to the web-conference policy.",
            "need.revised": "The web-conference policy has been revised. Please agree to it again before applying.",
            "go.register": "Register",
            "go.consent": "Read the policy",
            "nav.back": "back",
            "nav.cancel": "cancel",
        },
    }
)


def t(ctx: Any, key: str, **values: Any) -> str:
    return TEXTS.t(ctx, key, **values)


def both(key: str) -> tuple[str, ...]:
    return tuple(TEXTS.t(lang, key) for lang in texts.LANGS)


def policy_url(ctx: Context) -> str:
    return f"{ctx.public_base_url}/policy"


def link_choice(ctx: Context) -> tuple[Choice, ...]:
    """The full text as a button, where the bot has a public address LINE can open."""
    url = policy_url(ctx)
    return (Choice(t(ctx, "read_all"), uri=url),) if url.startswith(("https://", "http://")) else ()


def section_text(ctx: Any, name: str) -> str:
    heading = t(ctx, "heading", n=SECTIONS.index(name) + 1, total=len(SECTIONS), title=t(ctx, f"section.{name}.title"))
    return f"{heading}\n{t(ctx, f'section.{name}')}"


def policy_in_force(ctx: Context) -> str:
    """The content hash of the policy version in force: the newest published one, else the text this release ships."""
    return (ctx.facts.get("consent") or {}).get("policy_hash") or policy_hash()


def summaries_current(ctx: Context) -> bool:
    """Whether the plain sections here were written from the text in force (not from an older one)."""
    return policy_in_force(ctx) == SUMMARISED_POLICY


def revised(ctx: Context) -> bool:
    """The parent agreed to an earlier text of the policy (so this is a re-consent)."""
    facts = ctx.facts.get("consent") or {}
    return facts.get("answer") == "agreed" and not facts.get("for_current")


def require_consent(ctx: Context) -> list[Reply] | None:
    """None when the parent may apply for events and receive join links; otherwise what to say instead: a kind
    reason and one button, to registration or to this flow. Call it before an application or a join link."""
    if not ctx.registered:
        go = Choice(t(ctx, "go.register"), data=encode("registration", "start"))
        return [Text(t(ctx, "need.registration"), quick=(go,))]
    if ctx.consent_current:
        return None
    go = Choice(t(ctx, "go.consent"), data=encode(FLOW_NAME, "start"))
    return [Text(t(ctx, "need.revised" if revised(ctx) else "need.consent"), quick=(go,))]


def _reading_step(name: str, following: str) -> Step:
    """A step showing one section with 次へ."""

    def prompt(ctx: Context, data: Mapping[str, Any], version: int) -> list[Reply]:
        back = (Choice(t(ctx, "nav.back"), text=t(ctx, "nav.back")),) if data.get("_back") else ()
        quick = (
            Choice(t(ctx, "next"), data=encode(FLOW_NAME, "next", "", version)),
            *link_choice(ctx),
            *back,
            Choice(t(ctx, "nav.cancel"), text=t(ctx, "nav.cancel")),
        )
        return [Text(section_text(ctx, name), quick=quick)]

    def accept(ctx: Context, data: Mapping[str, Any], inp: Input) -> StepResult:
        if picked(inp, FLOW_NAME, "next", {"": (*both("next"), "つぎへ", "次", "ok")}) is None:
            return Retry(Text(t(ctx, "choose.next")))
        return Go(following)

    return Step(prompt, accept, help_hint="help.read", choice=True)


def _answer_prompt(ctx: Context, data: Mapping[str, Any], version: int) -> list[Reply]:
    last = f"{section_text(ctx, 'privacy')}\n\n{t(ctx, 'full_text', url=policy_url(ctx))}\n\n{t(ctx, 'question')}"
    quick = (
        Choice(t(ctx, "agree"), data=encode(FLOW_NAME, "answer", "agreed", version)),
        Choice(t(ctx, "decline"), data=encode(FLOW_NAME, "answer", "declined", version)),
        *link_choice(ctx),
        Choice(t(ctx, "nav.back"), text=t(ctx, "nav.back")),
        Choice(t(ctx, "nav.cancel"), text=t(ctx, "nav.cancel")),
    )
    return [Text(section_text(ctx, "disclaimer")), Text(last, quick=quick)]


def _answer_accept(ctx: Context, data: Mapping[str, Any], inp: Input) -> StepResult:
    answer = picked(
        inp,
        FLOW_NAME,
        "answer",
        {
            "agreed": (*both("agree"), "同意", "同意します", "はい", "agree", "yes"),
            "declined": (*both("decline"), "同意しません", "いいえ", "disagree", "no"),
        },
    )
    if answer is None:
        return Retry(Text(t(ctx, "choose.answer")))
    if data.get("policy") != policy_in_force(ctx):  # the text changed while they read: not what is in force
        return Finish(say=(Text(t(ctx, "changed_meanwhile")),), then=FLOW_NAME)
    record = (RecordConsent(answer, data["policy"]),)
    if answer == "agreed":
        return Finish(say=(Text(t(ctx, "agreed")), texts.menu(ctx)), effects=record)
    return Finish(say=(Text(t(ctx, "declined", phone=ctx.contact_phone)), texts.menu(ctx)), effects=record)


def _guard(ctx: Context) -> list[Reply] | None:
    return [Text(t(ctx, "already")), texts.menu(ctx)] if ctx.consent_current else None


def _intro(ctx: Context) -> list[Reply]:
    intro = t(ctx, "intro.revised" if revised(ctx) else "intro.first")
    if not summaries_current(ctx):  # a text published after this release: the full text is what counts
        intro += "\n" + t(ctx, "read_full_text", url=policy_url(ctx))
    return [Text(intro)]


FLOW = Flow(
    name=FLOW_NAME,
    start="environment",
    steps={
        "environment": _reading_step("environment", "credentials"),
        "credentials": _reading_step("credentials", "conduct"),
        "conduct": _reading_step("conduct", "answer"),
        # The two shortest parts come together, the last one with the question: five parts, four taps.
        "answer": Step(_answer_prompt, _answer_accept, help_hint="help.answer", choice=True),
    },
    title_key="title",
    guard=_guard,
    initial=lambda ctx: {"policy": policy_in_force(ctx)},
    intro=_intro,
    catalog=TEXTS,
)
