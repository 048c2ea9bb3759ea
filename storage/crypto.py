"""Secrets at rest: encryption for what must be read back (web-conference join URLs, meeting IDs, passcodes, the
personal link tokens we may have to send again), hashing for what only has to be recognised (a token in a URL),
and keyed fingerprints (who opened a link from which device, without storing the address or the browser).

Encryption is Fernet (``cryptography``) with ``DATA_ENCRYPTION_KEY``, installed once per process by ``init`` (the
app's runtime does it from the configuration). The variable may list several comma-separated keys (MultiFernet): the
first encrypts, every one decrypts, so a new key goes first and ``kosodate keys rotate`` re-encrypts what is stored
before the old key is dropped. Outside production the configuration derives a key from SECRET_KEY
(``dev_key``), so a development database is readable only with the same SECRET_KEY.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

_fernet: MultiFernet | None = None
# 32 bytes of randomness: 256 bits, well above the 128 an unguessable link needs.
TOKEN_BYTES = 32


class SecretUnreadable(RuntimeError):
    """A stored secret could not be decrypted: the key is missing or is not the one it was sealed with."""


def keys(value: str) -> list[str]:
    return [key.strip() for key in value.split(",") if key.strip()]


def data_keys_problem(value: str) -> str | None:
    """Why ``DATA_ENCRYPTION_KEY`` cannot be used, or None."""
    found = keys(value)
    if not found:
        return "must be a Fernet key (32 url-safe base64-encoded bytes)"
    for position, key in enumerate(found, start=1):
        try:
            Fernet(key.encode())
        except ValueError:
            where = f" (key {position} of {len(found)})" if len(found) > 1 else ""
            return f"must be a Fernet key, or several separated by commas{where}: 32 url-safe base64-encoded bytes"
    return None


def init(key: str) -> None:
    """Install this process's data keys: one Fernet key, or several separated by commas (the first encrypts)."""
    global _fernet
    _fernet = MultiFernet([Fernet(k.encode()) for k in keys(key)])


def dev_key(secret_key: str) -> str:
    """The data key used outside production: derived from SECRET_KEY, never written anywhere."""
    digest = hashlib.sha256(b"kosodate data-encryption key\x00" + secret_key.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()


def _key() -> MultiFernet:
    if _fernet is None:
        raise SecretUnreadable("storage.crypto.init() has not been called")
    return _fernet


def seal(value: str) -> str:
    return _key().encrypt(value.encode()).decode()


def unseal(stored: str) -> str:
    try:
        return _key().decrypt(stored.encode()).decode()
    except InvalidToken as exc:
        raise SecretUnreadable("DATA_ENCRYPTION_KEY does not open this secret") from exc


def reseal(stored: str) -> str:
    """The same secret sealed with the first key (``MultiFernet.rotate``); the original timestamp is kept."""
    try:
        return _key().rotate(stored.encode()).decode()
    except InvalidToken as exc:
        raise SecretUnreadable("DATA_ENCRYPTION_KEY does not open this secret") from exc


def new_token() -> str:
    """An unguessable URL token (URL-safe base64, 43 characters)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    """What the database keeps to recognise a token. The token has 256 bits: a plain SHA-256 cannot be reversed."""
    return hashlib.sha256(token.encode()).hexdigest()


def fingerprint(server_secret: str, *parts: str) -> str:
    """A keyed hash of some client details: equal inputs give equal fingerprints, and nothing can be read back."""
    message = "\x1f".join(parts).encode()
    return hmac.new(server_secret.encode(), message, hashlib.sha256).hexdigest()
