"""The generated row converter and the multi-row INSERT: fast paths that must not
change a single value."""

import sqlite3

import pytest

from daemon.store.multirow import RowInsert
from importers.errors import CellError
from importers.layouts import ColumnSpec, converter, row_converter

TRICKY = [
    "",
    "0",
    "007",
    "12345",
    "1,234",
    "12,345,678",
    "1,234,567,890,123",
    "12,345,678,901,234",
    "1,23",
    "1234,567",
    ",123",
    "1,234,",
    "-1,000",
    "+5",
    " 1",
    "1_000",
    "１２３",
    "１，２３４",
    "٣",
    "²",
    "9" * 13,
    "9" * 14,
    "9" * 18,
    "9" * 19,
    "9" * 30,
    "9,999,999,999,999",
    "99,999,999,999,999",
    "2024/05/16",
    "2024-5-6",
    "2024/02/30",
    "abc",
]
COLUMNS = [
    ColumnSpec("a", "int"),
    ColumnSpec("b", "int", required=True),
    ColumnSpec("c", "int", max_digits=13),
    ColumnSpec("d", "int", max_digits=3),
    ColumnSpec("e", "date"),
    ColumnSpec("f", "text", max_length=5),
    ColumnSpec("g", "text", required=True),
]


def outcome(convert, cell):
    try:
        return convert(cell)
    except CellError as exc:
        return ("error", exc.key)


@pytest.mark.parametrize("column", COLUMNS, ids=lambda c: f"{c.type}-{c.name}")
@pytest.mark.parametrize("cell", TRICKY)
def test_fast_path_agrees_with_the_full_converter(column, cell):
    full = converter(column)
    fast = row_converter([column], None, [])
    # Twice: date cells are remembered after their first conversion.
    for _ in range(2):
        assert outcome(lambda c: fast([c])[0], cell) == outcome(full, cell)


def test_grouped_numbers_are_read_without_commas():
    convert = row_converter([ColumnSpec("n", "int", max_digits=13)], None, [])
    assert convert(["1,234,567"]) == [1234567]
    with pytest.raises(CellError):
        convert(["12,345,678,901,234"])  # 14 digits


@pytest.mark.parametrize("count", [0, 1, 249, 250, 1001])
@pytest.mark.parametrize("width", [1, 4, 1200])
def test_multirow_insert_keeps_every_row_in_order(count, width):
    db = sqlite3.connect(":memory:")
    db.execute(f"CREATE TABLE t ({', '.join(f'c{i}' for i in range(width))})")
    rows = [[f"{r}-{i}" if i else r for i in range(width)] for r in range(count)]
    insert = RowInsert.plain("INSERT INTO t VALUES ", width)
    for sql, params in insert.statements(rows):
        db.executemany(sql, params)
    got = db.execute("SELECT * FROM t ORDER BY rowid").fetchall()
    assert got == [tuple(row) for row in rows]


def test_multirow_insert_with_literals_beside_the_values():
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (a, b, who)")
    insert = RowInsert("INSERT INTO t (a, b, who) VALUES ", "(?, ?, 'x')", 2)
    for sql, params in insert.statements([[1, "一"], [2, "二"], [3, None]]):
        db.executemany(sql, params)
    assert db.execute("SELECT * FROM t").fetchall() == [
        (1, "一", "x"),
        (2, "二", "x"),
        (3, None, "x"),
    ]


def test_multirow_insert_refuses_a_row_of_the_wrong_width():
    with pytest.raises(ValueError):
        RowInsert.plain("INSERT INTO t VALUES ", 2).statements([[1, 2], [3]])
