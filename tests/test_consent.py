"""Consent to the web-conference policy as pure flow steps: the sections, 同意する / 同意しない, re-consent on a new
policy version, the check other features call, viewing the policy and withdrawing consent."""

from __future__ import annotations

from datetime import timedelta

from handlers import texts
from handlers.effects import ConsentWithdrawn, RecordConsent
from handlers.engine import STATE_TTL, Input
from handlers.postback import decode, encode
from handlers.registration import consent, policy_view
from handlers.registration.consent import TEXTS, require_consent
from handlers.registration.policy_text import policy_hash
from handlers.replies import Carousel
from tests.flow_world import BASE_URL, PHONE, World, assert_valid_for_line

PROFILE = {
    "name": "船橋 花子",
    "furigana": "ふなばし はなこ",
    "phone": "09012345678",
    "is_guardian": True,
    "is_pregnant": False,
    "due_month": None,
    "children": ["2024-05"],
    "centre": "division",
}
NEXT, AGREE, DECLINE = TEXTS.t("ja", "next"), TEXTS.t("ja", "agree"), TEXTS.t("ja", "decline")


def registered(**changes) -> World:
    return World(profile=dict(PROFILE), **changes)


def start(world: World) -> World:
    world.tap_data(encode("consent", "start"))
    return world


def at(step: str, world: World) -> None:
    assert (world.state.flow, world.state.step) == ("consent", step), world.text()
    assert_valid_for_line(world.last.replies)


def read_to_the_question(world: World) -> World:
    start(world)
    for step in ("environment", "credentials", "conduct"):
        at(step, world)
        world.tap(NEXT)
    at("answer", world)
    return world


def test_the_plain_sections_were_written_from_the_policy_text_in_force():
    assert policy_hash() == consent.SUMMARISED_POLICY, (
        "handlers/content/web-conference-policy.ja.txt changed: re-read the plain sections in handlers/registration/consent.py "
        "against it (ja and en), then set SUMMARISED_POLICY to the new hash"
    )


def test_the_policy_is_shown_in_five_short_sections_one_message_each_with_next():
    world = start(registered())
    seen = [world.text()]
    for _ in range(3):
        assert world.last.replies[-1].quick[0].label == NEXT
        world.tap(NEXT)
        seen.append(world.text())
    at("answer", world)
    titles = [TEXTS.t("ja", f"section.{name}.title") for name in consent.SECTIONS]
    for n, title in enumerate(titles, start=1):
        assert f"【{n}/5 {title}】" in "\n".join(seen)
    assert len(world.last.replies) == 2, "the two shortest sections come together, each its own message"
    assert {AGREE, DECLINE} <= set(world.choices())


def test_the_sections_say_what_the_policy_says():
    world = read_to_the_question(registered())
    conduct = TEXTS.t("ja", "section.conduct")
    assert conduct.startswith("特にお願い：交流会などの映像・写真・音声を、SNSなどに投稿しないでください。")
    assert all(f"({n})" in conduct for n in range(1, 12)), "all eleven prohibited acts"
    assert "お貸しします" in TEXTS.t("ja", "section.environment") and "ご負担" in TEXTS.t("ja", "section.environment")
    assert "すぐに" in TEXTS.t("ja", "section.credentials")
    assert f"{BASE_URL}/policy" in world.text()
    assert world.choices()[TEXTS.t("ja", "read_all")].uri == f"{BASE_URL}/policy"


def test_agreeing_records_the_exact_policy_version_and_ends_with_the_menu():
    world = read_to_the_question(registered())
    world.tap(AGREE)
    assert world.effects == [RecordConsent("agreed", policy_hash())]
    assert world.state.idle and world.ctx().consent_current
    assert world.text().startswith(TEXTS.t("ja", "agreed")) and world.last.replies[-1].quick


def test_declining_is_recorded_and_explains_what_cannot_be_done_and_how_to_come_back():
    world = read_to_the_question(registered())
    world.tap(DECLINE)
    assert world.effects == [RecordConsent("declined", policy_hash())]
    assert not world.ctx().consent_current
    said = world.text()
    assert "申し込みと参加はできません" in said and "「ポリシー」" in said and PHONE in said


def test_typed_answers_work_too():
    for typed, answer in (("同意します", "agreed"), ("はい", "agreed"), ("いいえ", "declined"), ("I agree", "agreed")):
        world = read_to_the_question(registered())
        world.say(typed)
        assert world.effects == [RecordConsent(answer, policy_hash())]


def test_anything_else_at_the_question_is_asked_again():
    world = read_to_the_question(registered())
    for inp in (Input("text", text="うーん"), Input("sticker")):
        world.send(inp)
        at("answer", world)
    assert world.effects == []


def test_back_and_cancel_while_reading():
    world = start(registered())
    world.tap(NEXT)
    world.say("もどる")
    at("environment", world)
    world.say("やめる")
    assert world.state.idle and world.effects == []


def test_an_old_next_button_is_stale():
    world = start(registered())
    first_next = world.choices()[NEXT].data
    world.tap_data(first_next)
    at("credentials", world)
    world.tap_data(first_next)
    at("credentials", world)
    assert world.text().startswith(texts.t("ja", "stale.button"))


def test_reading_can_be_resumed_or_restarted():
    world = start(registered())
    world.tap(NEXT)
    start(world)
    world.tap(texts.t("ja", "resume.continue"))
    at("credentials", world)


