"""Timing one child process of a benchmark: its wall time, its own peak RSS, its stdout."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent


def run_child(args: list[str]) -> tuple[float, int, str]:
    """Wall seconds, peak RSS (KiB) and stdout of one child process."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err, cwd=HERE)
        out = proc.stdout.read()
        proc.stdout.close()
        # wait4, not wait: it gives this child's own peak RSS.
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        elapsed = time.perf_counter() - start
        if proc.returncode:
            err.seek(0)
            raise RuntimeError(f"{args[0]} failed: {err.read().decode()[-2000:]}")
    return elapsed, usage.ru_maxrss, out.decode()
