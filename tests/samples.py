"""One realistic sample of every webhook event type LINE documents (webhook.yml), plus an unknown one."""

from __future__ import annotations

import secrets
import time
from typing import Any


def _base(kind: str, source: dict[str, Any], reply: bool) -> dict[str, Any]:
    out = {
        "type": kind,
        "mode": "active",
        "timestamp": int(time.time() * 1000),
        "source": source,
        "webhookEventId": "01" + secrets.token_hex(12).upper(),
        "deliveryContext": {"isRedelivery": False},
    }
    if reply:
        out["replyToken"] = secrets.token_hex(16)
    return out


def samples(user_id: str) -> dict[str, dict[str, Any]]:
    user = {"type": "user", "userId": user_id}
    group = {"type": "group", "groupId": "C" + secrets.token_hex(16), "userId": user_id}
    room = {"type": "room", "roomId": "R" + secrets.token_hex(16), "userId": user_id}
    mid = lambda: secrets.token_hex(8)  # noqa: E731
    messages = {
        "text": {"type": "text", "id": mid(), "text": "こんにちは", "quoteToken": mid()},
        "image": {"type": "image", "id": mid(), "quoteToken": mid(), "contentProvider": {"type": "line"}},
        "video": {
            "type": "video",
            "id": mid(),
            "quoteToken": mid(),
            "duration": 1000,
            "contentProvider": {"type": "line"},
        },
        "audio": {"type": "audio", "id": mid(), "duration": 1000, "contentProvider": {"type": "line"}},
        "file": {"type": "file", "id": mid(), "fileName": "a.pdf", "fileSize": 10},
        "location": {
            "type": "location",
            "id": mid(),
            "title": "t",
            "address": "船橋市",
            "latitude": 35.69,
            "longitude": 139.98,
        },
        "sticker": {
            "type": "sticker",
            "id": mid(),
            "quoteToken": mid(),
            "packageId": "446",
            "stickerId": "1988",
            "stickerResourceType": "STATIC",
        },
    }
    out: dict[str, dict[str, Any]] = {}
    for name, message in messages.items():
        out[f"message:{name}"] = {**_base("message", user, True), "message": message}
    out["follow"] = {**_base("follow", user, True), "follow": {"isUnblocked": False}}
    out["unfollow"] = _base("unfollow", user, False)
    out["postback"] = {**_base("postback", user, True), "postback": {"data": "1|menu|help||"}}
    out["postback:forged"] = {**_base("postback", user, True), "postback": {"data": "'; DROP TABLE parents; --"}}
    out["postback:datetime"] = {
        **_base("postback", user, True),
        "postback": {"data": "x", "params": {"date": "2026-12-01"}},
    }
    out["unsend"] = {**_base("unsend", user, False), "unsend": {"messageId": mid()}}
    out["join:group"] = _base("join", group, True)
    out["join:room"] = _base("join", room, True)
    out["leave"] = _base("leave", group, False)
    out["memberJoined"] = {**_base("memberJoined", group, True), "joined": {"members": [user]}}
    out["memberLeft"] = {**_base("memberLeft", group, False), "left": {"members": [user]}}
    out["message:group"] = {**_base("message", group, True), "message": messages["text"]}
    out["videoPlayComplete"] = {**_base("videoPlayComplete", user, True), "videoPlayComplete": {"trackingId": "t"}}
    out["beacon"] = {**_base("beacon", user, True), "beacon": {"hwid": "d41d8cd98f", "type": "enter"}}
    out["accountLink"] = {**_base("accountLink", user, True), "link": {"result": "ok", "nonce": "n"}}
    out["membership"] = {**_base("membership", user, True), "membership": {"type": "joined", "membershipId": 1}}
    out["module"] = {
        **_base("module", user, False),
        "module": {"type": "attached", "botId": "U" + "1" * 32, "scopes": ["message.write"]},
    }
    out["activated"] = {
        **_base("activated", {"type": "user", "userId": user_id}, False),
        "chatControl": {"expireAt": 1},
    }
    out["deactivated"] = _base("deactivated", user, False)
    out["botSuspended"] = _base("botSuspended", user, False)
    out["botResumed"] = _base("botResumed", user, False)
    out["delivery"] = {**_base("delivery", user, False), "delivery": {"data": "d"}}
    out["standby:text"] = {**_base("message", user, True), "mode": "standby", "message": messages["text"]}
    out["unknown"] = {**_base("somethingNew", user, True), "somethingNew": {"x": 1}}
    out["no-source"] = {
        "type": "follow",
        "timestamp": int(time.time() * 1000),
        "mode": "active",
        "webhookEventId": "01NOSOURCE" + mid(),
    }
    return out
