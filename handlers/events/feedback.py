"""ご感想 (flow "feedback"): after an event, the thank-you (handlers/events/reminders.py ``thanks``) asks 満足度 1–5 with
quick replies; the tapped score starts this flow and is stored at once, then one optional comment is asked for.
Diagram: feedback.mmd.

The score is stored only for a confirmed participant of that event (``storage.feedback``); a second tap replaces it.
Text is taken as the comment only shortly after the question: a message days later is about something else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from handlers import texts
from handlers.effects import applies
from handlers.engine import Context, Finish, Flow, Go, Input, Step
from handlers.postback import encode
from handlers.replies import Choice, Reply, Text
from handlers.texts import Catalog
from storage import feedback, people
from storage.models import LineUser

NAME = "feedback"
COMMENT_WINDOW = timedelta(minutes=30)

TEXTS = Catalog(
    {
        "ja": {
            "title": "ご感想",
            "score.again": "満足度は、お礼のメッセージの数字のボタンからお選びください。",
            "comment.ask": "満足度「{score}」、ありがとうございます。\nよろしければ、ご感想やご要望をひとことお聞かせください（なくても大丈夫です）。",
            "comment.skip": "スキップ",
            "done.comment": "ご感想をありがとうございました。これからのイベントづくりに生かします。",
            "done.skip": "ご回答ありがとうございました。またのご参加をお待ちしています。",
        },
        "en": {
            "title": "Feedback",
            "score.again": "Please choose your score with the number buttons on our thank-you message.",
            "comment.ask": "Thank you for your score of {score}.\nIf you like, tell us in a few words what you thought (optional).",
            "comment.skip": "Skip",
            "done.comment": "Thank you for your comments. They help us plan future events.",
            "done.skip": "Thank you for answering. We hope to see you again.",
        },
    }
)
t = TEXTS.t


@dataclass(frozen=True)
class RecordScore:
    event_id: int
    score: int


@dataclass(frozen=True)
class RecordComment:
    event_id: int
    comment: str


@applies(RecordScore)
def _record_score(session: Session, user: LineUser, effect: RecordScore) -> None:
    parent = people.parent_of(session, user.id)
    if parent is not None:
        feedback.record_score(session, parent.id, effect.event_id, effect.score)


@applies(RecordComment)
def _record_comment(session: Session, user: LineUser, effect: RecordComment) -> None:
    parent = people.parent_of(session, user.id)
    if parent is not None:
        feedback.record_comment(session, parent.id, effect.event_id, effect.comment)


def parse_answer(value: str) -> tuple[int, int] | None:
    """ "12.5" (event 12, score 5) from a thank-you's button; None for anything else."""
    event, _, score = value.partition(".")
    if event.isdigit() and score in ("1", "2", "3", "4", "5"):
        return int(event), int(score)
    return None


# --- steps ----------------------------------------------------------------------------------------------
def _score_prompt(ctx: Context, data: Mapping[str, Any], version: int) -> list[Reply]:
    return [Text(t(ctx, "score.again"))]


def _score_accept(ctx: Context, data: Mapping[str, Any], inp: Input):
    pb = inp.postback
    answer = parse_answer(pb.value) if pb is not None and pb.flow == NAME and pb.action == "start" else None
    if answer is None:
        return Finish(say=(Text(t(ctx, "score.again")),))
    event_id, score = answer
    return Go(
        "comment",
        data={"event": event_id, "score": score, "asked_at": ctx.now.isoformat()},
        effects=(RecordScore(event_id, score),),
    )


def _comment_prompt(ctx: Context, data: Mapping[str, Any], version: int) -> list[Reply]:
    skip = Choice(t(ctx, "comment.skip"), data=encode(NAME, "skip", "", version))
    return [Text(t(ctx, "comment.ask", score=data["score"]), quick=(skip,))]


def _comment_accept(ctx: Context, data: Mapping[str, Any], inp: Input):
    if inp.kind != "text" or not inp.text.strip():
        return Finish(say=(Text(t(ctx, "done.skip")),))
    if ctx.now - datetime.fromisoformat(data["asked_at"]) > COMMENT_WINDOW:
        return Finish(say=(texts.menu(ctx),))
    return Finish(say=(Text(t(ctx, "done.comment")),), effects=(RecordComment(data["event"], inp.text),))


FLOW = Flow(
    name=NAME,
    start="score",
    steps={
        "score": Step(_score_prompt, _score_accept, accepts=frozenset({"postback"}), choice=True),
        "comment": Step(_comment_prompt, _comment_accept),
    },
    title_key="title",
    catalog=TEXTS,
)
