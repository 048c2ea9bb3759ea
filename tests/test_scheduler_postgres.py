"""The running worker survives PostgreSQL restarting under it: jobs fail while it is away, and pick up again when it
is back, without a restart. Uses a disposable cluster of its own (initdb/pg_ctl) on a free port."""

from __future__ import annotations

import logging
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.app import create_app
from scheduler.worker import build
from storage import migrate
from tests.conftest import SECRET
from tests.scheduler_support import InFlight, plan_text
from tests.support import new_user_id

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith("postgres"),
        reason="PostgreSQL tier: set DATABASE_URL=postgresql://… to run",
    ),
]

# PG_BIN, else the newest installed server (Debian's layout), as .ci/run does.
PG_BIN = Path(
    os.environ.get("PG_BIN")
    or max(
        (str(p.parent) for p in Path("/usr/lib/postgresql").glob("*/bin/initdb")),
        default="/usr/lib/postgresql/15/bin",
        key=lambda d: int(Path(d).parent.name) if Path(d).parent.name.isdigit() else 0,
    )
)


@dataclass
class Cluster:
    data: Path
    port: int
    as_user: list[str]

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def ctl(self, *args: str) -> None:
        subprocess.run(
            [*self.as_user, str(PG_BIN / "pg_ctl"), "-D", str(self.data / "data"), "-w", *args],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off"
        self.ctl("-o", options, "-l", str(self.data / "log"), "start")

    def stop(self) -> None:
        self.ctl("-m", "fast", "stop")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def cluster():
    if not (PG_BIN / "initdb").exists():
        pytest.skip(f"no initdb in {PG_BIN} (set PG_BIN)")
    as_user: list[str] = []
    data = Path(tempfile.mkdtemp(prefix="kosodate-pg-"))
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: run the cluster as the 'postgres' user
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user to own a disposable cluster")
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser")
        os.chown(data, owner.pw_uid, owner.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [*as_user, str(PG_BIN / "initdb"), "-D", str(data / "data"), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    found = Cluster(data, _free_port(), as_user)
    found.start()
    yield found
    try:
        found.stop()
    except subprocess.CalledProcessError:
        pass  # already stopped
    shutil.rmtree(data, ignore_errors=True)


class Seen(logging.Handler):
    """Sets ``event`` when a log record containing ``words`` is emitted."""

    def __init__(self, words: str):
        super().__init__()
        self.words, self.event = words, threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.words in record.getMessage():
            self.event.set()


def test_the_running_worker_recovers_when_postgresql_restarts(cluster, line, monkeypatch):
    migrate.upgrade(cluster.url)
    app = create_app(
        {
            "mode": "test",
            "database_url": cluster.url,
            "line_api_base_url": line.base_url,
            "line_channel_secret": SECRET,
            "line_channel_access_token": "test-token",
            "inline_processing": False,
            "line_timeout_seconds": 2.0,
        }
    )
    runtime = app.extensions["kosodate"]
    watch = InFlight(line)
    monkeypatch.setattr(line, "handle", watch.handle)
    failing = Seen("job outbox-deliver failed this tick")
    logging.getLogger("scheduler.worker").addHandler(failing)
    scheduler = build(runtime, blocking=False)
    scheduler.start()
    try:
        before, after = new_user_id(), new_user_id()
        plan_text(before)
        watch.wait_until(lambda: line.delivered(to=before), 30)

        cluster.stop()
        assert failing.event.wait(30), "the delivery job did not notice the database going away"
        assert scheduler.running

        cluster.start()  # returns once PostgreSQL accepts connections
        plan_text(after)
        watch.wait_until(lambda: line.delivered(to=after), 30)
    finally:
        logging.getLogger("scheduler.worker").removeHandler(failing)
        scheduler.shutdown()
        runtime.close()
        runtime.engine.dispose()
    assert len(line.delivered(to=before)) == len(line.delivered(to=after)) == 1
