"""A large file read in parts gives exactly what one pass over it gives: the same
rows in the same order, the same errors on the same physical lines."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from daemon.store.scratch import ERRORS_TABLE, ROWS_TABLE, ScratchWriter, StagedTable, record_text
from daemon.store.sqlite import SqliteStore
from daemon.worker import staging
from importers.layouts import ColumnSpec
from importers.messages import said, words_of
from importers.reader import CsvFile, ImportSpec
from tests.support import LAYOUT, ROOT, Daemon, account, cli_import, renkei, write_config

COLUMNS = [
    ColumnSpec("member_no", "int", required=True),
    ColumnSpec("date", "date"),
    ColumnSpec("note", "text", max_length=40),
]
SETTINGS_COLUMNS = [*COLUMNS, ColumnSpec("amount", "decimal"), ColumnSpec("ok", "bool")]
TABLE = StagedTable(["member_no", "date", "note"], "(?, ?, ?)", ["member_no", "date", "note"])


def whole(path, spec):
    csv_file = CsvFile(path, spec)
    csv_file.open()
    rows, errors = [], []
    for chunk in csv_file.chunks(size=97):
        rows += [tuple(r) for r in chunk.rows]
        errors += [
            (e.line, e.column, e.value, e.message, record_text(e.record)) for e in chunk.errors
        ]
    return rows, errors


def in_parts(path, spec, folder, parts, table=TABLE, per_reader=1):
    csv_file = CsvFile(path, spec)
    csv_file.open()
    stage = staging.stage(csv_file, table, folder, None, parts=parts, per_reader=per_reader)
    staged = asyncio.run(stage)
    rows, errors = [], []
    for part in staged:
        with sqlite3.connect(part.path) as db:
            rows += db.execute(f"SELECT * FROM {ROWS_TABLE} ORDER BY rowid").fetchall()
            # The words aside: each reading gives its first errors theirs (ERRORS_KEPT).
            sql = f"SELECT line, column_name, value, message, record FROM {ERRORS_TABLE}"
            errors += db.execute(sql + " ORDER BY rowid").fetchall()
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
        if i % 17 == 0:
            out.append(",,")  # as Excel leaves them: no record, counted as empty
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
    assert sum(p.empty for p in staged) == 3000 // 17  # lines of empty cells, read past
    assert errors and errors[-1][0] > 3000  # physical lines, counted across parts


def test_readers_read_several_parts_each_in_turn(tmp_path):
    """Two readers, three parts each (as a streamed file is read): six parts, together
    what one pass reads, line numbers counted across all of them."""
    path = tmp_path / "20240516.csv"
    path.write_text(sample(3000), encoding="cp932", newline="")
    spec = ImportSpec(COLUMNS, "cp932", True, 100000, 1 << 30, "ja")
    staged, rows, errors = in_parts(path, spec, tmp_path / "staging", 2, per_reader=3)
    assert [part.path for part in staged] == staging.part_paths(tmp_path / "staging", 2, 3)
    assert len(staged) == 6 and all(part.records for part in staged)
    assert (rows, errors) == whole(path, spec)
    assert sum(p.records for p in staged) == 3000


def test_a_file_of_fewer_records_than_readers(tmp_path):
    """Readers start before the cuts are known; those left without a part just end."""
    path = tmp_path / "20240516.csv"
    path.write_text(sample(2), encoding="cp932", newline="")
    spec = ImportSpec(COLUMNS, "cp932", True, 100000, 1 << 30, "ja")
    staged, rows, errors = in_parts(path, spec, tmp_path / "staging", 6)
    assert len(staged) < 6
    assert (rows, errors) == whole(path, spec) and len(rows) == 2


def test_parts_write_rows_in_the_tables_own_column_order(tmp_path):
    """A layout table that gained a column after its meta columns, and kept one the
    layout dropped: each value lands in its own column, the rest as the table says."""
    path = tmp_path / "20240516.csv"
    path.write_text(sample(300), encoding="utf-8", newline="")
    spec = ImportSpec(COLUMNS, "utf-8", True, 100000, 1 << 30, "en")
    table = StagedTable(
        ["date TEXT", "old", "_account TEXT NOT NULL", "member_no INTEGER", "note TEXT"],
        "(?, NULL, 'acme', ?, ?)",
        ["date", "member_no", "note"],
    )
    _, rows, _ = in_parts(path, spec, tmp_path / "staging", 2, table)
    expected, _ = whole(path, spec)
    assert rows == [(date, None, "acme", number, note) for number, date, note in expected]


def test_plain_digits_become_integers_in_the_table_not_the_reader(tmp_path):
    """The readers pass a plain int cell on as its text where the layout table's
    column makes it an integer (INTEGER affinity): `0007` lands as the integer 7, as
    one pass stores it; a column whose values the parts report gets numbers."""

    async def staged_table() -> StagedTable:
        store = await SqliteStore.open(tmp_path / "renkei.db")
        try:
            await store.ensure_layout("performance", SETTINGS_COLUMNS, ())
            return await store.staged_table("performance", "acme", "20240516.csv", "run")
        finally:
            await store.close()

    table = asyncio.run(staged_table())
    assert table.integers == {"member_no", "ok"}
    path = tmp_path / "20240516.csv"
    cells = ["0007", "12", '"1,234"', "000000000000000009", "x", ""]
    body = "".join(f"{cell},2024/05/16,備考,1.5,1\r\n" for cell in cells * 50)
    path.write_text("member_no,date,note,amount,ok\r\n" + body, encoding="utf-8", newline="")
    spec = ImportSpec(SETTINGS_COLUMNS, "utf-8", True, 100000, 1 << 30, "ja")
    _, rows, errors = in_parts(path, spec, tmp_path / "staging", 2, table)
    numbers = [row[0] for row in rows]
    assert numbers == [7, 12, 1234, 9] * 50
    with sqlite3.connect(tmp_path / "staging" / "part0.db") as db:
        kinds = db.execute(f"SELECT DISTINCT typeof(member_no) FROM {ROWS_TABLE}").fetchall()
    assert kinds == [("integer",)]
    assert len(errors) == 100  # `x` and the empty required cell, on every round
    one_pass, _ = whole(path, spec)
    assert numbers == [row[0] for row in one_pass]

    csv_file = CsvFile(path, spec)
    csv_file.open()
    watched = asyncio.run(
        staging.stage(csv_file, table, tmp_path / "watched", None, parts=2, watched=[0])
    )
    assert set().union(*(part.values[0] for part in watched)) == {7, 12, 1234, 9}


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


def streamed(path, spec, folder, parts, per_reader=1):
    """stage() with a stream that notes, when it starts, which parts were read already
    and the scratch databases it was handed, and in which order their readers ended."""
    seen = {"ended": []}

    async def stream(paths, finished):
        seen["read"] = [event.is_set() for event in finished]
        seen["paths"] = paths

        async def ended(index):
            await finished[index].wait()
            seen["ended"].append(index)

        await asyncio.gather(*(ended(index) for index in range(len(finished))))

    csv_file = CsvFile(path, spec)
    csv_file.open()
    stage = staging.stage(
        csv_file, TABLE, folder, None, parts=parts, stream=stream, per_reader=per_reader
    )
    staged = asyncio.run(stage)
    return staged, seen


def test_a_stream_starts_while_the_parts_are_read(tmp_path):
    path = tmp_path / "20240516.csv"
    path.write_text(sample(60_000), encoding="cp932", newline="")
    spec = ImportSpec(COLUMNS, "cp932", True, 100000, 1 << 30, "ja")
    staged, seen = streamed(path, spec, tmp_path / "staging", 2)
    assert seen["read"] == [False, False]
    assert (
        seen["paths"]
        == [part.path for part in staged]
        == staging.part_paths(tmp_path / "staging", 2)
    )


def test_a_streamed_part_is_done_before_its_readers_next_begins(tmp_path):
    """Each reader reads its parts in the file's order, so the stream, which loads
    them in that order, has the first ones while the last are still read."""
    path = tmp_path / "20240516.csv"
    path.write_text(sample(60_000), encoding="cp932", newline="")
    spec = ImportSpec(COLUMNS, "cp932", True, 100000, 1 << 30, "ja")
    staged, seen = streamed(path, spec, tmp_path / "staging", 2, per_reader=4)
    assert seen["read"] == [False] * 8 and len(staged) == 8
    ended = seen["ended"]
    assert sorted(ended) == list(range(8)), ended
    # A reader's parts end one after another in the file's order; the two readers keep
    # no step with each other (one may finish two parts while the other starts).
    for first in (0, 1):
        mine = [index for index in ended if index % 2 == first]
        assert mine == sorted(mine), ended


def test_with_a_stream_a_cut_the_quotes_misled_is_said_not_read_again(tmp_path):
    """What a stream took of the parts is its caller's to take back: stage() says the
    cut was wrong (BadCut) rather than read the file again itself."""
    path = tmp_path / "20240516.csv"
    path.write_text(sample(3000, stray_quote_at=10), encoding="utf-8", newline="")
    spec = ImportSpec(COLUMNS, "utf-8", True, 100000, 1 << 30, "en")
    with pytest.raises(staging.BadCut):
        streamed(path, spec, tmp_path / "staging", 2)


def test_a_stream_that_fails_ends_the_reading(tmp_path):
    """A COPY the server refused, say: the readers are ended at once (none is kept
    part-way through a part for the next file) and the stream's error is the one told."""
    path = tmp_path / "20240516.csv"
    path.write_text(sample(60_000), encoding="cp932", newline="")
    spec = ImportSpec(COLUMNS, "cp932", True, 100000, 1 << 30, "ja")
    csv_file = CsvFile(path, spec)
    csv_file.open()

    async def refused(paths, finished):
        raise ValueError("COPY refused")

    folder = tmp_path / "staging"
    with pytest.raises(ValueError, match="COPY refused"):
        asyncio.run(staging.stage(csv_file, TABLE, folder, None, parts=2, stream=refused))
    # A reader kept part-way would hand the next file the rest of this one's answers.
    _, rows, errors = in_parts(path, spec, folder, 2)
    assert (rows, errors) == whole(path, spec)


