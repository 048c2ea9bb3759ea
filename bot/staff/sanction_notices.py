"""What a parent is told in the chat when staff remove them from an event or refuse further participation
(policy 6). One outbox row per sanction, deduplicated on it; written in the sanction's transaction."""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from handlers.replies import Text
from handlers.texts import Catalog
from runtime.render import render_all
from storage import outbox
from storage.models import Event, LineUser, Parent, Sanction

NOTICES = Catalog(
    {
        "ja": {
            "removed": "「{title}」について、WEB会議サービス運用ポリシー 6（禁止事項）{items}に当たる行為があったため、参加を終了させていただきました。この回の参加用リンクは使えなくなりました。",
            "barred": "WEB会議サービス運用ポリシー 6（禁止事項）{items}に当たる行為があったため、今後のオンライン事業へのご参加をお断りします。",
            "until": "お断りする期間：{until}まで",
            "indefinite": "お断りする期間：当面のあいだ",
            "contact": "ご不明な点は、地域子育て支援課までお問い合わせください：{phone}",
        },
        "en": {
            "removed": "Regarding “{title}”: because of conduct covered by item {items} of section 6 (prohibited acts) of the web-conference policy, your participation has been ended. Your join link for this session no longer works.",
            "barred": "Because of conduct covered by item {items} of section 6 (prohibited acts) of the web-conference policy, we are unable to accept your participation in our online events.",
            "until": "Until: {until}",
            "indefinite": "Until further notice",
            "contact": "If you have any questions, please contact the Community Child-rearing Support Division: {phone}",
        },
    }
)


def _until(lang: str, until: date | None) -> str:
    if until is None:
        return NOTICES.t(lang, "indefinite")
    shown = f"{until.year}年{until.month}月{until.day}日" if lang == "ja" else until.isoformat()
    return NOTICES.t(lang, "until", until=shown)


def plan(
    session: Session,
    *,
    parent: Parent,
    sanction: Sanction,
    removed_from: Event | None,
    bar: Sanction | None,
    phone: str,
) -> int | None:
    """Tell the parent about a removal (with or without a bar from future events) or about a bar alone."""
    user = session.get(LineUser, parent.line_user_pk)
    lang = user.language if user.language in NOTICES.entries else "ja"
    items = "、".join(sanction.policy_items) if lang == "ja" else ", ".join(sanction.policy_items)
    lines = []
    if removed_from is not None:
        lines.append(NOTICES.t(lang, "removed", title=removed_from.title, items=items))
    if bar is not None:
        lines += [NOTICES.t(lang, "barred", items=items), _until(lang, bar.until)]
    lines.append(NOTICES.t(lang, "contact", phone=phone))
    return outbox.add(
        session,
        purpose="sanction_notice",
        messages=render_all([Text("\n".join(lines))]),
        line_user_id=user.line_user_id,
        dedupe_key=f"sanction-notice:{sanction.id}",
        subject=f"sanction:{sanction.id}",
    )
