"""Chaos: the short run of bench/chaos.py (100 parents; web and worker processes killed with SIGKILL, PostgreSQL
crashed once, LINE answering with random faults, webhooks delivered twice) must keep every invariant. It starts its
own PostgreSQL cluster, so it runs in the PostgreSQL tier only. Also here: the LINE double's random faults, which the
run relies on."""

from __future__ import annotations

import glob
import os
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from bot.demo.line_double import LineDouble, RandomFaults

ROOT = Path(__file__).resolve().parent.parent


def test_random_faults_come_in_the_asked_shares_and_only_on_message_paths():
    faults = RandomFaults.parse("429=0.1,500=0.05,timeout=0.05", seed=3)
    drawn = [faults.draw("/v2/bot/message/push") for _ in range(4000)]
    assert abs(drawn.count("429") / 4000 - 0.10) < 0.02 and abs(drawn.count("500") / 4000 - 0.05) < 0.015
    assert abs(drawn.count("timeout") / 4000 - 0.05) < 0.015
    assert {faults.draw("/v2/bot/profile/U1") for _ in range(200)} == {None}
    with pytest.raises(ValueError, match="unknown fault"):
        RandomFaults.parse("503=0.1")


def test_a_late_answer_is_still_a_delivery_and_a_refusal_is_not():
    double = LineDouble(random_faults=RandomFaults(rate_timeout=1.0, delay=0.3)).start()
    answered = threading.Event()
    double.on_request = lambda entry: answered.set()
    try:
        body = {"to": "U" + "a" * 32, "messages": [{"type": "text", "text": "こんにちは"}]}
        headers = {"Authorization": "Bearer t", "X-Line-Retry-Key": "0b0f6d1e-8c52-4c3b-9a55-3f1f3c2a9e01"}
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{double.base_url}/v2/bot/message/push", json=body, headers=headers, timeout=0.1)
        assert answered.wait(5), "LINE finished the request the caller gave up on"
        double.random_faults = RandomFaults(rate_429=1.0)
        refused = httpx.post(f"{double.base_url}/v2/bot/message/push", json=body, headers=headers, timeout=5)
        double.random_faults = None
        again = httpx.post(f"{double.base_url}/v2/bot/message/push", json=body, headers=headers, timeout=5)
        assert refused.status_code == 429
        assert again.status_code == 409, "the late answer was a delivery: the retry key is taken"
        assert [e["fault"] for e in double.requests("/push")] == ["timeout", "429", None]
    finally:
        double.stop()


def _can_run_postgres_servers() -> bool:
    return bool(glob.glob("/usr/lib/postgresql/*/bin/initdb")) and (os.geteuid() != 0 or _has_postgres_user())


def _has_postgres_user() -> bool:
    import pwd

    try:
        pwd.getpwnam("postgres")
        return True
    except KeyError:
        return False


@pytest.mark.postgres
@pytest.mark.timeout(600)
def test_the_short_chaos_run_keeps_every_invariant():
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        pytest.skip("PostgreSQL tier: set DATABASE_URL=postgresql://… to run")
    if not _can_run_postgres_servers():
        pytest.skip("needs PostgreSQL's server binaries (and the postgres user when run as root)")
    run = subprocess.Popen(
        [sys.executable, "-m", "bench.chaos", "--short"],
        cwd=ROOT,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={k: v for k, v in os.environ.items() if k != "DATABASE_URL"},
    )
    try:
        out, err = run.communicate(timeout=540)
    except subprocess.TimeoutExpired:
        run.terminate()  # on SIGTERM the run stops its processes and its PostgreSQL cluster
        out, err = run.communicate(timeout=60)
    table = out[out.find("chaos run:") :]
    assert run.returncode == 0, f"{table}\n{err[-3000:]}"
    assert table.count("| PASS") == 7 and "FAIL" not in table
