"""The import pipeline: turns one claimed spool item into one committed run.

It keeps the run's books — the run row, its states, the spooled copy, attempts and
quarantine — and hands the rest to the pieces that own it: the plan (plan.py), the
rows (writer.py), the error CSV (error_report.py) and the report mail (the `notify`
callback, the reporter's outbox). Used by the daemon's worker and by `renkei import`,
so both take the same path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sqlite3
from collections.abc import Awaitable, Callable

import aiosqlite

from daemon import metrics
from daemon.settings import Account, Settings
from daemon.settings.problems import OsTrouble
from daemon.spool.queue import Damaged, Meta, Spool, SpoolItem, now_iso, remove_item
from daemon.store.base import Store
from daemon.store.errors import refused_by_store, server_trouble, sqlite_busy, table_gone
from daemon.store.runs import FINAL_STATES, FORWARD_PENDING, ReportState, RunState
from daemon.store.schema import busy_timeout_ms
from daemon.worker import staging
from daemon.worker.error_report import WORKBOOK_REPORT_ENCODING, ErrorReport, unread_encoding
from daemon.worker.outcome import Outcome
from daemon.worker.ownfolders import own_folder_trouble, sqlite_words
from daemon.worker.plan import Plan, columns_for, import_spec, plan_for, plan_problem
from daemon.worker.turns import Turn, WaitsForEarlier
from daemon.worker.writer import Progress, RowWriter
from handlers.base import MAX_NAME_CHARS
from importers.errors import PermanentProblem, RowError
from importers.filenames import (
    correction_name,
    error_report_name,
    filename_rule,
    length_problem,
)
from importers.layouts import display_name
from importers.messages import NOTE_JOIN, Sentences, Words, words_json
from importers.reader import CsvFile
from importers.returned import returned_lines

log = logging.getLogger(__name__)
Notify = Callable[[str], Awaitable[None]]
Counted = Callable[[RunState, int, str], None]  # state, rows committed, run id


def count_run(state: RunState, imported: int, run_id: str = "") -> None:
    """Count a run in this process's metrics (the daemon's, or a one-shot command's)."""
    metrics.RUNS.labels(state).inc()
    metrics.ROWS_IMPORTED.inc(imported)


def uncounted(state: RunState, imported: int, run_id: str = "") -> None:
    """A one-shot command's runs: it serves no metrics, and counting would load them."""


