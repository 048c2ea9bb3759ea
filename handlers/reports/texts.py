"""What the report flows say (紛失・盗難の報告, 報告・相談の状況) and the names of the answers, in Japanese and English.

``LABELS`` names what parents choose (what was lost, when, equipment, reasons) and the statuses; the loan flow, the
staff chat and the notices use them too, so staff read the same words the parent chose.
"""

from __future__ import annotations

from typing import Any

from handlers.replies import Choice
from handlers.texts import LANGS, Catalog

LABELS = Catalog(
    {
        "ja": {
            "kind.lost_credentials": "紛失・盗難の報告",
            "kind.equipment_loan": "機器の貸出相談",
            "lost.join_link": "参加用リンク",
            "lost.meeting_details": "ミーティングID・パスコード",
            "lost.service_account": "WEB会議のID・パスワード",
            "lost.line_account": "スマホ・LINEアカウント",
            "lost.other": "その他",
            "when.today": "今日",
            "when.yesterday": "昨日",
            "when.this_week": "この1週間",
            "when.earlier": "それより前",
            "when.unknown": "わからない",
            "misuse.yes": "はい",
            "misuse.no": "いいえ",
            "misuse.unsure": "わからない",
            "equipment.pc": "パソコン",
            "equipment.tablet": "タブレット",
            "equipment.camera": "WEBカメラ",
            "equipment.microphone": "マイク",
            "equipment.router": "Wi-Fiルーター",
            "reason.no_device": "機器を持っていない",
            "reason.device_unsuitable": "今の機器では参加できない",
            "reason.no_camera_mic": "カメラ・マイクがない",
            "reason.no_internet": "インターネット環境がない",
            "reason.other": "その他",
            "status.open": "受け付けました（職員が確認します）",
            "status.acknowledged": "職員が対応しています",
            "status.resolved": "対応が終わりました",
            "status.approved": "貸出が決まりました",
            "status.declined": "今回は貸出できませんでした",
            "none": "なし",
            "separator": "、",
            "nav.back": "もどる",
            "nav.cancel": "やめる",
        },
        "en": {
            "kind.lost_credentials": "Loss / theft report",
            "kind.equipment_loan": "Equipment loan request",
            "lost.join_link": "My join link",
            "lost.meeting_details": "Meeting ID / passcode",
            "lost.service_account": "Web-meeting password",
            "lost.line_account": "Phone / LINE account",
            "lost.other": "Something else",
            "when.today": "Today",
            "when.yesterday": "Yesterday",
            "when.this_week": "This week",
            "when.earlier": "Before that",
            "when.unknown": "Not sure",
            "misuse.yes": "Yes",
            "misuse.no": "No",
            "misuse.unsure": "Not sure",
            "equipment.pc": "Computer",
            "equipment.tablet": "Tablet",
            "equipment.camera": "Webcam",
            "equipment.microphone": "Microphone",
            "equipment.router": "Wi-Fi router",
            "reason.no_device": "I have no device",
            "reason.device_unsuitable": "My device won't do",
            "reason.no_camera_mic": "No camera / mic",
            "reason.no_internet": "No internet at home",
            "reason.other": "Other",
            "status.open": "Received (staff will check it)",
            "status.acknowledged": "Staff are working on it",
            "status.resolved": "Done",
            "status.approved": "Loan approved",
            "status.declined": "We could not lend this time",
            "none": "None",
            "separator": ", ",
            "nav.back": "back",
            "nav.cancel": "cancel",
        },
    }
)


def nav(ctx: Any, back: bool = True) -> tuple[Choice, ...]:
    """Typed-word buttons the engine understands in every flow: one step back, and leave."""
    words = ("nav.back", "nav.cancel") if back else ("nav.cancel",)
    return tuple(Choice(LABELS.t(ctx, key), text=LABELS.t(ctx, key)) for key in words)


def both_languages(catalog: Catalog, key: str) -> tuple[str, ...]:
    """A label in every language, so a typed answer matches whichever language the parent types in."""
    return tuple(catalog.t(lang, key) for lang in LANGS)


def label(ctx: Any, group: str, value: str | None) -> str:
    return LABELS.t(ctx, f"{group}.{value}") if value else LABELS.t(ctx, "none")


def labels(ctx: Any, group: str, values) -> str:
    values = list(values)
    return LABELS.t(ctx, "separator").join(label(ctx, group, v) for v in values) if values else LABELS.t(ctx, "none")


def status_label(ctx: Any, status: str, outcome: str | None) -> str:
    if status == "resolved" and outcome in ("approved", "declined"):
        return LABELS.t(ctx, f"status.{outcome}")
    return LABELS.t(ctx, f"status.{status}")


