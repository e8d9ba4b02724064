"""The import pipeline: turns one claimed spool item into one committed run.

Reads the file through importers/ (in a worker thread), writes every row and the run's
final state in ONE transaction, writes the error report, and queues the report mail.
Used by the daemon's worker and by `renkei import`, so both take the same path.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from daemon import metrics
from daemon.chunk_process import LARGE_FILE, process_chunks
from daemon.error_report import ErrorReport
from daemon.settings import Account, Settings
from daemon.spool import Spool, SpoolItem, now_iso
from daemon.store import ERRORS_KEPT, FINAL_STATES, Store
from importers.errors import PermanentProblem, RowError
from importers.filenames import check_filename, error_report_name
from importers.messages import message
from importers.reader import Chunk, CsvFile, ImportSpec

log = logging.getLogger(__name__)
Progress = Callable[[int, int], None]


class Rejected(Exception):
    """Rows failed under on_row_error = reject: roll everything back."""


@dataclass(slots=True)
class Outcome:
    state: str
    message: str = ""
    encoding: str = ""
    total: int = 0
    imported: int = 0
    failed: int = 0
    errors: list[RowError] = field(default_factory=list)
    report: ErrorReport | None = None
    problem: str = ""  # the catalog key of a whole-file problem, for edges that map it


class Pipeline:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        spool: Spool,
        notify_report: Callable[[str], Any] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.spool = spool
        self.notify_report = notify_report
        self.language = settings.report.language

    async def process(self, item: SpoolItem, progress: Progress | None = None) -> str:
        """Import `item`; returns the run's final state. The item leaves the spool
        only once its run is committed (or, aborted, it goes back to `incoming/`)."""
        meta = item.meta
        await self.store.add_run(item.id, meta)
        if await self.store.run_state(item.id) in FINAL_STATES:
            # Committed before a crash that came before the spool copy was removed.
            self.spool.finish(item)
            return "completed"
        account = self.settings.accounts.get(meta.account)
        if meta.attempts >= self.settings.daemon.max_attempts:
            self.spool.quarantine(item)
            text = message("run.quarantined", self.language, attempts=meta.attempts)
            return await self._record(item, account, _failed(text))
        try:
            outcome = await self._run(item, account, progress)
        except asyncio.CancelledError:
            await asyncio.shield(self._abort(item))
            raise
        except Exception as exc:  # transient: our trouble, not the file's
            log.exception("run %s: attempt %d failed", item.id, meta.attempts + 1)
            await self.store.update_run(item.id, state="queued", message=str(exc)[:500])
            self.spool.release(item, count_attempt=True)
            return "queued"
        state = await self._record(item, account, outcome)
        self.spool.finish(item)
        return state

    async def _run(
        self, item: SpoolItem, account: Account | None, progress: Progress | None
    ) -> Outcome:
        meta = item.meta
        if meta.problem == "account_stopped":
            return Outcome("ignored", message("run.account_stopped", self.language))
        if account is None:
            return _failed(message("run.unknown_account", self.language, account=meta.account))
        if meta.problem:
            return _failed(message(f"run.{meta.problem}", self.language))
        if account.layout not in self.settings.layouts:
            return _failed(message("run.unknown_layout", self.language, layout=account.layout))
        await self.store.update_run(
            item.id,
            state="running",
            started_at=now_iso(),
            layout=account.layout,
            attempts=meta.attempts,
            message="",
        )
        return await self._import(item, account, progress)

    async def _import(
        self, item: SpoolItem, account: Account, progress: Progress | None
    ) -> Outcome:
        meta = item.meta
        limits = self.settings.limits_for(account)
        layout = self.settings.layouts[account.layout]
        spec = ImportSpec(
            layout.columns,
            account.encoding,
            account.header,
            limits.max_rows,
            limits.max_bytes,
            self.language,
        )
        csv_file = CsvFile(item.data_path, spec)
        outcome = Outcome("running")
        try:
            if not check_filename(meta.filename):
                raise PermanentProblem("filename.rule", name=meta.filename)
            if not item.data_path.exists():
                raise PermanentProblem("file.missing_data")
            await asyncio.to_thread(csv_file.open)
            outcome.encoding = csv_file.encoding or ""
            outcome.report = self._error_report(item, account, outcome.encoding)
            async with self.store.transaction() as db:
                first = await self.store.replace_source(
                    db, account.layout, meta.account, meta.filename
                )
                insert = self.store.insert_sql(account.layout, meta.account, meta.filename, item.id)
                async for chunk in _threaded(_chunks_of(csv_file)):
                    reject = account.on_row_error == "reject"
                    self._tally(outcome, chunk)
                    if chunk.rows and not (reject and outcome.failed):
                        await self.store.insert_rows(db, insert, chunk.rows)
                    if progress:
                        progress(chunk.bytes_read, csv_file.sniffed.size)
                if outcome.failed and account.on_row_error == "reject":
                    raise Rejected
                await self.store.record_source(
                    db, account.layout, meta.account, meta.filename, item.id, first
                )
                outcome.imported = outcome.total - outcome.failed
                outcome.state = "completed"
                if outcome.failed:
                    outcome.message = message(
                        "run.skipped",
                        self.language,
                        failed=outcome.failed,
                        imported=outcome.imported,
                    )
                await self._finish(db, item, account, outcome)
        except Rejected:
            outcome.state, outcome.imported = "failed", 0
            outcome.message = message("run.rejected", self.language, failed=outcome.failed)
        except PermanentProblem as problem:
            outcome.state, outcome.imported, outcome.failed = "failed", 0, 0
            outcome.problem = problem.key
            outcome.message = problem.render(self.language)
            outcome.errors = [RowError(problem.line or 0, "", "", outcome.message)]
            if outcome.report is None:
                outcome.report = self._error_report(item, account, csv_file.encoding)
            outcome.report.add(outcome.errors)
        except BaseException:
            if outcome.report:
                outcome.report.discard()
            raise
        return outcome

    def _tally(self, outcome: Outcome, chunk: Chunk) -> None:
        outcome.total += chunk.records
        outcome.failed += chunk.records - len(chunk.rows)
        if chunk.errors:
            room = ERRORS_KEPT - len(outcome.errors)
            outcome.errors.extend(chunk.errors[:room])
            outcome.report.add(chunk.errors)

    def _error_report(self, item: SpoolItem, account: Account, encoding: str | None) -> ErrorReport:
        if not encoding:
            encoding = account.encoding if account.encoding != "auto" else "cp932"
        path = self.settings.data_dir / "reports" / item.id / error_report_name(item.meta.filename)
        return ErrorReport(path, encoding)

    async def _finish(
        self, db: Any, item: SpoolItem, account: Account | None, outcome: Outcome
    ) -> None:
        """The run's final row, written in the caller's transaction."""
        report_path = outcome.report.close() if outcome.report else None
        outcome.report = None
        await self.store.update_run(
            item.id,
            db=db,
            state=outcome.state,
            message=outcome.message,
            encoding=outcome.encoding,
            rows_total=outcome.total,
            rows_imported=outcome.imported,
            rows_failed=outcome.failed,
            finished_at=now_iso(),
            attempts=item.meta.attempts,
            problem=outcome.problem,
            error_report=str(report_path.relative_to(self.settings.data_dir))
            if report_path
            else "",
            report_state="pending" if _wants_report(account, outcome) else "none",
        )
        await self.store.add_errors(db, item.id, outcome.errors)

    async def _record(self, item: SpoolItem, account: Account | None, outcome: Outcome) -> str:
        """Commit a run that did not commit with its rows (failed, ignored)."""
        if outcome.state != "completed" or outcome.report is not None:
            async with self.store.transaction() as db:
                await self._finish(db, item, account, outcome)
        metrics.RUNS.labels(outcome.state).inc()
        metrics.ROWS_IMPORTED.inc(outcome.imported)
        log.info(
            "run %s %s: %s rows imported, %s failed %s",
            item.id,
            outcome.state,
            outcome.imported,
            outcome.failed,
            outcome.message,
        )
        if self.notify_report and _wants_report(account, outcome):
            await self.notify_report(item.id)
        return outcome.state

    async def _abort(self, item: SpoolItem) -> None:
        if await self.store.run_state(item.id) in FINAL_STATES:
            # Cancelled just after the commit: the run is done, not aborted.
            self.spool.finish(item)
            return
        await self.store.update_run(
            item.id,
            state="aborted",
            finished_at=now_iso(),
            message=message("run.aborted", self.language),
        )
        metrics.RUNS.labels("aborted").inc()
        self.spool.release(item, count_attempt=False)


def _chunks_of(csv_file: CsvFile) -> Iterator[Chunk]:
    if csv_file.sniffed is not None and csv_file.sniffed.size > LARGE_FILE:
        return process_chunks(csv_file)
    return csv_file.chunks()


def _failed(text: str) -> Outcome:
    return Outcome("failed", text, errors=[RowError(0, "", "", text)])


def _wants_report(account: Account | None, outcome: Outcome) -> bool:
    if account is None or outcome.state not in ("completed", "failed"):
        return False
    if account.report == "never":
        return False
    is_error = outcome.state == "failed" or outcome.failed > 0
    recipients = account.error_report_to if is_error else account.success_report_to
    return bool(recipients) and (is_error or account.report == "always")


async def _threaded(chunks: Iterator[Chunk]):  # noqa: ANN202
    """Step `chunks` in a worker thread, fetching the next while the caller writes.

    In one process the overlap gains little (parsing and writing both hold the GIL);
    with a reader process (large files) the fetch is mostly waiting on a pipe.
    """
    loop = asyncio.get_running_loop()
    pending = loop.run_in_executor(None, next, chunks, None)
    try:
        while (chunk := await pending) is not None:
            pending = loop.run_in_executor(None, next, chunks, None)
            yield chunk
    finally:
        # The generator may be mid-step in the thread; let it finish before closing it.
        await asyncio.shield(asyncio.wait([pending]))
        await asyncio.to_thread(chunks.close)
