"""Scratch databases: where a reader process puts one part of a large file.

Each part's converted rows and row errors go into a SQLite file of its own, which
the run's transaction then attaches and copies (tables.LayoutTables.copy_staged).
Imports only the standard library, so a reader process starts in milliseconds.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from daemon.store.multirow import RowInsert
from importers.errors import RowError

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
    # PostgreSQL: the rows go to `<scratch>.copy` as COPY text instead, each table
    # column (rowid aside) taken from the row's cell at an index, or a constant text,
    # or NULL (None); the run's session streams that file to COPY as it is.
    copy: tuple[int | str | None, ...] | None = None


def copy_path(scratch: Path) -> Path:
    return scratch.with_name(scratch.name + ".copy")


# COPY's text format: these four are written as escapes; NULL is \N.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_line(row: Sequence[object], template: Sequence[int | str | None]) -> str:
    cells = []
    for at in template:
        value = row[at] if isinstance(at, int) else at
        if value is None:
            cells.append("\\N")
        elif isinstance(value, str):
            cells.append(value.translate(_COPY_ESCAPES))
        else:
            cells.append(str(int(value)) if isinstance(value, bool) else str(value))
    return "\t".join(cells) + "\n"


class ScratchWriter:
    """Writes one part's rows and errors in one transaction; no journal, no fsync: a
    crash only means reading the part again."""

    def __init__(self, target: Path, table: StagedTable) -> None:
        self.db = sqlite3.connect(target, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=OFF")
        self.db.execute("PRAGMA synchronous=OFF")
        self.db.execute(f"CREATE TABLE {ROWS_TABLE} ({', '.join(table.definitions)})")
        # `record`: the record's cells as the file has them, as a JSON array (the
        # error CSV repeats them); NULL for a problem of no one record.
        self.db.execute(f"CREATE TABLE {ERRORS_TABLE} (line, column_name, value, message, record)")
        self._rows = RowInsert(
            f"INSERT INTO {ROWS_TABLE} VALUES ", table.values, len(table.columns)
        )
        self._error = f"INSERT INTO {ERRORS_TABLE} VALUES (?, ?, ?, ?, ?)"
        self._copy = table.copy
        self._text = None
        if table.copy:
            # Closed by close(), which the reader calls in a finally.
            self._text = open(copy_path(target), "w", encoding="utf-8", newline="\n")  # noqa: SIM115
        self.db.execute("BEGIN")

    def add(self, rows: Sequence[Sequence[object]], errors: Sequence[RowError]) -> None:
        if self._text is not None and self._copy is not None:
            template = self._copy
            self._text.write("".join(copy_line(row, template) for row in rows))
        else:
            for sql, params in self._rows.statements(rows):
                self.db.executemany(sql, params)
        if errors:
            self.db.executemany(
                self._error,
                ((e.line, e.column, e.value, e.message, record_text(e.record)) for e in errors),
            )

    def commit(self) -> None:
        if self._text is not None:
            self._text.flush()
        self.db.execute("COMMIT")

    def close(self) -> None:
        if self._text is not None:
            self._text.close()
        self.db.close()


def record_text(record: list[str] | None) -> str | None:
    return None if record is None else json.dumps(record, ensure_ascii=False)


def record_of(text: str | None) -> list[str] | None:
    return None if text is None else json.loads(text)
