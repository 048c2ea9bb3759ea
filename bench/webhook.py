"""Webhook throughput and acknowledgement latency: this bot under gunicorn vs a plain line-bot-sdk echo bot.

Both run under the same gunicorn settings against the project's LINE double (its own process). Two measurements:
1. throughput: closed loop, C concurrent senders for T seconds, one text event per request;
2. latency at a fixed rate (default 300 events/s, open loop): median and p99 of the time to the 200.
Then it checks that every event our bot acknowledged is in the inbox (nothing acknowledged and lost).

    .venv/bin/python -m bench.webhook [--seconds 10] [--rate 300] [--concurrency 16] [--database-url URL]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-channel-secret"
TOKEN = "bench-access-token"
sys.path.insert(0, str(ROOT))

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


def body(n: int) -> bytes:
    user = "U" + secrets.token_hex(16)
    event = {"type": "message", "mode": "active", "timestamp": int(time.time() * 1000),
             "source": {"type": "user", "userId": user}, "webhookEventId": f"01BENCH{n:010d}{secrets.token_hex(4)}",
             "replyToken": secrets.token_hex(16), "deliveryContext": {"isRedelivery": False},
             "message": {"type": "text", "id": str(n), "text": "ヘルプ", "quoteToken": "q"}}
    return json.dumps({"destination": "U" + "0" * 32, "events": [event]}, ensure_ascii=False).encode()


def post(client: httpx.Client, url: str, n: int) -> tuple[int, float]:
    raw = body(n)
    started = time.perf_counter()
    r = client.post(url, content=raw, headers={"X-Line-Signature": sign(raw, SECRET), "Content-Type": "application/json"})
    return r.status_code, time.perf_counter() - started


def throughput(url: str, seconds: float, concurrency: int) -> dict:
    counter = iter(range(10**9))
    lock = threading.Lock()
    results: list[tuple[int, float]] = []
    stop = time.monotonic() + seconds

    def sender():
        with httpx.Client(timeout=10) as client:
            local = []
            while time.monotonic() < stop:
                with lock:
                    n = next(counter)
                local.append(post(client, url, n))
            with lock:
                results.extend(local)

    threads = [threading.Thread(target=sender) for _ in range(concurrency)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    ok = sum(1 for status, _ in results if status == 200)
    return {"requests": len(results), "ok": ok, "per_second": ok / elapsed}


def fixed_rate(url: str, seconds: float, rate: float, start_n: int) -> dict:
    latencies: list[float] = []
    statuses: list[int] = []
    lock = threading.Lock()
    total = int(seconds * rate)
    workers = 32
    begin = time.perf_counter() + 0.2

    def sender(k: int):
        with httpx.Client(timeout=10) as client:
            for i in range(k, total, workers):
                due = begin + i / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                status, latency = post(client, url, start_n + i)
                with lock:
                    latencies.append(latency)
                    statuses.append(status)

    threads = [threading.Thread(target=sender, args=(k,)) for k in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    latencies.sort()
    return {"sent": total, "ok": statuses.count(200), "median_ms": statistics.median(latencies) * 1000,
            "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000}


def gunicorn(app: str, port: int, env: dict, workers: int, threads: int) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--threads", str(threads),
           "--bind", f"127.0.0.1:{port}", "--log-level", "warning", app]
    return subprocess.Popen(cmd, cwd=ROOT, env=env)


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--rate", type=float, default=300)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--database-url", default="")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="kosodate-bench-"))
    db_url = args.database_url or f"sqlite:///{tmp / 'bench.sqlite3'}"
    double_port, echo_port, bot_port = free_port(), free_port(), free_port()
    env = {**os.environ, "LINE_CHANNEL_SECRET": SECRET, "LINE_CHANNEL_ACCESS_TOKEN": TOKEN, "SECRET_KEY": "bench",
           "LINE_API_BASE_URL": f"http://127.0.0.1:{double_port}", "DATABASE_URL": db_url, "APP_MODE": "production",
           "DATA_ENCRYPTION_KEY": Fernet.generate_key().decode(),
           "LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT)}
    double = subprocess.Popen([sys.executable, "-m", "bench.serve_double", str(double_port)], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL)
    subprocess.run([sys.executable, "-m", "bot.cli", "db", "upgrade"], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    report = {}
    try:
        wait_http(f"http://127.0.0.1:{double_port}/")
        for name, app, port in (("echo bot (line-bot-sdk, nothing stored)", "bench.echo_bot:app", echo_port),
                                ("this bot (stored in inbox, processed off the request path)", "bot:create_app()", bot_port)):
            ours = app.startswith("bot:")
            proc = gunicorn(app, port, env, args.workers, args.threads)
            # As deployed (Procfile): the worker process runs beside the web processes.
            worker = subprocess.Popen([sys.executable, "-m", "bot.cli", "worker"], cwd=ROOT, env=env) if ours else None
            try:
                wait_http(f"http://127.0.0.1:{port}/callback")
                url = f"http://127.0.0.1:{port}/callback"
                post(httpx.Client(), url, 0)  # warm up
                started = time.monotonic()
                tp = throughput(url, args.seconds, args.concurrency)
                if ours:
                    tp["all_processed_per_second"] = tp["ok"] / wait_processed(db_url, started)
                time.sleep(2)
                lat = fixed_rate(url, args.seconds, args.rate, 10**6)
                if ours:
                    wait_processed(db_url, time.monotonic())
                report[name] = {"throughput": tp, "fixed_rate": lat}
            finally:
                stop(proc)
                if worker:
                    stop(worker)
        ours = report["this bot (stored in inbox, processed off the request path)"]
        stored = stored_events(db_url)
        acknowledged = ours["throughput"]["ok"] + ours["fixed_rate"]["ok"] + 1
    finally:
        stop(double)
    print_report(report, args, db_url, stored, acknowledged)


def wait_processed(db_url: str, started: float, timeout: float = 300) -> float:
    """Seconds from ``started`` until no inbox event is pending (processed and answered)."""
    from sqlalchemy import func, select

    from storage.db import init_engine, unit_of_work
    from storage.models import InboxEvent

    init_engine(db_url)
    while time.monotonic() - started < timeout:
        with unit_of_work() as s:
            pending = s.scalar(select(func.count()).select_from(InboxEvent).where(InboxEvent.status == "pending"))
        if not pending:
            return time.monotonic() - started
        time.sleep(0.2)
    raise RuntimeError("events still pending after the timeout")


def stored_events(db_url: str) -> int:
    from sqlalchemy import func, select

    from storage.db import init_engine, unit_of_work
    from storage.models import InboxEvent

    init_engine(db_url)
    with unit_of_work() as s:
        return s.scalar(select(func.count()).select_from(InboxEvent))


def print_report(report: dict, args, db_url: str, stored: int, acknowledged: int) -> None:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    print(f"machine: {os.cpu_count()} cores, {cpu}, Python {platform.python_version()}")
    print(f"gunicorn: {args.workers} workers x {args.threads} threads; database: {db_url.split(':')[0]}")
    print(f"{'':58} {'events/s (closed loop)':>24} {'median ms':>10} {'p99 ms':>8} {'ok':>10}")
    for name, r in report.items():
        fr = r["fixed_rate"]
        print(f"{name:58} {r['throughput']['per_second']:24.0f} {fr['median_ms']:10.1f} {fr['p99_ms']:8.1f} "
              f"{fr['ok']:>5}/{fr['sent']:<5}")
    names = list(report)
    ratio = report[names[1]]["throughput"]["per_second"] / report[names[0]]["throughput"]["per_second"]
    print(f"this bot, events acknowledged AND processed (replied) per second: "
          f"{report[names[1]]['throughput']['all_processed_per_second']:.0f}")
    print(f"throughput ratio (this bot / echo bot): {ratio:.2f}x; at {args.rate:.0f} events/s "
          f"p99 {report[names[1]]['fixed_rate']['p99_ms']:.1f} ms")
    print(f"acknowledged {acknowledged}, stored {stored}: {'none lost' if stored >= acknowledged else 'LOST EVENTS'}")


if __name__ == "__main__":
    main()
