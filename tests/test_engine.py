"""The flow engine's promises, on a small flow of its own: every flow gets ヘルプ, やめる, もどる, stale-button
handling, 続きから/最初から, a 24-hour expiry and kind answers to stickers, without writing any of it."""

from __future__ import annotations

from datetime import timedelta

from handlers import texts
from handlers.engine import (
    LANG_KEY,
    STATE_TTL,
    Context,
    Engine,
    Finish,
    Flow,
    Go,
    Input,
    Retry,
    State,
    Step,
    Transition,
    picked,
)
from handlers.postback import Postback, decode, encode
from handlers.replies import Choice, Text
from tests.flow_world import NOW, assert_valid_for_line

CATALOG = texts.Catalog(
    {
        "ja": {"title": "お試し", "hint.colour": "色の名前を送ってください。"},
        "en": {"title": "Trial", "hint.colour": "Send a colour."},
    }
)


def _colour_prompt(ctx, data, version):
    return [Text(f"colour? [{ctx.lang}]", quick=(Choice("red", data=encode("trial", "colour", "red", version)),))]


def _colour_accept(ctx, data, inp):
    colour = picked(inp, "trial", "colour", {"red": ("red", "赤"), "blue": ("blue", "青")})
    if colour is None:
        return Retry(Text("not a colour"))
    if colour == "blue":  # blue switches the conversation to English at once
        return Go("size", {"colour": colour, LANG_KEY: "en"})
    return Go("size", {"colour": colour})


def _size_prompt(ctx, data, version):
    return [Text(f"size? [{ctx.lang}]", quick=(Choice("S", data=encode("trial", "size", "s", version)),))]


def _size_accept(ctx, data, inp):
    if picked(inp, "trial", "size", {"s": ("s",)}) is None:
        return Retry(Text("not a size"))
    return Finish(say=(Text(f"done {data['colour']}"),), effects=("saved",))


TRIAL = Flow(
    name="trial",
    start="colour",
    steps={
        "colour": Step(_colour_prompt, _colour_accept, help_hint="hint.colour"),
        "size": Step(_size_prompt, _size_accept, frozenset({"postback"}), choice=True),
    },
    keywords=frozenset({"trial"}),
    title_key="title",
    intro=lambda ctx: [Text("intro")],
    catalog=CATALOG,
)
LOCKED = Flow(
    name="locked",
    start="only",
    steps={"only": Step(_size_prompt, _size_accept)},
    guard=lambda ctx: [Text("not for you")],
)


def engine() -> Engine:
    return Engine([TRIAL, LOCKED], idle=lambda state, ctx, inp: Transition(state, [Text("idle")]))


def ctx(**changes) -> Context:
    return Context(now=changes.pop("now", NOW), **changes)


def run(state: State, inp: Input, context: Context | None = None) -> Transition:
    transition = engine().step(state, inp, context or ctx())
    assert_valid_for_line(transition.replies)
    return transition


def text(value: str) -> Input:
    return Input("text", text=value)


def tap(data: str) -> Input:
    return Input("postback", postback=decode(data))


def started() -> Transition:
    return run(State(), tap(encode("trial", "start")))


def words(transition: Transition) -> list[str]:
    return [r.text for r in transition.replies if isinstance(r, Text)]


def test_a_menu_postback_starts_the_flow_with_its_introduction():
    first = started()
    assert first.state.flow == "trial" and first.state.step == "colour"
    assert words(first) == ["intro", "colour? [ja]"]
    assert first.state.expires_at == NOW + STATE_TTL


def test_a_keyword_starts_the_flow_too():
    assert run(State(), text("Trial")).state.step == "colour"


def test_an_answer_moves_on_and_a_wrong_one_is_explained_with_the_same_question():
    first = started()
    wrong = run(first.state, text("green"))
    assert words(wrong) == ["not a colour", "colour? [ja]"] and wrong.state.step == "colour"
    right = run(wrong.state, text("赤"))
    assert right.state.step == "size" and right.state.data["colour"] == "red"


def test_finishing_returns_effects_and_leaves_the_flow():
    at_size = run(started().state, text("red"))
    done = run(at_size.state, tap(encode("trial", "size", "s", at_size.state.version)))
    assert done.state.idle and done.effects == ["saved"] and words(done) == ["done red"]


def test_cancel_leaves_any_step_and_keeps_nothing():
    at_size = run(started().state, text("red"))
    for word in ("やめる", "キャンセル", "cancel", "ＣＡＮＣＥＬ"):
        left = run(at_size.state, text(word))
        assert left.state.idle and left.state.data == {}
        assert words(left)[0] == texts.t("ja", "cancel.done")
        assert left.replies[-1].quick, "the menu follows, so there is always somewhere to go"


def test_cancel_outside_any_flow_says_there_was_nothing_to_stop():
    assert words(run(State(), text("やめる")))[0] == texts.t("ja", "cancel.nothing")


def test_help_says_where_the_parent_is_and_repeats_the_step():
    first = started()
    helped = run(first.state, text("ヘルプ"))
    assert "「お試し」" in words(helped)[0] and "色の名前を送ってください。" in words(helped)[0]
    assert words(helped)[-1] == "colour? [ja]" and helped.state.step == "colour"
    by_menu = run(first.state, tap(encode("menu", "help")))
    assert words(by_menu)[-1] == "colour? [ja]"


def test_back_goes_one_step_back_and_says_so_at_the_first():
    first = started()
    assert words(run(first.state, text("もどる")))[0] == texts.t("ja", "back.at_start")
    at_size = run(first.state, text("red"))
    back = run(at_size.state, text("戻る"))
    assert back.state.step == "colour"


