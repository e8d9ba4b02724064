"""Keyed writes (upsert, delete, set) on PostgreSQL: keyed.KeyedWriter's statements,
each chunk loaded by COPY (or, from a large file's staged part, by INSERT … SELECT)
into a temporary table dropped at commit.
"""

from __future__ import annotations

from collections.abc import Sequence

from daemon.store.keyed import CHUNK, KeyedWriter
from daemon.store.postgres.connection import Connection
from daemon.store.sql import quote


class PgKeyedWriter(KeyedWriter):
    json_array = "json_build_array"

    def _update_sql(self, values: list[str]) -> str:
        """PostgreSQL plans `UPDATE … FROM chunk` as the join it is."""
        sets = [f"{quote(c)} = {self._new_value(c, f't.{quote(c)}')}" for c in values]
        return (
            f"UPDATE {quote(self.layout)} AS t SET {', '.join([*sets, *self._stamp_sets()])}"
            f" FROM {CHUNK} AS k WHERE {self._joined()}"
        )

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
