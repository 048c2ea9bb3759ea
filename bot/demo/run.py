"""``kosodate demo``: the whole bot in one process on SQLite, with no LINE account.

One process holds the project's LINE double (the bot's LINE_API_BASE_URL points at it), the web app with the
simulator page, and the worker's periodic jobs (``scheduler.worker.build(..., blocking=False)``). Production runs
the web app and the worker as separate processes (Procfile); the demo keeps them together so one command is enough.
"""

from __future__ import annotations

import logging
import secrets
import signal
import threading
from pathlib import Path

from sqlalchemy import make_url
from werkzeug.serving import make_server

from bot.app import create_app
from bot.config import ConfigError
from bot.demo.line_double import LineDouble
from bot.demo.seed import close_console, open_console, seed
from handlers.registration.policy_text import POLICY_TEXT
from scheduler import worker
from storage import migrate, people
from storage.db import inbox_url, unit_of_work

DEMO_CHANNEL_SECRET = "demo-channel-secret"
DEMO_ACCESS_TOKEN = "demo-access-token"
# No quiet hours in the demo: someone trying it at 22:00 in Japan still sees the "starting soon" event's reminder.
DEMO_QUIET_HOURS = "off"


class Demo:
    """``Demo(...).start()``, then ``serve_forever()`` (the command) or ``serve_in_background()`` + ``stop()``."""

    def __init__(self, database: Path, host: str = "127.0.0.1", port: int = 8000, fresh: bool = False):
        self.database = Path(database).absolute()
        self.host, self.port, self.fresh = host, port, fresh
        self.created = False
        self.seeded: list[str] = []
        self.console: tuple[str, str] | None = None  # (login, password) of the demo administrator, this run only
        self._thread: threading.Thread | None = None

    @property
    def database_url(self) -> str:
        return f"sqlite:///{self.database}"

    @property
    def base_url(self) -> str:
        shown = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{shown}:{self.server.server_port}"

    @property
    def simulator_url(self) -> str:
        return self.base_url + "/simulator/"

    def start(self) -> Demo:
        if not loopback_host(self.host):
            # Like APP_MODE=demo with a PUBLIC_BASE_URL elsewhere (bot/config.py): the simulator takes unsigned
            # requests and the console runs without HTTPS, so they are never served to the network.
            raise ConfigError(
                f"kosodate demo runs only on this machine: --host must be a loopback address such as "
                f"127.0.0.1 (got {self.host!r})"
            )
        # The port first: if it is taken, nothing else has been started yet.
        self.server = make_server(self.host, self.port, self._wsgi, threaded=True)
        self._prepare_database()
        self.double = LineDouble().start()
        self.app = create_app(self.settings())
        self.app.extensions["line_double"] = self.double
        self.runtime = self.app.extensions["kosodate"]
        with unit_of_work() as session:
            people.ensure_policy(session, POLICY_TEXT)
            if self.created:
                self.seeded = seed(session)
            self.console = open_console(session)
        # The console is for the person trying the demo: job bookkeeping stays out of it.
        logging.getLogger("apscheduler.scheduler").setLevel(logging.WARNING)
        self.scheduler = worker.build(self.runtime, blocking=False)
        self.scheduler.start()
        return self

    def settings(self) -> dict:
        """The demo app's configuration (nothing from the shell's environment reaches LINE)."""
        return {
            "mode": "demo",
            "database_url": self.database_url,
            "line_api_base_url": self.double.base_url,
            # Fixed throwaway credentials: a real token from the shell never leaves this process.
            "line_channel_secret": DEMO_CHANNEL_SECRET,
            "line_channel_access_token": DEMO_ACCESS_TOKEN,
            "public_base_url": self.base_url,
            "inline_processing": True,
            # Stable across restarts, so what the demo encrypted (join URLs, passcodes) stays readable.
            "secret_key": self._secret_key(),
            "quiet_hours": DEMO_QUIET_HOURS,
        }

    def _secret_key(self) -> str:
        path = Path(self.database).with_name(Path(self.database).stem + ".secret")
        if self.fresh or not path.exists():
            path.write_text(secrets.token_hex(32))
            path.chmod(0o600)
        return path.read_text().strip()

    def _prepare_database(self) -> None:
        if self.fresh:
            inbox = make_url(inbox_url(self.database_url)).database  # the inbox's own file beside it
            for path in (self.database, inbox):
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{path}{suffix}").unlink(missing_ok=True)
        self.created = not self.database.exists()
        self.database.parent.mkdir(parents=True, exist_ok=True)
        migrate.upgrade(self.database_url)

    def _wsgi(self, environ, start_response):
        # The server exists before the app (its port goes into the app's public URL); requests come after both.
        return self.app(environ, start_response)

    def serve_forever(self) -> None:
        """Serve in this thread until Ctrl-C (or SIGTERM), then stop everything."""
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, _interrupt)
        try:
            self.server.serve_forever()  # returns on Ctrl-C (werkzeug catches it) and closes the socket
        finally:
            self.stop()

    def serve_in_background(self) -> Demo:
        self._thread = threading.Thread(target=self.server.serve_forever, name="demo-web", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self.server.shutdown()
            self._thread.join()
            self._thread = None
        self.server.server_close()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        with unit_of_work() as session:
            close_console(session)
        self.runtime.close()
        self.double.stop()

    def banner(self) -> list[str]:
        state = "新規作成 / new" if self.created else "既存 / existing; --fresh で作り直し / to start over"
        lines = [
            "船橋市 子育て支援 LINE ボット — デモ / demo (LINE アカウント不要 / no LINE account needed)",
            f"  シミュレーター / Simulator:  {self.simulator_url}",
            f"  データベース / Database:     {self.database} ({state})",
            f"  LINE ダブル / LINE double:    {self.double.base_url}",
        ]
        if self.seeded:
            lines.append(f"  デモデータ / Demo data:      {', '.join(self.seeded)}")
        if self.console:
            login, password = self.console
            lines += [
                f"  スタッフ画面 / Staff console: {self.base_url}/staff/login",
                f"    ログインID / Login:        {login}",
                f"    パスワード / Password:     {password}  (このデモの間だけ有効 / valid while this demo runs)",
            ]
        lines.append("Ctrl-C で終了 / Ctrl-C to stop")
        return lines


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def loopback_host(host: str) -> bool:
    """Whether listening on ``host`` reaches only this machine (``localhost`` or a loopback address; never the
    wildcard ``0.0.0.0``/``::``, which listens on every interface)."""
    from ipaddress import ip_address

    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False
