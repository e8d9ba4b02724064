"""The SQLite store (WAL) through aiosqlite: the one place that writes the database.

Holds `runs`, `run_errors` and one table per layout. Writes go through one connection
with `BEGIN IMMEDIATE`; reads use a second connection, so an API reader never sees an
import's uncommitted rows. Built once by daemon.graph; used by the worker, the intake
sink, the reporter, the web app and the CLI.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from daemon import serving
from daemon.store.base import Store
from daemon.store.checkpoint import AUTOMATIC, Checkpoints
from daemon.store.errors import StoreUnavailable, sqlite_busy
from daemon.store.glance import Glance
from daemon.store.schema import connect, migrate
from importers.messages import message


class SqliteStore(Store):
    def __init__(
        self, writer: aiosqlite.Connection, reader: aiosqlite.Connection, path: Path
    ) -> None:
        self.writer = writer
        self.reader = reader
        self._glance = Glance(path)
        self._checkpoints = Checkpoints(path)
        self._layouts: dict[str, list[str]] = {}
        self._text_columns: dict[str, list[str]] = {}
        # One writer connection serves the whole process; transactions take turns.
        self._write_lock = asyncio.Lock()

    @classmethod
    async def open(
        cls, path: Path, language: str = "ja", may_upgrade: Callable[[], bool] = lambda: True
    ) -> SqliteStore:
        """The store at `path`, migrated. A store another process keeps locked past the
        busy timeout raises StoreUnavailable, said in `language`; a schema this renkei
        must not touch, SchemaNewer or SchemaBehind (schema.migrate, `may_upgrade`)."""
        serving.make_data_dir(path.parent)
        opened: list[aiosqlite.Connection] = []
        try:
            opened.append(writer := await connect(path))
            await writer.execute("PRAGMA journal_mode=WAL")
            await migrate(writer, may_upgrade)
            opened.append(reader := await connect(path))
        except BaseException as exc:
            # Closed, or each connection's thread keeps the process from ever exiting.
            for db in opened:
                with contextlib.suppress(Exception):
                    await db.close()
            if sqlite_busy(exc):
                raise StoreUnavailable(message("store.busy", language, path=path)) from exc
            raise
        return cls(writer, reader, path)

    def glance(self, sql: str, params: Sequence[object]) -> list[Any] | None:
        return self._glance.rows(sql, params)

    async def close(self) -> None:
        await self._checkpoints.wait()
        self._glance.close()
        await self.reader.close()
        await self.writer.close()

    # -- transactions --------------------------------------------------------------

    @asynccontextmanager
    async def transaction(self, staged: Sequence[Path] = ()) -> AsyncIterator[aiosqlite.Connection]:
        """BEGIN IMMEDIATE … COMMIT; any exception, cancellation included, rolls back.

        `staged` scratch databases are attached as staged0, staged1, … for the
        transaction (SQLite attaches only outside one). Such a transaction, a large
        file's, leaves its checkpoint to run after the commit (store/checkpoint.py).
        """
        async with self._write_lock:
            attached = 0
            committed = False
            try:
                if staged:
                    await self.writer.execute("PRAGMA wal_autocheckpoint = 0")
                for path in staged:
                    await self.writer.execute(
                        f"ATTACH DATABASE ? AS staged{attached}", (str(path),)
                    )
                    attached += 1
                try:
                    await asyncio.shield(self.writer.execute("BEGIN IMMEDIATE"))
                except asyncio.CancelledError:
                    # The BEGIN goes on in the connection's thread and may succeed: end
                    # it, or the writer keeps SQLite's write lock and every other
                    # writer (the import process, a stop) waits out its busy timeout.
                    with contextlib.suppress(Exception):
                        await asyncio.shield(self.writer.rollback())
                    raise
                try:
                    yield self.writer
                except BaseException:
                    await asyncio.shield(self.writer.rollback())
                    raise
                await asyncio.shield(self.writer.commit())
                committed = True
            finally:
                for index in range(attached):
                    await asyncio.shield(self.writer.execute(f"DETACH DATABASE staged{index}"))
                if staged:
                    automatic = f"PRAGMA wal_autocheckpoint = {AUTOMATIC}"
                    await asyncio.shield(self.writer.execute(automatic))
                    if committed:
                        self._checkpoints.start()
