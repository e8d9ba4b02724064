"""Schedule slots: one row per scheduled job and tick, so that of several instances
sharing the store exactly one runs each tick (`INSERT … ON CONFLICT DO NOTHING`).

A mixin of the stores. One instance alone always wins its slots; the rows cost one
small insert per tick and go with the run retention sweep.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager


class SlotRecords:
    instance: str

    if TYPE_CHECKING:

        def transaction(self) -> AbstractAsyncContextManager[Any]: ...

    async def claim_slot(self, job: str, tick: dt.datetime) -> bool:
        """True for the one instance that takes `job` at `tick` (the check or send
        scheduled then); False for every other."""
        at = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
        async with self.transaction() as db:
            cur = await db.execute(
                "INSERT OR IGNORE INTO schedule_slots (job, tick, instance, claimed_at)"
                " VALUES (?, ?, ?, ?)",
                (job, tick.astimezone(dt.UTC).isoformat(), self.instance, at),
            )
            return cur.rowcount == 1

    async def sweep_slots(self, before: str) -> int:
        async with self.transaction() as db:
            cur = await db.execute("DELETE FROM schedule_slots WHERE tick < ?", (before,))
            return cur.rowcount
