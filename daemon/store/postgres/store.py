"""PostgresStore: the store on a PostgreSQL database that several instances share.

Like SqliteStore it writes through one session (`writer`; transactions take turns
within the instance) and reads through another in autocommit, so a reader never sees
an import's uncommitted rows. Between instances PostgreSQL keeps order: row locks,
`ON CONFLICT` on the runs' and slots' keys, and advisory locks (schema migrations,
one import per layout at a time, one scheduled check per account at a time).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import psycopg

from daemon.store.base import Store
from daemon.store.keyed import KeyedWriter
from daemon.store.postgres.connection import Connection
from daemon.store.postgres.jobs import PgOutwardJobs
from daemon.store.postgres.keyed import PgKeyedWriter
from daemon.store.postgres.outbox import PgMailOutbox
from daemon.store.postgres.schema import migrate
from daemon.store.postgres.tables import PgLayoutTables
from daemon.store.schema import busy_timeout_ms

# How long a door waits for another instance's turn on the same file or key: one
# delivery's look-up, spool and record take milliseconds.
DOOR_WAIT_SECONDS = 30.0


class PostgresStore(PgLayoutTables, PgMailOutbox, PgOutwardJobs, Store):
    shared = True

    def __init__(self, url: str, instance: str) -> None:
        self.url = url
        self.instance = instance
        # The import's session waits for a lock as long as SQLite's busy timeout.
        self.writer = Connection(url, lock_timeout_ms=busy_timeout_ms())
        self.reader = Connection(url)
        self._layouts: dict[str, list[str]] = {}
        self._text_columns: dict[str, list[str]] = {}
        self._write_lock = asyncio.Lock()
        self._staged: list[Path] = []
        # The shared outbox's claims hold a transaction while the relay is talked to:
        # a session of their own, so the writer's transactions do not wait on mail.
        self._claims = Connection(url)
        self._claim_lock = asyncio.Lock()
        # The doors' turns between instances (door_turn): locks of a session of their own.
        self._door = Connection(url)

    @classmethod
    async def open(
        cls, url: str, instance: str | None = None, may_upgrade: Callable[[], bool] = lambda: True
    ) -> PostgresStore:
        """The store at `url`, migrated unless `may_upgrade()` refuses (postgres/schema.py)."""
        store = cls(url, instance or socket.gethostname())
        try:
            await migrate(store.writer, may_upgrade)
        except BaseException:
            await store.close()
            raise
        return store

    async def close(self) -> None:
        await self._door.close()
        await self._claims.close()
        await self.reader.close()
        await self.writer.close()

    @asynccontextmanager
    async def transaction(self, staged: Sequence[Path] = ()) -> AsyncIterator[Connection]:
        """BEGIN … COMMIT on the writer session; any exception, cancellation included,
        rolls back. `staged` scratch databases are read by copy_staged (tables.py)."""
        async with self._write_lock:
            self._staged = list(staged)
            await self.writer.execute("BEGIN")
            try:
                yield self.writer
            except BaseException:
                await asyncio.shield(self.writer.rollback())
                raise
            finally:
                self._staged = []
            await asyncio.shield(self.writer.commit())

    def keyed_writer(self, *args: Any, **kwargs: Any) -> KeyedWriter:
        return PgKeyedWriter(*args, **kwargs)

    async def ping(self) -> None:
        """A session of its own: a reader session stuck in a dead connection must not
        make a server that is back look down, nor one that is down look up."""
        session = Connection(self.url, connect_timeout=2)
        try:
            await session.execute_fetchall("SELECT 1")
        finally:
            await session.close()

    @asynccontextmanager
    async def door_turn(self, names: Sequence[str]) -> AsyncIterator[None]:
        """Hold `names` (a delivery's logical file and key) across instances while it is
        looked up, spooled and recorded: a resend reaching another instance at the same
        moment then finds the first recorded, where both found none and both imported.
        Tried again and again rather than waited for: a blocked session would hold up
        every other delivery of this instance, whose door turns share it."""
        held: list[str] = []
        deadline = time.monotonic() + DOOR_WAIT_SECONDS
        try:
            for name in sorted(set(names)):
                while not await self._door_lock("pg_try_advisory_lock", name):
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"another instance holds {name!r}")
                    await asyncio.sleep(0.005)
                held.append(name)
            yield
        finally:
            if held:
                await asyncio.shield(self._door_unlock(held))

    async def _door_lock(self, function: str, name: str) -> bool:
        rows = await self._door.execute_fetchall(f"SELECT {function}(hashtext(?))", (name,))
        return bool(rows[0][0])

    async def _door_unlock(self, names: list[str]) -> None:
        # A session lost meanwhile took its locks with it: nothing left to release.
        with contextlib.suppress(psycopg.Error):
            for name in names:
                await self._door_lock("pg_advisory_unlock", name)

    @asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[bool]:
        """A session advisory lock on `name`, on a session of its own, held while the
        caller works; False at once when another instance holds it."""
        session = Connection(self.url)
        try:
            rows = await session.execute_fetchall(
                "SELECT pg_try_advisory_lock(hashtext(?))", (name,)
            )
            yield bool(rows[0][0])
        finally:
            await session.close()  # a session's advisory locks end with it