def copy_text(tmp_path, table, rows):
    """What a ScratchWriter writes of `rows` as COPY's CSV for `table`: the raw text
    and its records, as COPY (and the csv module) read them."""
    writer = ScratchWriter(tmp_path / "part0.db", table)
    try:
        writer.add(rows, [])
        writer.commit()
    finally:
        writer.close()
    text = (tmp_path / "part0.db.copy").read_text(encoding="utf-8")
    return text, list(csv.reader(io.StringIO(text, newline="")))


@pytest.mark.parametrize("width", [1, 3])
def test_copy_text_carries_the_meta_columns_on_every_row(tmp_path, width):
    """For PostgreSQL the meta columns' values end every row of a part's COPY text
    (written once, as the line's end): each row reads back as the file's cells and
    those values, a NULL as an empty unquoted cell, '' as ''."""
    meta = ("acme", 'a "quoted", name.csv', "20240516T000000000000-abcdef")
    names = ["member_no", "note", "date"][:width]
    table = StagedTable([], "", names, copy=(*range(width), *meta))
    rows = [
        [1, '備考, "引用"\n改行', "2024-05-16"][:width],
        [None, "", None][:width],
        [-7, "0", "2024-05-17"][:width],
    ]
    text, records = copy_text(tmp_path, table, rows)
    assert records == [[("" if v is None else str(v)) for v in row] + list(meta) for row in rows]
    assert "\n" + "," * width + "acme," in text  # None: empty and unquoted, so NULL


