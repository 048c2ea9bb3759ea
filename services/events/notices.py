"""What parents are told about events outside a conversation — their personal join link, a place from the waitlist,
staff decisions, a new time, a cancellation, a new event — planned as outbox rows in the transaction of the change.

Every row has a dedupe key, so planning the same notice twice sends it once; notices of a change carry the event's
version. Join-link rows are checked again when they are sent (``DELIVERY_CHECKS``, registered by runtime/lanes.py):
a link is never delivered to someone who is not, at that moment, a confirmed participant in good standing.
No message here ever contains the web-conference join URL, meeting ID or passcode: only the personal link does.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from handlers.events import views
from handlers.events.rules import EventInfo
from handlers.postback import encode
from handlers.replies import Card, Choice, Reply, Text
from handlers.texts import Catalog
from runtime.render import render_all
from services.events.facts import info
from storage import enrollments, join_links, outbox
from storage.clock import now
from storage.models import Enrollment, Event, JoinLink, LineUser, OutboxMessage

MULTICAST_MAX = 500

NOTICES = Catalog(
    {
        "ja": {
            "link.applied": "参加が確定しました",
            "link.approved": "お申し込みが承認されました",
            "link.promoted": "キャンセル待ちから参加が決まりました",
            "link.reissued": "新しい参加用リンクです",
            "link.reissued_note": "前のリンクは使えなくなりました。これからはこちらをお使いください。",
            "link.how": "参加用ページは、開始{minutes}分前から参加方法を表示します。",
            "link.rules": "・録画・録音・撮影や、SNSへの投稿はしないでください\n・このリンクはあなた専用です。ほかの人に渡さないでください",
            "link.alt": "{what}：{title}",
            "link.open": "参加用ページを開く",
            "link.calendar": "カレンダーに追加",
            "link.applications": "申込状況を見る",
            "promoted.pending": "キャンセル待ちの順番が来ました。「{title}」（{when}）は、スタッフが確認してからご参加が決まります。結果はこのトークでお知らせします。",
            "declined": "申し訳ありません。「{title}」（{when}）のお申し込みは、今回はお受けできませんでした。ほかのイベントもぜひご覧ください。",
            "race.waitlisted": "お申し込みの間に満席になったため、「{title}」はキャンセル待ちで登録しました（{n}番目）。順番が来たら、このトークでお知らせします。",
            "race.pending": "「{title}」は参加枠が空いていたため、お申し込みを受け付けました。スタッフが確認してからご参加が決まります（承認待ち）。",
            "race.refused": "ごめんなさい、「{title}」へのお申し込みは受け付けられませんでした。お手数ですが、「イベント一覧」からもう一度ご確認ください。",
            "changed": "「{title}」の日時が変わりました。\n新しい日時：{when}\n（変更前：{old}）\nご都合が合わなくなったときは、「申込状況」からキャンセルできます。",
            "cancelled": "申し訳ありません。「{title}」（{when}）は中止になりました。\nほかのイベントは「イベント一覧」からご覧いただけます。",
            "announce.title": "新しいイベントのお知らせ",
            "announce.window": "申込受付：{opens}〜{closes}",
            "announce.settings": "お知らせの設定は「イベント一覧」の「お知らせ設定」から変えられます。",
            "announce.alt": "新しいイベント：{title}",
            "events": "イベント一覧",
            "applications": "申込状況",
        },
        "en": {
            "link.applied": "Your place is confirmed",
            "link.approved": "Your application was approved",
            "link.promoted": "A place opened up for you",
            "link.reissued": "Your new join link",
            "link.reissued_note": "The previous link no longer works. Please use this one from now on.",
            "link.how": "The join page shows how to join from {minutes} minutes before the start.",
            "link.rules": "- Please do not record, film or post anything from the session on social media\n- This link is yours alone: please do not pass it on",
            "link.alt": "{what}: {title}",
            "link.open": "Open join page",
            "link.calendar": "Add to calendar",
            "link.applications": "My applications",
            "promoted.pending": "It is your turn on the waitlist for “{title}” ({when}). Staff will check your application and let you know here.",
            "declined": "We are sorry: we could not accept your application for “{title}” ({when}) this time. Do have a look at our other events.",
            "race.waitlisted": "The event filled up while you were applying, so you are on the waitlist for “{title}” (number {n}). We will tell you here when a place opens up.",
            "race.pending": "There was a free place for “{title}”, so your application was accepted. Staff will check it and let you know (waiting for approval).",
            "race.refused": "Sorry, we could not take your application for “{title}”. Please check the event list again.",
            "changed": "The time of “{title}” has changed.\nNew time: {when}\n(Before: {old})\nIf it no longer suits you, you can cancel in “My applications”.",
            "cancelled": "We are sorry: “{title}” ({when}) has been cancelled.\nYou can see our other events in “Events”.",
            "announce.title": "A new event",
            "announce.window": "Applications: {opens} – {closes}",
            "announce.settings": "You can change these notices in “Events” → “Notices”.",
            "announce.alt": "New event: {title}",
            "events": "Events",
            "applications": "My applications",
        },
    }
)
t = NOTICES.t


def _user(session: Session, enrollment: Enrollment) -> LineUser:
    return session.get(LineUser, enrollment.parent.line_user_pk)


def _stamp(moment) -> int:
    return int(moment.timestamp())


def _push(
    session: Session, user: LineUser, purpose: str, replies: list[Reply], dedupe_key: str, subject: str | None = None
) -> int | None:
    return outbox.add(
        session,
        purpose=purpose,
        messages=render_all(replies),
        line_user_id=user.line_user_id,
        dedupe_key=dedupe_key,
        subject=subject,
    )


def join_link_card(
    lang: str, event: EventInfo, join_url: str, calendar_url: str, *, reason: str, opens_minutes: int
) -> Card:
    lines = [event.title, views.when(lang, event.starts_at, event.ends_at)]
    if reason == "reissued":
        lines.append(t(lang, "link.reissued_note"))
    lines += [t(lang, "link.how", minutes=opens_minutes), t(lang, "link.rules")]
    buttons = (
        Choice(t(lang, "link.open"), uri=join_url),
        Choice(t(lang, "link.calendar"), uri=calendar_url),
        Choice(t(lang, "link.applications"), data=encode("applications", "start")),
    )
    return Card(
        title=t(lang, f"link.{reason}"),
        lines=tuple(lines),
        buttons=buttons,
        alt=t(lang, "link.alt", what=t(lang, f"link.{reason}"), title=event.title),
    )


def plan_join_link(session: Session, enrollment: Enrollment, base_url: str, reason: str) -> int | None:
    """Send a confirmed participant their live personal link (reason: applied, approved, promoted, reissued)."""
    link = join_links.live(session, enrollment.id)
    if link is None:
        return None
    user = _user(session, enrollment)
    # By reference: the sender fills the tokens in (storage.join_links.fill), the outbox never holds them.
    join_url, calendar_url = join_links.join_url(base_url, link.id), join_links.calendar_url(base_url, enrollment)
    card = join_link_card(
        user.language,
        info(enrollment.event),
        join_url,
        calendar_url,
        reason=reason,
        opens_minutes=enrollment.event.join_opens_minutes,
    )
    return _push(session, user, "join_link", [card], f"join-link:{link.id}", subject=f"join_link:{link.id}")


def _when(lang: str, event: Event) -> str:
    return views.when(lang, event.starts_at, event.ends_at)


def plan_promoted_pending(session: Session, enrollment: Enrollment) -> int | None:
    user, event = _user(session, enrollment), enrollment.event
    text = t(user.language, "promoted.pending", title=event.title, when=_when(user.language, event))
    return _push(
        session,
        user,
        "application_update",
        [Text(text)],
        f"promoted:{enrollment.id}:{_stamp(enrollment.queued_at)}",
        subject=f"enrollment:{enrollment.id}",
    )


def plan_declined(session: Session, enrollment: Enrollment) -> int | None:
    user, event = _user(session, enrollment), enrollment.event
    text = t(user.language, "declined", title=event.title, when=_when(user.language, event))
    return _push(
        session,
        user,
        "application_update",
        [Text(text)],
        f"declined:{enrollment.id}:{_stamp(enrollment.applied_at)}",
        subject=f"enrollment:{enrollment.id}",
    )


def plan_correction(session: Session, enrollment: Enrollment, actual: str) -> int | None:
    """The parent was told one outcome from the state they saw, and the seats said another (a near-simultaneous
    application): tell them what really happened (``actual``: waitlisted or pending)."""
    user, event = _user(session, enrollment), enrollment.event
    key = "race.waitlisted" if actual == "waitlisted" else "race.pending"
    text = t(user.language, key, title=event.title, n=enrollments.waitlist_position(session, enrollment) or "")
    return _push(
        session,
        user,
        "application_update",
        [Text(text)],
        f"apply-outcome:{enrollment.id}:{_stamp(enrollment.applied_at)}",
        subject=f"enrollment:{enrollment.id}",
    )


def plan_refused(session: Session, user: LineUser, event: Event) -> int | None:
    """The rules said no on the final check (the parent's view was a moment old): say so instead of silence."""
    text = t(user.language, "race.refused", title=event.title)
    return _push(
        session,
        user,
        "application_update",
        [Text(text)],
        f"apply-refused:{event.id}:{user.id}:{_stamp(now())}",
        subject=f"event:{event.id}",
    )


def plan_changed(session: Session, event: Event, affected: list[Enrollment], old_start, old_end) -> int:
    """Tell everyone with a live application the new time (once per change: the key has the event's version)."""
    planned = 0
    for enrollment in affected:
        user = _user(session, enrollment)
        lang = user.language
        text = t(lang, "changed", title=event.title, when=_when(lang, event), old=views.when(lang, old_start, old_end))
        quick = (Choice(t(lang, "applications"), data=encode("applications", "start")),)
        if _push(
            session,
            user,
            "event_changed",
            [Text(text, quick=quick)],
            f"event-changed:{event.id}:v{event.version}:{enrollment.id}",
            subject=f"event:{event.id}",
        ):
            planned += 1
    return planned


def plan_cancelled(session: Session, event: Event, affected: list[Enrollment]) -> int:
    planned = 0
    for enrollment in affected:
        user = _user(session, enrollment)
        lang = user.language
        text = t(lang, "cancelled", title=event.title, when=_when(lang, event))
        quick = (Choice(t(lang, "events"), data=encode("events", "start")),)
        if _push(
            session,
            user,
            "event_cancelled",
            [Text(text, quick=quick)],
            f"event-cancelled:{event.id}:v{event.version}:{enrollment.id}",
            subject=f"event:{event.id}",
        ):
            planned += 1
    return planned


def announcement_card(lang: str, event: EventInfo) -> Card:
    lines = (
        event.title,
        f"{views.centre(lang, event.centre)}・{views.kind(lang, event.kind)}",
        views.when(lang, event.starts_at, event.ends_at),
        views.target(lang, event),
        t(
            lang,
            "announce.window",
            opens=views.moment_text(lang, event.opens_at),
            closes=views.moment_text(lang, event.closes_at),
        ),
        t(lang, "announce.settings"),
    )
    return Card(
        title=t(lang, "announce.title"),
        lines=lines,
        buttons=(Choice(t(lang, "events"), data=encode("events", "start")),),
        alt=t(lang, "announce.alt", title=event.title),
    )


def plan_announcement(session: Session, event: Event, recipients: list[tuple[str, str]], not_before=None) -> int:
    """Multicast the new event to (LINE user id, language) pairs: one row per language and 500 recipients."""
    by_lang: dict[str, list[str]] = {}
    for line_user_id, lang in recipients:
        by_lang.setdefault(lang if lang in ("ja", "en") else "ja", []).append(line_user_id)
    rows = 0
    for lang, ids in sorted(by_lang.items()):
        messages = render_all([announcement_card(lang, info(event))])
        for i in range(0, len(ids), MULTICAST_MAX):
            if outbox.add(
                session,
                purpose="event_announcement",
                messages=messages,
                recipients=ids[i : i + MULTICAST_MAX],
                dedupe_key=f"announce:{event.id}:{lang}:{i // MULTICAST_MAX}",
                not_before=not_before,
                not_after=event.applications_close_at,
                subject=f"event:{event.id}",
            ):
                rows += 1
    return rows


# --- checks at send time (runtime/delivery.py) -------------------------------------------------------------------
def _subject_id(row: OutboxMessage, prefix: str) -> int | None:
    kind, _, value = (row.subject or "").partition(":")
    return int(value) if kind == prefix and value.isdigit() else None


def check_join_link(session: Session, row: OutboxMessage) -> str | None:
    link = session.get(JoinLink, _subject_id(row, "join_link") or 0)
    if link is None or link.revoked_at is not None:
        return "the join link was revoked"
    reason = enrollments.refusal(session, link.enrollment)
    if reason:
        return f"not a participant in good standing: {reason}"
    if link.enrollment.event.ends_at <= now():
        return "the event is over"
    return None


def check_announcement(session: Session, row: OutboxMessage) -> str | None:
    event = session.get(Event, _subject_id(row, "event") or 0)
    if event is None or event.status != "published":
        return "the event is no longer published"
    if event.applications_close_at <= now():
        return "applications have closed"
    return None


# Held back by the worker during the configured quiet hours (bot/delivery.quiet_purposes). Join links and waitlist
# promotions are not: the parent is waiting for them, and a promotion may come shortly before the start.
QUIET_PURPOSES = frozenset({"event_announcement", "event_changed", "event_cancelled"})

# bot/delivery.eligibility_checks entries: (session, row) -> why it must not be sent, or None.
DELIVERY_CHECKS: dict[str, Any] = {"join_link": check_join_link, "event_announcement": check_announcement}