class Pipeline:
    def __init__(
        self,
        settings: Callable[[], Settings],
        store: Store,
        spool: Spool,
        notify_report: Notify | None = None,
        counted: Counted = count_run,
        quarantined: Callable[[SpoolItem], Awaitable[None]] | None = None,
        set_aside: Callable[[Damaged], Awaitable[None]] | None = None,
    ) -> None:
        self._settings = settings
        self.store = store
        self.spool = spool
        self.notify_report = notify_report
        # An import process counts in the daemon's metrics, not its own.
        self.counted = counted
        self.quarantined = quarantined  # the admin alert
        # The admin alert for a file whose account a reload removed before its import.
        self.account_gone: Callable[[SpoolItem], Awaitable[None]] | None = None
        self.set_aside = set_aside  # the admin alert for an item that cannot be read
        # The daemon's: a completed run commits that the sends and calls following its
        # account are still to start (runs.forward_state), so a crash before the daemon
        # spools them does not lose them.
        self.forwards = False
        # `renkei import`'s: its user cancelling (Ctrl-C) means "not this file", so the
        # run ends failed with its file kept, rather than wait in the spool for the
        # daemon to import it under its own config.
        self.cancel_ends_run = False
        # What cancelled a `renkei import` (oneshot.py): Ctrl-C, or SIGTERM or SIGHUP.
        self.cancelled_by = signal.SIGINT

    @property
    def settings(self) -> Settings:
        return self._settings()

    @property
    def language(self) -> str:
        return self.settings.report.language

    async def process(
        self, item: SpoolItem, progress: Progress | None = None, turn: Turn | None = None
    ) -> RunState:
        """Import `item`; returns the run's final state. The item leaves the spool
        only once its run is committed (or, aborted, it goes back to `incoming/`).
        With the worker's `turn`, it reads and ends in that order (turns.py).

        A database busy past its timeout (another writer holds it), PostgreSQL in
        trouble (store/errors.py), a full disk or a folder of renkei's it may not write
        (ownfolders.py) is trouble of the moment, not of the file: the item goes back
        to `incoming/`, its attempt not counted, and QUEUED tells the worker to try it
        again later.
        """
        try:
            return await self._process(item, progress, turn or Turn())
        except Exception as exc:
            if not transient(exc):
                raise
            committed = await _final_state(self.store, item.id)
            if committed is not None:
                # After the commit (the report's queuing met a full disk): the run and
                # its rows stand; its report waits as pending for the reporter's next
                # look, and the spooled copy for the next start.
                log.warning("run %s: committed; what follows it failed: %s", item.id, exc)
                return committed
            log.warning("run %s: put back to try again later: %s", item.id, exc)
            if not sqlite_busy(exc):  # a busy database would keep us waiting once more
                words = self._cause(exc)
                text = str(exc) if words is None else words.say(self.language)
                with contextlib.suppress(Exception):
                    await self.store.update_run(
                        item.id,
                        state=RunState.QUEUED,
                        message=text[:500],
                        said=words_json(words),
                    )
            self.put_back(item)
            return RunState.QUEUED

    @staticmethod
    def _cause(exc: BaseException) -> Words | None:
        """What the run says of a fault of the moment: PostgreSQL's and the system's
        in words; None for another (its own text is all there is)."""
        if isinstance(exc, staging.ReaderDied):
            return Words("run.reader_died", {"code": exc.code})
        if isinstance(exc, WaitsForEarlier):
            return Words("run.waits_for_earlier")
        cause = server_trouble(exc)
        if cause is None and isinstance(exc, OSError) and exc.errno:
            # renkei's own folder (a full disk, a folder it may not write): said in
            # words, with the path the admin must look at when there is one (a write
            # that filled the disk names none).
            if not exc.filename:
                return Words("run.system_trouble_unnamed", {"detail": OsTrouble(exc).words})
            path = exc.filename
            return Words("run.system_trouble", {"path": path, "detail": OsTrouble(exc).words})
        if cause is None and isinstance(exc, sqlite3.Error) and own_folder_trouble(exc):
            # SQLite's disk full, a database it may not write: its English said it before.
            return Words("run.system_trouble_unnamed", {"detail": Words(sqlite_words(exc))})
        if cause is None:
            return None
        seconds = busy_timeout_ms() // 1000
        words = Words(cause, {"seconds": seconds, "detail": _first_line(exc)})
        return Words("run.server_trouble", {"cause": words})

    def put_back(self, item: SpoolItem, count_attempt: bool = False) -> None:
        """Release `item` if it is still claimed (not finished, not quarantined)."""
        if item.path.parent != self.spool.active or not item.path.exists():
            return
        try:
            self.spool.release(item, count_attempt=count_attempt)
        except OSError:
            log.exception("run %s: could not put it back; it waits for the next start", item.id)

    async def _process(self, item: SpoolItem, progress: Progress | None, turn: Turn) -> RunState:
        meta = item.meta
        if (recorded := await self.store.run_state(item.id)) in FINAL_STATES:
            # Committed before a crash that came before the spool copy was removed, or
            # recorded as held by another instance's run (taken_elsewhere).
            self.spool.finish(item)
            return recorded
        account = self.settings.accounts.get(meta.account)
        if meta.attempts >= self.settings.daemon.max_attempts:
            await self.store.add_run(item.id, meta)
            return await self._quarantine(item, account, turn)
        try:
            outcome = await self._run(item, account, progress, turn)
        except asyncio.CancelledError:
            await asyncio.shield(self._abort(item))
            raise
        except Exception as exc:  # not the file's fault: our trouble, so try again later
            if transient(exc):
                raise  # not counted as an attempt: process() puts it back
            log.exception("run %s: attempt %d failed", item.id, meta.attempts + 1)
            await self._failed_attempt(item, exc)
            self.spool.release(item, count_attempt=True)
            return RunState.QUEUED
        state = await self._record(item, account, outcome, turn)
        # Before the report: a stop while the report is queued must not leave behind
        # the spooled copy of a committed run (its report waits as pending in the run).
        self.spool.finish(item)
        await self._notify(account, item, outcome)
        if account is None and item.meta.account and self.account_gone is not None:
            # Accepted for an account a reload removed since: no report goes to anyone.
            await self.account_gone(item)
        return state

    async def _failed_attempt(self, item: SpoolItem, exc: Exception) -> None:
        """Record the failed attempt in its run. The store may be what failed: then
        the run says so later, and the worker must not crash over it."""
        try:
            await self.store.begin_run(
                item.id, item.meta, state=RunState.QUEUED, message=str(exc)[:500]
            )
        except Exception as again:
            log.warning("run %s: its failed attempt could not be recorded: %s", item.id, again)

    async def damaged(self, damaged: Damaged) -> None:
        """An item set aside because its meta cannot be read: its run (if the door
        recorded one) fails saying so, and the admin is told. A run already final keeps
        its state: what is left of its item is what a crash left on its way out."""
        if (recorded := await self.store.run_state(damaged.item_id)) in FINAL_STATES:
            self._leftover(damaged, recorded)
            return
        where = f"spool/failed/{damaged.path.name}"
        words = Words("run.damaged", {"path": where, "reason": damaged.reason})
        text = words.say(self.language)
        # Who sent it and what it is called were in the description that cannot be
        # read: the run is recorded by its id alone, so the id the sender was given
        # finds it.
        unknown = Meta("", "", "", "", received_at=now_iso())
        await self.store.add_run(damaged.item_id, unknown)
        await self.store.update_run(
            damaged.item_id,
            state=RunState.FAILED,
            message=text[:500],
            said=words_json(words),
            finished_at=now_iso(),
        )
        self.counted(RunState.FAILED, 0, damaged.item_id)
        if self.set_aside is not None:
            await self.set_aside(damaged)

    def _leftover(self, damaged: Damaged, state: str) -> None:
        """Clear what is left of the item of a final run (a folder a crash emptied),
        unless it still holds a file: that stays set aside for the admin."""
        if not damaged.path.is_dir() or (damaged.path / "data").exists():
            log.warning(
                "run %s is %s; its unreadable spool copy stays in %s",
                damaged.item_id,
                state,
                damaged.path,
            )
            return
        remove_item(damaged.path)
        log.warning(
            "run %s is %s; removed what was left of its spool copy (%s)",
            damaged.item_id,
            state,
            damaged.reason,
        )

    async def taken_elsewhere(self, item: SpoolItem, other: str) -> None:
        """Record the waiting `item` as ignored: run `other`, recorded by another
        instance of a shared store, holds its delivery. Its file is kept beside the
        run once the worker takes it (a final run is not imported)."""
        words = Words("run.taken_elsewhere", {"run": other})
        await self.store.add_run(item.id, item.meta)
        await self.store.update_run(
            item.id,
            state=RunState.IGNORED,
            message=words.say(self.language),
            said=words_json(words),
            finished_at=now_iso(),
        )
        self.counted(RunState.IGNORED, 0, item.id)
        log.warning("run %s: not imported, run %s holds its delivery", item.id, other)

    async def _quarantine(self, item: SpoolItem, account: Account | None, turn: Turn) -> RunState:
        await turn.may_write()  # before the file is moved: it may have to go back still
        self.spool.quarantine(item)
        words = Words("run.quarantined", {"attempts": item.meta.attempts})
        outcome = Outcome.failure(words, self.language)
        state = await self._record(item, account, outcome, turn)
        await self._notify(account, item, outcome)
        if self.quarantined is not None:
            await self.quarantined(item)
        return state

    async def _run(
        self, item: SpoolItem, account: Account | None, progress: Progress | None, turn: Turn
    ) -> Outcome:
        meta = item.meta
        refused = self._refused(meta, account)
        if refused is not None:
            await self.store.add_run(item.id, meta)
            if account is not None:
                # As its account would have imported it: an insert account's ignored
                # run said `replace_file`, the schema's default, and no layout.
                asked = plan_for(account, meta.options)
                await self.store.update_run(item.id, layout=asked.layout, mode=asked.mode)
            return refused
        assert account is not None
        plan = plan_for(account, meta.options)
        problem = plan_problem(self.settings, plan)
        if problem is not None:
            key, values = problem
            await self.store.add_run(item.id, meta)
            return Outcome.failure(Words(key, values), self.language)
        # Recorded and marked running in one commit (a run recorded at start, or by
        # the door of a shared store, is only marked).
        await self.store.begin_run(
            item.id,
            meta,
            state=RunState.RUNNING,
            started_at=now_iso(),
            layout=plan.layout,
            mode=plan.mode,
            dry_run=int(plan.dry_run),
            attempts=meta.attempts,
            message="",
        )
        return await self._import(item, account, plan, progress, turn)

    def _refused(self, meta: Meta, account: Account | None) -> Outcome | None:
        """What a file that is not to be imported at all comes to, or None."""
        if meta.problem == "account_stopped":
            stopped = Words("run.account_stopped")
            return Outcome.saying(RunState.IGNORED, stopped, self.language)
        if account is None:
            unknown = Words("run.unknown_account", {"account": meta.account})
            return Outcome.failure(unknown, self.language)
        if meta.problem:
            return Outcome.failure(Words(f"run.{meta.problem}"), self.language)
        return None

    async def _import(
        self, item: SpoolItem, account: Account, plan: Plan, progress: Progress | None, turn: Turn
    ) -> Outcome:
        settings = self.settings
        if plan.on_unknown == "create":
            # The choices it may create are those the runs before it did not: they must
            # have committed theirs, or a value one of them learned is created again.
            await turn.may_write()
        columns = await columns_for(settings, self.store, plan)
        spec = import_spec(settings, account, plan, columns, item.meta.filename)
        csv_file = CsvFile(item.data_path, spec)
        outcome = Outcome(RunState.RUNNING, plan=plan)

        async def finish(db: aiosqlite.Connection, done: Outcome) -> None:
            await self._finish(db, item, account, done)

        try:
            if spec.workbook and not account.excel:
                raise PermanentProblem("file.excel_off")
            cut = len(item.meta.filename) >= MAX_NAME_CHARS  # cut by its door (bare_name)
            if (too_long := length_problem(item.meta.filename, cut)) is not None:
                raise too_long  # before the rule: no file can be named after it
            rule = filename_rule(account.filename, account.excel)
            source = rule.check(item.meta.filename)  # the logical file same-name replace keys on
            correction = rule.corrects(item.meta.filename)
            if correction and item.meta.file_key:
                # The file its error CSV was made for, as its door (the CLI, a retry)
                # found it when it came (spool.memory.delivery_file_key).
                source = item.meta.file_key
            csv_file.read_as_error_copy(correction)
            if not item.data_path.exists():
                raise PermanentProblem("file.missing_data")
            await asyncio.to_thread(csv_file.open)
            outcome.encoding = csv_file.encoding or ""
            if correction:
                await self._corrects_current(item, plan, source, csv_file)
            outcome.report = self._error_report(item, account, csv_file)
            writer = RowWriter(settings, self.store, finish, turn)
            await writer.write(item, plan, columns, csv_file, outcome, progress, source, correction)
        except PermanentProblem as problem:
            self._file_failed(item, account, outcome, problem, csv_file)
        except Exception as exc:
            gone = table_gone(exc)
            if not refused_by_store(exc) and not gone:
                if outcome.report:
                    outcome.report.discard()
                raise
            # The same rows would be refused again: fail the run now, saying why,
            # rather than try twice more and quarantine the file.
            log.error("run %s: the store refused its rows: %s", item.id, exc)
            # A value past the server's limit (a key or choice too long for its index)
            # is the partner's to shorten, not a constraint of the table.
            key = "store.value_too_long" if _past_a_limit(exc) else "store.refused"
            if gone:
                key = "store.table_gone"
            refused = PermanentProblem(key, detail=_first_line(exc))
            self._file_failed(item, account, outcome, refused, csv_file)
        except BaseException:
            if outcome.report:
                outcome.report.discard()
            raise
        return outcome

    async def _corrects_current(
        self, item: SpoolItem, plan: Plan, source: str, copy: CsvFile
    ) -> None:
        """A corrected error CSV adds its rows to its file's. Refused, saying what to
        send instead, when the run it corrects (store.error_csv_run) has no rows there
        to add to: it imported none (rejected under on_row_error = reject, or a dry
        run), and a run of the corrected rows alone said it completed; it was undone;
        it had no row errors, or the line numbers the copy still carries are another
        run's, so the copy is of an older version's error CSV; or, under
        replace_file, a newer file of its logical file replaced its rows. Added, the
        rows would mix two versions of one file."""
        name = correction_name(item.meta.filename)
        made_by = await self.store.error_csv_run(item.meta.account, name)
        if made_by is None:
            return
        run = made_by["id"]
        if made_by["state"] != RunState.COMPLETED:
            raise PermanentProblem("file.corrects_unimported", run=run)
        if made_by["dry_run"]:
            raise PermanentProblem("file.corrects_dry_run", run=run)
        if made_by["undone_by"]:
            raise PermanentProblem("file.corrects_undone", run=run, undo=made_by["undone_by"])
        for done, filename in await self.store.corrections_after(item.meta.account, run):
            if correction_name(filename) == name:
                # The same error CSV corrected again: the rows fixed in both copies were
                # imported twice. What is still wrong is in that run's own error CSV.
                again = error_report_name(filename)
                raise PermanentProblem("file.corrects_again", run=run, done=done, name=again)
        if plan.mode != "insert":
            # Under insert every delivery of the name stays in the table: no version
            # replaces another, and the copy's rows join them all.
            if not made_by["rows_failed"]:
                raise PermanentProblem("file.corrects_older", run=run)
            await self._same_version(item, name, run, copy)
        if plan.mode == "replace_file":
            holding = await self.store.file_runs(plan.layout, item.meta.account, source)
            if holding and run not in holding:
                raise PermanentProblem("file.corrects_replaced", run=run, newer=holding[0])

    async def _same_version(self, item: SpoolItem, name: str, run: str, copy: CsvFile) -> None:
        """Refuse a copy whose `行番号` cells are the row errors of an older run of its
        file and not those of `run`, the newest its name can mean: a copy of an older
        version's error CSV, whose rows would mix two versions of the file. A copy
        without those cells, or whose lines no run listed, is told by its name."""
        if copy.spec.workbook or copy.sniffed is None:
            return
        spec = copy.spec
        lines = await asyncio.to_thread(
            returned_lines, copy.path, copy.sniffed.encoding, spec.header, len(spec.columns)
        )
        if not lines:
            return
        listing = await self.store.error_csv_runs_on(item.meta.account, name, lines)
        if listing and run not in listing:
            raise PermanentProblem("file.corrects_other_version", run=listing[0], latest=run)

    def _file_failed(
        self,
        item: SpoolItem,
        account: Account,
        outcome: Outcome,
        problem: PermanentProblem,
        csv_file: CsvFile,
    ) -> None:
        """The file as a whole cannot be imported: one error that says why."""
        outcome.state, outcome.failed = RunState.FAILED, 0
        outcome.encoding = outcome.encoding or csv_file.encoding or ""
        outcome.problem = problem.key
        outcome.say(problem.words, self.language)
        outcome.errors = [RowError(problem.line or 0, "", "", outcome.message, None, problem.words)]
        if outcome.report is None:
            outcome.report = self._error_report(item, account, csv_file)
        outcome.report.add(outcome.errors)

    def _error_report(self, item: SpoolItem, account: Account, csv_file: CsvFile) -> ErrorReport:
        """The error CSV, headed by the file's own header once the reader has read it
        (the layout's column names when the file failed before that)."""
        encoding = csv_file.encoding
        if csv_file.spec.workbook:
            encoding = WORKBOOK_REPORT_ENCODING
        elif not encoding:
            encoding = unread_encoding(account.encoding)
        path = self.settings.data_dir / "reports" / item.id / error_report_name(item.meta.filename)
        columns = csv_file.spec.columns
        names = [display_name(column) for column in columns]

        def header() -> list[str] | None:
            return (csv_file.header_cells or names) if csv_file.spec.header else None

        return ErrorReport(path, encoding, self.language, header, columns)

    async def _finish(
        self, db: aiosqlite.Connection, item: SpoolItem, account: Account | None, outcome: Outcome
    ) -> None:
        """The run's final row, written in the caller's transaction."""
        report_path = outcome.report.close() if outcome.report else None
        outcome.report = None
        data_dir = self.settings.data_dir
        text, said = _with_notes(outcome, item.meta, self.language)
        await self.store.update_run(
            item.id,
            db=db,
            state=outcome.state,
            message=text,
            said=words_json(said),
            encoding=outcome.encoding,
            rows_total=outcome.total,
            rows_imported=outcome.imported,
            rows_failed=outcome.failed,
            rows_inserted=outcome.counts.inserted,
            rows_updated=outcome.counts.updated,
            rows_skipped=outcome.counts.skipped,
            rows_deleted=outcome.counts.deleted,
            rows_not_found=outcome.counts.not_found,
            rows_empty=outcome.empty,
            finished_at=now_iso(),
            attempts=item.meta.attempts,
            problem=outcome.problem,
            error_report=str(report_path.relative_to(data_dir)) if report_path else "",
            report_state=(
                ReportState.PENDING if _wants_report(account, outcome) else ReportState.NONE
            ),
            forward_state=FORWARD_PENDING if self._forwarded(item, account, outcome) else "",
        )
        await self.store.add_errors(db, item.id, outcome.errors)

    def _forwarded(self, item: SpoolItem, account: Account | None, outcome: Outcome) -> bool:
        """Whether a send or a call follows this run (`after_import`)."""
        if not self.forwards or account is None or outcome.state != RunState.COMPLETED:
            return False
        if outcome.plan is None or outcome.plan.dry_run:
            return False
        followers = [*self.settings.sends.values(), *self.settings.calls.values()]
        return any(item.meta.account in f.after_import for f in followers)

    async def _record(
        self, item: SpoolItem, account: Account | None, outcome: Outcome, turn: Turn
    ) -> RunState:
        """Commit a run that did not commit with its rows (failed, ignored), in its turn."""
        await turn.may_write()
        if outcome.state != RunState.COMPLETED or outcome.report is not None:
            async with self.store.transaction() as db:
                await self._finish(db, item, account, outcome)
        # A dry run commits no row: counted as a run, its rows are not.
        dry_run = outcome.plan is not None and outcome.plan.dry_run
        self.counted(outcome.state, 0 if dry_run else outcome.imported, item.id)
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

    async def abandon(self, item: SpoolItem) -> None:
        """Settle a `renkei import` its user cancelled (or a signal ended), wherever
        the cancel met it: the run `_abort` ended already stays as it is; one cancelled
        before its run was recorded is recorded and ended the same way (with
        cancel_ends_run), so that nothing waits in the spool for the daemon."""
        state = await self.store.run_state(item.id)
        if state in FINAL_STATES:
            return
        if state is None:
            await self.store.add_run(item.id, item.meta)
        await self._abort(item)

    async def orphaned(self, item: SpoolItem) -> None:
        """A `renkei import` killed before it ended its run (Spool.orphans): the run
        ends failed, nothing of it imported (its transaction died with it), its file
        kept with it; never imported by the daemon."""
        state = await self.store.run_state(item.id)
        if state not in FINAL_STATES:
            if state is None:
                await self.store.add_run(item.id, item.meta)
            await self._end_failed(item.id, Words("run.command_killed"))
            log.warning("run %s: its renkei import was killed; ended as failed", item.id)
        staging.discard(self.settings.data_dir / "staging" / item.id)
        self.spool.finish(item)

    async def _end_failed(self, run_id: str, words: Words) -> None:
        """End a run `failed` with nothing imported, saying `words`."""
        await self.store.update_run(
            run_id,
            state=RunState.FAILED,
            finished_at=now_iso(),
            problem=words.key,
            message=words.say(self.language),
            said=words_json(words),
        )

    async def _abort(self, item: SpoolItem) -> None:
        if await self.store.run_state(item.id) in FINAL_STATES:
            # Cancelled just after the commit: the run is done, not aborted.
            self.spool.finish(item)
            return
        if self.cancel_ends_run:
            words = Words("run.cancelled")
            if self.cancelled_by != signal.SIGINT:
                name = signal.Signals(self.cancelled_by).name
                words = Words("run.signalled", {"signal": name})
            await self._end_failed(item.id, words)
            self.counted(RunState.FAILED, 0, item.id)
            self.spool.finish(item)
            return
        words = Words("run.aborted")
        await self.store.update_run(
            item.id,
            state=RunState.ABORTED,
            finished_at=now_iso(),
            message=words.say(self.language),
            said=words_json(words),
        )
        self.counted(RunState.ABORTED, 0, item.id)
        self.spool.release(item, count_attempt=False)


