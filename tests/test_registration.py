"""Registration as pure flow steps: every step's good and bad answers, edits from the card, cancel, resume, timeout,
stale buttons, minors, and that exactly what was confirmed is what gets saved."""

from __future__ import annotations

from datetime import timedelta

import pytest

from handlers import texts
from handlers.effects import SaveProfile, SetLanguage
from handlers.engine import STATE_TTL, Input
from handlers.postback import encode
from handlers.registration.texts import TEXTS
from handlers.replies import Card
from tests.flow_world import PHONE, World, assert_valid_for_line


def jt(key: str, **values) -> str:
    return TEXTS.t("ja", key, **values)


def at(step: str, world: World) -> None:
    assert (world.state.flow, world.state.step) == ("registration", step), world.text()
    assert_valid_for_line(world.last.replies)


def begin(world: World | None = None) -> World:
    world = world or World()
    world.follow()
    at("who", world)
    return world


def to_confirm(world: World | None = None) -> World:
    world = begin(world)
    world.tap(jt("who.guardian"))
    world.say("船橋 花子（ふなばし はなこ）")
    world.say("090-1234-5678")
    world.say("2024年5月")
    world.tap(jt("centre.minamihoncho"))
    at("confirm", world)
    return world


def test_the_purpose_is_said_before_anything_is_asked():
    world = World()
    world.follow()
    said = world.text()
    assert said.index("利用目的") < said.index(jt("who.ask"))
    for asked in ("お名前とふりがな", "電話番号", "生まれた年月", "センター"):
        assert asked in said


def test_a_guardian_registers_with_one_child():
    world = to_confirm()
    card = world.last.replies[-1]
    assert isinstance(card, Card)
    assert "お名前：船橋 花子" in card.lines and "電話番号：090-1234-5678" in card.lines
    assert "お子さん：2024年5月生まれ" in card.lines and jt("who.adult_line") in card.lines
    assert world.effects == [], "nothing is stored before 登録する"
    world.tap(jt("confirm.save"))
    assert world.effects[:2] == [
        SaveProfile(
            name="船橋 花子",
            furigana="ふなばし はなこ",
            phone="09012345678",
            is_guardian=True,
            is_pregnant=False,
            due_month=None,
            children=("2024-05",),
            centre="minamihoncho",
        ),
        SetLanguage("ja"),
    ]
    assert world.state.flow == "consent", "consent follows registration"


def test_a_pregnant_person_gives_a_due_month_and_no_children():
    world = begin()
    world.tap(jt("who.pregnant"))
    world.say("船橋 花子")
    at("furigana", world)
    world.say("フナバシ ハナコ")
    world.say("047-436-2111")
    at("due", world)
    world.tap("2027年3月")
    world.tap(jt("centre.takanedai"))
    world.tap(jt("confirm.save"))
    saved = world.effects[0]
    assert saved == SaveProfile(
        name="船橋 花子",
        furigana="ふなばし はなこ",
        phone="0474362111",
        is_guardian=False,
        is_pregnant=True,
        due_month="2027-03",
        children=(),
        centre="takanedai",
    )


def test_both_a_parent_and_pregnant_with_two_children_chosen_by_buttons():
    world = begin()
    world.tap(jt("who.both"))
    world.say("Jane Smith")
    at("phone", world)  # no reading needed for a name in Latin letters
    world.say("08012345678")
    world.tap(jt("child.year_label", year=2025))
    at("child_month", world)
    world.tap("2025年3月")
    at("due", world)
    world.say("令和9年2月")
    at("centre", world)
    world.tap(jt("children.add"))
    at("child", world)
    assert "2人目" in world.text()
    world.say("2022/10")
    world.tap(jt("centre.division"))
    world.tap(jt("confirm.save"))
    saved = world.effects[0]
    assert saved.children == ("2022-10", "2025-03") and saved.due_month == "2027-02"
    assert saved.is_guardian and saved.is_pregnant and saved.furigana == ""


