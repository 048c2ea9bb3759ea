"""登録情報 (flow "profile"): the registered details on the same card as at registration, any field changeable the
same way, saved only on 保存する. The steps are registration's (``handlers.registration.flow.Steps``) in editing mode."""

from __future__ import annotations

from typing import Any

from handlers.engine import Context, Flow
from handlers.postback import encode
from handlers.registration.flow import Ask, Steps, data_from_profile, snapshot
from handlers.registration.texts import TEXTS
from handlers.replies import Choice, Reply, Text


def _registered_only(ctx: Context) -> list[Reply] | None:
    if ctx.registered:
        return None
    go = Choice(TEXTS.t(ctx, "confirm.save"), data=encode("registration", "start"))
    return [Text(TEXTS.t(ctx, "not_registered"), quick=(go,))]


def _initial(ctx: Context) -> dict[str, Any]:
    data = data_from_profile(ctx)
    return {**data, "_saved": snapshot(data)}


FLOW = Flow(
    name="profile",
    start=Ask.CONFIRM,
    steps=Steps("profile", editing=True).table(),
    keywords=frozenset({"登録情報", "とうろくじょうほう", "profile", "mydetails"}),
    title_key="title.profile",
    guard=_registered_only,
    initial=_initial,
    catalog=TEXTS,
)
