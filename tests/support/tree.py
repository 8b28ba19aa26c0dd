"""A process tree for crash tests, run as a step's command.

Appends "run" to the file given as argv[1], then, unless argv[2] exists ("release"), starts
a grandchild that leaves the session (setsid + double fork) and sleeps. Both ignore
SIGTERM and announce themselves with "ready pid=N" lines on stdout. Bounded: 120 s.
"""

from __future__ import annotations

import os
import signal
import sys
import time

signal.signal(signal.SIGTERM, signal.SIG_IGN)
with open(sys.argv[1], "a") as count:
    count.write("run\n")
if os.path.exists(sys.argv[2]):
    sys.exit(0)
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        print(f"ready pid={os.getpid()} grandchild", flush=True)
        time.sleep(120)
    os._exit(0)
print(f"ready pid={os.getpid()} main", flush=True)
time.sleep(120)
