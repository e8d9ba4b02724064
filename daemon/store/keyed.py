"""Import modes: how a file's converted rows change the layout's table.

    replace_file  the rows this file name imported before are replaced (the default)
    insert        every row is added
    upsert        matched on the layout's key: a new key is inserted; an existing one
                  is skipped or updated (on_duplicate), blank cells kept or written (blank)
    delete        rows whose key is listed are deleted
    set           rows whose key is listed get fixed column values (set_values)

delete and set can miss: a listed key the table does not hold is counted not found.

Keyed modes touch only the account's own rows. Each chunk's rows (for delete and set,
its keys) go into a temporary table, and each step is then one statement joining it
to the layout's table: keep the before-images for undo, update, insert what is new,
delete, set. Every statement runs in the run's transaction on the store's writer; the
counts say what happened to the table. The worker's plan picks the mode; this module
only writes. PostgreSQL loads the chunk by COPY (postgres/keyed.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from daemon.store.images import table_columns
from daemon.store.schema import META_COLUMNS
from daemon.store.sql import literal, quote

KeyedMode = Literal["upsert", "delete", "set"]
KEYED: tuple[KeyedMode, ...] = ("upsert", "delete", "set")
CHUNK = "renkei_keyed_chunk"  # the temporary table a chunk is loaded into


@dataclass(slots=True)
class Counts:
    """What a run did to the table. `deleted` and a set's `updated` count the table's
    rows (a key may match several); the others count the file's rows."""

    inserted: int = 0
    updated: int = 0
    skipped: int = 0  # upsert, on_duplicate = skip: the key was there already
    deleted: int = 0
    not_found: int = 0  # delete and set: the table holds no row with the key


@dataclass(frozen=True, slots=True)
class RowStamp:
    """The meta columns every row of one import carries, and the logical file the
    import is (what same-name replace keys on; see importers/filenames.py)."""

    account: str
    source_file: str
    run_id: str
    logical_file: str = ""
    correction: bool = False  # a corrected error CSV: adds to the logical file's rows


