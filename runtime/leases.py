"""The outbox rows this process holds, and the heartbeat that keeps their leases short and alive. (The same for
the escalation's e-mail and webhook notices: ``Leases(queue=storage.escalation)``; any queue with ``LEASE``,
``renew`` and ``release`` as the outbox has them.)

A claimed row is leased for a few seconds only (``storage.outbox.LEASE``). While the process lives, a heartbeat
thread renews the leases of every row it still holds once a ``RENEW_EVERY``, in one statement, so a slow send never
loses its row; when the process dies (SIGKILL, a crash, the machine), the renewals stop and its rows are free for
the other senders within ``LEASE``. A row is renewed only while it is still as this process claimed it (the claim's
attempt count is the proof), so a row another sender has taken meanwhile is forgotten here and never sent twice by
us (and if a push is, LINE answers the retry key with 409). On a graceful stop the rows whose sending never started
are handed back at once (``release``), so a deploy delays nothing.

The thread runs only while something is held, so a process that sends nothing has no heartbeat.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy.orm import Session

from storage import outbox
from storage.clock import now
from storage.db import unit_of_work

log = logging.getLogger(__name__)

# A send starts only while at least this much of its lease is left: the heartbeat is keeping up (it renews every
# second); a lease nobody could renew for longer (the database unreachable, the process starved) is left to run out.
MIN_LEFT = timedelta(seconds=2)


class Queue(Protocol):
    """What leases are kept on: rows claimed with a ``claimed_until`` and an attempt count (``storage.outbox``)."""

    LEASE: timedelta

    def renew(self, session: Session, held: dict[int, int]) -> set[int]: ...

    def release(self, session: Session, held: dict[int, int]) -> int: ...


class Leases:
    def __init__(
        self,
        *,
        heartbeat: bool = True,
        every: timedelta = outbox.RENEW_EVERY,
        queue: Queue = outbox,
        name: str = "outbox",
    ):
        self.heartbeat = heartbeat
        self.every = every.total_seconds()
        self.queue, self.name = queue, name
        self._held: dict[int, tuple[int, datetime]] = {}  # row id -> (attempts when claimed, leased until)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._closed = threading.Event()

    def hold(self, claimed: dict[int, tuple[int, datetime]]) -> None:
        """Rows just claimed (committed): {row id: (attempts, claimed until)}. Renewed from now on."""
        with self._lock:
            self._held.update(claimed)
            if (
                self.heartbeat
                and claimed
                and not self._closed.is_set()
                and (self._thread is None or self._pid != os.getpid() or not self._thread.is_alive())
            ):
                self._pid = os.getpid()  # (a thread does not survive a fork: a forked worker starts its own)
                self._thread = threading.Thread(target=self._run, name=f"{self.name}-heartbeat", daemon=True)
                self._thread.start()

    def fresh(self, row_id: int) -> bool:
        """May a send of this row start now? Only while this process holds it with enough of the lease left."""
        with self._lock:
            entry = self._held.get(row_id)
        return entry is not None and now() + MIN_LEFT <= entry[1]

    def drop(self, row_ids: Iterable[int]) -> None:
        """These rows' outcomes are recorded (or will never be by us): stop renewing them."""
        with self._lock:
            for row_id in row_ids:
                self._held.pop(row_id, None)

    def take(self, row_ids: Iterable[int]) -> dict[int, int]:
        """Stop holding these rows; returns {row id: attempts} of those that were held, for ``outbox.release``."""
        with self._lock:
            return {row_id: self._held.pop(row_id)[0] for row_id in row_ids if row_id in self._held}

    def held(self) -> list[int]:
        with self._lock:
            return sorted(self._held)

    def beat(self) -> None:
        """Renew every held lease now (one transaction); rows no longer ours are forgotten."""
        with self._lock:
            held = {row_id: attempts for row_id, (attempts, _) in self._held.items()}
        if not held:
            return
        until = now() + self.queue.LEASE
        with unit_of_work() as session:
            kept = self.queue.renew(session, held)
        lost = 0
        with self._lock:
            for row_id, attempts in held.items():
                if row_id not in self._held:
                    continue  # recorded meanwhile
                if row_id in kept:
                    self._held[row_id] = (attempts, until)
                else:
                    del self._held[row_id]
                    lost += 1
        if lost:  # (taken by another sender after a stall, or handed back)
            log.info("%s leases: %d of %d rows no longer held here", self.name, lost, len(held))

    def release(self, row_ids: Iterable[int] | None = None) -> int:
        """Hand back held rows whose sending never started (all of them when ``row_ids`` is None)."""
        with self._lock:
            ids = list(self._held) if row_ids is None else list(row_ids)
        taken = self.take(ids)
        if not taken:
            return 0
        with unit_of_work() as session:
            return self.queue.release(session, taken)

    def close(self) -> int:
        """A graceful stop: no more renewals; every row still held is handed back. Returns how many."""
        self._closed.set()
        if self._thread is not None and self._pid == os.getpid():
            self._thread.join(timeout=5)
        released = self.release()
        if released:
            log.info("%s: %d claimed rows handed back on stopping", self.name, released)
        return released

    def _run(self) -> None:
        while not self._closed.wait(self.every):
            with self._lock:
                if not self._held:
                    self._thread = None  # restarted by the next hold
                    return
            try:
                self.beat()
            except Exception as exc:  # the database restarting: the next beat tries again, the leases run on
                log.warning("%s leases not renewed this time: %s", self.name, type(exc).__name__)
