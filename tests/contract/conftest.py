"""The contract tier: the bot's requests checked against LINE's official OpenAPI spec.

Uses ``../shared/line-api/line_double.py`` (a validating double built on LINE's messaging-api.yml) in strict mode.
It is not part of this project; when the folder is absent these tests are skipped with a clear message.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

from bot.app import create_app
from bot.demo.line_double import BOT_USER_ID
from tests.conftest import SECRET
from tests.support import ChatUser

SHARED = Path(os.environ.get("LINE_API_SPEC_DIR", Path(__file__).resolve().parents[3] / "shared" / "line-api"))


def _load_official():
    path = SHARED / "line_double.py"
    if not path.exists():
        pytest.skip(
            f"contract tier skipped: LINE's official spec double not found at {path} "
            "(set LINE_API_SPEC_DIR to the folder holding messaging-api.yml and line_double.py)"
        )
    spec = importlib.util.spec_from_file_location("official_line_double", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


class OfficialLine:
    """Adapts the official double to what tests.support.ChatUser expects of a LINE double."""

    def __init__(self, double):
        self.double = double
        self.owners: dict[str, str] = {}

    @property
    def base_url(self) -> str:
        return self.double.base_url

    def issue_reply_token(self) -> str:
        return self.double.issue_reply_token()

    def bind_reply_token(self, token: str, user_id: str) -> None:
        self.owners[token] = user_id

    def requests(self, path: str = ".*"):
        return self.double.requests(path)

    def delivered(self, to: str | None = None):
        out = []
        for sent in self.double.sent_messages():
            recipients = sent["to"] if isinstance(sent["to"], list) else [self.owners.get(sent["to"], sent["to"])]
            for r in recipients:
                if to is None or r == to:
                    out.append({"to": r, "message": sent["message"]})
        return out

    def rejected(self):
        """Requests the spec refused: each is a bug in what the bot sends."""
        return [
            r
            for r in self.double.requests("/v2/bot/")
            if r["status"] == 400 and "reply token" not in r["response"].lower()
        ]


@pytest.fixture(scope="session")
def official_double():
    module = _load_official()
    double = module.LineDouble(access_tokens=["contract-token"], strict_reply_tokens=True).start()
    yield double
    double.stop()


@pytest.fixture
def official(official_double):
    official_double.reset()
    return OfficialLine(official_double)


@pytest.fixture
def contract_app(database_url, official, app):
    """A second app (same database as ``app``, which cleans up) pointed at the official double. Its bot user id is
    configured (the one tests.support addresses): the official double's bot info is the spec's example."""
    contract = create_app(
        {
            "mode": "test",
            "database_url": database_url,
            "line_api_base_url": official.base_url,
            "line_channel_secret": SECRET,
            "line_channel_access_token": "contract-token",
            "line_bot_user_id": BOT_USER_ID,
            "public_base_url": "https://bot.example.test",
            "inline_processing": False,
        }
    )
    contract.config.update(TESTING=True)
    contract.extensions["kosodate"].gateway.backoff = 0.01
    yield contract
    contract.extensions["kosodate"].close()


@pytest.fixture
def official_chat(contract_app, official):
    runtime = contract_app.extensions["kosodate"]
    client = contract_app.test_client()

    def make(user_id: str | None = None) -> ChatUser:
        return ChatUser(client, official, runtime, SECRET, user_id)

    return make
