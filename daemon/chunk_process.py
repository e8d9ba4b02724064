"""Reading a large file in a helper process, so parsing and writing use both cores.

One process cannot parse and write at once (both hold the GIL); for a file over
LARGE_FILE bytes the pipeline reads its chunks from `python -m importers.chunker`
instead. Small files (the usual 3 MiB) never pay for the process start.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace

from importers.errors import ImportProblem
from importers.layouts import ColumnSpec
from importers.reader import Chunk, CsvFile

LARGE_FILE = 16 * 1024 * 1024


def process_chunks(csv_file: CsvFile) -> Iterator[Chunk]:
    """The file's chunks as `csv_file.chunks()` gives them, parsed in another process."""
    assert csv_file.sniffed is not None
    # Plain column specs: the child need not import the config model to unpickle them.
    spec = replace(csv_file.spec, columns=[ColumnSpec.of(c) for c in csv_file.spec.columns])
    child = subprocess.Popen(
        [sys.executable, "-m", "importers.chunker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        pickle.dump((csv_file.path, spec, csv_file.sniffed), child.stdin)
        child.stdin.close()
        while True:
            try:
                item = pickle.load(child.stdout)
            except EOFError:
                raise RuntimeError(f"reader process ended early (exit {child.wait()})") from None
            if item is None:
                return
            if isinstance(item, ImportProblem):
                raise item
            yield item
    finally:
        child.stdout.close()
        if child.poll() is None:
            child.kill()
        child.wait()
