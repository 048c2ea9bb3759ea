"""Data-key rotation (issue 13, item 2): DATA_ENCRYPTION_KEY may list several Fernet keys (the first encrypts, all
decrypt), and ``kosodate keys rotate`` re-seals everything stored with the first, after which the old key can go."""

from __future__ import annotations

import secrets
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet
from sqlalchemy import Text

from storage import crypto
from storage.models import Base
from storage.sealed import SEALED_COLUMNS

BIN = Path(sys.executable).parent


def test_every_sealed_column_is_rotated():
    listed = {(c.class_.__tablename__, c.key) for c in SEALED_COLUMNS}
    sealed_here = {
        (table.name, column.name)
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, Text) and (column.name.endswith("_sealed") or column.name == "totp_secret")
    }
    assert sealed_here <= listed


def test_a_value_sealed_with_the_old_key_opens_with_both_and_reseals_with_the_new(monkeypatch):
    monkeypatch.setattr(crypto, "_fernet", crypto._fernet)  # this process's key comes back after the test
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    crypto.init(old)
    stored = crypto.seal("https://meet.example/j/123")
    crypto.init(f"{new},{old}")
    assert crypto.unseal(stored) == "https://meet.example/j/123"
    resealed = crypto.reseal(stored)
    crypto.init(new)
    assert crypto.unseal(resealed) == "https://meet.example/j/123"


def kosodate(*args: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "kosodate"), *args],
        env={"PATH": f"{BIN}:/usr/bin:/bin", **env},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_kosodate_keys_rotate_lets_the_old_key_be_dropped(tmp_path):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    base = {
        "APP_MODE": "production",
        "LINE_CHANNEL_SECRET": secrets.token_hex(16),
        "LINE_CHANNEL_ACCESS_TOKEN": "token",
        "SECRET_KEY": secrets.token_hex(32),
        "DATABASE_URL": f"sqlite:///{tmp_path}/kosodate.sqlite3",
        "LINE_API_BASE_URL": "http://127.0.0.1:9",
    }
    assert kosodate("db", "upgrade", env={**base, "DATA_ENCRYPTION_KEY": old}).returncode == 0
    added = kosodate(
        "events",
        "add",
        "--centre",
        "takanedai",
        "--kind",
        "meetup",
        "--title",
        "鍵の交換テスト",
        "--start",
        "2030-01-10 10:00",
        "--end",
        "2030-01-10 11:00",
        "--capacity",
        "5",
        "--join-url",
        "https://meet.example/j/1",
        "--meeting-id",
        "123 456",
        "--passcode",
        "pass",
        env={**base, "DATA_ENCRYPTION_KEY": old},
    )
    assert added.returncode == 0, added.stderr

    rotated = kosodate("keys", "rotate", env={**base, "DATA_ENCRYPTION_KEY": f"{new},{old}"})
    assert rotated.returncode == 0, rotated.stderr
    assert "events.passcode_sealed: 1" in rotated.stdout and "re-encrypted 3 stored secrets" in rotated.stdout

    again = kosodate("keys", "rotate", env={**base, "DATA_ENCRYPTION_KEY": new})
    assert again.returncode == 0, again.stderr
    refused = kosodate("keys", "rotate", env={**base, "DATA_ENCRYPTION_KEY": old})
    assert refused.returncode != 0 and "none of the keys" in refused.stderr and "Traceback" not in refused.stderr
