"""Statistics page (統計): how long the fiscal-year page and its Excel export take for a year of a busy programme.

A fresh database is filled with bulk inserts: a year of events at the three centres (``--events-per-month`` each),
15 applications per event (confirmed, waitlisted, withdrawn; attendance marked for half), feedback from a third of
the participants, 30 loss reports and loan requests a month, and the parents behind them. Then an administrator's
``GET /staff/statistics?period=FY…&centre=all`` and the ``.xlsx`` export are timed through Flask's test client
(sign-in excluded), live (the year not yet frozen) and from the monthly snapshots (after the nightly job).

    .venv/bin/python -m bench.statistics [--events-per-month 20] [--runs 7] [--postgres postgresql://…]

Target: the page under 1 s for a year of seeded data.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import secrets
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

KINDS = ("meetup", "consultation", "class")
CENTRES = ("division", "minamihoncho", "takanedai")
STATUSES = ("confirmed",) * 10 + ("waitlisted",) * 3 + ("withdrawn",) * 2


def populate(events_per_month: int, year: int, rng: random.Random) -> int:
    """Returns how many applications were written."""
    from sqlalchemy import insert

    from storage.db import unit_of_work
    from storage.models import AttendanceMark, Enrollment, Escalation, Event, Feedback, LineUser, Parent, StaffMember

    start = datetime(year, 4, 1, tzinfo=UTC)
    with unit_of_work() as s:
        s.add(
            StaffMember(
                id=1,
                name="職員",
                login="bench@city.example",
                centre="division",
                role="admin",
                active=True,
                totp_enabled=False,
                on_duty=False,
            )
        )
        s.flush()
        n_parents = events_per_month * 12 * 3 * 15 // 4
        s.execute(
            insert(LineUser),
            [{"id": i, "line_user_id": f"U{i:032x}", "status": "active"} for i in range(1, n_parents + 1)],
        )
        s.execute(
            insert(Parent),
            [
                {
                    "id": i,
                    "line_user_pk": i,
                    "name": "",
                    "furigana": "",
                    "phone": "",
                    "is_guardian": True,
                    "is_pregnant": i % 7 == 0,
                    "centre": CENTRES[i % 3],
                    "registered_at": start + timedelta(minutes=i * 37 % (364 * 1440)),
                }
                for i in range(1, n_parents + 1)
            ],
        )
        events, enrollments, marks, feedback, escalations = [], [], [], [], []
        for month in range(12):
            for centre in CENTRES:
                for k in range(events_per_month):
                    event_id = len(events) + 1
                    at = start + timedelta(days=30 * month + k % 28, hours=1)
                    events.append(
                        {
                            "id": event_id,
                            "centre": centre,
                            "kind": KINDS[k % 3],
                            "title": "交流会",
                            "starts_at": at,
                            "ends_at": at + timedelta(hours=1),
                            "capacity": 10,
                            "applications_open_at": at - timedelta(days=14),
                            "applications_close_at": at,
                            "status": "finished",
                            "join_url_sealed": "x",
                            "meeting_id_sealed": "x",
                            "passcode_sealed": "x",
                        }
                    )
                    for j, status in enumerate(STATUSES):
                        parent = rng.randrange(1, n_parents + 1)
                        enrollment_id = len(enrollments) + 1
                        enrollments.append(
                            {
                                "id": enrollment_id,
                                "event_id": event_id,
                                "parent_id": parent,
                                "status": status,
                                "queued_at": at,
                                "applied_at": at,
                            }
                        )
                        if status == "confirmed" and j % 2 == 0:
                            marks.append(
                                {
                                    "enrollment_id": enrollment_id,
                                    "attended": j % 4 == 0,
                                    "marked_at": at,
                                    "marked_by_staff_id": 1,
                                }
                            )
                        if status == "confirmed" and j % 3 == 0:
                            feedback.append(
                                {
                                    "event_id": event_id,
                                    "parent_id": parent,
                                    "score": rng.randint(1, 5),
                                    "answered_at": at,
                                }
                            )
            for r in range(30):
                created = start + timedelta(days=30 * month + r % 28, minutes=r)
                escalations.append(
                    {
                        "reference": f"R-{month:02d}{r:04d}",
                        "kind": ("lost_credentials", "equipment_loan")[r % 2],
                        "parent_id": rng.randrange(1, n_parents + 1),
                        "centre": CENTRES[r % 3],
                        "status": "resolved",
                        "created_at": created,
                        "updated_at": created,
                        "attention_since": created,
                        "acknowledged_at": created + timedelta(minutes=rng.randint(1, 120)),
                        "resolved_at": created + timedelta(hours=rng.randint(1, 72)),
                    }
                )
        seen = set()
        feedback = [
            f
            for f in feedback
            if (f["event_id"], f["parent_id"]) not in seen and not seen.add((f["event_id"], f["parent_id"]))
        ]
        unique = set()
        enrollments = [
            e
            for e in enrollments
            if (e["event_id"], e["parent_id"]) not in unique and not unique.add((e["event_id"], e["parent_id"]))
        ]
        kept = {e["id"] for e in enrollments}
        marks = [m for m in marks if m["enrollment_id"] in kept]
        for model, rows in (
            (Event, events),
            (Enrollment, enrollments),
            (AttendanceMark, marks),
            (Feedback, feedback),
            (Escalation, escalations),
        ):
            for i in range(0, len(rows), 20_000):
                s.execute(insert(model), rows[i : i + 20_000])
        if s.bind.dialect.name == "postgresql":  # ids were given explicitly: move the sequences past them
            from bench.scale import _setval

            for table in ("staff_members", "line_users", "parents", "events", "enrollments"):
                s.execute(_setval(table))
    return len(enrollments)


def fresh_database(server: str) -> str:
    """A new, empty database on the PostgreSQL server (left behind for a look afterwards)."""
    from sqlalchemy import create_engine, text

    from storage.db import normalize_url

    name = f"kosodate_bench_stats_{secrets.token_hex(3)}"
    admin = create_engine(normalize_url(server), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return normalize_url(server).rsplit("/", 1)[0] + "/" + name


def timed(client, path: str, runs: int) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        response = client.get(path)
        samples.append(time.perf_counter() - began)
        assert response.status_code == 200, response.status_code
    return statistics.median(samples), max(samples)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events-per-month", type=int, default=20)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--postgres", default="")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="kosodate-bench-stats-"))
    url = fresh_database(args.postgres) if args.postgres else f"sqlite:///{tmp / 'stats.sqlite3'}"
    os.environ.setdefault("LOG_LEVEL", "WARNING")

    import time_machine
    from argon2 import PasswordHasher

    from bot.app import create_app
    from handlers.registration.policy_text import POLICY_TEXT
    from storage import migrate, people, retention, staff
    from storage.db import unit_of_work

    migrate.upgrade(url)
    staff.HASHER = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
    year = 2025
    with time_machine.travel(datetime(year + 1, 4, 10, tzinfo=UTC), tick=True):
        app = create_app({"mode": "test", "database_url": url, "line_api_base_url": "http://127.0.0.1:9"})
        with unit_of_work() as s:
            people.ensure_policy(s, POLICY_TEXT)
        applications = populate(args.events_per_month, year, random.Random(7))
        password = secrets.token_urlsafe(16)
        with unit_of_work() as s:
            member = staff.create_member(
                s, name="管理者", login="admin@city.example", centre="division", role="admin", password=password
            )
            login = member.login
        client = app.test_client()
        page = client.get("/staff/login").get_data(as_text=True)
        token = (
            page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
            if 'name="csrf_token" value="' in page
            else page.split('name="csrf_token" type="hidden" value="', 1)[1].split('"', 1)[0]
        )
        signed = client.post(
            "/staff/login",
            data={"csrf_token": token, "login": login, "password": password},
            headers={"Referer": "https://localhost/staff/login"},
        )
        assert signed.status_code == 302, signed.status_code
        path = f"/staff/statistics?period=FY{year}&centre=all"
        live = timed(client, path, args.runs)
        xlsx_live = timed(client, f"/staff/statistics.xlsx?period=FY{year}&centre=all", args.runs)
        days = {**retention.DEFAULTS, "participants": 30, "feedback": 30, "link_openings": 30, "reports": 30}
        app.extensions["kosodate"].config.retention_days.update(days)
        began = time.perf_counter()
        with unit_of_work() as s:
            from storage import statistics as figures

            figures.snapshot_months(
                s, {**days, "participants": 400, "feedback": 400, "link_openings": 400, "reports": 400}
            )
        snapshot_seconds = time.perf_counter() - began
        frozen = timed(client, path, args.runs)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{'PostgreSQL' if args.postgres else 'SQLite'}"
    )
    print(f"a year: {args.events_per_month * 3 * 12} events, {applications} applications")
    print(f"page, counted live:        median {live[0] * 1000:.0f} ms, max {live[1] * 1000:.0f} ms")
    print(f"Excel export, live:        median {xlsx_live[0] * 1000:.0f} ms, max {xlsx_live[1] * 1000:.0f} ms")
    print(f"nightly snapshot of the year: {snapshot_seconds * 1000:.0f} ms")
    print(f"page, from the snapshots:  median {frozen[0] * 1000:.0f} ms, max {frozen[1] * 1000:.0f} ms")


if __name__ == "__main__":
    main()