def _with_notes(outcome: Outcome, meta: Meta, language: str) -> tuple[str, Sentences | None]:
    """The run's message and its words, saying first that the mail's sender was not
    authenticated (`sender_auth = "flag"`, handlers/mailauth.py) when the door found
    so; then, for a mail without a file, its Subject, the one thing the admin can tell
    that mail by; and last what else the mail carried that was not taken
    (handlers/attachments.py). No words when the outcome's message had none."""
    before, after = [], []
    if meta.unauthenticated:
        before.append(Words("run.sender_unauthenticated", {"results": meta.unauthenticated}))
    if meta.subject:
        after.append(Words("run.mail_subject", {"subject": meta.subject}))
    if meta.also_attached:
        after.append(Words("run.also_attached", {"names": meta.also_attached}))
    notes = [w.say(language) for w in (*before, *after)]
    parts = [*notes[: len(before)], outcome.message, *notes[len(before) :]]
    text = NOTE_JOIN.join(part for part in parts if part)
    if outcome.said is None:
        # A sentence without its words is shown as written; no sentence, the notes.
        return text, Sentences([*before, *after]) if not outcome.message else None
    return text, Sentences([*before, outcome.said, *after])


def _busy(exc: BaseException) -> bool:
    """SQLite busy past its timeout, or PostgreSQL in trouble of the moment (down,
    restarting, read-only, a lock held past lock_timeout, …: store/errors.py)."""
    return server_trouble(exc) is not None or sqlite_busy(exc)


