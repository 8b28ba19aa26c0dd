"""A stand-in application for the demo: writes a pidfile, quits gracefully on SIGQUIT."""

import os
import signal
import sys
import time

pidfile = sys.argv[1]
stopping = False


def quit_(signum, frame):  # noqa: ANN001
    global stopping
    stopping = True


signal.signal(signal.SIGQUIT, quit_)
signal.signal(signal.SIGTERM, quit_)
time.sleep(0.5)  # start-up work
with open(pidfile + ".tmp", "w") as f:
    f.write(f"{os.getpid()}\n")
os.rename(pidfile + ".tmp", pidfile)
print(f"app: ready pid={os.getpid()}", flush=True)
for _ in range(600):
    if stopping:
        break
    time.sleep(0.1)
print("app: finishing in-flight work", flush=True)
time.sleep(0.7)
os.unlink(pidfile)
print("app: exited cleanly", flush=True)
