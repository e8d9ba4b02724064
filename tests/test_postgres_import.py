"""`renkei import` into PostgreSQL: a large file read in parallel parts and loaded by
COPY, with its row errors, in one transaction with its run.

A real PostgreSQL server (tests/postgres.py); the rows are read back with psycopg.
"""

from __future__ import annotations

import psycopg
import pytest

from tests.support import LAYOUT, account, cli_import, csv_bytes, write_config
from tests.test_staging import PartsSeen

pytestmark = pytest.mark.slow
ROWS = 600_000  # past staging.LARGE_FILE (16 MiB): read by reader processes in parts


def test_a_large_file_is_copied_in_with_its_errors(tmp_path, pg_url):
    extra = f'[store]\nurl = "{pg_url}"\n[limits]\nmax_rows = 1000000\nmax_bytes = 104857600\n'
    config = write_config(tmp_path, account("acme", on_row_error="skip"), extra=extra)
    lines = [f'{i},2024/05/16,{i * 3},"備考\t{i}\\ 改行\nあり"' for i in range(ROWS)]
    lines[10] = "x,2024/05/16,1,bad member"
    lines[20] = "20,2024/05/16,,"  # empty cells: '' in a text column, NULL in another
    lines[ROWS - 5] = "7,2024/02/30,1,bad date"
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

    lines = [f"{i},2024/05/16,{i * 3},備考 {i} {'x' * 2000}" for i in range(1, KEYED_ROWS + 1)]
    lines[10] = "x,2024/05/16,1,bad member"
    lines.append("7,2024/05/17,70,七の二度目")  # a key listed again: the last row wins
    source = tmp_path / "20240516.csv"
    source.write_bytes(csv_bytes(lines))
    assert source.stat().st_size > 16 * 1024 * 1024
    with PartsSeen(tmp_path / "var") as parts:
        run = cli_import(config, source)
    assert parts.seen, "the upsert was not read in parts"
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
