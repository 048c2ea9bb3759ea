"""Reminders before an event and the thank-you after it: when they go, and what they say. Pure: no database, no
clock (the moment is passed in); ``scheduler/reminders.py`` plans them as outbox rows.

When: each ``Offset`` names a moment relative to the start — "1d@10:00" is 10:00 (Tokyo) the day before, "30m" is
30 minutes before (REMINDER_OFFSETS). Nothing is pushed to parents during quiet hours (QUIET_HOURS, 21:00–08:00
by default): a reminder due then goes when they end, or not at all if the event starts first. When several
reminders are overdue at once (a late application, a worker that was down), only the latest goes: one message,
not a burst.

What: the event, its time, the participant's personal join link, one line of the room rules (policy 5, 6-(4));
the day-level reminders add the preparation of policy 4 (the app, camera, microphone, network, what to do if the
connection fails). The thank-you asks one question, 満足度 1–5, as quick replies (the "feedback" flow takes it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from handlers.events import views
from handlers.postback import encode
from handlers.replies import Choice, Reply, Text
from handlers.texts import Catalog
from storage.clock import TOKYO, to_tokyo

DEFAULT_OFFSETS = "1d@10:00,30m"
DEFAULT_QUIET_HOURS = "21:00-08:00"
SCORES = ("1", "2", "3", "4", "5")


# --- when -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Offset:
    """A reminder's moment relative to the event's start: ``days`` before at ``at`` (Tokyo), or ``before`` it."""

    key: str
    days: int = 0
    at: time | None = None
    before: timedelta = timedelta(0)

    @property
    def prepares(self) -> bool:
        """Day-level reminders come early enough to prepare: they carry the policy's preparation list."""
        return self.at is not None

    def due(self, start: datetime) -> datetime:
        if self.at is None:
            return start - self.before
        day = to_tokyo(start).date() - timedelta(days=self.days)
        return datetime.combine(day, self.at, TOKYO).astimezone(UTC)

    @property
    def reach(self) -> timedelta:
        """How long before the start this reminder can be due, at most."""
        return timedelta(days=self.days + 1) if self.at is not None else self.before


_DAY_AT = re.compile(r"^(\d{1,2})d@([01]?\d|2[0-3]):([0-5]\d)$")
_BEFORE = re.compile(r"^(\d{1,4})([mhd])$")


def parse_offsets(text: str) -> tuple[Offset, ...]:
    """ "1d@10:00,30m" → offsets. Raises ValueError with a message for the operator."""
    offsets: dict[str, Offset] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        if m := _DAY_AT.match(part):
            days, hour, minute = int(m[1]), int(m[2]), int(m[3])
            if days < 1:
                raise ValueError(f"reminder offset {part!r}: use 1d@HH:MM or more (or minutes, e.g. 30m)")
            offset = Offset(f"{days}d@{hour:02d}:{minute:02d}", days=days, at=time(hour, minute))
        elif m := _BEFORE.match(part):
            amount = timedelta(minutes=int(m[1]) * {"m": 1, "h": 60, "d": 1440}[m[2]])
            if amount <= timedelta(0):
                raise ValueError(f"reminder offset {part!r} must be before the start")
            offset = Offset(f"{int(amount.total_seconds() // 60)}m", before=amount)
        else:
            raise ValueError(f"reminder offset {part!r}: expected e.g. 1d@10:00 or 30m, 2h")
        offsets[offset.key] = offset
    return tuple(offsets.values())


@dataclass(frozen=True)
class QuietHours:
    """No pushes to parents from ``start`` until ``end`` (Tokyo); the window may cross midnight."""

    start: time
    end: time

    def contains(self, moment: datetime) -> bool:
        local = to_tokyo(moment).time()
        if self.start <= self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def release(self, moment: datetime) -> datetime:
        """``moment`` itself outside quiet hours; inside them, the moment they end."""
        if not self.contains(moment):
            return moment
        local = to_tokyo(moment)
        day = local.date() if local.time() < self.end else local.date() + timedelta(days=1)
        return datetime.combine(day, self.end, TOKYO).astimezone(UTC)


def parse_quiet_hours(text: str) -> QuietHours | None:
    """ "21:00-08:00" → QuietHours; "" or "off" → None. Raises ValueError."""
    text = text.strip()
    if text.lower() in ("", "off", "none"):
        return None
    m = re.match(r"^([01]?\d|2[0-3]):([0-5]\d)\s*-\s*([01]?\d|2[0-3]):([0-5]\d)$", text)
    if not m:
        raise ValueError(f"quiet hours {text!r}: expected HH:MM-HH:MM, e.g. 21:00-08:00 (or off)")
    start, end = time(int(m[1]), int(m[2])), time(int(m[3]), int(m[4]))
    if start == end:
        raise ValueError("quiet hours must not start and end at the same time")
    return QuietHours(start, end)


