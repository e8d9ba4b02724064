"""The per-run error CSV, `<file stem>.errors.csv`: what a partner fixes and sends back.

Shaped like the failed-results file Salesforce gives: the partner's own header row,
then each rejected record with its cells exactly as the file had them, each followed
by two columns, `行番号` and `エラー内容` (`line` and `error` in English), all in the
encoding the file came in. The reader takes those two columns back: a corrected copy
imports with them left in or removed. An account without a header row (`header =
false`) gets no header row here either; its corrected copy imports with the two
columns removed.

- Several errors of one record share one row: their messages are joined by " / "
  in one cell. Not by a line break: a cell with line breaks makes Excel grow the row
  and wrap it, and partner tools that read line by line split the record.
- A record with fewer cells than the header is padded with empty cells, so that
  `行番号` and `エラー内容` stay under their heading; a longer one keeps all its cells,
  those past the header's after the two columns (where no heading names them), for
  the same reason.
- A problem of the whole file (no record: too large, undecodable, a bad header) is
  one row of empty cells with its line (empty when it has none) and message. On a
  corrected copy such a row is all empty in the partner's columns and read past.
- When the file's header was never read (the file failed before), the header row is
  the layout's column names, as the partner would write them.
- A run without row errors keeps a header-only error CSV, so the download always
  matches the file's header (the web app serves it; report mail attaches it only when
  there are errors).

Cells a spreadsheet would run as a formula are escaped with a leading `'`, which the
reader takes off again when the copy comes back (formulas.unescaped). Written by the
pipeline while it reads, a record at a time, so a file with a million bad rows costs
constant memory.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from importers.errors import RowError
from importers.formulas import formula_like
from importers.headers import RETURNED_COLUMNS
from importers.layouts import ColumnLike, header_key, header_names
from importers.messages import message

JOIN = " / "
# A workbook came in no text encoding: its error CSV is UTF-8 with a BOM, which Excel
# opens as it is (without the BOM it would read it as Shift_JIS).
WORKBOOK_REPORT_ENCODING = "utf-8-sig"

Header = Callable[[], Sequence[str] | None]


def unread_encoding(declared: str) -> str:
    """The error CSV's encoding for a CSV that failed before its own encoding was
    read: the account's `encoding`, Shift_JIS for `auto`."""
    return declared if declared != "auto" else "cp932"


def escape_cell(value: str) -> str:
    """A cell a spreadsheet would run as a formula, made text with a leading `'`.

    A signed plain number (`-5`, `+1,200`) is left alone: a spreadsheet reads it as
    the number it is, not a formula, and escaping it would make the corrected copy of
    the error CSV fail on the partner's own amounts (`'-5` is not an integer). A cell
    that already starts with `'` before a formula (`'=x`) gets one more, so that taking
    one off when the copy comes back gives the partner's cell as it was."""
    return "'" + value if formula_like(value) else value


def extra_columns(language: str) -> list[str]:
    """The two columns after the partner's: 行番号, エラー内容 (line, error)."""
    return [message("errors_csv.line", language), message("errors_csv.error", language)]


class ErrorReport:
    """Writes one run's error CSV under a temporary name, published by `close()`.

    `header()` gives the header row when the first row is written (the reader reads
    the file's header only once rows flow): the file's own cells, or None for an
    account without one. `columns` are the columns the file is read by: without a
    header, a record should have one cell for each.
    """

    def __init__(
        self,
        path: Path,
        encoding: str,
        language: str,
        header: Header,
        columns: Sequence[ColumnLike],
    ) -> None:
        self.path = path
        self.count = 0  # rejected records (and whole-file problems) written
        self._language = language
        self._header = header
        self._width = len(columns)
        self._own = {name for column in columns for name in header_names(column)}
        self._keep: int | None = None  # the partner's cells; None: header not yet read
        self._full = 0  # cells of a header row sent back with our two columns in it
        self._pending: tuple[int, list[str] | None, list[str]] | None = None
        # A message marks a line break in a quoted value by ↵, which CP932 has no
        # character for (it came out as `\u21b5`): ↓ there.
        self._break = "↵" if _encodes(encoding, "↵") else "↓"
        path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = path.with_name(f".{path.name}.tmp")
        self._file = open(self._tmp, "w", encoding=encoding, errors="backslashreplace", newline="")  # noqa: SIM115
        self._writer = csv.writer(self._file, lineterminator="\r\n")

    def add(self, errors: Iterable[RowError]) -> None:
        """Errors in file order; those of one record come one after another."""
        for e in errors:
            pending = self._pending
            if pending and pending[0] == e.line and (pending[1] is None) == (e.record is None):
                pending[2].append(e.message)
                continue
            self._flush()
            self._pending = (e.line, e.record, [e.message])
            self.count += 1

    def close(self) -> Path:
        """Publish the report (header-only when there was no error); its path."""
        self._flush()
        self._start()
        self._file.close()
        os.replace(self._tmp, self.path)
        return self.path

    def discard(self) -> None:
        self._file.close()
        self._tmp.unlink(missing_ok=True)

    def _start(self) -> int:
        """Write the header row once; the number of the partner's cells in a row."""
        if self._keep is None:
            header = self._header()
            if header is None:
                self._keep = self._width
            else:
                self._keep, self._full = _partner_cells(header, self._own), len(header)
                self._row(header[: self._keep], extra_columns(self._language))
        return self._keep

    def _flush(self) -> None:
        if self._pending is None:
            return
        keep = self._start()
        line, record, messages = self._pending
        self._pending = None
        cells = list(record or ())
        if len(cells) == self._full:  # a copy sent back: our two columns are in it
            cells = cells[:keep]
        cells += [""] * (keep - len(cells))
        ours = [str(line) if line else "", JOIN.join(messages).replace("↵", self._break)]
        self._row(cells[:keep], ours, cells[keep:])

    def _row(self, cells: Sequence[str], extra: Sequence[str], past: Sequence[str] = ()) -> None:
        self._writer.writerow([escape_cell(c) for c in (*cells, *extra, *past)])


def _encodes(encoding: str, text: str) -> bool:
    try:
        text.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def _partner_cells(header: Sequence[str], own: set[str]) -> int:
    """How many of the header's cells are the partner's: a corrected copy sent back
    ends with our 行番号/エラー内容, which the next error CSV must not repeat (unless
    the layout has a column of that name: then it is the partner's own)."""
    keep = len(header)
    while keep and (key := header_key(header[keep - 1])) in RETURNED_COLUMNS and key not in own:
        keep -= 1
    return keep


def header_only(encoding: str, language: str) -> bytes:
    """The error CSV of a run that kept none of its own (it read no file: ignored,
    failed before): the two columns alone. A run that read a file keeps its own,
    header-only when it had no row errors."""
    text = io.StringIO()
    csv.writer(text, lineterminator="\r\n").writerow(extra_columns(language))
    return text.getvalue().encode(encoding, errors="backslashreplace")
