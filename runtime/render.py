"""Builds LINE message objects from handlers' replies, enforcing LINE's limits so no request can be invalid.

Limits (developers.line.biz): ≤ 5 messages per request, text ≤ 5,000 UTF-16 units, ≤ 13 quick-reply items with
labels ≤ 20 characters, postback data ≤ 300, displayText ≤ 300, altText present (we keep it ≤ 400),
flex carousel ≤ 12 bubbles (we use ≤ 10).
"""

from __future__ import annotations

from typing import Any

from handlers.replies import Card, Carousel, Choice, Reply, Text

MAX_MESSAGES_PER_REQUEST = 5
MAX_TEXT_UTF16 = 5000
MAX_QUICK_ITEMS = 13
MAX_LABEL = 20
MAX_DATA = 300
MAX_DISPLAY = 300
MAX_ALT = 400
MAX_BUBBLES = 10
MAX_BUTTONS = 4


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def clip_utf16(text: str, limit: int) -> str:
    if utf16_len(text) <= limit:
        return text
    out, used = [], 0
    for ch in text:
        n = utf16_len(ch)
        if used + n > limit - 1:
            break
        out.append(ch)
        used += n
    return "".join(out) + "…"


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def action(choice: Choice) -> dict[str, Any]:
    label = clip(choice.label, MAX_LABEL)
    if choice.uri is not None:
        return {"type": "uri", "label": label, "uri": choice.uri[:1000]}
    if choice.text is not None:
        return {"type": "message", "label": label, "text": clip(choice.text, MAX_DISPLAY)}
    if len(choice.data) > MAX_DATA:
        raise ValueError("postback data over 300 characters")
    out = {"type": "postback", "label": label, "data": choice.data}
    out["displayText"] = clip(choice.display or choice.label, MAX_DISPLAY)
    return out


def quick_reply(choices: tuple[Choice, ...]) -> dict[str, Any] | None:
    if not choices:
        return None
    return {"items": [{"type": "action", "action": action(c)} for c in choices[:MAX_QUICK_ITEMS]]}


def split_text(text: str) -> list[str]:
    """Split a long text at line breaks into ≤ 5,000-unit parts (a 6,000-character answer stays whole)."""
    text = text.strip() or "…"
    parts, current = [], ""
    for line in text.split("\n"):
        candidate = f"{current}\n{line}" if current else line
        if utf16_len(candidate) <= MAX_TEXT_UTF16:
            current = candidate
            continue
        if current:
            parts.append(current)
        while utf16_len(line) > MAX_TEXT_UTF16:
            head = clip_utf16(line, MAX_TEXT_UTF16)[:-1]
            parts.append(head)
            line = line[len(head) :]
        current = line
    if current:
        parts.append(current)
    return parts


def bubble(card: Card) -> dict[str, Any]:
    body: list[dict[str, Any]] = [
        {"type": "text", "text": clip(card.title, 80) or "…", "weight": "bold", "size": "md", "wrap": True}
    ]
    for line in card.lines:
        if line:
            body.append({"type": "text", "text": clip_utf16(line, 1000), "size": "sm", "wrap": True, "margin": "md"})
    out: dict[str, Any] = {"type": "bubble", "body": {"type": "box", "layout": "vertical", "contents": body}}
    if card.buttons:
        out["footer"] = {
            "type": "box",
            "layout": "vertical",
            "spacing": "sm",
            "contents": [
                {"type": "button", "style": "primary" if i == 0 else "secondary", "height": "sm", "action": action(b)}
                for i, b in enumerate(card.buttons[:MAX_BUTTONS])
            ],
        }
    return out


def alt_text(text: str) -> str:
    return clip(text.strip() or "メッセージ", MAX_ALT)


def render(reply: Reply) -> list[dict[str, Any]]:
    """One reply → one or more LINE message objects (a long text becomes several)."""
    if isinstance(reply, Text):
        messages: list[dict[str, Any]] = [{"type": "text", "text": part} for part in split_text(reply.text)]
    elif isinstance(reply, Card):
        messages = [{"type": "flex", "altText": alt_text(reply.alt or reply.title), "contents": bubble(reply)}]
    elif isinstance(reply, Carousel):
        bubbles = [bubble(c) for c in reply.cards[:MAX_BUBBLES]] or [bubble(Card(title="…"))]
        messages = [
            {"type": "flex", "altText": alt_text(reply.alt), "contents": {"type": "carousel", "contents": bubbles}}
        ]
    else:
        raise TypeError(f"not a reply: {type(reply).__name__}")
    qr = quick_reply(reply.quick)
    if qr:
        messages[-1]["quickReply"] = qr
    return messages


def render_all(replies: list[Reply]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for r in replies:
        out.extend(render(r))
    return out


def batches(messages: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """LINE takes at most 5 messages per request."""
    return [messages[i : i + MAX_MESSAGES_PER_REQUEST] for i in range(0, len(messages), MAX_MESSAGES_PER_REQUEST)]