def test_copy_text_of_one_column_writes_a_null_as_an_empty_line(tmp_path):
    """A delete's or set's one key: COPY reads an empty line as NULL, where the csv
    module's `""` for a row of one empty cell would be '', refused by a number column."""
    table = StagedTable([], "", ["member_no"], copy=(0,))
    text, _ = copy_text(tmp_path, table, [[1], [None], [0], ["a,b"]])
    assert text == '1\n\n0\n"a,b"\n'


def test_a_bad_header_stops_before_any_part(tmp_path):
    path = tmp_path / "20240516.csv"
    path.write_text("member_no,when\r\n1,2024/05/16\r\n", encoding="utf-8", newline="")
    csv_file = CsvFile(path, ImportSpec(COLUMNS, "utf-8", True, 10, 1 << 20, "en"))
    csv_file.open()
    with pytest.raises(Exception, match="header.invalid"):
        asyncio.run(staging.stage(csv_file, TABLE, tmp_path / "staging", None, parts=2))
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


def large_file(path, rows: int) -> tuple[list[tuple], dict[int, int]]:
    """A file over the size read in parts; the rows it should give and, for each bad
    record, its physical line."""
    lines = ["member_no,date,region,note"]
    expected, bad = [], {}
    line = 2
    for i in range(1, rows + 1):
        note = f'"複数行\r\n{i}, 備考"' if i % 1000 == 0 else f"備考 {i} {'x' * 30}"
        date = "2024/13/01" if i % 50000 == 0 else "2024/05/16"
        lines.append(f"{i},{date},関東{i % 7},{note}")
        if i % 50000 == 0:
            bad[i] = line
        else:
            text = f"複数行\r\n{i}, 備考" if i % 1000 == 0 else f"備考 {i} {'x' * 30}"
            expected.append((i, "2024-05-16", None, text, f"関東{i % 7}"))
        line += 2 if i % 1000 == 0 else 1
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp932"))
    assert path.stat().st_size > staging.LARGE_FILE
    return expected, bad