async def _final_state(store: Store, run_id: str) -> RunState | None:
    """The run's state if it is final; None when it is not, or cannot be read now."""
    try:
        state = await store.run_state(run_id)
    except Exception:  # the store itself in trouble: nothing was committed to judge by
        return None
    return RunState(state) if state in FINAL_STATES else None


def _past_a_limit(exc: BaseException) -> bool:
    """PostgreSQL's class 54: a limit of the server, as an index row's size."""
    return (getattr(exc, "sqlstate", None) or "").startswith("54")


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:300]


def transient(exc: BaseException) -> bool:
    """A fault of the moment that is the server's, not the file's: the database busy
    past its timeout (or locked), PostgreSQL down, read-only or short of a privilege,
    the disk or the database full, a folder of renkei's it may not write, a reader
    process killed under it."""
    return (
        _busy(exc)
        or own_folder_trouble(exc)
        or isinstance(exc, staging.ReaderDied | WaitsForEarlier)
    )


def _wants_report(account: Account | None, outcome: Outcome) -> bool:
    if account is None or outcome.state not in (RunState.COMPLETED, RunState.FAILED):
        return False
    if outcome.said is not None and outcome.said.key == "run.quarantined":
        # Attempts that crashed: the admin is alerted; the partner's file may be fine
        # (a retry imports it), and nothing the partner could change would help.
        return False
    policy = outcome.plan.report if outcome.plan else account.report
    # `digest`: the run waits for the day's digest mail; `digest+errors`: as `errors`.
    if policy in ("never", "digest") or (outcome.plan and outcome.plan.dry_run):
        return False
    is_error = outcome.state == RunState.FAILED or outcome.failed > 0
    recipients = account.error_report_to if is_error else account.success_report_to
    return bool(recipients) and (is_error or policy == "always")
