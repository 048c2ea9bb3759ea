"""Sends outbox rows through the gateway and records what happened. Used inline by the web process (right after
an event's transaction commits, for the replies it planned) and by the worker, which sends everything due —
reminders, notices, whatever a crash left — through a pool of threads.

Exactly once, in effect:
- A row is committed before any LINE call, and claimed (a lease, ``storage.outbox.claim``) before it is sent.
- Push and multicast always carry the row's retry key (batch keys derived from it, ``batch_retry_key``), so a
  repeat after a crash, a timeout or a lost lease is answered 409 by LINE and recorded as sent.
- Whether the message is still right to send is checked when it is claimed, just before sending (``_refusals``):
  ``not_after``, a blocked recipient, and the purpose's own ``eligibility_checks``. What fails is expired, unsent.
- Personal links are written into a message only here, at claim time (``storage.join_links.fill``): the row holds
  a reference (``/j/{join_link:12}``), the tokens exist in this process's memory while the batch is sent, and a row
  naming a link that is gone or erased expires unsent. What is recorded afterwards (``keep_only``) is the referenced
  form again; a sent, expired or failed row loses its body (``storage.outbox``).
- A join link (``/j/<token>``) is checked once more right before its batch is sent, with the applications behind
  the links locked ``FOR SHARE`` until the batch is done (PostgreSQL): a withdrawal or removal waits for the send,
  so no link leaves after its holder stopped being a participant (``hold_join_links``). On SQLite, which has no row
  locks, the check is as fresh as the moment before sending.
- A claim is a short lease, renewed by the process's heartbeat while it lives (``runtime.leases``): a dead sender's
  rows are free within seconds, a live one never loses a row it is sending, and no send starts on a lease the
  heartbeat could not keep fresh. A graceful stop (``Runtime.stop``) finishes the batch being sent and hands
  back the rest.
- The reply token is tried on a row's first attempt only, for its first batch; when LINE refuses it (expired,
  used) or the call fails, the batch goes by push at once. A reply has no retry key, so a reply that LINE took but
  whose answer was lost (a timeout, a crash before recording) can be followed by the same text by push: for a
  parent waiting for an answer, twice is better than never. Everything else is sent at most once.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from runtime import metrics
from runtime.leases import Leases
from runtime.line_gateway import Gateway, Outcome
from runtime.render import batches
from storage import join_links, outbox
from storage.clock import now
from storage.db import get_engine, is_sqlite, open_session, unit_of_work
from storage.models import LineUser, OutboxMessage

log = logging.getLogger(__name__)

# Checks that a message is still right to send, by purpose: (session, row) -> reason to expire it, or None.
# Features register theirs (e.g. a join link goes only to a participant still in good standing).
EligibilityCheck = Callable[[Session, OutboxMessage], str | None]
eligibility_checks: dict[str, EligibilityCheck] = {}
# The same for purposes sent by the thousand (reminders): the whole claimed batch at once, so the check asks the
# database a few times, not a few times per row. (session, rows) -> {row id: reason to expire it}.
BatchEligibilityCheck = Callable[[Session, list[OutboxMessage]], dict[int, str]]
batch_eligibility_checks: dict[str, BatchEligibilityCheck] = {}
# For multicast purposes (お知らせ): which of a row's recipients must be left out now, the row still going to the
# rest. (session, rows) -> {row id: LINE ids to leave out}.
RecipientCheck = Callable[[Session, list[OutboxMessage]], dict[int, set[str]]]
recipient_checks: dict[str, RecipientCheck] = {}
# Purposes that are pushed on the bot's own initiative to parents: held back during quiet hours.
quiet_purposes: set[str] = set()
LEAVE_PURPOSES = ("leave_group", "leave_room")
JOIN_TOKEN = re.compile(r"/j/([A-Za-z0-9_-]{20,})")


class QuietWindow(Protocol):
    def contains(self, moment: datetime) -> bool: ...


@dataclass(frozen=True)
class Job:
    """What one send needs, read from a claimed row while the claim's transaction was open."""

    id: int
    purpose: str
    line_user_id: str | None
    recipients: list[str] | None
    reply_token: str | None
    messages: list[dict[str, Any]]  # as sent: personal links filled in
    retry_key: str
    subject: str | None
    planned: list[dict[str, Any]]  # as stored: personal links by reference

    @classmethod
    def of(cls, row: OutboxMessage, recipients: list[str] | None, messages: list[dict[str, Any]]) -> Job:
        return cls(
            row.id,
            row.purpose,
            row.line_user_id,
            recipients,
            _usable_reply_token(row),
            messages,
            row.retry_key,
            row.subject,
            list(row.messages),
        )


@dataclass(frozen=True)
class Result:
    job_id: int
    outcome: Outcome
    # After a partial success: the messages still to send and the retry key of their first batch.
    remaining: tuple[list[dict[str, Any]], str] | None = None