REPORT = Catalog(
    {
        "ja": {
            "title": "紛失・盗難の報告",
            "guard.unregistered": "紛失・盗難のご報告は、ご登録のある方からこのトークで受け付けています。\nお手数ですが、お電話で地域子育て支援課へご連絡ください：{phone}",
            "intro": "参加用のリンクやID・パスワードをなくしたとき、盗まれたとき、だれかに使われたと気づいたときは、すぐにお知らせください（利用ポリシー5-(3)）。いくつか質問します。",
            "what.ask": "なくした（盗まれた）ものはどれですか？",
            "when.ask": "いつごろ気づきましたか？",
            "misuse.ask": "だれかに使われた、または使われたかもしれない心当たりはありますか？",
            "events.ask": "どのイベントに関係しますか？\n当てはまるものをすべて選び、最後に「決定」を押してください。",
            "events.chosen": "選んだイベント：{titles}",
            "events.all": "すべて",
            "events.none": "関係なし・不明",
            "events.done": "決定",
            "events.all_affected": "スマホ・LINEアカウントのときは、お申し込み中のすべてのイベントの参加用リンクを止めます。",
            "note.ask": "ほかに伝えたいことがあれば、ひとことお書きください（なくても大丈夫です）。",
            "note.skip": "特になし",
            "note.too_long": "{max}文字以内でお願いします。",
            "confirm.title": "報告内容の確認",
            "confirm.lost": "なくしたもの：{value}",
            "confirm.when": "気づいた時期：{value}",
            "confirm.misuse": "使われた心当たり：{value}",
            "confirm.events": "イベント：{value}",
            "confirm.note": "メモ：{value}",
            "confirm.links": "「報告する」を押すと、選んだイベントの参加用リンクはすぐに使えなくなります。",
            "confirm.send": "報告する",
            "choose.buttons": "下のボタンから選んでください。",
            "done.new": "ご報告を受け付けました。\n受付番号：{reference}",
            "done.merged": "同じ内容のご報告を{when}にいただいています（受付番号：{reference}）。\n今回の内容は、そのご報告に追加しました。",
            "done.next": "【このあと】\n担当の職員が確認し、このトークでご連絡します。",
            "done.after_hours": "ただいまは職員の当番時間外です。職員が確認するのは{when}ごろの予定です。",
            "done.after_hours_later": "ただいまは職員の当番時間外です。次の開所日に職員が確認します。",
            "done.meanwhile": "【それまでのあいだ】\n・なくした（盗まれた）リンクやID・パスコードは使わないでください",
            "done.links": "・選んだイベントの参加用リンクは止めました。新しいリンクは、職員が確認してからこのトークでお送りします",
            "done.tip.service_account": "・WEB会議サービスのパスワードを変更してください",
            "done.tip.line_account": "・LINEのパスワードを変更し、ログイン中の端末をご確認ください",
            "done.watch": "・このトークに届く職員からの連絡をご確認ください",
            "done.urgent": "お急ぎのとき・いまも不正に使われているときは、お電話で地域子育て支援課へ：{phone}",
            "menu.status": "報告・相談の状況",
            "menu.main": "メニュー",
            "help.what": "「参加用リンク」はこのトークでお送りした、あなた専用のリンクです。ご自分のWEB会議サービスのアカウントのときは「WEB会議のID・パスワード」を選んでください。",
        },
        "en": {
            "title": "Loss / theft report",
            "guard.unregistered": "We take loss and theft reports in this chat from registered users.\nPlease call the Community Child-rearing Support Division: {phone}",
            "intro": "If you lose your join link or your ID or password, if they are stolen, or if you notice someone else used them, please tell us straight away (policy 5-(3)). A few questions follow.",
            "what.ask": "What was lost or stolen?",
            "when.ask": "Roughly when did you notice?",
            "misuse.ask": "Do you think someone has used it, or may use it?",
            "events.ask": "Which events does it concern?\nChoose every one that applies, then tap “Done”.",
            "events.chosen": "Chosen: {titles}",
            "events.all": "All",
            "events.none": "None / not sure",
            "events.done": "Done",
            "events.all_affected": "For a phone or LINE account, we stop the join links of all your applications.",
            "note.ask": "Anything else you would like to tell us? (optional)",
            "note.skip": "Nothing more",
            "note.too_long": "Please keep it within {max} characters.",
            "confirm.title": "Please check your report",
            "confirm.lost": "Lost: {value}",
            "confirm.when": "Noticed: {value}",
            "confirm.misuse": "Possibly used by someone: {value}",
            "confirm.events": "Events: {value}",
            "confirm.note": "Note: {value}",
            "confirm.links": "When you tap “Send report”, the join links of the chosen events stop working at once.",
            "confirm.send": "Send report",
            "choose.buttons": "Please choose one of the buttons below.",
            "done.new": "Thank you, we have your report.\nReference number: {reference}",
            "done.merged": "You already told us about this at {when} (reference number: {reference}).\nWe have added this report to that one.",
            "done.next": "What happens next:\nStaff will check it and contact you in this chat.",
            "done.after_hours": "Staff are not on duty right now. They will see your report from about {when}.",
            "done.after_hours_later": "Staff are not on duty right now. They will see your report on the next working day.",
            "done.meanwhile": "Meanwhile:\n- Please do not use the lost or stolen link, ID or passcode",
            "done.links": "- We have stopped the join links of the chosen events. Staff will send new ones here after checking",
            "done.tip.service_account": "- Please change the password of your web-meeting account",
            "done.tip.line_account": "- Please change your LINE password and check the devices logged in to your account",
            "done.watch": "- Please watch for messages from staff in this chat",
            "done.urgent": "Urgent, or is it being misused right now? Call the Community Child-rearing Support Division: {phone}",
            "menu.status": "My reports",
            "menu.main": "Menu",
            "help.what": "“My join link” is the personal link we sent you in this chat. For your own web-meeting account, choose “Web-meeting password”.",
        },
    }
)

