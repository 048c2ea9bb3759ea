"""Staff input for a new event — a CSV row, the options of ``kosodate events add``, later a console form — read and
checked into an ``EventDraft``, with every problem named in plain words (Japanese column names are accepted).

Pure: the moment is passed in. Times are read as Asia/Tokyo and kept in UTC.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from handlers.events import views
from handlers.normalize import digits_and_dashes, keyword, text
from handlers.texts import LANGS, Catalog
from storage.clock import TOKYO
from storage.models.events import CENTRES, KINDS

MAX_AGE_MONTHS = 83  # 就学前: under six years and eleven months
MAX_CAPACITY = 1000

# Column names per field: the canonical (English) name, the Japanese one shown to staff, then other spellings.
COLUMNS: dict[str, tuple[str, ...]] = {
    "centre": ("centre", "センター", "center", "実施場所", "会場"),
    "kind": ("kind", "種類", "種別"),
    "title": ("title", "タイトル", "イベント名", "名称"),
    "description": ("description", "説明", "内容"),
    "start": ("start", "開始", "開始日時"),
    "end": ("end", "終了", "終了日時"),
    "capacity": ("capacity", "定員"),
    "opens": ("opens", "受付開始", "申込開始"),
    "closes": ("closes", "受付終了", "申込締切", "締切"),
    "approval": ("approval", "承認", "要承認"),
    "ages": ("ages", "対象月齢", "月齢"),
    "pregnant": ("pregnant", "妊娠中", "妊婦"),
    "service": ("service", "サービス", "会議サービス"),
    "join_url": ("join_url", "参加URL", "URL"),
    "meeting_id": ("meeting_id", "ミーティングID", "会議ID"),
    "passcode": ("passcode", "パスコード", "パスワード"),
}
REQUIRED = ("centre", "kind", "title", "start", "end", "capacity", "join_url", "meeting_id")
YES = {keyword(w) for w in ("はい", "要", "あり", "必要", "○", "yes", "y", "true", "1")}
NO = {keyword(w) for w in ("いいえ", "不要", "なし", "×", "no", "n", "false", "0", "")}
_DATETIME = re.compile(r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})[ T](\d{1,2}):(\d{2})(?::\d{2})?$")
_AGES = re.compile(r"^(\d{1,2})?-(\d{1,2})?$")

ERRORS = Catalog(
    {
        "ja": {
            "missing": "「{column}」が空です",
            "unknown_column": "「{column}」という列はわかりません（使える列：{known}）",
            "centre": "センターは {choices} のどれかにしてください",
            "kind": "種類は {choices} のどれかにしてください",
            "title": "タイトルは100文字以内にしてください",
            "datetime": "「{column}」は 2026-12-01 10:00 の形で書いてください",
            "order": "終了は開始より後にしてください",
            "past": "開始がすでに過ぎています",
            "window": "申込受付は、受付開始 < 受付終了 ≦ イベント開始 にしてください",
            "capacity": "定員は1〜{max}の数にしてください",
            "yes_no": "「{column}」は はい／いいえ で書いてください",
            "ages": "対象月齢は 0-11 のように書いてください（0〜{max}か月、空なら年齢の制限なし）",
            "url": "参加URLは https:// で始まるものにしてください",
            "too_long": "「{column}」が長すぎます",
        },
        "en": {
            "missing": "“{column}” is empty",
            "unknown_column": "unknown column “{column}” (known: {known})",
            "centre": "centre must be one of {choices}",
            "kind": "kind must be one of {choices}",
            "title": "the title must be at most 100 characters",
            "datetime": "“{column}” must look like 2026-12-01 10:00",
            "order": "the end must be after the start",
            "past": "the start is already past",
            "window": "applications must open before they close, and close no later than the start",
            "capacity": "capacity must be a number from 1 to {max}",
            "yes_no": "“{column}” must be yes or no",
            "ages": "ages must look like 0-11 (0 to {max} months; empty for no age limit)",
            "url": "the join URL must start with https://",
            "too_long": "“{column}” is too long",
        },
    }
)


@dataclass(frozen=True)
class EventDraft:
    """A checked new event; its fields are ``storage.events.create``'s keyword arguments."""

    centre: str
    kind: str
    title: str
    description: str
    starts_at: datetime
    ends_at: datetime
    capacity: int
    applications_open_at: datetime
    applications_close_at: datetime
    needs_approval: bool
    conference_service: str
    join_url: str
    meeting_id: str
    passcode: str
    target_min_months: int | None
    target_max_months: int | None
    target_pregnant: bool

    def fields(self) -> dict[str, Any]:
        return dict(self.__dict__)


def canonical(column: str) -> str | None:
    """The field a column name means (CSV headers, in Japanese or English), or None."""
    wanted = keyword(column)
    return next((name for name, names in COLUMNS.items() if wanted in {keyword(n) for n in names}), None)


