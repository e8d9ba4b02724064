"""The import pipeline: turns one claimed spool item into one committed run.

Reads the file through importers/ (in a worker thread), writes every row and the run's
final state in ONE transaction, writes the error report, and queues the report mail.
Used by the daemon's worker and by `renkei import`, so both take the same path.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from daemon import metrics, references, staging
from daemon.error_report import ErrorReport
from daemon.modes import KEYED, Counts, KeyedWriter, Plan
from daemon.references import Reference, references_of
from daemon.settings import Account, Settings
from daemon.spool import Spool, SpoolItem, now_iso
from daemon.staging import StagedPart
from daemon.store import ERRORS_KEPT, FINAL_STATES, Store
from importers.errors import PermanentProblem, RowError
from importers.filenames import check_filename, error_report_name
from importers.layouts import ColumnSpec
from importers.messages import message
from importers.reader import Chunk, CsvFile, ImportSpec

log = logging.getLogger(__name__)
Progress = Callable[[int, int], None]


class Rejected(Exception):
    """Rows failed under on_row_error = reject: roll everything back."""


class DryRun(Exception):
    """The import went through; roll it back, keeping only what it would have done."""


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
    plan: Plan | None = None
    counts: Counts = field(default_factory=Counts)


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
            outcome = _failed(text)
            state = await self._record(item, account, outcome)
            await self._notify(account, item, outcome)
            return state
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
        # Before the report: a stop while the report is queued must not leave behind
        # the spooled copy of a committed run (its report waits as pending in the run).
        self.spool.finish(item)
        await self._notify(account, item, outcome)
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
        plan = plan_for(account, meta.options)
        if plan.layout not in self.settings.layouts:
            return _failed(message("run.unknown_layout", self.language, layout=plan.layout))
        if plan.mode in KEYED and not self.settings.layouts[plan.layout].key:
            text = message("run.no_key", self.language, layout=plan.layout, mode=plan.mode)
            return _failed(text)
        await self.store.update_run(
            item.id,
            state="running",
            started_at=now_iso(),
            layout=plan.layout,
            mode=plan.mode,
            dry_run=int(plan.dry_run),
            attempts=meta.attempts,
            message="",
        )
        return await self._import(item, account, plan, progress)

    async def _import(
        self, item: SpoolItem, account: Account, plan: Plan, progress: Progress | None
    ) -> Outcome:
        meta = item.meta
        limits = self.settings.limits_for(account)
        encoding, header = account.encoding, account.header
        if meta.channel == "api" and account.api is not None:
            encoding = account.api.encoding or encoding
            header = account.api.header if account.api.header is not None else header
        columns, creating = await self._columns(plan)
        # delete and set read only the key: a file of keys alone will do, and any other
        # column the header names is read past.
        keys_only = header and plan.mode in ("delete", "set")
        if keys_only:
            key = self.settings.layouts[plan.layout].key
            columns, creating = [c for c in columns if c.name in key], {}
        spec = ImportSpec(
            columns,
            encoding,
            header,
            limits.max_rows,
            limits.max_bytes,
            self.language,
            other_columns=keys_only,
        )
        csv_file = CsvFile(item.data_path, spec)
        outcome = Outcome("running", plan=plan)
        try:
            if not check_filename(meta.filename):
                raise PermanentProblem("filename.rule", name=meta.filename)
            if not item.data_path.exists():
                raise PermanentProblem("file.missing_data")
            await asyncio.to_thread(csv_file.open)
            outcome.encoding = csv_file.encoding or ""
            outcome.report = self._error_report(item, account, outcome.encoding)
            refs = [] if keys_only else references_of(self.settings, plan.layout, plan.member_key)
            if staging.is_large(csv_file) and plan.mode not in KEYED and not (creating or refs):
                folder = self.settings.data_dir / "staging" / item.id
                try:
                    table = await self.store.staged_table(
                        plan.layout, meta.account, meta.filename, item.id
                    )
                    parts = await staging.stage(csv_file, table, folder, progress)
                    await self._import_staged(item, plan, outcome, parts)
                finally:
                    staging.discard(folder)
            else:
                await self._import_chunks(item, plan, outcome, csv_file, progress, creating, refs)
        except DryRun:
            outcome.state = "completed"
            outcome.message = message("run.dry_run", self.language)
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

    async def _import_chunks(
        self,
        item: SpoolItem,
        plan: Plan,
        outcome: Outcome,
        csv_file: CsvFile,
        progress: Progress | None,
        creating: dict[int, set[str]],
        refs: list[Reference],
    ) -> None:
        """A small file (or a keyed mode): read in a worker thread while rows are written."""
        meta = item.meta
        reject = plan.on_row_error == "reject"
        keyed = None
        if plan.mode in KEYED:
            layout = self.settings.layouts[plan.layout]
            columns = [c.name for c in csv_file.spec.columns]
            keyed = KeyedWriter(plan, columns, layout.key, meta.account, meta.filename, item.id)
        async with self.store.transaction() as db:
            first = await self._before(db, plan, meta)
            insert = self.store.row_insert(plan.layout, meta.account, meta.filename, item.id)
            async for chunk in _threaded(csv_file.chunks()):
                if refs:
                    await references.check(db, chunk, refs, self.language)
                outcome.total += chunk.records
                outcome.failed += chunk.records - len(chunk.rows)
                self._keep_errors(outcome, chunk.errors)
                for index, known in creating.items():
                    known.update(row[index] for row in chunk.rows)
                if chunk.rows and not (reject and outcome.failed):
                    if keyed is not None:
                        await keyed.write(db, chunk.rows)
                    else:
                        await self.store.insert_rows(db, insert, chunk.rows)
                if progress:
                    progress(chunk.bytes_read, csv_file.sniffed.size)
            if outcome.failed and reject:
                raise Rejected
            if keyed is not None:
                outcome.counts = keyed.counts
            await self._learn(db, plan, creating, item.id)
            await self._complete(db, item, plan, outcome, first)

    async def _columns(self, plan: Plan) -> tuple[list[ColumnSpec], dict[int, set[str]]]:
        """The layout's columns, choices widened by the values imports created; with
        on_unknown = create, the choice columns that take any value, by index."""
        layout = self.settings.layouts[plan.layout]
        if not any(c.type == "choice" for c in layout.columns):
            return [ColumnSpec.of(c) for c in layout.columns], {}
        learned = await self.store.learned_choices(plan.layout)
        columns, creating = [], {}
        for index, column in enumerate(layout.columns):
            spec = ColumnSpec.of(column)
            if column.type == "choice":
                values = [*(column.values or ()), *learned.get(column.name, ())]
                spec = replace(spec, values=None if plan.on_unknown == "create" else values)
                if plan.on_unknown == "create":
                    creating[index] = set(values)
            columns.append(spec)
        return columns, creating

    async def _learn(self, db: Any, plan: Plan, creating: dict[int, set[str]], run_id: str) -> None:
        layout = self.settings.layouts[plan.layout]
        for index, seen in creating.items():
            column = layout.columns[index]
            known = {*(column.values or ())}
            new = sorted(v for v in seen - known if v)
            await self.store.learn_choices(db, plan.layout, column.name, new, run_id)

    async def _before(self, db: Any, plan: Plan, meta: Any) -> int:
        """Same-name replace: the old rows go; the rowid the new rows start at."""
        if plan.mode != "replace_file":
            return 0
        return await self.store.replace_source(db, plan.layout, meta.account, meta.filename)

    async def _import_staged(
        self, item: SpoolItem, plan: Plan, outcome: Outcome, parts: list[StagedPart]
    ) -> None:
        """A large file, already read into scratch databases: copy them in one go."""
        meta = item.meta
        async with self.store.transaction(staged=[part.path for part in parts]) as db:
            first = await self._before(db, plan, meta)
            for index, part in enumerate(parts):
                outcome.total += part.records
                outcome.failed += part.failed
                async for errors in self.store.staged_errors(db, index):
                    self._keep_errors(outcome, errors)
            if outcome.failed and plan.on_row_error == "reject":
                raise Rejected
            for index in range(len(parts)):
                await self.store.copy_staged(db, index, plan.layout)
            await self._complete(db, item, plan, outcome, first)

    async def _complete(
        self, db: Any, item: SpoolItem, plan: Plan, outcome: Outcome, first_rowid: int
    ) -> None:
        meta = item.meta
        outcome.imported = outcome.total - outcome.failed
        if plan.mode not in KEYED:
            outcome.counts.inserted = outcome.imported
        if plan.dry_run:
            raise DryRun
        if plan.mode == "replace_file":
            await self.store.record_source(
                db, plan.layout, meta.account, meta.filename, item.id, first_rowid
            )
        outcome.state = "completed"
        if outcome.failed:
            outcome.message = message(
                "run.skipped", self.language, failed=outcome.failed, imported=outcome.imported
            )
        account = self.settings.accounts.get(meta.account)
        await self._finish(db, item, account, outcome)

    def _keep_errors(self, outcome: Outcome, errors: list[RowError]) -> None:
        if errors:
            room = ERRORS_KEPT - len(outcome.errors)
            outcome.errors.extend(errors[:room])
            outcome.report.add(errors)

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
            rows_inserted=outcome.counts.inserted,
            rows_updated=outcome.counts.updated,
            rows_skipped=outcome.counts.skipped,
            rows_deleted=outcome.counts.deleted,
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
        return outcome.state

    async def _notify(self, account: Account | None, item: SpoolItem, outcome: Outcome) -> None:
        if self.notify_report and _wants_report(account, outcome):
            await self.notify_report(item.id)

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


def _failed(text: str) -> Outcome:
    return Outcome("failed", text, errors=[RowError(0, "", "", text)])


def _wants_report(account: Account | None, outcome: Outcome) -> bool:
    if account is None or outcome.state not in ("completed", "failed"):
        return False
    policy = outcome.plan.report if outcome.plan else account.report
    if policy == "never" or (outcome.plan and outcome.plan.dry_run):
        return False
    is_error = outcome.state == "failed" or outcome.failed > 0
    recipients = account.error_report_to if is_error else account.success_report_to
    return bool(recipients) and (is_error or policy == "always")


def plan_for(account: Account, options: dict[str, Any]) -> Plan:
    """The account's defaults, overridden by what the request's parameters chose."""
    chosen = {
        "layout": account.layout,
        "mode": account.mode,
        "on_duplicate": account.on_duplicate,
        "blank": account.blank,
        "set_values": dict(account.set_values),
        "on_unknown": account.on_unknown,
        "member_key": account.member_key,
        "on_row_error": account.on_row_error,
        "report": account.report,
        "dry_run": False,
    }
    chosen.update({k: v for k, v in options.items() if k in chosen and v is not None})
    return Plan(**chosen)


async def _threaded(chunks: Iterator[Chunk]):  # noqa: ANN202
    """Step `chunks` in a worker thread, fetching the next while the caller writes.

    In one process the overlap gains little (parsing and writing both hold the GIL);
    large files are read by other processes instead (see daemon/staging.py).
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
