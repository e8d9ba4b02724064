"""SQLite's own store: a transaction cancelled while it waits for the write lock."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3

from daemon.store.sqlite import SqliteStore


def test_a_transaction_cancelled_at_its_begin_leaves_no_lock_behind(tmp_path, monkeypatch):
    monkeypatch.setenv("RENKEI_BUSY_TIMEOUT_MS", "2000")

    async def scenario() -> bool:
        store = await SqliteStore.open(tmp_path / "renkei.db")
        other = sqlite3.connect(tmp_path / "renkei.db", isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # another writer holds the lock

            async def write() -> None:
                async with store.transaction():
                    pass

            task = asyncio.create_task(write())
            await asyncio.sleep(0.3)  # inside BEGIN IMMEDIATE, waiting for the lock
            task.cancel()
            other.execute("COMMIT")  # the BEGIN may now go through in its thread
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await asyncio.sleep(0.3)
            # Nothing holds the lock: another connection writes at once.
            other.execute("PRAGMA busy_timeout = 0")
            other.execute("BEGIN IMMEDIATE")
            other.execute("COMMIT")
            return store.writer.in_transaction
        finally:
            other.close()
            await store.close()

    assert asyncio.run(scenario()) is False
