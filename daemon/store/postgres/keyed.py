"""Keyed writes (upsert, delete, set) on PostgreSQL: by COPY, not row by row.

Each chunk's rows (or, for delete and set, its keys) are COPY'd into a temporary
table, and each step is then one statement joining it to the layout's table: keep
the before-images for undo, update, insert what is new, delete, set. The counts
are those of keyed.KeyedWriter, whose dedup of a chunk's repeated keys is reused.
"""

from __future__ import annotations

from collections.abc import Sequence

from daemon.store.keyed import KeyedWriter
from daemon.store.postgres.connection import Connection
from daemon.store.schema import META_COLUMNS
from daemon.store.sql import literal, quote

CHUNK = "renkei_keyed_chunk"


class PgKeyedWriter(KeyedWriter):
    _types: dict[str, str] | None = None

    async def write(self, db: Connection, rows: list[list[object]]) -> None:  # type: ignore[override]
        if self._types is None:
            self._types = await db.column_types(self.layout)
        if self.mode == "upsert":
            await self._upsert_chunk(db, rows)
            return
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
            sql = f"DELETE FROM {table} AS t USING {CHUNK} AS k WHERE {self._joined()}"
        else:  # set
            fixed = [f"{quote(c)} = {literal(v)}" for c, v in self.set_values.items()]
            sql = (
                f"UPDATE {table} AS t SET {', '.join([*fixed, *self._stamp_sets()])}"
                f" FROM {CHUNK} AS k WHERE {self._joined()}"
            )
        self._count(keys, found, (await db.execute(sql)).rowcount)

    async def _upsert_chunk(self, db: Connection, rows: list[list[object]]) -> None:
        unique, repeated = self._one_per_key(rows)
        await self._load(db, self.columns, list(unique.values()))
        table = quote(self.layout)
        if self.on_duplicate == "update":
            await self._keep_images(db)
            values = [c for c in self.columns if c not in self.key]
            keep = self.blank == "keep"
            sets = [
                f"{quote(c)} = CASE WHEN coalesce(CAST(k.{quote(c)} AS TEXT), '') = ''"
                f" THEN t.{quote(c)} ELSE k.{quote(c)} END"
                if keep
                else f"{quote(c)} = k.{quote(c)}"
                for c in values
            ]
            sql = (
                f"UPDATE {table} AS t SET {', '.join([*sets, *self._stamp_sets()])}"
                f" FROM {CHUNK} AS k WHERE {self._joined()}"
            )
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

    async def _load(
        self, db: Connection, columns: Sequence[str], rows: Sequence[Sequence[object]]
    ) -> None:
        """The chunk's rows into the temporary table, in their order (`ord`)."""
        assert self._types is not None
        await db.execute(f"DROP TABLE IF EXISTS {CHUNK}")
        defs = [f"{quote(c)} {self._types.get(c, 'text')}" for c in columns]
        await db.execute(
            f"CREATE TEMPORARY TABLE {CHUNK} (ord BIGINT, {', '.join(defs)}) ON COMMIT DROP"
        )
        head = f"COPY {CHUNK} (ord, {', '.join(quote(c) for c in columns)}) FROM STDIN"
        await db.copy(head, [(n, *row) for n, row in enumerate(rows)])

    async def _keep_images(self, db: Connection) -> None:
        """Before-images of the rows about to change, for undo (images.keep_rows_sql)."""
        names = await db.table_columns(self.layout)
        image = ", ".join(f"t.{quote(c)}" for c in names)
        run = literal(self.stamp.run_id)
        await db.execute(
            f"INSERT INTO undo_rows (run_id, old_rowid, image) SELECT {run}, t.rowid,"
            f" json_build_array({image}) FROM {quote(self.layout)} AS t"
            f" WHERE EXISTS (SELECT 1 FROM {CHUNK} AS k WHERE {self._joined()})"
            f" AND t.{quote('_run_id')} != {run}"
        )

    def _joined(self) -> str:
        owner = f"t.{quote('_account')} = {literal(self.stamp.account)}"
        keys = [f"t.{quote(k)} IS NOT DISTINCT FROM k.{quote(k)}" for k in self.key]
        return " AND ".join([owner, *keys])

    def _stamp_sets(self) -> list[str]:
        return [
            f"{quote('_source_file')} = {literal(self.stamp.source_file)}",
            f"{quote('_run_id')} = {literal(self.stamp.run_id)}",
        ]
