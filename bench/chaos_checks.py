"""The invariants a chaos run (bench/chaos.py) must keep, checked afterwards from the database, the LINE double's
journal, the driver's record of webhook deliveries and kills, and the processes' logs."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text


@dataclass
class Evidence:
    url: str
    key: str
    line: Any  # bench.chaos.Line
    parents: list
    staff_user: str
    windows: list
    logs: list[Path]
    conference: dict[str, str]
    run_end: float
    kills: dict[str, int]
    db_crashed: bool
    workdir: Path | None = None


@dataclass
class Result:
    name: str
    ok: bool
    detail: str
    problems: list[str] = field(default_factory=list)


def epoch(moment: datetime | None) -> float | None:
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def accepted_sends(e: Evidence) -> list[dict[str, Any]]:
    """Every message request LINE accepted (200), in order."""
    return [x for x in e.line.double.requests("/v2/bot/message/") if x["status"] == 200]


# --- 1 ------------------------------------------------------------------------------------------------------------
def webhooks_once(e: Evidence, session) -> Result:
    from storage.models import InboxEvent, OutboxMessage

    accepted = e.line.accepted
    rows = dict(session.execute(select(InboxEvent.webhook_event_id, InboxEvent.status)).all())
    missing = [i for i in accepted if i not in rows]
    unfinished = Counter(rows[i] for i in accepted if i in rows and rows[i] != "done")
    twice = session.execute(
        select(OutboxMessage.reply_token, func.count())
        .where(OutboxMessage.purpose.in_(("reply", "apology")), OutboxMessage.reply_token.is_not(None))
        .group_by(OutboxMessage.reply_token)
        .having(func.count() > 1)
    ).all()
    problems = [f"accepted but not stored: {len(missing)}"] if missing else []
    problems += [f"accepted but {status}: {n}" for status, n in unfinished.items()]
    problems += [f"answered twice: {len(twice)} events"] if twice else []
    return Result(
        "every accepted webhook event processed exactly once",
        not problems,
        f"{len(accepted)} accepted ({e.line.redelivered} delivered again), "
        f"{sum(1 for i in accepted if rows.get(i) == 'done')} processed, {len(twice)} answered twice",
        problems,
    )


# --- 2 ------------------------------------------------------------------------------------------------------------
def reminders(e: Evidence, session) -> Result:
    from runtime.delivery import batch_retry_key
    from storage.models import OutboxMessage

    pushed: dict[str, list[float]] = defaultdict(list)
    for x in accepted_sends(e):
        if x["retry_key"]:
            pushed[x["retry_key"]].append(x["ts"])
    rows = session.scalars(select(OutboxMessage).where(OutboxMessage.purpose == "reminder")).all()
    counts, reasons, problems = Counter(), Counter(), []
    delivered_to: Counter = Counter()
    for row in rows:
        if row.not_before is None or epoch(row.not_before) > e.run_end:
            counts["not due yet"] += 1
            continue
        times = [t for i in range(3) for t in pushed.get(batch_retry_key(row.retry_key, i), [])]
        start = epoch(row.not_after)
        if len(times) > 1:
            problems.append(f"reminder {row.id} delivered {len(times)} times")
        elif len(times) == 1:
            counts["delivered once"] += 1
            delivered_to[row.dedupe_key.rsplit(":", 3)[0] + ":" + row.dedupe_key.rsplit(":", 3)[1]] += 1
            if start is not None and times[0] > start:
                problems.append(f"reminder {row.id} sent {times[0] - start:.1f} s after the event started")
        elif row.status == "expired" and row.last_error:
            counts["expired"] += 1
            reasons[row.last_error.split(":")[0]] += 1
        else:
            problems.append(f"reminder {row.id} due, neither delivered nor expired ({row.status}: {row.last_error})")
    problems += [f"{key}: {n} reminders of one kind to one participant" for key, n in delivered_to.items() if n > 1]
    detail = ", ".join(f"{n} {what}" for what, n in counts.items()) or "none due"
    if reasons:
        detail += "; expired because: " + "; ".join(f"{why} ({n})" for why, n in reasons.most_common())
    return Result(
        "every due reminder delivered once or expired with a reason, none after the start",
        not problems and counts["delivered once"] > 0,
        detail,
        problems,
    )


# --- 3 ------------------------------------------------------------------------------------------------------------
TOKEN = re.compile(r"/j/([A-Za-z0-9_\-]{20,})")


def join_links(e: Evidence, session) -> Result:
    from storage import crypto
    from storage.models import Enrollment, Event, JoinLink, LineUser, OutboxMessage, Parent

    secrets = [v for k, v in e.conference.items() if k != "conference_service"]
    problems, checked = [], 0
    purposes = dict(session.execute(select(OutboxMessage.retry_key, OutboxMessage.purpose)).all())
    owners: dict[str, tuple] = {}
    for link, enrollment, event, user in session.execute(
        select(JoinLink, Enrollment, Event, LineUser)
        .join(Enrollment, Enrollment.id == JoinLink.enrollment_id)
        .join(Event, Event.id == Enrollment.event_id)
        .join(Parent, Parent.id == Enrollment.parent_id)
        .join(LineUser, LineUser.id == Parent.line_user_pk)
    ):
        owners[link.token_hash] = (link, enrollment, event, user)
    for x in accepted_sends(e):
        body = x["json"] or {}
        recipients = body.get("to") if isinstance(body.get("to"), list) else [body.get("to") or x.get("reply_to")]
        content = json.dumps(body.get("messages", []), ensure_ascii=False)
        problems += [f"conference detail {s[:6]}… sent in a message" for s in secrets if s in content]
        for token in TOKEN.findall(content):
            checked += 1
            found = owners.get(crypto.token_hash(token))
            if found is None:
                problems.append("a join link that is not in the database was sent")
                continue
            link, enrollment, event, user = found
            at = x["ts"]
            revoked, withdrawn = epoch(link.revoked_at), epoch(enrollment.withdrawn_at)
            how = f"{purposes.get(x['retry_key'], 'reply') if x['retry_key'] else 'reply'} at {at:.3f}"
            if recipients != [user.line_user_id]:
                problems.append(f"join link of enrollment {enrollment.id} sent to someone else ({how})")
            elif at < epoch(link.created_at):
                problems.append(f"join link of enrollment {enrollment.id} sent before it was made ({how})")
            elif revoked is not None and at >= revoked:
                problems.append(
                    f"join link of enrollment {enrollment.id} ({enrollment.status}) sent {at - revoked:.3f} s "
                    f"after it was revoked ({link.revoke_reason}; {how})"
                )
            elif withdrawn is not None and at >= withdrawn:
                problems.append(
                    f"join link of enrollment {enrollment.id} sent {at - withdrawn:.3f} s after the "
                    f"application was withdrawn ({how})"
                )
    return Result(
        "join links only to eligible participants; never the meeting URL/ID/passcode",
        not problems,
        f"{checked} join links in {len(accepted_sends(e))} accepted messages checked",
        problems,
    )


# --- 4 ------------------------------------------------------------------------------------------------------------
def escalations(e: Evidence, session) -> Result:
    from storage.models import Escalation, OutboxMessage, ReportEvent

    pushed = Counter(x["retry_key"] for x in accepted_sends(e) if x["retry_key"])
    rows = session.scalars(select(Escalation)).all()
    notified = Counter(session.scalars(select(ReportEvent.escalation_id).where(ReportEvent.action == "notified")))
    alerts: dict[int, int] = Counter()
    for row in session.scalars(select(OutboxMessage).where(OutboxMessage.purpose == "staff_alert")):
        escalation_id = int(row.dedupe_key.split(":")[1])
        if ":new:" in row.dedupe_key:
            alerts[escalation_id] += pushed[row.retry_key]
    problems = []
    for row in rows:
        if notified[row.id] != 1:
            problems.append(f"{row.reference}: staff notified {notified[row.id]} times")
        if alerts[row.id] != 1:
            problems.append(f"{row.reference}: {alerts[row.id]} alerts delivered to the staff member on duty")
    known = {row.reference for row in rows}
    received = {ref for p in e.parents for ref in p.references}
    problems += [f"{ref} given to a parent but not in the database" for ref in received - known]
    return Result(
        "every report escalated once",
        not problems and bool(rows),
        f"{len(rows)} escalations, {sum(alerts.values())} staff alerts delivered, "
        f"{len(received)} receipts read by parents",
        problems,
    )


# --- 5 ------------------------------------------------------------------------------------------------------------
def no_errors_beyond_kills(e: Evidence) -> Result:
    ports = {port: f"web{i + 1}" for i, port in enumerate(e.line.ports)}
    failed = [a for a in e.line.attempts if a.status != "200"]
    excused = 0
    problems = []
    for attempt in failed:
        covered = any(
            w.who in (ports[attempt.port], "postgres") and attempt.started <= w.end and attempt.ended >= w.start
            for w in e.windows
        )
        if covered and not attempt.status.startswith("4"):
            excused += 1
        else:
            problems.append(f"{attempt.status} from {ports[attempt.port]} at {attempt.ended:.1f} outside a kill")
    problems += [f"{len(e.line.given_up)} events never accepted"] if e.line.given_up else []
    return Result(
        "no 5xx to LINE beyond the killed moments",
        not problems,
        f"{len(e.line.attempts)} deliveries, {len(failed)} not answered 200, all {excused} while a process "
        f"or the database was down"
        if not problems
        else f"{len(failed)} failed, {excused} excused",
        problems[:20],
    )


# --- 6 ------------------------------------------------------------------------------------------------------------
CONSISTENCY = {
    "applications without parent or event": "SELECT count(*) FROM enrollments e LEFT JOIN parents p ON p.id = "
    "e.parent_id LEFT JOIN events v ON v.id = e.event_id WHERE p.id IS NULL OR v.id IS NULL",
    "join links without application": "SELECT count(*) FROM join_links l LEFT JOIN enrollments e ON e.id = "
    "l.enrollment_id WHERE e.id IS NULL",
    "applications with two live links": "SELECT count(*) FROM (SELECT enrollment_id FROM join_links WHERE revoked_at "
    "IS NULL GROUP BY enrollment_id HAVING count(*) > 1) t",
    "live links of applications not confirmed": "SELECT count(*) FROM join_links l JOIN enrollments e ON e.id = "
    "l.enrollment_id WHERE l.revoked_at IS NULL AND e.status <> 'confirmed'",
    "events over capacity": "SELECT count(*) FROM events v WHERE capacity < (SELECT count(*) FROM enrollments e WHERE "
    "e.event_id = v.id AND e.status IN ('confirmed', 'pending'))",
    "waitlist left waiting beside a free seat": "SELECT count(*) FROM events v WHERE v.status = 'published' AND "
    "capacity > (SELECT count(*) FROM enrollments e WHERE e.event_id = v.id AND e.status IN ('confirmed', 'pending')) "
    "AND EXISTS (SELECT 1 FROM enrollments e WHERE e.event_id = v.id AND e.status = 'waitlisted')",
    "parents without LINE account": "SELECT count(*) FROM parents p LEFT JOIN line_users u ON u.id = p.line_user_pk "
    "WHERE u.id IS NULL",
    "children without parent": "SELECT count(*) FROM children c LEFT JOIN parents p ON p.id = c.parent_id "
    "WHERE p.id IS NULL",
    "conversation states without LINE account": "SELECT count(*) FROM conversation_states c LEFT JOIN line_users u ON "
    "u.id = c.line_user_pk WHERE u.id IS NULL",
    "escalations without report or loan request": "SELECT count(*) FROM escalations x WHERE NOT EXISTS (SELECT 1 FROM "
    "lost_credential_reports r WHERE r.escalation_id = x.id) AND NOT EXISTS (SELECT 1 FROM loan_requests l WHERE "
    "l.escalation_id = x.id)",
    "webhook events pending or failed": "SELECT count(*) FROM inbox_events WHERE status <> 'done'",
    "messages due and not sent": "SELECT count(*) FROM outbox_messages WHERE status = 'planned' AND next_attempt_at "
    "<= now() AT TIME ZONE 'UTC'",
}


def consistency(e: Evidence, session) -> Result:
    from storage.models import LostCredentialReport

    problems = []
    for what, sql in CONSISTENCY.items():
        n = session.scalar(text(sql))
        if n:
            problems.append(f"{what}: {n}")
    held = {i for ids in session.scalars(select(LostCredentialReport.held_enrollment_ids)) for i in ids or []}
    unlinked = (
        session.execute(
            text(
                "SELECT e.id FROM enrollments e JOIN events v ON v.id = e.event_id WHERE e.status = 'confirmed' AND "
                "v.status = 'published' AND NOT EXISTS (SELECT 1 FROM join_links l WHERE l.enrollment_id = e.id AND "
                "l.revoked_at IS NULL)"
            )
        )
        .scalars()
        .all()
    )
    missing = [i for i in unlinked if i not in held]
    if missing:
        problems.append(f"confirmed applications without a live link (not held by a report): {len(missing)}")
    counts = {
        t: session.scalar(text(f"SELECT count(*) FROM {t}"))
        for t in ("parents", "enrollments", "join_links", "outbox_messages")
    }
    failed = session.scalar(text("SELECT count(*) FROM outbox_messages WHERE status = 'failed'"))
    return Result(
        "database consistent (no orphan rows)",
        not problems,
        ", ".join(f"{n} {t}" for t, n in counts.items()) + f"; {failed} messages failed for good; "
        f"{len(CONSISTENCY) + 1} checks",
        problems,
    )


# --- 7 ------------------------------------------------------------------------------------------------------------
def logs_private(e: Evidence, session) -> Result:
    from storage import crypto
    from storage.models import Enrollment, JoinLink
    from tests.privacy_plugin import Line, find_leaks

    registered = [("line_user_id", p.user_id) for p in e.parents] + [("line_user_id", e.staff_user)]
    registered += [("name", p.name) for p in e.parents] + [("phone", p.phone) for p in e.parents]
    registered += [("join_token", crypto.unseal(t)) for t in session.scalars(select(JoinLink.token_sealed))]
    registered += [
        ("join_token", crypto.unseal(t))
        for t in session.scalars(
            select(Enrollment.calendar_token_sealed).where(Enrollment.calendar_token_sealed.is_not(None))
        )
    ]
    registered += [("secret", v) for k, v in e.conference.items() if k != "conference_service"]
    lines = []
    for path in e.logs:
        for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                record = json.loads(raw)
                lines.append(Line(record.get("logger", "?"), record.get("level", "?"), raw, ""))
            except ValueError:
                lines.append(Line(path.stem, "stderr", raw, ""))
    leaks = [leak for leak in find_leaks(lines, registered) if leak.written]
    return Result(
        "no personal data in any process's log",
        not leaks,
        f"{len(lines)} log lines of {len(e.logs)} processes checked against {len(registered)} values",
        [f"{leak.kind} in {leak.logger}: {leak.line[:160]}" for leak in leaks[:20]],
    )


def check_all(e: Evidence) -> list[Result]:
    from storage import crypto
    from storage.db import init_engine, unit_of_work

    init_engine(e.url)
    crypto.init(e.key)
    with unit_of_work() as session:
        results = [
            webhooks_once(e, session),
            reminders(e, session),
            join_links(e, session),
            escalations(e, session),
            no_errors_beyond_kills(e),
            consistency(e, session),
            logs_private(e, session),
        ]
    return results


def late_answers(e: Evidence) -> str:
    """What became of the answers a parent stopped waiting for: sent later (how much later), or never."""
    from storage.db import unit_of_work
    from storage.models import OutboxMessage

    waited = {token: sent for p in e.parents for token, sent in p.unanswered}
    if not waited:
        return "none"
    with unit_of_work() as session:
        rows = session.execute(
            select(OutboxMessage.reply_token, OutboxMessage.status, OutboxMessage.sent_at).where(
                OutboxMessage.reply_token.in_(list(waited))
            )
        ).all()
    delays = sorted(epoch(sent_at) - waited[token] for token, status, sent_at in rows if status == "sent")
    never = len(waited) - len(delays)
    late = f"{len(delays)} sent later (after {delays[0]:.0f}–{delays[-1]:.0f} s)" if delays else "0 sent later"
    return f"{late}, {never} not sent (no answer planned, or failed: see the consistency row)"


def _percentile(values: list[float], share: float) -> float:
    return values[min(len(values) - 1, int(share * len(values)))]


FAULT_TARGET = 10.0  # seconds: issue 19's target for an answer a crash or a restart delayed


def answer_delays(e: Evidence) -> list[Result]:
    """How long parents waited for their answers (from the tap to LINE's first acceptance of the answer, by reply or
    by push), each answer put down to the one fault that delayed it, in this order:

    - ``database``: PostgreSQL was down at some moment between the tap and the answer. The delay is the dependency's
      own; what is ours is how fast the answer went once it was back (``from its return``).
    - ``crash``: a process crash or restart: a delivery of the webhook went to a web process that was down (killed,
      restarting, still loading), the web process that accepted it was killed before the answer went out, or a
      worker was killed meanwhile (its sweep or sender may have held the event or the answer; this may blame a
      crash for an answer it did not touch, never the other way). Target: at most 10 s, nobody over 10 s.
    - ``line``: LINE refused one of the answer's requests (429, 500) or did not answer it in time.
    - ``none``: no fault at all: the time the machine took (its load).

    Every answer is written to ``answers.jsonl`` in the run's work directory (times, the web process that took the
    webhook, the cause) for reading afterwards."""
    from runtime.delivery import batch_retry_key
    from storage.db import unit_of_work
    from storage.models import OutboxMessage

    asked = {token: (sent, id(p), event_id) for p in e.parents for token, sent, event_id in p.asked}
    keys: dict[str, set[str]] = {}
    with unit_of_work() as session:
        tokens = list(asked)
        for start in range(0, len(tokens), 5000):
            for token, retry_key in session.execute(
                select(OutboxMessage.reply_token, OutboxMessage.retry_key).where(
                    OutboxMessage.reply_token.in_(tokens[start : start + 5000])
                )
            ):
                keys.setdefault(token, set()).update(batch_retry_key(retry_key, i) for i in range(3))
    by_token: dict[str, list[dict[str, Any]]] = defaultdict(list)
    by_key: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for x in e.line.double.requests("/v2/bot/message/"):
        if x["path"].endswith("/reply"):
            by_token[(x["json"] or {}).get("replyToken")].append(x)
        elif x["retry_key"]:
            by_key[x["retry_key"]].append(x)
    deliveries: dict[str, list[Any]] = defaultdict(list)
    for attempt in e.line.attempts:
        deliveries[attempt.event_id].append(attempt)
    webs = {port: f"web{i + 1}" for i, port in enumerate(e.line.ports)}
    kills = [w for w in e.windows if w.who != "postgres"]
    database = [w for w in e.windows if w.who == "postgres"]
    waits: dict[str, list[tuple[float, int]]] = defaultdict(list)
    since_kill: list[float] = []
    since_database: list[float] = []
    over: dict[str, set[int]] = defaultdict(set)
    never = 0
    lines = []
    for token, key_set in keys.items():
        sent, parent, event_id = asked[token]
        tries = by_token.get(token, []) + [x for k in key_set for x in by_key.get(k, [])]
        accepted = [x["ts"] for x in tries if x["status"] == 200]
        if not accepted:
            never += 1
            continue
        answered = min(accepted)
        wait = answered - sent
        attempts = sorted((a for a in deliveries.get(event_id, []) if a.started < answered), key=lambda a: a.started)
        taken = next((a for a in attempts if a.status == "200"), None)
        cause, kill = _cause(sent, answered, attempts, taken, tries, webs, kills, database)
        if cause == "database":
            since_database.append(answered - max(sent, max(w.back for w in database if w.start <= answered)))
        if kill is not None:  # (a kill before the tap: the process was still coming back when the webhook came)
            since_kill.append(answered - max(kill, sent))
        waits[cause].append((wait, parent))
        if wait > FAULT_TARGET:
            over[cause].add(parent)
            over["any"].add(parent)
        lines.append(
            {
                "sent": round(sent, 3),
                "taken": round(taken.ended, 3) if taken else None,
                "by": webs.get(taken.port) if taken else None,
                "answered": round(answered, 3),
                "wait": round(wait, 3),
                "cause": cause,
                "kill": round(kill, 3) if kill else None,
                "deliveries": [f"{webs[a.port]}:{a.status}" for a in attempts],
                "sends": [
                    f"{x['path'].rsplit('/', 1)[-1]}:{x['status']}{':' + x['fault'] if x.get('fault') else ''}"
                    for x in sorted(tries, key=lambda x: x["ts"])
                ],
            }
        )
    if e.workdir is not None:
        with open(Path(e.workdir) / "answers.jsonl", "w", encoding="utf-8") as out:
            out.writelines(json.dumps(line) + "\n" for line in sorted(lines, key=lambda line: line["sent"]))

    def spread(cause: str) -> str:
        values = sorted(w for w, _ in waits[cause])
        if not values:
            return "none"
        return (
            f"{len(values)} answers, p50 {_percentile(values, 0.5):.1f} s, p99 {_percentile(values, 0.99):.1f} s, "
            f"max {values[-1]:.1f} s; parents over {FAULT_TARGET:.0f} s: {len(over[cause])}"
        )

    crash = sorted(w for w, _ in waits["crash"])
    crash_detail = spread("crash")
    if since_kill:
        crash_detail += f"; from the kill (or the tap, if later) to the answer: max {max(since_kill):.1f} s"
    database_detail = spread("database")
    if since_database:
        database_detail += f"; from the database's return to the answer: max {max(since_database):.1f} s"
    total = sum(len(v) for v in waits.values())
    return [
        Result(
            f"answer delay caused by a process crash or restart (target: max ≤ {FAULT_TARGET:.0f} s, 0 parents over)",
            not over["crash"] and (not crash or crash[-1] <= FAULT_TARGET),
            crash_detail,
        ),
        Result("answers delayed while the database was down", True, database_detail),
        Result("answers delayed by LINE (429, 500, no answer in time)", True, spread("line")),
        Result("answers without any fault (the machine's load)", True, spread("none")),
        Result(
            "every answer",
            not never,
            f"{total} answers ({never} never sent); parents who waited > "
            f"{FAULT_TARGET:.0f} s for any answer: {len(over['any'])}",
        ),
    ]


def _cause(
    sent: float,
    answered: float,
    attempts: list,
    taken: Any,
    tries: list[dict[str, Any]],
    webs: dict[int, str],
    kills: list,
    database: list,
) -> tuple[str, float | None]:
    """The fault that delayed one answer (``answer_delays`` says which wins), and for a crash, the kill's moment."""
    if any(w.start <= answered and w.back >= sent for w in database):
        return "database", None
    blamed = []
    for attempt in attempts:  # a delivery to a web process that was down, dying, or not yet taking work
        blamed += [
            w.start
            for w in kills
            if w.who == webs[attempt.port]
            and w.start <= attempt.ended
            and w.back >= attempt.started
            and (attempt.status != "200" or attempt is taken)
        ]
    if taken is not None:  # killed after taking the webhook, before the answer went out; or a worker killed
        blamed += [
            w.start
            for w in kills
            if taken.ended <= w.start <= answered and (w.who == webs[taken.port] or w.who.startswith("worker"))
        ]
    if blamed:
        return "crash", max(blamed)
    if any(x["status"] != 200 or x.get("fault") for x in tries):
        return "line", None
    return "none", None