@pytest.mark.slow
def test_a_large_file_lands_in_a_changed_layouts_table(tmp_path):
    """Read in parts by the real command, into a table whose layout gained a column
    (stored after the meta columns) and dropped one."""
    limits = "[limits]\nmax_rows = 1000000\nmax_bytes = 100000000\n"
    config = write_config(tmp_path, account("acme", report="never", on_row_error="skip"), limits)
    small = tmp_path / "20240515.csv"
    small.write_bytes("member_no,date,sales_amount,note\r\n1,2024/05/15,5,前\r\n".encode("cp932"))
    assert cli_import(config, small)["rows_imported"] == 1
    text = config.read_text(encoding="utf-8")
    changed = text.replace(
        '{ name = "sales_amount", type = "int",  max_digits = 13 },',
        '{ name = "region", type = "text" },',
    )
    assert changed != text
    config.write_text(changed, encoding="utf-8")

    path = tmp_path / "20240516.csv"
    expected, bad = large_file(path, 330000)
    for _ in range(2):  # the second time replaces the first
        run = cli_import(config, path)
        assert (run["state"], run["rows_total"]) == ("completed", 330000)
        assert (run["rows_imported"], run["rows_failed"]) == (len(expected), len(bad))
        with sqlite3.connect(tmp_path / "var" / "renkei.db") as db:
            got = db.execute(
                "SELECT member_no, date, sales_amount, note, region FROM performance"
                " WHERE _source_file = '20240516.csv' AND _run_id = ? ORDER BY rowid",
                (run["id"],),
            ).fetchall()
            others = db.execute("SELECT count(*) FROM performance").fetchone()[0] - len(got)
            lines = db.execute(
                "SELECT line FROM run_errors WHERE run_id = ? ORDER BY line", (run["id"],)
            ).fetchall()
        assert got == expected
        assert others == 1  # the small file's row, untouched
        assert [line for (line,) in lines] == sorted(bad.values())


