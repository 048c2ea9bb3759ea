"""Scale: webhook processing latency of the common interactions and the reminder planner's tick, with 1,000, 10,000
and 100,000 registered parents and 10,000 events in the database, on SQLite and PostgreSQL.

For each database and each number of parents, a fresh database is migrated and filled with bulk inserts (Core
``executemany``): the events (half of them past, spread over a year), the parents with a child and a consent, three
applications each (confirmed with a join link, waitlisted, withdrawn), and the history a running bot accumulates
(processed webhook events, sent replies, sent reminders of past events). Then, for a sample of parents, each
interaction is driven through ``runtime.processing`` exactly as a webhook would be — the event stored in the inbox, then
processed in its own transaction — and timed, with its SQL statements counted:

- イベント一覧: the text "イベント一覧" (the list of upcoming events, ten at a time, with the parent's own state);
- apply: the 申し込む confirmation tap (the application, its seat, its join link and the reply), after the detail and
  apply taps that lead to it;
- 申込状況: the text "申込状況" (the parent's applications with their join and calendar links).

Then the reminder planner's tick (``scheduler.reminders.Planner.run``): the first (planning every reminder due within
the horizon) and a steady one (nothing new), as the worker runs it every minute.

    .venv/bin/python -m bench.scale [--parents 1000,10000,100000] [--events 10000] [--samples 200]
                                    [--postgres postgresql://postgres@127.0.0.1:55432/postgres] [--no-sqlite]

Targets: latency flat within ±20 % from 1k to 100k parents; planner tick ≤ 1 s at 10k events.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import multiprocessing
import os
import platform
import random
import secrets
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHUNK = 20_000
INTERACTIONS = ("イベント一覧", "apply", "申込状況")


# --- filling the database -------------------------------------------------------------------------------------------
def _insert(session, model, rows) -> None:
    from sqlalchemy import insert

    for start in range(0, len(rows), CHUNK):
        session.execute(insert(model), rows[start : start + CHUNK])


def populate(parents: int, events: int, rng: random.Random) -> None:
    """Everything in bulk, with explicit ids (sequences are moved past them afterwards on PostgreSQL)."""
    from handlers.registration.policy_text import POLICY_TEXT
    from storage import crypto, people
    from storage.clock import now
    from storage.db import inbox_unit_of_work, unit_of_work
    from storage.models import (
        Child,
        ConsentRecord,
        Enrollment,
        Event,
        InboxEvent,
        JoinLink,
        LineUser,
        OutboxMessage,
        Parent,
    )

    moment = now().replace(second=0, microsecond=0)
    sealed = {
        k: crypto.seal(v)
        for k, v in (
            ("url", "https://zoom.example/j/81234567890?pwd=bench"),
            ("id", "812 3456 7890"),
            ("pass", "bench-7731"),
            ("token", crypto.new_token()),
        )
    }
    centres, kinds = ("division", "minamihoncho", "takanedai"), ("meetup", "consultation", "class")
    with unit_of_work() as session:
        policy = people.ensure_policy(session, POLICY_TEXT)
        event_rows, starts = [], {}
        for i in range(1, events + 1):
            # Spread over a year centred on now, on the hour (09:00–15:00 Tokyo = 00:00–06:00 UTC).
            start = (moment + timedelta(days=rng.uniform(-182, 182))).replace(hour=rng.randrange(0, 7), minute=0)
            starts[i] = start
            event_rows.append(
                {
                    "id": i,
                    "centre": centres[i % 3],
                    "kind": kinds[i % 3],
                    "title": f"オンライン交流会 {i}",
                    "description": "",
                    "starts_at": start,
                    "ends_at": start + timedelta(hours=1),
                    "capacity": 60,
                    "applications_open_at": start - timedelta(days=30),
                    "applications_close_at": start - timedelta(hours=1),
                    "needs_approval": False,
                    "status": "cancelled" if i % 50 == 0 else "published",
                    "conference_service": "Zoom",
                    "join_url_sealed": sealed["url"],
                    "meeting_id_sealed": sealed["id"],
                    "passcode_sealed": sealed["pass"],
                    "join_opens_minutes": 15,
                    "version": 1,
                    "published_at": start - timedelta(days=31),
                    "created_by": "bench",
                    "created_at": moment,
                    "updated_at": moment,
                    "target_pregnant": False,
                }
            )
        _insert(session, Event, event_rows)
        upcoming = [i for i, s in starts.items() if s > moment]
        past = [i for i, s in starts.items() if s <= moment]
        users, parent_rows, children, consents = [], [], [], []
        for i in range(1, parents + 1):
            users.append(
                {
                    "id": i,
                    "line_user_id": "U" + hashlib.md5(f"u{i}".encode()).hexdigest(),
                    "language": "ja",
                    "status": "active",
                    "followed_at": moment,
                    "created_at": moment,
                }
            )
            parent_rows.append(
                {
                    "id": i,
                    "line_user_pk": i,
                    "name": f"保護者 {i}",
                    "furigana": f"ほごしゃ {i}",
                    "phone": f"090{i:08d}",
                    "is_guardian": True,
                    "is_pregnant": False,
                    "centre": centres[i % 3],
                    "registered_at": moment,
                    "updated_at": moment,
                }
            )
            born = (moment - timedelta(days=rng.randrange(30, 5 * 365))).date().replace(day=1)
            children.append({"id": i, "parent_id": i, "birth_month": born})
            consents.append(
                {
                    "id": i,
                    "line_user_pk": i,
                    "policy_version_id": policy.id,
                    "answer": "agreed",
                    "channel": "line",
                    "answered_at": moment,
                }
            )
        for model, rows in ((LineUser, users), (Parent, parent_rows), (Child, children), (ConsentRecord, consents)):
            _insert(session, model, rows)
        del users, parent_rows, children, consents
        enrollments, links, inbox, outbox = [], [], [], []
        for p in range(1, parents + 1):
            for k, event_id in enumerate(rng.sample(past, 1) + rng.sample(upcoming, 2)):
                eid = len(enrollments) + 1
                status = ("confirmed", "confirmed", "waitlisted", "withdrawn")[rng.randrange(4) if k else 0]
                enrollments.append(
                    {
                        "id": eid,
                        "event_id": event_id,
                        "parent_id": p,
                        "status": status,
                        "queued_at": moment,
                        "applied_at": moment,
                        "calendar_token_hash": hashlib.sha256(f"c{eid}".encode()).hexdigest(),
                        "calendar_token_sealed": sealed["token"],
                    }
                )
                if status == "confirmed":
                    links.append(
                        {
                            "id": len(links) + 1,
                            "enrollment_id": eid,
                            "created_at": moment,
                            "token_hash": hashlib.sha256(f"j{eid}".encode()).hexdigest(),
                            "token_sealed": sealed["token"],
                        }
                    )
                    if event_id in past:
                        for offset in ("1d@10:00", "30m"):
                            outbox.append(
                                _sent(
                                    "reminder",
                                    p,
                                    moment,
                                    f"reminder:{offset}:{eid}:{event_id}",
                                    subject=f"enrollment:{eid}",
                                    not_after=starts[event_id],
                                )
                            )
            user_id = "U" + hashlib.md5(f"u{p}".encode()).hexdigest()
            for n in range(5):
                inbox.append(
                    {
                        "webhook_event_id": f"01BENCH{p:08d}{n}",
                        "source_key": user_id,
                        "event_type": "message",
                        "mode": "active",
                        "event_timestamp": n,
                        "redelivery": False,
                        "payload": {"type": "message", "mode": "active", "timestamp": n, "message": {"type": "text"}},
                        "received_at": moment,
                        "processed_at": moment,
                        "status": "done",
                        "attempts": 0,
                    }
                )
            for _ in range(3):
                outbox.append(_sent("reply", p, moment, None))
        _insert(session, Enrollment, enrollments)
        _insert(session, JoinLink, links)
        _insert(session, OutboxMessage, outbox)
        if session.bind.dialect.name == "postgresql":
            for table in (
                "events",
                "line_users",
                "parents",
                "children",
                "consent_records",
                "enrollments",
                "join_links",
            ):
                session.execute(_setval(table))
    with inbox_unit_of_work() as session:  # the inbox's own database on SQLite
        _insert(session, InboxEvent, inbox)


def _sent(purpose: str, parent: int, moment, dedupe: str | None, subject: str | None = None, not_after=None) -> dict:
    return {
        "dedupe_key": dedupe,
        "purpose": purpose,
        "line_user_id": "U" + hashlib.md5(f"u{parent}".encode()).hexdigest(),
        "recipients": None,
        "messages": [{"type": "text", "text": "ご案内"}],
        "retry_key": "00000000-0000-4000-8000-000000000000",
        "status": "sent",
        "attempts": 1,
        "not_before": None,
        "not_after": not_after,
        "next_attempt_at": moment,
        "subject": subject,
        "created_at": moment,
        "sent_at": moment,
        "finished_at": moment,
    }


def _setval(table: str):
    from sqlalchemy import text

    return text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")


# --- driving dispatch -------------------------------------------------------------------------------------------
class Driver:
    """One parent in the chat, driven through the inbox and ``runtime.processing`` (nothing is sent to LINE)."""

    def __init__(self, settings, user_pk: int, line_user_id: str):
        self.settings, self.user_pk, self.user_id = settings, user_pk, line_user_id
        self.statements = 0

    def send(self, kind: str, **extra) -> float:
        """Store one event and process it; returns the seconds it took (store + process)."""
        from runtime import processing as dispatch
        from storage import inbox
        from storage.db import inbox_unit_of_work
        from tests.support import event

        payload = event(kind, self.user_id, secrets.token_hex(16), **extra)
        started = time.perf_counter()
        with inbox_unit_of_work() as session:
            inbox.store(session, [payload])
        planned = dispatch.process_source(self.user_id, self.settings)
        elapsed = time.perf_counter() - started
        if not planned:
            raise RuntimeError(f"no answer to {kind} {extra}")
        return elapsed

    def say(self, text: str) -> float:
        return self.send("message", message={"type": "text", "id": "1", "text": text, "quoteToken": "q"})

    def tap(self, flow: str, action: str, value: str) -> float:
        from handlers.postback import encode
        from storage import conversations
        from storage.db import unit_of_work

        with unit_of_work() as session:
            version = conversations.load(session, self.user_pk).version
        return self.send("postback", postback={"data": encode(flow, action, value, version)})


def openable_events(rng: random.Random) -> list[int]:
    """Events a parent can apply for now from the list: among the upcoming ones the flow shows, applications open."""
    from storage import events
    from storage.clock import now
    from storage.db import unit_of_work

    moment = now()
    with unit_of_work() as session:
        found = [
            e.id for e in events.upcoming(session, moment) if e.applications_open_at <= moment < e.applications_close_at
        ]
    rng.shuffle(found)
    return found


class Sampler:
    """One parent at a time through the three interactions, timed, with the SQL statements counted."""

    def __init__(self, settings, parents: int, samples: int, rng: random.Random):
        from sqlalchemy import event as sa_event

        from storage.db import get_engine

        self.settings, self.rng = settings, rng
        self.parents = rng.sample(range(1, parents + 1), min(parents, samples))
        self.targets = openable_events(rng)
        self.counted = 0
        self.applied = 0
        sa_event.listen(get_engine(), "before_cursor_execute", self._count)

    def _count(self, *_args) -> None:
        self.counted += 1

    def sample(self, n: int) -> dict[str, tuple[float, int]]:
        """{interaction: (seconds, statements)} for the n-th sampled parent."""
        p = self.parents[n % len(self.parents)]
        driver = Driver(self.settings, p, "U" + hashlib.md5(f"u{p}".encode()).hexdigest())
        target = self.targets[n % len(self.targets)]
        out = {}
        for name in INTERACTIONS:
            if name == "apply":  # the detail and the 申し込む button lead to the confirmation, which is timed
                driver.tap("events", "detail", str(target))
                driver.tap("events", "apply", str(target))
            self.counted = 0
            seconds = driver.tap("events", "yes", str(target)) if name == "apply" else driver.say(name)
            out[name] = (seconds, self.counted)
            if name == "apply":
                self.applied += applied(p, target)
        return out


def applied(parent_id: int, event_id: int) -> bool:
    from storage import enrollments
    from storage.db import unit_of_work

    with unit_of_work() as session:
        found = enrollments.of(session, event_id, parent_id)
        return found is not None and found.status != "withdrawn"


def planner_ticks(config) -> tuple[float, float, object]:
    from scheduler import reminders

    reminders.install()
    planner = reminders.Planner.from_config(config)
    started = time.perf_counter()
    first = planner.run()
    first_s = time.perf_counter() - started
    started = time.perf_counter()
    planner.run()
    return first_s, time.perf_counter() - started, first


# --- one configuration ------------------------------------------------------------------------------------------
def serve(pipe, url: str, parents: int, events: int, samples: int, seed: int) -> None:
    """One scale in its own process (its own engine and warm caches): fill, then answer the parent's requests —
    "sample" (one parent through the three interactions), "planner" (two ticks), "stop"."""
    from bot.app import create_app
    from storage import migrate

    migrate.upgrade(url)
    app = create_app(
        {
            "mode": "test",
            "database_url": url,
            "line_api_base_url": "http://127.0.0.1:9",
            "public_base_url": "https://bot.example.jp",
            "inline_processing": False,
            "secret_key": "bench-scale",
        }
    )
    logging.getLogger().setLevel(logging.WARNING)
    runtime = app.extensions["kosodate"]
    rng = random.Random(seed)
    started = time.perf_counter()
    populate(parents, events, rng)
    fill = time.perf_counter() - started
    # A database in service has fresh planner statistics: the nightly retention job refreshes SQLite's
    # (scheduler.retention.refresh_statistics), autovacuum PostgreSQL's. A bulk load has none yet.
    if url.startswith("postgresql"):
        from sqlalchemy import text

        from storage.db import get_engine

        with get_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    else:
        from scheduler.retention import refresh_statistics

        refresh_statistics()
    sampler = Sampler(runtime.settings, parents, samples, rng)
    pipe.send(fill)
    while True:
        request, n = pipe.recv()
        if request == "sample":
            pipe.send(sampler.sample(n))
        elif request == "planner":
            first, steady, planned = planner_ticks(runtime.config)
            pipe.send((first, steady, planned.added, sampler.applied))
        else:
            break
    runtime.close()
    from storage.db import get_engine

    get_engine().dispose()


def run_scales(
    backend: str, server: str | None, scales: list[int], events: int, samples: int, seed: int
) -> dict[int, dict]:
    """Every scale of one database, measured in interleaved rounds — one parent on each scale in turn — so that
    whatever else the machine is doing falls on all of them alike."""
    warmup = 10
    children, urls = {}, {}
    for parents in scales:
        if backend == "sqlite":
            urls[parents] = f"sqlite:///{tempfile.mkdtemp(prefix='kosodate-scale-')}/scale.sqlite3"
        else:
            urls[parents] = postgres_database(server, f"kosodate_scale_{parents}")
        here, there = multiprocessing.Pipe()
        process = multiprocessing.Process(
            target=serve, args=(there, urls[parents], parents, events, samples + warmup, seed)
        )
        process.start()
        children[parents] = (process, here)
    results = {
        parents: {
            "fill_s": here.recv(),
            "times": {n: [] for n in INTERACTIONS},
            "statements": {n: set() for n in INTERACTIONS},
        }
        for parents, (_, here) in children.items()
    }
    try:
        for n in range(samples + warmup):
            for parents, (_, here) in children.items():
                here.send(("sample", n))
                for name, (seconds, statements) in here.recv().items():
                    if n >= warmup:  # the first ones warm the caches and the connection pool
                        results[parents]["times"][name].append(seconds)
                        results[parents]["statements"][name].add(statements)
        for parents, (_, here) in children.items():
            here.send(("planner", 0))
            first, steady, added, applications = here.recv()
            results[parents].update(
                planner_first_s=first, planner_steady_s=steady, planned=added, applications=applications
            )
    finally:
        for parents, (process, here) in children.items():
            here.send(("stop", 0))
            process.join(60)
            if backend == "postgresql":
                postgres_database(server, f"kosodate_scale_{parents}", drop=True)
    return results


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def postgres_database(server: str, name: str, drop: bool = False) -> str:
    from sqlalchemy import create_engine, text

    from storage.db import normalize_url

    admin = create_engine(normalize_url(server), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        if not drop:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return normalize_url(server).rsplit("/", 1)[0] + "/" + name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parents", default="1000,10000,100000")
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--postgres", help="a PostgreSQL server URL: also measure there (a database per run)")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--seed", type=int, default=8)
    args = parser.parse_args()
    scales = [int(n) for n in args.parents.split(",")]
    backends = ([] if args.no_sqlite else ["sqlite"]) + (["postgresql"] if args.postgres else [])
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    print(
        f"machine: {os.cpu_count()} cores ({cpu}), Python {platform.python_version()}; "
        f"{args.events} events, {args.samples} samples per interaction"
    )
    results = {}
    for backend in backends:
        for parents, result in run_scales(backend, args.postgres, scales, args.events, args.samples, args.seed).items():
            results[(backend, parents)] = result
            line = [
                f"{backend:10} {parents:>7} parents (filled in {result['fill_s']:5.1f} s; "
                f"{result['applications']} of {args.samples + 10} confirmations made an application):"
            ]
            for name in INTERACTIONS:
                values = result["times"][name]
                line.append(
                    f"{name} median {statistics.median(values) * 1000:6.1f} ms p99 {pct(values, 0.99) * 1000:6.1f}"
                    f" ms ({'/'.join(map(str, sorted(result['statements'][name])))} statements)"
                )
            line.append(
                f"planner tick first {result['planner_first_s']:.2f} s ({result['planned']} reminders), "
                f"steady {result['planner_steady_s']:.2f} s"
            )
            print("\n    ".join(line), flush=True)
    print()
    print(
        "| database | parents | "
        + " | ".join(f"{n} median / p99 (ms)" for n in INTERACTIONS)
        + " | planner tick first / steady (s) |"
    )
    print("| --- | ---: | " + " | ".join("---:" for _ in INTERACTIONS) + " | ---: |")
    for (backend, parents), r in results.items():
        cells = [
            f"{statistics.median(r['times'][n]) * 1000:.1f} / {pct(r['times'][n], 0.99) * 1000:.1f}"
            for n in INTERACTIONS
        ]
        print(
            f"| {backend} | {parents:,} | "
            + " | ".join(cells)
            + f" | {r['planner_first_s']:.2f} / {r['planner_steady_s']:.2f} |"
        )
    failed = []
    for backend in backends:
        base = results[(backend, scales[0])]
        for parents in scales[1:]:
            for name in INTERACTIONS:
                ratio = statistics.median(results[(backend, parents)]["times"][name]) / statistics.median(
                    base["times"][name]
                )
                verdict = "flat" if 0.8 <= ratio <= 1.2 else "NOT FLAT"
                print(f"{backend} {name}: median at {parents:,} parents = {ratio:.2f} x at {scales[0]:,} ({verdict})")
                if verdict != "flat":
                    failed.append(f"{backend} {name} {parents}")
        for tick in ("first", "steady"):
            slowest = max(r[f"planner_{tick}_s"] for (b, _), r in results.items() if b == backend)
            within = slowest <= 1
            print(
                f"{backend} planner, {tick} tick at worst: {slowest:.2f} s "
                f"({'within' if within else 'OVER'} the 1 s target)"
            )
            if not within:
                failed.append(f"{backend} planner {tick} tick")
    if failed:
        raise SystemExit(f"targets missed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
