"""Reading a large file in parts, side by side, before its run's transaction (or, on
PostgreSQL, inside it, each part streamed to COPY as it is read).

One process cannot parse and write at once (both hold the GIL), and parsing is the
larger half of an import. So a file over LARGE_FILE bytes is cut at record boundaries
into one part per core; each part is read by a `python -m daemon.worker.partreader`
process into a scratch database, and the pipeline then copies the rows into the
layout's table in one INSERT … SELECT per part, inside the run's transaction. A store
that streams its parts (PostgreSQL) gets them while they are written instead (Stream).
The reader processes stay for the next file (readers.py), so once they are there, a
file over PARTS_PAY is read in parts too; a small file never waits for a process start.

A cut is placed after a line break with an even number of quote characters before
it, which is a record boundary in any well-formed CSV (neither CP932 nor UTF-8 uses
the bytes of `"` or a line break inside a character). A file whose quotes fool that
count ends a part inside a quoted cell; the part then reports a truncated file (or an
unclosed quote), and the file is read again as one part, so a broken record is named
by the line it starts on in the whole file (when parts were streamed, by the caller,
once it has rolled back what they carried: BadCut).
"""

from __future__ import annotations

import asyncio
import errno
import os
import pickle
import shutil
import subprocess
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from daemon.store.scratch import StagedTable
from daemon.worker.readers import POOL, end
from importers.decoding import line_ends
from importers.errors import ImportProblem
from importers.layouts import ColumnSpec
from importers.reader import CsvFile, Part

