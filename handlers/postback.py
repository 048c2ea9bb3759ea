"""Compact, versioned postback data. Everything arriving is validated; nothing in it is trusted.

Format: ``1|<flow>|<action>|<value>|<state version>`` (≤ 300 characters). Menu postbacks (rich menu, main menu)
carry no state version: they are entry points and are always valid.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

FORMAT_VERSION = "1"
_TOKEN = re.compile(r"^[a-z0-9_.:-]{0,80}$")
MAX_LEN = 300


@dataclass(frozen=True)
class Postback:
    flow: str
    action: str
    value: str = ""
    version: int | None = None

    def encode(self) -> str:
        version = "" if self.version is None else str(self.version)
        data = "|".join((FORMAT_VERSION, self.flow, self.action, self.value, version))
        if len(data) > MAX_LEN:
            raise ValueError("postback data too long")
        return data


def encode(flow: str, action: str, value: str = "", version: int | None = None) -> str:
    for part in (flow, action, value):
        if not _TOKEN.match(part):
            raise ValueError(f"postback part not allowed: {part!r}")
    return Postback(flow, action, value, version).encode()


def decode(data: str | None) -> Postback | None:
    """A Postback, or None for anything malformed, oversized, or of another format version."""
    if not isinstance(data, str) or len(data) > MAX_LEN:
        return None
    parts = data.split("|")
    if len(parts) != 5 or parts[0] != FORMAT_VERSION:
        return None
    _, flow, action, value, version = parts
    if not (flow and action) or not all(_TOKEN.match(p) for p in (flow, action, value)):
        return None
    if version and not version.isdigit():
        return None
    return Postback(flow, action, value, int(version) if version else None)