class KeyedWriter:
    """Applies upsert, delete or set to rows, chunk by chunk, counting what changed.

    SQLite's: the chunk goes into a temporary table of the connection (in memory, as
    the store's temp_store says), with an index on its key. A store whose engine says
    some of it differently overrides `json_array`, `_column_types`, `_load` and
    `_update_sql`.
    """

    json_array = "json_array"  # a row's before-image as a JSON array, in this SQL

    def __init__(
        self,
        layout: str,
        mode: KeyedMode,
        columns: Sequence[str],
        key: Sequence[str],
        stamp: RowStamp,
        on_duplicate: str = "update",
        blank: str = "overwrite",
        set_values: Mapping[str, str] | None = None,
    ) -> None:
        self.mode = mode
        self.on_duplicate = on_duplicate
        self.counts = Counts()
        self.layout, self.columns, self.key, self.stamp = layout, list(columns), list(key), stamp
        self.blank, self.set_values = blank, dict(set_values or {})
        self._key_at = [self.columns.index(k) for k in key]
        self._types: dict[str, str] | None = None  # the table's, at the first write

    async def write(self, db: Any, rows: list[list[object]]) -> None:
        if self._types is None:
            self._types = await self._column_types(db)
        if self.mode == "upsert":
            await self._upsert(db, rows)
            return
        # As if the rows came one after the other: a key listed again is set again,
        # but deleted only once (the second time it is not found).
        keys = [self._key(r) for r in rows]
        unique = list(dict.fromkeys(keys))
        await self._load(db, self.key, unique)
        found_rows = await db.execute_fetchall(
            f"SELECT {', '.join(f'k.{quote(c)}' for c in self.key)} FROM {CHUNK} AS k"
            f" WHERE EXISTS (SELECT 1 FROM {quote(self.layout)} AS t WHERE {self._joined()})"
        )
        found = {tuple(row) for row in found_rows}
        await self._keep_images(db)
        table = quote(self.layout)
        if self.mode == "delete":
            sql = f"DELETE FROM {table} WHERE rowid IN (SELECT t.rowid {self._chunk_first()})"
        else:  # set
            fixed = [f"{quote(c)} = {literal(v)}" for c, v in self.set_values.items()]
            sql = (
                f"UPDATE {table} SET {', '.join([*fixed, *self._stamp_sets()])}"
                f" WHERE rowid IN (SELECT t.rowid {self._chunk_first()})"
            )
        self._count(keys, found, (await db.execute(sql)).rowcount)

    async def _upsert(self, db: Any, rows: list[list[object]]) -> None:
        unique, repeated = self._one_per_key(rows)
        await self._load(db, self.columns, list(unique.values()))
        table = quote(self.layout)
        if self.on_duplicate == "update":
            await self._keep_images(db)
            sql = self._update_sql([c for c in self.columns if c not in self.key])
            self.counts.updated += (await db.execute(sql)).rowcount + repeated
        else:
            self.counts.skipped += repeated
        stamp = self.stamp
        names = [*self.columns, *META_COLUMNS]
        cells = [f"k.{quote(c)}" for c in self.columns]
        cells += [literal(stamp.account), literal(stamp.source_file), literal(stamp.run_id)]
        sql = (
            f"INSERT INTO {table} ({', '.join(quote(n) for n in names)})"
            f" SELECT {', '.join(cells)} FROM {CHUNK} AS k WHERE NOT EXISTS"
            f" (SELECT 1 FROM {table} AS t WHERE {self._joined()}) ORDER BY k.ord"
        )
        inserted = (await db.execute(sql)).rowcount
        self.counts.inserted += inserted
        if self.on_duplicate == "skip":
            self.counts.skipped += len(unique) - inserted

    def _update_sql(self, values: list[str]) -> str:
        """Update the matched rows' `values` columns from the chunk. The rows are found
        chunk first (see _chunk_first) and each takes its values from the chunk by
        the chunk's key index: SQLite plans `UPDATE … FROM chunk` table first, reading
        every row of the account for every chunk."""
        table = quote(self.layout)
        sets = self._stamp_sets()
        if values:
            names = ", ".join(quote(c) for c in values)
            cells = ", ".join(self._new_value(c, f"{table}.{quote(c)}") for c in values)
            match = " AND ".join(
                f"k.{quote(k)} IS NOT DISTINCT FROM {table}.{quote(k)}" for k in self.key
            )
            sets.insert(0, f"({names}) = (SELECT {cells} FROM {CHUNK} AS k WHERE {match})")
        return (
            f"UPDATE {table} SET {', '.join(sets)}"
            f" WHERE rowid IN (SELECT t.rowid {self._chunk_first()})"
        )

    def _new_value(self, column: str, old: str) -> str:
        """A column's value after the update: the chunk's cell, or with blank = keep
        the `old` value where the cell is empty ('' or NULL)."""
        cell = f"k.{quote(column)}"
        if self.blank != "keep":
            return cell
        return f"CASE WHEN coalesce(CAST({cell} AS TEXT), '') = '' THEN {old} ELSE {cell} END"

    async def _column_types(self, db: Any) -> dict[str, str]:
        async with db.execute(f"PRAGMA table_info({quote(self.layout)})") as cur:
            return {row[1]: row[2] for row in await cur.fetchall()}

    async def _load(
        self, db: Any, columns: Sequence[str], rows: Sequence[Sequence[object]]
    ) -> None:
        """The chunk's rows into the temporary table, in their order (`ord`), each
        column with the table's type, so a cell is stored as the table would store it."""
        assert self._types is not None
        await db.execute(f"DROP TABLE IF EXISTS temp.{CHUNK}")
        defs = [f"{quote(c)} {self._types.get(c, '')}" for c in columns]
        await db.execute(f"CREATE TEMP TABLE {CHUNK} (ord INTEGER, {', '.join(defs)})")
        keys = ", ".join(quote(k) for k in self.key)
        await db.execute(f"CREATE INDEX temp.{CHUNK}_key ON {CHUNK} ({keys})")
        marks = ", ".join("?" * (len(columns) + 1))
        await db.executemany(
            f"INSERT INTO temp.{CHUNK} VALUES ({marks})",
            [(n, *row) for n, row in enumerate(rows)],
        )

    async def _keep_images(self, db: Any) -> None:
        """Before-images of the rows about to change, for undo (images.py). Rows the
        run itself wrote already (a key seen twice) are no before-image."""
        names = await table_columns(db, self.layout)
        image = ", ".join(f"t.{quote(c)}" for c in names)
        run = literal(self.stamp.run_id)
        await db.execute(
            f"INSERT INTO undo_rows (run_id, old_rowid, image) SELECT {run}, t.rowid,"
            f" {self.json_array}({image}) {self._chunk_first()}"
            f" AND t.{quote('_run_id')} != {run}"
        )

    def _chunk_first(self) -> str:
        """The table's rows that the chunk's keys match, the chunk read first: SQLite
        keeps a join's order under CROSS JOIN and then finds each key by the table's
        key index, where `table WHERE EXISTS (chunk …)` would read the whole table for
        every chunk. (PostgreSQL plans the join its own way.)"""
        return f"FROM {CHUNK} AS k CROSS JOIN {quote(self.layout)} AS t WHERE {self._joined()}"

    def _joined(self) -> str:
        owner = f"t.{quote('_account')} = {literal(self.stamp.account)}"
        keys = [f"t.{quote(k)} IS NOT DISTINCT FROM k.{quote(k)}" for k in self.key]
        return " AND ".join([owner, *keys])

    def _stamp_sets(self) -> list[str]:
        return [
            f"{quote('_source_file')} = {literal(self.stamp.source_file)}",
            f"{quote('_run_id')} = {literal(self.stamp.run_id)}",
        ]

    def _key(self, row: Sequence[object]) -> tuple:
        return tuple(row[i] for i in self._key_at)

    def _one_per_key(self, rows: list[list[object]]) -> tuple[dict[tuple, list[object]], int]:
        """One row per key, and how many rows that left out: the last wins when
        updating, the first when skipping, so a key listed twice in one file behaves
        as if its rows came one after the other."""
        unique: dict[tuple, list[object]] = {}
        for row in rows:
            key = self._key(row)
            if self.on_duplicate == "update" or key not in unique:
                unique[key] = row
        return unique, len(rows) - len(unique)

    def _count(self, keys: list[tuple], found: set[tuple], changed: int) -> None:
        """Delete and set: what `changed` table rows and the listed `keys` (`found` of
        them in the table) count as."""
        if self.mode == "delete":
            self.counts.deleted += changed
            self.counts.not_found += len(keys) - len(found)
        else:  # set: a key listed again is set again
            again = sum(1 for k in keys if k in found) - len(found)
            self.counts.updated += changed + again
            self.counts.not_found += sum(1 for k in keys if k not in found)
