"""Reading a large file in a helper process, so parsing and writing use both cores.

The worker thread of one process cannot parse and write at once (both hold the GIL);
for a file over LARGE_FILE bytes the pipeline reads its chunks from a spawned process
instead. Small files (the usual 3 MiB) never pay for the process start.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path

from importers.decoding import Sniffed
from importers.errors import ImportProblem
from importers.reader import Chunk, CsvFile, ImportSpec

LARGE_FILE = 16 * 1024 * 1024
_END = None


def _produce(path: Path, spec: ImportSpec, sniffed: Sniffed, conn: Connection) -> None:
    csv_file = CsvFile(path, spec)
    csv_file.sniffed = sniffed
    try:
        for chunk in csv_file.chunks():
            conn.send(chunk)
        conn.send(_END)
    except ImportProblem as problem:
        conn.send(problem)
    except BaseException as exc:  # noqa: BLE001 - carried to the parent, raised there
        conn.send(RuntimeError(f"reader process failed: {exc!r}"))
    finally:
        conn.close()


def process_chunks(csv_file: CsvFile) -> Iterator[Chunk]:
    """The file's chunks as `csv_file.chunks()` gives them, parsed in another process."""
    assert csv_file.sniffed is not None
    # spawn, not fork: the daemon has threads (SQLite, FTP, uvicorn) a fork would copy
    # mid-flight.
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(
        target=_produce,
        args=(csv_file.path, csv_file.spec, csv_file.sniffed, sender),
        name="renkei-reader",
        daemon=True,
    )
    child.start()
    sender.close()
    try:
        while True:
            item = receiver.recv()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        receiver.close()
        if child.is_alive():
            child.kill()
        child.join()
