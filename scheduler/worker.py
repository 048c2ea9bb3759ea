"""``kosodate worker``: APScheduler in its own process (never inside web workers), and the jobs it runs.

Every job is a plain function over the tables (testable by calling it): the inbox sweep, the outbox delivery, the
reminder planner, the escalation timers and notices; and once a night, at a fixed time in Tokyo, the retention purge
(``scheduler/retention.py``). Nothing is remembered in the scheduler itself — its job store is in memory, filled at
start with fixed ids — so a restart loses nothing: whatever fell due while the worker was down is found in the tables on the
next tick (a reminder is sent if its event has not started; ``not_after`` expires it otherwise). Several workers may
run at once: outbox rows are claimed (``storage.outbox.claim``), dedupe keys make planning idempotent.

How the jobs are scheduled, deliberately:
- ``coalesce=True``: runs missed while the process was paused or busy collapse into one. Each run looks at the
  tables as they are, so one late run does all the work that several would have.
- ``misfire_grace_time=None``: a late run still runs, however late. Lateness never makes work wrong — due times and
  expiries are in the rows, not in the trigger — so there is no point in dropping a run.
- ``max_instances``: one at a time; delivery and the inbox sweep allow a second instance that returns at once while
  the first is still working through a backlog, so a long fan-out does not log "skipped: maximum number of running instances" every
  second.
- A failing run (the database restarting, LINE unreachable) is logged and the next tick tries again: the engine
  checks connections before use (``pool_pre_ping``), so the worker recovers when the database is back, unrestarted.
"""
from __future__ import annotations

import logging
import threading
from typing import Collection

from apscheduler.events import EVENT_SCHEDULER_SHUTDOWN
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from bot.delivery import Dispatcher
from bot.runtime import Runtime
from scheduler import escalation, reminders
from scheduler import retention

log = logging.getLogger(__name__)

INBOX_SWEEP_SECONDS = 0.5  # what a web process leaves in a burst is answered within about this long
OUTBOX_SECONDS = 1
PLAN_SECONDS = 60
ESCALATION_TIMER_SECONDS = 30
ESCALATION_NOTICE_SECONDS = 5
# A delivery run keeps draining a backlog this long before it lets the next tick take over.
DELIVERY_BUDGET_SECONDS = 50
DELIVERY_BATCH = 500


def _guarded(name: str, fn):
    def run():
        try:
            fn()
        except Exception as exc:  # keep the worker alive; the tables still hold the work
            log.warning("job %s failed this tick: %s", name, type(exc).__name__)

    run.__name__ = name
    return run


class Worker:
    """The worker's jobs over one runtime (configuration, database, gateway)."""

    def __init__(self, runtime: Runtime):
        reminders.install()
        self.runtime = runtime
        self.planner = reminders.Planner.from_config(runtime.config)
        self.dispatcher = Dispatcher(runtime.gateway, threads=runtime.config.delivery_threads, batch=DELIVERY_BATCH,
                                     quiet=self.planner.schedule.quiet)
        self._draining = threading.Lock()
        self._sweeping = threading.Lock()
        self.escalation = escalation.Jobs(runtime.config)
        self.retention = retention.Purge(runtime.config.retention_days)

    def sweep_inbox(self) -> int:
        if not self._sweeping.acquire(blocking=False):
            return 0  # the previous run is still working through a backlog
        try:
            return self.runtime.process_inbox()
        finally:
            self._sweeping.release()

    def deliver_due(self) -> int:
        if not self._draining.acquire(blocking=False):
            return 0  # the previous run is still draining a backlog
        try:
            return self.dispatcher.drain(DELIVERY_BUDGET_SECONDS)
        finally:
            self._draining.release()

    def plan(self) -> reminders.Planned:
        return self.planner.run()

    def jobs(self) -> list[tuple[str, object, int, int]]:
        """(id, function, interval seconds, max instances): every periodic job of the worker."""
        return [
            ("inbox-sweep", _guarded("inbox-sweep", self.sweep_inbox), INBOX_SWEEP_SECONDS, 2),
            ("outbox-deliver", _guarded("outbox-deliver", self.deliver_due), OUTBOX_SECONDS, 2),
            ("reminders-plan", _guarded("reminders-plan", self.plan), PLAN_SECONDS, 1),
            ("escalation-timers", _guarded("escalation-timers", self.escalation.tick), ESCALATION_TIMER_SECONDS, 1),
            ("escalation-notices", _guarded("escalation-notices", self.escalation.send), ESCALATION_NOTICE_SECONDS, 1),
        ]

    def daily_jobs(self) -> list[tuple[str, object, tuple[int, int]]]:
        """(id, function, (hour, minute) in Tokyo): the jobs that run once a day at a fixed time."""
        return [("retention-purge", _guarded("retention-purge", self.retention.run), retention.RUN_AT)]

    def close(self) -> None:
        self.dispatcher.close()


def build(runtime: Runtime, blocking: bool = True, only: Collection[str] = ()):
    """The scheduler with every job, or ``only`` the named ones: ``kosodate worker --job outbox-deliver`` is the
    Procfile's second sender process (one Python process sends about 1,000–1,100 pushes a second while it also runs
    the other jobs; two share a fan-out safely: docs/benchmarks.md, "Outbox fan-out")."""
    worker = Worker(runtime)
    known = [job[0] for job in worker.jobs() + worker.daily_jobs()]
    if set(only) - set(known):
        worker.close()
        raise ValueError(f"unknown job {', '.join(sorted(set(only) - set(known)))}; the jobs are {', '.join(known)}")
    scheduler = (BlockingScheduler if blocking else BackgroundScheduler)(timezone="Asia/Tokyo")
    for job_id, fn, seconds, instances in worker.jobs():
        if not only or job_id in only:
            scheduler.add_job(fn, "interval", seconds=seconds, id=job_id, replace_existing=True,
                              max_instances=instances, coalesce=True, misfire_grace_time=None)
    for job_id, fn, (hour, minute) in worker.daily_jobs():
        if not only or job_id in only:
            scheduler.add_job(fn, "cron", hour=hour, minute=minute, id=job_id, replace_existing=True, max_instances=1,
                              coalesce=True, misfire_grace_time=None)
    scheduler.add_listener(lambda _event: worker.close(), EVENT_SCHEDULER_SHUTDOWN)
    return scheduler


def run(runtime: Runtime, stop: threading.Event | None = None, only: Collection[str] = ()) -> None:
    log.info("worker starting%s", f" ({', '.join(only)} only)" if only else "")
    if stop is None:
        build(runtime, only=only).start()
        return
    scheduler = build(runtime, blocking=False, only=only)
    scheduler.start()
    stop.wait()
    scheduler.shutdown()
