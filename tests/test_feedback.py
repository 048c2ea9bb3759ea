"""After an event: the thank-you to those who joined, its 満足度 buttons, the optional comment, what staff see."""

from __future__ import annotations

from sqlalchemy import select

from handlers.events.reminders import score_postback
from services.events.operations import cancel_event
from storage import feedback, join_links
from storage.db import unit_of_work
from storage.models import Event, Feedback
from tests.scheduler_support import clock, event_at, join, pushed, rows, tick, tokyo, worker  # noqa: F401 (fixtures)

START = tokyo(2030, 6, 5, 14)


def joined(participant) -> None:
    """The participant's join page showed them how to join (they took part)."""
    with unit_of_work() as session:
        link = join_links.live(session, participant.enrollment_id)
        join_links.record_opening(session, link, fingerprint="device-1", outcome="open", details_shown=True)


def thanked(line, participant) -> list[dict]:
    return [
        e["json"]["messages"]
        for e in line.requests("/message/multicast")
        if e["status"] == 200 and participant.user_id in e["json"]["to"]
    ]


def answers(event_id: int) -> list[Feedback]:
    with unit_of_work() as session:
        return list(session.scalars(select(Feedback).where(Feedback.event_id == event_id)))


def test_those_who_joined_are_thanked_once_after_the_event_and_asked_one_question(clock, worker, line):
    event = event_at(START)
    came, stayed_away = join(event), join(event)
    joined(came)
    clock.tokyo(2030, 6, 5, 15, 5)
    tick(worker)
    assert thanked(line, came) == []  # ten minutes after the end
    clock.tokyo(2030, 6, 5, 15, 10)
    tick(worker)
    tick(worker)
    [[message]] = thanked(line, came)
    assert thanked(line, stayed_away) == []
    assert "ありがとうございました" in message["text"] and "1〜5" in message["text"]
    assert [i["action"]["label"] for i in message["quickReply"]["items"]] == ["1", "2", "3", "4", "5"]
    [row] = rows("thanks")
    assert row.recipients == [came.user_id] and row.subject == f"event:{event}"


def test_a_score_then_a_comment_are_kept_for_staff(clock, worker, line, chat):
    event = event_at(START)
    parent = chat()
    participant = join(event, user_id=parent.user_id)
    joined(participant)
    clock.tokyo(2030, 6, 5, 15, 30)
    tick(worker)
    thank_you = parent.new_messages()
    asked = parent.choose(thank_you, "4")
    assert "満足度「4」" in parent.texts(asked)
    assert [a.score for a in answers(event)] == [4]  # kept even if no comment follows
    done = parent.say("画面越しでも話せて楽しかったです")
    assert "ご感想をありがとうございました" in parent.texts(done)
    with unit_of_work() as session:
        summary = feedback.summary(session, event)
    assert (summary.answers, summary.mean, summary.by_score[4]) == (1, 4.0, 1)
    assert [comment for _, comment in summary.comments] == ["画面越しでも話せて楽しかったです"]


def test_the_comment_can_be_skipped_and_a_second_tap_replaces_the_score(clock, worker, line, chat):
    event = event_at(START)
    parent = chat()
    joined(join(event, user_id=parent.user_id))
    clock.tokyo(2030, 6, 5, 15, 30)
    tick(worker)
    thank_you = parent.new_messages()
    asked = parent.choose(thank_you, "2")
    assert "ご回答ありがとうございました" in parent.texts(parent.choose(asked, "スキップ"))
    parent.choose(thank_you, "5")
    [answer] = answers(event)
    assert (answer.score, answer.comment) == (5, None)


def test_a_score_for_an_event_the_parent_did_not_take_part_in_is_not_kept(clock, worker, chat):
    event = event_at(START)
    join(event)
    outsider = chat()
    join(event_at(tokyo(2030, 6, 6, 14)), user_id=outsider.user_id)
    clock.tokyo(2030, 6, 5, 15, 30)
    outsider.tap(score_postback(event, "1"))
    assert answers(event) == []


def test_a_thank_you_for_a_late_event_waits_for_the_morning(clock, worker, line):
    event = event_at(tokyo(2030, 6, 5, 19, 45), minutes=70)  # ends 20:55, thanks would be 21:05
    came = join(event)
    joined(came)
    clock.tokyo(2030, 6, 5, 21, 30)
    tick(worker)
    assert [r.not_before for r in rows("thanks")] == [tokyo(2030, 6, 6, 8)] and thanked(line, came) == []
    clock.tokyo(2030, 6, 6, 8, 0)
    tick(worker)
    assert len(thanked(line, came)) == 1


def test_no_thank_you_for_an_event_cancelled_after_it_was_planned(clock, worker, line):
    event = event_at(START)
    came = join(event)
    joined(came)
    clock.tokyo(2030, 6, 5, 15, 1)
    tick(worker)
    with unit_of_work() as session:
        cancel_event(session, session.get(Event, event))
    clock.tokyo(2030, 6, 5, 15, 10)
    tick(worker)
    assert thanked(line, came) == [] and pushed(line, came.user_id, "thanks") == []
    assert [(r.status, r.last_error) for r in rows("thanks")] == [("expired", "the event was cancelled")]


def test_a_message_long_after_the_question_is_not_taken_as_a_comment(clock, worker, line, chat):
    event = event_at(START)
    parent = chat()
    joined(join(event, user_id=parent.user_id))
    clock.tokyo(2030, 6, 5, 15, 30)
    tick(worker)
    parent.choose(parent.new_messages(), "3")
    clock.tokyo(2030, 6, 5, 19, 0)
    parent.say("明日の持ち物を教えてください")
    [answer] = answers(event)
    assert (answer.score, answer.comment) == (3, None)
