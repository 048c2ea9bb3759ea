"""What is sent outside a conversation about reports and loan requests, planned in the transaction of the change:
alerts to staff in LINE (with 対応します / 指示を送る / 解決 buttons), the notice that a colleague took one, the
parent's answers relayed to staff, staff instructions and decisions relayed to the parent, and the e-mail / webhook
notices (reference, kind, centre and a console link only: no personal data).

Every LINE message is an outbox row with a dedupe key, so planning the same notice twice sends it once.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from handlers.events import views
from handlers.postback import encode
from handlers.replies import Card, Choice, Reply, Text
from handlers.reports.rules import REPORT, EscalationInfo
from handlers.reports.texts import LABELS, label, labels
from handlers.texts import Catalog
from runtime.render import render_all
from services.reports.facts import view
from storage import escalation as queue
from storage import outbox, routing
from storage.models import Escalation, EscalationMessage, LineUser, StaffMember

STAFF_FLOW = "staff"
MY_REPORTS_FLOW = "my_reports"

NOTICES = Catalog(
    {
        "ja": {
            "alert.new.lost_credentials": "【至急】紛失・盗難の報告",
            "alert.new.equipment_loan": "機器の貸出相談",
            "alert.renotify": "【未対応】{kind}",
            "alert.reopen": "【再確認】{kind}",
            "alert.renotify_note": "受付から{minutes}分たちましたが、まだだれも「対応します」を押していません。",
            "alert.reopen_note": "「対応中」のまま{hours}時間たちました。状況を確認してください。",
            "line.reference": "受付番号：{value}",
            "line.centre": "担当：{value}",
            "line.received": "受付：{value}",
            "line.status": "状況：{value}",
            "line.lost": "なくしたもの：{value}",
            "line.when": "気づいた時期：{value}",
            "line.misuse": "使われた心当たり：{value}",
            "line.events": "イベント：{value}",
            "line.note": "メモ：{value}",
            "line.held": "参加用リンク{n}件を止めました（新しいリンクは「解決」で送ります）",
            "line.repeats": "同じ内容の報告：ほかに{n}回",
            "line.equipment": "機器：{value}",
            "line.reason": "理由：{value}",
            "status.open": "未対応",
            "status.acknowledged": "対応中（{name}）",
            "status.resolved": "解決済み",
            "button.ack": "対応します",
            "button.instruct": "指示を送る",
            "button.resolve": "解決",
            "button.rotate": "参加情報を変更",
            "button.approve": "貸出OK",
            "button.decline": "お断り",
            "button.question": "質問を送る",
            "taken": "{reference}（{kind}）は、{name}さんが対応します。",
            "answer.title": "保護者から返信（{reference}）",
            "answer.alt": "保護者から返信：{reference}",
            "instruction.title": "{centre}からのご連絡",
            "instruction.reference": "（受付番号：{reference}）",
            "instruction.how": "このトークにお返事を送ってください。",
            "instruction.answer": "返信する",
            "resolved.report": "ご報告（受付番号：{reference}）の対応が終わりました。ご協力ありがとうございました。",
            "resolved.links_sent": "新しい参加用リンクを、このあとお送りします。前のリンクはもう使えません。",
            "resolved.links_held": "参加用リンクについては、職員からのご案内に従ってください。",
            "loan.approved": "機器の貸出が決まりました（受付番号：{reference}）。\n\n【受け取りについて】\n{note}",
            "loan.declined": "申し訳ありません。今回は機器をお貸しできませんでした（受付番号：{reference}）。\n\n【理由】\n{note}",
            "loan.questions": "ご不明な点は、お電話でお問い合わせください：{phone}",
            "status_button": "報告・相談の状況",
            "refused.not_found": "この件（{reference}）は見つからないか、担当の範囲外です。",
            "refused.not_allowed": "閲覧のみの権限のため、この操作はできません。",
            "refused.resolved": "{reference} はすでに解決済みです。",
            "refused.taken": "{reference} はすでに{name}さんが対応しています。",
            "refused.not_rotated": "参加情報は変更されませんでした（イベントが終了・中止しているか、同じ内容です）。",
            "mail.subject": "[船橋市 子育て支援LINE] {prefix}{kind} {reference}（{centre}）",
            "mail.prefix.new": "",
            "mail.prefix.renotify": "【未対応】",
            "mail.prefix.reopen": "【再確認】",
            "mail.lead.new": "{kind}を受け付けました。",
            "mail.lead.renotify": "受付から{minutes}分たちましたが、まだだれも対応していません。",
            "mail.lead.reopen": "対応中のまま{hours}時間たちました。状況を確認してください。",
            "mail.reference": "受付番号：{value}",
            "mail.kind": "種類：{value}",
            "mail.centre": "担当：{value}",
            "mail.division": "このお知らせは、地域子育て支援課の通知先にお送りしています（センターの当番の時間外、またはセンターの通知先が未設定のため）。",
            "mail.link": "確認・対応：{value}",
            "mail.privacy": "このお知らせには個人情報を含めていません。内容はスタッフ画面か、LINEの職員メニューで確認してください。",
        },
        "en": {
            "alert.new.lost_credentials": "URGENT: loss / theft report",
            "alert.new.equipment_loan": "Equipment loan request",
            "alert.renotify": "UNANSWERED: {kind}",
            "alert.reopen": "CHECK AGAIN: {kind}",
            "alert.renotify_note": "Received {minutes} minutes ago and nobody has tapped “I'll handle it” yet.",
            "alert.reopen_note": "It has been “in progress” for {hours} hours. Please check where it stands.",
            "line.reference": "Reference: {value}",
            "line.centre": "Centre: {value}",
            "line.received": "Received: {value}",
            "line.status": "Status: {value}",
            "line.lost": "Lost: {value}",
            "line.when": "Noticed: {value}",
            "line.misuse": "Possibly used by someone: {value}",
            "line.events": "Events: {value}",
            "line.note": "Note: {value}",
            "line.held": "{n} join link(s) stopped (new ones are sent on “Resolve”)",
            "line.repeats": "Reported again: {n} more time(s)",
            "line.equipment": "Equipment: {value}",
            "line.reason": "Reason: {value}",
            "status.open": "Not yet taken",
            "status.acknowledged": "In progress ({name})",
            "status.resolved": "Resolved",
            "button.ack": "I'll handle it",
            "button.instruct": "Send instruction",
            "button.resolve": "Resolve",
            "button.rotate": "Change join details",
            "button.approve": "Approve loan",
            "button.decline": "Decline",
            "button.question": "Ask a question",
            "taken": "{name} is handling {reference} ({kind}).",
            "answer.title": "Answer from the parent ({reference})",
            "answer.alt": "Answer from the parent: {reference}",
            "instruction.title": "A message from the {centre}",
            "instruction.reference": "(Reference number: {reference})",
            "instruction.how": "Please reply in this chat.",
            "instruction.answer": "Answer",
            "resolved.report": "Your report (reference number: {reference}) has been dealt with. Thank you for your help.",
            "resolved.links_sent": "We are sending you new join links now. The old ones no longer work.",
            "resolved.links_held": "For your join links, please follow the instructions staff gave you.",
            "loan.approved": "Your equipment loan is approved (reference number: {reference}).\n\nPicking it up:\n{note}",
            "loan.declined": "We are sorry: we cannot lend you equipment this time (reference number: {reference}).\n\nWhy:\n{note}",
            "loan.questions": "Questions? Please call us: {phone}",
            "status_button": "My reports",
            "refused.not_found": "{reference} was not found, or is not your centre's.",
            "refused.not_allowed": "You have read-only access, so you cannot do this.",
            "refused.resolved": "{reference} is already resolved.",
            "refused.taken": "{name} is already handling {reference}.",
            "refused.not_rotated": "The join details were not changed (the event is over or cancelled, or nothing changed).",
        },
    }
)
t = NOTICES.t


def _push(
    session: Session, user: LineUser, purpose: str, replies: list[Reply], dedupe_key: str | None, escalation: Escalation
) -> int | None:
    return outbox.add(
        session,
        purpose=purpose,
        messages=render_all(replies),
        line_user_id=user.line_user_id,
        dedupe_key=dedupe_key,
        subject=f"escalation:{escalation.id}",
    )


def staff_action(action: str, escalation_id: int) -> str:
    """The postback of a staff button: an entry point of the staff chat carrying what to do to which escalation."""
    return encode(STAFF_FLOW, "start", f"{action}.{escalation_id}")


def _kind(lang: str, info: EscalationInfo) -> str:
    return label(lang, "kind", info.kind)


def event_line(lang: str, events) -> str:
    return LABELS.t(lang, "separator").join(
        f"{views.date_text(lang, e.starts_at)} {views.clock(e.starts_at)} {e.title}" for e in events
    )


def status_text(lang: str, info: EscalationInfo) -> str:
    return t(lang, f"status.{info.status}", name=info.acknowledged_by or "—")


def detail_lines(lang: str, info: EscalationInfo) -> list[str]:
    """What staff need to act on, without the parent's name or contact details (those are in the console)."""
    none = LABELS.t(lang, "none")
    lines = [
        t(lang, "line.reference", value=info.reference),
        t(lang, "line.centre", value=views.centre(lang, info.centre)),
        t(lang, "line.received", value=views.moment_text(lang, info.created_at)),
        t(lang, "line.status", value=status_text(lang, info)),
    ]
    if info.kind == REPORT:
        lines += [
            t(lang, "line.lost", value=label(lang, "lost", info.lost)),
            t(lang, "line.when", value=label(lang, "when", info.lost_when)),
            t(lang, "line.misuse", value=label(lang, "misuse", info.misuse)),
            t(lang, "line.events", value=event_line(lang, info.events) or none),
        ]
        if info.held_links:
            lines.append(t(lang, "line.held", n=info.held_links))
        if info.repeats:
            lines.append(t(lang, "line.repeats", n=info.repeats))
    else:
        lines += [
            t(lang, "line.equipment", value=labels(lang, "equipment", info.equipment)),
            t(lang, "line.events", value=event_line(lang, info.events) or none),
            t(lang, "line.reason", value=label(lang, "reason", info.reason)),
        ]
    if info.note:
        lines.append(t(lang, "line.note", value=info.note))
    return lines


