"""お知らせ from staff to a segment of parents: the messages as LINE shows them, their release into the outbox as
multicast rows, and the checks just before each row is sent.

Why multicast and not LINE's narrowcast: narrowcast needs an audience uploaded to LINE (the LINE ids of the
segment, kept on LINE's side) and reports only totals, while the consent, opt-out and block checks must be ours and
made again just before sending. A multicast row names its ≤ 500 recipients in our outbox, so each recipient can be
left out at send time with a reason (counted for the delivery report), and the row's ``X-Line-Retry-Key`` makes a
retry after a timeout or a crash safe. 10,000 parents are 20 requests, far below LINE's 200 multicasts a second.

Registered with runtime.delivery by runtime/lanes.py: ``QUIET_PURPOSES`` (a non-urgent お知らせ waits for the end of
quiet hours), ``DELIVERY_CHECKS`` (a cancelled broadcast does not go) and ``RECIPIENT_CHECKS`` (who of a row's
recipients may still receive it: not blocked, consented to the current policy, not opted out).
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from handlers.postback import encode
from handlers.replies import Choice, Reply, Text
from handlers.texts import Catalog
from runtime.render import quick_reply, render_all
from services.events.facts import info
from services.events.notices import announcement_card
from storage import audit, broadcasts, events, outbox
from storage.broadcasts import Audience
from storage.clock import now
from storage.models import Broadcast, OutboxMessage

log = logging.getLogger(__name__)

PURPOSE = "broadcast"
URGENT_PURPOSE = "broadcast_urgent"
# A お知らせ not out within a day of its time (a long outage) is stale: it expires instead.
STALE_AFTER = timedelta(days=1)

TEXTS = Catalog(
    {
        "ja": {
            "footer": "（{sender}からのお知らせです。受け取りを止めるときは「お知らせの停止」と送ってください）",
            "stop": "お知らせの停止",
            "image.alt": "画像",
        },
        "en": {
            "footer": "(A notice from {sender}. To stop these notices, send “お知らせの停止”.)",
            "stop": "Stop notices",
            "image.alt": "Image",
        },
    }
)
SENDERS = {
    "ja": {
        None: "船橋市 地域子育て支援課",
        "division": "船橋市 地域子育て支援課",
        "minamihoncho": "南本町子育て支援センター",
        "takanedai": "高根台子育て支援センター",
    },
    "en": {
        None: "Funabashi City",
        "division": "Funabashi City",
        "minamihoncho": "Minamihoncho centre",
        "takanedai": "Takanedai centre",
    },
}


def messages(session: Session, broadcast: Broadcast, lang: str) -> list[dict[str, Any]]:
    """The LINE messages of a broadcast in one language: the text (with who sends it and how to stop), then the
    image, then the event card; 「お知らせの停止」 as a quick reply on the last one."""
    lang = lang if lang in ("ja", "en") else "ja"
    replies: list[Reply] = [
        Text(
            f"{broadcast.text}\n\n"
            + TEXTS.t(lang, "footer", sender=SENDERS[lang].get(broadcast.centre, SENDERS[lang][None]))
        )
    ]
    event = events.get(session, broadcast.card_event_id) if broadcast.card_event_id else None
    out = render_all(replies)
    if broadcast.image_url:
        out.append({"type": "image", "originalContentUrl": broadcast.image_url, "previewImageUrl": broadcast.image_url})
    if event is not None:
        out += render_all([announcement_card(lang, info(event))])
    out[-1]["quickReply"] = quick_reply((Choice(TEXTS.t(lang, "stop"), data=encode("news", "start", "off")),))
    return out


def release(session: Session, broadcast: Broadcast, threshold: int, actor: Any = None) -> int | None:
    """Resolve the audience now, leave out who may not receive it, and plan the multicast rows (one per language
    and 500 parents). Returns how many parents it goes to, or None when it must wait for approval: the audience grew
    past ``threshold`` since it was composed and nobody approved it. The send is in the audit trail (counts only),
    by ``actor`` (the staff member who pressed 送信) or the worker."""
    audience = broadcasts.members(session, Audience.of(broadcast))
    reasons = broadcasts.exclusions(session, [m.user_pk for m in audience])
    eligible = [m for m in audience if m.user_pk not in reasons]
    if len(eligible) > threshold and broadcast.approved_by is None:
        broadcast.status = "awaiting_approval"
        log.info("broadcast %s waits for approval: its audience grew to %d", broadcast.id, len(eligible))
        return None
    by_lang: dict[str, list[str]] = {}
    for m in eligible:
        by_lang.setdefault(m.language if m.language in ("ja", "en") else "ja", []).append(m.line_user_id)
    purpose = URGENT_PURPOSE if broadcast.urgent else PURPOSE
    moment = now()
    ids: list[int] = []
    for lang, recipients in sorted(by_lang.items()):
        ids += outbox.add_multicast(
            session,
            purpose=purpose,
            messages=messages(session, broadcast, lang),
            recipients=recipients,
            dedupe_key=f"broadcast:{broadcast.id}:{lang}",
            subject=f"{broadcasts.SUBJECT}:{broadcast.id}",
            not_before=moment,
            not_after=max(broadcast.send_at, moment) + STALE_AFTER,
        )
    counted = dict(Counter(reasons.values()))
    broadcasts.released(session, broadcast, len(audience), counted, ids)
    audit.record(
        session,
        action="broadcast.send",
        actor=actor,
        actor_label=None if actor else "system",
        subject_type="broadcast",
        subject_id=broadcast.id,
        details=broadcasts.as_details(
            broadcast,
            audience_size=len(audience),
            sent_to=len(eligible),
            rows=len(ids),
            **{f"excluded_{k}": v for k, v in counted.items()},
        ),
    )
    log.info(
        "broadcast %s released: %d parents in %d rows, %d left out",
        broadcast.id,
        len(eligible),
        len(ids),
        len(reasons),
    )
    return len(eligible)


def release_due(session: Session, threshold: int) -> int:
    """The worker's job: release every scheduled broadcast whose time has come. Returns how many."""
    done = 0
    for broadcast in broadcasts.due(session):
        if release(session, broadcast, threshold) is not None:
            done += 1
    return done


# --- checks at send time (runtime/delivery.py) -------------------------------------------------------------------
def check_broadcast(session: Session, row: OutboxMessage) -> str | None:
    broadcast = session.get(Broadcast, broadcasts.broadcast_of(row) or 0)
    if broadcast is None or broadcast.status == "cancelled":
        return "the broadcast was cancelled"
    return None


QUIET_PURPOSES = frozenset({PURPOSE})
DELIVERY_CHECKS: dict[str, Any] = {PURPOSE: check_broadcast, URGENT_PURPOSE: check_broadcast}
RECIPIENT_CHECKS: dict[str, Any] = {PURPOSE: broadcasts.check_batches, URGENT_PURPOSE: broadcasts.check_batches}
