"""What a flow says, independent of LINE: runtime.render turns these into LINE message objects within LINE's limits."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


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

# What the appliers made of a step's effects, by effect: ``outcomes[effect]`` (None for an effect without one).
Outcomes = Mapping[Any, Any]


@dataclass(frozen=True)
class After:
    """Replies written from what the effects actually did (the second phase of a step).

    A step that changes something (apply for an event, file a report) cannot know the result before the change is
    made on locked rows: a seat may have just gone. It returns its effects and, in its replies, an ``After`` whose
    ``write`` receives the appliers' outcomes in the same transaction and returns the replies to put in its place.
    The rules run once, in the applier; the reply says what happened.
    """

    write: Callable[[Outcomes], list[Reply]]


Said = Reply | After


def resolve(said: list[Said], outcomes: Outcomes) -> list[Reply]:
    """The replies to send: each ``After`` replaced, in place, by what it writes from the outcomes."""
    out: list[Reply] = []
    for item in said:
        out.extend(item.write(outcomes) if isinstance(item, After) else [item])
    return out
