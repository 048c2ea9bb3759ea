"""Worker jobs of the escalation to staff: the timers (``escalation_tick``) and the delivery of e-mail and webhook
notices (``send_notices``). Plain functions over the tables, so a test runs them under its own clock.

- ``escalation_tick(now)``: a report nobody acknowledged within ESCALATION_ACK_MINUTES (a loan request: within
  ESCALATION_REOPEN_HOURS) is announced again to the centre's staff on duty and to the division, up to three times;
  one acknowledged but unresolved for ESCALATION_REOPEN_HOURS is reopened and the staff reminded. The rule is
  ``handlers.reports.rules.due``; what is sent, ``services.reports.notices``. The rows are locked (skipping those
  another worker holds) and every alert has a dedupe key, so a repeated or concurrent tick sends nothing twice.
- ``send_notices``: claims planned notices, sends each through its channel (runtime/notify.py) and records the outcome:
  sent; planned again later with backoff after a failure (given up after ten tries); skipped when the channel is
  not configured. A notice to an address set in the console (storage/routing.py) goes to that address alone.
  Claims are short leases renewed by the worker's heartbeat (``runtime.leases``): the notices a killed worker had
  claimed go out within seconds from another; a stopping worker hands back those it has not sent.
- ``Jobs.watch``: with each run of the timers, the centres an escalation filed now would reach nobody at (nobody on
  duty with LINE, no e-mail, no webhook: ``storage.routing.unreachable_centres``) are logged as an error when that
  starts, and once more when it ends. The console shows them in a red banner and /healthz?full=1 lists them.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy.orm import Session

from bot.config import Config
from handlers.reports.rules import Timing, due
from runtime.leases import Leases
from runtime.notify import NotifyError, Sender, address_sender, division_defaults, senders
from services.reports import notices
from storage import escalation as queue
from storage import reports, routing
from storage.clock import now as clock_now
from storage.db import unit_of_work
from storage.models import Escalation

log = logging.getLogger(__name__)


def timing_of(config: Config) -> Timing:
    return Timing(
        ack_after=timedelta(minutes=config.escalation_ack_minutes),
        reopen_after=timedelta(hours=config.escalation_reopen_hours),
    )


def escalation_tick(now: datetime | None = None, *, timing: Timing = Timing(), base_url: str = "") -> dict[str, int]:
    """One run of the timers; returns how many escalations were re-notified and reopened."""
    with unit_of_work() as session:
        done = run_timers(session, now or clock_now(), timing, base_url)
    if any(done.values()):
        log.info("escalation timers: %s", done)
    return done


def send_notices(
    channels: Mapping[str, Sender],
    limit: int = 50,
    to_address: Callable[[str, str], Sender | None] = lambda channel, address: None,
    leases: Leases | None = None,
) -> Counter[str]:
    """Send the due e-mail and webhook notices; returns how many were sent, retried, failed, skipped. ``channels``
    are the environment's (the division's defaults); ``to_address`` makes a sender for an address set in the
    console (None: that channel cannot be used, e.g. e-mail without SMTP_URL). ``leases`` keeps the claims alive
    while they are sent (the worker's, so that a graceful stop hands back what it holds)."""
    leases = leases if leases is not None else notice_leases()
    with unit_of_work() as session:
        rows = queue.claim_notices(session, limit)
        claims = {row.id: (row.attempts, row.claimed_until or clock_now()) for row in rows}  # (always set)
        jobs = [
            (
                row.id,
                row.channel,
                row.subject,
                row.body,
                _address(session, row.route_id) if row.route_id is not None else None,
            )
            for row in rows
        ]
    leases.hold(claims)
    try:
        outcomes = _send_each(jobs, channels, to_address, leases)
        counts: Counter[str] = Counter()
        done = {notice_id for notice_id, _, _ in outcomes}
        with unit_of_work() as session:
            queue.release(session, leases.take(job[0] for job in jobs if job[0] not in done))
            for notice_id, outcome, error in outcomes:
                if outcome == "sent":
                    queue.notice_sent(session, notice_id)
                elif outcome == "skipped":
                    queue.notice_skipped(session, notice_id, error)
                elif queue.notice_failed(session, notice_id, error):
                    outcome = "failed"
                    log.warning("escalation notice %s given up: %s", notice_id, error)
                counts[outcome] += 1
    finally:  # recorded; or, if sending or recording failed, the leases run out and the notices are sent again
        leases.drop(job[0] for job in jobs)
    if counts:
        log.info("escalation notices: %s", dict(counts))
    return counts


def notice_leases() -> Leases:
    return Leases(queue=queue, name="escalation notices")


def _send_each(
    jobs: list[tuple[int, str, str, str, str | None]],
    channels: Mapping[str, Sender],
    to_address: Callable[[str, str], Sender | None],
    leases: Leases,
) -> list[tuple[int, str, str | None]]:
    outcomes: list[tuple[int, str, str | None]] = []
    for notice_id, channel, subject, body, address in jobs:
        if not leases.fresh(notice_id):
            continue  # stopping, or the heartbeat could not keep the lease: handed back, or left to run out
        sender = channels.get(channel) if address is None else to_address(channel, address) if address else None
        if sender is None and address == "":
            outcomes.append((notice_id, "skipped", "the address was removed"))
            continue
        if sender is None:
            outcomes.append((notice_id, "skipped", f"{channel} is not configured"))
            continue
        try:
            sender.send(subject, body)
        except NotifyError as exc:
            outcomes.append((notice_id, "retry", str(exc)))
        else:
            outcomes.append((notice_id, "sent", None))
    return outcomes


def _address(session: Session, route_id: int) -> str:
    """The console address of a notice; "" when it was removed since the notice was planned."""
    found = routing.route(session, route_id)
    return found.address if found is not None else ""


# --- the timers ----------------------------------------------------------------------------------------------
def run_timers(session: Session, moment: datetime, timing: Timing, base_url: str) -> dict[str, int]:
    """Re-notify what nobody acknowledged in time (and alert the division), reopen what stayed unresolved too long.
    Returns how many of each."""
    done = {"renotified": 0, "reopened": 0}
    for escalation in queue.unresolved(session):
        action = due(
            timing,
            kind=escalation.kind,
            status=escalation.status,
            attention_since=escalation.attention_since,
            acknowledged_at=escalation.acknowledged_at,
            renotified=escalation.renotified,
            moment=moment,
        )
        if action == "renotify":
            _renotify(session, escalation, moment, base_url)
            done["renotified"] += 1
        elif action == "reopen":
            _reopen(session, escalation, moment, timing, base_url)
            done["reopened"] += 1
    return done


def _renotify(session: Session, escalation: Escalation, moment: datetime, base_url: str) -> None:
    escalation.renotified += 1
    first = escalation.escalated_at is None
    if first:
        escalation.escalated_at = moment
    recipients = {m.id: (m, u) for m, u in queue.on_duty_recipients(session, escalation.centre)}
    recipients.update((m.id, (m, u)) for m, u in queue.division_recipients(session))
    round_ = f"renotify-{escalation.reopened}-{escalation.renotified}"
    minutes = notices.minutes_since(moment, escalation.attention_since)
    alerted = notices.plan_staff_alerts(session, escalation, list(recipients.values()), round_, minutes=minutes)
    external = notices.plan_external(session, escalation, round_, base_url, minutes=minutes, with_division=True)
    if first:
        reports.record(session, escalation, "escalated", details={"to": "division"})
    reports.record(
        session,
        escalation,
        "renotified",
        details={"round": escalation.renotified, "line": alerted, "external": external},
    )


def _reopen(session: Session, escalation: Escalation, moment: datetime, timing: Timing, base_url: str) -> None:
    previous = queue.member(session, escalation.acknowledged_by)
    escalation.status, escalation.attention_since, escalation.renotified = "open", moment, 0
    escalation.acknowledged_at = escalation.acknowledged_by = None
    escalation.reopened += 1
    escalation.updated_at = moment
    recipients = {m.id: (m, u) for m, u in queue.on_duty_recipients(session, escalation.centre)}
    if previous is not None and (user := queue.line_user_of(session, previous)) is not None:
        recipients[previous.id] = (previous, user)
    round_ = f"reopen-{escalation.reopened}"
    hours = int(timing.reopen_after.total_seconds() // 3600)
    alerted = notices.plan_staff_alerts(session, escalation, list(recipients.values()), round_, hours=hours)
    external = notices.plan_external(session, escalation, round_, base_url, hours=hours)
    reports.record(
        session, escalation, "reopened", details={"round": escalation.reopened, "line": alerted, "external": external}
    )


class Jobs:
    """The two jobs over one configuration (the worker's)."""

    def __init__(self, config: Config):
        self.timing = timing_of(config)
        self.base_url = config.public_base_url
        self.channels = senders(config)
        self.to_address = partial(address_sender, config)
        self.defaults = division_defaults(config)
        self.unreachable: list[str] = []
        self.leases = notice_leases()  # the notices this worker holds, renewed while it lives

    def tick(self) -> dict[str, int]:
        done = escalation_tick(timing=self.timing, base_url=self.base_url)
        self.watch()
        return done

    def watch(self, moment: datetime | None = None) -> list[str]:
        """Log an error when some centre's escalations would reach nobody (and once when that is over); returns
        the centres. Only centre identifiers are logged."""
        with unit_of_work() as session:
            found = routing.unreachable_centres(session, moment or clock_now(), self.defaults)
        if found and found != self.unreachable:
            log.error(
                "escalations can reach nobody for %s: nobody on duty with LINE, no e-mail, no webhook "
                "(set a rota or addresses in the console: 当番・通知先)",
                ",".join(found),
            )
        elif self.unreachable and not found:
            log.info("escalations can reach someone again for every centre")
        self.unreachable = found
        return found

    def send(self) -> Counter[str]:
        return send_notices(self.channels, to_address=self.to_address, leases=self.leases)

    def close(self) -> int:
        """A graceful stop: the notices claimed and not sent are handed back at once. Returns how many."""
        return self.leases.close()
