"""A large file read in parts gives exactly what one pass over it gives: the same
rows in the same order, the same errors on the same physical lines."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from daemon import staging
from importers.layouts import ColumnSpec
from importers.reader import CsvFile, ImportSpec
from importers.stager import ERRORS_TABLE, ROWS_TABLE
from tests.support import Daemon, account, write_config

COLUMNS = [
    ColumnSpec("member_no", "int", required=True),
    ColumnSpec("date", "date"),
    ColumnSpec("note", "text", max_length=40),
]


def whole(path, spec):
    csv_file = CsvFile(path, spec)
    csv_file.open()
    rows, errors = [], []
    for chunk in csv_file.chunks(size=97):
        rows += [tuple(r) for r in chunk.rows]
        errors += [(e.line, e.column, e.value, e.message) for e in chunk.errors]
    return rows, errors


def in_parts(path, spec, folder, parts):
    csv_file = CsvFile(path, spec)
    csv_file.open()
    staged = asyncio.run(staging.stage(csv_file, folder, None, parts=parts))
    rows, errors = [], []
    for part in staged:
        with sqlite3.connect(part.path) as db:
            rows += db.execute(f"SELECT * FROM {ROWS_TABLE} ORDER BY rowid").fetchall()
            errors += db.execute(f"SELECT * FROM {ERRORS_TABLE} ORDER BY rowid").fetchall()
    return staged, rows, errors


def sample(lines: int, stray_quote_at: int = 0) -> str:
    out = ["note,member_no,date"]  # columns out of order: the parts must know the header
    for i in range(1, lines + 1):
        if i % 7 == 0:
            note = f'"複数行の\r\n備考 {i}, ""引用"""'
        elif i == stray_quote_at:
            note = 'ab"c'  # a quote inside an unquoted cell: the csv module keeps it as text
        elif i % 11 == 0:
            note = "x" * 41  # too long: a row error
        else:
            note = f"備考{i}"
        date = "2024/02/30" if i % 13 == 0 else "2024/05/16"
        out.append(f"{note},{i},{date}")
    return "\r\n".join(out) + "\r\n"


@pytest.mark.parametrize("parts", [1, 2, 3, 5])
def test_parts_read_what_one_pass_reads(tmp_path, parts):
    path = tmp_path / "20240516.csv"
    path.write_text(sample(3000), encoding="cp932", newline="")
    spec = ImportSpec(COLUMNS, "cp932", True, 100000, 1 << 30, "ja")
    staged, rows, errors = in_parts(path, spec, tmp_path / "staging", parts)
    assert len(staged) == parts
    assert (rows, errors) == whole(path, spec)
    assert sum(p.records for p in staged) == 3000
    assert sum(p.failed for p in staged) == len({line for line, *_ in errors})
    assert errors and errors[-1][0] > 3000  # physical lines, counted across parts


def test_quotes_that_mislead_the_cut_fall_back_to_one_part(tmp_path):
    path = tmp_path / "20240516.csv"
    # After one stray quote, the count puts the cut on the line break inside a
    # quoted cell: the first part ends inside quotes.
    path.write_text(sample(3000, stray_quote_at=10), encoding="utf-8", newline="")
    spec = ImportSpec(COLUMNS, "utf-8", True, 100000, 1 << 30, "en")
    staged, rows, errors = in_parts(path, spec, tmp_path / "staging", 2)
    assert len(staged) == 1  # read again as one part
    assert (rows, errors) == whole(path, spec)
    assert len(rows) + len({e[0] for e in errors}) == 3000


def test_a_bad_header_stops_before_any_part(tmp_path):
    path = tmp_path / "20240516.csv"
    path.write_text("member_no,when\r\n1,2024/05/16\r\n", encoding="utf-8", newline="")
    csv_file = CsvFile(path, ImportSpec(COLUMNS, "utf-8", True, 10, 1 << 20, "en"))
    csv_file.open()
    with pytest.raises(Exception, match="header.invalid"):
        asyncio.run(staging.stage(csv_file, tmp_path / "staging", None, parts=2))
    assert not (tmp_path / "staging").exists()


def test_the_daemon_sweeps_scratch_folders_no_run_will_retry(tmp_path):
    config = write_config(tmp_path, account("acme"))
    stale = tmp_path / "var" / "staging" / "20240101T000000000000-dead00"
    stale.mkdir(parents=True)
    (stale / "part0.db").write_bytes(b"left by a killed import")
    daemon = Daemon(config).start()
    try:
        assert not stale.exists()
    finally:
        daemon.terminate()
