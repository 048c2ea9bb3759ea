"""Who may do what in the staff console, and who is signed in.

Deny by default: every view declares a permission with ``@requires(...)`` (or ``@requires(PUBLIC)`` for the sign-in
pages); the blueprint refuses any view that declares none (and a test fails for it). Records are checked on top of
that with ``in_scope``: centre staff and viewers see their own centre's records; administrators and the division's
own staff see every centre's.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from flask import abort, current_app, g, request, session

from handlers.reports import rules as report_rules
from storage import login_throttle, staff
from storage.db import unit_of_work
from storage.models import StaffMember

PUBLIC = "public"
_READ = frozenset({"admin", "staff", "viewer"})
_WRITE = frozenset({"admin", "staff"})
_ADMIN = frozenset({"admin"})

# permission → the roles that have it
PERMISSIONS: dict[str, frozenset[str]] = {
    "account": _READ,  # one's own password, second factor, sign-out
    "today": _READ,
    "events.read": _READ,
    "events.write": _WRITE,
    "participants.read": _READ,  # names of participants: personal data, audited
    "participants.write": _WRITE,  # approve, decline, attendance
    "sanctions.write": _WRITE,  # remove from an event, bar, lift a bar (policy 6)
    "parents.read": _READ,
    "parents.write": _WRITE,  # correct a field, suspend use
    "parents.rights": _ADMIN,  # export everything held, erase
    "reports.read": _READ,  # lost-credential reports and loan requests
    "reports.write": _WRITE,  # acknowledge, instruct, resolve, decide a loan
    "policy.read": _READ,
    "routing.read": _READ,  # 当番・通知先: who is on duty, the rota, where escalations go
    "rota.write": _WRITE,  # the rota, its dated exceptions, the manual 当番 overrides
    "routing.write": _ADMIN,  # e-mail addresses and webhook URLs of escalations (a webhook URL is a credential)
    "statistics.read": _READ,  # programme statistics (事業報告): anonymous counts, exports suppress small numbers
    "broadcasts.read": _READ,  # お知らせ sent to parents and their delivery reports (counts only)
    "broadcasts.write": _WRITE,  # compose, schedule, cancel; approve another member's (bot/staff/broadcasts.py)
    "broadcasts.urgent": _ADMIN,  # an urgent お知らせ goes during quiet hours too
    "policy.publish": _ADMIN,
    "audit.read": _ADMIN,
    "staff.manage": _ADMIN,
}

SESSION_TOKEN = "staff_token"
V = TypeVar("V", bound=Callable)


def requires(permission: str) -> Callable[[V], V]:
    """Declare the permission a view needs. The declaration is what the blueprint enforces."""
    if permission != PUBLIC and permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}")

    def declare(view: V) -> V:
        view.staff_permission = permission
        return view

    return declare


def declared_permission(endpoint: str | None) -> str | None:
    view = current_app.view_functions.get(endpoint) if endpoint else None
    return getattr(view, "staff_permission", None)


@dataclass(frozen=True)
class Actor:
    """The signed-in staff member, detached from any database session."""

    id: int
    name: str
    centre: str
    role: str
    totp_enabled: bool

    @classmethod
    def of(cls, member: StaffMember) -> Actor:
        return cls(member.id, member.name, member.centre, member.role, member.totp_enabled)

    def can(self, permission: str) -> bool:
        return self.role in PERMISSIONS.get(permission, frozenset())

    @property
    def centres(self) -> tuple[str, ...] | None:
        """The centres whose records this actor sees; None means all (administrators and the division's staff,
        the same rule as for escalations in the chat)."""
        own = report_rules.scope(self.centre, self.role)
        return None if own is None else (own,)

    @property
    def all_centres(self) -> bool:
        return self.centres is None

    def sees(self, centre: str | None) -> bool:
        return self.all_centres or centre == self.centre

    def member(self, session) -> StaffMember:
        return session.get(StaffMember, self.id)


def current() -> Actor:
    """The signed-in actor of this request (views behind ``requires`` always have one)."""
    return g.staff_actor


def in_scope(centre: str | None) -> None:
    """Stop with 404 when the record belongs to a centre outside the actor's scope (its existence is not told)."""
    if not current().sees(centre):
        abort(404)


def load_actor() -> Actor | None:
    token = session.get(SESSION_TOKEN)
    if not isinstance(token, str):
        return None
    with unit_of_work() as s:
        member = staff.member_for_token(s, token)
        return Actor.of(member) if member is not None else None


def _keyed(kind: str, value: str) -> str:
    """A keyed hash: the throttle counts logins and addresses without storing either."""
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def account_key(login: str) -> str:
    return _keyed("login", staff.normalize_login(login))


def address_key() -> str:
    """The client's address as ProxyFix leaves it: only ``TRUSTED_PROXIES`` hops of X-Forwarded-For are believed,
    so a client cannot pick its own address by sending the header."""
    return _keyed("address", throttled_network(request.remote_addr or ""))


def throttled_network(address: str) -> str:
    """What counts as one address to the throttle: an IPv6 subscriber holds a whole /64 and could take a fresh
    address for every attempt, so the /64 is the unit; an IPv4-mapped IPv6 address is its IPv4 address."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def throttle_keys(login: str) -> login_throttle.Keys:
    """The keys of a sign-in attempt, from the login typed (or the account's) and this request's address."""
    return login_throttle.Keys(account_key(login), address_key())
