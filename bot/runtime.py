"""What one process needs to serve the bot: configuration, the database engine, the LINE gateway, and the
background lanes that process inbox events off the request path.

Lanes: events of one user always go to the same lane (a thread), so a parent's quick taps are handled in the order
they were sent; the per-user lock in the database keeps that order across processes too.
"""
from __future__ import annotations

import logging
import os
import queue
import threading
import zlib

from bot import delivery
from bot.config import Config
from bot.dispatch import Settings, process_pending, process_source
from bot.inbox_writer import InboxWriter
from bot.line_gateway import Gateway
from handlers import event_notices
from storage import crypto
from storage.db import init_engine

log = logging.getLogger(__name__)
LANES = 4


class Runtime:
    def __init__(self, config: Config):
        self.config = config
        self.engine = init_engine(config.database_url)
        crypto.init(config.data_encryption_key)
        delivery.eligibility_checks.update(event_notices.DELIVERY_CHECKS)
        delivery.quiet_purposes.update(event_notices.QUIET_PURPOSES)
        self.gateway = Gateway(config)
        self.settings = Settings(config.public_base_url, config.contact_phone)
        self.inbox_writer = InboxWriter(on_stored=self.wake)
        self._lanes: list[queue.Queue] = []
        self._pid = 0
        self._lock = threading.Lock()

    # --- web process: wake the lanes after the inbox commit ---------------------------------------------------
    def wake(self, sources: list[str]) -> None:
        if not self.config.inline_processing or not sources:
            return
        lanes = self._ensure_lanes()
        for key in sources:
            lanes[zlib.crc32(key.encode()) % len(lanes)].put(key)

    def _ensure_lanes(self) -> list[queue.Queue]:
        with self._lock:
            if self._pid != os.getpid():  # first use, or we are a freshly forked gunicorn worker
                self._pid = os.getpid()
                self._lanes = [queue.Queue() for _ in range(LANES)]
                for i, lane in enumerate(self._lanes):
                    threading.Thread(target=self._run_lane, args=(lane,), name=f"inbox-lane-{i}", daemon=True).start()
            return self._lanes

    def _run_lane(self, lane: queue.Queue) -> None:
        while True:
            key = lane.get()
            try:
                planned = process_source(key, self.settings)
                if planned:
                    delivery.deliver(self.gateway, planned)
            except Exception as exc:  # the worker's sweep picks the event up again
                log.exception("inbox lane failed (%s)", type(exc).__name__)

    # --- explicit runs: the worker's jobs, tests, the demo -------------------------------------------------------
    def process_inbox(self) -> int:
        planned = process_pending(self.settings)
        if planned:
            delivery.deliver(self.gateway, planned)
        return len(planned)

    def deliver_outbox(self) -> int:
        return delivery.deliver(self.gateway)

    def drain(self) -> None:
        """Process everything pending and send everything due, synchronously."""
        self.process_inbox()
        self.deliver_outbox()

    def close(self) -> None:
        self.gateway.close()
