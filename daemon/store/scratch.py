"""Scratch databases: where a reader process puts one part of a large file.

Each part's converted rows and row errors go into a SQLite file of its own, which
the run's transaction then attaches and copies (tables.LayoutTables.copy_staged).
Imports only the standard library, so a reader process starts in milliseconds.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import operator
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from daemon.store.multirow import RowInsert
from importers.errors import RowError
from importers.messages import words_json, words_of

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
    # PostgreSQL: the rows go to `<scratch>.copy` as COPY's CSV instead, each table
    # column (rowid aside) taken from the row's cell at an index, or a constant text,
    # or NULL (None); the run's session streams that file to COPY as it is.
    copy: tuple[int | str | None, ...] | None = None
    # The file columns whose table column makes a text of plain digits the integer
    # it spells (ColumnSpec.digits_as_text).
    integers: frozenset[str] = frozenset()
    # A keyed mode's key columns, by position: the reader says whether its part lists
    # a key more than once (keyed.KeyedWriter.write_staged takes a part that does not
    # where it lies).
    key: tuple[int, ...] = ()
    # The layout table's columns as they were when this was made (rowid aside): what
    # a part's rows fill, in order, however a reload has changed the table since.
    table_columns: tuple[str, ...] = ()


def copy_path(scratch: Path) -> Path:
    return scratch.with_name(scratch.name + ".copy")


def constant_tail(table: StagedTable) -> tuple[str, ...] | None:
    """The constants that end every row of a COPY table whose file columns come first,
    in order, and all of whose others are constants, as the meta columns of a table
    renkei made; None for any other table."""
    if table.copy is None:
        return None
    width = len(table.columns)
    head, rest = table.copy[:width], table.copy[width:]
    constants = tuple(value for value in rest if isinstance(value, str))
    if list(head) != list(range(width)) or len(constants) != len(rest):
        return None
    return constants


def copy_rows(
    rows: Iterable[list[object]], width: int, template: Sequence[int | str | None]
) -> Iterator[tuple[object, ...]]:
    """`rows` (of `width` cells) as the table's columns, by `template`: an itemgetter
    over the row and the constants after it, so that no Python code runs per cell
    (the csv module writes them; a million rows cost what SQLite's inserts did)."""
    tail = [at for at in template if not isinstance(at, int)]
    picks = [at if isinstance(at, int) else width + tail.index(at) for at in template]
    pick = operator.itemgetter(*picks)
    if len(picks) == 1:  # itemgetter of one index gives the cell, not a row of it
        at = picks[0]

        def pick(row: list[object]) -> tuple[object, ...]:
            return (row[at],)

    return map(pick, map(operator.add, rows, itertools.repeat(tail)))


class ScratchWriter:
    """Writes one part's rows and errors in one transaction; no journal, no fsync: a
    crash only means reading the part again."""

    def __init__(self, target: Path, table: StagedTable) -> None:
        self.db = sqlite3.connect(target, isolation_level=None)
        # Rows only ever appended, then read once in order: large pages make fewer
        # of them to fill and link (the part's inserts 0.41 s -> 0.35 s, its copy into
        # the layout's table 0.21 s -> 0.19 s, for 500,000 rows of four columns).
        self.db.execute("PRAGMA page_size=65536")
        self.db.execute("PRAGMA journal_mode=OFF")
        self.db.execute("PRAGMA synchronous=OFF")
        if not table.copy:
            self.db.execute(f"CREATE TABLE {ROWS_TABLE} ({', '.join(table.definitions)})")
        # `record`: the record's cells as the file has them, as a JSON array (the
        # error CSV repeats them); NULL for a problem of no one record. `said`: the
        # message as catalog words (messages.words_json).
        self.db.execute(f"CREATE TABLE {ERRORS_TABLE} ({ERROR_COLUMNS})")
        self._rows = RowInsert(
            f"INSERT INTO {ROWS_TABLE} VALUES ", table.values, len(table.columns)
        )
        self._error = f"INSERT INTO {ERRORS_TABLE} VALUES (?, ?, ?, ?, ?, ?)"
        self._copy = table.copy
        self.errors = 0  # row errors written
        self._width = len(table.columns)
        self._text: TextIO | None = None
        self._laid_out = False  # rows are written as they come, no step per row
        self._one_cell = table.copy is not None and len(table.copy) == 1
        if table.copy:
            # Closed by close(), which the reader calls in a finally.
            self._text = open(copy_path(target), "w", encoding="utf-8", newline="")  # noqa: SIM115
            # COPY's CSV: None is written unquoted and empty, which COPY reads as NULL;
            # text columns (never None) are read with FORCE_NOT_NULL, so '' stays ''.
            # CRLF, so that the csv module quotes a cell holding a lone CR too (it
            # quotes only the terminator's characters), which COPY refuses unquoted.
            end = "\r\n"
            tail = constant_tail(table)
            # The constant columns (the meta columns) end each row as part of its line
            # terminator, written once here rather than formatted for every row: they
            # took a fifth of a reader's time. The csv module then also quotes a cell
            # holding any character of the terminator, which COPY reads the same. Not
            # for one file column: a row of one empty cell is written `""` (see
            # _add_cells), which the terminator would then not set apart.
            if tail is not None and self._width > 1:
                end = "".join("," + cell for cell in _csv_cells(tail)) + "\r\n"
                self._laid_out = True
            self._csv = csv.writer(self._text, lineterminator=end)
        self.db.execute("BEGIN")

    def add(self, rows: Sequence[Sequence[object]], errors: Sequence[RowError]) -> None:
        if self._one_cell:
            self._add_cells(rows)
        elif self._laid_out:
            self._csv.writerows(rows)
        elif self._copy is not None:
            self._csv.writerows(copy_rows(rows, self._width, self._copy))
        else:
            for sql, params in self._rows.statements(rows):
                self.db.executemany(sql, params)
        if errors:
            self.errors += len(errors)
            self.db.executemany(
                self._error,
                (
                    (
                        e.line,
                        e.column,
                        e.value,
                        e.message,
                        record_text(e.record),
                        words_json(e.said),
                    )
                    for e in errors
                ),
            )

    def _add_cells(self, rows: Sequence[Sequence[object]]) -> None:
        """Rows of one cell (a delete's or set's one key): an empty one (NULL) as an
        empty line, which COPY reads as NULL. The csv module writes it `""`, to tell it
        from an empty line, and COPY reads that as '', which a number column refuses.
        A cell `\\.` is quoted: alone on its line COPY takes it for the end of the data,
        and the part's rows after it were dropped unsaid."""
        assert self._text is not None
        for row in rows:
            if row[0] is None:
                self._text.write("\r\n")
            elif row[0] == "\\.":
                self._text.write('"\\."\r\n')
            else:
                self._csv.writerow(row[:1])

    def commit(self) -> None:
        if self._text is not None:
            self._text.flush()
        self.db.execute("COMMIT")

    def close(self) -> None:
        if self._text is not None:
            self._text.close()
        self.db.close()


def _csv_cells(values: Sequence[str]) -> list[str]:
    """Each value as a cell of COPY's CSV (quoted where it must be)."""
    cells = []
    for value in values:
        out = io.StringIO()
        csv.writer(out, lineterminator="").writerow([value])
        cells.append(out.getvalue())
    return cells


def record_text(record: list[str] | None) -> str | None:
    return None if record is None else json.dumps(record, ensure_ascii=False)


def record_of(text: str | None) -> list[str] | None:
    return None if text is None else json.loads(text)


# A part's row errors as the readers write them and the writer reads them back.
ERROR_COLUMNS = "line, column_name, value, message, record, said"


def staged_error(row: Sequence[Any]) -> RowError:
    """A row of ERRORS_TABLE (ERROR_COLUMNS) as the error it holds."""
    line, column, value, text, record, said = row
    return RowError(line, column, value, text, record_of(record), words_of(said))
