"""The console's records: its login sessions and the audit log.

A mixin of Store. Sessions live in the database, not only in the signed cookie,
so that a logout ends a session for good and a restart does not log everyone out.
Written and read by daemon.console.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

import aiosqlite

from daemon.store.runs import stored_error
from daemon.store.sql import like_escaped, quote
from importers.errors import RowError

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager

AUDIT_FIELDS = ("at", "user", "address", "action", "target", "outcome", "detail")


class ConsoleRecords:
    writer: aiosqlite.Connection
    reader: aiosqlite.Connection

    if TYPE_CHECKING:

        def transaction(self) -> AbstractAsyncContextManager[aiosqlite.Connection]: ...

    async def console_secret(self, candidate: str) -> str:
        """The console's signing key shared by every instance: the first to ask keeps
        its `candidate`, every other reads that one (a shared store; one instance
        keeps the key in data_dir/console.key)."""
        async with self.transaction() as db:
            await db.execute(
                "INSERT OR IGNORE INTO console_secret (name, secret) VALUES ('console', ?)",
                (candidate,),
            )
            rows = await db.execute_fetchall(
                "SELECT secret FROM console_secret WHERE name = 'console'"
            )
        return rows[0][0]

    async def add_session(
        self, session_id: str, user: str, address: str, created: str, expires: str
    ) -> None:
        async with self.transaction() as db:
            # Expired sessions go as new ones come: the table stays as small as the team.
            await db.execute("DELETE FROM console_sessions WHERE expires_at <= ?", (created,))
            await db.execute(
                "INSERT INTO console_sessions (id, user, address, created_at, expires_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (session_id, user, address, created, expires),
            )

    async def session_user(self, session_id: str, now: str) -> str | None:
        """The user of a live session, or None (unknown, ended or expired)."""
        sql = "SELECT user FROM console_sessions WHERE id = ? AND expires_at > ?"
        rows = await self.reader.execute_fetchall(sql, (session_id, now))
        return rows[0][0] if rows else None

    async def end_sessions_of(self, users: Collection[str]) -> None:
        """End every session of `users` (removed, or their password changed)."""
        if not users:
            return
        marks = ", ".join("?" * len(users))
        async with self.transaction() as db:
            await db.execute(f"DELETE FROM console_sessions WHERE user IN ({marks})", tuple(users))

    async def end_session(self, session_id: str) -> None:
        async with self.transaction() as db:
            await db.execute("DELETE FROM console_sessions WHERE id = ?", (session_id,))

    async def audit(self, entry: Mapping[str, str]) -> None:
        async with self.transaction() as db:
            await db.execute(
                f"INSERT INTO audit_log ({', '.join(AUDIT_FIELDS)}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                tuple(entry.get(field, "") for field in AUDIT_FIELDS),
            )

    async def audit_entries(self, limit: int, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        """A page of the audit log, newest first, and how many entries there are."""
        rows = await self.reader.execute_fetchall(
            "SELECT * FROM audit_log ORDER BY seq DESC LIMIT ? OFFSET ?", (limit, offset)
        )
        [(total,)] = await self.reader.execute_fetchall("SELECT COUNT(*) FROM audit_log")
        return [dict(row) for row in rows], total

    async def find_runs(
        self,
        accounts: Collection[str] | None,
        equal: Mapping[str, str | None],
        filename: str = "",
        since: str | None = None,
        until: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[dict[str, Any]], int]:
        """Runs of `accounts` (None: every account) whose fields equal `equal`, whose
        file name contains `filename`, received in [since, until) (UTC ISO 8601), newest
        first; and how many match."""
        terms, params = [], []
        if accounts is not None:
            terms.append(f"account IN ({', '.join('?' * len(accounts)) or 'NULL'})")
            params.extend(accounts)
        for field, value in equal.items():
            if value:
                terms.append(f"{quote(field)} = ?")
                params.append(value)
        if filename:
            terms.append("filename LIKE ? ESCAPE '\\'")
            params.append(f"%{like_escaped(filename)}%")
        if since:
            terms.append("received_at >= ?")
            params.append(since)
        if until:
            terms.append("received_at < ?")
            params.append(until)
        where = ("WHERE " + " AND ".join(terms)) if terms else ""
        [(total,)] = await self.reader.execute_fetchall(
            f"SELECT count(*) FROM runs {where}", params
        )
        sql = f"SELECT * FROM runs {where} ORDER BY received_at DESC, id DESC LIMIT ? OFFSET ?"
        rows = await self.reader.execute_fetchall(sql, (*params, limit, offset))
        return [dict(row) for row in rows], total

    async def recent_sends(
        self, accounts: Collection[str] | None, limit: int
    ) -> list[dict[str, Any]]:
        """The latest send runs of `accounts` (None: all, those bound to no account
        too), newest first. Not counted: the top page asks every few seconds."""
        where, params = "direction = 'send'", list(accounts or ())
        if accounts is not None:
            where += f" AND account IN ({', '.join('?' * len(params)) or 'NULL'})"
        sql = f"SELECT * FROM runs WHERE {where} ORDER BY received_at DESC, id DESC LIMIT ?"
        rows = await self.reader.execute_fetchall(sql, (*params, limit))
        return [dict(row) for row in rows]

    async def runs_by_state(self, since: str) -> dict[tuple[str, str], int]:
        """How many runs of each (account, state) were received at `since` or later."""
        # Grouped by an expression, so that SQLite reads the day's runs by the index on
        # received_at; grouped by the column itself, it went through the account index,
        # every run of the history, for a figure the overview asks every five seconds.
        sql = (
            "SELECT coalesce(account, ''), state, count(*) FROM runs"
            " WHERE received_at >= ? GROUP BY 1, 2"
        )
        rows = await self.reader.execute_fetchall(sql, (since,))
        return {(account, state): n for account, state, n in rows}

    async def error_page(self, run_id: str, limit: int, offset: int) -> list[RowError]:
        sql = (
            'SELECT line, "column", value, message, said FROM run_errors WHERE run_id = ?'
            " ORDER BY rowid LIMIT ? OFFSET ?"
        )
        rows = await self.reader.execute_fetchall(sql, (run_id, limit, offset))
        return [stored_error(row) for row in rows]
