"""The demo stays on this machine (issue 13, item 10; second outside probe).

The demo serves the CSRF-exempt simulator, plain-HTTP cookies and a staff console whose administrator password it
prints: like APP_MODE=demo with a PUBLIC_BASE_URL elsewhere, listening on every interface (``--host 0.0.0.0``) or on
a network address would put them on the network. Both are refused with one line, before anything starts.
"""

from __future__ import annotations

import subprocess

import pytest

from tests.operator_support import RAN, command_path, executable


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.2"])
def test_the_demo_refuses_to_listen_beyond_this_machine(tmp_path, host):
    args = ["demo", "--port", "0", "--host", host, "--database", str(tmp_path / "demo.sqlite3")]
    RAN.add(command_path(args))
    done = subprocess.run(
        [executable("kosodate"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8"},
    )
    assert done.returncode != 0
    assert "--host" in done.stderr and "127.0.0.1" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "demo.sqlite3").exists()
