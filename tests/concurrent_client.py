"""A separate process for the concurrency tests: its own app, same database and LINE double.

Usage: python -m tests.concurrent_client DB_URL LINE_URL BODY_FILE GO_FILE
Waits for GO_FILE to appear (so both processes start together), posts the body twice, then processes its inbox.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from bot.app import create_app
from tests.conftest import SECRET
from tests.support import sign


def main(db_url: str, line_url: str, body_file: str, go_file: str) -> None:
    app = create_app(
        {
            "mode": "test",
            "database_url": db_url,
            "line_api_base_url": line_url,
            "line_channel_secret": SECRET,
            "inline_processing": False,
        }
    )
    raw = Path(body_file).read_bytes()
    client = app.test_client()
    deadline = time.monotonic() + 30
    while not Path(go_file).exists() and time.monotonic() < deadline:
        time.sleep(0.005)
    for _ in range(2):
        response = client.post(
            "/callback", data=raw, headers={"X-Line-Signature": sign(raw, SECRET), "Content-Type": "application/json"}
        )
        assert response.status_code == 200, response.status_code
    app.extensions["kosodate"].drain()


if __name__ == "__main__":
    main(*sys.argv[1:5])
