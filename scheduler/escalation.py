"""Worker jobs of the escalation to staff: the timers (``escalation_tick``) and the delivery of e-mail and webhook
notices (``send_notices``). Plain functions over the tables, so a test runs them under its own clock.

- ``escalation_tick(now)``: a report nobody acknowledged within ESCALATION_ACK_MINUTES (a loan request: within
  ESCALATION_REOPEN_HOURS) is announced again to the centre's staff on duty and to the division, up to three times;
  one acknowledged but unresolved for ESCALATION_REOPEN_HOURS is reopened and the staff reminded. The rule is
  ``handlers.report_rules.due``; what is sent, ``handlers.report_service``. The rows are locked (skipping those
  another worker holds) and every alert has a dedupe key, so a repeated or concurrent tick sends nothing twice.
- ``send_notices``: claims planned notices, sends each through its channel (bot/notify.py) and records the outcome:
  sent; planned again later with backoff after a failure (given up after ten tries); skipped when the channel is
  not configured.
"""
from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta
from typing import Mapping

from bot.config import Config
from bot.notify import NotifyError, Sender, senders
from handlers import report_service
from handlers.report_rules import Timing
from storage import escalation as queue
from storage.clock import now as clock_now
from storage.db import unit_of_work

log = logging.getLogger(__name__)


def timing_of(config: Config) -> Timing:
    return Timing(ack_after=timedelta(minutes=config.escalation_ack_minutes),
                  reopen_after=timedelta(hours=config.escalation_reopen_hours))


def escalation_tick(now: datetime | None = None, *, timing: Timing = Timing(), base_url: str = "") -> dict[str, int]:
    """One run of the timers; returns how many escalations were re-notified and reopened."""
    with unit_of_work() as session:
        done = report_service.run_timers(session, now or clock_now(), timing, base_url)
    if any(done.values()):
        log.info("escalation timers: %s", done)
    return done


def send_notices(channels: Mapping[str, Sender], limit: int = 50) -> Counter[str]:
    """Send the due e-mail and webhook notices; returns how many were sent, retried, failed, skipped."""
    with unit_of_work() as session:
        jobs = [(row.id, row.channel, row.subject, row.body) for row in queue.claim_notices(session, limit)]
    outcomes: list[tuple[int, str, str | None]] = []
    for notice_id, channel, subject, body in jobs:
        sender = channels.get(channel)
        if sender is None:
            outcomes.append((notice_id, "skipped", f"{channel} is not configured"))
            continue
        try:
            sender.send(subject, body)
        except NotifyError as exc:
            outcomes.append((notice_id, "retry", str(exc)))
        else:
            outcomes.append((notice_id, "sent", None))
    counts: Counter[str] = Counter()
    with unit_of_work() as session:
        for notice_id, outcome, error in outcomes:
            if outcome == "sent":
                queue.notice_sent(session, notice_id)
            elif outcome == "skipped":
                queue.notice_skipped(session, notice_id, error)
            elif queue.notice_failed(session, notice_id, error):
                outcome = "failed"
                log.warning("escalation notice %s given up: %s", notice_id, error)
            counts[outcome] += 1
    if counts:
        log.info("escalation notices: %s", dict(counts))
    return counts


class Jobs:
    """The two jobs over one configuration (the worker's)."""

    def __init__(self, config: Config):
        self.timing = timing_of(config)
        self.base_url = config.public_base_url
        self.channels = senders(config)

    def tick(self) -> dict[str, int]:
        return escalation_tick(timing=self.timing, base_url=self.base_url)

    def send(self) -> Counter[str]:
        return send_notices(self.channels)
