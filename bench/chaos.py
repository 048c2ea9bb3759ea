"""Chaos: the whole system as deployed — two gunicorn web processes, two workers (``kosodate worker``), its own
PostgreSQL cluster, the LINE double answering with random faults (429, 500, answers too late) and LINE's rate
limits — while simulated parents follow, register, consent, apply, cancel and report lost credentials, reading what
the bot sends back and tapping its choices. Meanwhile web and worker processes are killed with SIGKILL at random
moments and restarted, PostgreSQL is crashed and restarted once, and one webhook in ten is delivered again (half of
those at the same moment, to both web processes).

Then the invariants (bench/chaos_checks.py), printed as a table; the exit status is 1 when any is broken:
every accepted webhook event processed exactly once; every due reminder delivered exactly once, or expired with a
reason, and none after its event started; no join link to anyone not eligible when it was sent, and never the
meeting's URL, ID or passcode; every report escalated once; no 5xx (or refused connection) outside the moments a
process or the database was down; no orphan or inconsistent rows; no personal data in any process's log.

    .venv/bin/python -m bench.chaos            # 1,000 parents, about 8 minutes on 2 cores
    .venv/bin/python -m bench.chaos --short    # 100 parents, about 2 minutes (tests/test_chaos.py runs this)

Needs PostgreSQL's server binaries (/usr/lib/postgresql/*/bin) and, when run as root, the ``postgres`` user.
"""

from __future__ import annotations

import argparse
import glob
import logging
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.chaos_checks import Evidence, check_all, print_table  # noqa: E402
from bot.demo.line_double import LineDouble, RandomFaults  # noqa: E402
from tests.support import ChatUser, body_of, event, sign  # noqa: E402

SECRET = "c4a05c4a05c4a05c4a05c4a05c4a05ab"  # 32 hex characters, as LINE issues them
CONFERENCE = {
    "conference_service": "Zoom",
    "join_url": "https://zoom.example.test/j/81234567890?pwd=ChAoSpWd",
    "meeting_id": "812 3456 7890",
    "passcode": "chaos-4242",
}
FAMILIES = [
    ("船橋", "ふなばし"),
    ("高根", "たかね"),
    ("習志野", "ならしの"),
    ("市川", "いちかわ"),
    ("松戸", "まつど"),
    ("柏", "かしわ"),
    ("佐倉", "さくら"),
    ("八千代", "やちよ"),
    ("浦安", "うらやす"),
    ("鎌ケ谷", "かまがや"),
    ("白井", "しろい"),
    ("印西", "いんざい"),
    ("成田", "なりた"),
    ("野田", "のだ"),
    ("流山", "ながれやま"),
    ("我孫子", "あびこ"),
    ("四街道", "よつかいどう"),
    ("富里", "とみさと"),
    ("酒々井", "しすい"),
    ("栄", "さかえ"),
]
GIVENS = [
    (g, k)
    for g, k in zip(
        "花子 陽菜 結衣 美咲 さくら 葵 凛 結菜 莉子 芽依 美月 楓 紬 澪 詩 杏 心春 琴音 "
        "彩花 真央 太郎 健太 大翔 蓮 湊 悠真 陽斗 朝陽 颯 樹 蒼 律 海斗 奏太 陸 瑛太 "
        "翔 拓海 優斗 直樹 智子 洋子 恵 久美子 由美 真由美 明美 京子 直美 裕子".split(),
        "はなこ ひな ゆい みさき さくら あおい りん ゆいな りこ めい みつき かえで つむぎ "
        "みお うた あん こはる ことね あやか まお たろう けんた ひろと れん みなと ゆうま "
        "はると あさひ はやて いつき あおい りつ かいと そうた りく えいた しょう たくみ "
        "ゆうと なおき ともこ ようこ めぐみ くみこ ゆみ まゆみ あけみ きょうこ なおみ "
        "ゆうこ".split(),
        strict=True,
    )
]


