"""`renkei import` into PostgreSQL: a large file read in parallel parts and loaded by
COPY, with its row errors, in one transaction with its run; each part streamed to COPY
while it is read, and taken back with the run when the file fails after all.

A real PostgreSQL server (tests/postgres.py); the rows are read back with psycopg.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import psycopg
import pytest

from daemon.store.postgres.connection import Connection
from tests.support import LAYOUT, account, cli_import, csv_bytes, write_config
from tests.test_staging import PartsSeen

pytestmark = pytest.mark.slow
ROWS = 600_000  # past staging.LARGE_FILE (16 MiB): read by reader processes in parts


def large_config(tmp_path, pg_url, **keys):
    extra = f'[store]\nurl = "{pg_url}"\n[limits]\nmax_rows = 1000000\nmax_bytes = 104857600\n'
    return write_config(tmp_path, account("acme", report="never", **keys), extra=extra)


def large_lines() -> list[str]:
    """ROWS records, each note quoted and over two lines."""
    return [f'{i},2024/05/16,{i * 3},"備考\t{i}\\ 改行\nあり"' for i in range(ROWS)]


def rows_in(pg_url) -> list[tuple]:
    with psycopg.connect(pg_url) as conn:
        return conn.execute("SELECT member_no FROM performance ORDER BY rowid").fetchall()


def test_a_large_file_is_copied_in_with_its_errors(tmp_path, pg_url):
    extra = f'[store]\nurl = "{pg_url}"\n[limits]\nmax_rows = 1000000\nmax_bytes = 104857600\n'
    config = write_config(tmp_path, account("acme", on_row_error="skip"), extra=extra)
    lines = large_lines()
    lines[10] = "x,2024/05/16,1,bad member"
    lines[20] = "20,2024/05/16,,"  # empty cells: '' in a text column, NULL in another
    lines[ROWS - 5] = "7,2024/02/30,1,bad date"
    lines[30] = "0030,2024/05/16,000090,zeros"  # COPY reads the digits as the number
    source = tmp_path / "20240516.csv"
    source.write_bytes(csv_bytes(lines))
    assert source.stat().st_size > 16 * 1024 * 1024
    run = cli_import(config, source)
    assert run["state"] == "completed", run["message"]
    assert (run["rows_total"], run["rows_imported"], run["rows_failed"]) == (ROWS, ROWS - 2, 2)
    with psycopg.connect(pg_url) as conn:
        count, low, high, total = conn.execute(
            "SELECT count(*), min(member_no), max(member_no), sum(sales_amount) FROM performance"
        ).fetchone()
        assert (count, low, high) == (ROWS - 2, 0, ROWS - 1)
        assert total == sum(i * 3 for i in range(ROWS)) - 30 - 60 - (ROWS - 5) * 3
        empty = conn.execute("SELECT sales_amount, note FROM performance WHERE member_no = 20")
        assert empty.fetchone() == (None, "")
        zeros = conn.execute("SELECT sales_amount, note FROM performance WHERE member_no = 30")
        assert zeros.fetchone() == (90, "zeros")
        # Tabs, backslashes and line breaks inside a cell survive COPY's text format.
        note, date, meta = conn.execute(
            "SELECT note, date, _account || '/' || _source_file || '/' || _run_id"
            " FROM performance WHERE member_no = 42"
        ).fetchone()
        assert note == "備考\t42\\ 改行\nあり" and date == "2024-05-16"
        assert meta == f"acme/20240516.csv/{run['id']}"
        errors = conn.execute(
            'SELECT line, "column" FROM run_errors WHERE run_id = %s ORDER BY rowid', (run["id"],)
        ).fetchall()
        # Line numbers count the header and the two physical lines of each record.
        assert [column for _, column in errors] == ["member_no", "date"]
        types = dict(
            conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns"
                " WHERE table_name = 'performance'"
            ).fetchall()
        )
        assert types == {
            "member_no": "bigint",
            "date": "text",
            "sales_amount": "bigint",
            "note": "text",
            "_account": "text",
            "_source_file": "text",
            "_run_id": "text",
            "rowid": "bigint",
        }


KEYED_ROWS = 8_500  # with notes of 2,000 characters, past staging.LARGE_FILE as well
KEYED_LAYOUT = LAYOUT.replace(
    "[layouts.performance]\n", '[layouts.performance]\nkey = ["member_no"]\n'
)


def keyed_lines() -> list[str]:
    """KEYED_ROWS records whose notes take them past staging.LARGE_FILE."""
    return [f"{i},2024/05/16,{i * 3},備考 {i} {'x' * 2000}" for i in range(1, KEYED_ROWS + 1)]


def imported_in_parts(tmp_path, config, lines: list[str], mode: str) -> tuple[dict, Path]:
    """`lines` imported by `renkei import`, which must have read them in parts: the
    run, and the file."""
    source = tmp_path / "20240516.csv"
    source.write_bytes(csv_bytes(lines))
    assert source.stat().st_size > 16 * 1024 * 1024
    with PartsSeen(tmp_path / "var") as parts:
        run = cli_import(config, source)
    assert parts.seen, f"the {mode} was not read in parts"
    return run, source


def test_a_large_upsert_and_delete_are_read_in_parts(tmp_path, pg_url):
    """A keyed mode takes the parallel path on PostgreSQL too: each part's COPY text
    goes into a temporary table, which the keyed writer reads a range at a time."""
    extra = f'[store]\nurl = "{pg_url}"\n[limits]\nmax_rows = 1000000\nmax_bytes = 104857600\n'
    config = write_config(
        tmp_path, account("acme", on_row_error="skip", mode="upsert", report="never"), extra=extra
    )
    text = config.read_text(encoding="utf-8").replace(LAYOUT, KEYED_LAYOUT)
    config.write_text(text, encoding="utf-8")
    before = tmp_path / "20240515.csv"
    before.write_bytes(csv_bytes(["1,2024/05/15,1,前", "999999,2024/05/15,9,残る行"]))
    assert cli_import(config, before)["rows_imported"] == 2

    lines = keyed_lines()
    lines[10] = "x,2024/05/16,1,bad member"
    lines.append("7,2024/05/17,70,七の二度目")  # a key listed again: the last row wins
    run, source = imported_in_parts(tmp_path, config, lines, "upsert")
    assert run["state"] == "completed", run["message"]
    assert (run["rows_total"], run["rows_failed"]) == (KEYED_ROWS + 1, 1)
    # Key 1 was there; key 7 is inserted, then updated by its second row.
    assert (run["rows_inserted"], run["rows_updated"]) == (KEYED_ROWS - 2, 2)
    with psycopg.connect(pg_url) as conn:
        count = conn.execute("SELECT count(*) FROM performance").fetchone()[0]
        seven = conn.execute(
            "SELECT date, sales_amount, note FROM performance WHERE member_no = 7"
        ).fetchall()
        first = conn.execute("SELECT member_no FROM performance ORDER BY rowid LIMIT 4").fetchall()
    assert count == KEYED_ROWS - 1 + 1  # one bad row; the untouched 999999
    assert seven == [("2024-05-17", 70, "七の二度目")]
    assert [n for (n,) in first] == [1, 999999, 2, 3]  # 1 updated in place

    text = config.read_text(encoding="utf-8").replace('mode = "upsert"', 'mode = "delete"')
    config.write_text(text, encoding="utf-8")
    with PartsSeen(tmp_path / "var") as parts:
        run = cli_import(config, source)
    assert parts.seen, "the delete was not read in parts"
    assert run["state"] == "completed", run["message"]
    assert run["rows_deleted"] == KEYED_ROWS - 1
    with psycopg.connect(pg_url) as conn:
        left = conn.execute("SELECT member_no, note FROM performance").fetchall()
    assert left == [(999999, "残る行")]


def test_a_large_delete_by_one_number_key_refuses_an_empty_key(tmp_path, pg_url):
    """Read in parts, a delete's COPY text holds the key alone: an empty key cell is
    the row's error there, as in one pass (a keyed mode requires its key: rows of an
    empty key would all be one record), not a '' the number column refuses nor a NULL
    that matches the row imported without a key."""
    extra = f'[store]\nurl = "{pg_url}"\n[limits]\nmax_rows = 1000000\nmax_bytes = 104857600\n'
    config = write_config(tmp_path, account("acme", on_row_error="skip", report="never"), extra)
    keyed = LAYOUT.replace(
        "[layouts.performance]\n", '[layouts.performance]\nkey = ["sales_amount"]\n'
    )
    config.write_text(config.read_text(encoding="utf-8").replace(LAYOUT, keyed), encoding="utf-8")
    before = tmp_path / "20240515.csv"
    before.write_bytes(csv_bytes(["1,2024/05/15,3,三", "2,2024/05/15,6,六", "3,2024/05/15,,空"]))
    assert cli_import(config, before)["rows_imported"] == 3

    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("[accounts.acme]\n", '[accounts.acme]\nmode = "delete"\n'))
    lines = keyed_lines()
    lines[100] = "101,2024/05/16,,empty key"
    run, _ = imported_in_parts(tmp_path, config, lines, "delete")
    assert run["state"] == "completed", run["message"]
    counts = (run["rows_deleted"], run["rows_failed"], run["rows_not_found"])
    assert counts == (2, 1, KEYED_ROWS - 3)
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT note FROM performance").fetchall() == [("空",)]


def test_a_large_file_rejected_after_its_parts_were_streamed_leaves_no_row(tmp_path, pg_url):
    """With on_row_error = "reject", the rows streamed to COPY while the file was read
    go with the run's transaction when a row near its end turns out wrong."""
    config = large_config(tmp_path, pg_url, on_row_error="reject")
    lines = large_lines()
    lines[ROWS - 3] = "3,2024/02/30,1,bad date"
    source = tmp_path / "20240516.csv"
    source.write_bytes(csv_bytes(lines))
    run = cli_import(config, source)
    assert run["state"] == "failed" and run["rows_imported"] == 0, run
    assert run["rows_failed"] == 1
    assert rows_in(pg_url) == []


