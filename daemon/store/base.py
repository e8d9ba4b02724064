"""The store contract: what every store offers, SQLite's and PostgreSQL's alike.

The mixins hold the statements (runs, delivery memory, layout tables, keyed writes,
references, undo, report records, outward requests, schedule slots, the console's
records); a store adds its connections and transactions (`SqliteStore` in sqlite.py,
`PostgresStore` in postgres/store.py) and overrides the few statements its engine
says differently. Everything else in renkei speaks to a `Store`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

from daemon.store.console import ConsoleRecords
from daemon.store.digests import DigestRecords
from daemon.store.expected import ExpectedMisses
from daemon.store.keyed import KeyedWriter
from daemon.store.outward import OutwardRecords
from daemon.store.records import RecordRecords
from daemon.store.reports import ReportRecords
from daemon.store.runs import RunRecords
from daemon.store.slots import SlotRecords
from daemon.store.switches import SwitchRecords
from daemon.store.tables import LayoutTables
from daemon.store.undo import UndoRecords


class Store(
    RunRecords,
    LayoutTables,
    ExpectedMisses,
    DigestRecords,
    UndoRecords,
    ReportRecords,
    ConsoleRecords,
    RecordRecords,
    OutwardRecords,
    SlotRecords,
    SwitchRecords,
):
    # Several renkei instances share this store: intake records a delivery's run
    # before answering, so the delivery memory answers a resend to any instance.
    shared = False
    # What this instance writes on the runs it imports (`store.instance`).
    instance = ""

    async def close(self) -> None:
        raise NotImplementedError

    def transaction(self, staged: Sequence[Path] = ()) -> AbstractAsyncContextManager[Any]:
        """One write transaction: commit at the end, roll back on any exception."""
        raise NotImplementedError

    def keyed_writer(self, *args: Any, **kwargs: Any) -> KeyedWriter:
        """The writer of an upsert, delete or set (its arguments: keyed.KeyedWriter's)."""
        return KeyedWriter(*args, **kwargs)

    async def ping(self) -> None:
        """Raise unless the store answers a query now (`/healthz`)."""
        await self.reader.execute_fetchall("SELECT 1")

    async def lock_layout(self, db: Any, layout: str) -> None:
        """Hold `layout`'s table for this transaction's writes, against other instances
        (a single SQLite writer holds everything already)."""

    # The shared outbox of report mail (postgres/outbox.py); a store of one instance
    # has none: its reporter keeps the outbox in data_dir/outbox/.
    async def outbox_put(self, item_id: str, data: bytes, recipients: Sequence[str]) -> None:
        raise NotImplementedError

    def outbox_claim(self, now: float, only: str = "") -> AbstractAsyncContextManager[Any]:
        raise NotImplementedError

    async def outbox_taken(self, item_id: str, remaining: Sequence[str]) -> None:
        raise NotImplementedError

    async def outbox_next_due(self) -> float | None:
        raise NotImplementedError

    async def outbox_due_now(self, now: float) -> None:
        raise NotImplementedError

    async def outbox_waiting(self) -> int:
        raise NotImplementedError

    async def outbox_tried(self) -> bool:
        raise NotImplementedError

    @asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[bool]:
        """Whether this instance alone does `name` now (a scheduled check, a send)."""
        yield True

    @asynccontextmanager
    async def door_turn(self, names: Sequence[str]) -> AsyncIterator[None]:
        """Hold a delivery's `names` against other instances sharing the store while it
        is looked up and recorded (a store of one instance has none to hold off)."""
        yield
