"""Sign-in throttling for the staff console: OWASP's progressive delays instead of a lockout, and its audit summary.

Two counters, each a row of ``staff_login_throttles`` keyed by keyed hashes (no login or address in clear):
- the (account, address) pair: after ``PAIR_FREE`` failures each further attempt must wait 1 s, 2 s, 4 s … (at most
  15 minutes) after the pair's last failure. A success from that pair, or an administrator's ``clear``, starts it
  again; a day without failures forgets it. Failures of the account from *other* addresses do not count, so whoever
  knows a work e-mail address cannot keep its owner out.
- the address, whatever the account (``ANY_ACCOUNT``): after ``ADDRESS_FREE`` failures the same growing delay, against
  one address trying many logins; an hour without failures forgets it.
- the account, whatever the address (``ANY_ADDRESS``), against many addresses guessing one account (a botnet,
  rotating IPv6 networks): failures from browsers *without* a device cookie of the account count; after
  ``ACCOUNT_FREE`` of them the same growing delay holds back every such attempt, from anywhere. Browsers the owner
  has signed in from (``trusted``: a valid device cookie, ``storage.staff.device_for``) are not held back by it, so
  an attack on the account does not keep its owner out (OWASP's device cookies, not a lockout); their own wrong
  passwords count on the device, which is revoked after a few. A success does not reset it (the attack goes on);
  an hour without counted failures, or an administrator's ``clear``, does.
A refused attempt is answered before the password is checked and does not lengthen the delay.

The audit trail gets at most one ``staff.login_failed`` row per pair of a known account per hour, counting the
failures and refused attempts since the pair's previous row; what is left is written when the pair succeeds, is
cleared, or by the daily retention run (``purge``). Nothing here commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Select, and_, or_, select, tuple_
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from storage import audit
from storage.clock import now
from storage.models import LoginThrottle

ANY_ACCOUNT = "*"
ANY_ADDRESS = "*"
PAIR_FREE = 30
PAIR_FORGET = timedelta(days=1)
ADDRESS_FREE = 100
ADDRESS_FORGET = timedelta(hours=1)
MAX_DELAY = timedelta(minutes=15)
REPORT_EVERY = timedelta(hours=1)
# NIST SP 800-63B 5.2.2 allows at most 100 consecutive failures per account; untrusted browsers are slowed well
# before. Not below PAIR_FREE: one address's failures are the account's too, so a lower figure would silently
# replace the pair's.
ACCOUNT_FREE = PAIR_FREE
ACCOUNT_FORGET = timedelta(hours=1)


@dataclass(frozen=True)
class Keys:
    """The throttle keys of one attempt, always computed on the server (``bot.staff.auth.throttle_keys``)."""

    account: str
    address: str


def delay(failures: int, free: int) -> timedelta:
    """The wait after the last failure: none for the first ``free`` failures, then 1 s, doubling, at most 15 min."""
    if failures < free:
        return timedelta(0)
    return min(timedelta(seconds=2 ** min(failures - free, 20)), MAX_DELAY)


def _limits(row: LoginThrottle) -> tuple[int, timedelta]:
    if row.account_key == ANY_ACCOUNT:
        return ADDRESS_FREE, ADDRESS_FORGET
    if row.address_key == ANY_ADDRESS:
        return ACCOUNT_FREE, ACCOUNT_FORGET
    return PAIR_FREE, PAIR_FORGET


def wait(session: Session, keys: Keys, *, trusted: bool = False) -> timedelta | None:
    """How long this account must wait before trying again from this address, or None when it may try now.
    ``trusted``: the browser holds a valid device cookie of the account (the account-wide counter does not apply)."""
    moment = now()
    remaining = timedelta(0)
    for row in _rows(session, keys, trusted=trusted):
        free, forget = _limits(row)
        if row.last_failure_at is None or moment - row.last_failure_at >= forget:
            continue
        remaining = max(remaining, row.last_failure_at + delay(row.failures, free) - moment)
    return remaining if remaining > timedelta(0) else None


def refused(session: Session, keys: Keys, staff_id: int | None) -> None:
    """An attempt refused for waiting too little: counted for the audit summary only."""
    pair = _locked(session, keys.account, keys.address, staff_id)
    pair.unreported_refusals += 1
    _report(session, pair)


def failed(session: Session, keys: Keys, staff_id: int | None, *, trusted: bool = False) -> None:
    """A wrong password or code: the pair and address counters grow, and the account's unless the browser is
    ``trusted`` (its failures count on its device instead)."""
    moment = now()
    counters = [(keys.account, keys.address), (ANY_ACCOUNT, keys.address)]
    if not trusted:
        counters.append((keys.account, ANY_ADDRESS))
    for account_key, address_key in counters:
        pair = account_key != ANY_ACCOUNT and address_key != ANY_ADDRESS
        row = _locked(session, account_key, address_key, staff_id if pair else None)
        if row.last_failure_at is None or moment - row.last_failure_at >= _limits(row)[1]:
            row.failures = 0
        row.failures += 1
        row.last_failure_at = moment
        if pair:
            row.unreported_failures += 1
            _report(session, row)


def succeeded(session: Session, keys: Keys, staff_id: int) -> None:
    """A correct sign-in: the pair starts again (the address counter does not: one good login must not let the
    same address go on guessing others)."""
    pair = session.scalars(_pair_query(keys.account, keys.address)).first()
    if pair is not None:
        pair.failures = 0
        _report(session, pair, force=True)


def clear(session: Session, account_key: str) -> int:
    """An administrator lifts every delay of an account, the account-wide one too; returns from how many addresses
    it had failures."""
    rows = list(session.scalars(select(LoginThrottle).where(LoginThrottle.account_key == account_key)))
    lifted = sum(1 for row in rows if row.failures and row.address_key != ANY_ADDRESS)
    for row in rows:
        _report(session, row, force=True)
        session.delete(row)
    return lifted


def delayed_addresses(session: Session, account_key: str) -> int:
    """From how many addresses the account has recent failures (what ``clear`` would lift)."""
    since = now() - PAIR_FORGET
    return len(
        list(
            session.scalars(
                select(LoginThrottle.id).where(
                    LoginThrottle.account_key == account_key,
                    LoginThrottle.address_key != ANY_ADDRESS,
                    LoginThrottle.failures > 0,
                    LoginThrottle.last_failure_at > since,
                )
            )
        )
    )


def purge(session: Session, batch: int) -> int:
    """Retention: write what is still unreported after an hour, delete counters quiet for a day. Returns how many
    counters it changed (each is then no longer selected, so the caller's loop ends)."""
    moment = now()
    pending = or_(LoginThrottle.unreported_failures > 0, LoginThrottle.unreported_refusals > 0)
    stale = list(
        session.scalars(
            select(LoginThrottle)
            .where(
                or_(
                    LoginThrottle.last_failure_at < moment - PAIR_FORGET,
                    LoginThrottle.last_failure_at.is_(None),
                    and_(LoginThrottle.reported_at < moment - REPORT_EVERY, pending),
                )
            )
            .order_by(LoginThrottle.id)
            .limit(batch)
        )
    )
    changed = 0
    for row in stale:
        quiet = row.last_failure_at is None or row.last_failure_at < moment - PAIR_FORGET
        _report(session, row, force=quiet)
        if quiet:
            session.delete(row)
        changed += 1
    return changed


def _pair_query(account_key: str, address_key: str) -> Select[LoginThrottle]:
    return select(LoginThrottle).where(
        LoginThrottle.account_key == account_key, LoginThrottle.address_key == address_key
    )


def _rows(session: Session, keys: Keys, *, trusted: bool) -> list[LoginThrottle]:
    pairs = [(keys.account, keys.address), (ANY_ACCOUNT, keys.address)]
    if not trusted:
        pairs.append((keys.account, ANY_ADDRESS))
    return list(
        session.scalars(
            select(LoginThrottle).where(tuple_(LoginThrottle.account_key, LoginThrottle.address_key).in_(pairs))
        )
    )


def _locked(session: Session, account_key: str, address_key: str, staff_id: int | None) -> LoginThrottle:
    """The counter row, created if missing, locked for this transaction (two failures at once both count)."""
    dialect = session.get_bind().dialect.name
    values = {
        "account_key": account_key,
        "address_key": address_key,
        "staff_id": staff_id,
        "failures": 0,
        "unreported_failures": 0,
        "unreported_refusals": 0,
    }
    pair = ["account_key", "address_key"]
    if dialect == "postgresql":
        session.execute(postgresql_insert(LoginThrottle).values(**values).on_conflict_do_nothing(index_elements=pair))
    else:
        session.execute(sqlite_insert(LoginThrottle).values(**values).on_conflict_do_nothing(index_elements=pair))
    query = _pair_query(account_key, address_key).execution_options(populate_existing=True)
    if dialect == "postgresql":
        query = query.with_for_update()
    row: LoginThrottle = session.scalars(query).one()
    if staff_id is not None:
        row.staff_id = staff_id
    return row


def _report(session: Session, row: LoginThrottle, *, force: bool = False) -> None:
    """One summary row for what the pair has not reported yet, at most once an hour unless ``force``."""
    if not (row.unreported_failures or row.unreported_refusals):
        return
    if not force and row.reported_at is not None and now() - row.reported_at < REPORT_EVERY:
        return
    if row.staff_id is not None and row.account_key != ANY_ACCOUNT and row.address_key != ANY_ADDRESS:
        audit.record(
            session,
            action="staff.login_failed",
            actor_label="anonymous",
            subject_type="staff",
            subject_id=row.staff_id,
            details={"failures": row.unreported_failures, "refused": row.unreported_refusals},
        )
    row.unreported_failures = row.unreported_refusals = 0
    row.reported_at = now()
