"""Random parents (hypothesis): whatever is sent — buttons old and new, forged postbacks, 6,000-character texts,
stickers, ヘルプ/やめる/もどる, days passing, a new policy version — registration and consent never fail, never leave a
parent in a step without a way out, and every reply is a valid LINE request."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handlers.effects import SaveProfile
from handlers.engine import Input
from handlers.postback import encode
from handlers.registration import rules
from tests.flow_world import ENGINE, World, assert_valid_for_line

FLOWS = ("registration", "consent", "profile", "policy", "menu", "resume", "events", "nope")
ACTIONS = (
    "start",
    "role",
    "lang",
    "year",
    "month",
    "due",
    "centre",
    "add",
    "remove",
    "done",
    "edit",
    "save",
    "close",
    "next",
    "answer",
    "read",
    "agree",
    "withdraw",
    "confirm",
    "continue",
    "restart",
    "help",
)
VALUES = (
    "",
    "guardian",
    "pregnant",
    "both",
    "minor",
    "en",
    "ja",
    "2024",
    "2024-05",
    "2027-01",
    "13",
    "division",
    "takanedai",
    "name",
    "children",
    "agreed",
    "declined",
    "yes",
    "no",
    "x" * 80,
)
ANSWERS = (
    "船橋 花子（ふなばし はなこ）",
    "船橋 花子",
    "ふなばし はなこ",
    "Jane Smith",
    "090-1234-5678",
    "047-436-2111",
    "0120-1",
    "2024年5月",
    "令和6年5月",
    "May 2024",
    "2019年1月",
    "2027年2月",
    "2030年1月",
    "5",
    "はい",
    "いいえ",
    "同意する",
    "同意しない",
    "次へ",
    "登録する",
    "保存する",
    "English",
    "日本語",
    "ヘルプ",
    "help",
    "やめる",
    "cancel",
    "もどる",
    "back",
    "登録",
    "登録情報",
    "ポリシー",
    "メニュー",
    "？",
    "",
)

# A fitting answer for the step the parent is at, so random walks get deep into the flows.
FITTING = {
    "name": ("船橋 花子（ふなばし はなこ）", "船橋 花子", "Jane Smith", "ｶﾀｶﾅ ﾀﾛｳ"),
    "furigana": ("ふなばし はなこ", "フナバシ"),
    "phone": ("090-1234-5678", "０４７-４３６-２１１１", "+81 80 1111 2222"),
    "child": ("2024年5月", "令和5年1月", "2020/4", "May 2026"),
    "child_month": ("3", "2024年2月"),
    "due": ("2027年2月", "2026年11月"),
}
tap_a_button = st.tuples(st.just("tap"), st.integers(min_value=0, max_value=30))
fitting_answer = st.tuples(st.just("answer"), st.integers(min_value=0, max_value=10))
typed = st.tuples(
    st.just("text"),
    st.one_of(
        st.sampled_from(ANSWERS),
        st.text(max_size=60),
        st.builds(lambda ch, n: ch * n, st.sampled_from("あA1ー🙂 \n"), st.integers(min_value=5000, max_value=6000)),
    ),
)
other_kind = st.tuples(
    st.just("kind"), st.sampled_from(("sticker", "image", "video", "audio", "file", "location", "other", "follow"))
)
forged = st.tuples(
    st.just("postback"),
    st.one_of(
        st.builds(
            lambda f, a, v, n: encode(f, a, v, n),
            st.sampled_from(FLOWS),
            st.sampled_from(ACTIONS),
            st.sampled_from(VALUES),
            st.one_of(st.none(), st.integers(min_value=0, max_value=60)),
        ),
        st.text(max_size=320),
        st.just("1|registration|role|guardian|" + "9" * 300),
    ),
)
time_passes = st.tuples(st.just("wait"), st.integers(min_value=1, max_value=30 * 60))
new_policy = st.tuples(st.just("new_policy"), st.just(0))
action = st.one_of(
    tap_a_button, fitting_answer, fitting_answer, fitting_answer, typed, other_kind, forged, time_passes, new_policy
)
# Mostly fitting answers with the odd slip: these walks reach the card, saving, the sections and the answer.
cooperative = st.one_of(*[fitting_answer] * 12, tap_a_button, typed, other_kind, forged, time_passes, new_policy)


def perform(world: World, step: tuple) -> None:
    kind, value = step
    if kind == "tap":
        buttons = [c for c in world.choices().values() if c.uri is None]
        if not buttons:
            world.say("メニュー")
            return
        button = buttons[value % len(buttons)]
        world.tap_data(button.data) if button.data is not None else world.say(button.text)
    elif kind == "answer":
        fitting = FITTING.get(world.state.step or "")
        # On a choice step the first button moves on (a role, a centre, 登録する, 次へ, 同意する).
        world.say(fitting[value % len(fitting)]) if fitting else perform(world, ("tap", 0 if value % 3 else value))
    elif kind == "text":
        world.say(value)
    elif kind == "kind":
        world.send(Input(value))
    elif kind == "postback":
        world.tap_data(value)
    elif kind == "wait":
        world.now += timedelta(minutes=value)
        world.say("ヘルプ")
    else:
        world.policy = f"{len(world.consents):064x}"
        world.say("メニュー")


def check(world: World) -> None:
    assert_valid_for_line(world.last.replies)
    state = world.state
    if state.idle:
        return
    flow = ENGINE.flows[state.flow]
    assert state.step in flow.steps and state.expires_at is not None
    assert world.last.replies[-1].quick, f"{state.flow}:{state.step} leaves no button to tap"
    left = ENGINE.step(state, Input("text", text="やめる"), world.ctx())
    assert left.state.idle and left.effects == [], "やめる leaves any step safely"


def check_saved(effect: SaveProfile, world: World) -> None:
    today = (world.now + timedelta(hours=9)).date()
    assert rules.parse_phone(effect.phone) == effect.phone
    assert effect.centre in rules.CENTRES and effect.name and len(effect.name) <= rules.MAX_NAME
    assert effect.is_guardian or effect.is_pregnant
    assert bool(effect.children) == effect.is_guardian and len(effect.children) <= rules.MAX_CHILDREN
    assert (effect.due_month is not None) == effect.is_pregnant
    for month in effect.children:
        assert rules.child_month_problem(*rules.month_of(month), today) is None


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    start_registered=st.booleans(),
    lang=st.sampled_from(("ja", "en")),
    steps=st.lists(action, min_size=1, max_size=45),
)
def test_random_parents_never_break_registration_or_consent(start_registered, lang, steps):
    profile = {
        "name": "船橋 花子",
        "furigana": "ふなばし はなこ",
        "phone": "09012345678",
        "is_guardian": True,
        "is_pregnant": False,
        "due_month": None,
        "children": ["2024-05"],
        "centre": "division",
    }
    world = World(lang=lang, profile=profile if start_registered else None)
    world.follow()
    check(world)
    for step in steps:
        saved_before = len(world.effects)
        perform(world, step)
        check(world)
        for effect in world.effects[saved_before:]:
            if isinstance(effect, SaveProfile):
                check_saved(effect, world)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lang=st.sampled_from(("ja", "en")), steps=st.lists(cooperative, min_size=10, max_size=60))
def test_mostly_helpful_parents_get_through_registration_and_consent_with_every_reply_valid(lang, steps):
    world = World(lang=lang)
    world.follow()
    check(world)
    for step in steps:
        saved_before = len(world.effects)
        perform(world, step)
        check(world)
        for effect in world.effects[saved_before:]:
            if isinstance(effect, SaveProfile):
                check_saved(effect, world)
