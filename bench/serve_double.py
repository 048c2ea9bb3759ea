"""Run the project's LINE double as its own process for benchmarks: python -m bench.serve_double PORT [--rate-limits]."""
from __future__ import annotations

import signal
import sys
import threading

from bot.demo.line_double import LineDouble

if __name__ == "__main__":
    double = LineDouble(port=int(sys.argv[1]))
    double.accept_any_reply_token = True
    double.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(f"double on {double.base_url}", flush=True)
    stop.wait()
    double.stop()