LARGE_FILE = 16 * 1024 * 1024  # read in parts even when readers must be started for it
# Read in parts when the readers wait already: parsing on every core then beats one
# pass from about here (a part is a scratch database to write and copy in).
PARTS_PAY = 256 * 1024
BLOCK = 1 << 20
# Parts each reader reads in turn when they are streamed (Stream): the store loads the
# parts in the file's order, one after another, so with one part per reader the last
# parts wait, read, until the first is in, and then load with the readers idle. Cut
# finer, a part is in while the readers read the ones after it. Four: a million rows
# into PostgreSQL 3.70 -> 3.38 s (medians, alternated); two 3.5 %, eight no better.
STREAMED_PER_READER = 4
Progress = Callable[[int, int], None]
# Handed each part's scratch database and an event set once its reader is done, as soon
# as the readers have their parts: a store that can load a part while it is written
# (PostgreSQL's COPY streams it) does so while the others are still read.
Stream = Callable[[list[Path], list[asyncio.Event]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class StagedPart:
    path: Path
    records: int
    failed: int
    empty: int = 0  # lines of empty cells read past
    # The distinct values of each watched column, by its position in the table's.
    values: dict[int, set[object]] = field(default_factory=dict)
    # Whether its rows list a key (StagedTable.key) more than once; True when unknown.
    repeats: bool = True
    # Row errors its scratch database holds; None: not known, so they are read. A part
    # with none is not read for them (each read is a store round trip, about 0.1 ms).
    errors: int | None = None


def is_large(csv_file: CsvFile) -> bool:
    """Whether `csv_file` is read in parts (a large file, or a middling one when the
    readers are there already)."""
    # A workbook is never cut in parts: it is read whole, in one process (workbook.py).
    if csv_file.sniffed is None or csv_file.spec.workbook:
        return False
    size = csv_file.sniffed.size
    return size > LARGE_FILE or (size > PARTS_PAY and POOL.idle() >= cores())


def warm() -> None:
    """Start this process's readers ahead of its first file (the daemon's importer)."""
    POOL.warm(cores())


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


async def stage(
    csv_file: CsvFile,
    table: StagedTable,
    folder: Path,
    progress: Progress | None,
    parts: int | None = None,
    watched: Sequence[int] = (),
    stream: Stream | None = None,
    per_reader: int = 1,
) -> list[StagedPart]:
    """Read the whole file into scratch databases under `folder`, one per part, each
    part also telling the distinct values of the `watched` columns (positions in
    `table.columns`). `parts` readers (default: one per core) read `per_reader` parts
    each, in turn.

    With `stream`, it runs beside the readers (see Stream), and a cut the quotes
    misled raises BadCut instead of reading the file again as one part: what was
    streamed is the caller's to take back.
    """
    assert csv_file.sniffed is not None
    # The parts convert each row straight into the table's column order. Plain column
    # specs: the child need not import the config model to unpickle them.
    by_name = {column.name: column for column in csv_file.spec.columns}
    # A cell of plain digits the table makes an integer of stays text, unless the
    # reader reports the column's values or compares its keys (as numbers, then, as
    # the table holds them: `01` and `1` are one key).
    as_text = table.integers - {table.columns[at] for at in (*watched, *table.key)}
    columns = [
        replace(ColumnSpec.of(by_name[name]), digits_as_text=name in as_text)
        for name in table.columns
    ]
    assert len(columns) == len(by_name), "the table must take every column of the file"
    staged_file = CsvFile(csv_file.path, replace(csv_file.spec, columns=columns))
    staged_file.sniffed = csv_file.sniffed
    count = parts or cores()
    # Taken first: any that must be started start during the header check and the
    # search for cuts.
    children = POOL.take(count)
    try:
        order = await asyncio.to_thread(staged_file.header_order)
        csv_file.header_cells = staged_file.header_cells
        size = csv_file.sniffed.size
        cuts = await asyncio.to_thread(find_cuts, csv_file.path, size, count * per_reader)
        try:
            header = staged_file.header_cells
            split = _parts(cuts, size, order, staged_file.width, staged_file.blank, header)
            return await _stage_parts(
                staged_file, table, folder, split, progress, children, watched, stream
            )
        except BadCut:
            if stream is not None:
                raise
            POOL.give_back(children, cores())
            children = POOL.take(1)
            whole = _parts([], size, order, staged_file.width, staged_file.blank, header)
            return await _stage_parts(
                staged_file, table, folder, whole, progress, children, watched
            )
    finally:
        POOL.give_back(children, cores())


def discard(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def sweep(root: Path, wanted: Callable[[str], bool]) -> None:
    """Remove the scratch folders of runs that will not be retried (a crash leaves
    them behind; a retry would have replaced them)."""
    if root.is_dir():
        for folder in root.iterdir():
            if not wanted(folder.name):
                discard(folder)


# What a part that ends inside a quoted cell reports: in any part but the last, a cut
# the quote count misplaced, not the file's fault.
_ENDS_IN_QUOTES = frozenset({"file.truncated", "file.unclosed_quote"})


class BadCut(Exception):
    """A part ended inside a quoted cell: the quote count misled the cut."""


def part_path(folder: Path, index: int) -> Path:
    """The scratch database part `index` of a file is read into."""
    return folder / f"part{index}.db"


def part_paths(folder: Path, readers: int | None = None, per_reader: int = 1) -> list[Path]:
    """The scratch databases stage() reads a file into with `readers` readers (default:
    one per core) reading `per_reader` parts each (fewer, for a file of fewer records
    than parts)."""
    return [part_path(folder, index) for index in range((readers or cores()) * per_reader)]


def _parts(
    cuts: list[tuple[int, int]],
    size: int,
    order: list[int] | None,
    width: int = 0,
    blank: tuple[int, ...] = (),
    header: list[str] | None = None,
) -> list[Part]:
    bounds = [(0, 0), *cuts]
    ends = [start for start, _ in cuts] + [size]
    told = tuple(header) if header is not None else None
    return [
        Part(start, end, lines, order, final=end == size, width=width, blank=blank, header=told)
        for (start, lines), end in zip(bounds, ends, strict=True)
    ]


def find_cuts(path: Path, size: int, parts: int) -> list[tuple[int, int]]:
    """Where to cut the file into about `parts` equal parts: (offset, lines before)."""
    targets = [size * k // parts for k in range(1, parts)]
    cuts: list[tuple[int, int]] = []
    quotes = lines = offset = 0
    after_cr = False  # the counted bytes ended in CR: a following LF ends no new line
    with open(path, "rb") as f:
        while targets and (block := f.read(BLOCK)):
            pos = 0
            while targets and targets[0] < offset + len(block):
                newline = block.find(b"\n", max(pos, targets[0] - offset))
                if newline < 0:
                    break
                seen = block[pos : newline + 1]
                quotes += seen.count(b'"')
                lines += line_ends(seen, after_cr)
                after_cr = False
                pos = newline + 1
                if quotes % 2 == 0 and offset + pos < size:
                    cuts.append((offset + pos, lines))
                    targets.pop(0)
            rest = block[pos:]
            quotes += rest.count(b'"')
            lines += line_ends(rest, after_cr)
            after_cr = rest.endswith(b"\r") if rest else after_cr
            offset += len(block)
    return cuts


async def _stage_parts(
    csv_file: CsvFile,
    table: StagedTable,
    folder: Path,
    parts: list[Part],
    progress: Progress | None,
    children: list[subprocess.Popen],
    watched: Sequence[int],
    stream: Stream | None = None,
) -> list[StagedPart]:
    """Read `parts`, part i by child i modulo the children's count, each child's parts
    in the file's order (`children` may hold more than needed)."""
    discard(folder)
    folder.mkdir(parents=True)
    loop = asyncio.get_running_loop()
    done = [0] * len(parts)
    total = csv_file.sniffed.size

    def advance(index: int, count: int) -> None:
        done[index] = count
        if progress:
            loop.call_soon_threadsafe(progress, sum(done), total)

    readers = children[: len(parts)]
    targets = [part_path(folder, index) for index in range(len(parts))]
    finished = [asyncio.Event() for _ in parts]
    results: list[tuple | ImportProblem | None] = [None] * len(parts)
    watching = list(watched)

    async def follow(first: int, child: subprocess.Popen) -> None:
        # A child's next part is handed to it once it has answered for the one before:
        # a pipe full of parts it has yet to read would block this loop.
        for index in range(first, len(parts), len(readers)):
            job = (csv_file.path, csv_file.spec, csv_file.sniffed, parts[index], table)
            pickle.dump((*job, targets[index], watching), child.stdin)
            child.stdin.flush()
            try:
                results[index] = await asyncio.to_thread(
                    _follow, child, lambda n, index=index: advance(index, n)
                )
            finally:
                finished[index].set()

    streaming = reading = None
    try:
        reading = asyncio.gather(*(follow(i, child) for i, child in enumerate(readers)))
        if stream is not None:
            streaming = asyncio.ensure_future(stream(targets, finished))
            # Whichever fails first ends both (a COPY the server refused, a reader gone).
            await asyncio.wait([reading, streaming], return_when=asyncio.FIRST_EXCEPTION)
            if streaming.done():
                streaming.result()
        await reading
        if streaming is not None:
            await streaming
    except BaseException:
        # Cancelled, or a reader died, part-way: the others' answers will never be
        # read, so none of them may be taken for another file.
        end(readers)
        await _stop(streaming)
        # The readers' own ends (killed just now) retrieved here, or asyncio logs
        # "exception was never retrieved" when the store's stream failed first.
        await _stop(reading)
        raise
    staged = []
    for index, (part, result) in enumerate(zip(parts, results, strict=True)):
        if isinstance(result, ImportProblem):
            if result.key in _ENDS_IN_QUOTES and not part.final:
                raise BadCut
            raise result
        staged.append(StagedPart(targets[index], *result))
    return staged


async def _stop(task: asyncio.Future | None) -> None:
    """Cancel `task` and wait until it has ended, however it ends: its own failure, if
    it had one, is not the one the caller goes on with."""
    if task is None:
        return
    task.cancel()
    await asyncio.wait([task])
    if not task.cancelled():
        task.exception()  # retrieved, so that asyncio does not report it as lost


class ReaderDied(Exception):
    """A reader process ended before its part's outcome (killed: the OOM killer, an
    admin): the server's trouble, not the file's, so no attempt of the file's."""

    def __init__(self, code: int) -> None:
        super().__init__(f"reader process ended early (exit {code})")
        self.code = code


def _follow(child: subprocess.Popen, advance: Callable[[int], None]) -> tuple | ImportProblem:
    """Read one child's messages until its outcome."""
    while True:
        try:
            message = pickle.load(child.stdout)
        except EOFError:
            raise ReaderDied(child.wait()) from None
        if message[0] == "progress":
            advance(message[1])
        elif message[0] == "done":
            return message[1:]  # records, failed, empty, values, repeats, errors
        elif message[0] == "full":
            raise OSError(errno.ENOSPC, f"reading a part: {message[1]}")
        else:
            return message[1]