@dataclass(frozen=True)
class Schedule:
    offsets: tuple[Offset, ...]
    quiet: QuietHours | None = None
    # The thank-you goes this long after the end, and is not worth sending after ``thanks_until``.
    thanks_after: timedelta = timedelta(minutes=10)
    thanks_until: timedelta = timedelta(days=2)

    @property
    def horizon(self) -> timedelta:
        """How far ahead of an event's start its reminders are planned: a day before the earliest can be due, so
        staff see them coming (``kosodate outbox status --event``)."""
        return max((o.reach for o in self.offsets), default=timedelta(0)) + timedelta(days=1)

    def send_time(self, due: datetime) -> datetime:
        return self.quiet.release(due) if self.quiet else due

    def reminders(self, start: datetime, moment: datetime) -> dict[Offset, datetime]:
        """The reminders of an event starting at ``start``, as seen at ``moment``: offset → when it goes.

        A reminder that would go at or after the start is left out; of those already due, only the latest stays.
        """
        times = {o: self.send_time(o.due(start)) for o in self.offsets}
        times = {o: at for o, at in times.items() if at < start}
        overdue = [o for o, at in times.items() if at <= moment]
        latest = max(overdue, key=lambda o: (times[o], -o.reach), default=None)
        return {o: at for o, at in times.items() if at > moment or o == latest}

    def thanks_time(self, ends_at: datetime) -> datetime:
        return self.send_time(ends_at + self.thanks_after)


# --- what -------------------------------------------------------------------------------------------------
TEXTS = Catalog(
    {
        "ja": {
            "reminder.prepare": "「{title}」のご案内です。",
            "reminder.soon": "まもなく「{title}」が始まります。",
            "reminder.body": "日時：{when}\nあなた専用の参加用ページ：\n{url}\n（開始{minutes}分前から参加方法が表示されます）",
            "reminder.rules": "録画・録音・撮影やSNSへの投稿はせず、このリンクはほかの人に教えないでください。",
            "prepare": "【前日までのご準備】\n"
            "・WEB会議アプリを、お使いのスマートフォン・パソコン・タブレットにインストールし、最新版に更新してください。\n"
            "・カメラ、マイク、スピーカー（イヤホン）と、インターネットへの接続を事前にお確かめください。\n"
            "・当日つながらないときは、アプリや端末を再起動し、Wi-Fi・モバイル通信を確かめてから、参加用ページをもう一度開いてください。それでも参加できないときは、地域子育て支援課（{phone}）へご連絡ください。\n"
            "※通信環境や機器の不具合で参加できない場合があることを、あらかじめご了承ください。機器をお持ちでない方は、貸し出しのご相談もできます。",
            "thanks": "「{title}」にご参加いただき、ありがとうございました。\nよろしければ、今日の満足度を1〜5で教えてください（5がいちばん満足）。",
            "thanks.score": "満足度 {score}",
        },
        "en": {
            "reminder.prepare": "A reminder of “{title}”.",
            "reminder.soon": "“{title}” starts soon.",
            "reminder.body": "When: {when}\nYour personal join page:\n{url}\n(It shows how to join from {minutes} minutes before the start.)",
            "reminder.rules": "Please do not record, film or post anything on social media, and do not share this link.",
            "prepare": "[Before the day]\n"
            "- Install the web-conference app on your phone, computer or tablet, and update it to the latest version.\n"
            "- Check your camera, microphone, speaker (or earphones) and internet connection beforehand.\n"
            "- If you cannot connect on the day, restart the app and your device, check your Wi-Fi or mobile data, then open your join page again. If it still does not work, please call the Community Child-rearing Support Division ({phone}).\n"
            "Please note that problems with your connection or equipment may prevent you from taking part. If you have no suitable device, ask us about borrowing one.",
            "thanks": "Thank you for joining “{title}”.\nIf you have a moment, how satisfied were you today, from 1 to 5 (5 = very satisfied)?",
            "thanks.score": "Satisfaction {score}",
        },
    }
)
t = TEXTS.t


@dataclass(frozen=True)
class ReminderFacts:
    """What a reminder says, gathered by the planner: never the web-conference details, only the personal link."""

    lang: str
    title: str
    starts_at: datetime
    ends_at: datetime
    join_url: str
    opens_minutes: int
    contact_phone: str


def reminder(facts: ReminderFacts, offset: Offset) -> list[Reply]:
    """Plain text, not a card: the phone's notification then shows the event and its time, and the link in the
    text can be tapped (LINE links URLs in text)."""
    lang, when = facts.lang, views.when(facts.lang, facts.starts_at, facts.ends_at)
    kind = "prepare" if offset.prepares else "soon"
    text = "\n".join(
        (
            t(lang, f"reminder.{kind}", title=facts.title),
            t(lang, "reminder.body", when=when, url=facts.join_url, minutes=facts.opens_minutes),
            t(lang, "reminder.rules"),
        )
    )
    if offset.prepares:
        return [Text(text), Text(t(lang, "prepare", phone=facts.contact_phone))]
    return [Text(text)]


def score_postback(event_id: int, score: str) -> str:
    """The quick reply of the thank-you: starts the feedback flow with the event and the score."""
    return encode("feedback", "start", f"{event_id}.{score}")


def thanks(lang: str, event_id: int, title: str) -> list[Reply]:
    quick = tuple(
        Choice(score, data=score_postback(event_id, score), display=t(lang, "thanks.score", score=score))
        for score in SCORES
    )
    return [Text(t(lang, "thanks", title=title), quick=quick)]
