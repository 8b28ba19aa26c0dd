"""What the tests share: running the real CLI (cli.py), watching processes and waiting for
readiness (procs.py), scripted servers (servers.py), and helper programs run as real
processes (target.py, tree.py) that announce themselves with "ready pid=N" lines."""

from pathlib import Path

SUPPORT = Path(__file__).parent
ROOT = SUPPORT.parents[1]
TARGET = SUPPORT / "target.py"  # a process that exits, or logs, on the signals it is told
TREE = SUPPORT / "tree.py"  # a process tree that ignores SIGTERM, for crash tests
