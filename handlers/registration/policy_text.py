"""The web-conference policy as shipped with this release (handlers/content/), and its version hash.

A deployment with a changed text is a new policy version: parents are asked to consent again.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from storage.people import content_hash

POLICY_FILE = Path(__file__).parents[1] / "content" / "web-conference-policy.ja.txt"
POLICY_TEXT = POLICY_FILE.read_text(encoding="utf-8")


@cache
def policy_hash() -> str:
    return content_hash(POLICY_TEXT)
