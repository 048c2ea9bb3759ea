"""How events read to parents, in Japanese and English: centre and kind names, dates in Asia/Tokyo, the target, seats,
application statuses. Shared by the flows, the notices, the join page and the staff commands."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from handlers.events.rules import ApplicationInfo, EventInfo
from handlers.texts import Catalog
from storage.clock import to_tokyo

LABELS = Catalog(
    {
        "ja": {
            "centre.division": "地域子育て支援課",
            "centre.minamihoncho": "南本町子育て支援センター",
            "centre.takanedai": "高根台子育て支援センター",
            "centre_short.division": "支援課",
            "centre_short.minamihoncho": "南本町",
            "centre_short.takanedai": "高根台",
            "kind.meetup": "交流会",
            "kind.consultation": "相談",
            "kind.class": "講座",
            "weekdays": "月火水木金土日",
            "date": "{month}月{day}日({weekday})",
            "when": "{date} {start}〜{end}",
            "when.days": "{date} {start}〜{end_date} {end}",
            "age.months": "{months}か月",
            "age.years": "{years}歳",
            "age.years_months": "{years}歳{months}か月",
            "target.range": "{low}〜{high}のお子さんと保護者",
            "target.from": "{low}以上のお子さんと保護者",
            "target.upto": "{high}までのお子さんと保護者",
            "target.pregnant": "妊娠中の方",
            "target.and": "{children}、{pregnant}",
            "target.everyone": "どなたでも（就学前のお子さんと保護者・妊娠中の方）",
            "seats.left": "残り{n}名",
            "seats.full": "満席（キャンセル待ち{n}名）",
            "status.confirmed": "参加確定",
            "status.pending": "承認待ち",
            "status.waitlisted": "キャンセル待ち（{n}番目）",
            "status.declined": "今回はお受けできませんでした",
            "status.cancelled": "中止になりました",
        },
        "en": {
            "centre.division": "Community Child-rearing Support Division",
            "centre.minamihoncho": "Minamihoncho Child-rearing Support Centre",
            "centre.takanedai": "Takanedai Child-rearing Support Centre",
            "centre_short.division": "Division",
            "centre_short.minamihoncho": "Minamihoncho",
            "centre_short.takanedai": "Takanedai",
            "kind.meetup": "Meetup",
            "kind.consultation": "Consultation",
            "kind.class": "Class",
            "weekdays": "Mon,Tue,Wed,Thu,Fri,Sat,Sun",
            "date": "{weekday} {day} {month_name}",
            "when": "{date}, {start}–{end}",
            "when.days": "{date} {start} – {end_date} {end}",
            "age.months": "{months} months",
            "age.years": "{years} years",
            "age.years_months": "{years} years {months} months",
            "target.range": "children aged {low} to {high}, with a parent",
            "target.from": "children aged {low} or more, with a parent",
            "target.upto": "children up to {high}, with a parent",
            "target.pregnant": "pregnant people",
            "target.and": "{children}; {pregnant}",
            "target.everyone": "everyone (pre-school children with a parent, pregnant people)",
            "seats.left": "{n} places left",
            "seats.full": "Full ({n} on the waitlist)",
            "status.confirmed": "Confirmed",
            "status.pending": "Waiting for approval",
            "status.waitlisted": "Waitlist (number {n})",
            "status.declined": "Not accepted this time",
            "status.cancelled": "Cancelled",
        },
    }
)
MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

t = LABELS.t


def centre(ctx: Any, key: str) -> str:
    return t(ctx, f"centre.{key}")


def centre_short(ctx: Any, key: str) -> str:
    return t(ctx, f"centre_short.{key}")


def kind(ctx: Any, key: str) -> str:
    return t(ctx, f"kind.{key}")


def date_text(ctx: Any, moment: datetime) -> str:
    local = to_tokyo(moment)
    weekdays = t(ctx, "weekdays")
    names = weekdays.split(",") if "," in weekdays else list(weekdays)
    return t(
        ctx,
        "date",
        month=local.month,
        day=local.day,
        weekday=names[local.weekday()],
        month_name=MONTHS_EN[local.month - 1],
    )


def clock(moment: datetime) -> str:
    return to_tokyo(moment).strftime("%H:%M")


def when(ctx: Any, starts_at: datetime, ends_at: datetime) -> str:
    """「12月1日(月) 10:00〜11:00」, in Asia/Tokyo."""
    if to_tokyo(starts_at).date() == to_tokyo(ends_at).date():
        return t(ctx, "when", date=date_text(ctx, starts_at), start=clock(starts_at), end=clock(ends_at))
    return t(
        ctx,
        "when.days",
        date=date_text(ctx, starts_at),
        start=clock(starts_at),
        end_date=date_text(ctx, ends_at),
        end=clock(ends_at),
    )


def moment_text(ctx: Any, moment: datetime) -> str:
    return f"{date_text(ctx, moment)} {clock(moment)}"


def age(ctx: Any, months: int) -> str:
    years, rest = divmod(months, 12)
    if not years:
        return t(ctx, "age.months", months=rest)
    if not rest:
        return t(ctx, "age.years", years=years)
    return t(ctx, "age.years_months", years=years, months=rest)


def target(ctx: Any, event: EventInfo) -> str:
    low, high = event.target_min_months, event.target_max_months
    children = ""
    if low is not None and high is not None:
        children = t(ctx, "target.range", low=age(ctx, low), high=age(ctx, high))
    elif low is not None:
        children = t(ctx, "target.from", low=age(ctx, low))
    elif high is not None:
        children = t(ctx, "target.upto", high=age(ctx, high))
    pregnant = t(ctx, "target.pregnant") if event.target_pregnant else ""
    if children and pregnant:
        return t(ctx, "target.and", children=children, pregnant=pregnant)
    return children or pregnant or t(ctx, "target.everyone")


def seats(ctx: Any, event: EventInfo) -> str:
    return t(ctx, "seats.full", n=event.waiting) if event.full else t(ctx, "seats.left", n=event.seats_left)


def status(ctx: Any, application: ApplicationInfo) -> str:
    if application.event.status == "cancelled":
        return t(ctx, "status.cancelled")
    return t(ctx, f"status.{application.status}", n=application.position or "")
