"""Daily digests: the runs an account's digest lists, and in `digests` the (account,
day) digests already queued, so a restart or a second `renkei digest` sends none twice.

A mixin of Store. Written and read by daemon.poll.digest (the daemon's job and
`renkei digest`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import aiosqlite

from daemon.store.runs import RECEIVED

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager


class DigestRecords:
    writer: aiosqlite.Connection
    reader: aiosqlite.Connection

    if TYPE_CHECKING:

        def transaction(self) -> AbstractAsyncContextManager[aiosqlite.Connection]: ...

    async def runs_finished_between(
        self, account: str, start: str, end: str
    ) -> list[dict[str, Any]]:
        """The completed and failed runs (not dry runs) of `account` that finished in
        (start, end], UTC ISO 8601 as finished_at is written, oldest first."""
        sql = (
            "SELECT * FROM runs WHERE account = ? AND state IN ('completed', 'failed')"
            f" AND {RECEIVED}"
            " AND dry_run = 0 AND finished_at > ? AND finished_at <= ?"
            " ORDER BY finished_at, id"
        )
        rows = await self.writer.execute_fetchall(sql, (account, start, end))
        return [dict(row) for row in rows]

    async def digest_sent(self, account: str, day: str) -> bool:
        sql = "SELECT 1 FROM digests WHERE account = ? AND day = ?"
        return bool(await self.writer.execute_fetchall(sql, (account, day)))

    async def last_digest(self, account: str) -> tuple[str, str | None] | None:
        """The latest digest of `account`: its day (YYYY-MM-DD) and where its window
        ended (UTC ISO 8601; None for one recorded before that was kept), if any."""
        sql = "SELECT day, ended_at FROM digests WHERE account = ? ORDER BY day DESC LIMIT 1"
        rows = await self.writer.execute_fetchall(sql, (account,))
        return (rows[0][0], rows[0][1]) if rows else None

    async def add_digest(
        self, account: str, day: str, at: str, runs: int, ended_at: str | None = None
    ) -> bool:
        """Record the digest of (account, day), its window ending at `ended_at`; False
        when it was recorded before."""
        async with self.transaction() as db:
            cur = await db.execute(
                "INSERT OR IGNORE INTO digests (account, day, sent_at, runs, ended_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (account, day, at, runs, ended_at),
            )
            return cur.rowcount == 1
