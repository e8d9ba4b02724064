"""`make bench` (`python -m bench`): renkei's import against the sqlite3 shell's `.import`, side by side.

Generates 1,000,000 rows of the example layout (CP932, Japanese text, quoted commas and
newlines), then measures in this one run, on the same data, round after round:
  - the sqlite3 shell importing the same rows (converted to UTF-8) into the same columns;
  - renkei in-process, from claim to commit (validation on);
  - the whole `renkei import` command, start-up included;
and prints each round's ratios against `.import`, then the median of each figure with
rows per second and peak RSS.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from statistics import median

ROWS = int(os.environ.get("RENKEI_BENCH_ROWS", "1000000"))
# Machines are noisy: each round measures all three side by side, and the median
# round of each figure is reported.
ROUNDS = int(os.environ.get("RENKEI_BENCH_ROUNDS", "3"))
HERE = Path(__file__).resolve().parent.parent
WORDS = [
    "売上",
    "株式会社髙橋",
    "①番",
    "㈱山田商事",
    "東京都千代田区",
    "備考",
    "～",
    "ﾊﾝｶｸ",
    "テスト",
]
CONFIG = """
[daemon]
data_dir = "{data}"
[smtp]
enabled = false
[ftp]
enabled = false
[api]
enabled = false
[limits]
max_rows = 2000000
max_bytes = 1073741824
[layouts.performance]
columns = [
  {{ name = "member_no",    type = "int",  required = true }},
  {{ name = "date",         type = "date", required = true }},
  {{ name = "sales_amount", type = "int",  max_digits = 13 }},
  {{ name = "note",         type = "text", max_length = 3000 }},
]
[accounts.bench]
layout = "performance"
encoding = "cp932"
report = "never"
"""


def generate(path: Path, rows: int) -> None:
    rnd = random.Random(20240516)
    with open(path, "w", encoding="cp932", newline="") as f:
        f.write("member_no,date,sales_amount,note\r\n")
        for i in range(1, rows + 1):
            note = " ".join(rnd.choices(WORDS, k=3))
            if i % 10 == 0:
                note = f'"{note}, 改行\r\n{rnd.choice(WORDS)}"'
            elif i % 3 == 0:
                note = f'"{note}, カンマ"'
            amount = (
                f'"{rnd.randint(0, 9_999_999):,}"' if i % 5 == 0 else str(rnd.randint(0, 99999))
            )
            f.write(
                f"{i},2024/{rnd.randint(1, 12):02d}/{rnd.randint(1, 28):02d},{amount},{note}\r\n"
            )


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
            raise SystemExit(f"{args[0]} failed: {err.read().decode()[-2000:]}")
    return elapsed, usage.ru_maxrss, out.decode()


def sqlite_import(utf8: Path, work: Path) -> float | None:
    shell = shutil.which("sqlite3")
    if shell is None:
        return None
    db = work / "reference.db"
    schema = (
        "CREATE TABLE performance (member_no INTEGER, date TEXT, sales_amount INTEGER, note TEXT);"
    )
    subprocess.run([shell, str(db), schema], check=True)
    start = time.perf_counter()
    subprocess.run([shell, str(db), f".import --csv --skip 1 {utf8} performance"], check=True)
    return time.perf_counter() - start


def inprocess(data_dir: str, source: str) -> None:
    """Child: import `source` in this process; print seconds from claim to commit and RSS."""
    from daemon import graph
    from daemon.settings import load
    from daemon.spool.queue import Meta

    async def main() -> dict:
        settings = load(Path(data_dir) / "renkei.toml")
        parts = await graph.build(lambda: settings, reports=False)
        item = parts.spool.enqueue(
            Meta("bench", "cli", "bench", "20240516.csv"), Path(source), claim=True
        )
        start = time.perf_counter()
        state = await parts.pipeline.process(item)
        seconds = time.perf_counter() - start
        run = await parts.store.get_run(item.id)
        await parts.close()
        return {"seconds": seconds, "state": state, "rows": run["rows_imported"]}

    result = asyncio.run(main())
    result["maxrss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps(result))


def fresh_dir(work: Path, name: str) -> Path:
    folder = work / name
    folder.mkdir()
    (folder / "renkei.toml").write_text(CONFIG.format(data=folder / "var"), encoding="utf-8")
    return folder


@dataclass
class Round:
    reference: float | None  # seconds; None without a sqlite3 shell
    inner: float
    whole: float
    inner_rss: int  # KiB
    whole_rss: int


def measure_round(source: Path, utf8: Path, work: Path) -> Round:
    """One side-by-side measurement of the three, each in a fresh data folder."""
    # Each starts with no dirty pages of the one before: otherwise the kernel writes
    # those back during the next, and its fsyncs wait behind them.
    os.sync()
    reference = sqlite_import(utf8, work)
    folder = fresh_dir(work, "inproc")
    os.sync()
    _, _, out = run_child([sys.executable, "-m", "bench", "inproc", str(folder), str(source)])
    inner = json.loads(out)
    assert inner["state"] == "completed" and inner["rows"] == ROWS, inner
    folder = fresh_dir(work, "command")
    os.sync()
    renkei = str(Path(sys.executable).with_name("renkei"))
    config = str(folder / "renkei.toml")
    whole, whole_rss, _ = run_child(
        [renkei, "import", str(source), "--account", "bench", "--config", config]
    )
    return Round(reference, inner["seconds"], whole, inner["maxrss_kib"], whole_rss)


def main() -> None:
    cache = HERE / "bench-data" / str(ROWS)
    cache.mkdir(parents=True, exist_ok=True)
    source = cache / "20240516.csv"  # a name the filename rule accepts
    if not source.exists():
        print(f"generating {ROWS:,} rows …", flush=True)
        generate(source, ROWS)
    utf8 = cache / "utf8.csv"
    if not utf8.exists():
        utf8.write_text(source.read_text(encoding="cp932"), encoding="utf-8", newline="")
    print(f"data: {source.name}, {source.stat().st_size / 1e6:.1f} MB, {ROWS:,} rows")
    rounds = []
    for number in range(1, ROUNDS + 1):
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            rounds.append(measure_round(source, utf8, Path(tmp)))
        print(f"round {number}/{ROUNDS}: {describe(rounds[-1])}", flush=True)
    report(rounds)


def describe(r: Round) -> str:
    if r.reference is None:
        return f"claim to commit {r.inner:.2f} s, whole command {r.whole:.2f} s"
    return (
        f".import {r.reference:.2f} s, claim to commit {r.inner / r.reference:.2f}x,"
        f" whole command {r.whole / r.reference:.2f}x"
    )


def report(rounds: list[Round]) -> None:
    """The median round of each figure: one noisy round moves none of them."""
    reference = median(r.reference for r in rounds) if rounds[0].reference else None
    print(f"median of {len(rounds)} rounds:")
    if reference:
        print(
            f"{'sqlite3 .import (UTF-8)':<34} {reference:7.2f} s   1.00x .import  "
            f"{ROWS / reference:>10,.0f} rows/s"
        )
    figures = [
        ("renkei, claim to commit", [(r.inner, r.inner_rss) for r in rounds]),
        ("renkei import (whole command)", [(r.whole, r.whole_rss) for r in rounds]),
    ]
    for label, measured in figures:
        seconds = median(t for t, _ in measured)
        ratio = "   (no sqlite3 shell)"
        if reference:
            ratios = [t / r.reference for (t, _), r in zip(measured, rounds, strict=True)]
            ratio = f"{median(ratios):5.2f}x .import"
        rss_kib = max(rss for _, rss in measured)
        print(
            f"{label:<34} {seconds:7.2f} s  {ratio}  {ROWS / seconds:>10,.0f} rows/s"
            f"  peak RSS {rss_kib / 1024:6.0f} MB"
        )
    print("targets: <= 2x .import for both; peak RSS under 200 MB")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "inproc":
        inprocess(sys.argv[2], sys.argv[3])
    else:
        main()
