"""Webhook throughput and acknowledgement latency: this bot under gunicorn vs a plain line-bot-sdk echo bot.

Both run under the same gunicorn settings against the project's LINE double (its own process); this bot with its
worker process beside it, as in the Procfile. For each scenario, two measurements:
1. throughput: closed loop, C concurrent senders for T seconds, one text event per request;
2. latency at a fixed rate (default 300 events/s, open loop): median and p99 of the time to the 200.
For this bot it also measures how long until every acknowledged event was processed and its reply sent (the inbox
has nothing pending), and at the end checks that every event it acknowledged is in the inbox (none lost).

Scenarios (``--scenario``): ``new`` — every event from a brand-new LINE user saying ヘルプ (first contact, the
heaviest path); ``registered`` — a pool of registered, consenting parents sending the common interactions (イベント一覧,
申込状況, メニュー, ヘルプ) with a few upcoming events to list. The echo bot answers both alike.

    .venv/bin/python -m bench.webhook [--seconds 10] [--rate 300] [--concurrency 16] [--scenario new|registered|both]
                                      [--database-url URL]
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import platform
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import httpx
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
SECRET = "b3c4d5e6f708192a3b4c5d6e7f809102"  # 32 hex characters, as LINE issues them
TOKEN = "bench-access-token"
sys.path.insert(0, str(ROOT))

from bot.demo.line_double import BOT_USER_ID  # noqa: E402 (the destination the bot learns from the double)
from tests.support import sign  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


REGISTERED_WORDS = ("イベント一覧", "申込状況", "メニュー", "ヘルプ")
REGISTERED_POOL = 300
# Who sends event n: (user id, text). Set by main() for the scenario being measured.
sender_of = None


def new_user(n: int) -> tuple[str, str]:
    return "U" + secrets.token_hex(16), "ヘルプ"


def registered_users(pool: list[str]):
    def pick(n: int) -> tuple[str, str]:
        return pool[n % len(pool)], REGISTERED_WORDS[(n // len(pool)) % len(REGISTERED_WORDS)]

    return pick


def body(n: int) -> tuple[bytes, str]:
    """Event n as LINE would send it: the raw body and its signature."""
    user, words = sender_of(n)
    event = {
        "type": "message",
        "mode": "active",
        "timestamp": int(time.time() * 1000),
        "source": {"type": "user", "userId": user},
        "webhookEventId": f"01BENCH{n:010d}{secrets.token_hex(4)}",
        "replyToken": secrets.token_hex(16),
        "deliveryContext": {"isRedelivery": False},
        "message": {"type": "text", "id": str(n), "text": words, "quoteToken": "q"},
    }
    raw = json.dumps({"destination": BOT_USER_ID, "events": [event]}, ensure_ascii=False).encode()
    return raw, sign(raw, SECRET)


# The load generator. It runs on the same two cores as the bots, so it has to be cheap and must not add latency of
# its own: the standard library's HTTP client on keep-alive connections (httpx costs several times the CPU per
# request), bodies built and signed before the clock starts, and the senders spread over GENERATOR_PROCESSES
# processes so that no single interpreter lock delays reading a response. (With 32 httpx threads in one process the
# echo bot's p99 read 80-95 ms; with this generator 5-10 ms on the same machine.)
GENERATOR_PROCESSES = 2


def post(conn: http.client.HTTPConnection, raw: bytes, signature: str) -> tuple[int, float]:
    started = time.perf_counter()
    conn.request("POST", "/callback", raw, {"X-Line-Signature": signature, "Content-Type": "application/json"})
    response = conn.getresponse()
    response.read()
    return response.status, time.perf_counter() - started


def _generate(senders_of: Callable[[int], list[Callable[[], list]]]) -> list:
    """Run the load in GENERATOR_PROCESSES forked processes: process k runs each of ``senders_of(k)`` on a thread of
    its own. Returns what every sender returned, joined. (``senders_of`` runs in the child: what it prepares, such
    as signed bodies, is built there before the clock starts.)"""
    context = multiprocessing.get_context("fork")  # the children inherit ``sender_of``
    results = context.Queue()

    def run(k: int) -> None:
        senders = senders_of(k)
        with ThreadPoolExecutor(len(senders)) as pool:
            results.put([item for part in pool.map(lambda send: send(), senders) for item in part])

    procs = [context.Process(target=run, args=(k,)) for k in range(GENERATOR_PROCESSES)]
    for proc in procs:
        proc.start()
    out = [item for _ in procs for item in results.get()]
    for proc in procs:
        proc.join()
    return out


def throughput(port: int, seconds: float, concurrency: int, start_n: int) -> dict:
    """Closed loop: ``concurrency`` senders, each sending its next event as soon as the last one was answered.
    Sender s sends events start_n + s, start_n + s + concurrency, ..."""
    per_process = max(1, concurrency // GENERATOR_PROCESSES)
    senders = per_process * GENERATOR_PROCESSES
    begin = time.time() + 0.5

    def sender(s: int) -> list[tuple[int, int]]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        n, out = start_n + s, []
        time.sleep(max(0.0, begin - time.time()))
        while time.time() < begin + seconds:
            status, _ = post(conn, *body(n))
            out.append((status, n))
            n += senders
        return out

    results = _generate(lambda k: [partial(sender, k * per_process + t) for t in range(per_process)])
    ok = sum(1 for status, _ in results if status == 200)
    return {"requests": len(results), "ok": ok, "per_second": ok / seconds, "next_n": max(n for _, n in results) + 1}


def fixed_rate(port: int, seconds: float, rate: float, start_n: int) -> dict:
    """Open loop: event i is sent at begin + i / rate whether or not earlier ones were answered. Latency is measured
    from the moment it was sent to the 200."""
    total = int(seconds * rate)
    threads_per_process = 16
    begin = time.time() + 1.0

    def senders_of(k: int) -> list[Callable[[], list]]:
        mine = list(range(k, total, GENERATOR_PROCESSES))
        bodies = {i: body(start_n + i) for i in mine}

        def sender(share: list[int]) -> list[tuple[int, float]]:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            out = []
            for i in share:
                time.sleep(max(0.0, begin + i / rate - time.time()))
                out.append(post(conn, *bodies[i]))
            return out

        return [partial(sender, mine[t::threads_per_process]) for t in range(threads_per_process)]

    results = _generate(senders_of)
    latencies = sorted(latency for _, latency in results)
    return {
        "sent": total,
        "ok": sum(1 for status, _ in results if status == 200),
        "median_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
    }


def gunicorn(app: str, port: int, env: dict, workers: int, threads: int) -> subprocess.Popen:
    cmd = [
        sys.executable,
        "-m",
        "gunicorn",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--bind",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
        app,
    ]
    return subprocess.Popen(cmd, cwd=ROOT, env=env)


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


def main() -> None:
    global sender_of
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--rate", type=float, default=300)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--scenario", choices=("new", "registered", "both"), default="both")
    ap.add_argument("--database-url", default="")
    args = ap.parse_args()
    scenarios = ("new", "registered") if args.scenario == "both" else (args.scenario,)

    tmp = Path(tempfile.mkdtemp(prefix="kosodate-bench-"))
    db_url = args.database_url or f"sqlite:///{tmp / 'bench.sqlite3'}"
    double_port, echo_port, bot_port = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "LINE_CHANNEL_SECRET": SECRET,
        "LINE_CHANNEL_ACCESS_TOKEN": TOKEN,
        "SECRET_KEY": "5b3e0c7a91d24f68" * 4,
        "LINE_API_BASE_URL": f"http://127.0.0.1:{double_port}",
        "DATABASE_URL": db_url,
        "APP_MODE": "production",
        "DATA_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }
    # The double's access log is silenced: writing it costs CPU on the machine both bots are measured on.
    double = subprocess.Popen(
        [sys.executable, "-m", "bench.serve_double", str(double_port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    subprocess.run(
        [sys.executable, "-m", "bot.cli", "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True
    )
    pool = seed_registered(db_url, env["DATA_ENCRYPTION_KEY"]) if "registered" in scenarios else []
    report: dict[str, dict] = {}
    acknowledged = 0
    n = 0
    try:
        wait_http(f"http://127.0.0.1:{double_port}/")
        for bot, app, port in (("echo", "bench.echo_bot:app", echo_port), ("ours", "bot.app:create_app()", bot_port)):
            ours = bot == "ours"
            proc = gunicorn(app, port, env, args.workers, args.threads)
            # As deployed (Procfile): the worker process runs beside the web processes.
            worker = subprocess.Popen([sys.executable, "-m", "bot.cli", "worker"], cwd=ROOT, env=env) if ours else None
            try:
                wait_http(f"http://127.0.0.1:{port}/callback")
                for scenario in scenarios:
                    sender_of = new_user if scenario == "new" else registered_users(pool)
                    post(http.client.HTTPConnection("127.0.0.1", port, timeout=10), *body(n))  # warm up
                    n += 1
                    load_before = os.getloadavg()[0]
                    started = time.monotonic()
                    tp = throughput(port, args.seconds, args.concurrency, n)
                    n = tp["next_n"]
                    if ours:
                        tp["processed_per_second"] = tp["ok"] / wait_processed(db_url, started)
                    time.sleep(2)
                    started = time.monotonic()
                    lat = fixed_rate(port, args.seconds, args.rate, n)
                    n += lat["sent"]
                    if ours:
                        # Sending starts 1 s after ``started`` and lasts ``seconds``.
                        lat["backlog_s"] = max(0.0, wait_processed(db_url, started) - 1.0 - args.seconds)
                        acknowledged += tp["ok"] + lat["ok"] + 1
                    report[f"{bot}/{scenario}"] = {
                        "throughput": tp,
                        "fixed_rate": lat,
                        "load": (load_before, os.getloadavg()[0]),
                    }
            finally:
                stop(proc)
                if worker:
                    stop(worker)
        stored = stored_events(db_url)
    finally:
        stop(double)
    print_report(report, args, db_url, scenarios, stored, acknowledged)


def seed_registered(db_url: str, key: str) -> list[str]:
    """REGISTERED_POOL consenting parents and a few upcoming events at each centre; returns their LINE user ids."""
    from datetime import timedelta

    from handlers.registration.policy_text import POLICY_TEXT
    from storage import crypto, people
    from storage.db import init_engine, unit_of_work
    from tests.events_support import make_event, make_parent

    init_engine(db_url)
    crypto.init(key)
    with unit_of_work() as session:
        people.ensure_policy(session, POLICY_TEXT)
    with unit_of_work() as session:
        for i, centre in enumerate(("minamihoncho", "takanedai") * 3):
            make_event(session, centre=centre, starts_in=timedelta(days=3 + i), title=f"交流会 {i + 1}")
        pool = ["U" + secrets.token_hex(16) for _ in range(REGISTERED_POOL)]
        for i, user_id in enumerate(pool):
            make_parent(session, user_id, centre="minamihoncho" if i % 2 else "takanedai")
        return pool


def wait_processed(db_url: str, started: float, timeout: float = 300) -> float:
    """Seconds from ``started`` until no inbox event is pending (processed and answered)."""
    from sqlalchemy import func, select

    from storage.db import inbox_unit_of_work, init_engine
    from storage.models import InboxEvent

    init_engine(db_url)
    while time.monotonic() - started < timeout:
        with inbox_unit_of_work(read_only=True) as s:
            pending = s.scalar(select(func.count()).select_from(InboxEvent).where(InboxEvent.status == "pending"))
        if not pending:
            return time.monotonic() - started
        time.sleep(0.2)
    raise RuntimeError("events still pending after the timeout")


def stored_events(db_url: str) -> int:
    from sqlalchemy import func, select

    from storage.db import inbox_unit_of_work, init_engine
    from storage.models import InboxEvent

    init_engine(db_url)
    with inbox_unit_of_work(read_only=True) as s:
        return s.scalar(select(func.count()).select_from(InboxEvent))


def print_report(report: dict, args, db_url: str, scenarios, stored: int, acknowledged: int) -> None:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    print(f"machine: {os.cpu_count()} cores, {cpu}, Python {platform.python_version()}")
    print(
        f"gunicorn: {args.workers} workers x {args.threads} threads; database: {db_url.split(':')[0]}; "
        f"INLINE_PROCESSING={os.environ.get('INLINE_PROCESSING', '(default)')}; {args.seconds:.0f} s per phase"
    )
    print(
        f"{'':22} {'acks/s (closed)':>15} {'processed/s':>12} {'median ms':>10} {'p99 ms':>8} {'ok':>11} "
        f"{'backlog s':>10} {'load':>10}"
    )
    for name, r in report.items():
        tp, fr = r["throughput"], r["fixed_rate"]
        processed = f"{tp['processed_per_second']:.0f}" if "processed_per_second" in tp else "(= acks)"
        backlog = f"{fr['backlog_s']:.1f}" if "backlog_s" in fr else "-"
        print(
            f"{name:22} {tp['per_second']:15.0f} {processed:>12} {fr['median_ms']:10.1f} {fr['p99_ms']:8.1f} "
            f"{fr['ok']:>5}/{fr['sent']:<5} {backlog:>10} {r['load'][0]:4.1f}-{r['load'][1]:<4.1f}"
        )
    for scenario in scenarios:
        ours, echo = report[f"ours/{scenario}"], report[f"echo/{scenario}"]
        ratio = ours["throughput"]["per_second"] / echo["throughput"]["per_second"]
        print(
            f"{scenario}: throughput ratio (this bot / echo bot) {ratio:.2f}x; at {args.rate:.0f} events/s "
            f"ack p99 {ours['fixed_rate']['p99_ms']:.1f} ms (echo {echo['fixed_rate']['p99_ms']:.1f} ms)"
        )
    print(
        "processed/s: events acknowledged in the closed loop / seconds until all of them were processed and replied;"
        " backlog s: seconds after the fixed-rate phase until nothing was pending"
    )
    print(f"acknowledged {acknowledged}, stored {stored}: {'none lost' if stored >= acknowledged else 'LOST EVENTS'}")


if __name__ == "__main__":
    main()