def staff_buttons(lang: str, info: EscalationInfo) -> tuple[Choice, ...]:
    if info.resolved:
        return ()
    out = [Choice(t(lang, "button.ack"), data=staff_action("ack", info.id))] if info.status == "open" else []
    if info.kind == REPORT:
        out += [
            Choice(t(lang, "button.instruct"), data=staff_action("instruct", info.id)),
            Choice(t(lang, "button.resolve"), data=staff_action("resolve", info.id)),
        ]
        if info.events:
            out.append(Choice(t(lang, "button.rotate"), data=staff_action("rotate", info.id)))
    else:
        out += [
            Choice(t(lang, "button.approve"), data=staff_action("approve", info.id)),
            Choice(t(lang, "button.decline"), data=staff_action("decline", info.id)),
            Choice(t(lang, "button.question"), data=staff_action("instruct", info.id)),
        ]
    return tuple(out[:4])


def staff_card(lang: str, info: EscalationInfo, *, round_: str = "new", minutes: int = 0, hours: int = 0) -> Card:
    if round_ == "new":
        title = t(lang, f"alert.new.{info.kind}")
        lines = detail_lines(lang, info)
    else:
        title = t(lang, f"alert.{round_}", kind=_kind(lang, info))
        lines = [t(lang, f"alert.{round_}_note", minutes=minutes, hours=hours), *detail_lines(lang, info)]
    return Card(title=title, lines=tuple(lines), buttons=staff_buttons(lang, info), alt=f"{title} {info.reference}")


