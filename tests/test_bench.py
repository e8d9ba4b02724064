"""`make bench` runs end to end on small files and prints every figure with its target
(the figures themselves are not judged here: machines are noisy)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.postgres import IN_CI
from tests.support import ROOT


@pytest.mark.slow
def test_bench_measures_every_figure_on_small_files(tmp_path):
    env = {
        **os.environ,
        "RENKEI_BENCH_ROWS": "3000",
        "RENKEI_BENCH_ROUNDS": "1",
        "RENKEI_BENCH_QUICK": "1",
    }
    result = subprocess.run(
        [sys.executable, "-m", "bench"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    # 0: every target met; 1: one missed. Anything else is a broken benchmark.
    assert result.returncode in (0, 1), result.stderr[-3000:]
    out = result.stdout
    assert "3,000 rows" in out and "import round 1/1" in out and "upsert round 1/1" in out
    assert "figures (median of interleaved rounds):" in out, result.stderr[-3000:]
    figures = out.split("figures (median of interleaved rounds):")[1].splitlines()
    expected = [
        "renkei import (whole command), 3,000 rows, 4 columns",
        "renkei import (whole command), 3,000 rows, 16 columns",
        "renkei import, peak RSS, 16 columns",
        "renkei import, bytes written, 4 columns",
        "renkei import upsert, new keys, 3,000 rows",
        "renkei import upsert, keys there, 3,000 rows",
        "HTTP 300 KB, 1 client",
        "HTTP 3 MB, 10 clients",
        "SMTP 300 KB, 10 clients",
        "SMTP 3 MB, 50 clients",
        "FTP 3 MB, 1 client",
        "FTP by curl 300 KB, 10 clients",
        "loop lag p99, 10 mails × 2,000 rows imported",
        "loop lag max, 10 mails × 2,000 rows imported",
        "loop lag p99, 10 mails × 2,000 rows, whole burst",
        "loop lag max, 10 mails × 2,000 rows, whole burst",
        "SMTP dot-to-250 during the burst",
        ", all committed",
    ]
    # The PostgreSQL figure, unless this machine has no server to start (CI has one).
    if "PostgreSQL figure left out" in out:
        assert not IN_CI, out
    else:
        assert "postgres round 1/1" in out, result.stderr[-3000:]
        expected.append("renkei import on PostgreSQL, 3,000 rows, 4 columns")
    for what in expected:
        [line] = [line for line in figures if what in line]
        assert "target" in line or "limit" in line, line
        assert line.rstrip().endswith(("ok", "MISSED")), line
    assert ("every target met" in out) == (result.returncode == 0)
