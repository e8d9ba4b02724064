"""`make bench` (`python -m bench [import] [upsert] [postgres] [burst] [doors]`): renkei against
references it runs itself, side by side in interleaved rounds, each figure a median.

  import    1,000,000 CP932 rows of the example layout (Japanese text, quoted commas and
            newlines): `iconv | sqlite3 .import` into the same columns, renkei in-process
            from claim to commit, and the whole `renkei import` command, with peak RSS
            and bytes written to disk;
  upsert    the 4-column file as an upsert, of new keys and of keys there already,
            against a replace of it (upsert.py);
  postgres  the same 4-column file by `renkei import` into PostgreSQL against
            `iconv | psql \\copy`, on a throwaway server of its own (postgres.py);
  burst     imports beside the doors (burst.py);
  doors     each door against its bare library (doors.py).

Prints every figure with its reference and target, and exits 1 when one misses.
RENKEI_BENCH_ROWS, RENKEI_BENCH_ROUNDS and RENKEI_BENCH_QUICK=1 make it smaller.
"""

from __future__ import annotations

import asyncio
import compileall
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.child import run_child
from bench.figures import Figure, Limit, report
from bench.layout import IMPORT_ONLY, PERFORMANCE

ROWS = int(os.environ.get("RENKEI_BENCH_ROWS", "1000000"))
# Machines are noisy: each round measures all three side by side, and the median
# round of each figure is reported.
ROUNDS = int(os.environ.get("RENKEI_BENCH_ROUNDS", "3"))
HERE = Path(__file__).resolve().parent.parent
EXIT_BROKEN = 2
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
CONFIG = (
    """
[daemon]
data_dir = "{data}"
"""
    + IMPORT_ONLY
    + """{layout}
[layouts.wide]
columns = [
  {{ name = "member_no", type = "int", required = true }},
  {{ name = "date",      type = "date", required = true }},
  {{ name = "created",   type = "datetime" }},
  {{ name = "qty",       type = "int" }},
  {{ name = "price",     type = "int" }},
  {{ name = "amount",    type = "int", max_digits = 13 }},
  {{ name = "tax",       type = "int" }},
  {{ name = "discount",  type = "int" }},
  {{ name = "points",    type = "int" }},
  {{ name = "rate",      type = "decimal" }},
  {{ name = "member",    type = "bool" }},
  {{ name = "category",  type = "choice", values = ["A", "B", "C"] }},
  {{ name = "code",      type = "text" }},
  {{ name = "zip",       type = "text" }},
  {{ name = "name",      type = "text" }},
  {{ name = "note",      type = "text", max_length = 3000 }},
]
[accounts.bench]
layout = "performance"
encoding = "cp932"
report = "never"
[accounts.wide]
layout = "wide"
encoding = "cp932"
report = "never"
"""
)
WIDE_SCHEMA = (
    "CREATE TABLE wide (member_no INTEGER, date TEXT, created TEXT, qty INTEGER,"
    " price INTEGER, amount INTEGER, tax INTEGER, discount INTEGER, points INTEGER,"
    " rate TEXT, member INTEGER, category TEXT, code TEXT, zip TEXT, name TEXT, note TEXT);"
)
NARROW_SCHEMA = (
    "CREATE TABLE performance (member_no INTEGER, date TEXT, sales_amount INTEGER, note TEXT);"
)


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


@dataclass(frozen=True)
class Written:
    """Bytes this process's finished children wrote: `gross` as the kernel counted them
    when they were written, `cancelled` those of files removed before the kernel wrote
    them back, which never reached the disk (a part's scratch database, filled and
    deleted within seconds, with no fsync: the kernel writes back after 30)."""

    gross: int
    cancelled: int = 0

    @property
    def disk(self) -> int:
        return self.gross - self.cancelled

    def __sub__(self, before: Written) -> Written:
        return Written(self.gross - before.gross, self.cancelled - before.cancelled)


def written() -> Written:
    """So far; a finished child's counts are added to its parent's when it is reaped."""
    try:
        lines = Path("/proc/self/io").read_text().splitlines()
        counts = {name: int(value) for name, value in (line.split(":") for line in lines)}
        return Written(counts["write_bytes"], counts["cancelled_write_bytes"])
    except (OSError, KeyError, ValueError):  # no /proc: blocks written, removed or not
        return Written(resource.getrusage(resource.RUSAGE_CHILDREN).ru_oublock * 512)