def test_twins_are_two_children_born_in_the_same_month():
    world = begin()
    world.tap(jt("who.guardian"))
    world.say("船橋 花子 ふなばし はなこ")
    world.say("09012345678")
    world.say("2024年5月")
    world.tap(jt("children.add"))
    world.say("2024年5月")
    world.tap(jt("centre.division"))
    world.tap(jt("confirm.save"))
    assert world.effects[0].children == ("2024-05", "2024-05")


def test_someone_under_18_is_turned_away_kindly_with_the_phone_number():
    world = begin()
    world.tap(jt("who.minor"))
    assert world.state.idle and world.effects == []
    assert PHONE in world.text() and "保護者の方" in world.text()


@pytest.mark.parametrize("typed", ["18歳未満", "未成年"])
def test_typing_under_18_is_understood_too(typed):
    world = begin()
    world.say(typed)
    assert world.state.idle and PHONE in world.text()


@pytest.mark.parametrize(
    "step, setup, bad, reason",
    [
        ("who", [], "こんにちは", "choose.role"),
        ("name", ["tap:who.guardian"], "090-1234-5678", "name.not_a_name"),
        ("name", ["tap:who.guardian"], "花" * 6000, "name.too_long"),
        ("furigana", ["tap:who.guardian", "say:船橋 花子"], "船橋", "furigana.not_kana"),
        ("phone", ["tap:who.guardian", "say:ふなばし はなこ"], "1234", "phone.format"),
        ("phone", ["tap:who.guardian", "say:ふなばし はなこ"], "090-1234-567", "phone.length"),
        ("phone", ["tap:who.guardian", "say:ふなばし はなこ"], "0120-444-444", "phone.service"),
        ("child", ["tap:who.guardian", "say:ふなばし はなこ", "say:09012345678"], "そのうち", "month.unreadable"),
        ("child", ["tap:who.guardian", "say:ふなばし はなこ", "say:09012345678"], "2018年4月", "child.school_age"),
        ("child", ["tap:who.guardian", "say:ふなばし はなこ", "say:09012345678"], "2027年1月", "child.future"),
        ("due", ["tap:who.pregnant", "say:ふなばし はなこ", "say:09012345678"], "2026年10月", "due.past"),
        ("due", ["tap:who.pregnant", "say:ふなばし はなこ", "say:09012345678"], "2027年12月", "due.too_far"),
        ("due", ["tap:who.pregnant", "say:ふなばし はなこ", "say:09012345678"], "いつか", "month.unreadable"),
        (
            "centre",
            ["tap:who.pregnant", "say:ふなばし はなこ", "say:09012345678", "say:2027年1月"],
            "どこでも",
            "choose.centre",
        ),
    ],
)
def test_a_wrong_answer_is_explained_and_the_same_question_asked_again(step, setup, bad, reason):
    world = begin()
    for action in setup:
        kind, _, value = action.partition(":")
        world.tap(jt(value)) if kind == "tap" else world.say(value)
    at(step, world)
    version = world.state.version
    world.say(bad)
    at(step, world)
    assert world.text().startswith(jt(reason))
    assert world.state.version == version + 1


def test_a_child_month_button_tapped_twice_is_stale_the_second_time():
    world = begin()
    world.tap(jt("who.guardian"))
    world.say("ふなばし はなこ")
    world.say("09012345678")
    world.tap(jt("child.year_label", year=2024))
    month = world.choices()["2024年6月"].data
    world.tap_data(month)
    at("centre", world)
    world.tap_data(month)
    at("centre", world)
    assert world.text().startswith(texts.t("ja", "stale.button"))


def test_a_month_button_for_an_impossible_month_is_refused():
    world = begin()
    world.tap(jt("who.guardian"))
    world.say("ふなばし はなこ")
    world.say("09012345678")
    world.tap(jt("child.year_label", year=2026))
    forged = encode("registration", "month", "12", world.state.version)  # December 2026 is still to come
    world.tap_data(forged)
    at("child_month", world)
    assert world.text().startswith(jt("child.future"))


