"""Workbook reading: one sheet of an .xlsx or .xls file, as the text Excel shows.

Reads the sheet with pandas (`read_excel`, the python-calamine engine) and hands the
reader its rows as lists of text, numbered as the sheet numbers them, so that the same
validation as a CSV's applies and an error names the cell (`売上!D14`). Called by the
reader (reader.py) for an account with `excel = true`; never writes anything.

What pandas 3.1 with calamine hands over, measured on workbooks made by openpyxl and
xlwt: every row and column from A1 on — pandas reads with `skip_empty_area=False`, so
leading empty rows and columns are there and list index i is sheet row i + 1 — up to
the last cell that holds a value (formatted but empty rows below a table are not
there). Numbers come as float, a whole one made int by pandas; a date cell as a
datetime at midnight, a date-and-time as a datetime, a time as a time, a duration as a
timedelta, TRUE/FALSE as bool, text as it was typed (`00123` stays `00123` only when the
cell is text in Excel). Its NA filter would read the text `NA`, `N/A` or `null` as
missing, so it is off. calamine tells the format by the bytes, not the name: an .xls
named .xlsx reads as well.

A date cell's text is a `DateCell` (sheetcells.py, with how each value is shown),
which keeps its value: a date or datetime column reads the value (see
dates.date_cell_writer), whatever the cell's text looks like.

What python-calamine 0.9 does not tell, so renkei cannot: a cell's number format (a
number shown `00123` by the format `00000` arrives as 123, a date shown without its
time arrives with it), whether an empty cell holds a formula without a saved result
(a workbook written by a program, not saved by Excel) and an error cell (`#DIV/0!`,
`#N/A`): each arrives as the value, or as an empty cell, and only a required column
catches the empty ones.
"""

from __future__ import annotations

import datetime as dt
import logging
import pickle
import re
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from importers.errors import PermanentProblem
from importers.filenames import EXCEL_SUFFIXES
from importers.messages import Words
from importers.sheetcells import DateCell, column_letter, row_texts
from importers.sheetsize import used_size

log = logging.getLogger(__name__)

# An .xlsx is a zip of XML: a few MB of it can inflate to GBs (a "zip bomb"), all of
# which calamine would hold at once. A sheet of 100,000 rows × 4 columns is 19 MB of
# XML and peaks at 160 MB read; a workbook whose parts inflate past this fails instead.
MAX_EXPANDED = 64 * 1024 * 1024
# Cells of a sheet's used range (A1 to its last cell with a value) read at most:
# calamine holds every one of them (about 60 bytes each with pandas' copy), so a
# stray value far from a table made a 5 KB workbook need gigabytes (sheetsize.py).
MAX_CELLS = 4_000_000
READ_SECONDS = 300  # a child still reading after this is stopped: the file fails
OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # an .xls (and an encrypted .xlsx) starts so
_PLAIN_SHEET = re.compile(r"\w+")


def is_workbook(name: str) -> bool:
    """Whether a file of this name is read as a workbook (by its extension, any case)."""
    return name.lower().endswith(EXCEL_SUFFIXES)


@dataclass(frozen=True, slots=True)
class Sheet:
    """One sheet as text. `rows[i]` is sheet row i + 1 from column `first_column` on
    (0 = A; the columns before it are empty in every row), its trailing empty cells cut
    off: an empty row is []."""

    name: str
    rows: list[list[str]]
    first_column: int = 0
    format: str = "xlsx"  # xlsx | xls, by the file's bytes

    def cell(self, row: int, index: int) -> str:
        """Where the `index`-th cell read from sheet row `row` sits: `売上!D14`."""
        return f"{self.ref}!{column_letter(self.first_column + index)}{row}"

    def row(self, row: int) -> str:
        """Sheet row `row` by name: `売上!14`."""
        return f"{self.ref}!{row}"

    @property
    def ref(self) -> str:
        """The sheet's name as a formula writes it: quoted when it holds a space or sign."""
        if _PLAIN_SHEET.fullmatch(self.name):
            return self.name
        return "'" + self.name.replace("'", "''") + "'"


def read_sheet(path: Path, sheet: str | None = None) -> Sheet:
    """The sheet named `sheet` (the first when None) of the workbook at `path`.

    Read in a child process: on some damaged .xls files calamine asks for hundreds of
    GB and aborts the process it runs in (2 of 150 randomly damaged copies of one
    .xls did), which no `except` can catch. The child's start costs 0.6 s, mostly
    pandas' import; a workbook is small and rare enough to pay it.
    """
    fmt = _format(path)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "importers.workbook", str(path), sheet or ""],
            capture_output=True,
            timeout=READ_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        log.warning("%s: the workbook reader ran over %s s", path.name, READ_SECONDS)
        raise _unreadable("workbook.why.slow", seconds=READ_SECONDS) from None
    if done.returncode < 0:  # killed by a signal: the file crashed the reader
        log.warning("%s: the workbook reader died of signal %s", path.name, -done.returncode)
        raise _unreadable("workbook.why.crashed")
    if done.returncode != 0:  # a Python error in the child: ours, so retried
        raise RuntimeError(f"workbook reader failed: {done.stderr.decode()[-2000:]}")
    kind, *value = pickle.loads(done.stdout)
    if kind == "problem":
        key, params, said = value
        if said:
            log.warning("%s: %s", path.name, said)
        raise PermanentProblem(key, **params)
    name, rows, first_column = value
    return Sheet(name, rows, first_column, fmt)


