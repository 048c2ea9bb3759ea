"""登録情報 (flow "profile"): the stored details on the registration card, changed field by field, saved on 保存する."""

from __future__ import annotations

from handlers import texts
from handlers.effects import SaveProfile, SetLanguage
from handlers.postback import encode
from handlers.registration.texts import TEXTS
from tests.flow_world import World, assert_valid_for_line

PROFILE = {
    "name": "船橋 花子",
    "furigana": "ふなばし はなこ",
    "phone": "09012345678",
    "is_guardian": True,
    "is_pregnant": False,
    "due_month": None,
    "children": ["2023-09", "2025-01"],
    "centre": "division",
}


def jt(key: str, **values) -> str:
    return TEXTS.t("ja", key, **values)


def opened(world: World | None = None) -> World:
    world = world or World(profile=dict(PROFILE))
    world.tap_data(encode("profile", "start"))
    at("confirm", world)
    return world


def at(step: str, world: World) -> None:
    assert (world.state.flow, world.state.step) == ("profile", step), world.text()
    assert_valid_for_line(world.last.replies)


def test_the_card_shows_what_is_stored_and_offers_to_close_when_nothing_changed():
    world = opened()
    card = world.last.replies[-1]
    assert card.title == jt("review.title")
    assert "お子さん：2023年9月生まれ、2025年1月生まれ" in card.lines and "センター：地域子育て支援課" in card.lines
    assert [b.label for b in card.buttons] == [jt("review.close")]
    world.tap(jt("review.close"))
    assert world.state.idle and world.effects == [] and world.text().startswith(jt("closed.profile"))


def test_a_change_is_saved_only_on_save():
    world = opened()
    world.tap(jt("edit.phone"))
    world.say("047-436-2111")
    at("confirm", world)
    assert [b.label for b in world.last.replies[-1].buttons] == [jt("review.save")]
    assert world.effects == []
    world.tap(jt("review.save"))
    assert world.effects == [
        SaveProfile(
            name="船橋 花子",
            furigana="ふなばし はなこ",
            phone="0474362111",
            is_guardian=True,
            is_pregnant=False,
            due_month=None,
            children=("2023-09", "2025-01"),
            centre="division",
        ),
        SetLanguage("ja"),
    ]
    assert world.profile["phone"] == "0474362111" and world.state.idle


def test_changing_back_to_what_was_stored_is_no_change():
    world = opened()
    world.tap(jt("edit.centre"))
    world.tap(jt("centre.takanedai"))
    world.tap(jt("edit.centre"))
    world.tap(jt("centre.division"))
    assert [b.label for b in world.last.replies[-1].buttons] == [jt("review.close")]


def test_a_child_can_be_removed_and_a_due_month_added():
    world = opened()
    world.tap(jt("edit.children"))
    world.tap(jt("children.remove", month="2023年9月"))
    world.tap(jt("children.done"))
    world.tap(jt("edit.role"))
    assert jt("who.minor") not in world.choices(), "an adult already registered is not asked about age again"
    world.tap(jt("who.both"))
    at("due", world)
    world.tap("2027年5月")
    world.tap(jt("review.save"))
    saved = world.effects[0]
    assert saved.children == ("2025-01",) and saved.due_month == "2027-05" and saved.is_pregnant


def test_cancel_keeps_the_stored_details():
    world = opened()
    world.tap(jt("edit.name"))
    world.say("高根 太郎（たかね たろう）")
    world.say("やめる")
    assert world.state.idle and world.effects == [] and world.profile == PROFILE


def test_language_switches_at_once_and_the_card_follows():
    world = opened()
    world.tap("English")
    at("confirm", world)
    assert world.effects == [SetLanguage("en")]
    assert world.last.replies[-1].title == TEXTS.t("en", "review.title")


def test_an_unregistered_parent_is_offered_registration():
    world = World()
    world.tap_data(encode("profile", "start"))
    assert world.state.idle and world.text() == jt("not_registered")
    world.tap(jt("confirm.save"))
    assert world.state.flow == "registration"


def test_typing_the_menu_words_opens_it():
    for word in ("登録情報", "My details"):
        world = World(profile=dict(PROFILE))
        world.say(word)
        at("confirm", world)


def test_an_old_card_button_after_saving_is_stale():
    world = opened()
    world.tap(jt("edit.phone"))
    world.say("047-436-2111")
    save = world.choices()[jt("review.save")].data
    world.tap_data(save)
    world.tap_data(save)
    assert world.state.idle and world.text().startswith(texts.t("ja", "stale.button"))
    assert len([e for e in world.effects if isinstance(e, SaveProfile)]) == 1
