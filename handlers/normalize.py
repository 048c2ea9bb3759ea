"""Text input normalisation before validation: full-width digits and letters, hyphen look-alikes, spaces, kana."""

from __future__ import annotations

import re
import unicodedata

_DASHES = "‐‑‒–—―−ー－ｰ﹣"
_SPACES = re.compile(r"\s+")


def text(value: str) -> str:
    """NFKC (full-width → half-width ASCII, half-width kana → full-width), one space between words, trimmed."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", value)).strip()


def digits_and_dashes(value: str) -> str:
    """For phone numbers: every dash look-alike becomes '-', spaces and parentheses go."""
    out = text(value)
    for ch in _DASHES:
        out = out.replace(ch, "-")
    return re.sub(r"[\s()（）]", "", out)


def to_hiragana(value: str) -> str:
    """Katakana → hiragana, so ふりがな typed either way is stored one way."""
    return "".join(chr(ord(c) - 0x60) if "ァ" <= c <= "ヶ" else c for c in text(value))


def keyword(value: str) -> str:
    """For comparing commands: normalised, lower-case, no spaces."""
    return text(value).lower().replace(" ", "")