def test_a_button_from_an_earlier_step_is_refused_kindly_and_the_current_step_shown_again():
    first = started()
    old_red = encode("trial", "colour", "red", first.state.version)
    at_size = run(first.state, tap(old_red))
    again = run(at_size.state, tap(old_red))
    assert words(again) == [texts.t("ja", "stale.button"), "size? [ja]"]
    assert again.state.step == "size" and again.state.data == at_size.state.data


def test_forged_or_malformed_postbacks_are_stale_buttons():
    first = started()
    for inp in (
        Input("postback", malformed=True),
        tap(encode("trial", "colour", "red")),  # an in-flow answer without its state version
        tap(encode("locked", "colour", "red", first.state.version)),  # another flow's button
        tap(encode("trial", "colour", "red", first.state.version + 7)),
    ):
        again = run(first.state, inp)
        assert words(again)[0] == texts.t("ja", "stale.button") and again.state.step == "colour"


def test_a_stale_button_when_idle_shows_the_menu():
    idle = run(State(version=5), tap(encode("trial", "colour", "red", 3)))
    assert idle.state.idle and words(idle)[0] == texts.t("ja", "stale.button")


def test_starting_the_same_flow_half_way_offers_to_continue_or_restart():
    at_size = run(started().state, text("red"))
    offer = run(at_size.state, tap(encode("trial", "start")))
    labels = [c.label for c in offer.replies[-1].quick]
    assert labels == [texts.t("ja", "resume.continue"), texts.t("ja", "resume.restart")]
    continued = run(offer.state, tap(offer.replies[-1].quick[0].data))
    assert continued.state.step == "size" and continued.state.data["colour"] == "red"
    restarted = run(offer.state, tap(offer.replies[-1].quick[1].data))
    assert restarted.state.step == "colour" and "colour" not in restarted.state.data
    assert words(restarted)[0] == "intro"


def test_an_old_resume_button_is_stale():
    at_size = run(started().state, text("red"))
    offer = run(at_size.state, text("trial"))
    continued = run(offer.state, tap(offer.replies[-1].quick[0].data))
    again = run(continued.state, tap(offer.replies[-1].quick[1].data))
    assert words(again)[0] == texts.t("ja", "stale.button") and again.state.step == "size"


def test_following_again_half_way_offers_to_continue():
    at_size = run(started().state, text("red"))
    offer = run(at_size.state, Input("follow"))
    assert "「お試し」" in words(offer)[0] and offer.state.step == "size"


def test_after_24_hours_the_flow_is_forgotten_and_the_parent_told():
    at_size = run(started().state, text("red"))
    later = ctx(now=NOW + STATE_TTL + timedelta(minutes=1))
    after = run(at_size.state, text("hello"), later)
    assert after.state.idle and words(after) == [texts.t("ja", "expired.notice"), "idle"]
    old_button = run(at_size.state, tap(encode("trial", "size", "s", at_size.state.version)), later)
    assert old_button.state.idle and words(old_button)[1] == texts.t("ja", "stale.button")


def test_within_24_hours_the_flow_waits():
    at_size = run(started().state, text("red"))
    later = ctx(now=NOW + STATE_TTL - timedelta(minutes=1))
    assert run(at_size.state, tap(encode("trial", "size", "s", at_size.state.version)), later).effects == ["saved"]


def test_a_sticker_where_a_button_is_wanted_gets_a_hint_and_the_step_again():
    at_size = run(started().state, text("red"))
    for kind in ("sticker", "image", "location", "text"):
        again = run(at_size.state, Input(kind, text="S" if kind == "text" else ""))
        assert words(again) == [texts.t("ja", "kind.choice_wanted"), "size? [ja]"]


def test_a_sticker_where_text_is_wanted_gets_the_text_hint():
    again = run(started().state, Input("sticker"))
    assert words(again)[0] == texts.t("ja", "kind.text_wanted")


def test_a_refused_detour_keeps_what_the_parent_was_doing():
    at_size = run(started().state, text("red"))
    refused = run(at_size.state, tap(encode("locked", "start")))
    assert words(refused) == ["not for you", "size? [ja]"]
    assert refused.state.flow == "trial" and refused.state.data["colour"] == "red"


def test_a_refusal_from_idle_stays_idle():
    refused = run(State(), tap(encode("locked", "start")))
    assert refused.state.idle and words(refused) == ["not for you"]


def test_a_state_from_an_older_release_starts_over_kindly():
    for state in (State("gone", "step", {}, 3, NOW + STATE_TTL), State("trial", "gone", {}, 3, NOW + STATE_TTL)):
        for inp in (
            text("hello"),
            text("ヘルプ"),
            text("もどる"),
            Input("follow"),
            tap(encode("resume", "continue", "", 3)),
        ):
            after = run(state, inp)
            assert after.state.idle and after.state.version > state.version
            assert after.replies[-1].quick, "the menu, or help with the menu"


def test_a_step_can_switch_the_language_for_its_own_next_prompt():
    blue = run(started().state, text("blue"))
    assert words(blue) == ["size? [en]"]
    assert run(blue.state, text("ヘルプ")).replies[-1].text == "size? [en]"


def test_picked_reads_buttons_and_typed_labels_of_its_own_flow_only():
    options = {"red": ("Red", "赤")}
    assert picked(tap(encode("trial", "colour", "red", 1)), "trial", "colour", options) == "red"
    assert picked(text(" ＲＥＤ "), "trial", "colour", options) == "red"
    assert picked(tap(encode("other", "colour", "red", 1)), "trial", "colour", options) is None
    assert picked(tap(encode("trial", "colour", "green", 1)), "trial", "colour", options) is None
    assert picked(Input("sticker"), "trial", "colour", options) is None
    assert picked(Input("postback", postback=Postback("trial", "size", "red", 1)), "trial", "colour", options) is None
