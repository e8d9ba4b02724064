"""Before-images: a row of a layout's table as kept for an undo (see undo.py).

Used by the writes that replace, update or delete rows (tables.py, keyed.py), in the
run's own transaction, and by the undo that puts them back.
"""

from __future__ import annotations

from collections.abc import Sequence

import aiosqlite

from daemon.store.sql import literal, quote


def image_sql(columns: Sequence[str]) -> str:
    """A row as a JSON array of `columns` (the table's, meta columns included)."""
    return f"json_array({', '.join(quote(c) for c in columns)})"


def keep_rows_sql(layout: str, run_id: str, columns: Sequence[str], where: str) -> str:
    """Copy the before-image of the rows of `layout` that `where` selects, for `run_id`.
    Rows the run itself wrote already (a key seen twice) are no before-image."""
    return (
        f"INSERT INTO undo_rows (run_id, old_rowid, image) SELECT {literal(run_id)}, rowid,"
        f" {image_sql(columns)} FROM {quote(layout)}"
        f" WHERE ({where}) AND {quote('_run_id')} != {literal(run_id)}"
    )


async def table_columns(db: aiosqlite.Connection, layout: str) -> list[str]:
    if not isinstance(db, aiosqlite.Connection):  # PostgreSQL's (postgres/connection.py)
        return await db.table_columns(layout)
    async with db.execute(f"PRAGMA table_info({quote(layout)})") as cur:
        return [row[1] for row in await cur.fetchall()]