def test_the_copy_moves_whole_records(tmp_path):
    """The scratch table is the layout table's twin, so SQLite's transfer copy applies:
    records move without a value decoded (no Column step in the plan)."""

    async def plan() -> list[str]:
        store = await SqliteStore.open(tmp_path / "renkei.db")
        try:
            await store.ensure_layout("performance", SETTINGS_COLUMNS, ())
            table = await store.staged_table("performance", "acme", "20240516.csv", "run")
            ScratchWriter(tmp_path / "part0.db", table).close()
            await store.writer.execute(
                "ATTACH DATABASE ? AS staged0", (str(tmp_path / "part0.db"),)
            )
            sql = f"EXPLAIN INSERT INTO performance SELECT * FROM staged0.{ROWS_TABLE}"
            async with store.writer.execute(sql) as cur:
                return [row[1] for row in await cur.fetchall()]
        finally:
            await store.close()

    steps = asyncio.run(plan())
    assert "RowData" in steps and "Column" not in steps


class PartsSeen:
    """Watches `data_dir/staging/` while a command runs: whether a run's scratch
    parts appeared, which is how a file read in parallel parts shows from outside."""

    def __init__(self, data_dir) -> None:
        self.root = data_dir / "staging"
        self.seen = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._done.is_set() and not self.seen:
            self.seen = any(self.root.glob("*/part*")) if self.root.is_dir() else False
            time.sleep(0.005)

    def __enter__(self) -> PartsSeen:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()


@pytest.mark.slow
def test_a_large_upsert_and_delete_are_read_in_parts_and_keyed(tmp_path):
    limits = "[limits]\nmax_rows = 1000000\nmax_bytes = 100000000\n"
    keyed = LAYOUT_WITH_KEY
    config = write_config(
        tmp_path, account("acme", report="never", on_row_error="skip", mode="upsert"), limits
    )
    config.write_text(config.read_text(encoding="utf-8").replace(LAYOUT, keyed), encoding="utf-8")
    db_path = tmp_path / "var" / "renkei.db"
    before = tmp_path / "20240515.csv"
    before.write_bytes(
        "member_no,date,region,note\r\n1,2024/05/15,前,前の行\r\n2,2024/05/15,前,前の行\r\n"
        "999999,2024/05/15,残,残る行\r\n".encode("cp932")
    )
    assert cli_import(config, before)["rows_imported"] == 3

    path = tmp_path / "20240516.csv"
    expected, bad = large_file(path, 330000)
    with PartsSeen(tmp_path / "var") as parts:
        run = cli_import(config, path)
    assert parts.seen, "the upsert was not read in parts"
    assert (run["state"], run["rows_total"], run["rows_failed"]) == ("completed", 330000, len(bad))
    assert (run["rows_inserted"], run["rows_updated"]) == (len(expected) - 2, 2)
    with sqlite3.connect(db_path) as db:
        got = db.execute(
            "SELECT member_no, date, NULL, note, region FROM performance"
            " WHERE member_no != 999999 ORDER BY member_no"
        ).fetchall()
        errors = db.execute(
            "SELECT line, message, said FROM run_errors WHERE run_id = ? ORDER BY line",
            (run["id"],),
        ).fetchall()
    assert got == expected  # rows 1 and 2 updated in place, the rest inserted
    assert [line for line, _, _ in errors] == sorted(bad.values())
    # Each error's words came through the parts: said again, in either language.
    for line, text, words in errors:
        assert said(words_of(words), "", "ja") == text
        assert said(words_of(words), "", "en").startswith(f"line {line}, column ")

    # The same file as a delete reads the key alone, in parts as well.
    text = config.read_text(encoding="utf-8").replace('mode = "upsert"', 'mode = "delete"')
    config.write_text(text, encoding="utf-8")
    with PartsSeen(tmp_path / "var") as parts:
        run = cli_import(config, path)
    assert parts.seen, "the delete was not read in parts"
    assert (run["state"], run["rows_deleted"]) == ("completed", len(expected))
    with sqlite3.connect(db_path) as db:
        left = db.execute("SELECT member_no, note FROM performance").fetchall()
    assert left == [(999999, "残る行")]


