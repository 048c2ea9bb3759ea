"""Outbox fan-out: N personal reminders due at once, sent by the worker's delivery job to the project's LINE double
(its own process, LINE's rate limits enforced: push 2,000 requests/s).

Sets up N confirmed participants of one event starting in 25 minutes (reminder offset "30m", so every reminder is
due at once, quiet hours off), runs the reminder planner once (timed), then the worker's delivery job
(``Worker.deliver_due``, what APScheduler calls every second) in one or more sender processes until nothing is due.
Then checks, from the double's own journal, that every participant got exactly one reminder (none lost, none twice)
and reports pushes per second (overall and per one-second window), LINE's answers, the CPU time per push of the
senders and of the double (and of everything else on the machine meanwhile), and the senders' peak memory.
Results: docs/benchmarks.md, "Outbox fan-out".

    .venv/bin/python -m bench.fanout [--count 10000] [--workers 1] [--threads 8] [--database-url URL]
                                     [--double-server gunicorn|werkzeug]
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import platform
import resource
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


# --- the LINE double, in its own process ----------------------------------------------------------------------
def line_double_app():
    """WSGI app: the project's LINE double with LINE's rate limits, plus ``GET /__bench__/report`` (what it took)."""
    from bot.demo.line_double import LineDouble

    double = LineDouble(rate_limits=True)

    def app(environ, start_response):
        if environ["PATH_INFO"] == "/__bench__/cpu":
            body = json.dumps(_cpu_seconds()).encode()
        elif environ["PATH_INFO"] == "/__bench__/report":
            body = json.dumps(_report(double)).encode()
        else:
            return double.wsgi(environ, start_response)
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    return app


def _report(double) -> dict:
    pushes = double.requests("/v2/bot/message/push")
    accepted = [e for e in pushes if e["status"] == 200]
    per_second = Counter(int(e["ts"]) for e in accepted)
    return {
        "statuses": dict(Counter(e["status"] for e in pushes)),
        "accepted_to": Counter(e["json"]["to"] for e in accepted),
        "accepted_keys": Counter(e["retry_key"] for e in accepted),
        "per_second": [per_second[s] for s in sorted(per_second)],
        "first": min((e["ts"] for e in accepted), default=0.0),
        "last": max((e["ts"] for e in accepted), default=0.0),
        "peak_rss_mb": peak_rss_mb(),
    }


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def machine_busy_seconds() -> float:
    """CPU time the whole machine spent busy (all processes, all cores), from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")  # minus idle and iowait


def machine() -> str:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.machine(),
    )
    return f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}, load {os.getloadavg()[0]:.2f}"


