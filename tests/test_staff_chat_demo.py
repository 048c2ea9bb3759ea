"""The demo: with the seed, switching the simulator's persona to 「市職員 田中」 shows a parent's loss report arriving,
taking it (対応します), and the parent receiving the instruction."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from bot.demo import seed
from bot.demo.simulator import BY_KEY
from handlers.postback import encode
from storage import enrollments, staff, users
from storage.db import unit_of_work
from storage.models import Event
from tests.events_support import make_parent
from tests.support import ChatUser


@pytest.fixture
def sim(app, line):
    app.extensions["line_double"] = line
    return app.test_client()


class Persona:
    def __init__(self, client, key: str):
        self.client, self.key, self.seen = client, key, 0

    def send(self, **body: Any) -> list[dict[str, Any]]:
        response = self.client.post("/simulator/api/send", json={"persona": self.key, **body})
        assert response.status_code == 200, response.data
        return self.bot_messages()

    def bot_messages(self) -> list[dict[str, Any]]:
        items = self.client.get(f"/simulator/api/messages?persona={self.key}&after={self.seen}").get_json()
        self.seen = len(items["items"]) + self.seen
        return [i["message"] for i in items["items"] if i["from"] == "bot"]

    def choose(self, messages: list[dict[str, Any]], label: str) -> list[dict[str, Any]]:
        action = ChatUser.choices(messages)[label]
        if action["type"] == "postback":
            return self.send(kind="postback", data=action["data"], display=label)
        return self.send(kind="text", text=action["text"])

    def say(self, text: str) -> list[dict[str, Any]]:
        return self.send(kind="text", text=text)


def test_the_seeded_staff_member_handles_a_report_in_the_simulator(sim):
    with unit_of_work() as session:
        assert "seed_staff" in seed.seed(session)
        tanaka = staff.by_line_user(session, _line_pk(session, BY_KEY["tanaka"].user_id))
        assert (tanaka.name, tanaka.centre, tanaka.on_duty) == ("市職員 田中", "division", True)
        parent = make_parent(session, BY_KEY["sakura"].user_id)
        event = session.scalars(select(Event).where(Event.title == "ねんねの赤ちゃん交流会")).one()
        enrollments.apply(session, event, parent.id)

    sakura, staff_persona = Persona(sim, "sakura"), Persona(sim, "tanaka")
    assert "職員メニュー（市職員 田中さん" in ChatUser.texts(staff_persona.send(kind="follow"))

    messages = sakura.send(kind="postback", data=encode("report", "start"), display="紛失・盗難の報告")
    for label in ("参加用リンク", "今日", "はい"):
        messages = sakura.choose(messages, label)
    messages = sakura.choose(messages, next(label for label in ChatUser.choices(messages) if "ねんね" in label))
    messages = sakura.choose(messages, "決定")
    messages = sakura.choose(messages, "特になし")
    receipt = ChatUser.texts(sakura.choose(messages, "報告する"))
    assert "受付番号：R-" in receipt

    alert = staff_persona.bot_messages()
    assert "【至急】紛失・盗難の報告" in ChatUser.texts(alert)
    assert "「対応します」と記録しました" in ChatUser.texts(staff_persona.choose(alert, "対応します"))
    staff_persona.choose(alert, "指示を送る")
    preview = staff_persona.say("新しいリンクをお送りする前に、お電話で確認させてください。")
    staff_persona.choose(preview, "送る")

    instruction = ChatUser.texts(sakura.bot_messages())
    assert "地域子育て支援課からのご連絡" in instruction and "お電話で確認させてください" in instruction


def test_seeding_the_staff_member_twice_keeps_one(app):
    with unit_of_work() as session:
        first = seed.seed_staff(session)
        assert seed.seed_staff(session) == first


def _line_pk(session, line_user_id: str) -> int:
    return users.by_line_id(session, line_user_id).id
