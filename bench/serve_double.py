"""Run the project's LINE double as its own process for benchmarks:

    python -m bench.serve_double PORT [--rate-limits] [--faults 429=0.03,500=0.02,timeout=0.01] [--fault-delay 3]

``--rate-limits`` enforces LINE's per-endpoint limits (429 beyond them); ``--faults`` answers that share of message
requests with 429 or 500, or only after ``--fault-delay`` seconds (processed all the same, like a LINE answer lost
on the way).
"""

from __future__ import annotations

import argparse
import signal
import threading

from bot.demo.line_double import LineDouble, RandomFaults

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("--rate-limits", action="store_true")
    parser.add_argument("--faults", default="")
    parser.add_argument("--fault-delay", type=float, default=3.0)
    args = parser.parse_args()
    faults = RandomFaults.parse(args.faults, delay=args.fault_delay) if args.faults else None
    double = LineDouble(port=args.port, rate_limits=args.rate_limits, random_faults=faults)
    double.accept_any_reply_token = True
    double.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(f"double on {double.base_url}", flush=True)
    stop.wait()
    double.stop()