LAYOUT_WITH_KEY = """
[layouts.performance]
key = ["member_no"]
columns = [
  { name = "member_no", type = "int",  required = true },
  { name = "date",      type = "date", required = true },
  { name = "region",    type = "text" },
  { name = "note",      type = "text", max_length = 3000 },
]
"""


LAYOUT_WITH_REFERENCE = """
[layouts.members]
key = ["member_no"]
columns = [
  { name = "member_no", type = "int",  required = true },
  { name = "name",      type = "text" },
]

[layouts.performance]
columns = [
  { name = "member_no", type = "int",    required = true, reference = "members" },
  { name = "region",    type = "choice", values = ["関東0"] },
  { name = "note",      type = "text",   max_length = 3000 },
]
"""


def referencing_file(path, rows: int, missing: dict[int, int] | None = None) -> None:
    """A file over the size read in parts, of rows naming members 1..rows (or, at a
    row of `missing`, the member number it maps to) in seven regions."""
    lines = ["member_no,region,note"]
    for i in range(1, rows + 1):
        member = (missing or {}).get(i, i)
        lines.append(f"{member},関東{i % 7},備考 {i} {'x' * 400}")
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp932"))
    assert path.stat().st_size > staging.LARGE_FILE


@pytest.mark.slow
def test_references_and_created_choices_are_read_in_parts(tmp_path):
    """A large file whose layout checks references and creates choices is read in
    parts: its references are checked by the values the parts saw and its new choices
    learned from them. When a referenced row is missing, the file is read again in one
    pass, whose errors name each line."""
    rows = 42000
    limits = "[limits]\nmax_rows = 1000000\nmax_bytes = 100000000\n"
    accounts = account("acme", report="never", on_row_error="skip", on_unknown="create")
    accounts += account("master", layout="members", report="never")
    config = write_config(tmp_path, accounts, limits)
    text = config.read_text(encoding="utf-8").replace(LAYOUT, LAYOUT_WITH_REFERENCE)
    config.write_text(text, encoding="utf-8")
    members = tmp_path / "20240501.csv"
    members.write_bytes(
        ("member_no,name\r\n" + "".join(f"{i},会員{i}\r\n" for i in range(1, rows + 1))).encode(
            "cp932"
        )
    )
    result = renkei(
        "import", str(members), "--account", "master", "--json", "--config", str(config)
    )
    assert json.loads(result.stdout)["rows_imported"] == rows, result.stderr
    db_path = tmp_path / "var" / "renkei.db"

    path = tmp_path / "20240516.csv"
    referencing_file(path, rows)
    with PartsSeen(tmp_path / "var") as parts:
        run = cli_import(config, path)
    assert parts.seen, "the file was not read in parts"
    assert (run["state"], run["rows_imported"], run["rows_failed"]) == ("completed", rows, 0)
    with sqlite3.connect(db_path) as db:
        learned = db.execute(
            "SELECT value FROM choice_values WHERE layout = 'performance' ORDER BY value"
        ).fetchall()
        first = db.execute("SELECT member_no, region FROM performance ORDER BY rowid LIMIT 2")
        assert first.fetchall() == [(1, "関東1"), (2, "関東2")]
    assert [value for (value,) in learned] == [f"関東{i}" for i in range(1, 7)]

    # Two rows name members that do not exist: read again in one pass, which names
    # their lines; every other row is imported.
    referencing_file(path, rows, missing={5: 900001, 30000: 900002})
    with PartsSeen(tmp_path / "var") as parts:
        run = cli_import(config, path)
    assert parts.seen, "the file was not read in parts first"
    assert (run["state"], run["rows_imported"], run["rows_failed"]) == (
        "completed",
        rows - 2,
        2,
    )
    with sqlite3.connect(db_path) as db:
        errors = db.execute(
            "SELECT line, value FROM run_errors WHERE run_id = ? ORDER BY line", (run["id"],)
        ).fetchall()
        count = db.execute("SELECT count(*) FROM performance").fetchone()[0]
    assert errors == [(6, "900001"), (30001, "900002")]
    assert count == rows - 2  # the first run's rows replaced by the second's


