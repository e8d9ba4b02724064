"""Reference columns: a cell that must name a row of another layout.

A column with `reference = "members"` holds a value that must exist in the `members`
table, in the column the account's `member_key` names (by default the first of that
layout's key columns): a member by `member_no` for one partner, by `employee_id` for
another. Checked per chunk on the writer, inside the run's transaction, so a master
imported a moment earlier counts; a missing value is a row error with its line. A
large file read in parallel parts is checked once, by the distinct values its parts
saw (writer.py); when one is missing it is read again in one pass, which names the
lines. The
look-up itself is the store's (LayoutTables.found_values).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import aiosqlite

from daemon.settings import Settings
from daemon.store.base import Store
from importers.errors import RowError
from importers.layouts import display_name
from importers.messages import Words, cut
from importers.reader import Chunk


@dataclass(frozen=True, slots=True)
class Reference:
    index: int  # of the column in the row
    column: str
    layout: str
    key: str
    key_shown: str = ""  # the key column as messages call it: its label, else its name


def references_of(settings: Settings, layout: str, member_key: str | None) -> list[Reference]:
    found = []
    for index, column in enumerate(settings.layouts[layout].columns):
        if column.reference:
            target = settings.layouts[column.reference]
            key = member_key or target.key[0]
            shown = next((display_name(c) for c in target.columns if c.name == key), key)
            found.append(
                Reference(index, column.label or column.name, column.reference, key, shown)
            )
    return found


async def missing_values(
    store: Store, db: aiosqlite.Connection, ref: Reference, values: Iterable[object]
) -> set[object]:
    """Which of `values` (blank cells aside) name no row of the referenced table."""
    wanted = list(set(values) - {None, ""})
    found = await store.found_values(db, ref.layout, ref.key, wanted)
    # The cell may be text where the key column is an integer: compare as text.
    found_text = {str(value) for value in found}
    return {value for value in wanted if str(value) not in found_text}


async def check(
    store: Store,
    db: aiosqlite.Connection,
    chunk: Chunk,
    references: list[Reference],
    language: str,
    order: list[int] | None = None,
) -> None:
    """Drop the chunk's rows that name a missing row, each with its row error, which
    quotes the cell as the file has it (`０１２３`, not the 123 it was read as); `order`
    is the header's (CsvFile.order), where each column's cell is in a record."""
    bad: dict[int, list[RowError]] = {}
    for ref in references:
        missing = await missing_values(store, db, ref, {row[ref.index] for row in chunk.rows})
        if not missing:
            continue
        problem = Words("cell.reference", {"layout": ref.layout, "key_column": ref.key_shown})
        at = order[ref.index] if order is not None else ref.index
        for i, row in enumerate(chunk.rows):
            value = row[ref.index]
            if value in missing:
                line = chunk.lines[i]
                record = chunk.cells[i] if chunk.cells else None
                cell = record[at] if record is not None and at < len(record) else str(value)
                params = {"line": line, "column": ref.column, "value": cut(cell)}
                said = Words("cell.error", params | {"problem": problem})
                text = said.say(language)
                error = RowError(line, ref.column, cell, text, record, said)
                bad.setdefault(i, []).append(error)
    if not bad:
        return
    chunk.rows = [row for i, row in enumerate(chunk.rows) if i not in bad]
    chunk.lines = [line for i, line in enumerate(chunk.lines) if i not in bad]
    if chunk.cells:
        chunk.cells = [cells for i, cells in enumerate(chunk.cells) if i not in bad]
    chunk.errors = sorted([*chunk.errors, *(e for errs in bad.values() for e in errs)],
                          key=lambda e: e.line)  # fmt: skip
