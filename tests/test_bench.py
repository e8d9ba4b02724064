"""`make bench` runs end to end on a small file (its figures are not judged here)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from tests.support import ROOT


def test_bench_measures_every_figure_on_a_small_file(tmp_path):
    env = {**os.environ, "RENKEI_BENCH_ROWS": "3000", "RENKEI_BENCH_ROUNDS": "2"}
    result = subprocess.run(
        [sys.executable, "-m", "bench"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert "3,000 rows" in out and "round 2/2" in out and "median of 2 rounds" in out
    for label in ("renkei, claim to commit", "renkei import (whole command)"):
        [line] = [line for line in out.splitlines() if line.startswith(label)]
        assert "rows/s" in line and "peak RSS" in line
        if shutil.which("sqlite3"):
            assert "x .import" in line
