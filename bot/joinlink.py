"""The personal join page ``/j/<token>`` (policy 5: the meeting's IDs must not reach third parties).

A dead link (unknown, revoked, erased, or of a cancelled event) gets one page, the same for all of them: a short
message and the contact phone, nothing of the event. Otherwise GET shows the event, the two rules and a button; only the POST behind that button shows how to join — and only
inside the event's window, for a confirmed participant who consents and is not barred (the decision is
``services.events.operations.open_join_link``). Link previews and crawlers, which only GET, never see the details.
Every opening of a live link is recorded with a keyed fingerprint of the browser and address, never the token or
the address.
"""

from __future__ import annotations

import re
from datetime import timedelta

from flask import Blueprint, Response, current_app, render_template, request

from handlers.engine import DEFAULT_CONTACT_PHONE
from handlers.events import views
from handlers.texts import LANGS, Catalog
from services.events.operations import open_join_link
from storage import crypto
from storage.db import unit_of_work

bp = Blueprint("joinlink", __name__)
TOKEN = re.compile(r"^[A-Za-z0-9_-]{32,64}$")

PAGE = Catalog(
    {
        "ja": {
            "title": "参加用ページ",
            "switch": "English",
            "rules.heading": "参加の前に、2つのお願い",
            "rules.record": "録画・録音・撮影や、SNSへの投稿はしないでください。ほかの参加者とお子さんのプライバシーを守るためです。",
            "rules.share": "このページ（リンク）はあなた専用です。ほかの人に渡したり、教えたりしないでください。",
            "reveal": "お願いを守って、参加方法を表示する",
            "join": "{service}で参加する",
            "join.plain": "WEB会議に参加する",
            "meeting_id": "ミーティングID",
            "passcode": "パスコード",
            "open.note": "ボタンで入れないときは、アプリでミーティングIDとパスコードを入力してください。",
            "state.too_early": "参加方法は、開始{minutes}分前（{opens}）から表示します。その頃に、もう一度このページを開いてください。",
            "state.ended": "このイベントは終了しました。ご参加ありがとうございました。",
            "state.finished": "このイベントは終了しました。ご参加ありがとうございました。",
            "state.not_confirmed": "このお申し込みは、いまは参加が確定していません。LINEの「申込状況」でご確認ください。",
            "state.no_consent": "参加には、WEB会議サービスの利用のきまり（ポリシー）への同意が必要です。LINEのメニューの「ポリシー」から同意いただくと、このページに参加方法を表示できます。",
            "state.barred": "申し訳ありません。いまはこのイベントにご参加いただけません。くわしくは地域子育て支援課へお問い合わせください：{phone}",
            "state.not_ready": "参加方法（ミーティングIDなど）の準備が、まだ整っていません。申し訳ありませんが、少し時間をおいて、このページをもう一度開いてください。お急ぎのときは、地域子育て支援課へお問い合わせください：{phone}",
            "state.gone": "このリンクでは、ご案内できません。LINEで届いた、いちばん新しいお知らせをご確認ください。ご不明な点は、地域子育て支援課へお問い合わせください：{phone}",
            "reload": "ページを読み込み直す",
        },
        "en": {
            "title": "Join page",
            "switch": "日本語",
            "rules.heading": "Two requests before you join",
            "rules.record": "Please do not record, film or post anything from the session on social media, to protect the other participants and their children.",
            "rules.share": "This page (link) is yours alone. Please do not pass it on or tell anyone about it.",
            "reveal": "I will keep to this: show how to join",
            "join": "Join with {service}",
            "join.plain": "Join the web conference",
            "meeting_id": "Meeting ID",
            "passcode": "Passcode",
            "open.note": "If the button does not work, enter the meeting ID and passcode in the app.",
            "state.too_early": "How to join is shown from {minutes} minutes before the start ({opens}). Please open this page again then.",
            "state.ended": "This event has ended. Thank you for taking part.",
            "state.finished": "This event has ended. Thank you for taking part.",
            "state.not_confirmed": "Your place for this event is not confirmed at the moment. Please check “My applications” in LINE.",
            "state.no_consent": "To take part, please agree to the rules for using the web-conference service: choose “Policy” in the LINE menu, and this page will then show how to join.",
            "state.barred": "We are sorry, but you cannot take part in this event at the moment. Please contact the Community Child-rearing Support Division: {phone}",
            "state.not_ready": "The details for joining (meeting ID and so on) are not ready yet. We are sorry: please open this page again a little later. If it is urgent, please contact the Community Child-rearing Support Division: {phone}",
            "state.gone": "This link cannot be used. Please check the latest message we sent you in LINE. If you have any questions, please contact the Community Child-rearing Support Division: {phone}",
            "reload": "Reload this page",
        },
    }
)


def _fingerprint() -> str:
    agent = request.headers.get("User-Agent", "")
    return crypto.fingerprint(current_app.config["SECRET_KEY"], agent, request.remote_addr or "")


@bp.route("/j/<token>", methods=["GET", "POST"])
def join_page(token: str):
    page = None
    if TOKEN.match(token):
        with unit_of_work() as session:
            page = open_join_link(session, token, fingerprint=_fingerprint(), reveal=request.method == "POST")
    chosen = request.args.get("lang")
    lang = chosen if chosen in LANGS else (page.lang if page else "ja")
    runtime = current_app.extensions["kosodate"]
    phone = runtime.config.contact_phone or DEFAULT_CONTACT_PHONE

    def t(key: str, **values) -> str:
        return PAGE.t(lang, key, **values)

    context = {
        "lang": lang,
        "t": t,
        "other_lang": "en" if lang == "ja" else "ja",
        "event": None,
        "conference": None,
        "message": "",
    }
    if page is None:
        # One page for every dead link (unknown, revoked, erased, event cancelled): nothing of the event, nothing
        # of why, and only the language asked for in the address, so the page cannot tell the cases apart.
        context |= {"state": "gone", "message": t("state.gone", phone=phone)}
    else:
        event = page.event
        context |= {
            "state": page.state,
            "event": event,
            "conference": page.conference,
            "when": views.when(lang, event.starts_at, event.ends_at),
            "where": f"{views.centre(lang, event.centre)}・{views.kind(lang, event.kind)}",
        }
        if page.state != "open":
            opens = views.clock(event.starts_at - timedelta(minutes=event.join_opens_minutes))
            context["message"] = t(f"state.{page.state}", phone=phone, minutes=event.join_opens_minutes, opens=opens)
    html = render_template("join.html", **context)
    response = Response(html, status=404 if page is None else 200, mimetype="text/html")
    # Personal and changing with time: never cached, never indexed.
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response
