"""The simulator's API: what a demo persona does becomes a signed webhook from that persona's LINE user id, and the
persona's chat shows what LINE accepted for them, in order."""

from __future__ import annotations

import json
import re
import secrets
import sys
import types
import uuid

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select

from bot.app import create_app
from bot.demo import simulator
from bot.demo.simulator import FOLLOW_NOTE, PERSONAS, UNFOLLOW_NOTE
from handlers.postback import encode
from storage import inbox
from storage.db import inbox_unit_of_work
from storage.models import InboxEvent
from tests.support import ChatUser

SAKURA = simulator.BY_KEY["sakura"]


@pytest.fixture
def sim(app, line):
    app.extensions["line_double"] = line
    return app.test_client()


def send(client, **body):
    return client.post("/simulator/api/send", json=body)


def timeline(client, persona: str = "sakura", after: int = 0) -> dict:
    response = client.get(f"/simulator/api/messages?persona={persona}&after={after}")
    assert response.status_code == 200, response.data
    return response.get_json()


def bot_texts(items: list[dict]) -> str:
    return ChatUser.texts([i["message"] for i in items if i["from"] == "bot"])


@pytest.fixture
def received(monkeypatch) -> list[dict]:
    """Every event the webhook accepted (signature checked), as LINE's JSON, before processing trims it."""
    events: list[dict] = []
    store = inbox.store

    def spy(session, batch):
        events.extend(json.loads(json.dumps(batch)))
        return store(session, batch)

    monkeypatch.setattr(inbox, "store", spy)
    return events


def stored_count() -> int:
    with inbox_unit_of_work() as session:
        return session.scalar(select(func.count()).select_from(InboxEvent))


def test_follow_shows_a_note_then_the_bots_greeting(sim):
    assert send(sim, persona="sakura", kind="follow").status_code == 200
    body = timeline(sim)
    assert body["items"][0] == {"from": "system", "text": FOLLOW_NOTE}
    assert "友だち追加ありがとうございます" in bot_texts(body["items"])
    assert body["next"] == len(body["items"])


def test_typed_text_arrives_as_a_signed_webhook_from_the_persona_and_is_answered_by_reply(sim, line, received):
    send(sim, persona="sakura", kind="follow")
    assert send(sim, persona="sakura", kind="text", text="こんにちは").status_code == 200
    message = received[-1]
    assert message["type"] == "message" and message["replyToken"]
    assert message["source"] == {"type": "user", "userId": SAKURA.user_id}
    assert message["message"]["type"] == "text" and message["message"]["text"] == "こんにちは"
    replies = line.requests("/v2/bot/message/reply")
    assert len(replies) == 2 and {r["reply_to"] for r in replies} == {SAKURA.user_id}
    assert {"from": "user", "text": "こんにちは"} in timeline(sim)["items"]


def test_the_cursor_returns_only_what_is_new(sim):
    send(sim, persona="sakura", kind="follow")
    first = timeline(sim)
    send(sim, persona="sakura", kind="text", text="メニュー")
    second = timeline(sim, after=first["next"])
    assert second["items"][0] == {"from": "user", "text": "メニュー"}
    assert [i["from"] for i in second["items"][1:]] == ["bot"] * (len(second["items"]) - 1)
    assert second["next"] == first["next"] + len(second["items"])
    assert timeline(sim, after=second["next"]) == {"items": [], "next": second["next"]}


def test_a_tapped_postback_shows_its_display_text_as_the_parents_message(sim, received):
    send(sim, persona="sakura", kind="follow")
    seen = timeline(sim)["next"]
    data = encode("menu", "help")
    assert send(sim, persona="sakura", kind="postback", data=data, display="ヘルプ").status_code == 200
    new = timeline(sim, after=seen)["items"]
    assert new[0] == {"from": "user", "text": "ヘルプ"}
    assert new[1]["from"] == "bot"
    assert received[-1]["postback"] == {"data": data}


def test_a_postback_without_display_text_shows_nothing_of_the_parent(sim):
    send(sim, persona="sakura", kind="follow")
    seen = timeline(sim)["next"]
    send(sim, persona="sakura", kind="postback", data=encode("menu", "help"))
    answer = timeline(sim, after=seen)["items"]
    assert answer and {i["from"] for i in answer} == {"bot"}


def test_datetime_picker_values_travel_as_postback_params(sim, received):
    send(
        sim,
        persona="sakura",
        kind="postback",
        data=encode("menu", "help"),
        params={"date": "2025-06-01", "ignored": "x"},
    )
    assert received[-1]["postback"] == {"data": encode("menu", "help"), "params": {"date": "2025-06-01"}}


def test_block_has_no_reply_token_and_adding_again_is_an_unblock(sim, received):
    send(sim, persona="haruka", kind="follow")
    send(sim, persona="haruka", kind="unfollow")
    send(sim, persona="haruka", kind="follow")
    follow, unfollow, again = received
    assert unfollow["type"] == "unfollow" and "replyToken" not in unfollow
    assert follow["follow"] == {"isUnblocked": False}
    assert again["follow"] == {"isUnblocked": True}
    notes = [i["text"] for i in timeline(sim, "haruka")["items"] if i["from"] == "system"]
    assert notes == [FOLLOW_NOTE, UNFOLLOW_NOTE, FOLLOW_NOTE]


