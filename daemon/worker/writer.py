"""Writing a run's rows: every row, and the run's final record, in ONE transaction.

A small file is read chunk by chunk in a worker thread while the rows are written; a
large one is first read into scratch databases by reader processes (staging.py),
then copied in, or in a keyed mode handed to the keyed writer a range of rows at a
time. On PostgreSQL the run's transaction begins first and each part goes to COPY
while it is read (Store.streams_staged); a cut the file's quotes misled rolls that
back and the file is read again as one part.
The parts also tell the distinct values of reference and created-choice columns: the
choices are learned from them, and the references checked by them in one look-up
per column; a missing referenced row sends the file back to the chunk-by-chunk path,
whose row errors name each line.
Either way the caller's `finish` writes the run's final row inside the same
transaction, so a run is committed with its rows or not at all. Used by the pipeline.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import aiosqlite

from daemon.settings import Settings
from daemon.spool.queue import SpoolItem
from daemon.store.base import Store
from daemon.store.keyed import KeyedWriter, RowStamp
from daemon.store.runs import RunState
from daemon.store.scratch import StagedTable
from daemon.worker import references, staging
from daemon.worker.outcome import Outcome
from daemon.worker.plan import Columns, Plan, fixed_values
from daemon.worker.staging import StagedPart
from daemon.worker.turns import Turn
from importers.messages import Words
from importers.reader import Chunk, CsvFile

Progress = Callable[[int, int], None]
Finish = Callable[[aiosqlite.Connection, Outcome], Awaitable[None]]


class Rejected(Exception):
    """Rows failed under on_row_error = reject: roll everything back."""


class DryRun(Exception):
    """The import went through; roll it back, keeping only what it would have done."""


class Superseded(Exception):
    """A file of the same logical file received after this one is imported already (an
    FTP upload checked after a mail, another instance's, a `renkei import` beside the
    daemon): this one's rows would stand over its."""

    def __init__(self, run_id: str) -> None:
        super().__init__(run_id)
        self.run_id = run_id


class _ReadAgain(Exception):
    """A large file names a referenced row that is missing: read it in one pass."""


