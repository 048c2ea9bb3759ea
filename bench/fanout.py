"""Outbox fan-out: N personal reminders due at once, sent by the worker's delivery job to the project's LINE double
(its own process, LINE's rate limits enforced: push 2,000 requests/s).

Sets up N confirmed participants of one event starting in 25 minutes (reminder offset "30m", so every reminder is
due at once, quiet hours off), runs the reminder planner once (timed), then the worker's delivery job
(``Worker.deliver_due``, what APScheduler calls every second) until nothing is due. Then checks, from the double's
own journal, that every participant got exactly one reminder (none lost, none twice) and reports pushes per second
(overall and per one-second window), LINE's 429s, and the peak memory of the sending process.

    .venv/bin/python -m bench.fanout [--count 10000] [--threads 8] [--database-url URL]
"""
from __future__ import annotations

import argparse
import logging
import multiprocessing
import platform
import resource
import secrets
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


# --- the LINE double, in its own process ----------------------------------------------------------------------
def serve_double(conn) -> None:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    from bot.demo.line_double import LineDouble

    double = LineDouble(rate_limits=True).start()
    conn.send(double.base_url)
    conn.recv()  # "report"
    pushes = double.requests("/v2/bot/message/push")
    accepted = [e for e in pushes if e["status"] == 200]
    per_second = Counter(int(e["ts"]) for e in accepted)
    conn.send({
        "statuses": dict(Counter(e["status"] for e in pushes)),
        "accepted_to": Counter(e["json"]["to"] for e in accepted),
        "accepted_keys": Counter(e["retry_key"] for e in accepted),
        "per_second": [per_second[s] for s in sorted(per_second)],
        "first": min((e["ts"] for e in accepted), default=0.0),
        "last": max((e["ts"] for e in accepted), default=0.0),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    })
    double.stop()


# --- the participants ---------------------------------------------------------------------------------------------
def populate(count: int) -> list[str]:
    """N registered, consenting parents, each confirmed for one event with a live join link (bulk inserts)."""
    from sqlalchemy import insert, select

    from handlers.policy_text import POLICY_TEXT
    from storage import crypto, events, people
    from storage.clock import now
    from storage.db import unit_of_work
    from storage.models import ConsentRecord, Enrollment, JoinLink, LineUser, Parent

    moment = now()
    user_ids = ["U" + secrets.token_hex(16) for _ in range(count)]
    with unit_of_work() as session:
        policy = people.ensure_policy(session, POLICY_TEXT)
        event = events.create(
            session, centre="minamihoncho", kind="meetup", title="ねんねの赤ちゃん交流会", description="",
            starts_at=moment + timedelta(minutes=25), ends_at=moment + timedelta(minutes=85), capacity=count,
            applications_open_at=moment - timedelta(days=7), applications_close_at=moment,
            needs_approval=False, conference_service="Zoom", join_url="https://zoom.example/j/1",
            meeting_id="123 456 789", passcode="bench", created_by="bench")
        events.publish(session, event)
        session.execute(insert(LineUser), [
            {"line_user_id": u, "language": "ja", "status": "active", "created_at": moment} for u in user_ids])
        user_pks = list(session.scalars(select(LineUser.id).order_by(LineUser.id)))
        session.execute(insert(Parent), [
            {"line_user_pk": pk, "name": "船橋 花子", "furigana": "ふなばし はなこ", "phone": "09012345678",
             "is_guardian": True, "is_pregnant": False, "centre": "minamihoncho", "registered_at": moment,
             "updated_at": moment} for pk in user_pks])
        session.execute(insert(ConsentRecord), [
            {"line_user_pk": pk, "policy_version_id": policy.id, "answer": "agreed", "channel": "line",
             "answered_at": moment} for pk in user_pks])
        parent_ids = list(session.scalars(select(Parent.id).order_by(Parent.id)))
        session.execute(insert(Enrollment), [
            {"event_id": event.id, "parent_id": pid, "status": "confirmed", "queued_at": moment, "applied_at": moment,
             "decided_at": moment} for pid in parent_ids])
        enrollment_ids = list(session.scalars(select(Enrollment.id).order_by(Enrollment.id)))
        links = []
        for eid in enrollment_ids:
            token = crypto.new_token()
            links.append({"enrollment_id": eid, "token_hash": crypto.token_hash(token),
                          "token_sealed": crypto.seal(token), "created_at": moment})
        session.execute(insert(JoinLink), links)
    return user_ids


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    args = parser.parse_args()

    here, there = multiprocessing.Pipe()
    double = multiprocessing.Process(target=serve_double, args=(there,), daemon=True)
    double.start()
    base_url = here.recv()

    from bot import create_app
    from scheduler.worker import Worker
    from storage import migrate, outbox
    from storage.db import unit_of_work

    url = args.database_url or f"sqlite:///{tempfile.mkdtemp(prefix='fanout-')}/fanout.sqlite3"
    migrate.upgrade(url)
    app = create_app({"mode": "development", "database_url": url, "line_api_base_url": base_url,
                      "line_channel_access_token": "bench-token", "public_base_url": "https://bot.example.jp",
                      "inline_processing": False, "reminder_offsets": "30m", "quiet_hours": "off",
                      "delivery_threads": args.threads})
    logging.getLogger().setLevel(logging.WARNING)
    runtime = app.extensions["kosodate"]
    t0 = time.perf_counter()
    user_ids = populate(args.count)
    setup = time.perf_counter() - t0
    worker = Worker(runtime)

    t0 = time.perf_counter()
    planned = worker.plan()
    planning = time.perf_counter() - t0
    rss_before = peak_rss_mb()

    t0 = time.perf_counter()
    while worker.deliver_due():
        pass
    sending = time.perf_counter() - t0
    rss_after = peak_rss_mb()
    worker.close()

    with unit_of_work() as session:
        statuses = outbox.summary(session, "reminder")
    here.send("report")
    line = here.recv()
    double.join(10)

    lost = [u for u in user_ids if line["accepted_to"][u] == 0]
    twice = [u for u, n in line["accepted_to"].items() if n > 1] + [k for k, n in line["accepted_keys"].items() if n > 1]
    windows = line["per_second"][1:-1] or line["per_second"]  # whole seconds only
    span = line["last"] - line["first"]
    print(f"machine        : {platform.processor() or platform.machine()}, Python {platform.python_version()}")
    print(f"database       : {url.split(':')[0]}; threads {args.threads}; batch {worker.dispatcher.batch}")
    print(f"setup          : {args.count} participants in {setup:.1f} s")
    print(f"planning       : {planned.added} reminders in {planning:.2f} s ({planned.added / planning:,.0f}/s)")
    print(f"sending        : {sending:.2f} s wall → {args.count / sending:,.0f} pushes/s "
          f"(first to last accepted push {span:.2f} s)")
    print(f"per second     : min {min(windows)}, median {statistics.median(windows):.0f}, max {max(windows)} "
          f"accepted pushes in whole one-second windows ({len(windows)} windows)")
    print(f"LINE answered  : {line['statuses']}")
    print(f"outbox rows    : {statuses}")
    print(f"lost           : {len(lost)}; duplicated: {len(twice)}")
    print(f"peak RSS       : sender {rss_before:.0f} MB before sending, {rss_after:.0f} MB after; "
          f"LINE double {line['peak_rss_mb']:.0f} MB")
    if lost or twice or statuses.get("sent") != args.count:
        raise SystemExit("FAILED: lost or duplicated reminders")


if __name__ == "__main__":
    main()
