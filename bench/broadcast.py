"""お知らせ to N parents: released into the outbox as multicast rows and sent by the worker's delivery job to the
project's LINE double with LINE's rate limits on (multicast 200 requests/s, 429 above it).

Sets up N registered parents of one centre (1 % each have stopped お知らせ, withdrawn consent or blocked the bot),
releases one broadcast to the centre (timed: the audience resolved, exclusions counted, rows planned), then runs the
worker's delivery job (``Worker.deliver_due``) until nothing is due. Checks from the double's journal that every
eligible parent got it exactly once and nobody excluded got it, and reports the multicast requests, LINE's answers
(429s counted), the busiest one-second window and the delivery report. Results: docs/benchmarks.md, "Broadcast".

    .venv/bin/python -m bench.broadcast [--count 10000] [--threads 8] [--database-url URL]
"""

from __future__ import annotations

import argparse
import logging
import secrets
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.fanout import machine  # noqa: E402


def populate(count: int) -> dict[str, list[str]]:
    """N parents of 南本町 who consented; every 100th has stopped お知らせ, withdrawn consent, or blocked the bot."""
    from sqlalchemy import insert, select

    from handlers.registration.policy_text import POLICY_TEXT
    from storage import people
    from storage.clock import now
    from storage.db import unit_of_work
    from storage.models import BroadcastOptOut, ConsentRecord, LineUser, Parent

    moment = now()
    user_ids = ["U" + secrets.token_hex(16) for _ in range(count)]
    groups = {"opted_out": user_ids[0::100], "no_consent": user_ids[1::100], "blocked": user_ids[2::100]}
    with unit_of_work() as session:
        if session.scalar(select(LineUser.id).limit(1)) is not None:
            raise SystemExit("the bench needs an empty database (a fresh one for each run)")
        policy = people.ensure_policy(session, POLICY_TEXT)
        blocked = set(groups["blocked"])
        session.execute(
            insert(LineUser),
            [
                {
                    "line_user_id": u,
                    "language": "ja",
                    "status": "blocked" if u in blocked else "active",
                    "created_at": moment,
                }
                for u in user_ids
            ],
        )
        pks = dict(session.execute(select(LineUser.line_user_id, LineUser.id)).all())
        session.execute(
            insert(Parent),
            [
                {
                    "line_user_pk": pks[u],
                    "name": "船橋 花子",
                    "furigana": "ふなばし はなこ",
                    "phone": "09012345678",
                    "is_guardian": True,
                    "is_pregnant": False,
                    "centre": "minamihoncho",
                    "registered_at": moment,
                    "updated_at": moment,
                }
                for u in user_ids
            ],
        )
        no_consent = set(groups["no_consent"])
        session.execute(
            insert(ConsentRecord),
            [
                {
                    "line_user_pk": pks[u],
                    "policy_version_id": policy.id,
                    "answer": "agreed",
                    "channel": "line",
                    "answered_at": moment,
                }
                for u in user_ids
                if u not in no_consent
            ],
        )
        parents = dict(session.execute(select(Parent.line_user_pk, Parent.id)).all())
        session.execute(
            insert(BroadcastOptOut), [{"parent_id": parents[pks[u]], "created_at": moment} for u in groups["opted_out"]]
        )
    return {"all": user_ids, **groups}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=8, help="sending threads of the worker")
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    args = parser.parse_args()

    from bot.app import create_app
    from bot.demo.line_double import LINE_RATE_LIMITS, LineDouble
    from scheduler.worker import Worker
    from services import broadcasts as broadcast_notices
    from storage import broadcasts, migrate, outbox
    from storage.clock import now
    from storage.db import unit_of_work

    scratch = tempfile.TemporaryDirectory(prefix="broadcast-")
    url = args.database_url or f"sqlite:///{scratch.name}/broadcast.sqlite3"
    double = LineDouble(rate_limits=True).start()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    try:
        migrate.upgrade(url)
        app = create_app(
            {
                "mode": "test",
                "database_url": url,
                "line_api_base_url": double.base_url,
                "line_channel_access_token": "bench-token",
                "public_base_url": "http://127.0.0.1:8000",
                "inline_processing": False,
                "quiet_hours": "off",
                "delivery_threads": args.threads,
            }
        )
        logging.getLogger().setLevel(logging.WARNING)
        runtime = app.extensions["kosodate"]
        t0 = time.perf_counter()
        people = populate(args.count)
        setup = time.perf_counter() - t0

        t0 = time.perf_counter()
        with unit_of_work() as session:
            broadcast = broadcasts.create(
                session,
                audience=broadcasts.Audience("centre", "minamihoncho"),
                text="台風のため、明日はお休みです。",
                card_event_id=None,
                image_url=None,
                urgent=False,
                send_at=now(),
                author_id=None,
                estimated=0,
                needs_approval=False,
            )
            eligible = broadcast_notices.release(session, broadcast, threshold=args.count)
            broadcast_id = broadcast.id
        releasing = time.perf_counter() - t0

        worker = Worker(runtime)
        t0 = time.perf_counter()
        while True:
            if not worker.deliver_due():
                with unit_of_work() as session:
                    if outbox.backlog(session)[0] == 0:
                        break
                time.sleep(0.05)  # a row waits for its retry after a 429
        sending = time.perf_counter() - t0
        worker.close()
        with unit_of_work() as session:
            report = broadcasts.report(session, session.get(broadcasts.Broadcast, broadcast_id))
    finally:
        double.stop()
        scratch.cleanup()

    calls = double.requests(r"^/v2/bot/message/multicast$")
    statuses = Counter(e["status"] for e in calls)
    received = Counter(u for e in calls if e["status"] == 200 for u in e["json"]["to"])
    per_second = Counter(int(e["ts"]) for e in calls)
    excluded = set(people["opted_out"]) | set(people["no_consent"]) | set(people["blocked"])
    lost = [u for u in people["all"] if u not in excluded and received[u] == 0]
    twice = [u for u, n in received.items() if n > 1]
    wrongly = [u for u in excluded if received[u]]
    print(f"machine        : {machine()}")
    print(
        f"database       : {url.split(':')[0]}; worker x {args.threads} threads; LINE double with LINE's limits "
        f"(multicast {LINE_RATE_LIMITS['/v2/bot/message/multicast']}/s)"
    )
    print(f"setup          : {args.count} parents in {setup:.1f} s")
    print(f"release        : {eligible} recipients resolved and planned in {releasing:.2f} s")
    print(
        f"sending        : {sending:.2f} s wall; {len(calls)} multicast requests, busiest second "
        f"{max(per_second.values(), default=0)} requests"
    )
    print(f"LINE answered  : {dict(statuses)} (429s: {statuses.get(429, 0)})")
    print(
        f"report         : planned {report.planned}, sent {report.sent}, excluded {report.excluded}, "
        f"failed {report.failed}, waiting {report.waiting}"
    )
    print(f"lost           : {len(lost)}; twice: {len(twice)}; excluded but received: {len(wrongly)}")
    if lost or twice or wrongly or report.sent != eligible:
        raise SystemExit("FAILED: a parent was missed, reached twice, or reached though excluded")


if __name__ == "__main__":
    main()
