"""PUBLIC_BASE_URL is where parents open their personal join links and calendar addresses (second outside probe of
issue 13): in production it must be https, or those tokens cross the network in clear; in any mode it must be an
http(s) address with a host. This machine's own address stays allowed, for an operator trying a production start."""

from __future__ import annotations

import secrets

import pytest
from cryptography.fernet import Fernet

from bot.config import ConfigError, from_environ


def production(**changes: str) -> dict[str, str]:
    env = {
        "APP_MODE": "production",
        "LINE_CHANNEL_SECRET": secrets.token_hex(16),
        "LINE_CHANNEL_ACCESS_TOKEN": "token",
        "SECRET_KEY": secrets.token_hex(32),
        "DATA_ENCRYPTION_KEY": Fernet.generate_key().decode(),
    }
    return env | changes


@pytest.mark.parametrize("url", ["http://kosodate.example.jp", "http://203.0.113.5:8000"])
def test_production_refuses_personal_links_over_plain_http(url):
    with pytest.raises(ConfigError) as refused:
        from_environ(production(PUBLIC_BASE_URL=url))
    assert "PUBLIC_BASE_URL" in str(refused.value) and "https" in str(refused.value)


@pytest.mark.parametrize("mode", ["production", "test"])
@pytest.mark.parametrize("url", ["ftp://kosodate.example.jp", "kosodate.example.jp", "https://", "https:///j"])
def test_a_public_address_that_is_not_a_web_address_is_refused_in_every_mode(mode, url):
    with pytest.raises(ConfigError) as refused:
        from_environ(production(APP_MODE=mode, PUBLIC_BASE_URL=url))
    assert "PUBLIC_BASE_URL" in str(refused.value)


@pytest.mark.parametrize("url", ["https://kosodate.example.jp", "http://127.0.0.1:8000", "http://localhost:8000"])
def test_https_or_this_machine_is_accepted_in_production(url):
    assert from_environ(production(PUBLIC_BASE_URL=url)).public_base_url == url
