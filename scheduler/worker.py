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
- Every job's id is also its name, so APScheduler's own log lines say ``"outbox-deliver (trigger: …)"``.

Two housekeeping jobs run in every worker process, whatever ``--job`` selects: the heartbeat (a row per worker
role in ``worker_heartbeats``, every ``HEARTBEAT_SECONDS``: /healthz?full=1 answers 503 when it stops) and, once a
minute, one summary line of what the process did (events processed, messages sent, failures; ``runtime.metrics``
counts them), instead of a line per tick.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from collections.abc import Collection

from apscheduler.events import EVENT_SCHEDULER_SHUTDOWN
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from runtime import metrics
from runtime.delivery import Dispatcher
from runtime.lanes import Runtime
from scheduler import backups, escalation, reminders, retention
from services import broadcasts as broadcast_notices
from storage import health
from storage.clock import now
from storage.db import unit_of_work

log = logging.getLogger(__name__)

INBOX_SWEEP_SECONDS = 0.5  # what a web process leaves in a burst is answered within about this long
OUTBOX_SECONDS = 1
PLAN_SECONDS = 60
ESCALATION_TIMER_SECONDS = 30
ESCALATION_NOTICE_SECONDS = 5
BROADCAST_SECONDS = 15  # a scheduled お知らせ is released within this long of its time
# A delivery run keeps draining a backlog this long before it lets the next tick take over.
DELIVERY_BUDGET_SECONDS = 50
DELIVERY_BATCH = 500
HEARTBEAT_SECONDS = 10  # /healthz?full=1 reports a worker silent for 60 s
SUMMARY_SECONDS = 60


def _guarded(name: str, fn):
    def run():
        try:
            fn()
        except Exception as exc:  # keep the worker alive; the tables still hold the work
            log.warning("job %s failed this tick: %s", name, type(exc).__name__)
            metrics.summary.add("job_failures")

    run.__name__ = run.__qualname__ = name
    return run


