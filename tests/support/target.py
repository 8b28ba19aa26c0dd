"""A target process for signal and wait_exit tests.

target.py [--exit-on SIG]... [--log-on SIG]... [--ignore SIG]... [--exit-after SECONDS]
          [--exit-delay SECONDS] [--exit-code N] [--pidfile PATH]
Prints "got SIGNAME" for each signal it handles, exits (with --exit-code, default 0) on an
--exit-on signal (--exit-delay seconds later) or after --exit-after seconds, ignores --ignore
signals, writes --pidfile, then announces "ready pid=N".
"""

import argparse
import os
import signal
import sys
import time

parser = argparse.ArgumentParser()
parser.add_argument("--exit-on", action="append", default=[])
parser.add_argument("--log-on", action="append", default=[])
parser.add_argument("--ignore", action="append", default=[])
parser.add_argument("--exit-after", type=float, default=300.0)
parser.add_argument("--exit-delay", type=float, default=0.0)
parser.add_argument("--exit-code", type=int, default=0)
parser.add_argument("--pidfile")
args = parser.parse_args()


def handler(signum, frame):
    name = signal.Signals(signum).name
    print(f"got {name}", flush=True)
    if name.removeprefix("SIG") in [s.removeprefix("SIG") for s in args.exit_on]:
        time.sleep(args.exit_delay)
        sys.exit(args.exit_code)


for sig in args.exit_on + args.log_on:
    signal.signal(getattr(signal, "SIG" + sig.removeprefix("SIG")), handler)
for sig in args.ignore:
    signal.signal(getattr(signal, "SIG" + sig.removeprefix("SIG")), signal.SIG_IGN)
if args.pidfile:
    with open(args.pidfile + ".tmp", "w") as f:
        f.write(f"{os.getpid()}\n")
    os.rename(args.pidfile + ".tmp", args.pidfile)
print(f"ready pid={os.getpid()}", flush=True)
end = time.monotonic() + args.exit_after
while (left := end - time.monotonic()) > 0:
    time.sleep(min(left, 0.05))
sys.exit(args.exit_code)