def test_a_day_later_reading_starts_again():
    world = start(registered())
    world.tap(NEXT)
    world.now += STATE_TTL + timedelta(minutes=5)
    world.tap(NEXT)
    assert world.state.idle and world.text().startswith(texts.t("ja", "expired.notice"))


def test_require_consent_sends_an_unregistered_parent_to_registration():
    replies = require_consent(World().ctx())
    assert [decode(c.data) for c in replies[-1].quick] == [decode(encode("registration", "start"))]


def test_require_consent_sends_a_registered_parent_without_consent_to_the_consent_flow():
    world = registered()
    replies = require_consent(world.ctx())
    assert replies[0].text == TEXTS.t("ja", "need.consent")
    world.tap_data(replies[-1].quick[0].data)
    at("environment", world)


def test_require_consent_is_none_once_agreed():
    world = read_to_the_question(registered())
    world.tap(AGREE)
    assert require_consent(world.ctx()) is None


def test_a_new_policy_version_asks_every_parent_again():
    world = read_to_the_question(registered())
    world.tap(AGREE)
    world.policy = "f" * 64  # a new text was published
    ctx = world.ctx()
    assert not ctx.consent_current
    assert require_consent(ctx)[0].text == TEXTS.t("ja", "need.revised")
    start(world)
    assert world.text().startswith(TEXTS.t("ja", "intro.revised"))


def test_consent_given_to_a_text_that_changed_while_reading_is_not_recorded():
    world = read_to_the_question(registered())
    world.policy = "e" * 64  # staff published a new text meanwhile
    world.tap(AGREE)
    assert world.effects == []
    at("environment", world)
    assert world.text().startswith(TEXTS.t("ja", "changed_meanwhile"))
    assert TEXTS.t("ja", "read_full_text", url=f"{BASE_URL}/policy") in world.text(), (
        "a text newer than the plain sections: the parent is sent to the full text"
    )


def test_consent_is_recorded_against_the_version_in_force():
    world = registered(policy="d" * 64)
    read_to_the_question(world)
    world.tap(AGREE)
    assert world.effects == [RecordConsent("agreed", "d" * 64)] and world.ctx().consent_current


def test_registration_leads_straight_into_consent_in_one_reply():
    world = World()
    world.follow()
    for action in (
        "tap:就学前の子の保護者",
        "say:船橋 花子（ふなばし はなこ）",
        "say:090-1234-5678",
        "say:2024年5月",
        "tap:南本町子育て支援センター",
        "tap:登録する",
    ):
        kind, _, value = action.partition(":")
        world.tap(value) if kind == "tap" else world.say(value)
    at("environment", world)
    assert world.text().startswith("ご登録ありがとうございました。")


def test_a_parent_who_already_agreed_is_told_so():
    world = read_to_the_question(registered())
    world.tap(AGREE)
    start(world)
    assert world.state.idle and world.text().startswith(TEXTS.t("ja", "already"))


# --- the policy from the menu -------------------------------------------------------------------------------------
def view(world: World) -> World:
    world.tap_data(encode("policy", "start"))
    assert (world.state.flow, world.state.step) == ("policy", "overview")
    assert_valid_for_line(world.last.replies)
    return world


def pt(key: str, **values) -> str:
    return policy_view.TEXTS.t("ja", key, **values)


def test_anyone_can_read_the_policy_and_its_key_points():
    world = view(World())
    assert pt("status.unregistered") in world.text() and f"{BASE_URL}/policy" in world.text()
    assert pt("withdraw") not in world.choices() and pt("agree") not in world.choices()
    world.tap(pt("read"))
    carousel = world.last.replies[0]
    assert isinstance(carousel, Carousel) and len(carousel.cards) == 5
    assert_valid_for_line(world.last.replies)
    world.tap(pt("close"))
    assert world.state.idle


def test_a_parent_without_consent_can_agree_from_the_policy_view():
    world = view(registered())
    assert pt("status.none") in world.text()
    world.tap(pt("agree"))
    at("environment", world)


def test_withdrawing_consent_says_what_it_stops_and_is_recorded():
    world = read_to_the_question(registered())
    world.tap(AGREE)
    view(world)
    assert pt("status.agreed", date="2026年11月25日") in world.text()
    world.tap(pt("withdraw"))
    assert "参加用リンク" in world.text()
    world.tap(pt("withdraw.no"))
    assert world.state.step == "overview" and world.effects == [RecordConsent("agreed", policy_hash())]
    world.tap(pt("withdraw"))
    world.tap(pt("withdraw.yes"))
    assert world.effects[-1] == ConsentWithdrawn(policy_hash())
    assert not world.ctx().consent_current and require_consent(world.ctx())
    view(world)
    assert pt("status.withdrawn") in world.text() and pt("agree") in world.choices()


def test_the_status_tells_a_declined_and_a_revised_consent_apart():
    world = read_to_the_question(registered())
    world.tap(DECLINE)
    assert pt("status.declined") in view(world).text()
    world = read_to_the_question(registered())
    world.tap(AGREE)
    world.policy = "f" * 64
    assert pt("status.revised") in view(world).text()


def test_withdrawal_is_not_offered_without_consent_and_a_forged_button_does_nothing():
    world = view(registered())
    world.tap_data(encode("policy", "withdraw", "", world.state.version))
    assert world.state.step == "overview" and world.effects == []


def test_typing_policy_opens_the_view_in_english_too():
    world = registered(lang="en")
    world.say("Policy")
    assert world.state.flow == "policy" and policy_view.TEXTS.t("en", "status.none") in world.text()
