"""Small public pages: the health checks, the metrics, the policy text."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, render_template, request

from handlers.registration.policy_text import POLICY_TEXT, policy_hash
from runtime import metrics
from runtime.notify import division_defaults
from storage import health, outbox, people, routing
from storage.clock import now
from storage.db import get_engine, get_inbox_engine, inbox_unit_of_work, ping, unit_of_work

bp = Blueprint("pages", __name__)

# /healthz?full=1 answers 503 past these: reminders and answers have stopped, whatever the web process says.
WORKER_SILENT_SECONDS = 60
INBOX_WAIT_SECONDS = 60
# The jobs whose silence a parent notices: each needs a worker that ticked within WORKER_SILENT_SECONDS.
VITAL_JOBS = ("inbox-sweep", "outbox-deliver", "reminders-plan")


@bp.get("/healthz")
def healthz():
    """Cheap for load balancers (the databases answer); ``?full=1`` is the readiness report (``/readyz``)."""
    if request.args.get("full"):
        return readyz()
    ok = ping()  # the main database and, on SQLite, the inbox's own file
    return jsonify(status="ok" if ok else "unavailable", database=ok), (200 if ok else 503)


@bp.get("/readyz")
def readyz():
    """The databases, the workers' last ticks, what waits in the inbox and the outbox: 503 with the reasons when
    a parent would notice (no worker tick for 60 s, an event waiting for over 60 s). Counts and ages only."""
    report, problems = readiness()
    report.update(status="unavailable" if problems else "ok", problems=problems)
    return jsonify(report), (503 if problems else 200)


def readiness() -> tuple[dict, list[str]]:
    moment = now()
    databases = {"main": health.reachable(get_engine()), "inbox": health.reachable(get_inbox_engine())}
    report: dict = {"databases": databases}
    problems = [f"the {name} database does not answer" for name, up in databases.items() if not up]
    if databases["inbox"]:
        with inbox_unit_of_work(read_only=True) as session:
            pending, oldest = health.inbox_pending(session)
        waited = _age(moment, oldest)
        report["inbox"] = {"pending": pending, "oldest_pending_age_seconds": waited}
        if waited is not None and waited > INBOX_WAIT_SECONDS:
            problems.append(f"a webhook event has waited {waited:.0f} s to be processed")
    if databases["main"]:
        with health.reading() as session:
            due, oldest_due = outbox.backlog(session)
            beats = health.heartbeats(session)
            # Reported, not a 503: nobody on duty at night is a setting to fix, not a broken process.
            unreachable = routing.unreachable_centres(
                session, moment, division_defaults(current_app.extensions["kosodate"].config)
            )
        report["escalations"] = {"unreachable_centres": unreachable}
        report["outbox"] = {"due": due, "oldest_due_age_seconds": _age(moment, oldest_due)}
        report["workers"] = [
            {"name": b.name, "jobs": list(b.jobs), "last_tick_age_seconds": round(b.age(moment), 1)} for b in beats
        ]
        for job in VITAL_JOBS:
            ages = [b.age(moment) for b in beats if job in b.jobs]
            if not ages:
                problems.append(f"no worker has ever run {job}")
            elif min(ages) > WORKER_SILENT_SECONDS:
                problems.append(f"no worker running {job} has ticked for {min(ages):.0f} s")
    return report, problems


def _age(moment, since) -> float | None:
    return round(max(0.0, (moment - since).total_seconds()), 1) if since is not None else None


@bp.get("/metrics")
def prometheus_metrics():
    """Prometheus text format (runtime/metrics.py), for a bearer of ``METRICS_TOKEN`` or, without one, loopback only."""
    refused = metrics.refusal(
        request.headers.get("Authorization"),
        request.remote_addr,
        current_app.extensions["kosodate"].config.metrics_token,
        forwarded=any(request.headers.get(h) for h in metrics.FORWARDING_HEADERS),
    )
    if refused == 401:
        return Response("Unauthorized\n", 401, {"WWW-Authenticate": 'Bearer realm="metrics"'}, mimetype="text/plain")
    if refused:
        return Response(
            "Forbidden: set METRICS_TOKEN to read /metrics from elsewhere\n", refused, mimetype="text/plain"
        )
    body, content_type = metrics.exposition(request.headers.get("Accept"))
    return Response(body, 200, {"Cache-Control": "no-store"}, content_type=content_type)


@bp.get("/policy")
def policy():
    """The policy in force: the newest published version (staff can publish one), else the shipped text."""
    with unit_of_work() as session:
        current = people.current_policy(session)
        text, digest = (current.text, current.content_hash) if current else (POLICY_TEXT, policy_hash())
    return render_template("policy.html", text=text, version=digest[:12])