# --- to staff ------------------------------------------------------------------------------------------------
def plan_staff_alerts(
    session: Session,
    escalation: Escalation,
    recipients: list[tuple[StaffMember, LineUser]],
    round_: str,
    *,
    minutes: int = 0,
    hours: int = 0,
) -> int:
    """One alert per staff member (and per round: "new", "renotify-2", "reopen-1"). Returns how many were new."""
    info = view(session, escalation)
    kind = round_.split("-")[0]
    planned = 0
    for member, user in recipients:
        card = staff_card(user.language, info, round_=kind, minutes=minutes, hours=hours)
        if _push(session, user, "staff_alert", [card], f"staff-alert:{escalation.id}:{round_}:{member.id}", escalation):
            planned += 1
    return planned


def plan_taken(
    session: Session, escalation: Escalation, by: StaffMember, others: list[tuple[StaffMember, LineUser]]
) -> int:
    """Tell the others who were alerted that a colleague took it, so nobody does the work twice."""
    info = view(session, escalation)
    stamp = int(escalation.acknowledged_at.timestamp()) if escalation.acknowledged_at else 0
    planned = 0
    for member, user in others:
        if member.id == by.id:
            continue
        text = t(user.language, "taken", reference=info.reference, kind=_kind(user.language, info), name=by.name)
        if _push(
            session, user, "staff_notice", [Text(text)], f"staff-taken:{escalation.id}:{stamp}:{member.id}", escalation
        ):
            planned += 1
    return planned