STATUS = Catalog(
    {
        "ja": {
            "title": "報告・相談の状況",
            "guard.unregistered": "報告・相談の状況は、ご登録のある方が見られます。",
            "list.none": "いま受け付けている報告・相談はありません。",
            "list.header": "報告・相談の状況です（新しい順）。",
            "list.alt": "報告・相談の状況",
            "card.title": "{kind}（{reference}）",
            "card.received": "受付：{when}",
            "card.status": "状況：{status}",
            "card.instruction": "職員からの連絡：{text}",
            "card.waiting": "お返事をお待ちしています。",
            "card.decision": "職員から：{text}",
            "card.answer": "返信する",
            "answer.ask": "職員への返信を入力してください（受付番号：{reference}）。",
            "answer.quote": "職員からの連絡：{text}",
            "answer.gone": "この件は対応が終わっているため、返信できません。ご用があれば、お電話でどうぞ：{phone}",
            "answer.too_long": "{max}文字以内でお願いします。",
            "answer.title": "返信の確認",
            "answer.offer": "職員からの連絡（受付番号：{reference}）への返信として、いまのメッセージを送りますか？",
            "answer.send": "送る",
            "answer.send_offered": "返信として送る",
            "answer.rewrite": "書き直す",
            "answer.not_offered": "送らない",
            "answer.sent": "返信を職員に送りました。職員からの連絡をお待ちください。",
            "answer.kept": "わかりました。返信としては送っていません。",
            "choose.buttons": "下のボタンから選んでください。",
            "menu.report": "紛失・盗難の報告",
            "menu.loan": "機器の貸出相談",
            "menu.main": "メニュー",
        },
        "en": {
            "title": "My reports",
            "guard.unregistered": "Registered users can see their reports and requests here.",
            "list.none": "You have no reports or requests with us at the moment.",
            "list.header": "Your reports and requests (newest first).",
            "list.alt": "My reports",
            "card.title": "{kind} ({reference})",
            "card.received": "Received: {when}",
            "card.status": "Status: {status}",
            "card.instruction": "From staff: {text}",
            "card.waiting": "We are waiting for your answer.",
            "card.decision": "From staff: {text}",
            "card.answer": "Answer",
            "answer.ask": "Please type your answer to staff (reference number: {reference}).",
            "answer.quote": "From staff: {text}",
            "answer.gone": "This matter is closed, so answers cannot be sent here. If you need us, please call: {phone}",
            "answer.too_long": "Please keep it within {max} characters.",
            "answer.title": "Send this answer?",
            "answer.offer": "Send this message as your answer to staff (reference number: {reference})?",
            "answer.send": "Send",
            "answer.send_offered": "Send as answer",
            "answer.rewrite": "Rewrite",
            "answer.not_offered": "Don't send",
            "answer.sent": "Your answer has been sent to staff. Please wait for them to get back to you.",
            "answer.kept": "All right, it was not sent as an answer.",
            "choose.buttons": "Please choose one of the buttons below.",
            "menu.report": "Report loss",
            "menu.loan": "Borrow equipment",
            "menu.main": "Menu",
        },
    }
)