def batch_retry_key(retry_key: str, index: int) -> str:
    """The first batch uses the row's key; later batches a key derived from it, equally stable across retries."""
    return retry_key if index == 0 else str(uuid.uuid5(uuid.UUID(retry_key), str(index)))


def _usable_reply_token(row: OutboxMessage) -> str | None:
    """The reply token, only on the row's first attempt (a later one may follow a reply LINE took) while fresh."""
    if row.reply_token and row.attempts == 1 and row.reply_token_expires_at and now() < row.reply_token_expires_at:
        return row.reply_token
    return None


class Dispatcher:
    """Claims due rows in batches, sends them (in parallel when ``threads`` > 1), records the outcomes."""

    def __init__(
        self,
        gateway: Gateway,
        *,
        threads: int = 1,
        batch: int = 100,
        quiet: QuietWindow | None = None,
        leases: Leases | None = None,
        stopping: threading.Event | None = None,
    ):
        self.gateway = gateway
        self.batch = batch
        self.quiet = quiet
        self.leases = leases if leases is not None else Leases()
        # Set when the process stops gracefully (``Runtime.stop``): the batch being sent is finished, nothing more
        # is claimed, and what was claimed but not started is handed back.
        self._stopping = stopping if stopping is not None else threading.Event()
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="outbox-send") if threads > 1 else None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def deliver(self, ids: list[int] | None = None) -> int:
        """Send one batch of due rows (or the given ids). Returns how many rows were claimed."""
        claimed, jobs = self._claim(ids)
        with self._forgotten_on_error(jobs):
            self._record(claimed, jobs, self._start(jobs)())
        return claimed

    def drain(self, budget: float) -> int:
        """Send batches until nothing more is due or ``budget`` seconds have passed. Returns how many rows.

        While one batch is being sent, the next is claimed and checked: the database work overlaps the waiting for
        LINE. Batches are never sent at the same time, so one parent's messages still go in order.
        """
        deadline = time.monotonic() + budget
        total = 0
        claimed, jobs = self._claim()
        while claimed:
            total += claimed
            ahead: list[Job] = []
            with self._forgotten_on_error(jobs, ahead):
                finish = self._start(jobs)
                more = claimed == self.batch and time.monotonic() < deadline
                following = self._claim() if more else (0, [])
                ahead += following[1]
                self._record(claimed, jobs, finish())
            claimed, jobs = following
            if self._stopping.is_set():
                self.leases.release([job.id for job in jobs])
                break
        return total

    @contextmanager
    def _forgotten_on_error(self, jobs: list[Job], ahead: list[Job] | None = None) -> Iterator[None]:
        """If sending or recording fails (the database restarting), stop renewing what this run claimed: its leases
        run out and the next claim takes it, instead of a living process holding rows it will never send."""
        try:
            yield
        except BaseException:
            self.leases.drop(job.id for job in [*jobs, *(ahead or [])])
            raise

    def _claim(self, ids: list[int] | None = None) -> tuple[int, list[Job]]:
        if self._stopping.is_set():
            return 0, []
        with unit_of_work() as session:
            rows = outbox.claim(session, ids, self.batch, held=self._held())
            claims = {row.id: (row.attempts, row.claimed_until) for row in rows}
            jobs = _eligible(session, rows)
        self.leases.hold({job.id: claims[job.id] for job in jobs})
        return len(rows), jobs

    def _record(self, claimed: int, jobs: list[Job], results: list[Result]) -> None:
        done = {r.job_id for r in results}
        try:
            with unit_of_work() as session:
                record(session, results)
                # Not started (the lease was not fresh, or the process is stopping): free for the next claim now.
                outbox.release(session, self.leases.take(job.id for job in jobs if job.id not in done))
        finally:
            self.leases.drop(job.id for job in jobs)  # if recording failed, the leases run out and it is sent again
        purposes = {job.id: job.purpose for job in jobs}
        metrics.outbox_results(
            (purposes.get(r.job_id, "unknown"), "sent" if r.outcome.delivered else r.outcome.status) for r in results
        )
        if claimed:  # per batch, so debug: the worker logs a summary once a minute (scheduler/worker.py)
            counts = Counter("sent" if r.outcome.delivered else r.outcome.status for r in results)
            log.debug("outbox: %d claimed, %d expired, %s", claimed, claimed - len(jobs), dict(counts))

    def _held(self) -> tuple[str, ...]:
        if self.quiet is not None and self.quiet.contains(now()):
            return tuple(sorted(quiet_purposes))
        return ()

    def _start(self, jobs: list[Job]) -> Callable[[], list[Result]]:
        """Start sending; returns what waits for the results. One recipient's messages go in order on one thread,
        different recipients in parallel."""
        hold, jobs, refused = hold_join_links(jobs)
        try:
            lanes: dict[str, list[Job]] = defaultdict(list)
            for job in jobs:
                lanes[job.line_user_id or f"row:{job.id}"].append(job)
            if self._pool is None or len(lanes) < 2:
                results = refused + [r for lane in lanes.values() for r in self._send_lane(lane)]
                hold.close()
                return lambda: results
            futures = [self._pool.submit(self._send_lane, lane) for lane in lanes.values()]
        except BaseException:
            hold.close()
            raise

        def finish() -> list[Result]:
            try:
                return refused + [r for future in futures for r in future.result()]
            finally:
                hold.close()  # the links are out (or not): withdrawals may go ahead

        return finish

    def _send_lane(self, jobs: list[Job]) -> list[Result]:
        results = []
        for job in jobs:
            if self._stopping.is_set() or not self.leases.fresh(job.id):
                continue  # not started: handed back when the batch is recorded
            try:
                results.append(send(self.gateway, job))
            except Exception as exc:  # a bug must not strand the other rows of the batch; retried, then failed
                log.exception("outbox %s: sending failed (%s)", job.id, type(exc).__name__)
                results.append(Result(job.id, Outcome("retry", None, f"internal error: {type(exc).__name__}")))
        return results