class Worker:
    """The worker's jobs over one runtime (configuration, database, gateway)."""

    def __init__(self, runtime: Runtime):
        reminders.install()
        self.runtime = runtime
        self.planner = reminders.Planner.from_config(runtime.config)
        self.dispatcher = Dispatcher(
            runtime.gateway,
            threads=runtime.config.delivery_threads,
            batch=DELIVERY_BATCH,
            quiet=self.planner.schedule.quiet,
            leases=runtime.leases,
            stopping=runtime.stopping,
        )
        self._draining = threading.Lock()
        self._sweeping = threading.Lock()
        self.escalation = escalation.Jobs(runtime.config)
        self.retention = retention.Purge(runtime.config.retention_days)
        self.backups = (
            backups.Nightly(runtime.config.database_url, runtime.config.backup_dir, runtime.config.backup_keep_days)
            if runtime.config.backup_dir
            else None
        )

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
        planned = self.planner.run()
        metrics.reminders_planned(planned.added + planned.replanned, planned.expired)
        return planned

    def release_broadcasts(self) -> int:
        """Scheduled お知らせ whose time has come go into the outbox (their audience resolved now)."""
        with unit_of_work() as session:
            return broadcast_notices.release_due(session, self.runtime.config.broadcast_approval_threshold)

    def beat(self, name: str, jobs: list[str]) -> None:
        """The heartbeat: this worker role is alive now."""
        with unit_of_work() as session:
            health.beat(session, name, jobs, socket.gethostname(), os.getpid())

    def summarise(self) -> dict[str, int]:
        """One log line for what this process did since the last one (once a minute); returns the counts."""
        done = metrics.summary.take()
        log.info(
            "worker, last minute: %d events processed, %d messages sent, %d to retry, %d failed, %d expired, "
            "%d reminders planned; failures: %d events, %d job runs, %d rate-limited by LINE",
            done.get("events", 0),
            done.get("sent", 0),
            done.get("retry", 0),
            done.get("failed", 0),
            done.get("expired", 0),
            done.get("reminders_planned", 0),
            done.get("event_failures", 0),
            done.get("job_failures", 0),
            done.get("rate_limited", 0),
        )
        return done

    def jobs(self) -> list[tuple[str, object, int, int]]:
        """(id, function, interval seconds, max instances): every periodic job of the worker."""
        return [
            ("inbox-sweep", _guarded("inbox-sweep", self.sweep_inbox), INBOX_SWEEP_SECONDS, 2),
            ("outbox-deliver", _guarded("outbox-deliver", self.deliver_due), OUTBOX_SECONDS, 2),
            ("reminders-plan", _guarded("reminders-plan", self.plan), PLAN_SECONDS, 1),
            ("escalation-timers", _guarded("escalation-timers", self.escalation.tick), ESCALATION_TIMER_SECONDS, 1),
            ("escalation-notices", _guarded("escalation-notices", self.escalation.send), ESCALATION_NOTICE_SECONDS, 1),
            ("broadcasts-release", _guarded("broadcasts-release", self.release_broadcasts), BROADCAST_SECONDS, 1),
        ]

    def daily_jobs(self) -> list[tuple[str, object, tuple[int, int]]]:
        """(id, function, (hour, minute) in Tokyo): the jobs that run once a day at a fixed time."""
        daily = [("retention-purge", _guarded("retention-purge", self.retention.run), retention.RUN_AT)]
        if self.backups is not None:  # BACKUP_DIR set
            daily.append(("database-backup", _guarded("database-backup", self.backups.run), backups.RUN_AT))
        return daily

    def close(self) -> None:
        self.dispatcher.close()
        self.escalation.close()


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
            scheduler.add_job(
                fn,
                "interval",
                seconds=seconds,
                id=job_id,
                name=job_id,
                replace_existing=True,
                max_instances=instances,
                coalesce=True,
                misfire_grace_time=None,
            )
    for job_id, fn, (hour, minute) in worker.daily_jobs():
        if not only or job_id in only:
            scheduler.add_job(
                fn,
                "cron",
                hour=hour,
                minute=minute,
                id=job_id,
                name=job_id,
                replace_existing=True,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=None,
            )
    running = [job.id for job in scheduler.get_jobs()]
    role = "worker:" + ",".join(only) if only else "worker"
    every = dict(replace_existing=True, max_instances=1, coalesce=True, misfire_grace_time=None)
    scheduler.add_job(
        _guarded("heartbeat", lambda: worker.beat(role, running)),
        "interval",
        seconds=HEARTBEAT_SECONDS,
        id="heartbeat",
        name="heartbeat",
        next_run_time=now(),
        **every,
    )
    scheduler.add_job(
        _guarded("summary", worker.summarise),
        "interval",
        seconds=SUMMARY_SECONDS,
        id="summary",
        name="summary",
        **every,
    )
    scheduler.add_listener(lambda _event: worker.close(), EVENT_SCHEDULER_SHUTDOWN)
    return scheduler


def run(runtime: Runtime, stop: threading.Event | None = None, only: Collection[str] = ()) -> None:
    """Run until ``stop`` is set — by default until SIGTERM (a platform stopping the process) or Ctrl-C. The jobs
    running then finish (a delivery its batch) before the process exits, with status 0."""
    log.info("worker starting%s", f" ({', '.join(only)} only)" if only else "")
    if stop is None:
        stop = threading.Event()
        for number in (signal.SIGTERM, signal.SIGINT):
            signal.signal(number, lambda *_: stop.set())
    scheduler = build(runtime, blocking=False, only=only)
    scheduler.start()
    stop.wait()
    log.info("worker stopping: letting running jobs finish")
    runtime.stop()  # a delivery finishes the batch it is sending and claims no more
    scheduler.shutdown()
    runtime.close()  # what was claimed but not sent is handed back at once
    log.info("worker stopped")