class RowWriter:
    def __init__(self, settings: Settings, store: Store, finish: Finish, turn: Turn) -> None:
        self.settings = settings
        self.store = store
        self.finish = finish
        self.turn = turn
        self.language = settings.report.language

    async def write(
        self,
        item: SpoolItem,
        plan: Plan,
        columns: Columns,
        csv_file: CsvFile,
        outcome: Outcome,
        progress: Progress | None,
        source: str = "",
        correction: bool = False,
    ) -> None:
        """Import every row of the opened `csv_file`; outcome says how it went. `source`
        is the logical file it is (the file name when not given); a `correction` adds
        its rows to that file's instead of replacing them."""
        meta = item.meta
        logical = source or meta.filename
        stamp = RowStamp(
            meta.account, meta.filename, item.id, logical, correction, meta.received_at
        )
        refs = (
            []
            if plan.keys_only
            else references.references_of(self.settings, plan.layout, plan.member_key)
        )
        try:
            await self.turn.may_read()
            if not staging.is_large(csv_file):
                self.turn.read()  # the readers are not needed: the next file may have them
            else:
                try:
                    await self._write_large(plan, stamp, columns, refs, csv_file, outcome, progress)
                    return
                except _ReadAgain:
                    pass
            await self._write_chunks(plan, stamp, columns, csv_file, outcome, progress, refs)
        except DryRun:
            outcome.state = RunState.COMPLETED
            # A header-only file's dry run would hide that a real one empties its name's rows.
            replaced = Words("run.dry_run_replaced", {"replaced": outcome.replaced})
            outcome.say(replaced if outcome.replaced else Words("run.dry_run"), self.language)
        except Rejected:
            outcome.state = RunState.FAILED
            outcome.say(Words("run.rejected", {"failed": outcome.failed}), self.language)
        except Superseded as newer:
            # As if imported in the order the files came, and then replaced.
            outcome.state = RunState.IGNORED
            outcome.total = outcome.failed = outcome.empty = 0
            outcome.errors = []
            outcome.say(Words("run.superseded", {"run": newer.run_id}), self.language)

    async def _write_large(
        self,
        plan: Plan,
        stamp: RowStamp,
        columns: Columns,
        refs: list[references.Reference],
        csv_file: CsvFile,
        outcome: Outcome,
        progress: Progress | None,
    ) -> None:
        folder = self.settings.data_dir / "staging" / stamp.run_id
        try:
            if plan.keyed:
                names = [c.name for c in csv_file.spec.columns]
                table = await self.store.keyed_staged_table(plan.layout, names)
                key = self.settings.layouts[plan.layout].key
                if set(key) <= set(table.columns):  # the readers tell whether it repeats
                    table = replace(table, key=tuple(table.columns.index(k) for k in key))
            else:
                table = await self.store.staged_table(
                    plan.layout, *_meta(stamp), file_columns=_file_columns(csv_file)
                )
            watch = self._watched(plan, columns, refs, table.columns)
            large = _Large(plan, stamp, columns, refs, outcome, csv_file, table, watch)
            whole = None
            if self.store.streams_staged and not plan.keyed:
                try:
                    await self._stream_staged(large, folder, progress)
                    return
                except staging.BadCut:
                    whole = 1  # what was streamed is rolled back: read as one part
            try:
                parts = await staging.stage(
                    csv_file, table, folder, progress, parts=whole, watched=large.watched
                )
            finally:
                self.turn.read()
            await self._copy_staged(large, parts)
        finally:
            staging.discard(folder)

    async def _write_chunks(
        self,
        plan: Plan,
        stamp: RowStamp,
        columns: Columns,
        csv_file: CsvFile,
        outcome: Outcome,
        progress: Progress | None,
        refs: list[references.Reference],
    ) -> None:
        """Read in a worker thread while the rows are written."""
        reject = plan.on_row_error == "reject"
        keyed = self._keyed_writer(plan, stamp, csv_file) if plan.keyed else None
        async with self._transaction() as db:
            first, images = await self._open_run(db, plan, stamp, outcome)
            # The columns the rows were read as: a reload since may have reordered the
            # layout's (their values went into each other's columns) or added one.
            insert = self.store.row_insert(
                plan.layout, *_meta(stamp), file_columns=_file_columns(csv_file)
            )
            async for chunk in _threaded(csv_file.chunks()):
                if refs:
                    await references.check(
                        self.store, db, chunk, refs, self.language, csv_file.order
                    )
                outcome.total += chunk.records
                outcome.failed += chunk.records - len(chunk.rows)
                outcome.empty += chunk.empty
                outcome.keep_errors(chunk.errors)
                for index, known in columns.creating.items():
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
            await self._learn(db, plan, columns, stamp.run_id)
            await self._complete(db, plan, stamp, outcome, first, images)

    @contextlib.asynccontextmanager
    async def _transaction(
        self, staged: Sequence[Path] = ()
    ) -> AsyncIterator[aiosqlite.Connection]:
        """The run's transaction (Store.transaction), begun in the run's turn: once the
        run before it has ended (turns.py)."""
        await self.turn.may_write()
        async with self.store.transaction(staged=staged) as db:
            yield db

    def _keyed_writer(self, plan: Plan, stamp: RowStamp, csv_file: CsvFile) -> KeyedWriter:
        return self.store.keyed_writer(
            plan.layout,
            plan.mode,  # type: ignore[arg-type]  # plan.keyed says it is one of KEYED
            [c.name for c in csv_file.spec.columns],
            self.settings.layouts[plan.layout].key,
            stamp,
            on_duplicate=plan.on_duplicate,
            blank=plan.blank,
            set_values=fixed_values(self.settings.layouts[plan.layout], plan.set_values),
        )

    async def _learn(
        self, db: aiosqlite.Connection, plan: Plan, columns: Columns, run_id: str
    ) -> None:
        layout = self.settings.layouts[plan.layout]
        for index, seen in columns.creating.items():
            column = layout.columns[index]
            known = {*(column.values or ())}
            new = sorted(v for v in seen - known if v)
            await self.store.learn_choices(db, plan.layout, column.name, new, run_id)

    async def _open_run(
        self, db: aiosqlite.Connection, plan: Plan, stamp: RowStamp, outcome: Outcome
    ) -> tuple[int, int]:
        """What a run's transaction does before its rows: the layout held, the undo
        mark taken, a same-name replace's old rows gone (counted in `outcome`);
        (first rowid, undo mark)."""
        await self.store.lock_layout(db, plan.layout)
        if plan.mode == "replace_file" and stamp.received_at:
            # A file received after this one can be in already: an FTP upload waits in
            # its home for the check while a mail of its name is imported at once, and
            # another process (an instance, `renkei import`) commits its own files.
            newer = await self.store.newer_source(
                db, plan.layout, stamp.account, stamp.logical_file, stamp.received_at
            )
            if newer is not None:
                raise Superseded(newer)
        images = await self.store.undo_mark(db)
        return await self._before(db, plan, stamp, outcome), images

    async def _before(
        self, db: aiosqlite.Connection, plan: Plan, stamp: RowStamp, outcome: Outcome
    ) -> int:
        """Same-name replace: the old rows go; the rowid the new rows start at."""
        if plan.mode != "replace_file":
            return 0
        if stamp.correction:
            return await self.store.next_rowid(db, plan.layout)
        first, outcome.replaced = await self.store.replace_source(
            db, plan.layout, stamp.account, stamp.logical_file, stamp.run_id
        )
        return first

    def _watched(
        self,
        plan: Plan,
        columns: Columns,
        refs: list[references.Reference],
        staged: list[str],
    ) -> dict[int, int]:
        """The layout's reference and created-choice columns the parts are to report
        the values of: each column's index in the layout, to its position in the
        scratch table (`staged`, its columns)."""
        layout = self.settings.layouts[plan.layout]
        indexes = {ref.index for ref in refs} | set(columns.creating)
        return {i: staged.index(layout.columns[i].name) for i in sorted(indexes)}

    async def _copy_staged(self, large: _Large, parts: list[StagedPart]) -> None:
        """A large file, already read into scratch databases: copy them in one go, or
        in a keyed mode hand their rows to the keyed writer, in the file's order."""
        async with self._transaction(staged=[part.path for part in parts]) as db:
            first, images = await self._open_run(db, large.plan, large.stamp, large.outcome)
            await self._staged_run(db, large, parts, first, images, copied=False)

    async def _stream_staged(self, large: _Large, folder: Path, progress: Progress | None) -> None:
        """A large file on a store that streams its parts (Store.streams_staged): the
        run's transaction is begun first, and each part goes to the store while it is
        read, the next once the one before is in, so that the file's order holds."""
        layout = large.plan.layout
        per_reader = staging.STREAMED_PER_READER
        paths = staging.part_paths(folder, per_reader=per_reader)
        async with self._transaction(staged=paths) as db:

            async def stream(paths: list[Path], finished: list[asyncio.Event]) -> None:
                for index, done in enumerate(finished):
                    await self.store.stream_staged(db, index, layout, done, large.table)

            first, images = await self._open_run(db, large.plan, large.stamp, large.outcome)
            parts = await staging.stage(
                large.csv_file,
                large.table,
                folder,
                progress,
                watched=large.watched,
                stream=stream,
                per_reader=per_reader,
            )
            await self._staged_run(db, large, parts, first, images, copied=True)

    async def _staged_run(
        self,
        db: aiosqlite.Connection,
        large: _Large,
        parts: list[StagedPart],
        first: int,
        images: int,
        copied: bool,
    ) -> None:
        """The rest of a large file's run, in its transaction: the references checked,
        the parts' counts and errors taken, their rows copied in (unless `copied`
        already), choices learned, the run completed."""
        plan, stamp, outcome = large.plan, large.stamp, large.outcome

        def seen(index: int) -> set[object]:
            return set().union(*(part.values.get(large.watch[index], ()) for part in parts))

        for ref in large.refs:
            if await references.missing_values(self.store, db, ref, seen(ref.index)):
                raise _ReadAgain
        for index, part in enumerate(parts):
            outcome.total += part.records
            outcome.failed += part.failed
            outcome.empty += part.empty
            if part.errors != 0:
                async for errors in self.store.staged_errors(db, index):
                    outcome.keep_errors(errors)
        if outcome.failed and plan.on_row_error == "reject":
            raise Rejected
        if plan.keyed:
            keyed = self._keyed_writer(plan, stamp, large.csv_file)
            columns = large.table.columns
            for index, part in enumerate(parts):
                batches = await self.store.staged_batches(db, index, plan.layout, columns)
                for source, low, high in batches:
                    await keyed.write_staged(db, source, low, high, unique=not part.repeats)
            outcome.counts = keyed.counts
        elif not copied:
            for index in range(len(parts)):
                await self.store.copy_staged(db, index, plan.layout, large.table)
        for index, known in large.columns.creating.items():
            known.update(seen(index))
        await self._learn(db, plan, large.columns, stamp.run_id)
        await self._complete(db, plan, stamp, outcome, first, images)

    async def _complete(
        self,
        db: aiosqlite.Connection,
        plan: Plan,
        stamp: RowStamp,
        outcome: Outcome,
        first_rowid: int,
        images_after: int,
    ) -> None:
        outcome.state = RunState.COMPLETED
        if not plan.keyed:
            outcome.counts.inserted = outcome.imported
        if plan.dry_run:
            raise DryRun
        # Kept so the run can be undone: until a newer run of its file commits.
        await self.store.keep_undo(
            db,
            plan.layout,
            stamp.account,
            stamp.logical_file,
            plan.mode,
            stamp.run_id,
            images_after,
        )
        if plan.mode == "replace_file":
            await self.store.record_source(
                db, plan.layout, stamp.account, stamp.logical_file, stamp.run_id, first_rowid
            )
        if words := _replaced_or_skipped(outcome):
            outcome.say(words, self.language)
        await self.finish(db, outcome)