def _unreadable(why: str, **params: object) -> PermanentProblem:
    """The workbook cannot be read, and why in the catalog's words (the library's own
    English goes to the log)."""
    return PermanentProblem("workbook.unreadable", detail=Words(why, params))


class _Unread(PermanentProblem):
    """A problem met in the child, with what the library said (for the log)."""

    def __init__(self, problem: PermanentProblem, said: str) -> None:
        super().__init__(problem.key, **problem.params)
        self.said = said


def _read(path: Path, sheet: str | None) -> tuple[str, list[list[str]], int]:
    """In the child: the sheet's name, its rows as text, and the first column."""
    # Imported here, in the child only: pandas takes half a second to import, which
    # `renkei import` of a CSV and the daemon's import process never need to pay.
    import pandas as pd
    from python_calamine import CalamineError, PasswordError

    try:
        with pd.ExcelFile(path, engine="calamine") as book:
            if sheet is not None:
                return _named_sheet(book, sheet, path)
            return _first_sheet(book, path)
    except PasswordError as exc:
        raise _Unread(_unreadable("workbook.why.password"), _detail(exc)) from None
    except CalamineError as exc:
        raise _Unread(_unreadable("workbook.why.damaged"), _detail(exc)) from None


def _sheet_rows(book: object, name: str, path: Path) -> tuple[str, list[list[str]], int]:
    import pandas as pd

    size = used_size(path, name)  # None: an .xls, whose 65,536 x 256 bound this
    if size is not None and size[0] * size[1] > MAX_CELLS:
        rows, columns = size
        last = f"{column_letter(columns - 1)}{rows}"
        raise PermanentProblem(
            "workbook.too_large", sheet=name, last=last, cells=rows * columns, limit=MAX_CELLS
        )

    frame = pd.read_excel(book, name, header=None, dtype=object, na_filter=False)
    rows, first_column = _trimmed([row_texts(row) for row in frame.to_numpy().tolist()])
    return name, rows, first_column


def _named_sheet(book: object, sheet: str, path: Path) -> tuple[str, list[list[str]], int]:
    """The sheet `sheet` names (as Excel does, ignoring case), hidden or not."""
    names = [str(name) for name in book.sheet_names]  # type: ignore[attr-defined]
    name = _find(names, sheet)
    if name is None:
        raise PermanentProblem("workbook.no_sheet", sheet=sheet, sheets=", ".join(names))
    read = _sheet_rows(book, name, path)
    if not any(read[1]):
        raise PermanentProblem("workbook.sheet_empty", sheet=name)
    return read


def _first_sheet(book: object, path: Path) -> tuple[str, list[list[str]], int]:
    """The first sheet the partner sees that holds anything: a hidden sheet (a master
    list, a macro's scratch) and an empty one (a cover left blank) are not the data."""
    shown = _shown_sheets(book)
    if not shown:
        raise _unreadable("workbook.why.no_worksheet")
    for name in shown:
        read = _sheet_rows(book, name, path)
        if any(read[1]):
            return read
    raise PermanentProblem("workbook.empty", sheets=", ".join(shown))


def _shown_sheets(book: object) -> list[str]:
    """The visible worksheets, in the workbook's order."""
    from python_calamine import SheetTypeEnum, SheetVisibleEnum

    metadata = getattr(book.book, "sheets_metadata", None)  # type: ignore[attr-defined]
    if metadata is None:  # XXX an engine without it: every sheet counts as shown
        return [str(name) for name in book.sheet_names]  # type: ignore[attr-defined]
    return [
        str(meta.name)
        for meta in metadata
        if meta.visible == SheetVisibleEnum.Visible and meta.typ == SheetTypeEnum.WorkSheet
    ]


def workbook_format(path: Path) -> str | None:
    """xlsx or xls by the file's first bytes (an .xls named .xlsx is an xls), or None
    for a file that is neither."""
    with open(path, "rb") as f:
        head = f.read(len(OLE))
    if head.startswith(OLE):
        return "xls"
    if head.startswith(b"PK"):
        return "xlsx"
    return None


# What a web system's "Excel" export often is: an HTML table or an Excel 2003 XML
# (SpreadsheetML) file named .xls, which Excel opens with a warning.
_HTML = re.compile(rb"<(?:!doctype\s+html|html|table)\b", re.IGNORECASE)
_SPREADSHEET_ML = b"urn:schemas-microsoft-com:office:spreadsheet"