def test_a_large_file_undecodable_in_its_second_half_leaves_no_row(tmp_path, pg_url):
    """A part whose reader stops at a byte CP932 has no character for: the file fails
    with that problem, and what the first part streamed is taken back."""
    config = large_config(tmp_path, pg_url)
    data = csv_bytes(large_lines())
    at = data.index(b"\r\n", len(data) * 3 // 4) + 2
    source = tmp_path / "20240516.csv"
    source.write_bytes(data[:at] + b"7,2024/05/16,1,\x85\x40\r\n" + data[at:])
    run = cli_import(config, source)
    assert run["state"] == "failed" and run["rows_imported"] == 0, run
    line = data[:at].count(b"\n") + 1  # the bad record's line, in the whole file
    assert f"{line}行目" in run["message"] and "Shift_JIS(CP932)" in run["message"], run["message"]
    assert rows_in(pg_url) == []


def test_a_cut_the_quotes_misled_is_read_again_as_one_part(tmp_path, pg_url):
    """A quote inside an unquoted cell turns the quote count for the cut: the first
    part ends inside a quoted cell. The rows streamed so far are taken back and the
    file is read again as one part, each row once, in the file's order."""
    config = large_config(tmp_path, pg_url)
    lines = large_lines()
    lines[5] = '5,2024/05/16,15,ab"c'  # the csv module keeps it as text
    source = tmp_path / "20240516.csv"
    source.write_bytes(csv_bytes(lines))
    run = cli_import(config, source)
    assert run["state"] == "completed", run["message"]
    assert (run["rows_total"], run["rows_imported"]) == (ROWS, ROWS)
    assert rows_in(pg_url) == [(i,) for i in range(ROWS)]
    with psycopg.connect(pg_url) as conn:
        note = conn.execute("SELECT note FROM performance WHERE member_no = 5").fetchone()[0]
    assert note == 'ab"c'


def test_a_growing_file_is_copied_while_it_is_written(tmp_path, pg_url):
    """Connection.copy_growing sends what a file holds while another writes it: the
    server has rows of it before the file is finished, and all of them after."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE grown (n BIGINT, t TEXT)")
    path = tmp_path / "part0.db.copy"
    half = "".join(f'{n},"行 {n}"\n' for n in range(50_000))
    path.write_text(half, encoding="utf-8")

    async def main() -> int:
        finished = asyncio.Event()
        db = Connection(pg_url)
        await db.execute("BEGIN")
        copying = asyncio.create_task(
            db.copy_growing("COPY grown (n, t) FROM STDIN WITH (FORMAT csv)", path, finished)
        )
        seen = await asyncio.to_thread(progress_of_copy, pg_url)
        assert not copying.done()
        with open(path, "a", encoding="utf-8") as f:
            f.write("".join(f'{n},"行 {n}"\n' for n in range(50_000, 80_000)))
        finished.set()
        await copying
        await db.commit()
        await db.close()
        return seen

    assert asyncio.run(main()) > 0  # rows in before the file was finished
    with psycopg.connect(pg_url) as conn:
        count, top = conn.execute("SELECT count(*), max(n) FROM grown").fetchone()
    assert (count, top) == (80_000, 79_999)


def progress_of_copy(pg_url, timeout: float = 30) -> int:
    """Rows a COPY in progress on the server has taken, once it has taken some."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(pg_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute("SELECT tuples_processed FROM pg_stat_progress_copy").fetchone()
            if row and row[0]:
                return int(row[0])
            time.sleep(0.01)
    raise AssertionError("no COPY took rows before its file was finished")


def test_rows_a_constraint_refuses_fail_the_run_at_once(tmp_path, pg_url):
    """As on SQLite: a psycopg IntegrityError is the data's, not a fault of the moment."""
    config = large_config(tmp_path, pg_url)
    first = tmp_path / "20240515.csv"
    first.write_bytes(csv_bytes(["1,2024/05/15,1,a"]))
    assert cli_import(config, first)["state"] == "completed"
    with psycopg.connect(pg_url) as conn:
        conn.execute("CREATE UNIQUE INDEX one_member ON performance (member_no)")
    source = tmp_path / "20240516.csv"
    source.write_bytes(csv_bytes(["2,2024/05/16,1,b", "2,2024/05/16,2,c"]))
    run = cli_import(config, source)
    assert (run["state"], run["rows_imported"]) == ("failed", 0), run
    assert "データベースがこのファイルの行を受け付けませんでした" in run["message"]
    assert "one_member" in run["message"]
    assert rows_in(pg_url) == [(1,)]


CODES = """
[layouts.codes]
key = ["code"]
columns = [
  { name = "code", type = "text", required = true },
  { name = "note", type = "text", max_length = 3000 },
]
"""


def test_cells_copy_could_misread_keep_every_row_of_a_part(tmp_path, pg_url):
    """A part goes to the server as COPY's CSV. A key `\\.`, alone on its line in a
    delete's one-column part, ended the data there: the part's later keys were left
    undeleted while the run counted them all. A lone CR in a quoted cell went out
    unquoted, which COPY refuses: the whole file failed, blamed on the table."""
    extra = CODES + (
        f'[store]\nurl = "{pg_url}"\n[limits]\nmax_rows = 1000000\nmax_bytes = 104857600\n'
    )
    keys = {"layout": "codes", "mode": "upsert", "on_row_error": "skip", "report": "never"}
    config = write_config(tmp_path, account("acme", **keys), extra=extra)
    lines = [f"K{i},{'x' * 2000}" for i in range(KEYED_ROWS)]
    lines[1] = "\\.,バックスラッシュとドット"
    lines[5] = 'K5,"CR\rだけ"'
    source = tmp_path / "20240516.csv"
    source.write_bytes(("\r\n".join(["code,note", *lines]) + "\r\n").encode("cp932"))
    assert source.stat().st_size > 16 * 1024 * 1024
    with PartsSeen(tmp_path / "var") as parts:
        run = cli_import(config, source)
    assert parts.seen, "the upsert was not read in parts"
    assert (run["state"], run["rows_inserted"]) == ("completed", KEYED_ROWS), run["message"]
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT note FROM codes WHERE code = 'K5'").fetchone() == ("CR\rだけ",)
        assert conn.execute("SELECT count(*) FROM codes").fetchone() == (KEYED_ROWS,)

    text = config.read_text(encoding="utf-8").replace('mode = "upsert"', 'mode = "delete"')
    config.write_text(text, encoding="utf-8")
    with PartsSeen(tmp_path / "var") as parts:
        run = cli_import(config, source)
    assert parts.seen, "the delete was not read in parts"
    assert (run["state"], run["rows_deleted"]) == ("completed", KEYED_ROWS), run["message"]
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM codes").fetchone() == (0,)
