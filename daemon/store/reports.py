"""The report mail of each run as it went out, in `run_reports`: to whom, when it was
queued, when the relay took it, how many tries it took and what the relay last said.

A mixin of Store. Written by the reporter (daemon.report.outbox) as the mail
moves through the outbox; read by the web console for a run's page. Admin alerts are
no run's report and never recorded here.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import aiosqlite

from importers.messages import Words, words_json, words_of

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager


def _now() -> str:
    # The format of spool.queue.now_iso, so these sort and compare with the runs' times;
    # not imported from there, as the store stays below the spool.
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


class ReportRecords:
    writer: aiosqlite.Connection
    reader: aiosqlite.Connection

    if TYPE_CHECKING:

        def transaction(self) -> AbstractAsyncContextManager[aiosqlite.Connection]: ...

    async def report_queued(self, run_id: str, recipients: Sequence[str]) -> None:
        """A run's report entered the outbox. Queued again (recovery after a crash), it
        is a new mail: its tries start over, as the outbox envelope's do."""
        async with self.transaction() as db:
            await db.execute("DELETE FROM run_reports WHERE run_id = ?", (run_id,))
            await db.execute(
                "INSERT INTO run_reports"
                " (run_id, recipients, queued_at, sent_at, attempts, last_answer)"
                " VALUES (?, ?, ?, NULL, 0, NULL)",
                (run_id, json.dumps(list(recipients), ensure_ascii=False), _now()),
            )

    async def report_in_outbox(self, run_id: str) -> None:
        """The run's report is in the outbox: `queued`, unless whoever sends it (another
        instance of a shared store, the reporter's loop) has settled it already, whose
        `sent` or `failed` this must not replace."""
        async with self.transaction() as db:
            await db.execute(
                "UPDATE runs SET report_state = 'queued'"
                " WHERE id = ? AND report_state NOT IN ('sent', 'failed')",
                (run_id,),
            )

    async def report_attempt(self, run_id: str, answer: str, said: Words | None = None) -> None:
        """A try that failed but will be retried (relay down, or a 4xx); `said`, the
        answer in the catalog's words when it is the system's rather than the relay's."""
        await self._report_try(run_id, answer, said=said)

    async def report_sent(self, run_id: str, answer: str | None = None) -> None:
        """The relay took the report; `answer` is its reply, or which recipients it
        refused while taking the mail for the others."""
        await self._report_try(run_id, answer, sent_at=_now())

    async def report_refused(self, run_id: str, answer: str) -> None:
        """The relay refused the report for good; sent_at stays NULL."""
        await self._report_try(run_id, answer)

    async def _report_try(
        self,
        run_id: str,
        answer: str | None,
        sent_at: str | None = None,
        said: Words | None = None,
    ) -> None:
        # A report queued before this table existed has no row: nothing to update.
        async with self.transaction() as db:
            await db.execute(
                "UPDATE run_reports SET attempts = attempts + 1, last_answer = ?,"
                " last_said = ?, sent_at = COALESCE(?, sent_at) WHERE run_id = ?",
                (answer, words_json(said), sent_at, run_id),
            )

    async def run_report(self, run_id: str) -> dict[str, Any] | None:
        """The run's report mail as the console shows it, or None if it had none; its
        last answer also as words (`said`, not for JSON), when it had them."""
        rows = await self.reader.execute_fetchall(
            "SELECT run_id, recipients, queued_at, sent_at, attempts, last_answer, last_said"
            " FROM run_reports WHERE run_id = ?",
            (run_id,),
        )
        if not rows:
            return None
        report = dict(rows[0])
        report["recipients"] = json.loads(report["recipients"])
        report["said"] = words_of(report.pop("last_said"))
        return report