@dataclass(frozen=True, slots=True)
class _Large:
    """A large file's run, from its reading in parts to its transaction."""

    plan: Plan
    stamp: RowStamp
    columns: Columns
    refs: list[references.Reference]
    outcome: Outcome
    csv_file: CsvFile
    table: StagedTable  # what its parts are read into
    watch: dict[int, int]  # reference and created-choice columns: layout index → table's

    @property
    def watched(self) -> list[int]:
        """The table's columns whose distinct values the parts report."""
        return sorted(set(self.watch.values()))


def _file_columns(csv_file: CsvFile) -> list[str]:
    """The layout columns a file's rows are read as, in order (its plan's)."""
    return [column.name for column in csv_file.spec.columns]


def _meta(stamp: RowStamp) -> tuple[str, str, str]:
    return stamp.account, stamp.source_file, stamp.run_id


async def _threaded(chunks: Iterator[Chunk]) -> AsyncIterator[Chunk]:
    """Step `chunks` in a worker thread, fetching the next while the caller writes.

    In one process the overlap gains little (parsing and writing both hold the GIL);
    large files are read by other processes instead (see staging.py).
    """
    loop = asyncio.get_running_loop()
    pending = loop.run_in_executor(None, next, chunks, None)
    try:
        # Shielded: a cancellation (SIGTERM mid-import) must not mark the step done
        # while its thread still runs the generator, or closing it below would find
        # it executing.
        while (chunk := await asyncio.shield(pending)) is not None:
            pending = loop.run_in_executor(None, next, chunks, None)
            yield chunk
    finally:
        # The generator may be mid-step in the thread; let it finish before closing it.
        await asyncio.shield(asyncio.wait([pending]))
        await asyncio.to_thread(chunks.close)


def _replaced_or_skipped(outcome: Outcome) -> Words | None:
    """A completed run's message: the rows it skipped for errors, and the rows of the
    same name's earlier file it replaced (a file of no rows removes them all, which
    "no rows to import" alone would hide)."""
    counted = {"failed": outcome.failed, "imported": outcome.imported}
    replaced = {**counted, "replaced": outcome.replaced}
    if outcome.failed:
        return (
            Words("run.skipped_replaced", replaced)
            if outcome.replaced
            else Words("run.skipped", counted)
        )
    if not outcome.replaced:
        return None
    return Words("run.replaced" if outcome.imported else "run.replaced_by_none", replaced)
