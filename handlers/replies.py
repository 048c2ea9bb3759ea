"""What a flow says, independent of LINE: runtime.render turns these into LINE message objects within LINE's limits."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Choice:
    """A tappable choice: sends a postback (``data``), a text message (``text``), or opens a page (``uri``)."""

    label: str
    data: str | None = None
    text: str | None = None
    uri: str | None = None
    display: str | None = None  # what appears in the chat as the parent's message when tapped

    def __post_init__(self) -> None:
        if sum(x is not None for x in (self.data, self.text, self.uri)) != 1:
            raise ValueError("a Choice is exactly one of data, text, uri")


@dataclass(frozen=True)
class Text:
    text: str
    quick: tuple[Choice, ...] = ()


@dataclass(frozen=True)
class Card:
    """A bubble with a title, lines of text and buttons (the confirmation screen, an event's details)."""

    title: str
    lines: tuple[str, ...] = ()
    buttons: tuple[Choice, ...] = ()
    alt: str = ""
    quick: tuple[Choice, ...] = ()


@dataclass(frozen=True)
class Carousel:
    cards: tuple[Card, ...]
    alt: str
    quick: tuple[Choice, ...] = ()


Reply = Text | Card | Carousel


@dataclass
class Replies:
    """Replies collected during one step (Rasa's CollectingDispatcher idea)."""

    items: list[Reply] = field(default_factory=list)

    def add(self, reply: Reply) -> None:
        self.items.append(reply)