def print_table(results: list[Result], e: Evidence, seconds: float) -> bool:
    stuck = [s for p in e.parents for s in p.stuck]
    print()
    print(
        f"chaos run: {len(e.parents)} parents in {seconds:.0f} s; kills {e.kills}; PostgreSQL crashed and "
        f"restarted: {'yes' if e.db_crashed else 'NO'}; parents who waited in vain for an answer at some step: "
        f"{len({id(p) for p in e.parents if p.stuck})} ({len(stuck)} steps)"
    )
    targets = answer_delays(e)
    width = max(len(r.name) for r in results + targets)
    print(f"| {'invariant':{width}} | result | evidence |")
    print(f"| {'-' * width} | ------ | -------- |")
    for r in results:
        print(f"| {r.name:{width}} | {'PASS' if r.ok else 'FAIL'}   | {r.detail} |")
    # Targets, not invariants: printed MET or MISSED (or "—", a figure for the record); the exit status is the
    # invariants'.
    for target in targets:
        verdict = (
            ("MET" if target.ok else "MISSED") if "target" in target.name or target.name == "every answer" else "—"
        )
        print(f"| {target.name:{width}} | {verdict:6} | {target.detail} |")
    for r in results:
        for problem in r.problems[:20]:
            print(f"FAIL {r.name}: {problem}")
    for step in stuck[:10]:
        print(f"waited in vain (not an invariant; LINE faults and kills delay answers): {step}")
    if stuck:
        print(f"answers a parent stopped waiting for: {late_answers(e)}")
    return all(r.ok for r in results) and e.db_crashed