def deliver(gateway: Gateway, ids: list[int] | None = None, limit: int = 100, leases: Leases | None = None) -> int:
    """Send the due rows (or the given ids) on this thread: the web process's replies, tests, the demo."""
    return Dispatcher(gateway, batch=limit, leases=leases).deliver(ids)


# --- before sending: is it still right? --------------------------------------------------------------------------
def _eligible(session: Session, rows: list[OutboxMessage]) -> list[Job]:
    reasons, recipients = _refusals(session, rows)
    filled = join_links.fill(session, {row.id: row.messages for row in rows if row.id not in reasons})
    reasons.update(
        (row_id, "the personal link no longer exists") for row_id, messages in filled.items() if messages is None
    )
    jobs = []
    for row in rows:
        reason = reasons.get(row.id)
        if reason:
            outbox.mark_expired(session, row.id, reason)
            log.info("outbox %s (%s) expired: %s", row.id, row.purpose, reason)
            metrics.outbox_results([(row.purpose, "expired")])
        else:
            jobs.append(Job.of(row, recipients.get(row.id), filled[row.id]))
    return jobs


def _refusals(session: Session, rows: list[OutboxMessage]) -> tuple[dict[int, str], dict[int, list[str]]]:
    """Why each row must not be sent (if so), and the multicast recipients who may still receive it."""
    moment = now()
    reasons: dict[int, str] = {}
    pushed = {
        r.id: r.line_user_id
        for r in rows
        if r.line_user_id and not _usable_reply_token(r) and r.purpose not in LEAVE_PURPOSES
    }
    blocked = _blocked(session, [*pushed.values(), *(u for r in rows for u in r.recipients or [])])
    recipients: dict[int, list[str]] = {}
    for row in rows:
        if row.not_after is not None and moment > row.not_after:
            reasons[row.id] = "too late: past not_after"
        elif pushed.get(row.id) in blocked:
            reasons[row.id] = "recipient has blocked the bot"
        elif row.recipients:
            recipients[row.id] = [u for u in row.recipients if u not in blocked]
            if not recipients[row.id]:
                reasons[row.id] = "every recipient has blocked the bot"
    by_purpose: dict[str, list[OutboxMessage]] = defaultdict(list)
    for row in rows:
        if row.id not in reasons:
            by_purpose[row.purpose].append(row)
    for purpose, group in by_purpose.items():
        if purpose in batch_eligibility_checks:
            reasons.update(batch_eligibility_checks[purpose](session, group))
        elif purpose in eligibility_checks:
            check = eligibility_checks[purpose]
            reasons.update((row.id, reason) for row in group if (reason := check(session, row)))
        if purpose in recipient_checks:
            left_out = recipient_checks[purpose](session, [row for row in group if row.id not in reasons])
            for row_id, users in left_out.items():
                recipients[row_id] = [u for u in recipients.get(row_id, []) if u not in users]
                if not recipients[row_id]:
                    reasons[row_id] = "no recipient may receive it now"
    return reasons, recipients


def _blocked(session: Session, line_user_ids: Iterable[str]) -> set[str]:
    wanted = sorted(set(line_user_ids))
    found: set[str] = set()
    for start in range(0, len(wanted), 500):
        found.update(
            session.scalars(
                select(LineUser.line_user_id).where(
                    LineUser.line_user_id.in_(wanted[start : start + 500]), LineUser.status == "blocked"
                )
            )
        )
    return found


class _NoHold:
    def close(self) -> None:
        pass


