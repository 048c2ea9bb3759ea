"""What a registration answer must look like: names, ふりがな, phone numbers, birth and due months, centres.

Pure functions over already-normalised text (``handlers.normalize``); each returns the value to store, or a
reason key (``Invalid``) the flow turns into a kind explanation. Months are "YYYY-MM" strings in flow data and
become the first day of the month in storage.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

from handlers import normalize

CENTRES = ("division", "minamihoncho", "takanedai")
ROLES = ("guardian", "pregnant", "both")
MAX_CHILDREN = 8
MAX_NAME = 50
DUE_MONTHS_AHEAD = 10  # a due month from this month to ten months ahead is plausible
SCHOOL_AGE = 6  # children enter elementary school in the April after turning six (born on 1 April: a year earlier)


@dataclass(frozen=True)
class Invalid:
    """Why an answer was not accepted: a key in the registration catalogue."""

    reason: str


# --- people ------------------------------------------------------------------------------------------------------
_KANA = re.compile(r"^[ぁ-ゖァ-ヺー・ ゝゞヽヾ]+$")
_SPLITTERS = re.compile(r"\s*[/／,、]\s*")
_BRACKETS = re.compile(r"^(.+?)\s*[(（【\[]\s*(.+?)\s*[)）】\]]$")


def is_kana(value: str) -> bool:
    return bool(_KANA.match(value))


def _has_japanese(value: str) -> bool:
    return any(unicodedata.name(ch, "").startswith(("CJK", "HIRAGANA", "KATAKANA")) for ch in value)


def name_problem(name: str) -> str | None:
    if not name:
        return "name.empty"
    if len(name) > MAX_NAME:
        return "name.too_long"
    if any(ch.isdigit() for ch in name) or "@" in name or "://" in name:
        return "name.not_a_name"
    if not any(ch.isalpha() for ch in name):
        return "name.not_a_name"
    return None


def parse_name(raw: str) -> tuple[str, str | None] | Invalid:
    """The name and, when the parent gave it in the same message, its ふりがな (hiragana).

    Accepts "船橋 花子（ふなばし はなこ）", "船橋 花子 / ふなばし はなこ", "船橋 花子 ふなばし はなこ" (two lines become one
    line with a space). A name written in kana is its own reading; a name in Latin letters needs none (""). Otherwise
    the reading is None: the flow asks for it next.
    """
    text = normalize.text(raw)
    name, reading = text, None
    bracket = _BRACKETS.match(text)
    parts = _SPLITTERS.split(text, maxsplit=1)
    words = text.split(" ")
    half = len(words) // 2
    if bracket and is_kana(bracket.group(2)):
        name, reading = bracket.group(1), bracket.group(2)
    elif len(parts) == 2 and is_kana(parts[1]):
        name, reading = parts
    elif (
        len(words) >= 4
        and len(words) % 2 == 0
        and is_kana(" ".join(words[half:]))
        and not is_kana(" ".join(words[:half]))
    ):  # not 2 words: "山田 さくら" is a name whose given name is kana
        name, reading = " ".join(words[:half]), " ".join(words[half:])
    problem = name_problem(name)
    if problem:
        return Invalid(problem)
    if reading is not None:
        return name, normalize.to_hiragana(reading)
    if is_kana(name):
        return name, normalize.to_hiragana(name)
    if not _has_japanese(name):
        return name, ""
    return name, None


def parse_furigana(raw: str) -> str | Invalid:
    text = normalize.text(raw)
    if not text:
        return Invalid("furigana.empty")
    if len(text) > MAX_NAME:
        return Invalid("name.too_long")
    if not is_kana(text):
        return Invalid("furigana.not_kana")
    return normalize.to_hiragana(text)


# --- phone numbers -----------------------------------------------------------------------------------------------
MOBILE_PREFIXES = ("070", "080", "090")
IP_PHONE_PREFIX = "050"
# Free-dial, navi-dial and premium numbers reach a company, not the parent.
SERVICE_PREFIXES = ("0120", "0570", "0800", "0990", "0180")


def parse_phone(raw: str) -> str | Invalid:
    """Digits only ("09012345678"), from "090-1234-5678", "０９０ １２３４ ５６７８", "+81 90 1234 5678" and so on."""
    text = normalize.digits_and_dashes(raw)
    if text.startswith("+81"):
        text = "0" + text[3:].lstrip("-")
    digits = text.replace("-", "")
    if not digits.isdigit():
        return Invalid("phone.format")
    if not digits.startswith("0"):
        return Invalid("phone.format")
    if digits.startswith(SERVICE_PREFIXES):
        return Invalid("phone.service")
    if digits.startswith((*MOBILE_PREFIXES, IP_PHONE_PREFIX)):
        return digits if len(digits) == 11 else Invalid("phone.length")
    if len(digits) < 3 or "0" in digits[1:3]:  # 00 is international; other 0X0 (pagers, M2M) are no parent's phone
        return Invalid("phone.format")
    # A landline: 0, an area code and the subscriber number make ten digits.
    return digits if len(digits) == 10 else Invalid("phone.length")


def format_phone(digits: str) -> str:
    """How a number is shown back. Mobile and IP numbers have one grouping; landline area codes vary (04-7xxx in
    Matsudo, 047-4xx in Funabashi), so those are shown as the digits they are."""
    if len(digits) == 11:
        return f"{digits[:3]}-{digits[3:7]}-{digits[7:]}"
    if digits.startswith(("03", "06")):
        return f"{digits[:2]}-{digits[2:6]}-{digits[6:]}"
    return digits


# --- months ------------------------------------------------------------------------------------------------------
ERAS = {"令和": 2018, "r": 2018, "平成": 1988, "h": 1988}
MONTH_NAMES = {
    name: i + 1
    for i, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ]
    )
    for name in names
}
_ERA = re.compile(r"(令和|平成|(?<![a-z])r|(?<![a-z])h)\s*(\d{1,2}|元)\s*(?:年|[./\-\s])\s*(\d{1,2})(?!\d)")
_YEAR_FIRST = re.compile(r"(?<!\d)(\d{4})\s*(?:年|[./\-\s])\s*(\d{1,2})(?!\d)")
_COMPACT = re.compile(r"(?<!\d)(\d{4})(\d{2})(?:\d{2})?(?!\d)")
_MONTH_FIRST = re.compile(r"(?<!\d)(\d{1,2})\s*[./\-]\s*(\d{4})(?!\d)")
_NAMED = re.compile(r"([a-z]{3,9})\.?\s*,?\s*(\d{4})|(\d{4})\s*,?\s*([a-z]{3,9})")


def parse_month(raw: str) -> tuple[int, int] | None:
    """(year, month) from "2023年4月", "令和5年4月", "R5.4", "2023/4/15", "202304", "4/2023", "April 2023"."""
    text = normalize.text(raw).lower()
    found: tuple[int, int] | None = None
    if m := _ERA.search(text):
        era_year = 1 if m.group(2) == "元" else int(m.group(2))
        found = ERAS[m.group(1)] + era_year, int(m.group(3))
    elif m := _YEAR_FIRST.search(text):
        found = int(m.group(1)), int(m.group(2))
    elif m := _COMPACT.search(text):
        found = int(m.group(1)), int(m.group(2))
    elif m := _MONTH_FIRST.search(text):
        found = int(m.group(2)), int(m.group(1))
    elif m := _NAMED.search(text):
        name, year = (m.group(1), m.group(2)) if m.group(1) else (m.group(4), m.group(3))
        if name in MONTH_NAMES:
            found = int(year), MONTH_NAMES[name]
    if found is None or not (1 <= found[1] <= 12 and 1900 <= found[0] <= 2100):
        return None
    return found


def month_key(year: int, month: int) -> str:
    return f"{year:04d}-{month:02d}"


def month_of(key: str) -> tuple[int, int]:
    year, month = key.split("-")
    return int(year), int(month)


def add_months(year: int, month: int, n: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + n
    return index // 12, index % 12 + 1


def earliest_preschool_birth(today: date) -> tuple[int, int]:
    """The earliest birth month of a child not yet at elementary school this school year (April to March).

    The school year starting in April of year S takes children born from 2 April S-7 to 1 April S-6, so this year's
    preschoolers were born in April S-6 or later (a child born on 1 April S-6 already goes; by month we let April in).
    """
    school_year = today.year if today.month >= 4 else today.year - 1
    return school_year - SCHOOL_AGE, 4


def child_month_problem(year: int, month: int, today: date) -> str | None:
    if (year, month) > (today.year, today.month):
        return "child.future"
    if (year, month) < earliest_preschool_birth(today):
        return "child.school_age"
    return None


def due_month_range(today: date) -> tuple[tuple[int, int], tuple[int, int]]:
    return (today.year, today.month), add_months(today.year, today.month, DUE_MONTHS_AHEAD)


def due_month_problem(year: int, month: int, today: date) -> str | None:
    first, last = due_month_range(today)
    if (year, month) < first:
        return "due.past"
    if (year, month) > last:
        return "due.too_far"
    return None


def child_months_of_year(year: int, today: date) -> list[int]:
    """The months of ``year`` in which a preschool child can have been born (for the month buttons)."""
    return [m for m in range(1, 13) if child_month_problem(year, m, today) is None]


def child_years(today: date) -> list[int]:
    first, _ = earliest_preschool_birth(today)
    return list(range(today.year, first - 1, -1))


def as_date(key: str) -> date:
    year, month = month_of(key)
    return date(year, month, 1)
