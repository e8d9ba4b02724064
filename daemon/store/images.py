"""Before-images: a row of a layout's table as kept for an undo (see undo.py).

Used by the writes that replace, update or delete rows (tables.py, keyed.py), in the
run's own transaction, and by the undo that puts them back.

SQLite keeps an image as the row's own cells, in `undo_images`' columns c0, c1, …
(one per column of the table, meta columns included, added as a wider layout needs
them; untyped, so each cell is kept exactly as the table held it), and no run_id: the
rowid range recorded with the run (undo.py) is its images. Building a JSON array per
row, and parsing it back, cost more than copying the row. PostgreSQL's columns are
typed, so there an image is the row as a JSON array in `image`, with its run_id, as
SQLite's were before: an undo reads either.
"""

from __future__ import annotations

import aiosqlite

from daemon.store.sql import literal, quote


async def keep_rows_sql(
    db: aiosqlite.Connection, layout: str, run_id: str, where: str, by: str = ""
) -> str:
    """The statement that copies the before-images of the rows of `layout` (as `t`)
    that `where` selects, for `run_id`; with `by`, a table of their rowids (`rid`),
    read first and joined by rowid (`where` then names the join): `rowid IN (…)` sorted
    the rowids first, a fifth of the copy. Rows the run itself wrote already (a key
    seen twice) are no before-image."""
    columns = await table_columns(db, layout)
    if isinstance(db, aiosqlite.Connection):
        names = ", ".join(await image_columns(db, len(columns)))
        cells = ", ".join(f"t.{quote(c)}" for c in columns)
    else:  # Other transactions' images may lie in the run's range: they need run_id.
        names = "run_id, image"
        cells = f"{literal(run_id)}, json_array({', '.join(f't.{quote(c)}' for c in columns)})"
    source = f"{by} AS m CROSS JOIN {quote(layout)} AS t" if by else f"{quote(layout)} AS t"
    return (
        f"INSERT INTO undo_images (old_rowid, {names}) SELECT t.rowid, {cells}"
        f" FROM {source} WHERE ({where}) AND t.{quote('_run_id')} != {literal(run_id)}"
    )


async def image_columns(db: aiosqlite.Connection, width: int) -> list[str]:
    """SQLite's image columns for a row of `width` cells, added where missing (in the
    caller's transaction: a rollback takes them back)."""
    have = set(await table_columns(db, "undo_images"))
    names = [f"c{i}" for i in range(width)]
    for name in names:
        if name not in have:
            await db.execute(f"ALTER TABLE undo_images ADD COLUMN {name}")
    return names


async def table_columns(db: aiosqlite.Connection, layout: str) -> list[str]:
    return list(await table_types(db, layout))


async def table_types(db: aiosqlite.Connection, layout: str) -> dict[str, str]:
    """The table's columns in order, each with the type it stores: on SQLite its
    affinity (affinity()), on PostgreSQL its declared type, upper-cased."""
    if not isinstance(db, aiosqlite.Connection):  # PostgreSQL's (postgres/connection.py)
        found = await db.column_types(layout)
        return {name: kind.upper() for name, kind in found.items() if name != "rowid"}
    return {
        row[1]: affinity(str(row[2]))
        for row in await db.execute_fetchall(f"PRAGMA table_info({quote(layout)})")
    }


def affinity(declared: str) -> str:
    """A SQLite column's declared type as the type it stores (its affinity, by SQLite's
    rules): a table moved by hand (`CREATE TABLE … AS SELECT`) declares `INT` or
    `NUM` where renkei writes INTEGER, and stores the same."""
    word = declared.upper()
    if "INT" in word:
        return "INTEGER"
    if any(text in word for text in ("CHAR", "CLOB", "TEXT")):
        return "TEXT"
    if not word or "BLOB" in word:
        return "BLOB"
    if any(real in word for real in ("REAL", "FLOA", "DOUB")):
        return "REAL"
    return "NUMERIC"
