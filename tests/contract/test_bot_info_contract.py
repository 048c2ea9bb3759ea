"""The one call the webhook makes to LINE on its own (learning this channel's bot user id) follows the spec."""

from __future__ import annotations

import json


def test_the_bot_user_id_is_read_from_lines_bot_info_as_the_spec_answers_it(contract_app, official):
    gateway = contract_app.extensions["kosodate"].gateway
    learned = gateway.bot_user_id()
    [call] = official.requests(r"/v2/bot/info")
    assert call["status"] == 200
    assert learned and learned == json.loads(call["response"])["userId"]