def test_readers_started_ahead_of_a_broken_config_end_with_the_command(tmp_path):
    """`renkei import` of a large file starts its readers before it reads the config:
    a config it then refuses leaves none of them running."""
    path = tmp_path / "20240516.csv"
    large_file(path, 330000)
    assert path.stat().st_size > staging.LARGE_FILE
    config = tmp_path / "renkei.toml"
    config.write_text("[daemon\n", encoding="utf-8")
    command = [sys.executable, "-m", "daemon.cli", "import", str(path), "--account", "acme"]
    # A session of its own: what the command leaves running is still in it.
    proc = subprocess.Popen(
        [*command, "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        cwd=ROOT,
    )
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert "renkei.toml" in err
    deadline = time.monotonic() + 30
    while left := in_session(proc.pid):
        assert time.monotonic() < deadline, f"still running: {left}"
        time.sleep(0.2)


def in_session(sid: int) -> list[str]:
    """The command lines of the processes of session `sid`."""
    ps = subprocess.run(["ps", "-o", "args=", "-s", str(sid)], capture_output=True, text=True)
    return ps.stdout.splitlines()


@pytest.mark.slow
def test_a_large_upsert_takes_a_key_listed_twice_as_rows_one_after_another(tmp_path):
    """Read in parts: a key listed again a row below (within one range the keyed
    writer takes at a time, which is then resolved in a table of its own), written
    as the same number or with a leading zero, and one listed again far below (a
    later range, read where it lies): the last row of each wins, in the place of the
    first."""
    limits = "[limits]\nmax_rows = 1000000\nmax_bytes = 100000000\n"
    config = write_config(
        tmp_path, account("acme", report="never", on_row_error="skip", mode="upsert"), limits
    )
    text = config.read_text(encoding="utf-8").replace(LAYOUT, LAYOUT_WITH_KEY)
    config.write_text(text, encoding="utf-8")
    # row: the key it lists again. The second half, its own part, repeats a key only
    # as `0200000`, which its reader must take for the number it is.
    again = {11: "10", 200001: "0200000", 300000: "20"}
    lines = ["member_no,date,region,note"]
    for i in range(1, 330001):
        lines.append(f"{again.get(i, i)},2024/05/16,関東{i % 7},備考 {i} {'x' * 30}")
    path = tmp_path / "20240516.csv"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp932"))
    assert path.stat().st_size > staging.LARGE_FILE
    with PartsSeen(tmp_path / "var") as parts:
        run = cli_import(config, path)
    assert parts.seen, "the upsert was not read in parts"
    assert (run["state"], run["rows_total"]) == ("completed", 330000)
    assert (run["rows_inserted"], run["rows_updated"]) == (329997, 3)
    with sqlite3.connect(tmp_path / "var" / "renkei.db") as db:
        first = db.execute("SELECT member_no FROM performance ORDER BY rowid LIMIT 12").fetchall()
        notes = db.execute(
            "SELECT member_no, note FROM performance"
            " WHERE member_no IN (10, 11, 20, 200000, 200001, 300000) ORDER BY member_no"
        ).fetchall()
        [[count]] = db.execute("SELECT count(*) FROM performance").fetchall()
    assert [n for (n,) in first] == [*range(1, 11), 12, 13]
    assert notes == [
        (10, f"備考 11 {'x' * 30}"),
        (20, f"備考 300000 {'x' * 30}"),
        (200000, f"備考 200001 {'x' * 30}"),
    ]
    assert count == 329997
