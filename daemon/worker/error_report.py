"""The per-run error report: `<file stem>.errors.csv`, in the encoding the file came in.

Cells a spreadsheet would run as a formula are escaped. Written by the pipeline while
it reads, so a file with a million bad rows still costs constant memory.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from pathlib import Path

from importers.errors import RowError

HEADER = ("line", "column", "value", "message")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def escape_cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


class ErrorReport:
    def __init__(self, path: Path, encoding: str) -> None:
        self.path = path
        self.count = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = path.with_name(f".{path.name}.tmp")
        self._file = open(self._tmp, "w", encoding=encoding, errors="backslashreplace", newline="")  # noqa: SIM115
        self._writer = csv.writer(self._file, lineterminator="\r\n")
        self._writer.writerow(HEADER)

    def add(self, errors: Iterable[RowError]) -> None:
        for e in errors:
            self._writer.writerow(
                (e.line, escape_cell(e.column), escape_cell(e.value), escape_cell(e.message))
            )
            self.count += 1

    def close(self) -> Path | None:
        """Keep the report if it holds any error; returns its path or None."""
        self._file.close()
        if not self.count:
            self._tmp.unlink(missing_ok=True)
            return None
        os.replace(self._tmp, self.path)
        return self.path

    def discard(self) -> None:
        self._file.close()
        self._tmp.unlink(missing_ok=True)


def header_only(encoding: str) -> bytes:
    """The error CSV of a run without row errors: its header row alone."""
    return ("\r\n".join([",".join(HEADER), ""])).encode(encoding)
