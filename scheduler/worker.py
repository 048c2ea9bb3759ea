"""``kosodate worker``: APScheduler in its own process (never inside web workers).

Jobs are plain periodic functions over the database, so a restart loses nothing: whatever was due while the
worker was down is found in the tables and handled on the next tick. Each job runs one instance at a time
(``max_instances=1``), missed runs collapse into one (``coalesce=True``), and a failing tick — the database away,
LINE unreachable — is logged and the next tick tries again, without a restart.
"""
from __future__ import annotations

import logging
import threading

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from bot.runtime import Runtime

log = logging.getLogger(__name__)

INBOX_SWEEP_SECONDS = 2
OUTBOX_SECONDS = 1


def _guarded(name: str, fn):
    def run():
        try:
            fn()
        except Exception as exc:  # keep the worker alive; the tables still hold the work
            log.warning("job %s failed this tick: %s", name, type(exc).__name__)

    run.__name__ = name
    return run


def jobs(runtime: Runtime) -> list[tuple[str, object, int]]:
    """(id, function, interval seconds): every periodic job of the worker."""
    return [
        ("inbox-sweep", _guarded("inbox-sweep", runtime.process_inbox), INBOX_SWEEP_SECONDS),
        ("outbox-deliver", _guarded("outbox-deliver", runtime.deliver_outbox), OUTBOX_SECONDS),
    ]


def build(runtime: Runtime, blocking: bool = True):
    scheduler = (BlockingScheduler if blocking else BackgroundScheduler)(timezone="Asia/Tokyo")
    for job_id, fn, seconds in jobs(runtime):
        scheduler.add_job(fn, "interval", seconds=seconds, id=job_id, replace_existing=True,
                          max_instances=1, coalesce=True, misfire_grace_time=30)
    return scheduler


def run(runtime: Runtime, stop: threading.Event | None = None) -> None:
    log.info("worker starting")
    if stop is None:
        build(runtime).start()
        return
    scheduler = build(runtime, blocking=False)
    scheduler.start()
    stop.wait()
    scheduler.shutdown()
