"""Expected files: the days an account's file was missing at its `expect.by`, in
`expected_misses`, and whether a completed run has since arrived for such a day.

A mixin of Store. Written and read by daemon.poll.expected (the daemon's check
and `renkei expect-check`); read by the web app's account view.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiosqlite

from daemon.store.runs import RECEIVED

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager


class ExpectedMisses:
    writer: aiosqlite.Connection
    reader: aiosqlite.Connection

    if TYPE_CHECKING:

        def transaction(self) -> AbstractAsyncContextManager[aiosqlite.Connection]: ...

    async def add_miss(self, account: str, day: str, at: str) -> bool:
        """Record `day` as missed; False when it was recorded before (alerted already)."""
        async with self.transaction() as db:
            cur = await db.execute(
                "INSERT OR IGNORE INTO expected_misses (account, day, alerted_at) VALUES (?, ?, ?)",
                (account, day, at),
            )
            return cur.rowcount == 1

    async def close_miss(self, account: str, day: str, at: str, run_id: str) -> bool:
        """Close an open miss; False when it was closed before (noted already)."""
        async with self.transaction() as db:
            cur = await db.execute(
                "UPDATE expected_misses SET closed_at = ?, closed_by_run = ?"
                " WHERE account = ? AND day = ? AND closed_at IS NULL",
                (at, run_id, account, day),
            )
            return cur.rowcount == 1

    async def open_misses(self, account: str | None = None) -> list[tuple[str, str]]:
        """(account, day) of every open miss, newest day first."""
        sql = "SELECT account, day FROM expected_misses WHERE closed_at IS NULL"
        params: tuple[str, ...] = ()
        if account is not None:
            sql += " AND account = ?"
            params = (account,)
        rows = await self.reader.execute_fetchall(sql + " ORDER BY day DESC, account", params)
        return [(row[0], row[1]) for row in rows]

    async def completed_between(self, account: str, start: str, end: str) -> dict | None:
        """The first completed run (not a dry run, nor an undo) of `account` received in [start, end),
        UTC ISO 8601 as received_at is written."""
        sql = (
            "SELECT id, filename, rows_imported, rows_failed FROM runs"
            " WHERE account = ? AND state = 'completed'"
            f" AND {RECEIVED}"
            " AND dry_run = 0 AND undo_of IS NULL AND received_at >= ? AND received_at < ?"
            " ORDER BY id LIMIT 1"
        )
        rows = await self.writer.execute_fetchall(sql, (account, start, end))
        return dict(rows[0]) if rows else None

    async def expect_checks(self) -> dict[str, str]:
        """When each account's expectation was last checked, UTC ISO 8601."""
        rows = await self.writer.execute_fetchall("SELECT account, checked_to FROM expect_checks")
        return {row[0]: row[1] for row in rows}

    async def record_expect_checks(self, checked: dict[str, str], forget: list[str]) -> None:
        """Record each account of `checked` as checked up to its moment (never moving one
        back: a check as of an earlier moment checked nothing later), and forget the
        accounts of `forget`, which expect nothing now."""
        if not checked and not forget:
            return
        async with self.transaction() as db:
            for account, at in checked.items():
                await db.execute(
                    "INSERT INTO expect_checks (account, checked_to) VALUES (?, ?)"
                    " ON CONFLICT (account) DO UPDATE SET checked_to = excluded.checked_to"
                    " WHERE expect_checks.checked_to < excluded.checked_to",
                    (account, at),
                )
            for account in forget:
                await db.execute("DELETE FROM expect_checks WHERE account = ?", (account,))
