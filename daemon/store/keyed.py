"""Import modes: how a file's converted rows change the layout's table.

    replace_file  the rows this file name imported before are replaced (the default)
    insert        every row is added
    upsert        matched on the layout's key: a new key is inserted; an existing one
                  is skipped or updated (on_duplicate), blank cells kept or written (blank)
    delete        rows whose key is listed are deleted
    set           rows whose key is listed get fixed column values (set_values)

Keyed modes touch only the account's own rows. Every statement runs in the run's
transaction on the store's writer; the counts say what happened to the table. The
worker's plan picks the mode; this module only writes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import aiosqlite

from daemon.store.schema import META_COLUMNS
from daemon.store.sql import literal, quote

KeyedMode = Literal["upsert", "delete", "set"]
KEYED: tuple[KeyedMode, ...] = ("upsert", "delete", "set")


@dataclass(slots=True)
class Counts:
    inserted: int = 0
    updated: int = 0
    skipped: int = 0
    deleted: int = 0


@dataclass(frozen=True, slots=True)
class RowStamp:
    """The meta columns every row of one import carries."""

    account: str
    source_file: str
    run_id: str


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
        sets = [
            f"{quote(columns[i])} = coalesce(nullif(?, ''), {quote(columns[i])})"
            if keep
            else f"{quote(columns[i])} = ?"
            for i in self._value_at
        ]
        self._update = f"UPDATE {table} SET {', '.join([*sets, stamp])} WHERE {match}"
        self._delete = f"DELETE FROM {table} WHERE {match}"
        fixed = [f"{quote(c)} = {literal(v)}" for c, v in (set_values or {}).items()]
        self._set = f"UPDATE {table} SET {', '.join([*fixed, stamp])} WHERE {match}"

    def _key(self, row: Sequence[object]) -> tuple:
        return tuple(row[i] for i in self._key_at)

    async def write(self, db: aiosqlite.Connection, rows: list[list[object]]) -> None:
        mode = self.mode
        counts = self.counts
        if mode == "upsert":
            await self._upsert(db, rows)
        elif mode == "delete":
            keys = list(dict.fromkeys(self._key(r) for r in rows))
            deleted = (await db.executemany(self._delete, keys)).rowcount
            counts.deleted += deleted
            counts.skipped += len(rows) - min(deleted, len(rows))
        elif mode == "set":
            keys = list(dict.fromkeys(self._key(r) for r in rows))
            updated = (await db.executemany(self._set, keys)).rowcount
            counts.updated += updated
            counts.skipped += len(rows) - min(updated, len(rows))

    async def _upsert(self, db: aiosqlite.Connection, rows: list[list[object]]) -> None:
        # One row per key: the last wins when updating, the first when skipping, so a
        # key listed twice in one file behaves as if its rows came one after the other.
        unique: dict[tuple, list[object]] = {}
        for row in rows:
            key = self._key(row)
            if self.on_duplicate == "update" or key not in unique:
                unique[key] = row
        repeated = len(rows) - len(unique)
        if self.on_duplicate == "update":
            updated = (
                await db.executemany(
                    self._update,
                    [[*(r[i] for i in self._value_at), *k] for k, r in unique.items()],
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
