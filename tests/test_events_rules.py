"""The event rules as pure functions: who an event is for, when one may apply, what the join page may show, quiet
hours, how staff input is read, and the events flow's steps over a hand-made context (no database, no LINE)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.demo.line_double import check_messages
from handlers import router
from handlers.engine import Context, Input, State
from handlers.events import views
from handlers.events.drafts import parse_draft
from handlers.events.rules import (
    FACTS_KEY,
    ApplicationInfo,
    EventFacts,
    EventInfo,
    apply_refusal,
    expected_outcome,
    fits,
    join_state,
    quiet_until,
    sorted_for,
    window_refusal,
)
from handlers.postback import decode, encode
from handlers.replies import Carousel
from runtime.render import render_all
from services.events.operations import ApplyForEvent, SetAnnouncementOptIn
from storage.clock import TOKYO

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)  # 12:00 in Tokyo


def event(event_id: int = 1, **changes) -> EventInfo:
    base = EventInfo(
        id=event_id,
        centre="minamihoncho",
        kind="meetup",
        title=f"交流会 {event_id}",
        description="説明",
        starts_at=NOW + timedelta(days=2),
        ends_at=NOW + timedelta(days=2, hours=1),
        capacity=10,
        seated=0,
        waiting=0,
        opens_at=NOW - timedelta(days=1),
        closes_at=NOW + timedelta(days=1),
    )
    return replace(base, **changes)


def ctx(
    *events: EventInfo,
    registered=True,
    consent=True,
    children=("2026-05",),
    pregnant=False,
    applications=(),
    barred=False,
    optins=frozenset(),
    lang="ja",
) -> Context:
    facts = EventFacts(
        parent_id=7 if registered else None, events=events, applications=applications, barred_all=barred, optins=optins
    )
    profile = {"children": list(children), "is_pregnant": pregnant, "due_month": "2027-02" if pregnant else None}
    return Context(
        now=NOW,
        lang=lang,
        registered=registered,
        consent_current=consent,
        profile=profile if registered else {},
        facts={FACTS_KEY: facts},
        public_base_url="https://bot.example.test",
        contact_phone="047-000-0000",
    )


# --- who an event is for ---------------------------------------------------------------------------------------
def test_a_child_fits_by_age_in_months_at_the_start_inclusive():
    infants = event(target_min_months=6, target_max_months=11)
    # The event is on 27 November 2026 (Tokyo): a child born in May 2026 is 6 months old then.
    assert fits(infants, {"children": ["2026-05"]})
    assert fits(infants, {"children": ["2025-12"]})  # 11 months
    assert not fits(infants, {"children": ["2025-11"]})  # 12 months
    assert not fits(infants, {"children": ["2026-06"]})  # 5 months
    assert fits(infants, {"children": ["2024-01", "2026-03"]})  # any one child is enough


def test_pregnant_events_and_events_for_everyone():
    for_expecting = event(target_pregnant=True)
    assert fits(for_expecting, {"children": [], "is_pregnant": True, "due_month": "2027-03"})
    assert not fits(for_expecting, {"children": ["2026-01"], "is_pregnant": False})
    # Due before the event's month: no longer pregnant by then.
    assert not fits(for_expecting, {"children": [], "is_pregnant": True, "due_month": "2026-10"})
    assert fits(event(), {"children": []})


def test_fitting_events_come_first_then_by_date():
    later_fit = event(1, starts_at=NOW + timedelta(days=9), target_max_months=12)
    sooner_other = event(2, starts_at=NOW + timedelta(days=1), target_min_months=24)
    sooner_fit = event(3, starts_at=NOW + timedelta(days=2), target_max_months=12)
    ordered = sorted_for([later_fit, sooner_other, sooner_fit], {"children": ["2026-05"]})
    assert [e.id for e in ordered] == [3, 1, 2]


# --- applying ----------------------------------------------------------------------------------------------------
def test_the_application_window():
    assert window_refusal(event(), NOW) is None
    assert window_refusal(event(opens_at=NOW + timedelta(minutes=1)), NOW) == "not_open_yet"
    assert window_refusal(event(closes_at=NOW), NOW) == "closed"
    assert window_refusal(event(starts_at=NOW), NOW) == "started"
    assert window_refusal(event(status="cancelled"), NOW) == "cancelled"


def test_refusals_ask_for_consent_only_when_nothing_else_stands_in_the_way():
    older = event(target_min_months=24)
    assert apply_refusal(ctx(older, consent=False), older) == "not_fit"
    assert apply_refusal(ctx(event(), consent=False), event()) == "no_consent"
    assert apply_refusal(ctx(event(), registered=False, consent=False), event()) == "not_registered"
    assert apply_refusal(ctx(event(), barred=True), event()) == "barred"
    mine = ApplicationInfo(id=3, event=event(), status="waitlisted", position=2)
    assert apply_refusal(ctx(event(), applications=(mine,)), event()) == "already"
    assert apply_refusal(ctx(event()), event()) is None


def test_what_an_application_becomes():
    assert expected_outcome(event()) == "confirmed"
    assert expected_outcome(event(needs_approval=True)) == "pending"
    assert expected_outcome(event(seated=10)) == "waitlisted"
    assert expected_outcome(event(seated=10, needs_approval=True)) == "waitlisted"


# --- the join page ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "offset, expected",
    [
        (-timedelta(minutes=16), "too_early"),
        (-timedelta(minutes=15), "open"),
        (timedelta(minutes=59), "open"),
        (timedelta(minutes=60), "ended"),
    ],
)
def test_how_to_join_shows_from_15_minutes_before_to_the_end(offset, expected):
    start = NOW
    assert (
        join_state(
            moment=start + offset,
            starts_at=start,
            ends_at=start + timedelta(hours=1),
            opens_minutes=15,
            revoked=False,
            refusal=None,
        )
        == expected
    )


def test_a_revoked_link_or_a_refusal_wins_over_the_window():
    args = dict(moment=NOW, starts_at=NOW, ends_at=NOW + timedelta(hours=1), opens_minutes=15)
    assert join_state(**args, revoked=True, refusal=None) == "revoked"
    for reason in ("barred", "no_consent", "not_confirmed", "cancelled"):
        assert join_state(**args, revoked=False, refusal=reason) == reason


# --- quiet hours ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "local, expected",
    [
        ((20, 59), None),
        ((21, 0), (1, 8)),
        ((23, 30), (1, 8)),
        ((3, 0), (0, 8)),
        ((7, 59), (0, 8)),
        ((8, 0), None),
    ],
)
def test_announcements_wait_for_the_end_of_quiet_hours(local, expected):
    moment = datetime(2026, 11, 25, *local, tzinfo=TOKYO).astimezone(UTC)
    result = quiet_until(moment)
    if expected is None:
        assert result is None
    else:
        days, hour = expected
        assert result == datetime(2026, 11, 25 + days, hour, 0, tzinfo=TOKYO)


# --- how events read -----------------------------------------------------------------------------------------------
def test_times_read_in_tokyo_and_targets_in_plain_words():
    start = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
    e = event(starts_at=start, ends_at=start + timedelta(hours=1))
    assert views.when("ja", e.starts_at, e.ends_at) == "12月1日(火) 10:00〜11:00"
    assert views.when("en", e.starts_at, e.ends_at) == "Tue 1 Dec, 10:00–11:00"
    assert views.target("ja", event(target_min_months=0, target_max_months=11)) == "0か月〜11か月のお子さんと保護者"
    assert (
        views.target("ja", event(target_min_months=12, target_max_months=30, target_pregnant=True))
        == "1歳〜2歳6か月のお子さんと保護者、妊娠中の方"
    )
    assert views.target("en", event()).startswith("everyone")


# --- staff input ---------------------------------------------------------------------------------------------------
ROW = {
    "センター": "南本町",
    "種類": "交流会",
    "タイトル": "ねんねの会",
    "説明": "一行目\n二行目",
    "開始": "２０２６／１２／０１ １０：００",
    "終了": "2026-12-01 11:00",
    "定員": "10",
    "対象月齢": "0〜11",
    "承認": "いいえ",
    "妊娠中": "",
    "サービス": "Zoom",
    "参加URL": "https://zoom.example.test/j/1",
    "ミーティングID": "123 456 789",
    "パスコード": "abc",
}


def test_a_csv_row_with_japanese_columns_and_full_width_digits_is_read():
    draft, errors = parse_draft(ROW, moment=NOW)
    assert errors == []
    assert (draft.centre, draft.kind, draft.capacity) == ("minamihoncho", "meetup", 10)
    assert draft.starts_at == datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
    assert (draft.target_min_months, draft.target_max_months) == (0, 11)
    assert draft.description == "一行目\n二行目"
    assert draft.applications_close_at == draft.starts_at


def test_every_problem_of_a_row_is_named():
    bad = ROW | {
        "センター": "船橋駅前",
        "開始": "2026-11-01 10:00",
        "定員": "0",
        "承認": "たぶん",
        "対象月齢": "12-3",
        "参加URL": "http://zoom.example.test/j/1",
    }
    draft, errors = parse_draft(bad, moment=NOW)
    assert draft is None
    joined = "\n".join(errors)
    for expected in ("センターは", "開始がすでに過ぎています", "定員は", "「承認」は", "対象月齢は", "https://"):
        assert expected in joined
    _, missing = parse_draft({k: v for k, v in ROW.items() if k != "タイトル"}, moment=NOW)
    assert missing == ["「タイトル」が空です"]


# --- the flow over a hand-made context ------------------------------------------------------------------------
def step(state: State, c: Context, inp: Input):
    transition = router.step(state, inp, c)
    errors = check_messages(render_all(transition.replies)[:5]) if transition.replies else []
    assert errors == []
    return transition


def tap(data: str) -> Input:
    return Input("postback", postback=decode(data))


def test_more_than_ten_events_are_shown_ten_at_a_time():
    many = tuple(event(i, title="とても長いイベントの名前" * 4) for i in range(1, 13))
    c = ctx(*many)
    first = step(State(), c, tap(encode("events", "start")))
    carousel = next(r for r in first.replies if isinstance(r, Carousel))
    assert len(carousel.cards) == 10
    more = next(q for q in carousel.quick if q.label.startswith("もっと見る"))
    second = step(first.state, c, tap(more.data))
    carousel = next(r for r in second.replies if isinstance(r, Carousel))
    assert [card.title for card in carousel.cards] == [many[10].title, many[11].title]


def test_a_second_tap_on_apply_is_a_stale_button_and_applies_nothing():
    e = event()
    c = ctx(e)
    state = step(State(), c, tap(encode("events", "start"))).state
    state = step(state, c, tap(encode("events", "detail", "1", state.version))).state
    state = step(state, c, tap(encode("events", "apply", "1", state.version))).state
    yes = encode("events", "yes", "1", state.version)
    done = step(state, c, tap(yes))
    assert done.effects == [ApplyForEvent(1, "confirmed", "https://bot.example.test")]
    again = step(done.state, c, tap(yes))
    assert again.effects == []
    assert "古い" in again.replies[0].text


def test_an_unconsented_parent_is_taken_to_the_consent_flow():
    e = event()
    c = ctx(e, consent=False)
    state = step(State(), c, tap(encode("events", "start"))).state
    state = step(state, c, tap(encode("events", "detail", "1", state.version))).state
    result = step(state, c, tap(encode("events", "apply", "1", state.version)))
    assert result.state.flow == "consent"
    assert result.effects == []


def test_notice_toggles_change_at_once_and_become_effects():
    c = ctx(event(), optins=frozenset({"takanedai"}))
    state = step(State(), c, tap(encode("events", "start"))).state
    shown = step(state, c, tap(encode("events", "notices", "", state.version)))
    assert "高根台子育て支援センター：受け取る" in shown.replies[0].text
    turned = step(shown.state, c, tap(encode("events", "optin", "minamihoncho", shown.state.version)))
    assert turned.effects == [SetAnnouncementOptIn("minamihoncho", True)]
    assert "南本町子育て支援センター：受け取る" in turned.replies[0].text
