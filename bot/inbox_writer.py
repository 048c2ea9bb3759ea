"""Group commit for the webhook: concurrent requests of one process share one inbox transaction.

Each request hands its events to the writer thread and waits; the writer takes whatever has queued up (up to
``MAX_BATCH`` requests), stores it all in one transaction, commits, and only then releases the waiting requests,
which answer 200. Durability is unchanged — no 200 before the commit — but under load there are far fewer
transactions, and on SQLite far fewer writers queueing for the database lock.
"""
from __future__ import annotations

import logging
import os
import queue
import threading
from concurrent.futures import Future
from typing import Any, Callable

from storage import inbox
from storage.db import inbox_unit_of_work

log = logging.getLogger(__name__)
MAX_BATCH = 64
WAIT_SECONDS = 20.0


class InboxWriter:
    def __init__(self, on_stored: Callable[[list[str]], None]):
        self.on_stored = on_stored
        self._queue: queue.Queue[tuple[list[dict[str, Any]], Future]] = queue.Queue()
        self._pid = 0
        self._lock = threading.Lock()

    def store(self, events: list[dict[str, Any]]) -> None:
        """Return once ``events`` are committed; raise if they could not be (the request then answers 500)."""
        self._ensure_thread()
        done: Future = Future()
        self._queue.put((events, done))
        done.result(timeout=WAIT_SECONDS)

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._pid != os.getpid():  # first use, or a freshly forked gunicorn worker
                self._pid = os.getpid()
                self._queue = queue.Queue()
                threading.Thread(target=self._run, name="inbox-writer", daemon=True).start()

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            events = [event for request_events, _ in batch for event in request_events]
            try:
                with inbox_unit_of_work() as session:
                    sources = inbox.store(session, events)
            except Exception as exc:  # every waiting request answers 500; LINE redelivers
                log.warning("inbox batch of %d request(s) not stored: %s", len(batch), type(exc).__name__)
                for _, done in batch:
                    done.set_exception(exc)
                continue
            for _, done in batch:
                done.set_result(None)
            try:
                self.on_stored(sources)
            except Exception as exc:  # waking is an optimisation; the worker's sweep finds the events anyway
                log.warning("waking the inbox lanes failed: %s", type(exc).__name__)