@dataclass
class Plan:
    parents: int
    threads: int
    soon_minutes: tuple[float, ...]  # events starting this long after the start, so reminders fall due in the run
    offsets: str  # REMINDER_OFFSETS
    kill_every: tuple[float, float]
    faults: str


FULL = Plan(1000, 64, (4.0, 5.0, 6.0, 7.0), "3m,1m", (4.0, 10.0), "429=0.01,500=0.01,timeout=0.005")
SHORT = Plan(100, 32, (1.5, 2.0), "1m", (3.0, 7.0), "429=0.03,500=0.03,timeout=0.02")
# The workers plan reminders once a minute from their start: the database is crashed only after the first plan, or a
# short run could see no reminder at all (a missed plan delays reminders by a minute, and these events are near).
CRASH_DB_AFTER = 70.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


# --- processes ----------------------------------------------------------------------------------------------------
class Postgres:
    """A throwaway cluster of our own, on a free port, run as the postgres user."""

    def __init__(self, workdir: Path, port: int | None = None):
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not found:
            raise SystemExit("chaos: PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin)")
        self.bin = Path(found[-1]).parent
        self.port = port or free_port()
        self.data = workdir / "pg"
        self.data.mkdir()
        self.as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if os.geteuid() == 0:
            shutil.chown(workdir, "postgres")
            shutil.chown(self.data, "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8")
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run(
            [*self.as_postgres, str(self.bin / tool), *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c max_connections=200 "
            "-c fsync=off -c full_page_writes=off"
        )
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.data / "server.log"), "-w", "start")

    def crash(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop")

    def stop(self) -> None:
        try:
            self.crash()
        except subprocess.CalledProcessError:
            pass


class Service:
    """A web or worker process, started in its own process group so that SIGKILL takes it whole."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], log: Path, port: int | None = None):
        self.name, self.command, self.env, self.log, self.port = name, command, env, log, port
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.started = time.monotonic()
        self._log_from = self.log.stat().st_size if self.log.exists() else 0
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                self.command, cwd=ROOT, env=self.env, stdout=out, stderr=out, start_new_session=True
            )

    def wait_ready(self, timeout: float = 60) -> None:
        """Until the process takes work: a web process answers HTTP (gunicorn listens before its worker has loaded
        the app, and requests wait meanwhile), a worker has started its scheduler."""
        deadline = time.monotonic() + timeout
        while not self._ready():
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not come up")
            time.sleep(0.05)

    def _ready(self) -> bool:
        if self.port is None:
            with open(self.log, "rb") as log:
                log.seek(self._log_from)
                return b'"worker starting' in log.read()
        if not listening(self.port):
            return False
        try:
            httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=0.5)
        except httpx.HTTPError:
            return False
        return True

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


# --- LINE: the double, and webhooks as LINE delivers them -----------------------------------------------------------
@dataclass
class Attempt:
    port: int
    started: float
    ended: float
    status: str  # "200", "500", … or the transport error's name
    event_id: str = ""


class Line:
    """The LINE platform for the run: the double (replies, pushes), each user's mailbox, and webhook delivery with
    LINE's redelivery (a failed delivery is tried again until it is accepted)."""

    def __init__(self, faults: str, ports: list[int], rng: random.Random):
        self.double = LineDouble(rate_limits=True, random_faults=RandomFaults.parse(faults, delay=2.5, seed=7))
        self.double.on_request = self._observe
        self.double.start()
        self.ports, self.rng = ports, rng
        self.mail: dict[str, list[dict[str, Any]]] = {}
        self.arrived = threading.Condition()
        self.attempts: list[Attempt] = []
        self.accepted: set[str] = set()
        self.sent_events: dict[str, dict[str, Any]] = {}
        self.redelivered = 0
        self.given_up: list[str] = []
        self._lock = threading.Lock()
        self.client = httpx.Client(timeout=15, limits=httpx.Limits(max_keepalive_connections=0, max_connections=200))

    def _observe(self, entry: dict[str, Any]) -> None:
        if entry.get("status") != 200 or not entry["path"].startswith("/v2/bot/message/"):
            return
        body = entry["json"] or {}
        to = body.get("to") if isinstance(body.get("to"), list) else [body.get("to") or entry.get("reply_to")]
        with self.arrived:
            for user in to:
                if user:
                    self.mail.setdefault(user, []).extend(body.get("messages", []))
            self.arrived.notify_all()

    def wait(self, user: str, seen: int, ready: Callable[[list[dict[str, Any]]], bool], timeout: float) -> list:
        """The messages after the first ``seen`` once ``ready`` says they are enough (or the time is up)."""
        with self.arrived:
            self.arrived.wait_for(lambda: ready(self.mail.get(user, [])[seen:]), timeout)
            return list(self.mail.get(user, [])[seen:])

    def _post(self, raw: bytes, port: int, event_id: str = "") -> str:
        started = time.time()
        try:
            response = self.client.post(
                f"http://127.0.0.1:{port}/callback",
                content=raw,
                headers={"X-Line-Signature": sign(raw, SECRET), "Content-Type": "application/json"},
            )
            status = str(response.status_code)
        except httpx.HTTPError as exc:
            status = type(exc).__name__
        with self._lock:
            self.attempts.append(Attempt(port, started, time.time(), status, event_id))
        return status

    def deliver(self, payload: dict[str, Any]) -> bool:
        """Deliver one webhook event until a web process accepts it; sometimes deliver it again."""
        event_id = payload["webhookEventId"]
        with self._lock:
            self.sent_events[event_id] = payload
        raw = body_of(payload)
        twice_now = self.rng.random() < 0.05
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            port = self.rng.choice(self.ports)
            if twice_now:  # the same event to both web processes at the same moment
                other = threading.Thread(
                    target=self._post, args=(raw, self.ports[1 - self.ports.index(port)], event_id)
                )
                other.start()
                self.redelivered += 1
                twice_now = False
            if self._post(raw, port, event_id) == "200":
                with self._lock:
                    self.accepted.add(event_id)
                if self.rng.random() < 0.05:
                    threading.Thread(target=self._redeliver, args=(payload,), daemon=True).start()
                return True
            time.sleep(self.rng.uniform(0.2, 1.0))
        self.given_up.append(event_id)
        return False

    def _redeliver(self, payload: dict[str, Any]) -> None:
        time.sleep(self.rng.uniform(0.2, 3.0))
        again = {**payload, "deliveryContext": {"isRedelivery": True}}
        self.redelivered += 1
        for _ in range(20):
            if self._post(body_of(again), self.rng.choice(self.ports), payload["webhookEventId"]) == "200":
                return
            time.sleep(0.5)


# --- a parent --------------------------------------------------------------------------------------------------
def all_actions(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every tappable action, quick replies and flex buttons, duplicates kept (carousel cards repeat labels)."""
    out = []
    for m in messages:
        out += [item["action"] for item in (m.get("quickReply") or {}).get("items", [])]
        out += _buttons(m.get("contents"))
    return out


def _buttons(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, dict):
        found = [node["action"]] if node.get("type") == "button" else []
        return found + [a for k, v in node.items() if k != "action" for a in _buttons(v)]
    if isinstance(node, list):
        return [a for v in node for a in _buttons(v)]
    return []


@dataclass
class Parent:
    line: Line
    n: int
    rng: random.Random
    user_id: str = ""
    seen: int = 0
    references: list[str] = field(default_factory=list)
    stuck: list[str] = field(default_factory=list)
    # (reply token, when sent) of the events whose answer did not come in time: the checks look for it afterwards.
    unanswered: list[tuple[str, float]] = field(default_factory=list)
    # (reply token, when sent, webhook event id) of every event that expects an answer: how long each answer took,
    # and what delayed it (chaos_checks.answer_delays).
    asked: list[tuple[str, float, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.user_id = "U" + f"{self.n:08x}" + os.urandom(12).hex()
        family, family_kana = FAMILIES[self.n % len(FAMILIES)]
        given, given_kana = GIVENS[(self.n // len(FAMILIES)) % len(GIVENS)]
        self.name = f"{family} {given}（{family_kana} {given_kana}）"
        self.phone = f"090-{4000 + self.n // 10000:04d}-{self.n % 10000:04d}"

    def send(self, kind: str, want: Callable[[list], bool] | None = None, timeout: float = 30, **extra) -> list:
        token = self.line.double.issue_reply_token()
        self.line.double.bind_reply_token(token, self.user_id)
        sent = time.time()
        payload = event(kind, self.user_id, token, **extra)
        if not self.line.deliver(payload):
            self.stuck.append(f"{kind} never accepted")
            return []
        if kind == "unfollow":
            return []
        self.asked.append((token, sent, payload["webhookEventId"]))
        wanted = want or (lambda messages: bool(messages))
        messages = self.line.wait(self.user_id, self.seen, wanted, timeout)
        self.seen += len(messages)
        if not messages:
            self.stuck.append(f"no answer to {kind} {str(extra)[:60]}")
            self.unanswered.append((token, sent))
        elif not wanted(messages):
            self.stuck.append(f"an answer to {kind} without what was expected")
        return messages

    def say(self, text: str, want=None) -> list:
        return self.send(
            "message", want, message={"type": "text", "id": os.urandom(6).hex(), "text": text, "quoteToken": "q"}
        )

    def tap(self, action: dict[str, Any], want=None) -> list:
        if action["type"] == "postback":
            return self.send("postback", want, postback={"data": action["data"]})
        return self.say(action["text"], want)

    def choose(self, messages: list, label: str, want=None) -> list:
        action = ChatUser.choices(messages).get(label)
        if action is None:
            self.stuck.append(f"no {label!r} among {sorted(ChatUser.choices(messages))[:8]}")
            return []
        return self.tap(action, want)

    # --- what a parent does ------------------------------------------------------------------------------------
    def register_and_consent(self) -> bool:
        has = lambda label: lambda messages: label in ChatUser.choices(messages)  # noqa: E731
        said = self.send("follow", has("就学前の子の保護者"))
        said = self.choose(said, "就学前の子の保護者")
        self.say(self.name)
        self.say(self.phone)
        said = self.say(f"{2023 + self.n % 3}年{1 + self.n % 12}月", has("南本町子育て支援センター"))
        said = self.choose(
            said, self.rng.choice(["南本町子育て支援センター", "高根台子育て支援センター"]), has("登録する")
        )
        said = self.choose(said, "登録する", has("次へ"))
        for _ in range(6):  # the policy, page by page (a page answered twice, by reply and by push, is read once)
            if "同意する" in ChatUser.choices(said) or not said:
                break
            said = self.choose(said, "次へ", lambda m: bool({"次へ", "同意する"} & set(ChatUser.choices(m))))
        said = self.choose(said, "同意する", lambda m: "同意いただき" in ChatUser.texts(m))
        return "同意いただき" in ChatUser.texts(said)

    def apply(self, prefer: list[int]) -> None:
        said = self.say("イベント一覧", lambda m: any("|events|detail|" in a.get("data", "") for a in all_actions(m)))
        details = [a for a in all_actions(said) if "|events|detail|" in a.get("data", "")]
        if not details:
            return
        preferred = [a for a in details if int(a["data"].split("|")[3]) in prefer]
        detail = self.rng.choice(preferred if preferred and self.rng.random() < 0.7 else details)
        said = self.tap(detail)
        choice = next(
            (label for label in ("申し込む", "キャンセル待ちに登録") if label in ChatUser.choices(said)), None
        )
        if choice is None:
            return  # not open (started, closed) or already applied: the card says why
        said = self.choose(
            said, choice, lambda m: bool({"申し込む", "キャンセル待ちに登録する"} & set(ChatUser.choices(m)))
        )
        final = next(
            (label for label in ("申し込む", "キャンセル待ちに登録する") if label in ChatUser.choices(said)), None
        )
        if final is not None:
            self.choose(
                said,
                final,
                lambda m: (
                    "受け付けました" in ChatUser.texts(m)
                    or "登録しました" in ChatUser.texts(m)
                    or "お受けできません" in ChatUser.texts(m)
                    or "いただけません" in ChatUser.texts(m)
                ),
            )

    def cancel(self) -> None:
        said = self.say("申込状況", lambda m: bool(all_actions(m)))
        cancels = [a for a in all_actions(said) if a.get("label") in ("キャンセルする", "申し込みを取り消す")]
        if not cancels:
            return
        said = self.tap(self.rng.choice(cancels), lambda m: "キャンセルする" in ChatUser.choices(m))
        self.choose(said, "キャンセルする", lambda m: "キャンセルしました" in ChatUser.texts(m))

    def report(self) -> None:
        has_any = lambda labels: lambda m: bool(set(labels) & set(ChatUser.choices(m)))  # noqa: E731
        said = self.send("postback", has_any(["参加用リンク"]), postback={"data": "1|report|start||"})
        said = self.choose(said, self.rng.choice(["参加用リンク", "その他"]), has_any(["今日"]))
        said = self.choose(said, "今日", has_any(["いいえ"]))
        said = self.choose(said, "いいえ", has_any(["特になし", "決定", "関係なし・不明"]))
        if "決定" in ChatUser.choices(said) or "関係なし・不明" in ChatUser.choices(said):
            events = [a for a in all_actions(said) if a.get("label", "")[:1].isdigit()]
            if events and self.rng.random() < 0.5:
                said = self.tap(self.rng.choice(events), has_any(["決定"]))
                said = self.choose(said, "決定", has_any(["特になし"]))
            else:
                said = self.choose(said, "関係なし・不明", has_any(["特になし"]))
        said = self.choose(said, "特になし", has_any(["報告する"]))
        receipt = self.choose(said, "報告する", lambda m: "受付番号" in ChatUser.texts(m))
        self.references += re.findall(r"(R-[2-9A-HJ-NP-Z]{6})", ChatUser.texts(receipt))

    def live(self, soon: list[int]) -> None:
        if not self.register_and_consent():
            return
        for _ in range(1 + (self.rng.random() < 0.2)):
            self.apply(soon)
        if self.rng.random() < 0.3:
            self.cancel()
        if self.rng.random() < 0.1:
            self.report()
        if self.rng.random() < 0.05:
            self.send("unfollow")


# --- the monkey ---------------------------------------------------------------------------------------------------
@dataclass
class Window:
    who: str
    start: float  # the kill (the crash)
    end: float  # a little after it was back: excuses the errors of its last moments (chaos_checks)
    back: float = 0.0  # when it took work again: a web process answering, a worker scheduling, PostgreSQL ready


class Monkey(threading.Thread):
    """Kills a random web or worker process with SIGKILL every few seconds and restarts it; crashes PostgreSQL once,
    when ``crash_db_at`` is set."""

    def __init__(self, services: list[Service], postgres: Postgres, every: tuple[float, float], rng: random.Random):
        super().__init__(daemon=True)
        self.services, self.postgres, self.every, self.rng = services, postgres, every, rng
        self.windows: list[Window] = []
        self.kills: dict[str, int] = {}
        self.crash_db = threading.Event()
        self.db_crashed = False
        self.born = time.monotonic()
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.rng.uniform(*self.every)):
            if self.crash_db.is_set() and not self.db_crashed and time.monotonic() - self.born > CRASH_DB_AFTER:
                self._crash_database()
                continue
            # One at a time, so the other web process is up. A worker plans reminders once a minute after it
            # starts: one is killed only when the other has been up longer than that, or no reminder would be planned.
            victim = self.rng.choice([s for s in self.services if s.port or self._other_worker_planned(s)])
            start = time.time()
            victim.kill()
            self.kills[victim.name] = self.kills.get(victim.name, 0) + 1
            time.sleep(self.rng.uniform(0.3, 2.5))
            victim.start()
            victim.wait_ready()
            self.windows.append(Window(victim.name, start, time.time() + 0.5, time.time()))

    def _other_worker_planned(self, worker: Service) -> bool:
        others = [s for s in self.services if not s.port and s is not worker]
        return all(time.monotonic() - s.started > 70 for s in others)

    def _crash_database(self) -> None:
        start = time.time()
        self.postgres.crash()
        time.sleep(self.rng.uniform(1.0, 3.0))
        self.postgres.start()
        self.db_crashed = True
        self.windows.append(Window("postgres", start, time.time() + 5.0, time.time()))


# --- the run ------------------------------------------------------------------------------------------------------
def seed_database(url: str, key: str, plan: Plan, started: datetime) -> tuple[list[int], str]:
    """The events (some starting during the run, so reminders fall due) and an on-duty staff member in LINE."""
    from storage import crypto, events, staff, users
    from storage.db import init_engine, unit_of_work

    init_engine(url)
    crypto.init(key)
    soon = []
    staff_user = "U" + os.urandom(16).hex()
    with unit_of_work() as session:
        specs = [(started + timedelta(minutes=m), 40, i == 1) for i, m in enumerate(plan.soon_minutes)]
        specs += [(started + timedelta(days=7 + i, hours=1), 200, False) for i in range(8)]
        for i, (start, capacity, approval) in enumerate(specs):
            event_row = events.create(
                session,
                centre=("minamihoncho", "takanedai", "division")[i % 3],
                kind="meetup",
                title=f"オンライン交流会{i + 1}",
                description="",
                starts_at=start,
                ends_at=start + timedelta(minutes=2),
                capacity=capacity,
                applications_open_at=started - timedelta(days=1),
                applications_close_at=start - timedelta(seconds=30),
                needs_approval=approval,
                created_by="chaos",
                **CONFERENCE,
            )
            events.publish(session, event_row)
            events.mark_announced(event_row)
            if i < len(plan.soon_minutes):
                soon.append(event_row.id)
        member = staff.create_member(
            session, name="当番 職員", login="duty@city.funabashi.example", centre="division", role="staff"
        )
        member.line_user_pk, member.on_duty = users.get_or_create(session, staff_user).id, True
    return soon, staff_user


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--short", action="store_true", help="100 parents, about 2 minutes")
    parser.add_argument("--parents", type=int, help="how many simulated parents (default 1,000; 100 with --short)")
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, database) afterwards")
    parser.add_argument("--pg-port", type=int, help="port of the run's own PostgreSQL cluster (default: a free one)")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the double's request lines
    plan = SHORT if args.short else FULL
    if args.parents:
        plan = Plan(args.parents, plan.threads, plan.soon_minutes, plan.offsets, plan.kill_every, plan.faults)
    rng = random.Random(args.seed)
    workdir = Path(tempfile.mkdtemp(prefix="kosodate-chaos-"))
    postgres = Postgres(workdir, args.pg_port)
    postgres.start()
    key = Fernet.generate_key().decode()
    webs = [free_port(), free_port()]
    line = Line(plan.faults, webs, rng)
    env = {
        **os.environ,
        "APP_MODE": "production",
        "LINE_CHANNEL_SECRET": SECRET,
        "LINE_CHANNEL_ACCESS_TOKEN": "chaos-token",
        "SECRET_KEY": "9c1f2a8b3d7e4605" * 4,
        "DATA_ENCRYPTION_KEY": key,
        "LINE_API_BASE_URL": line.double.base_url,
        "DATABASE_URL": postgres.url,
        "PUBLIC_BASE_URL": "https://bot.example.jp",
        "LINE_TIMEOUT_SECONDS": "2",
        "REMINDER_OFFSETS": plan.offsets,
        "QUIET_HOURS": "off",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
        "PYTHONPATH": str(ROOT),
        "CONTACT_PHONE": "047-436-2111",
    }
    env.pop("INLINE_PROCESSING", None)
    subprocess.run(
        [sys.executable, "-m", "bot.cli", "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True
    )
    started = datetime.now(UTC)
    soon, staff_user = seed_database(postgres.url, key, plan, started)
    gunicorn = [
        sys.executable,
        "-m",
        "gunicorn",
        "--workers",
        "1",
        "--threads",
        "6",
        "--timeout",
        "30",
        "--log-level",
        "warning",
    ]
    services = [
        Service(
            f"web{i + 1}",
            [*gunicorn, "--bind", f"127.0.0.1:{port}", "bot.app:create_app()"],
            env,
            workdir / f"web{i + 1}.log",
            port,
        )
        for i, port in enumerate(webs)
    ]
    services += [
        Service(f"worker{i + 1}", [sys.executable, "-m", "bot.cli", "worker"], env, workdir / f"worker{i + 1}.log")
        for i in range(2)
    ]
    for service in services:
        service.start()
    for service in services:
        service.wait_ready()
    monkey = Monkey(services, postgres, plan.kill_every, rng)
    parents = [Parent(line, n, random.Random(args.seed * 100_000 + n)) for n in range(plan.parents)]
    print(
        f"chaos: {plan.parents} parents, {len(soon)} events starting within {max(plan.soon_minutes)} minutes, "
        f"LINE faults {plan.faults}; work directory {workdir}",
        flush=True,
    )
    monkey.start()
    finished = 0
    with ThreadPoolExecutor(plan.threads) as pool:
        futures = [pool.submit(p.live, soon) for p in parents]
        for future in futures:
            future.result()
            finished += 1
            if finished >= 0.4 * len(parents):
                monkey.crash_db.set()
    if not monkey.db_crashed:  # a short run can end before the monkey's next turn
        monkey.crash_db.set()
        while not monkey.db_crashed:
            time.sleep(0.2)
    monkey.done.set()
    monkey.join()
    print(
        f"chaos: parents done after {time.time() - started.timestamp():.0f} s; kills {monkey.kills}; "
        "waiting for the events to start and the queues to drain",
        flush=True,
    )
    last_start = started + timedelta(minutes=max(plan.soon_minutes))
    wait_until_quiet(postgres.url, last_start + timedelta(seconds=10))
    for service in services:
        service.stop()
    evidence = Evidence(
        url=postgres.url,
        key=key,
        line=line,
        parents=parents,
        staff_user=staff_user,
        windows=monkey.windows,
        logs=[s.log for s in services],
        conference=CONFERENCE,
        run_end=time.time(),
        kills=dict(monkey.kills),
        db_crashed=monkey.db_crashed,
        workdir=workdir,
    )
    results = check_all(evidence)
    ok = print_table(results, evidence, time.time() - started.timestamp())
    line.double.stop()
    postgres.stop()
    if args.keep or not ok:
        print(f"chaos: work directory kept: {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    raise SystemExit(0 if ok else 1)


def wait_until_quiet(url: str, not_before: datetime, timeout: float = 240) -> None:
    """Until the soon events have started and nothing is left to process, to send, or to expire: a message waiting
    to be tried again after a fault is done only when it was sent, or expired once its moment had passed."""
    from sqlalchemy import func, or_, select

    from storage.db import init_engine, unit_of_work
    from storage.models import InboxEvent, OutboxMessage

    init_engine(url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        moment = datetime.now(UTC)
        with unit_of_work() as session:
            pending = session.scalar(select(func.count()).select_from(InboxEvent).where(InboxEvent.status == "pending"))
            due = session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(
                    OutboxMessage.status == "planned",
                    or_(OutboxMessage.next_attempt_at <= moment, OutboxMessage.not_after <= moment),
                )
            )
        if moment >= not_before and not pending and not due:
            return
        time.sleep(1)


if __name__ == "__main__":
    main()
