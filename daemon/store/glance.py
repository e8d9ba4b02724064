"""Point look-ups on the doors' path, answered in the thread that asks.

Before a delivery is spooled, the delivery memory asks the run history one indexed
question (is this file, or this idempotency key, one seen before?). Through
aiosqlite that round trip costs more than the query: a future, a queue, and a wake-up
of the event loop each way, about a tenth of a millisecond of CPU per request, where
the query itself takes a few microseconds. Here the query runs on a plain sqlite3
connection in the caller's thread. A WAL reader does not wait for the writer, and
this connection is told never to wait at all (busy_timeout 0): whenever SQLite would
make it wait, or anything else goes wrong, it answers None and the caller asks through
aiosqlite as before, where a wait belongs.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Sequence
from pathlib import Path


class Glance:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._db: sqlite3.Connection | None = None

    def rows(self, sql: str, params: Sequence[object]) -> list[sqlite3.Row] | None:
        """The rows of a read, or None when it cannot be answered here and now (from a
        thread other than the first caller's, too: sqlite3 refuses that)."""
        try:
            if self._db is None:
                self._db = _connect(self._path)
            # Autocommit: each statement reads the latest commit, and fetching every
            # row ends its read transaction, so no snapshot is held between look-ups.
            return self._db.execute(sql, params).fetchall()
        except sqlite3.Error:
            return None

    def close(self) -> None:
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):  # closed from another thread
                self._db.close()
        self._db = None


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA busy_timeout = 0")
    db.execute("PRAGMA query_only = 1")
    return db
