"""bench/ingest_bench.py's CPU accounting: each process of a tree is counted once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench.ingest_bench import process_cpu

# Burns CPU until killed; the trailing "serve burner" names it as the bench names the mesh's processes.
BURN = "while True:\n    pass\n"


def own_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_child_of_a_root_is_counted_once() -> None:
    child = subprocess.Popen([sys.executable, "-c", BURN, "serve", "burner"])
    try:
        deadline = time.monotonic() + 30
        while own_cpu_seconds(child.pid) < 0.3 and time.monotonic() < deadline:
            time.sleep(0.05)
        child.send_signal(signal.SIGSTOP)  # its CPU time no longer moves while both figures are read
        time.sleep(0.1)
        totals = process_cpu([os.getpid()])
        assert own_cpu_seconds(child.pid) >= 0.3
        assert totals["burner"] == own_cpu_seconds(child.pid)
    finally:
        child.kill()
        child.wait()