def hold_join_links(jobs: list[Job]) -> tuple[Any, list[Job], list[Result]]:
    """Right before sending: lock the applications behind the join links in ``jobs`` (kept until the returned
    session is closed, after the batch) and take out the jobs whose links may no longer go. Returns the session to
    close, the jobs to send, and an ``expired`` result for each job taken out."""
    tokens = {job.id: set(JOIN_TOKEN.findall(json.dumps(job.messages, ensure_ascii=False))) for job in jobs}
    wanted = set().union(*tokens.values())
    if not wanted:
        return _NoHold(), jobs, []
    session = open_session()
    try:
        refused = join_links.hold_for_sending(session, wanted)
        if is_sqlite(get_engine()):
            session.close()  # no row locks to keep; an open transaction would only hold the database's write lock
    except BaseException:
        session.close()
        raise
    keep, expired = [], []
    for job in jobs:
        reason = next((refused[t] for t in sorted(tokens[job.id]) if t in refused), None)
        if reason is None:
            keep.append(job)
        else:
            expired.append(Result(job.id, Outcome("expired", None, reason)))
            log.info("outbox %s (%s) expired: %s", job.id, job.purpose, reason)
    return session, keep, expired


# --- sending ----------------------------------------------------------------------------------------------------
def send(gateway: Gateway, job: Job) -> Result:
    """One row to LINE: reply for the first batch if the token is usable, push (or multicast) the rest."""
    if job.purpose in LEAVE_PURPOSES:
        return _leave(gateway, job)
    parts = batches(job.messages)
    start = 0
    if job.reply_token:
        outcome = gateway.reply(job.reply_token, parts[0])
        if outcome.delivered:
            start = 1
        else:
            log.info("outbox %s: reply not accepted (%s); pushing instead", job.id, outcome.status)
    if start == len(parts):
        return Result(job.id, Outcome("sent"))
    if job.recipients:
        recipients = job.recipients
        outcome, done = _each(parts, start, lambda p, key: gateway.multicast(recipients, p, key), job.retry_key)
    elif job.line_user_id:
        target = job.line_user_id
        outcome, done = _each(parts, start, lambda p, key: gateway.push(target, p, key), job.retry_key)
    else:
        return Result(job.id, Outcome("failed", None, "no recipient to push to (reply token expired)"))
    remaining = None
    if not outcome.delivered and done > 0:
        # Keep only what LINE has not taken; batch ``done`` may have reached LINE (no answer), so it keeps its key.
        # What is kept is the stored form (links by reference): the batches of both forms match message for message.
        remaining = ([m for part in batches(job.planned)[done:] for m in part], batch_retry_key(job.retry_key, done))
    return Result(job.id, outcome, remaining)


def _each(parts: list[list[dict[str, Any]]], start: int, send_part, retry_key: str) -> tuple[Outcome, int]:
    """Send batches ``start``… in order, stopping at the first that is not delivered. Returns that outcome (or the
    last one) and the index of the first batch not delivered."""
    outcome = Outcome("sent")
    for index in range(start, len(parts)):
        outcome = send_part(parts[index], batch_retry_key(retry_key, index))
        if not outcome.delivered:
            return outcome, index
    return outcome, len(parts)


def _leave(gateway: Gateway, job: Job) -> Result:
    """Say goodbye by reply (best effort), then leave; only the leaving decides the row's outcome."""
    if job.reply_token:
        gateway.reply(job.reply_token, batches(job.messages)[0])
    return Result(job.id, gateway.leave(job.purpose.removeprefix("leave_"), job.subject or ""))


# --- after sending ----------------------------------------------------------------------------------------------
def record(session: Session, results: list[Result]) -> None:
    outbox.mark_sent(session, [r.job_id for r in results if r.outcome.delivered])
    for result in results:
        outcome = result.outcome
        if outcome.delivered:
            continue
        if outcome.status == "expired":
            outbox.mark_expired(session, result.job_id, outcome.detail or "no longer right to send")
            continue
        if result.remaining is not None:
            outbox.keep_only(session, result.job_id, *result.remaining)
        error = _describe(outcome)
        if outcome.status == "retry":
            outbox.schedule_retry(session, result.job_id, error)
        else:
            outbox.mark_failed(session, result.job_id, error)
            log.warning("outbox %s failed: %s", result.job_id, error)


def _describe(outcome: Outcome) -> str:
    """LINE's status and message (never the content) and its request id for LINE's support; or, when LINE never
    answered, why (a timeout, a refused connection)."""
    if not outcome.http_status:
        return outcome.detail or "no answer from LINE"
    text = f"HTTP {outcome.http_status}: {outcome.detail}" if outcome.detail else f"HTTP {outcome.http_status}"
    return f"{text} (x-line-request-id {outcome.request_id})" if outcome.request_id else text
