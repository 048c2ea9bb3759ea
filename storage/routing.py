"""Where an escalation's e-mail and webhook notices go, per centre, and whether an escalation can reach anybody at all.
Nothing here commits.

Each centre (and the division, 地域子育て支援課) has addresses set in the console (``RoutingChannel``); the division
also has the environment's defaults (ESCALATION_EMAIL_TO, ESCALATION_WEBHOOK_URL). While someone of the centre is on
duty (storage/rota.py), notices go to the centre's addresses; outside the centre's rota, or when it has none, to the
division's. When the division has no address of its own in the console, the centre's addresses are added to the
environment's, so that a notice never depends only on settings that may be empty. A reminder nobody answered
(re-notification) goes to the division as well.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage import crypto, rota
from storage.clock import now
from storage.escalation import line_user_of
from storage.models import RoutingChannel
from storage.models.staff import CENTRES

CHANNELS = ("email", "webhook")
EMAIL = re.compile(r"^[^@\s,;<>\"]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?\.[A-Za-z]{2,}$")


@dataclass(frozen=True)
class Route:
    id: int
    centre: str
    channel: str
    address: str

    @property
    def shown(self) -> str:
        """How the console shows it: an e-mail address in full; a webhook URL only up to its host (the rest of the
        URL is its secret)."""
        if self.channel == "email":
            return self.address
        parts = urlsplit(self.address)
        return f"{parts.scheme}://{parts.hostname}/…"


@dataclass(frozen=True)
class Defaults:
    """What the environment gives the division: an SMTP server, default addresses, a default webhook."""

    smtp: bool = False
    email: bool = False
    webhook: bool = False


@dataclass(frozen=True)
class Targets:
    """Where one round of notices goes: addresses from the console, and whether the environment's defaults too."""

    routes: tuple[Route, ...]
    environment: bool

    def usable(self, defaults: Defaults) -> bool:
        """Whether any of these can carry a notice with this configuration."""
        routes = any(r.channel == "webhook" or defaults.smtp for r in self.routes)
        return routes or (self.environment and (defaults.email or defaults.webhook))


# --- settings --------------------------------------------------------------------------------------------------------
def address_problem(channel: str, address: str) -> str | None:
    """Why this cannot be an address of that channel, in words for the console; None when it can."""
    if channel == "email":
        return None if len(address) <= 254 and EMAIL.match(address) else "メールアドレスの形になっていません。"
    if channel != "webhook":
        return "通知の種類を選んでください。"
    return webhook_problem(address)


def webhook_problem(url: str) -> str | None:
    """A webhook URL must be https (plain http only to this machine: a relay or a test receiver)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018  (raises on a port that is not a number)
    except ValueError:
        return "URLの形になっていません。"
    if not host or len(url) > 1000 or any(c.isspace() for c in url):
        return "URLの形になっていません。"
    if parts.username or parts.password:
        return "ユーザー名・パスワードを含むURLは使えません。"
    if parts.scheme == "https":
        return None
    if parts.scheme == "http" and _loopback(host):
        return None
    return "https:// で始まるURLにしてください（http:// はこのサーバー自身あてのときだけ使えます）。"


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _route(row: RoutingChannel) -> Route:
    return Route(row.id, row.centre, row.channel, crypto.unseal(row.address_sealed))


def routes(session: Session, centre: str | None = None) -> list[Route]:
    query = select(RoutingChannel).where(RoutingChannel.removed_at.is_(None))
    if centre is not None:
        query = query.where(RoutingChannel.centre == centre)
    return [_route(r) for r in session.scalars(query.order_by(RoutingChannel.channel, RoutingChannel.id))]


def route(session: Session, route_id: int) -> Route | None:
    """One address by id, removed or not (a notice planned before the removal still names it)."""
    row = session.get(RoutingChannel, route_id)
    return _route(row) if row is not None and row.removed_at is None else None


def add_route(session: Session, centre: str, channel: str, address: str, *, by: int | None) -> Route:
    """Add an address (the caller checked ``address_problem`` and audits)."""
    if centre not in CENTRES or address_problem(channel, address):
        raise ValueError("not a valid address for this centre and channel")
    if any(r.channel == channel and r.address == address for r in routes(session, centre)):
        raise ValueError("already there")
    row = RoutingChannel(
        centre=centre, channel=channel, address_sealed=crypto.seal(address), created_at=now(), created_by=by
    )
    session.add(row)
    session.flush()
    return _route(row)


def remove_route(session: Session, centre: str, route_id: int) -> Route | None:
    row = session.get(RoutingChannel, route_id)
    if row is None or row.centre != centre or row.removed_at is not None:
        return None
    row.removed_at = now()
    return _route(row)


# --- where a notice goes now --------------------------------------------------------------------------------------
def targets(
    session: Session,
    centre: str,
    moment: datetime | None = None,
    *,
    with_division: bool = False,
    duty: rota.Rota | None = None,
) -> Targets:
    moment = moment or now()
    duty = duty or rota.load(session, moment)
    own = tuple(routes(session, centre)) if centre != rota.DIVISION else ()
    division = tuple(routes(session, rota.DIVISION))
    centre_on_duty = any(m.centre == centre for m in duty.on_duty(centre, moment))
    if own and centre_on_duty and not with_division:
        return Targets(own, environment=False)
    chosen = division if division else own + division
    if with_division and centre_on_duty:
        chosen = tuple({r.id: r for r in own + division}.values())
    return Targets(chosen, environment=True)


def unreachable_centres(session: Session, moment: datetime | None = None, defaults: Defaults = Defaults()) -> list[str]:
    """The centres an escalation filed now would reach nobody at: no one on duty (for the centre or the division)
    with a LINE account that follows the bot, and no e-mail or webhook that could carry a notice. ``defaults``
    says what the environment provides (runtime.notify.division_defaults)."""
    moment = moment or now()
    duty = rota.load(session, moment)
    out = []
    for centre in CENTRES:
        if any(line_user_of(session, m) is not None for m in duty.on_duty(centre, moment)):
            continue
        if not targets(session, centre, moment, duty=duty).usable(defaults):
            out.append(centre)
    return out