def plan_answer_relay(
    session: Session, escalation: Escalation, answer: EscalationMessage, to: StaffMember, user: LineUser
) -> int | None:
    info = view(session, escalation)
    lang = user.language
    lines = (
        answer.text,
        t(lang, "line.reference", value=info.reference),
        t(lang, "line.status", value=status_text(lang, info)),
    )
    card = Card(
        title=t(lang, "answer.title", reference=info.reference),
        lines=lines,
        buttons=staff_buttons(lang, info),
        alt=t(lang, "answer.alt", reference=info.reference),
    )
    return _push(session, user, "staff_notice", [card], f"answer:{answer.id}:{to.id}", escalation)


def plan_staff_note(session: Session, user: LineUser, escalation: Escalation, text: str, dedupe_key: str) -> int | None:
    """A plain line to a staff member (a correction: a colleague was quicker)."""
    return _push(session, user, "staff_notice", [Text(text)], dedupe_key, escalation)


# --- to the parent ------------------------------------------------------------------------------------------
def plan_instruction(
    session: Session, escalation: Escalation, message: EscalationMessage, author: StaffMember, parent: LineUser
) -> int | None:
    """The staff member's words, marked as coming from their centre, with a button to answer in the same thread."""
    lang = parent.language
    title = t(lang, "instruction.title", centre=views.centre(lang, author.centre))
    lines = (message.text, t(lang, "instruction.reference", reference=escalation.reference), t(lang, "instruction.how"))
    button = Choice(t(lang, "instruction.answer"), data=encode(MY_REPORTS_FLOW, "start", f"answer.{escalation.id}"))
    return _push(
        session,
        parent,
        "staff_instruction",
        [Card(title=title, lines=lines, buttons=(button,), alt=title)],
        f"instruction:{message.id}",
        escalation,
    )


def plan_report_resolved(session: Session, escalation: Escalation, parent: LineUser, links: str | None) -> int | None:
    """The report is dealt with; ``links`` says what became of the join links it stopped: "links_sent" (new ones
    follow), "links_held" (staff guide the parent), or None (it stopped none)."""
    lang = parent.language
    lines = [t(lang, "resolved.report", reference=escalation.reference)]
    if links:
        lines.append(t(lang, f"resolved.{links}"))
    text = "\n".join(lines)
    return _push(session, parent, "report_update", [Text(text)], f"resolved:{escalation.id}", escalation)