def _not_workbook(path: Path) -> str:
    """The catalog key that says what a file named as a workbook is instead."""
    with open(path, "rb") as f:
        head = f.read(4096)
    if _SPREADSHEET_ML in head:
        return "workbook.is_xml"
    if _HTML.search(head):
        return "workbook.is_html"
    return "workbook.not_workbook"


def _format(path: Path) -> str:
    """xlsx or xls, by the file's first bytes; a file that is neither fails here."""
    fmt = workbook_format(path)
    if fmt is None:
        raise PermanentProblem(_not_workbook(path))
    if fmt == "xls":
        return fmt
    try:
        with zipfile.ZipFile(path) as archive:
            expanded = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, EOFError, NotImplementedError, ValueError) as exc:
        log.warning("%s: not a whole zip: %s", path.name, _detail(exc))
        raise _unreadable("workbook.why.damaged") from None
    if expanded > MAX_EXPANDED:
        raise PermanentProblem("workbook.expands", size=expanded, limit=MAX_EXPANDED)
    return "xlsx"


def _find(names: list[str], sheet: str) -> str | None:
    """The sheet named `sheet` (as Excel does, ignoring case); else the one named so
    but for spaces around it (`売上 `, which no one sees on its tab)."""
    if sheet in names:
        return sheet
    found = next((name for name in names if name.casefold() == sheet.casefold()), None)
    if found is None:
        bare = sheet.strip().casefold()
        spaced = [name for name in names if name.strip().casefold() == bare]
        found = spaced[0] if len(spaced) == 1 else None
    return found


def _detail(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text[:200]


def _trimmed(rows: list[list[str]]) -> tuple[list[list[str]], int]:
    """Cut each row's trailing empty cells, and the columns empty in every row on the
    left; the rows, and how many columns were cut on the left."""
    cut = []
    for row in rows:
        end = len(row)
        while end and not row[end - 1]:
            end -= 1
        cut.append(row[:end])
    lead = min((_first_filled(row) for row in cut if row), default=0)
    return [row[lead:] for row in cut], lead


def _first_filled(row: list[str]) -> int:
    return next(i for i, cell in enumerate(row) if cell)


class SheetRecords:
    """A sheet's rows as the reader reads a csv.reader's: an iterator of records with
    `line_num`, the sheet row the last record came from; `buffer.tell()` is how far in,
    in bytes of the file, for progress.

    Every row is handed on, empty ones as empty cells (the reader counts and skips
    them), except the empty rows above the first filled one: a sheet may start its
    table lower down, and its first filled row is the header. Each record is as wide as
    the header (as the widest row, without one), so a cell typed beside the table
    makes its row an error rather than the whole sheet.
    """

    def __init__(self, sheet: Sheet, header: bool, size: int) -> None:
        self.sheet = sheet
        self.line_num = 0
        self.buffer = self
        self._size = size
        filled = [row for row in sheet.rows if row]
        if not filled:
            self._width = 0
        elif header:
            self._width = len(filled[0])
        else:
            self._width = max(len(row) for row in filled)
        self._next = next((i for i, row in enumerate(sheet.rows) if row), len(sheet.rows))
        self._dates: dict[int, Callable[[dt.datetime], str]] = {}

    def write_dates(self, writers: dict[int, Callable[[dt.datetime], str]]) -> None:
        """From the next record on, write the date cell of field i by `writers[i]`:
        as its date or datetime column reads it."""
        self._dates = writers

    def __iter__(self) -> Iterator[list[str]]:
        return self

    def __next__(self) -> list[str]:
        if self._next >= len(self.sheet.rows):
            raise StopIteration
        row = self.sheet.rows[self._next]
        self._next += 1
        self.line_num = self._next
        if len(row) < self._width:
            row = row + [""] * (self._width - len(row))
        dates = [i for i in self._dates if i < len(row) and type(row[i]) is DateCell]
        if dates:
            row = list(row)
            for i in dates:
                row[i] = self._dates[i](row[i].value)
        return row

    def records(self) -> int:
        """The rows that hold anything, the header included."""
        return sum(1 for row in self.sheet.rows if row)

    def tell(self) -> int:
        rows = len(self.sheet.rows)
        return self._size * self.line_num // rows if rows else self._size


def main(argv: list[str]) -> int:
    """`python -m importers.workbook PATH [SHEET]`: the sheet, pickled to stdout."""
    path, sheet = Path(argv[0]), (argv[1] if len(argv) > 1 else "") or None
    try:
        result: tuple = ("sheet", *_read(path, sheet))
    except PermanentProblem as problem:
        result = ("problem", problem.key, problem.params, getattr(problem, "said", ""))
    sys.stdout.buffer.write(pickle.dumps(result, pickle.HIGHEST_PROTOCOL))
    return 0


if __name__ == "__main__":
    # Its DateCells pickle as importers.sheetcells.DateCell, which the parent imports.
    sys.exit(main(sys.argv[1:]))
