"""`python -m importers.stager`: reads one part of a file into a staging database.

A large file is split into parts read side by side, one process each, so that
parsing and converting use every core. Each part's converted rows and row errors go
into a scratch SQLite file of its own; the daemon then copies the rows into the
layout's table with one INSERT … SELECT inside the run's transaction. Reads a pickled
(path, spec, sniffed, part, table, target) from stdin; writes pickled messages to
stdout: ("progress", bytes) now and then, then ("done", records, failed) or
("problem", p). Imports only importers/ and the standard library, so it starts in a
few milliseconds.
"""

from __future__ import annotations

import gc
import pickle
import sqlite3
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from importers.errors import ImportProblem
from importers.multirow import RowInsert
from importers.reader import CsvFile

ROWS_TABLE = "staged_rows"
ERRORS_TABLE = "staged_errors"


@dataclass(frozen=True, slots=True)
class StagedTable:
    """The scratch rows table: the layout's table column for column.

    With the same columns, types and constraints in the same order, SQLite copies
    `INSERT INTO layout SELECT * FROM staged_rows` record by record without decoding
    a value (a third faster on a million rows). `definitions` are the layout table's
    columns; `values` is one row's VALUES tuple, a `?` for each of `columns` (the
    file's columns, in the table's order) and a literal for every other column.
    """

    definitions: list[str]
    values: str
    columns: list[str]


def create(target: Path, table: StagedTable) -> sqlite3.Connection:
    """A scratch database: no journal, no fsync; a crash only means reading again."""
    db = sqlite3.connect(target, isolation_level=None)
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    db.execute(f"CREATE TABLE {ROWS_TABLE} ({', '.join(table.definitions)})")
    db.execute(f"CREATE TABLE {ERRORS_TABLE} (line, column_name, value, message)")
    return db


def stage(csv_file: CsvFile, table: StagedTable, target: Path, send: Any) -> tuple[int, int]:
    """Read `csv_file`'s part into `target`; (records, failed)."""
    assert csv_file.part is not None
    assert [c.name for c in csv_file.spec.columns] == table.columns
    db = create(target, table)
    insert_rows = RowInsert(f"INSERT INTO {ROWS_TABLE} VALUES ", table.values, len(table.columns))
    insert_error = f"INSERT INTO {ERRORS_TABLE} VALUES (?, ?, ?, ?)"
    records = failed = 0
    try:
        db.execute("BEGIN")
        for chunk in csv_file.chunks():
            for sql, params in insert_rows.statements(chunk.rows):
                db.executemany(sql, params)
            if chunk.errors:
                db.executemany(
                    insert_error, ((e.line, e.column, e.value, e.message) for e in chunk.errors)
                )
            records += chunk.records
            failed += chunk.records - len(chunk.rows)
            send(("progress", chunk.bytes_read - csv_file.part.start))
        db.execute("COMMIT")
    finally:
        db.close()
    return records, failed


def main() -> int:
    # Rows are lists that never form cycles, and a chunk of them is alive at a time:
    # the cycle collector would only walk them again and again.
    gc.disable()
    try:
        path, spec, sniffed, part, table, target = pickle.load(sys.stdin.buffer)
    except EOFError:  # started ahead and then not needed: the file had fewer parts
        return 0
    out = sys.stdout.buffer

    def send(message: tuple) -> None:
        pickle.dump(message, out, protocol=pickle.HIGHEST_PROTOCOL)
        out.flush()

    csv_file = CsvFile(path, spec, part)
    csv_file.sniffed = sniffed
    try:
        records, failed = stage(csv_file, table, Path(target), send)
    except ImportProblem as problem:
        send(("problem", problem))
    else:
        send(("done", records, failed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
