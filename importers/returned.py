"""The line numbers a corrected error CSV still carries under its `行番号` heading:
which run's error CSV it is a copy of, where its name cannot tell (every version of a
file names its error CSV alike)."""

from __future__ import annotations

import csv
import itertools
from collections.abc import Sequence
from pathlib import Path

# Both languages' headings of the two columns an error CSV adds (error_report.py).
_LINE = frozenset({"行番号", "line"})
_ERROR = frozenset({"エラー内容", "error"})
# Enough rows to tell two versions' error CSVs apart, few enough for one query.
SAMPLE = 200


def returned_lines(
    path: Path, encoding: str, header: bool, columns: int, sample: int = SAMPLE
) -> list[int]:
    """The first `sample` line numbers of the copy at `path`; none when it has no
    `行番号` column left (the partner removed the two columns) or a cell under it is
    no line number. Without a header row the two cells follow the record's own
    `columns`. A copy the csv module cannot read has none either: its import says why."""
    try:
        return _lines(path, encoding, header, columns, sample)
    except (csv.Error, OSError):
        return []


def _lines(path: Path, encoding: str, header: bool, columns: int, sample: int) -> list[int]:
    with open(path, encoding=encoding, errors="replace", newline="") as f:
        records = (fields for fields in csv.reader(f) if any(fields))
        first = next(records, [])
        at = _line_column(first, header, columns)
        if at is None:
            return []
        if not header:
            records = itertools.chain([first], records)
        lines = []
        for fields in records:
            cell = fields[at].strip() if at < len(fields) else ""
            if cell:  # a problem of the whole file has no line of its own
                if not cell.isdecimal():
                    return []
                lines.append(int(cell))
            if len(lines) == sample:
                break
        return lines


def _line_column(first: Sequence[str], header: bool, columns: int) -> int | None:
    if not header:
        return columns if len(first) > columns else None
    cells = [cell.strip() for cell in first]
    pairs = zip(cells, cells[1:], strict=False)
    found = [i for i, (line, error) in enumerate(pairs) if line in _LINE and error in _ERROR]
    return found[-1] if found else None
