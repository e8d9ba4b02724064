"""`python -m daemon.worker.partreader`: reads parts of files into scratch databases.

A large file is split into parts read side by side, one process each, so that
parsing and converting use every core (staging.py hands out the parts, readers.py
keeps the processes between files). Each part's converted rows and row errors go into
a scratch SQLite file of its own (store/scratch.py); the run's transaction then copies
the rows into the layout's table. Reads pickled jobs (path, spec, sniffed, part,
table, target, watched) from stdin, one after another, until stdin closes; for each
writes pickled messages to stdout: ("progress", bytes) now and then, then ("done",
records, failed, empty, values, repeats, errors), ("problem", p) or ("full", text)
(the disk full), `empty` counting the lines of empty cells read past and `values` the
distinct values of each watched column (by its position in the table's columns) in
the rows read: what the run's transaction checks against referenced tables or learns
as new choices; `repeats` whether a keyed mode's key is listed more than once;
`errors` how many row errors were written beside the rows.
Imports only importers/, store/scratch.py, ownfolders.py and the standard library.
"""

from __future__ import annotations

import gc
import os
import pickle
import sqlite3
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from daemon.store.scratch import ScratchWriter, StagedTable
from daemon.worker.ownfolders import own_folder_trouble
from importers.errors import ImportProblem
from importers.reader import CsvFile


def stage(
    csv_file: CsvFile,
    table: StagedTable,
    target: Path,
    send: Callable[[tuple], None],
    watched: Sequence[int] = (),
) -> tuple[int, int, int, dict[int, set[object]], bool, int]:
    """Read `csv_file`'s part into `target`; (records, failed, empty lines, the
    distinct values of the `watched` columns, whether a key of `table.key` is listed
    more than once, the row errors written)."""
    assert csv_file.part is not None
    assert [c.name for c in csv_file.spec.columns] == table.columns
    scratch = ScratchWriter(target, table)
    records = failed = empty = 0
    values: dict[int, set[object]] = {at: set() for at in watched}
    keys = Repeats(table.key) if table.key else None
    try:
        for chunk in csv_file.chunks():
            scratch.add(chunk.rows, chunk.errors)
            for at, seen in values.items():
                seen.update(row[at] for row in chunk.rows)
            if keys is not None:
                keys.see(chunk.rows)
            records += chunk.records
            failed += chunk.records - len(chunk.rows)
            empty += chunk.empty
            send(("progress", chunk.bytes_read - csv_file.part.start))
        scratch.commit()
    finally:
        scratch.close()
    return records, failed, empty, values, keys is None or keys.found, scratch.errors


class Repeats:
    """Whether rows list a key more than once: the keys seen so far (forgotten once
    one came again). Cells compare as the table compares them: the key's integers are
    converted (staging.stage), and None is one key, as IS NOT DISTINCT FROM takes it."""

    def __init__(self, at: Sequence[int]) -> None:
        self.at = tuple(at)
        self.seen: set[object] = set()
        self.found = False

    def see(self, rows: Sequence[Sequence[object]]) -> None:
        if self.found:
            return
        if len(self.at) == 1:
            [at] = self.at
            keys: list[object] = [row[at] for row in rows]
        else:
            keys = [tuple(row[i] for i in self.at) for row in rows]
        before = len(self.seen)
        self.seen.update(keys)
        if len(self.seen) - before < len(keys):
            self.found, self.seen = True, set()


def main() -> int:
    # Rows are lists that never form cycles, and a chunk of them is alive at a time:
    # the cycle collector would only walk them again and again. It runs once between
    # parts instead, for what a part's reading left behind, and what outlives that
    # (modules, the readers' caches) is frozen out of every later collection: walked
    # each time, it cost 3-4 ms a part, a fifth of the readers' time in a burst of
    # small files.
    gc.disable()
    out = sys.stdout.buffer

    def send(message: tuple) -> None:
        pickle.dump(message, out, protocol=pickle.HIGHEST_PROTOCOL)
        out.flush()

    while True:
        try:
            job = pickle.load(sys.stdin.buffer)
        except EOFError:  # no more parts: the pool, or the process that started us, ended
            return 0
        try:
            read_part(job, send)
        except BrokenPipeError:
            # The process that asked is gone (killed): nobody to answer, and nothing
            # to say but a traceback. Python's own flush at exit would write to the
            # broken pipe again: stdout is pointed at nothing first.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 1
        gc.collect()
        gc.freeze()


def read_part(job: tuple, send: Callable[[tuple], None]) -> None:
    path, spec, sniffed, part, table, target, watched = job
    csv_file = CsvFile(path, spec, part)
    csv_file.sniffed = sniffed
    try:
        counts = stage(csv_file, table, Path(target), send, watched)
    except ImportProblem as problem:
        send(("problem", problem))
    except (OSError, sqlite3.OperationalError) as exc:
        if not own_folder_trouble(exc):
            raise
        # Trouble of the moment, not of the file: said as such, so that the run is
        # put back without counting an attempt, as a full disk in the writer is.
        send(("full", str(exc)))
    else:
        send(("done", *counts))


if __name__ == "__main__":
    sys.exit(main())
