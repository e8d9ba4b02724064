"""Import modes: how a file's converted rows change the layout's table.

    replace_file  the rows this file name imported before are replaced (the default)
    insert        every row is added
    upsert        matched on the layout's key: a new key is inserted; an existing one
                  is skipped or updated (on_duplicate), blank cells kept or written (blank)
    delete        rows whose key is listed are deleted
    set           rows whose key is listed get fixed column values (set_values)

delete and set can miss: a listed key the table does not hold is counted not found.

Keyed modes touch only the account's own rows. Every statement runs in the run's
transaction on the store's writer; the counts say what happened to the table. The
worker's plan picks the mode; this module only writes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import aiosqlite

from daemon.store.images import keep_rows_sql, table_columns
from daemon.store.schema import META_COLUMNS
from daemon.store.sql import literal, quote

KeyedMode = Literal["upsert", "delete", "set"]
KEYED: tuple[KeyedMode, ...] = ("upsert", "delete", "set")
BATCH = 500  # keys per look-up: well under SQLite's bound-parameter limit


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
    """Applies upsert, delete or set to rows, chunk by chunk, counting what changed."""

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
        # As given, for a store that says the statements its own way (postgres/keyed.py).
        self.layout, self.columns, self.key, self.stamp = layout, list(columns), list(key), stamp
        self.blank, self.set_values = blank, dict(set_values or {})
        account, source_file, run_id = stamp.account, stamp.source_file, stamp.run_id
        self._key_at = [columns.index(k) for k in key]
        self._value_at = [i for i, c in enumerate(columns) if c not in key]
        table = quote(layout)
        owner = f"{quote('_account')} = {literal(account)}"
        match = " AND ".join([owner, *(f"{quote(k)} IS ?" for k in key)])
        stamp = f"{quote('_source_file')} = {literal(source_file)}, {quote('_run_id')} = {literal(run_id)}"
        names = [*columns, *META_COLUMNS]
        cells = ["?"] * len(columns) + [literal(account), literal(source_file), literal(run_id)]
        self._insert = (
            f"INSERT INTO {table} ({', '.join(quote(n) for n in names)}) "
            f"SELECT {', '.join(cells)} WHERE NOT EXISTS (SELECT 1 FROM {table} WHERE {match})"
        )
        keep = blank == "keep"
        # blank = keep: an empty cell ('' or NULL) leaves the value. Said with the cell
        # bound twice, not as coalesce(nullif(?, ''), column): PostgreSQL types '' as
        # the bound value's type (an int column's cell: "invalid input syntax").
        self._cell_binds = 2 if keep else 1
        sets = [
            f"{quote(columns[i])} = CASE WHEN coalesce(CAST(? AS TEXT), '') = ''"
            f" THEN {quote(columns[i])} ELSE ? END"
            if keep
            else f"{quote(columns[i])} = ?"
            for i in self._value_at
        ]
        self._update = f"UPDATE {table} SET {', '.join([*sets, stamp])} WHERE {match}"
        self._delete = f"DELETE FROM {table} WHERE {match}"
        # Which of a chunk's keys the table holds: rowcount sums over executemany,
        # and a key may match several rows, so it cannot tell.
        probe = " AND ".join(
            [f"t.{owner}", *(f"t.{quote(k)} IS k.column{i + 1}" for i, k in enumerate(key))]
        )
        keys = ", ".join(f"k.column{i + 1}" for i in range(len(key)))
        self._found = (
            f"SELECT {keys} FROM (VALUES ",
            f") AS k WHERE EXISTS (SELECT 1 FROM {table} AS t WHERE {probe})",
        )
        self._key_values = f"({', '.join(['?'] * len(key))})"
        fixed = [f"{quote(c)} = {literal(v)}" for c, v in (set_values or {}).items()]
        self._set = f"UPDATE {table} SET {', '.join([*fixed, stamp])} WHERE {match}"
        # Before a row is updated or deleted, its before-image is kept for an undo
        # (undo.py); built at the first write, which knows the table's columns.
        self._layout, self._run_id, self._match = layout, run_id, match
        self._keep = ""

    def _key(self, row: Sequence[object]) -> tuple:
        return tuple(row[i] for i in self._key_at)

    async def _keep_before(self, db: aiosqlite.Connection, keys: list[tuple]) -> None:
        if not self._keep:
            columns = await table_columns(db, self._layout)
            self._keep = keep_rows_sql(self._layout, self._run_id, columns, self._match)
        await db.executemany(self._keep, keys)

    async def write(self, db: aiosqlite.Connection, rows: list[list[object]]) -> None:
        mode = self.mode
        if mode == "upsert":
            await self._upsert(db, rows)
            return
        # As if the rows came one after the other: a key listed again is set again,
        # but deleted only once (the second time it is not found).
        keys = [self._key(r) for r in rows]
        unique = list(dict.fromkeys(keys))
        found = await self._found_keys(db, unique)
        await self._keep_before(db, unique)
        statement = self._delete if mode == "delete" else self._set
        self._count(keys, found, (await db.executemany(statement, unique)).rowcount)

    async def _found_keys(self, db: aiosqlite.Connection, keys: list[tuple]) -> set[tuple]:
        """The keys among `keys` (distinct) that the account's rows of the table hold."""
        found: set[tuple] = set()
        for start in range(0, len(keys), BATCH):
            part = keys[start : start + BATCH]
            head, tail = self._found
            sql = head + ", ".join([self._key_values] * len(part)) + tail
            async with db.execute(sql, [v for k in part for v in k]) as cursor:
                found.update(tuple(row) for row in await cursor.fetchall())
        return found

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

    async def _upsert(self, db: aiosqlite.Connection, rows: list[list[object]]) -> None:
        unique, repeated = self._one_per_key(rows)
        if self.on_duplicate == "update":
            await self._keep_before(db, list(unique))
            updated = (
                await db.executemany(
                    self._update,
                    [
                        [*(r[i] for i in self._value_at for _ in range(self._cell_binds)), *k]
                        for k, r in unique.items()
                    ],
                )
            ).rowcount
            self.counts.updated += updated + repeated
        else:
            self.counts.skipped += repeated
        inserted = (
            await db.executemany(self._insert, [[*r, *k] for k, r in unique.items()])
        ).rowcount
        self.counts.inserted += inserted
        if self.on_duplicate == "skip":
            self.counts.skipped += len(unique) - inserted