def generate_wide(path: Path, rows: int) -> None:
    """16 columns a sales system exports: numbers, a timestamp, a flag, Japanese text."""
    rnd = random.Random(20240517)
    header = "member_no,date,created,qty,price,amount,tax,discount,points,rate,member,"
    header += "category,code,zip,name,note"
    with open(path, "w", encoding="cp932", newline="") as f:
        f.write(header + "\r\n")
        for i in range(1, rows + 1):
            month, day = rnd.randint(1, 12), rnd.randint(1, 28)
            qty, price = rnd.randint(1, 99), rnd.randint(100, 99999)
            note = " ".join(rnd.choices(WORDS, k=2))
            if i % 7 == 0:
                note = f'"{note}, カンマ"'
            f.write(
                f"{i},2024/{month:02d}/{day:02d},2024/{month:02d}/{day:02d}"
                f" {rnd.randint(0, 23):02d}:{rnd.randint(0, 59):02d}:00,{qty},{price},"
                f"{qty * price},{qty * price // 10},{rnd.randint(0, 500)},{rnd.randint(0, 99)},"
                f"0.{rnd.randint(0, 99):02d},{i % 2},{'ABC'[i % 3]},C{i:07d},"
                f"{rnd.randint(100, 999)}-{rnd.randint(1000, 9999)},{rnd.choice(WORDS)},{note}\r\n"
            )


@dataclass(frozen=True)
class Shape:
    """One kind of file the import is measured on."""

    name: str
    account: str
    table: str
    schema: str
    generate: Callable[[Path, int], None]


SHAPES = (
    Shape("4 columns", "bench", "performance", NARROW_SCHEMA, generate),
    Shape("16 columns", "wide", "wide", WIDE_SCHEMA, generate_wide),
)


def sqlite_import(source: Path, work: Path, shape: Shape) -> tuple[float, Written] | None:
    """`iconv -f CP932 | sqlite3 .import` into a table of the same columns: seconds and
    bytes written."""
    shell, iconv = shutil.which("sqlite3"), shutil.which("iconv")
    if shell is None or iconv is None:
        return None
    db = work / "reference.db"
    subprocess.run([shell, str(db), shape.schema], check=True)
    before = written()
    start = time.perf_counter()
    subprocess.run(
        f"{iconv} -f CP932 -t UTF-8 {source} |"
        f" {shell} {db} '.import --csv --skip 1 /dev/stdin {shape.table}'",
        shell=True,
        check=True,
    )
    return time.perf_counter() - start, written() - before


