"""紛失・盗難の報告 and 報告・相談の状況 as pure flows: every answer, invalid input, もどる and やめる, which events a report
concerns, when a report joins an earlier one, and answering staff. No database: the engine, a context, the replies."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

import pytest

from handlers import router
from handlers.engine import Context, Engine, Input, State, Transition
from handlers.events.rules import FACTS_KEY, ApplicationInfo, EventFacts, EventInfo
from handlers.postback import decode, encode
from handlers.replies import Card, Carousel, Choice
from handlers.reports import flow as report
from handlers.reports import loan, staff_chat
from handlers.reports.rules import (
    REPORTS_KEY,
    EscalationInfo,
    EventRef,
    ReportFacts,
    ThreadMessage,
    merge_target,
    same_matter,
)
from services.reports.operations import AnswerStaff, FileReport
from tests.flow_world import BASE_URL, NOW, PHONE, assert_valid_for_line, reply_text

ENGINE = Engine(
    [report.FLOW, report.STATUS_FLOW, loan.FLOW, staff_chat.FLOW, staff_chat.LINK_FLOW], idle=lambda *_: None
)
ENGINE.idle = router._idle(ENGINE)


def event(event_id: int, title: str, days: int = 2, centre: str = "minamihoncho") -> EventInfo:
    start = NOW + timedelta(days=days)
    return EventInfo(
        id=event_id,
        centre=centre,
        kind="meetup",
        title=title,
        description="",
        starts_at=start,
        ends_at=start + timedelta(hours=1),
        capacity=10,
        seated=3,
        waiting=0,
        opens_at=NOW - timedelta(days=3),
        closes_at=start,
    )


NENNE = event(11, "ねんねの赤ちゃん交流会")
YOCHI = event(12, "よちよち歩きさんの交流会", days=3, centre="takanedai")
APPLICATIONS = (ApplicationInfo(1, NENNE, "confirmed"), ApplicationInfo(2, YOCHI, "waitlisted", position=2))


@dataclass
class Chat:
    lang: str = "ja"
    registered: bool = True
    applications: tuple[ApplicationInfo, ...] = APPLICATIONS
    escalations: tuple[EscalationInfo, ...] = ()
    state: State = field(default_factory=State)
    last: Transition | None = None
    effects: list[Any] = field(default_factory=list)

    def ctx(self) -> Context:
        facts = {
            FACTS_KEY: EventFacts(parent_id=1 if self.registered else None, applications=self.applications),
            REPORTS_KEY: ReportFacts(escalations=self.escalations, fresh="7KQ2MX"),
        }
        return Context(
            now=NOW,
            lang=self.lang,
            registered=self.registered,
            consent_current=True,
            facts=facts,
            public_base_url=BASE_URL,
            contact_phone=PHONE,
        )

    def send(self, inp: Input) -> Transition:
        self.last = ENGINE.step(self.state, inp, self.ctx())
        if self.last.replies:
            assert_valid_for_line(self.last.replies)
        self.state = self.last.state
        self.effects += self.last.effects
        return self.last

    def say(self, text: str) -> Transition:
        return self.send(Input("text", text=text))

    def tap_data(self, data: str) -> Transition:
        return self.send(Input("postback", postback=decode(data)))

    def choices(self) -> dict[str, Choice]:
        out: dict[str, Choice] = {}
        for reply in self.last.replies:
            cards = reply.cards if isinstance(reply, Carousel) else (reply,) if isinstance(reply, Card) else ()
            for choice in (*reply.quick, *(button for card in cards for button in card.buttons)):
                out[choice.label] = choice
        return out

    def tap(self, label: str) -> Transition:
        choice = self.choices().get(label)
        assert choice is not None, f"no {label!r} in {sorted(self.choices())}"
        return self.tap_data(choice.data) if choice.data else self.say(choice.text)

    def text(self) -> str:
        return "\n".join(reply_text(r) for r in self.last.replies)


def start(chat: Chat) -> Chat:
    chat.tap_data(encode("report", "start"))
    return chat


def to_note(chat: Chat, lost="参加用リンク", when="今日", misuse="はい") -> Chat:
    start(chat)
    for label in (lost, when, misuse):
        chat.tap(label)
    return chat


def filed(chat: Chat) -> FileReport:
    [effect] = [e for e in chat.effects if isinstance(e, FileReport)]
    return effect


# --- every answer -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "label, value",
    [
        ("参加用リンク", "join_link"),
        ("ミーティングID・パスコード", "meeting_details"),
        ("WEB会議のID・パスワード", "service_account"),
        ("その他", "other"),
    ],
)
def test_each_kind_of_loss(label, value):
    chat = to_note(Chat(), lost=label)
    chat.tap("関係なし・不明")
    chat.tap("特になし")
    chat.tap("報告する")
    assert filed(chat).lost == value and filed(chat).event_ids == ()
    assert chat.state.idle


@pytest.mark.parametrize(
    "label, value",
    [
        ("今日", "today"),
        ("昨日", "yesterday"),
        ("この1週間", "this_week"),
        ("それより前", "earlier"),
        ("わからない", "unknown"),
    ],
)
def test_each_time_of_noticing(label, value):
    chat = to_note(Chat(), when=label)
    chat.tap("関係なし・不明")
    chat.tap("特になし")
    chat.tap("報告する")
    assert filed(chat).lost_when == value


@pytest.mark.parametrize("label, value", [("はい", "yes"), ("いいえ", "no"), ("わからない", "unsure")])
def test_each_answer_about_misuse(label, value):
    chat = to_note(Chat(), misuse=label)
    chat.tap("関係なし・不明")
    chat.say("特になし")
    chat.tap("報告する")
    assert filed(chat).misuse == value


def test_the_whole_report_with_events_and_a_note_and_its_receipt():
    chat = to_note(Chat())
    assert "当てはまるものをすべて選び" in chat.text()
    chat.tap(_label(chat, "ねんね"))
    assert "選んだイベント：" in chat.text() and any(label.startswith("✓") for label in chat.choices())
    chat.tap(_label(chat, "よちよち"))
    chat.tap(_label(chat, "よちよち"))  # tapped again: off
    chat.tap("決定")
    chat.say("  スマホごと落としました  ")
    card = chat.text()
    assert "イベント：" in card and "ねんねの赤ちゃん交流会" in card and "よちよち" not in card
    assert "メモ：スマホごと落としました" in card and "すぐに使えなくなります" in card
    chat.tap("報告する")
    receipt = chat.text()
    assert "受付番号：R-7KQ2MX" in receipt and PHONE in receipt
    assert "【このあと】" in receipt and "【それまでのあいだ】" in receipt and "使わないでください" in receipt
    assert "新しいリンクは、職員が確認してから" in receipt
    assert "報告・相談の状況" in chat.choices()
    assert filed(chat) == FileReport(
        reference="R-7KQ2MX",
        lost="join_link",
        lost_when="today",
        misuse="yes",
        event_ids=(11,),
        note="スマホごと落としました",
        base_url=BASE_URL,
    )


def test_the_receipt_offers_each_menu_entry_once_with_the_status_first():
    chat = to_note(Chat())
    chat.tap("すべて")
    chat.tap("特になし")
    chat.tap("報告する")
    labels = [choice.label for choice in chat.last.replies[-1].quick]
    assert labels[0] == "報告・相談の状況" and len(labels) == len(set(labels)), labels


def test_typed_answers_work_in_either_language():
    chat = start(Chat())
    chat.say("Meeting ID / passcode")
    chat.say("昨日")
    chat.say("not sure")
    chat.say("All")
    chat.say("nothing more")
    chat.say("Send report")
    effect = filed(chat)
    assert (effect.lost, effect.lost_when, effect.misuse, effect.event_ids) == (
        "meeting_details",
        "yesterday",
        "unsure",
        (11, 12),
    )


def test_the_report_in_english():
    chat = to_note(Chat(lang="en"), lost="My join link", when="Today", misuse="No")
    chat.tap("All")
    chat.tap("Nothing more")
    chat.tap("Send report")
    assert "Reference number: R-7KQ2MX" in chat.text() and "Staff will send new ones here after checking" in chat.text()


def test_a_lost_line_account_concerns_every_application_without_asking():
    chat = to_note(Chat(), lost="スマホ・LINEアカウント")
    assert "すべてのイベントの参加用リンクを止めます" in chat.text()
    chat.tap("特になし")
    chat.tap("報告する")
    assert filed(chat).event_ids == (11, 12)
    assert "LINEのパスワードを変更" in chat.text()


def test_without_applications_no_event_is_asked():
    chat = to_note(Chat(applications=()))
    assert "ほかに伝えたいこと" in chat.text()
    chat.tap("特になし")
    chat.tap("報告する")
    assert filed(chat).event_ids == () and "参加用リンクは止めました" not in chat.text()


def test_a_waitlisted_application_has_no_link_to_stop():
    chat = to_note(Chat())
    chat.tap(_label(chat, "よちよち"))
    chat.tap("決定")
    chat.tap("特になし")
    assert "すぐに使えなくなります" not in chat.text()


# --- invalid input, もどる, やめる, ヘルプ -------------------------------------------------------------------------
def test_invalid_answers_are_asked_again_kindly():
    chat = start(Chat())
    chat.say("えーと")
    assert "下のボタンから選んでください" in chat.text() and "なくした（盗まれた）ものはどれですか" in chat.text()
    chat.send(Input("sticker"))
    assert "ボタンから選んでください" in chat.text()
    chat.tap("その他")
    chat.tap_data(encode("report", "what", "join_link", chat.state.version - 1))  # an older button
    assert "このボタンは古いため" in chat.text()
    chat.tap("今日")
    chat.tap("いいえ")
    chat.say("どれでもない")
    assert "下のボタンから選んでください" in chat.text()
    chat.tap_data(encode("report", "toggle", "999", chat.state.version))  # not one of theirs
    assert "下のボタンから選んでください" in chat.text()
    chat.tap("決定")
    chat.say("あ" * 501)
    assert "500文字以内" in chat.text()
    chat.send(Input("image"))
    assert "文字で入力" in chat.text()
    chat.tap("特になし")
    chat.say("はい")
    assert "下のボタンから選んでください" in chat.text() and chat.effects == []


@pytest.mark.parametrize("steps", [0, 1, 2, 3, 4, 5])
def test_cancelling_at_any_step_saves_nothing(steps):
    chat = start(Chat())
    for label in ("参加用リンク", "今日", "はい", "決定", "特になし")[:steps]:
        chat.tap(label)
    chat.tap("やめる")
    assert "やめました" in chat.text() and chat.state.idle and chat.effects == []


def test_back_goes_one_question_back_and_keeps_the_answers():
    chat = to_note(Chat())
    chat.tap("もどる")
    assert "使われたかもしれない心当たり" in chat.text()
    chat.tap("もどる")
    chat.tap("もどる")
    assert "なくした（盗まれた）もの" in chat.text()
    chat.tap("WEB会議のID・パスワード")
    chat.tap("昨日")
    chat.tap("いいえ")
    chat.tap("すべて")
    chat.tap("特になし")
    chat.tap("報告する")
    assert (filed(chat).lost, filed(chat).lost_when) == ("service_account", "yesterday")
    assert "WEB会議サービスのパスワードを変更" in chat.text()


def test_help_explains_the_choices():
    chat = start(Chat())
    chat.say("ヘルプ")
    assert "「紛失・盗難の報告」の途中です" in chat.text() and "あなた専用のリンク" in chat.text()


def test_keywords_start_a_report_and_unregistered_users_are_sent_to_the_phone():
    for word in ("紛失", "盗難", "なくした", "lost", "Stolen"):
        chat = Chat()
        chat.say(word)
        assert chat.state.flow == "report", word
    stranger = Chat(registered=False)
    stranger.say("紛失")
    assert stranger.state.idle and PHONE in stranger.text()


# --- the same matter twice ------------------------------------------------------------------------------------
def open_report(lost="join_link", hours_ago=2, events=(11,), status="open") -> EscalationInfo:
    refs = tuple(EventRef(i, "t", NOW, "minamihoncho") for i in events)
    return EscalationInfo(
        id=5,
        reference="R-AAAAAA",
        kind="lost_credentials",
        status=status,
        centre="minamihoncho",
        created_at=NOW - timedelta(hours=hours_ago),
        events=refs,
        lost=lost,
    )


def test_the_receipt_says_when_a_report_joins_an_earlier_one():
    chat = to_note(Chat(escalations=(open_report(),)))
    chat.tap(_label(chat, "ねんね"))
    chat.tap("決定")
    chat.tap("特になし")
    chat.tap("報告する")
    assert "同じ内容のご報告を" in chat.text() and "R-AAAAAA" in chat.text() and "R-7KQ2MX" not in chat.text()


@pytest.mark.parametrize(
    "earlier, lost, events, same",
    [
        (open_report(), "join_link", (11,), True),
        (open_report(), "join_link", (11, 12), True),
        (open_report(), "join_link", (12,), False),
        (open_report(), "other", (11,), False),
        (open_report(hours_ago=25), "join_link", (11,), False),
        (open_report(status="resolved"), "join_link", (11,), False),
        (open_report(events=()), "join_link", (), True),
        (open_report(events=()), "join_link", (11,), False),
        (open_report(lost="line_account", events=(11,)), "line_account", (12,), True),
        (replace(open_report(), kind="equipment_loan"), "join_link", (11,), False),
    ],
)
def test_what_counts_as_the_same_matter(earlier, lost, events, same):
    assert same_matter(earlier, lost, events, NOW) is same
    assert (merge_target([earlier], lost, events, NOW) is earlier) is same


# --- 報告・相談の状況 and answering staff -------------------------------------------------------------------------
def with_instruction(answered: bool = False, status: str = "acknowledged") -> EscalationInfo:
    said = ThreadMessage(
        id=9,
        direction="to_parent",
        text="いまお使いの端末を教えてください",
        at=NOW,
        centre="takanedai",
        answered=answered,
    )
    return replace(open_report(status=status), instruction=said)


def test_the_status_list_shows_each_matter_and_the_word_from_staff():
    chat = Chat(escalations=(with_instruction(),))
    chat.tap_data(encode("my_reports", "start"))
    text = chat.text()
    assert "紛失・盗難の報告（R-AAAAAA）" in text and "状況：職員が対応しています" in text
    assert "職員からの連絡：いまお使いの端末を教えてください" in text and "お返事をお待ちしています" in text
    assert "返信する" in chat.choices()
    empty = Chat()
    empty.tap_data(encode("my_reports", "start"))
    assert "いま受け付けている報告・相談はありません" in empty.text()


def test_answering_from_the_button_after_a_confirmation():
    chat = Chat(escalations=(with_instruction(),))
    chat.tap_data(encode("my_reports", "start", "answer.5"))
    assert "職員への返信を入力してください（受付番号：R-AAAAAA）" in chat.text()
    chat.say("iPadです")
    chat.tap("書き直す")
    chat.say("iPadとイヤホンです")
    chat.tap("送る")
    assert chat.effects == [AnswerStaff(5, "iPadとイヤホンです")]


def test_free_text_outside_a_flow_is_offered_as_the_answer_only_while_staff_wait():
    waiting = Chat(escalations=(with_instruction(),))
    waiting.say("iPadです")
    assert waiting.state.flow == "my_reports" and "返信として" in waiting.text()
    waiting.tap("返信として送る")
    assert waiting.effects == [AnswerStaff(5, "iPadです")]

    answered = Chat(escalations=(with_instruction(answered=True),))
    answered.say("iPadです")
    assert answered.state.idle and "返信として" not in answered.text()

    long = Chat(escalations=(with_instruction(),))
    long.say("あ" * 1001)
    assert "1000文字以内" in long.text() and long.state.idle


def test_a_resolved_matter_takes_no_answer():
    chat = Chat(escalations=(with_instruction(status="resolved"),))
    chat.tap_data(encode("my_reports", "start", "answer.5"))
    assert PHONE in chat.text() and chat.state.idle and chat.effects == []


def _label(chat: Chat, title: str) -> str:
    [found] = [label for label in chat.choices() if title in label]
    return found