def test_every_field_can_be_changed_from_the_card_and_the_card_comes_back():
    world = to_confirm()
    world.tap(jt("edit.name"))
    at("name", world)
    world.say("高根 太郎")
    at("furigana", world)  # a new name needs its own reading
    world.say("たかね たろう")
    at("confirm", world)
    world.tap(jt("edit.phone"))
    world.say("03-1234-5678")
    at("confirm", world)
    world.tap(jt("edit.centre"))
    world.tap(jt("centre.takanedai"))
    at("confirm", world)
    world.tap(jt("edit.children"))
    at("children", world)
    world.tap(jt("children.add"))
    world.say("2021年6月")
    at("confirm", world)
    world.tap(jt("edit.role"))
    world.tap(jt("who.both"))
    at("due", world)  # now pregnant too: the due month is asked
    world.tap("2027年1月")
    at("confirm", world)
    world.tap(jt("confirm.save"))
    assert world.effects[0] == SaveProfile(
        name="高根 太郎",
        furigana="たかね たろう",
        phone="0312345678",
        is_guardian=True,
        is_pregnant=True,
        due_month="2027-01",
        children=("2021-06", "2024-05"),
        centre="takanedai",
    )


def test_changing_to_pregnant_only_drops_the_children():
    world = to_confirm()
    world.tap(jt("edit.role"))
    world.tap(jt("who.pregnant"))
    world.tap("2027年1月")
    world.tap(jt("confirm.save"))
    assert world.effects[0].children == () and world.effects[0].is_guardian is False


def test_removing_every_child_of_a_guardian_is_not_allowed():
    world = to_confirm()
    world.tap(jt("edit.children"))
    world.tap(jt("children.remove", month="2024年5月"))
    at("children", world)
    world.tap(jt("children.done"))
    at("children", world)
    assert world.text().startswith(jt("children.need_one"))


def test_no_more_than_eight_children():
    world = to_confirm()
    for month in range(1, 8):
        world.tap(jt("edit.children"))
        world.tap(jt("children.add"))
        world.say(f"2023年{month}月")
        at("confirm", world)
    world.tap(jt("edit.children"))
    assert jt("children.add") not in world.choices()
    world.tap(jt("children.done"))
    world.tap(jt("confirm.save"))
    assert len(world.effects[0].children) == 8


def test_english_can_be_chosen_at_the_first_question_and_everything_follows_in_english():
    world = begin()
    world.tap("English")
    assert world.effects == [SetLanguage("en")] and world.lang == "en"
    assert world.text().startswith(TEXTS.t("en", "intro")), "the purpose is told again, in English"
    world.tap(TEXTS.t("en", "who.guardian"))
    assert world.text() == TEXTS.t("en", "name.ask")
    world.say("Jane Smith")
    world.say("090 1234 5678")
    world.say("May 2024")
    world.tap(TEXTS.t("en", "centre.takanedai"))
    card = world.last.replies[-1]
    assert card.title == TEXTS.t("en", "confirm.title") and "Language: English" in card.lines
    world.tap(TEXTS.t("en", "confirm.save"))
    assert world.effects[1:] == [
        SaveProfile(
            name="Jane Smith",
            furigana="",
            phone="09012345678",
            is_guardian=True,
            is_pregnant=False,
            due_month=None,
            children=("2024-05",),
            centre="takanedai",
        ),
        SetLanguage("en"),
    ]
    assert world.state.flow == "consent" and world.text().startswith(TEXTS.t("en", "saved.registration"))


def test_the_language_can_be_changed_on_the_card():
    world = to_confirm()
    world.tap("English")
    at("confirm", world)
    assert world.last.replies[-1].title == TEXTS.t("en", "confirm.title")
    assert world.effects == [SetLanguage("en")], "the language applies at once"
    world.tap(TEXTS.t("en", "confirm.save"))
    assert world.effects[1:] == [world.effects[1], SetLanguage("en")] and isinstance(world.effects[1], SaveProfile)


def test_back_goes_to_the_previous_question():
    world = begin()
    world.tap(jt("who.guardian"))
    world.say("ふなばし はなこ")
    at("phone", world)
    world.say("もどる")
    at("name", world)
    world.say("もどる")
    at("who", world)