def inprocess(data_dir: str, source: str, account: str) -> None:
    """Child: import `source` in this process; print seconds from claim to commit and RSS."""
    from daemon import graph
    from daemon.settings import load
    from daemon.spool.queue import Meta
    from daemon.worker.pipeline import uncounted

    async def main() -> dict:
        settings = load(Path(data_dir) / "renkei.toml")
        parts = await graph.build(lambda: settings, reports=False, counted=uncounted)
        item = parts.spool.enqueue(
            Meta(account, "cli", "bench", "20240516.csv"), Path(source), claim=True
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
    (folder / "renkei.toml").write_text(
        CONFIG.format(layout=PERFORMANCE, data=folder / "var"), encoding="utf-8"
    )
    return folder


@dataclass
class Round:
    reference: float | None  # seconds; None without sqlite3 and iconv
    reference_written: Written
    inner: float
    whole: float
    inner_rss: int  # KiB
    whole_rss: int
    whole_written: Written


def measure_round(source: Path, work: Path, shape: Shape) -> Round:
    """One side-by-side measurement of the three, each in a fresh data folder."""
    # Each starts with no dirty pages of the one before: otherwise the kernel writes
    # those back during the next, and its fsyncs wait behind them.
    os.sync()
    reference, reference_written = sqlite_import(source, work, shape) or (None, Written(0))
    folder = fresh_dir(work, "inproc")
    os.sync()
    _, _, out = run_child(
        [sys.executable, "-m", "bench", "inproc", str(folder), str(source), shape.account]
    )
    inner = json.loads(out)
    assert inner["state"] == "completed" and inner["rows"] == ROWS, inner
    folder = fresh_dir(work, "command")
    os.sync()
    renkei = str(Path(sys.executable).with_name("renkei"))
    config = str(folder / "renkei.toml")
    before = written()
    whole, whole_rss, _ = run_child(
        [renkei, "import", str(source), "--account", shape.account, "--config", config]
    )
    whole_written = written() - before
    return Round(
        reference,
        reference_written,
        inner["seconds"],
        whole,
        inner["maxrss_kib"],
        whole_rss,
        whole_written,
    )


def source_file(shape: Shape) -> Path:
    """The shape's file of ROWS rows under bench-data/, generated the first time."""
    cache = HERE / "bench-data" / str(ROWS) / shape.table
    cache.mkdir(parents=True, exist_ok=True)
    source = cache / "20240516.csv"  # a name the filename rule accepts
    if not source.exists():
        print(f"generating {ROWS:,} rows of {shape.name} …", flush=True)
        shape.generate(source, ROWS)
    return source


def import_figures(rounds: int, shape: Shape) -> list[Figure | Limit]:
    source = source_file(shape)
    cache = source.parent
    size = source.stat().st_size / 1e6
    print(f"import: {source.name}, {shape.name}, {size:.1f} MB, {ROWS:,} rows")
    measured = []
    for number in range(1, rounds + 1):
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            measured.append(measure_round(source, Path(tmp), shape))
        print(f"import round {number}/{rounds}: {describe(measured[-1])}", flush=True)
    label = f"{ROWS:,} rows, {shape.name}"
    figures: list[Figure | Limit] = [
        Limit(
            f"renkei import, peak RSS, {shape.name}",
            [max(r.inner_rss, r.whole_rss) / 1024 for r in measured],
            "MB",
            200,
        )
    ]
    if measured[0].reference is None:
        print("no sqlite3 shell or iconv here: import ratios left out")
        for r in measured:
            print(f"  claim to commit {r.inner:.2f} s, whole command {r.whole:.2f} s")
        return figures
    references = [r.reference or 0.0 for r in measured]
    return [
        Figure(
            f"renkei, claim to commit, {label}",
            "iconv | sqlite3 .import",
            [r.inner for r in measured],
            references,
            "s",
            1.3,
            higher_is_better=False,
        ),
        Figure(
            f"renkei import (whole command), {label}",
            "iconv | sqlite3 .import",
            [r.whole for r in measured],
            references,
            "s",
            1.3,
            higher_is_better=False,
        ),
        Figure(
            f"renkei import, bytes written, {shape.name}",
            "iconv | sqlite3 .import",
            [r.whole_written.disk / 1e6 for r in measured],
            [r.reference_written.disk / 1e6 for r in measured],
            "MB",
            2.0,
            higher_is_better=False,
        ),
        *figures,
    ]


def describe(r: Round) -> str:
    w = r.whole_written
    # What reached the disk, and what was written only to be removed before it did.
    bytes_ = f"{w.disk / 1e6:.0f} MB to disk ({w.gross / 1e6:.0f} written, less"
    bytes_ += f" {w.cancelled / 1e6:.0f} removed first)"
    if r.reference is None:
        return f"claim to commit {r.inner:.2f} s, whole command {r.whole:.2f} s, {bytes_}"
    return (
        f"iconv | .import {r.reference:.2f} s, claim to commit {r.inner / r.reference:.2f}x,"
        f" whole command {r.whole / r.reference:.2f}x ({ROWS / r.whole:,.0f} rows/s),"
        f" {bytes_} against {r.reference_written.disk / 1e6:.0f} MB"
    )


def compiled() -> None:
    """Byte-compile renkei's own modules, as installing it does: measured otherwise, a
    command started with PYTHONDONTWRITEBYTECODE (or from a read-only checkout)
    compiles them again every time it starts (about 0.25 s of `renkei import`)."""
    for package in ("daemon", "importers", "handlers"):
        compileall.compile_dir(HERE / package, quiet=1)


def main(sections: list[str]) -> int:
    quick = os.environ.get("RENKEI_BENCH_QUICK") == "1"
    compiled()
    figures: list[Figure | Limit] = []
    if "import" in sections:
        for shape in SHAPES:
            figures += import_figures(ROUNDS, shape)
    if "upsert" in sections:
        from bench import upsert

        figures += upsert.run(ROUNDS, source_file(SHAPES[0]), ROWS)
    if "postgres" in sections:
        from bench import postgres

        figures += postgres.run(ROUNDS, source_file(SHAPES[0]), ROWS)
    # The burst before the doors: they create and remove tens of thousands of files,
    # after which creating one can be ten times slower for a while on some file systems
    # (ext4 without a journal), and the burst, which creates hundreds where the import
    # it is measured against creates a few, read 1.71x after them against 1.34x alone,
    # on the same code.
    if "burst" in sections:
        from bench import burst

        figures += burst.run(ROUNDS, quick=quick)
    if "doors" in sections:
        from bench import doors

        figures += doors.run(ROUNDS, quick=quick)
    print("\nfigures (median of interleaved rounds):")
    met = report(figures)
    print("every target met" if met else "some targets MISSED")
    return 0 if met else 1


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "inproc":
        inprocess(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        try:
            code = main(sys.argv[1:] or ["import", "upsert", "postgres", "burst", "doors"])
        except Exception:
            # Exit 1 means a target was missed; a benchmark that broke says so apart.
            traceback.print_exc()
            code = EXIT_BROKEN
        sys.exit(code)
