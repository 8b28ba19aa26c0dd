"""A stand-in for a container's main process.

Prints "ready pid=N" once its signal handlers are in place, then waits. On SIGTERM (or the
signal named by --stop-signal) it exits with --exit-code after --term-delay seconds, unless
--ignore-term is given. With --run S it exits by itself after S seconds.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--ignore-term", action="store_true")
    p.add_argument("--term-delay", type=float, default=0.0)
    p.add_argument("--exit-code", type=int, default=0)
    p.add_argument("--stop-signal", default="TERM")
    p.add_argument("--run", type=float, default=3600.0)
    p.add_argument("--pidfile")
    args = p.parse_args()
    stop = getattr(signal, "SIG" + args.stop_signal)
    asked: list[float] = []
    signal.signal(stop, signal.SIG_IGN if args.ignore_term else lambda s, f: asked.append(time.monotonic()))
    if args.pidfile:
        with open(args.pidfile, "w") as handle:
            handle.write(f"{os.getpid()}\n")
    print(f"ready pid={os.getpid()}", flush=True)
    end = time.monotonic() + args.run
    while time.monotonic() < end:
        if asked:
            print(f"app: got SIG{args.stop_signal}, exiting in {args.term_delay}s", flush=True)
            time.sleep(args.term_delay)
            return args.exit_code
        time.sleep(0.02)
    print("app: done", flush=True)
    return args.exit_code


if __name__ == "__main__":
    sys.exit(main())