def test_cancel_at_any_step_saves_nothing():
    for steps in ([], ["tap:who.guardian"], ["tap:who.guardian", "say:ふなばし はなこ"]):
        world = begin()
        for action in steps:
            kind, _, value = action.partition(":")
            world.tap(jt(value)) if kind == "tap" else world.say(value)
        world.say("やめる")
        assert world.state.idle and world.effects == []
        assert texts.t("ja", "menu.register") in world.choices(), "registration can be started again from the menu"


def test_cancel_at_the_card_saves_nothing():
    world = to_confirm()
    world.say("やめる")
    assert world.state.idle and world.effects == [] and world.profile is None


def test_an_abandoned_registration_can_be_continued_or_restarted():
    world = begin()
    world.tap(jt("who.guardian"))
    world.say("ふなばし はなこ")
    world.tap_data(encode("registration", "start"))  # the menu's 登録する, later
    assert world.state.step == "phone"
    assert set(world.choices()) == {texts.t("ja", "resume.continue"), texts.t("ja", "resume.restart")}
    world.tap(texts.t("ja", "resume.continue"))
    at("phone", world)
    assert world.state.data["name"] == "ふなばし はなこ"
    world.tap_data(encode("registration", "start"))
    world.tap(texts.t("ja", "resume.restart"))
    at("who", world)
    assert "name" not in world.state.data


def test_after_a_day_the_half_done_registration_is_forgotten():
    world = begin()
    world.tap(jt("who.guardian"))
    world.say("ふなばし はなこ")
    world.now += STATE_TTL + timedelta(seconds=1)
    world.say("090-1234-5678")
    assert world.state.idle and world.text().startswith(texts.t("ja", "expired.notice"))
    world.tap(texts.t("ja", "menu.register"))
    at("who", world)


def test_unfollow_and_follow_again_half_way_offers_to_continue():
    world = begin()
    world.tap(jt("who.guardian"))
    world.follow()
    assert world.state.step == "name" and texts.t("ja", "resume.continue") in world.choices()


def test_stickers_photos_and_locations_get_a_kind_hint_and_the_question_again():
    world = begin()
    for kind in ("sticker", "image", "location", "video", "audio", "file"):
        world.send(Input(kind))
        at("who", world)
        assert world.text().startswith(texts.t("ja", "kind.choice_wanted"))
    world.tap(jt("who.guardian"))
    world.send(Input("sticker"))
    at("name", world)
    assert world.text().startswith(texts.t("ja", "kind.text_wanted"))


def test_help_explains_the_step_and_asks_again():
    world = begin()
    world.tap(jt("who.guardian"))
    world.say("ふなばし はなこ")
    world.say("ヘルプ")
    at("phone", world)
    assert "「ご登録」" in world.text() and jt("help.phone") in world.text() and jt("phone.ask") in world.text()


def test_a_registered_parent_is_not_registered_twice():
    world = to_confirm()
    world.tap(jt("confirm.save"))
    world.say("やめる")
    world.tap_data(encode("registration", "start"))
    assert world.state.idle and world.text().startswith(jt("already"))
    world.follow()
    assert world.state.idle, "following again greets a registered parent without registering again"


def test_every_step_offers_buttons_at_least_to_go_back_or_stop():
    world = begin()
    world.tap(jt("who.guardian"))
    for answer in ("船橋 花子", "ふなばし はなこ", "09012345678", "2024年5月"):
        assert jt("nav.cancel") in world.choices()
        world.say(answer)
    at("centre", world)
    assert {jt("centre.division"), jt("children.add"), jt("nav.back"), jt("nav.cancel")} <= set(world.choices())


def test_a_month_typed_after_choosing_the_year_is_understood_and_odd_digits_are_not_a_crash():
    world = begin()
    world.tap(jt("who.guardian"))
    world.say("ふなばし はなこ")
    world.say("09012345678")
    world.tap(jt("child.year_label", year=2024))
    world.say("፩")  # an Ethiopic digit: isdigit() says yes, int() says no
    at("child_month", world)
    assert world.text().startswith(jt("choose.buttons"))
    world.say("1" * 5000)  # too long for int(), and no month
    at("child_month", world)
    world.say("５月")
    at("centre", world)
    assert world.state.data["children"] == ["2024-05"]