def unknown_columns(lang: str, columns: list[str]) -> list[str]:
    known = ", ".join(names[0] for names in COLUMNS.values())
    return [ERRORS.t(lang, "unknown_column", column=c, known=known) for c in columns if canonical(c) is None]


def _choice(value: str, keys: tuple[str, ...], label) -> str | None:
    wanted = keyword(value)
    for key in keys:
        names = {key, *(label(lang, key) for lang in LANGS)}
        if key in CENTRES:
            names |= {views.centre_short(lang, key) for lang in LANGS}
        if wanted in {keyword(n) for n in names}:
            return key
    return None


def parse_moment(value: str) -> datetime | None:
    """'2026-12-01 10:00' (or with slashes, full-width digits) read as Asia/Tokyo, returned in UTC."""
    found = _DATETIME.match(text(value).replace("／", "/"))
    if not found:
        return None
    year, month, day, hour, minute = map(int, found.groups())
    try:
        return datetime(year, month, day, hour, minute, tzinfo=TOKYO).astimezone(UTC)
    except ValueError:
        return None


def _ages(value: str) -> tuple[int | None, int | None]:
    """'0-11' → (0, 11); '12-' → (12, None); '-23' → (None, 23); '' → no limit. ValueError otherwise."""
    cleaned = digits_and_dashes(value.replace("〜", "-").replace("~", "-")).replace("か月", "").replace("ヶ月", "")
    if not cleaned:
        return None, None
    found = _AGES.match(cleaned)
    if not found or found.groups() == (None, None):
        raise ValueError(value)
    low, high = (int(g) if g else None for g in found.groups())
    if max(low or 0, high or 0) > MAX_AGE_MONTHS or (low is not None and high is not None and low > high):
        raise ValueError(value)
    return low, high


def column(lang: str, name: str) -> str:
    return COLUMNS[name][0 if lang == "en" else 1]


def parse_draft(
    values: Mapping[str, str], *, moment: datetime, lang: str = "ja"
) -> tuple[EventDraft | None, list[str]]:
    """Read one event from ``values`` (keys: column names in any accepted spelling). Returns the draft, or None with
    every problem found."""

    def err(key: str, **kw: Any) -> None:
        errors.append(ERRORS.t(lang, key, **kw))

    row: dict[str, str] = {}
    for key, value in values.items():
        name = canonical(key)
        if name is not None:  # the description keeps its line breaks; everything else is one normalised line
            row[name] = str(value or "").strip() if name == "description" else text(str(value or ""))
    errors: list[str] = []
    for name in REQUIRED:
        if not row.get(name):
            err("missing", column=column(lang, name))
    if errors:
        return None, errors
    centre = _choice(row["centre"], CENTRES, views.centre)
    kind = _choice(row["kind"], KINDS, views.kind)
    if centre is None:
        err("centre", choices="／".join(views.centre(lang, c) for c in CENTRES))
    if kind is None:
        err("kind", choices="／".join(views.kind(lang, k) for k in KINDS))
    if len(row["title"]) > 100:
        err("title")
    moments = {}
    for name in ("start", "end", "opens", "closes"):
        if row.get(name):
            moments[name] = parse_moment(row[name])
            if moments[name] is None:
                err("datetime", column=column(lang, name))
    start, end = moments.get("start"), moments.get("end")
    opens = moments.get("opens") or moment
    closes = moments.get("closes") or start
    if start and end and end <= start:
        err("order")
    if start and start <= moment:
        err("past")
    if start and start > moment and opens and closes and not (opens < closes <= start):
        err("window")
    capacity = int(row["capacity"]) if row["capacity"].isdigit() else 0
    if not 1 <= capacity <= MAX_CAPACITY:
        err("capacity", max=MAX_CAPACITY)
    flags = {}
    for name in ("approval", "pregnant"):
        word = keyword(row.get(name, ""))
        flags[name] = word in YES
        if word not in YES | NO:
            err("yes_no", column=column(lang, name))
    try:
        low, high = _ages(row.get("ages", ""))
    except ValueError:
        low = high = None
        err("ages", max=MAX_AGE_MONTHS)
    if not row["join_url"].startswith("https://"):
        err("url")
    for name, limit in (("service", 40), ("meeting_id", 100), ("passcode", 100), ("join_url", 1000)):
        if len(row.get(name, "")) > limit:
            err("too_long", column=column(lang, name))
    if errors:
        return None, errors
    return EventDraft(
        centre=centre,
        kind=kind,
        title=row["title"],
        description=row.get("description", ""),
        starts_at=start,
        ends_at=end,
        capacity=capacity,
        applications_open_at=opens,
        applications_close_at=closes,
        needs_approval=flags["approval"],
        conference_service=row.get("service", ""),
        join_url=row["join_url"],
        meeting_id=row["meeting_id"],
        passcode=row.get("passcode", ""),
        target_min_months=low,
        target_max_months=high,
        target_pregnant=flags["pregnant"],
    ), []