def serve_werkzeug(port: int) -> None:
    """The double's own kind of server (werkzeug's, as ``LineDouble.start``): one connection per request."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    from werkzeug.serving import make_server

    make_server("127.0.0.1", port, line_double_app(), threaded=True).serve_forever()


def start_double(server: str, threads: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    if server == "gunicorn":
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            "1",
            "--threads",
            str(threads),
            "--keep-alive",
            "30",
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "bench.fanout:line_double_app()",
        ]
    else:
        command = [sys.executable, "-c", f"from bench.fanout import serve_werkzeug; serve_werkzeug({port})"]
    process = subprocess.Popen(command, cwd=ROOT)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process, f"http://127.0.0.1:{port}"
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the participants ---------------------------------------------------------------------------------------------
def populate(count: int) -> list[str]:
    """N registered, consenting parents, each confirmed for one event with a live join link (bulk inserts)."""
    from sqlalchemy import insert, select

    from handlers.registration.policy_text import POLICY_TEXT
    from storage import crypto, events, people
    from storage.clock import now
    from storage.db import unit_of_work
    from storage.models import ConsentRecord, Enrollment, JoinLink, LineUser, Parent

    moment = now()
    user_ids = ["U" + secrets.token_hex(16) for _ in range(count)]
    with unit_of_work() as session:
        if session.scalar(select(LineUser.id).limit(1)) is not None:
            raise SystemExit("the bench needs an empty database (a fresh one for each run)")
        policy = people.ensure_policy(session, POLICY_TEXT)
        event = events.create(
            session,
            centre="minamihoncho",
            kind="meetup",
            title="ねんねの赤ちゃん交流会",
            description="",
            starts_at=moment + timedelta(minutes=25),
            ends_at=moment + timedelta(minutes=85),
            capacity=count,
            applications_open_at=moment - timedelta(days=7),
            applications_close_at=moment,
            needs_approval=False,
            conference_service="Zoom",
            join_url="https://zoom.example/j/1",
            meeting_id="123 456 789",
            passcode="bench",
            created_by="bench",
        )
        events.publish(session, event)
        session.execute(
            insert(LineUser),
            [{"line_user_id": u, "language": "ja", "status": "active", "created_at": moment} for u in user_ids],
        )
        user_pks = list(session.scalars(select(LineUser.id).order_by(LineUser.id)))
        session.execute(
            insert(Parent),
            [
                {
                    "line_user_pk": pk,
                    "name": "船橋 花子",
                    "furigana": "ふなばし はなこ",
                    "phone": "09012345678",
                    "is_guardian": True,
                    "is_pregnant": False,
                    "centre": "minamihoncho",
                    "registered_at": moment,
                    "updated_at": moment,
                }
                for pk in user_pks
            ],
        )
        session.execute(
            insert(ConsentRecord),
            [
                {
                    "line_user_pk": pk,
                    "policy_version_id": policy.id,
                    "answer": "agreed",
                    "channel": "line",
                    "answered_at": moment,
                }
                for pk in user_pks
            ],
        )
        parent_ids = list(session.scalars(select(Parent.id).order_by(Parent.id)))
        session.execute(
            insert(Enrollment),
            [
                {
                    "event_id": event.id,
                    "parent_id": pid,
                    "status": "confirmed",
                    "queued_at": moment,
                    "applied_at": moment,
                    "decided_at": moment,
                }
                for pid in parent_ids
            ],
        )
        enrollment_ids = list(session.scalars(select(Enrollment.id).order_by(Enrollment.id)))
        links = []
        for eid in enrollment_ids:
            token = crypto.new_token()
            links.append(
                {
                    "enrollment_id": eid,
                    "token_hash": crypto.token_hash(token),
                    "token_sealed": crypto.seal(token),
                    "created_at": moment,
                }
            )
        session.execute(insert(JoinLink), links)
    return user_ids


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited from the parent at fork)."""
    status = Path("/proc/self/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) / 1024


def fetch(base_url: str, what: str):
    with urllib.request.urlopen(f"{base_url}/__bench__/{what}", timeout=60) as answer:
        return json.load(answer)


def app_config(url: str, base_url: str, threads: int) -> dict:
    return {
        "mode": "test",
        "database_url": url,
        "line_api_base_url": base_url,
        "line_channel_access_token": "bench-token",
        "public_base_url": "https://bot.example.jp",
        "inline_processing": False,
        "reminder_offsets": "30m",
        "quiet_hours": "off",
        "delivery_threads": threads,
    }


def deliver_everything(url: str, base_url: str, threads: int, go, results) -> None:
    """One worker process: run the worker's delivery job until nothing is due. Reports (sent rows, peak RSS)."""
    from bot.app import create_app
    from scheduler.worker import Worker
    from storage import outbox
    from storage.db import unit_of_work

    worker = Worker(create_app(app_config(url, base_url, threads)).extensions["kosodate"])
    logging.getLogger().setLevel(logging.WARNING)
    rss_before = peak_rss_mb()
    go.wait()
    cpu = time.process_time()
    handled = 0
    while True:
        done = worker.deliver_due()
        handled += done
        if not done:
            with unit_of_work() as session:
                if outbox.backlog(session)[0] == 0:
                    break
            time.sleep(0.05)  # the other worker still holds the rest: let it finish
    cpu = time.process_time() - cpu
    worker.close()
    results.put((handled, rss_before, peak_rss_mb(), cpu))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=8, help="sending threads per worker process")
    parser.add_argument("--workers", type=int, default=1, help="worker processes sending at once")
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    parser.add_argument(
        "--double-server",
        choices=("gunicorn", "werkzeug"),
        default="gunicorn",
        help="what serves the LINE double: gunicorn (one process, keep-alive, like LINE's API) or "
        "werkzeug's development server (as LineDouble.start: a new connection per request)",
    )
    args = parser.parse_args()

    from bot.app import create_app
    from scheduler.reminders import Planner
    from storage import migrate, outbox
    from storage.db import unit_of_work

    scratch = tempfile.TemporaryDirectory(prefix="fanout-")
    url = args.database_url or f"sqlite:///{scratch.name}/fanout.sqlite3"
    double, base_url = start_double(args.double_server, max(8, args.threads * args.workers * 2))
    try:
        migrate.upgrade(url)
        app = create_app(app_config(url, base_url, args.threads))
        logging.getLogger().setLevel(logging.WARNING)
        t0 = time.perf_counter()
        user_ids = populate(args.count)
        setup = time.perf_counter() - t0
        t0 = time.perf_counter()
        planned = Planner.from_config(app.extensions["kosodate"].config).run()
        planning = time.perf_counter() - t0

        spawn = multiprocessing.get_context("spawn")
        go, results = spawn.Event(), spawn.Queue()
        workers = [
            spawn.Process(target=deliver_everything, args=(url, base_url, args.threads, go, results))
            for _ in range(args.workers)
        ]
        for process in workers:
            process.start()
        time.sleep(3)  # let the workers start up (imports, connections) before the clock starts
        double_cpu = fetch(base_url, "cpu")
        busy, t0 = machine_busy_seconds(), time.perf_counter()
        go.set()
        sent = [results.get(timeout=600) for _ in workers]
        sending = time.perf_counter() - t0
        busy = machine_busy_seconds() - busy
        double_cpu = fetch(base_url, "cpu") - double_cpu
        for process in workers:
            process.join(30)

        with unit_of_work() as session:
            statuses = outbox.summary(session, "reminder")
        line = fetch(base_url, "report")
    finally:
        double.terminate()
        double.wait(30)
        scratch.cleanup()

    lost = [u for u in user_ids if line["accepted_to"].get(u, 0) == 0]
    twice = [u for u, n in line["accepted_to"].items() if n > 1] + [
        k for k, n in line["accepted_keys"].items() if n > 1
    ]
    windows = line["per_second"][1:-1] or line["per_second"]  # whole seconds only
    span = line["last"] - line["first"]
    worker_cpu = sum(cpu for *_, cpu in sent)
    others = busy - worker_cpu - double_cpu
    print(f"machine        : {machine()}")
    print(
        f"database       : {url.split(':')[0]}; {args.workers} worker process(es) x {args.threads} threads; "
        f"LINE double served by {args.double_server}, push limit 2,000/s"
    )
    print(f"setup          : {args.count} participants in {setup:.1f} s")
    print(f"planning       : {planned.added} reminders in {planning:.2f} s ({planned.added / planning:,.0f}/s)")
    print(
        f"sending        : {sending:.2f} s wall → {args.count / sending:,.0f} pushes/s "
        f"(first to last accepted push {span:.2f} s); rows per worker {[n for n, *_ in sent]}"
    )
    print(
        f"per second     : min {min(windows)}, median {statistics.median(windows):.0f}, max {max(windows)} "
        f"accepted pushes in whole one-second windows ({len(windows)} windows)"
    )
    print(f"LINE answered  : {line['statuses']}")
    print(f"outbox rows    : {statuses}")
    print(f"lost           : {len(lost)}; duplicated: {len(twice)}")
    print(
        f"CPU per push   : worker {worker_cpu / args.count * 1000:.2f} ms, LINE double {double_cpu / args.count * 1000:.2f} ms; "
        f"other processes used {others:.1f} CPU-s of the {sending * os.cpu_count():.1f} available while sending"
    )
    print(
        f"peak RSS       : worker {', '.join(f'{a:.0f} MB at start, {b:.0f} MB at end' for _, a, b, _ in sent)}; "
        f"LINE double {line['peak_rss_mb']:.0f} MB"
    )
    if lost or twice or statuses.get("sent") != args.count:
        raise SystemExit("FAILED: lost or duplicated reminders")


if __name__ == "__main__":
    main()
