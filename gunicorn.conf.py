"""gunicorn's configuration for the web process (the Procfile's ``web:`` passes ``-c gunicorn.conf.py``).

The app's configuration is checked here, when the gunicorn master reads this file and before any worker starts: a
missing or weak secret stops gunicorn with the one-line refusal and exit status 1. Checked only in the workers, each
would print it and exit, and gunicorn would boot a new one every second, forever.
"""

import sys

from bot.config import ConfigError, from_environ

try:
    from_environ()
except ConfigError as refusal:
    print(f"kosodate: {refusal}", file=sys.stderr, flush=True)
    sys.exit(1)

# gunicorn's run-time control socket (in the home directory by default) is not used: several copies on one machine
# (a deployment and its staging, the tests) would share it, and systemd's ProtectHome makes the home read-only.
control_socket_disable = True


def child_exit(server, worker):
    """prometheus-client's multi-process mode (``PROMETHEUS_MULTIPROC_DIR``, runtime/metrics.py): a web worker that
    exits takes its live gauges out of /metrics; its counters stay summed in."""
    import os

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