def test_a_push_between_two_actions_stays_in_its_place(sim, runtime):
    send(sim, persona="sakura", kind="follow")
    pushed = [{"type": "text", "text": "明日は交流会です。"}]
    assert runtime.gateway.push(SAKURA.user_id, pushed, str(uuid.uuid4())).delivered
    send(sim, persona="sakura", kind="text", text="ありがとう")
    items = timeline(sim)["items"]
    where_pushed = items.index({"from": "bot", "via": "push", "message": pushed[0]})
    assert items[where_pushed + 1] == {"from": "user", "text": "ありがとう"}
    assert items[-1]["from"] == "bot"


def test_personas_see_only_their_own_chat(sim):
    send(sim, persona="sakura", kind="follow")
    send(sim, persona="sakura", kind="text", text="さくらです")
    assert timeline(sim, "tanaka") == {"items": [], "next": 0}
    assert len({p.user_id for p in PERSONAS}) == len(PERSONAS)


def test_persona_user_ids_are_stable_well_formed_line_ids():
    for persona in PERSONAS:
        assert re.fullmatch(r"U[0-9a-f]{32}", persona.user_id)
        assert persona.user_id == simulator.Persona(persona.key, "", "").user_id


@pytest.mark.parametrize(
    "body, status",
    [
        ({"persona": "nobody", "kind": "follow"}, 404),
        ({"persona": "sakura", "kind": "sticker"}, 400),
        ({"persona": "sakura", "kind": "text", "text": "  "}, 400),
        ({"persona": "sakura", "kind": "text", "text": "あ" * 5001}, 400),
        ({"persona": "sakura", "kind": "postback", "data": "x" * 301}, 400),
        ({"persona": "sakura", "kind": "postback"}, 400),
    ],
)
def test_malformed_requests_are_refused_and_send_nothing(sim, body, status):
    assert send(sim, **body).status_code == status
    assert stored_count() == 0


def test_bad_cursor_and_non_json_are_refused(sim):
    assert sim.get("/simulator/api/messages?persona=sakura&after=-1").status_code == 400
    assert sim.get("/simulator/api/messages?persona=nobody").status_code == 404
    assert sim.post("/simulator/api/send", data="persona=sakura").status_code == 400


def test_without_the_double_the_page_says_how_to_start_it(client):
    assert client.post("/simulator/api/send", json={"persona": "sakura", "kind": "follow"}).status_code == 503
    assert client.get("/simulator/api/messages?persona=sakura").status_code == 503
    assert "./dev demo" in client.get("/simulator/").get_data(as_text=True)


def page_settings(client) -> dict:
    html = client.get("/simulator/").get_data(as_text=True)
    found = re.search(r'<script type="application/json" id="simulator-settings">(.*?)</script>', html, re.S)
    return json.loads(found.group(1))


def test_page_offers_every_persona_and_the_main_menu(sim):
    response = sim.get("/simulator/")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    for name in ("さくら（保護者）", "はるか（妊娠中）", "市職員 田中", "友だち追加", "ブロック"):
        assert name in html
    assert "simulator.js" in html and "simulator.css" in html
    buttons = page_settings(sim)["richMenu"]["buttons"]
    assert buttons and all(b["label"] and b["action"]["type"] in ("postback", "message", "uri") for b in buttons)


def test_without_a_rich_menu_module_the_main_menu_entry_points_are_shown(sim, monkeypatch):
    monkeypatch.setitem(sys.modules, "bot.richmenu", None)  # makes the import fail as if the module did not exist
    buttons = page_settings(sim)["richMenu"]["buttons"]
    assert [b["action"]["data"] for b in buttons] == [
        encode(flow, "start") for flow in ("events", "applications", "profile", "policy", "report")
    ] + [encode("menu", "help")]
    assert (buttons[0]["label"], buttons[0]["labelEn"]) == ("イベント一覧", "Events")


def test_the_projects_rich_menu_is_drawn_with_both_languages(sim):
    richmenu = pytest.importorskip("bot.richmenu")
    buttons = page_settings(sim)["richMenu"]["buttons"]
    assert [b["action"] for b in buttons] == [area["action"] for area in richmenu.definition()["areas"]]
    assert all(b["label"] and b["labelEn"] for b in buttons)


def test_the_rich_menu_definition_is_shown_when_there_is_one(sim, monkeypatch):
    richmenu = types.ModuleType("bot.richmenu")
    richmenu.definition = lambda: {
        "chatBarText": "メニュー",
        "areas": [
            {
                "bounds": {"x": 0, "y": 0, "width": 833, "height": 843},
                "action": {"type": "postback", "data": encode("events", "start"), "displayText": "イベント一覧"},
            },
            {
                "bounds": {"x": 833, "y": 0, "width": 833, "height": 843},
                "action": {"type": "uri", "label": "ポリシー", "uri": "https://bot.example.test/policy"},
            },
        ],
    }
    monkeypatch.setitem(sys.modules, "bot.richmenu", richmenu)
    menu = page_settings(sim)["richMenu"]
    assert [(b["label"], b["labelEn"]) for b in menu["buttons"]] == [("イベント一覧", None), ("ポリシー", None)]
    assert menu["buttons"][1]["action"]["uri"] == "https://bot.example.test/policy"


def test_the_simulator_is_not_served_in_production(database_url, line):
    app = create_app(
        {
            "mode": "production",
            "database_url": database_url,
            "line_api_base_url": line.base_url,
            "line_channel_secret": "0123456789abcdef" * 2,
            "line_channel_access_token": "t",
            "secret_key": secrets.token_hex(32),
            "data_encryption_key": Fernet.generate_key().decode(),
        }
    )
    try:
        assert app.test_client().get("/simulator/").status_code == 404
    finally:
        app.extensions["kosodate"].close()
