"""What registration accepts as a name, ふりがな, phone number, birth month and due month (handlers.registration.rules)."""

from __future__ import annotations

from datetime import date

import pytest

from handlers.registration import rules
from handlers.registration.rules import Invalid


@pytest.mark.parametrize(
    "typed, stored",
    [
        ("090-1234-5678", "09012345678"),
        ("09012345678", "09012345678"),
        ("０８０ー１２３４ー５６７８", "08012345678"),  # full-width digits and a long-vowel mark for a hyphen
        ("070 1234 5678", "07012345678"),
        ("+81 90-1234-5678", "09012345678"),
        ("050-1234-5678", "05012345678"),
        ("047-436-2111", "0474362111"),  # Funabashi city hall
        ("03(1234)5678", "0312345678"),
        ("04-7123-4567", "0471234567"),
    ],
)
def test_japanese_phone_numbers_are_stored_as_digits(typed, stored):
    assert rules.parse_phone(typed) == stored


@pytest.mark.parametrize(
    "typed, reason",
    [
        ("090-1234-567", "phone.length"),
        ("090123456789", "phone.length"),
        ("12345", "phone.format"),
        ("90-1234-5678", "phone.format"),
        ("電話番号", "phone.format"),
        ("0120-123-456", "phone.service"),
        ("0570-123-456", "phone.service"),
        ("0201234567", "phone.format"),  # a 0X0 prefix is never a ten-digit landline
        ("06012345678", "phone.format"),
        ("", "phone.format"),
    ],
)
def test_what_is_not_a_phone_number_says_why(typed, reason):
    assert rules.parse_phone(typed) == Invalid(reason)


def test_phone_numbers_are_shown_grouped_where_the_grouping_is_certain():
    assert rules.format_phone("09012345678") == "090-1234-5678"
    assert rules.format_phone("0312345678") == "03-1234-5678"
    assert rules.format_phone("0474362111") == "0474362111"


@pytest.mark.parametrize(
    "typed, name, reading",
    [
        ("船橋 花子（ふなばし はなこ）", "船橋 花子", "ふなばし はなこ"),
        ("船橋 花子(フナバシ ハナコ)", "船橋 花子", "ふなばし はなこ"),
        ("船橋 花子 / ふなばし はなこ", "船橋 花子", "ふなばし はなこ"),
        ("船橋 花子 ふなばし はなこ", "船橋 花子", "ふなばし はなこ"),
        ("山田 さくら ヤマダ サクラ", "山田 さくら", "やまだ さくら"),
        ("ｶﾀｶﾅ ﾀﾛｳ", "カタカナ タロウ", "かたかな たろう"),  # half-width kana
        ("ふなばし はなこ", "ふなばし はなこ", "ふなばし はなこ"),
        ("Jane Smith", "Jane Smith", ""),  # a name in Latin letters needs no reading
        ("船橋 花子", "船橋 花子", None),  # the reading is asked next
        ("山田 さくら", "山田 さくら", None),  # a given name in kana is not the reading of the family name
        ("高根 はるか", "高根 はるか", None),
    ],
)
def test_names_and_readings(typed, name, reading):
    assert rules.parse_name(typed) == (name, reading)


@pytest.mark.parametrize(
    "typed, reason",
    [
        ("", "name.empty"),
        ("   ", "name.empty"),
        ("花" * 51, "name.too_long"),
        ("090-1234-5678", "name.not_a_name"),
        ("🙂🙂", "name.not_a_name"),
        ("https://example.com", "name.not_a_name"),
    ],
)
def test_what_is_not_a_name_says_why(typed, reason):
    assert rules.parse_name(typed) == Invalid(reason)


def test_furigana_is_kana_only_and_stored_in_hiragana():
    assert rules.parse_furigana("フナバシ　ハナコ") == "ふなばし はなこ"
    assert rules.parse_furigana("船橋") == Invalid("furigana.not_kana")
    assert rules.parse_furigana("funabashi") == Invalid("furigana.not_kana")
    assert rules.parse_furigana("") == Invalid("furigana.empty")


@pytest.mark.parametrize(
    "typed, month",
    [
        ("2024年5月", (2024, 5)),
        ("２０２４年５月生まれです", (2024, 5)),
        ("2024/5", (2024, 5)),
        ("2024-05-17", (2024, 5)),
        ("2024.5", (2024, 5)),
        ("202405", (2024, 5)),
        ("20240517", (2024, 5)),
        ("令和6年5月", (2024, 5)),
        ("令和元年5月", (2019, 5)),
        ("R6.5", (2024, 5)),
        ("H31.4", (2019, 4)),
        ("平成30年12月", (2018, 12)),
        ("5/2024", (2024, 5)),
        ("May 2024", (2024, 5)),
        ("september, 2023", (2023, 9)),
        ("2023 Sept", (2023, 9)),
    ],
)
def test_months_in_the_ways_parents_write_them(typed, month):
    assert rules.parse_month(typed) == month


@pytest.mark.parametrize("typed", ["", "5月", "2024年13月", "2024年0月", "昨日", "Maybe 2024", "12345"])
def test_what_is_not_a_month(typed):
    assert rules.parse_month(typed) is None


@pytest.mark.parametrize(
    "today, earliest",
    [
        (date(2026, 11, 25), (2020, 4)),  # school year 2026: the class of April 2026 was born by 1 April 2020
        (date(2027, 3, 31), (2020, 4)),  # still school year 2026
        (date(2027, 4, 1), (2021, 4)),  # a new school year: children born up to March 2021 are now at school
    ],
)
def test_preschool_means_not_yet_at_elementary_school_this_school_year(today, earliest):
    assert rules.earliest_preschool_birth(today) == earliest
    assert rules.child_month_problem(*earliest, today) is None
    assert rules.child_month_problem(*rules.add_months(*earliest, -1), today) == "child.school_age"


def test_a_birth_month_cannot_be_in_the_future():
    today = date(2026, 11, 25)
    assert rules.child_month_problem(2026, 11, today) is None
    assert rules.child_month_problem(2026, 12, today) == "child.future"


def test_a_due_month_is_from_this_month_to_ten_months_ahead():
    today = date(2026, 11, 25)
    assert rules.due_month_problem(2026, 11, today) is None
    assert rules.due_month_problem(2027, 9, today) is None
    assert rules.due_month_problem(2027, 10, today) == "due.too_far"
    assert rules.due_month_problem(2026, 10, today) == "due.past"


def test_year_and_month_buttons_offer_only_possible_months():
    today = date(2026, 11, 25)
    assert rules.child_years(today) == [2026, 2025, 2024, 2023, 2022, 2021, 2020]
    assert rules.child_months_of_year(2020, today) == list(range(4, 13))
    assert rules.child_months_of_year(2026, today) == list(range(1, 12))
    assert rules.as_date("2024-05") == date(2024, 5, 1)
