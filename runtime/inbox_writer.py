"""Group commit for the webhook: concurrent requests of one process share one inbox transaction.

Each request hands its events to the writer thread and waits; the writer takes whatever has queued up (up to
``MAX_BATCH`` requests), stores it all in one transaction, commits, and only then releases the waiting requests,
which answer 200. Durability is unchanged — no 200 before the commit — but under load there are far fewer
transactions, and on SQLite far fewer writers queueing for the database lock.

A request should never make its neighbours fail: the webhook checks each event's shape before it is queued
(bot/webhook_shape.py), and if a batch fails anyway, each of its requests is tried again alone, so only a request
that fails by itself answers an error (and is redelivered by LINE). When the database is down every one of them
fails, as it should.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from sqlalchemy import exc as sa_exc

from storage import inbox
from storage.db import inbox_unit_of_work

log = logging.getLogger(__name__)
MAX_BATCH = 64
WAIT_SECONDS = 20.0
# The database is not there (down, restarting, every connection busy): trying each request alone would only wait
# for it again, request by request. The webhook answers these with 503 and Retry-After.
UNAVAILABLE = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError, TimeoutError)


class InboxWriter:
    def __init__(self, on_stored: Callable[[list[str]], None]):
        self.on_stored = on_stored
        self._queue: queue.Queue[tuple[list[dict[str, Any]], Future]] = queue.Queue()
        self._pid = 0
        self._lock = threading.Lock()

    def store(self, events: list[dict[str, Any]]) -> None:
        """Return once ``events`` are committed; raise if they could not be (``UNAVAILABLE``: the request answers
        503, anything else 500; LINE redelivers either)."""
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
            sources = self.store_batch(batch)
            try:
                self.on_stored(sources)
            except Exception as exc:  # waking is an optimisation; the worker's sweep finds the events anyway
                log.warning("waking the inbox lanes failed: %s", type(exc).__name__)

    def store_batch(self, batch: list[tuple[list[dict[str, Any]], Future]]) -> list[str]:
        """Store the batch in one transaction and release its requests; if that fails, store each request alone.
        Returns the sources with new events."""
        try:
            sources = _store([event for request_events, _ in batch for event in request_events])
        except Exception as exc:  # noqa: BLE001 - whatever it was, find out which requests it concerns
            if len(batch) == 1 or isinstance(exc, UNAVAILABLE):
                for _, done in batch:
                    done.set_exception(exc)
                log.warning("inbox: %d request(s) not stored: %s", len(batch), type(exc).__name__)
                return []
            log.warning(
                "inbox batch of %d requests not stored (%s): storing each alone", len(batch), type(exc).__name__
            )
            return sorted({key for one in batch for key in self.store_batch([one])})
        for _, done in batch:
            done.set_result(None)
        return sources


def _store(events: list[dict[str, Any]]) -> list[str]:
    with inbox_unit_of_work() as session:
        return inbox.store(session, events)