def plan_loan_decision(
    session: Session, escalation: Escalation, parent: LineUser, *, approved: bool, note: str, phone: str
) -> int | None:
    lang = parent.language
    key = "loan.approved" if approved else "loan.declined"
    text = "\n\n".join(
        (t(lang, key, reference=escalation.reference, note=note), t(lang, "loan.questions", phone=phone))
    )
    quick = (Choice(t(lang, "status_button"), data=encode(MY_REPORTS_FLOW, "start")),)
    return _push(
        session, parent, "loan_decision", [Text(text, quick=quick)], f"loan-decision:{escalation.id}", escalation
    )


# --- e-mail and the outgoing webhook --------------------------------------------------------------------------
def external_text(
    escalation: Escalation,
    info: EscalationInfo,
    round_: str,
    base_url: str,
    *,
    minutes: int = 0,
    hours: int = 0,
    to_division: bool = False,
) -> tuple[str, str]:
    """(subject, body) for e-mail and webhooks, in Japanese (staff read them): the reference, the kind, the centre,
    the console link. Nothing the parent wrote, nothing that identifies them. ``to_division``: it goes to the
    division's addresses instead of a centre's (said in the body, so nobody wonders why it came to them)."""
    lang = "ja"
    kind = _kind(lang, info)
    if info.kind == REPORT:
        kind_detail = f"{kind}（{label(lang, 'lost', info.lost)}）"
    else:
        kind_detail = kind
    centre = views.centre(lang, info.centre)
    subject = t(
        lang,
        "mail.subject",
        prefix=t(lang, f"mail.prefix.{round_}"),
        kind=kind,
        reference=info.reference,
        centre=centre,
    )
    body = "\n".join(
        (
            t(lang, f"mail.lead.{round_}", kind=kind, minutes=minutes, hours=hours),
            t(lang, "mail.reference", value=info.reference),
            t(lang, "mail.kind", value=kind_detail),
            t(lang, "mail.centre", value=centre),
            *([t(lang, "mail.division")] if to_division and info.centre != "division" else []),
            t(lang, "mail.link", value=f"{base_url}/staff/escalations/{escalation.id}"),
            "",
            t(lang, "mail.privacy"),
        )
    )
    return subject, body


def plan_external(
    session: Session,
    escalation: Escalation,
    round_: str,
    base_url: str,
    *,
    minutes: int = 0,
    hours: int = 0,
    with_division: bool = False,
) -> int:
    """The e-mail and webhook notices of this round, one per address where it goes now (storage/routing.py: the
    centre's while its staff are on duty, else the division's, whose environment defaults are planned as one e-mail
    and one webhook notice each time; ``with_division`` adds the division's). The worker sends them, or skips an
    unconfigured channel. Returns how many were new."""
    goes = routing.targets(session, escalation.centre, with_division=with_division)
    subject, body = external_text(
        escalation,
        view(session, escalation),
        round_.split("-")[0],
        base_url,
        minutes=minutes,
        hours=hours,
        to_division=goes.environment,
    )
    destinations = [(r.channel, r.id) for r in goes.routes]
    destinations += [(channel, None) for channel in queue.CHANNELS] if goes.environment else []
    planned = 0
    for channel, route_id in destinations:
        key = f"{channel}:{escalation.id}:{round_}" + (f":{route_id}" if route_id is not None else "")
        if queue.plan_notice(
            session,
            escalation_id=escalation.id,
            channel=channel,
            subject=subject,
            body=body,
            dedupe_key=key,
            route_id=route_id,
        ):
            planned += 1
    return planned


def minutes_since(moment: datetime, since: datetime) -> int:
    return max(0, int((moment - since).total_seconds() // 60))
