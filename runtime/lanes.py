"""What one process needs to serve the bot: configuration, the database engine, the LINE gateway, and the
background lanes that process inbox events off the request path.

Lanes: events of one user always go to the same lane (a thread), so a parent's quick taps are handled in the order
they were sent; the per-user lock in the database keeps that order across processes too.

A web process processes inline only while it is quiet: during a burst (new events from more than
``INLINE_MAX_EVENTS_PER_SECOND`` senders stored by this process within a second) it only acknowledges, and the
worker's sweep processes what it stored. Processing beside the acknowledgements would take the CPU, the interpreter
lock and (on SQLite) the database's one write lock from them; the worker has its own process and, on PostgreSQL, a
lower CPU priority (``PROCESSING_NICENESS``).

A graceful stop (SIGTERM: a deploy, ``systemctl restart``; gunicorn lets the requests in flight finish, then the
process exits and ``close`` runs) loses and delays nothing: the lanes finish the event they are on and send its
answer, the events still queued stay pending for the worker's sweep, and the outbox rows this process claimed but
did not send are handed back at once (``runtime.leases``) instead of waiting for their leases to run out.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import sys
import threading
import time
import zlib
from collections import deque
from concurrent.futures import ThreadPoolExecutor

from bot.config import Config
from runtime import delivery
from runtime.inbox_writer import InboxWriter
from runtime.leases import Leases
from runtime.line_gateway import Gateway
from runtime.processing import Settings, process_pending, process_source
from services import broadcasts as broadcast_notices
from services.events import notices as event_notices
from storage import crypto
from storage.db import init_engine

log = logging.getLogger(__name__)
LANES = 4
INLINE_MAX_EVENTS_PER_SECOND = 20
# Added to the niceness of the threads that process inbox events (lanes, the sweep) on PostgreSQL: 10 gives them
# about a tenth of the CPU share of the request threads when both want it.
PROCESSING_NICENESS = 10
# The sweep takes the pending events of this many sources at a time and sends their replies before taking more, and
# keeps going while sources are pending, for at most SWEEP_BUDGET_SECONDS per run.
SWEEP_BATCH = 20
SWEEP_BUDGET_SECONDS = 1.8  # then the next tick of the worker's sweep carries on (a tick meanwhile returns at once)
# On a graceful stop, how long the lanes may take to finish the event they are on (gunicorn's graceful timeout is
# 30 s; a lane's answer normally takes well under a second, LINE's timeouts and retries at worst about this long).
STOP_SECONDS = 20


def lower_priority(engine) -> None:
    """Make the calling thread yield the CPU to the request threads (Linux sets niceness per thread).

    Not on SQLite: there a processing transaction holds the database's one write lock, which every acknowledgement
    needs. Preempted at a low priority on a busy machine while holding it, it would make the acknowledgements wait
    longer, not shorter (measured: docs/benchmarks.md)."""
    if engine.dialect.name != "postgresql" or sys.platform != "linux":
        return  # (elsewhere niceness is per process: the web process's request threads would lose it too)
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), PROCESSING_NICENESS)
    except OSError as exc:
        log.warning("could not lower the processing priority: %s", exc)


class Runtime:
    def __init__(self, config: Config):
        self.config = config
        self.engine = init_engine(config.database_url)
        crypto.init(config.data_encryption_key)
        delivery.eligibility_checks.update(event_notices.DELIVERY_CHECKS)
        delivery.quiet_purposes.update(event_notices.QUIET_PURPOSES)
        delivery.eligibility_checks.update(broadcast_notices.DELIVERY_CHECKS)
        delivery.recipient_checks.update(broadcast_notices.RECIPIENT_CHECKS)
        delivery.quiet_purposes.update(broadcast_notices.QUIET_PURPOSES)
        self.gateway = Gateway(config)
        self.settings = Settings(config.public_base_url, config.contact_phone)
        self.inbox_writer = InboxWriter(on_stored=self.wake)
        self.leases = Leases()  # the outbox rows this process holds, renewed while it lives
        self.stopping = threading.Event()
        self._closed = False
        self._lanes: list[queue.Queue] = []
        self._lane_threads: list[threading.Thread] = []
        self._pid = 0
        self._lock = threading.Lock()
        self._sweeper: ThreadPoolExecutor | None = None
        # (when, how many sources had new events) for the last second's inbox commits, and their sum.
        self._recent: deque[tuple[float, int]] = deque()
        self._recent_total = 0
        atexit.register(self.close)  # a gunicorn worker exits through the interpreter's shutdown after SIGTERM

    # --- web process: wake the lanes after the inbox commit ---------------------------------------------------
    def wake(self, sources: list[str]) -> None:
        """Called by the inbox writer after each commit, with the sources that have new events."""
        if not self.config.inline_processing or not sources or self.stopping.is_set():
            return  # (when stopping, the worker's sweep processes them)
        if self._in_burst(len(sources)):
            return  # only acknowledge now; the worker's sweep processes these events
        lanes = self._ensure_lanes()
        for key in sources:
            lanes[zlib.crc32(key.encode()) % len(lanes)].put(key)

    def _in_burst(self, count: int) -> bool:
        moment = time.monotonic()
        self._recent.append((moment, count))
        self._recent_total += count
        while self._recent[0][0] < moment - 1.0:
            self._recent_total -= self._recent.popleft()[1]
        return self._recent_total > INLINE_MAX_EVENTS_PER_SECOND

    def _ensure_lanes(self) -> list[queue.Queue]:
        with self._lock:
            if self._pid != os.getpid():  # first use, or we are a freshly forked gunicorn worker
                self._pid = os.getpid()
                self._lanes = [queue.Queue() for _ in range(LANES)]
                self._lane_threads = [
                    threading.Thread(target=self._run_lane, args=(lane,), name=f"inbox-lane-{i}", daemon=True)
                    for i, lane in enumerate(self._lanes)
                ]
                for thread in self._lane_threads:
                    thread.start()
            return self._lanes

    def _run_lane(self, lane: queue.Queue) -> None:
        lower_priority(self.engine)
        while not self.stopping.is_set():
            key = lane.get()
            if key is None:
                return  # stopping: what is still queued stays pending for the worker's sweep
            try:
                planned = process_source(key, self.settings)
                if planned:
                    delivery.deliver(self.gateway, planned, leases=self.leases)
            except Exception as exc:  # the worker's sweep picks the event up again
                log.exception("inbox lane failed (%s)", type(exc).__name__)

    # --- explicit runs: the worker's jobs, tests, the demo -------------------------------------------------------
    def process_inbox(self) -> int:
        """Process every pending event (also those stored meanwhile, for up to ``SWEEP_BUDGET_SECONDS``), a batch of
        sources at a time, sending each batch's replies before the next. Returns the number of messages planned.
        Runs in this runtime's sweep thread, at the processing priority."""
        with self._lock:
            if self._sweeper is None:
                self._sweeper = ThreadPoolExecutor(
                    1, thread_name_prefix="inbox-sweep", initializer=lower_priority, initargs=(self.engine,)
                )
            sweeper = self._sweeper
        return sweeper.submit(self._sweep).result()

    def _sweep(self) -> int:
        deadline = time.monotonic() + SWEEP_BUDGET_SECONDS
        total = 0
        while True:
            found, planned = process_pending(self.settings, SWEEP_BATCH)
            if planned:
                delivery.deliver(self.gateway, planned, leases=self.leases)
            total += len(planned)
            if found < SWEEP_BATCH or time.monotonic() > deadline or self.stopping.is_set():
                return total

    def deliver_outbox(self) -> int:
        return delivery.deliver(self.gateway, leases=self.leases)

    def drain(self) -> None:
        """Process everything pending and send everything due, synchronously."""
        self.process_inbox()
        self.deliver_outbox()

    def stop(self, timeout: float = STOP_SECONDS) -> None:
        """Start a graceful stop: take no new work; let the lanes finish the event they are on (at most
        ``timeout`` seconds). A worker's delivery stops after the batch it is sending (``Dispatcher``)."""
        self.stopping.set()
        with self._lock:
            lanes, threads = (self._lanes, self._lane_threads) if self._pid == os.getpid() else ([], [])
        for lane in lanes:
            lane.put(None)
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def close(self) -> None:
        """Stop (if not yet), then hand back every outbox row still claimed here; idempotent."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        self.stop()
        if self._sweeper is not None:
            self._sweeper.shutdown()
        self.leases.close()
        self.gateway.close()
