"""Linkage the other way in the store: send runs, the rows a send reads, and every
request sent onward with its answer.

A mixin of Store. Written by daemon.outward in the daemon's process.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import aiosqlite

from daemon.store.runs import RunState
from daemon.store.sql import quote
from importers.messages import words_of

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager

# The problem of a send run whose requests were never spooled: it sent nothing.
NOT_SPOOLED = "send.not_spooled"

REQUEST_FIELDS = (
    "seq",
    "kind",
    "name",
    "method",
    "url",
    "bytes",
    "rows",
    "state",
    "attempts",
    "status",
    "answer",
    "at",
)


class OutwardRecords:
    instance: str
    writer: aiosqlite.Connection
    reader: aiosqlite.Connection

    if TYPE_CHECKING:

        def transaction(self) -> AbstractAsyncContextManager[aiosqlite.Connection]: ...

    async def add_send_run(self, run: Mapping[str, Any]) -> None:
        """A send's run, as `running` from the moment its requests are spooled."""
        run = {**run, "instance": self.instance}
        fields = ", ".join(quote(k) for k in run)
        marks = ", ".join("?" * len(run))
        async with self.transaction() as db:
            await db.execute(
                f"INSERT INTO runs ({fields}, direction) VALUES ({marks}, 'send')",
                tuple(run.values()),
            )

    async def forwarded_send(self, account: str, key: str) -> str | None:
        """The send run keyed `key` (sends.forwarded_key) that was spooled, if any: a
        send that follows an import starts once per import, whatever stops between."""
        rows = await self.reader.execute_fetchall(
            "SELECT id FROM runs WHERE account = ? AND idempotency_key = ?"
            " AND direction = 'send' AND problem != ? ORDER BY id DESC LIMIT 1",
            (account, key, NOT_SPOOLED),
        )
        return rows[0][0] if rows else None

    async def send_rows(
        self,
        layout: str,
        columns: Sequence[str],
        account: str | None,
        where: Mapping[str, str | None],
        run_id: str | None,
        numeric: frozenset[str] = frozenset(),
    ) -> list[tuple[Any, ...]]:
        """The rows a send reads, in the order they were written; a `where` value None
        finds the rows whose cell is empty. A `numeric` column (a decimal, kept as
        written) matches by value: `1.5` finds `1.50`, as the Records API's search does."""
        terms, params = [], []
        if account is not None:
            terms.append('"_account" = ?')
            params.append(account)
        if run_id is not None:
            terms.append('"_run_id" = ?')
            params.append(run_id)
        for column, value in where.items():
            if value is None:
                # Empty is NULL in any column but text, '' in text: `= ''` matched no NULL.
                terms.append(f"({quote(column)} IS NULL OR CAST({quote(column)} AS TEXT) = '')")
                continue
            if column in numeric:
                terms.append(f"CAST({quote(column)} AS REAL) = CAST(? AS REAL)")
                params.append(value)
                continue
            # As text: a filter written in the config matches 5 and "5" alike.
            terms.append(f"CAST({quote(column)} AS TEXT) = ?")
            params.append(value)
        clause = ("WHERE " + " AND ".join(terms)) if terms else ""
        selected = ", ".join(quote(c) for c in columns)
        sql = f"SELECT {selected} FROM {quote(layout)} {clause} ORDER BY rowid"
        return [tuple(row) for row in await self.reader.execute_fetchall(sql, params)]

    async def send_progress(self, run_id: str, sent: int, unsent: int) -> None:
        """A running send's counts as its parts are answered: rows sent, rows still to
        go. A run already settled (ended by a reload meanwhile) keeps its own."""
        async with self.transaction() as db:
            await db.execute(
                "UPDATE runs SET rows_imported = ?, rows_failed = ? WHERE id = ? AND state = ?",
                (sent, unsent, run_id, RunState.RUNNING.value),
            )

    async def aborted_sends(self, since: str) -> dict[str, int]:
        """How many sends of each account stopped part-way (強制終了) since `since`."""
        sql = (
            "SELECT coalesce(account, ''), count(*) FROM runs WHERE received_at >= ?"
            " AND direction = 'send' AND state = ? GROUP BY 1"
        )
        rows = await self.reader.execute_fetchall(sql, (since, RunState.ABORTED.value))
        return {account: n for account, n in rows}

    async def log_requests(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Record requests as spooled (state waiting), before their first attempt."""
        if not rows:
            return
        fields = ("job_id", "run_id", *REQUEST_FIELDS)
        sql = (
            f"INSERT OR IGNORE INTO outward_requests ({', '.join(quote(f) for f in fields)})"
            f" VALUES ({', '.join('?' * len(fields))})"
        )
        async with self.transaction() as db:
            await db.executemany(sql, [tuple(row.get(f) for f in fields) for row in rows])

    async def request_answered(
        self,
        job_id: str,
        seq: int,
        state: str,
        attempts: int,
        status: int | None,
        answer: str,
        at: str,
        said: str = "",
    ) -> None:
        async with self.transaction() as db:
            await db.execute(
                "UPDATE outward_requests SET state = ?, attempts = ?, status = ?, answer = ?,"
                " at = ?, said = ? WHERE job_id = ? AND seq = ?",
                (state, attempts, status, answer, at, said, job_id, seq),
            )

    async def requests_of(self, run_id: str, words: bool = False) -> list[dict[str, Any]]:
        """The requests sent onward for a run (its parts, or the calls after it); with
        `words`, each answer's words too (`said`: None for the receiver's own)."""
        fields = ", ".join(quote(f) for f in (*REQUEST_FIELDS, *(("said",) if words else ())))
        rows = await self.reader.execute_fetchall(
            f"SELECT {fields} FROM outward_requests WHERE run_id = ? ORDER BY job_id, seq",
            (run_id,),
        )
        found = [dict(row) for row in rows]
        for request in found if words else ():
            request["said"] = words_of(request["said"])
        return found
