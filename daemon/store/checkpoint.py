"""Checkpoints of a large run's pages after its commit rather than in it.

In WAL mode SQLite copies the committed pages into the database file, and fsyncs it,
in the commit that takes the log past a thousand pages: for a run of a million rows
about 120 MB, a fifth of a second of its 2.5 on the benchmark, before the run could
count as done. A transaction that copies a large file's parts in (store/sqlite.py)
therefore runs with that automatic checkpoint off, and once it has committed a
connection of its own copies the pages in a thread, while the run is recorded and the
next file begins (a PASSIVE checkpoint never holds up the writer). The store's close
waits for it; what it could not copy (a reader on an old snapshot) the next automatic
checkpoint, or the last connection's close, copies.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path

from daemon.store.schema import busy_timeout_ms

AUTOMATIC = 1000  # pages: SQLite's own wal_autocheckpoint

log = logging.getLogger("renkei.store")


class Checkpoints:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._running: asyncio.Future | None = None

    def start(self) -> None:
        """Copy the log into the database in a thread, unless a copy is under way."""
        if self._running is None or self._running.done():
            self._running = asyncio.ensure_future(asyncio.to_thread(self._checkpoint))

    async def wait(self) -> None:
        """Until the copy under way, if any, has ended (it never raises)."""
        if self._running is not None:
            await asyncio.wait([self._running])

    def _checkpoint(self) -> None:
        try:
            db = sqlite3.connect(self._path, timeout=busy_timeout_ms() / 1000)
            try:
                db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            finally:
                db.close()
        except sqlite3.Error as exc:
            # Nothing is lost: the pages stay in the log for the next checkpoint.
            log.warning("checkpoint after a large run: %s", exc)
