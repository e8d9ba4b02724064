"""Keyed writes (upsert, delete, set) on PostgreSQL: keyed.KeyedWriter's statements,
each chunk loaded by COPY (or, from a large file's staged part, by INSERT … SELECT)
into a temporary table dropped at commit.
"""

from __future__ import annotations

from collections.abc import Sequence

from daemon.store.keyed import CHUNK, MATCHED, KeyedWriter
from daemon.store.postgres.connection import Connection
from daemon.store.sql import literal, quote


class PgKeyedWriter(KeyedWriter):
    def _update_sql(self, values: list[str]) -> str:
        """PostgreSQL plans `UPDATE … FROM` as the join it is: the matched rows by
        rowid, each with its chunk row."""
        sets = [f"{quote(c)} = {self._new_value(c, f't.{quote(c)}')}" for c in values]
        return (
            f"UPDATE {quote(self.layout)} AS t SET {', '.join([*sets, *self._stamp_sets()])}"
            f" FROM {MATCHED} AS m JOIN {CHUNK} AS k ON k.ord = m.ord WHERE t.rowid = m.rid"
        )

    # PostgreSQL neither hashes nor looks up an index by IS NOT DISTINCT FROM: a join
    # on it reads the whole table for every chunk row. So keys are matched by `=`
    # (which never matches a NULL), and by IS NOT DISTINCT FROM only for the chunk's
    # rows with a NULL in their key, which are few if any.

    async def _match(self, db: Connection) -> None:
        table = quote(self.layout)
        await db.execute(f"DROP TABLE IF EXISTS {MATCHED}")
        await db.execute(
            f"CREATE TEMPORARY TABLE {MATCHED} ON COMMIT DROP AS"
            f" SELECT t.rowid AS rid, k.ord AS ord FROM {CHUNK} AS k"
            f" JOIN {table} AS t ON {self._equal()}"
            f" UNION ALL SELECT t.rowid, k.ord FROM {CHUNK} AS k"
            f" JOIN {table} AS t ON {self._joined()} WHERE {self._null_key()}"
        )

    async def _found(self, db: Connection) -> int:
        table = quote(self.layout)
        rows = await db.execute_fetchall(
            f"SELECT count(*) FROM {CHUNK} AS k"
            f" WHERE EXISTS (SELECT 1 FROM {table} AS t WHERE {self._equal()})"
            f" OR (({self._null_key()})"
            f" AND EXISTS (SELECT 1 FROM {table} AS t WHERE {self._joined()}))"
        )
        return int(rows[0][0])

    def _equal(self) -> str:
        owner = f"t.{quote('_account')} = {literal(self.stamp.account)}"
        return " AND ".join([owner, *(f"t.{quote(k)} = k.{quote(k)}" for k in self.key)])

    def _null_key(self) -> str:
        return " OR ".join(f"k.{quote(k)} IS NULL" for k in self.key)

    async def _view_staged(
        self, db: Connection, source: str, low: int, high: int, names: str, unique: bool = False
    ) -> bool:
        # A staged part is a temporary table already here (staged_batches), and the
        # chunk a table of its own: COPY's and the planner's, not worth a view.
        return False

    async def _column_types(self, db: Connection) -> dict[str, str]:  # type: ignore[override]
        return await db.column_types(self.layout)

    async def _load(  # type: ignore[override]
        self, db: Connection, columns: Sequence[str], rows: Sequence[Sequence[object]]
    ) -> None:
        """The chunk's rows into the temporary table, in their order (`ord`), by COPY."""
        await self._create_chunk(db, columns)
        head = f"COPY {CHUNK} (ord, {', '.join(quote(c) for c in columns)}) FROM STDIN"
        await db.copy(head, [(n, *row) for n, row in enumerate(rows)])
        await self._index_chunk(db)

    async def _create_chunk(self, db: Connection, columns: Sequence[str]) -> None:
        assert self._types is not None
        await db.execute(f"DROP TABLE IF EXISTS {CHUNK}")
        defs = [f"{quote(c)} {self._types.get(c, 'text')}" for c in columns]
        await db.execute(
            f"CREATE TEMPORARY TABLE {CHUNK} (ord BIGINT, {', '.join(defs)}) ON COMMIT DROP"
        )

    async def _index_chunk(self, db: Connection) -> None:
        keys = ", ".join(quote(k) for k in self.key)
        await db.execute(f"CREATE INDEX ON {CHUNK} ({keys}, ord)")
