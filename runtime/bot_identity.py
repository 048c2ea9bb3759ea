"""This channel's bot user id: the ``destination`` of every webhook meant for us.

Configured with ``LINE_BOT_USER_ID``, or else learned from LINE's bot info (``GET /v2/bot/info``, through the
gateway) on the first webhook a process receives, and kept for the life of the process.

Learning happens in a background thread, never on the request path: LINE wants its answer within about two
seconds. Until the id is known (the first request, or LINE unreachable since start-up) every destination is
accepted: the signature has already shown that the body comes from our channel's secret holder, and refusing would
lose parents' messages for as long as LINE's API is down. Learning is tried again at most every ``RETRY_SECONDS``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)
RETRY_SECONDS = 60.0


def _in_a_thread(work: Callable[[], None]) -> None:
    threading.Thread(target=work, name="bot-identity", daemon=True).start()


class BotIdentity:
    def __init__(
        self,
        configured: str,
        fetch: Callable[[], str | None],
        clock: Callable[[], float] = time.monotonic,
        run: Callable[[Callable[[], None]], None] = _in_a_thread,
    ):
        self._known: str | None = configured or None
        self._fetch = fetch
        self._clock = clock
        self._run = run
        self._lock = threading.Lock()
        self._last_try: float | None = None
        self._learning = False

    @property
    def known(self) -> str | None:
        return self._known

    def accepts(self, destination: str) -> bool:
        """False only when the bot user id is known and ``destination`` is another."""
        known = self._known
        if known is None:
            self._learn_in_background()
            return True
        return destination == known

    def learn(self) -> str | None:
        """One attempt to learn the id from LINE, now, in this thread. The id, or None if LINE did not say."""
        if self._known is not None:
            return self._known
        found = self._fetch()
        with self._lock:
            self._learning = False
            if found:
                self._known = found
                log.info("learned this channel's bot user id from LINE")
            else:
                log.warning(
                    "could not learn the bot user id from LINE; webhooks are accepted for any destination "
                    "until it is known (next try in %d s)",
                    RETRY_SECONDS,
                )
        return found or None

    def _learn_in_background(self) -> None:
        with self._lock:
            moment = self._clock()
            if self._learning or (self._last_try is not None and moment - self._last_try < RETRY_SECONDS):
                return
            self._learning, self._last_try = True, moment
        self._run(self._learn_quietly)

    def _learn_quietly(self) -> None:
        try:
            self.learn()
        except Exception as exc:  # noqa: BLE001 - a failed attempt is retried later; it must not end the process
            with self._lock:
                self._learning = False
            log.warning("learning the bot user id failed: %s", type(exc).__name__)
