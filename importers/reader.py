"""CSV reading: streams a spooled file as chunks of converted rows and row errors.

Reads the file with the csv module (C parser, physical line numbers for every record,
constant memory); converts each cell by its column's type; never writes anything.
Called by the daemon's worker, one chunk at a time, from a worker thread. An Excel
workbook's sheet (workbook.py) stands in for the csv module and goes the same way.

Why not pandas: on the benchmark's 1,000,000 CP932 rows, pandas `read_csv(dtype=str,
keep_default_na=False, chunksize=5000)` took 2.3 s to make the chunks and 3.9 s to hand
out their rows, the csv module 1.7 s for the rows; and only the csv module says on which
physical line a record starts, which every error message needs.
"""

from __future__ import annotations

import csv
import functools
import io
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from itertools import islice
from pathlib import Path
from typing import Any, TypeVar

from importers import decoding
from importers.dates import date_cell_writer
from importers.errors import ERRORS_KEPT, CellError, PermanentProblem, RowError
from importers.formulas import unescaped
from importers.headers import HeaderMatch, match_header
from importers.layouts import ColumnLike, converters, display_name, row_converter
from importers.messages import Sentences, Words, cut, message
from importers.sheetcells import column_letter
from importers.workbook import Sheet, SheetRecords, read_sheet, workbook_format

CHUNK_ROWS = 20000
T = TypeVar("T")
_TRUNCATED_CSV = "unexpected end of data"
# What else the csv module (Modules/_csv.c) raises reading a file opened with
# newline="" in strict mode, by words of its message, and the catalog's name for it:
# a quote in a quoted cell not doubled (`"q"q"`), a cell past csv.field_size_limit.
# Its newline and NUL errors cannot happen here (newline="" ends every line at a
# line break; CsvFile.open refuses a NUL first).
_CSV_ERRORS = {
    "expected after": "quote",
    "field larger than field limit": "long_cell",
}

# A cell may hold a long note; the csv module's default cap (128 KiB) would turn a
# legitimate cell into a parse error.
csv.field_size_limit(16 * 1024 * 1024)


@dataclass(frozen=True, slots=True)
class ImportSpec:
    columns: Sequence[ColumnLike]
    encoding: str = "auto"
    header: bool = True
    max_rows: int = 10000
    max_bytes: int = 3145728
    language: str = "ja"
    other_columns: bool = False  # the header may name columns beyond these, read past
    workbook: bool = False  # an Excel workbook: one sheet read as text (workbook.py)
    sheet: str | None = None  # the workbook's sheet read (the first when None)
    # A corrected error CSV sent back: the `'` its escape put before a formula-like
    # cell (error_report.escape_cell) is taken off again.
    error_copy: bool = False


@dataclass(frozen=True, slots=True)
class Part:
    """A byte range of a file that starts on a record boundary, read on its own.

    `first_line` is the number of physical lines before `start`, so that line
    numbers in messages stay those of the whole file; `order` is the header's
    column order, read once from the start of the file.
    """

    start: int
    end: int
    first_line: int
    order: list[int] | None
    final: bool
    width: int = 0  # fields per record, when the header has more than the columns
    blank: tuple[int, ...] = ()  # fields under the header's empty last cells
    header: tuple[str, ...] | None = None  # the header row, to tell it again (_Records)


@dataclass(slots=True)
class Chunk:
    rows: list[list[object]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    records: int = 0
    bytes_read: int = 0
    lines: list[int] = field(default_factory=list)  # the line each row starts on
    empty: int = 0  # lines whose cells are all empty, skipped
    cells: list[list[str]] = field(default_factory=list)  # each row's cells, as in the file


class CsvFile:
    """One spooled file, checked as a whole by `open()` and then read by `chunks()`."""

    def __init__(self, path: Path, spec: ImportSpec, part: Part | None = None) -> None:
        self.path = path
        self.spec = spec
        self.part = part
        self.sniffed: decoding.Sniffed | None = None
        self._names = [display_name(column) for column in spec.columns]
        self._converters = converters(spec.columns)
        self._width = 0  # fields per record, when the header names other columns too
        self._blank: tuple[int, ...] = ()  # fields under the header's empty last cells
        self.header_cells: list[str] | None = None  # the header row as the file has it
        self.sheet: Sheet | None = None  # a workbook's sheet, read by open()
        self._format: str | None = None  # xlsx | xls, a workbook's format by its bytes
        self._lead = 0  # empty lines above the header, read past
        self._words_left = ERRORS_KEPT  # row errors still to be given their words
        # Where each column's cell is in a record (None: in the layout's order), once
        # the rows are read.
        self.order: list[int] | None = None

    def read_as_error_copy(self, error_copy: bool = True) -> None:
        """Read the file as a corrected error CSV sent back (see ImportSpec.error_copy),
        as its name says it is; before `open()`."""
        self.spec = replace(self.spec, error_copy=error_copy)

    @property
    def width(self) -> int:
        """Fields per record when the header names more than the layout's columns, else 0."""
        return self._width

    @property
    def blank(self) -> tuple[int, ...]:
        """Fields under the empty cells the header ends in (`備考,,`): read past while
        they are empty."""
        return self._blank

    @property
    def encoding(self) -> str | None:
        if self.sniffed:
            return self.sniffed.encoding
        return self._format  # a workbook that failed to read: its format, when its bytes tell

    def open(self) -> decoding.Sniffed:
        """Whole-file checks, before any row is read: size, encoding, row count."""
        size = self.path.stat().st_size
        if size > self.spec.max_bytes:
            raise PermanentProblem("file.too_large", size=size, limit=self.spec.max_bytes)
        if size == 0:
            raise PermanentProblem("file.empty")
        if self.spec.workbook:
            return self._open_workbook(size)
        self.sniffed = decoding.sniff(self.path, self.spec.encoding, self.spec.error_copy)
        if self.sniffed.nul_line:
            raise PermanentProblem("file.nul_byte", line=self.sniffed.nul_line)
        # A record spans at least one line break (or ends the file), so only a file
        # with more line breaks than the limit needs counting.
        if self.sniffed.newlines + 1 > self.spec.max_rows + int(self.spec.header):
            self._count_records()
        return self.sniffed

    def _open_workbook(self, size: int) -> decoding.Sniffed:
        """A workbook is read whole (it is at most max_bytes) and its rows counted at
        once; its `encoding` is its format, xlsx or xls."""
        self._format = workbook_format(self.path)
        self.sheet = read_sheet(self.path, self.spec.sheet)
        self.sniffed = decoding.Sniffed(self.sheet.format, size, len(self.sheet.rows), True)
        if self._sheet_records().records() > self.spec.max_rows + int(self.spec.header):
            limit = self.spec.max_rows
            raise PermanentProblem("file.too_many_rows", rows=limit, limit=limit)
        return self.sniffed

    def _sheet_records(self) -> SheetRecords:
        assert self.sheet is not None and self.sniffed is not None
        return SheetRecords(self.sheet, self.spec.header, self.sniffed.size)

    def _count_records(self) -> None:
        limit = self.spec.max_rows + int(self.spec.header)
        count = 0
        for fields in self._records_raw():
            count += any(fields)
            if count > limit:
                raise PermanentProblem(
                    "file.too_many_rows", rows=self.spec.max_rows, limit=self.spec.max_rows
                )

    def _records_raw(self) -> Iterator[list[str]]:
        return self._read(lambda reader, f: reader)

    def chunks(self, extra: Sequence[object] = (), size: int = CHUNK_ROWS) -> Iterator[Chunk]:
        """Converted rows (each followed by `extra`) and row errors, `size` records a go."""
        return self._read(lambda reader, f: self._convert(reader, f, list(extra), size))

    def _read(self, body: Callable[[Any, Any], Iterator[T]]) -> Iterator[T]:
        """Run `body(reader, file)` over the file, turning decoding and CSV errors into
        the file problems they are, with their line."""
        assert self.sniffed is not None, "open() first"
        self._words_left = ERRORS_KEPT
        if self.sheet is not None:
            # A sheet's records stand in for the csv module's, and for the file.
            records = self._sheet_records()
            yield from body(records, records)
            return
        encoding = self.sniffed.encoding
        reader = None
        try:
            with self._text(encoding) as f:
                reader = csv.reader(f, strict=True)
                yield from body(reader, f)
        except UnicodeDecodeError:
            raise self._decode_problem(encoding) from None
        except csv.Error as exc:
            raise self._csv_problem(exc, reader) from None

    def _text(self, encoding: str, errors: str = "strict") -> io.TextIOWrapper:
        marks = self.sniffed is not None and self.sniffed.eof_marks
        if self.part is None and not marks:
            return open(self.path, encoding=encoding, errors=errors, newline="")
        start, end = (self.part.start, self.part.end) if self.part else (0, self.sniffed.size)
        raw = open(self.path, "rb", buffering=0)  # noqa: SIM115 - closed with the wrapper
        raw.seek(start)
        buffered = io.BufferedReader(_Slice(raw, end), 1 << 20)
        return io.TextIOWrapper(buffered, encoding=encoding, errors=errors, newline="")

    def header_order(self) -> list[int] | None:
        """Check the header row against the layout; the order of its columns."""
        if not self.spec.header:
            return None
        steps = self._read(lambda reader, f: iter([self._header_order(reader)]))
        try:
            return next(steps)
        finally:
            steps.close()

    def _convert(self, reader, f, extra: list[object], size: int) -> Iterator[Chunk]:  # noqa: ANN001
        # The hot loop of every import: a batch of records is taken from the csv module
        # at once, and one whose records are all plain (no empty record, the right
        # width, every cell converted) costs one call per record; any other batch is
        # read record by record (_Records._one_by_one), naming each error by its line.
        width = len(self._names)
        part = self.part
        empty = 0  # empty lines read past above the header count as those below
        if part is None:
            order = self._header_order(reader) if self.spec.header else None
            empty = self._lead
            width = self._width or width
            base, final = 0, True
            header = self.header_cells
        else:
            header = list(part.header) if part.header is not None else None
            order, base, final = part.order, part.first_line, part.final
            width = part.width or width
            self._blank = part.blank
            if self.spec.header and part.start == 0:
                # Checked by header_order() before the parts began.
                _, empty, _ = _first_record(reader)
        self.order = order
        if self.sheet is not None:
            reader.write_dates(self._date_writers(order))
        columns = self.spec.columns
        records = _Records(
            self,
            row_converter(columns, order, extra, width),
            order,
            width,
            base,
            # Records of one empty cell more (every line ending in a comma), read by a
            # converter that passes the cell by (made once, when first needed): one by
            # one they took three times as long.
            functools.cache(lambda: row_converter(columns, order, extra, width + 1)),
            header,
        )
        limit = self.spec.max_rows
        records.end = base + reader.line_num  # the physical line the previous record ended on
        count = 0
        end_byte = part.end if part else self.sniffed.size
        while True:
            batch, stops = self._batch(reader, size, base)
            chunk = records.read(batch, stops, base + reader.line_num)
            chunk.empty += empty
            empty = 0
            count += chunk.records
            if count > limit:
                raise PermanentProblem("file.too_many_rows", rows=limit, limit=limit)
            if len(batch) == size:
                chunk.bytes_read = f.buffer.tell()
                yield chunk
                continue
            # A short batch: the file's end.
            if final and 0 < len(records.last) < width and not self.sniffed.ends_with_newline:
                # The last record was cut short: named by the line it starts on.
                raise PermanentProblem("file.truncated", line=records.line)
            chunk.bytes_read = end_byte
            yield chunk
            return

    def _batch(self, reader, size: int, base: int) -> tuple[list[list[str]], list[int] | None]:  # noqa: ANN001
        """Up to `size` records, with the line each ends on when the reader must say it
        (a sheet's: its rows need not follow each other); a CSV file's are counted from
        their cells when needed (_line_stops)."""
        if self.sheet is None:
            return list(islice(reader, size)), None
        batch, stops = [], []
        for fields in islice(reader, size):
            batch.append(fields)
            stops.append(base + reader.line_num)
        return batch, stops

    def _header_order(self, reader) -> list[int] | None:  # noqa: ANN001
        # Empty lines above the header are read past, as those below it are: a file
        # may start with one, and a sheet's table lower down.
        header, self._lead, start = _first_record(reader)
        if header is None:
            raise PermanentProblem("file.empty")
        if self.spec.error_copy:
            header = unescaped(header)
        self.header_cells = header
        # A sheet's records are one row each, and its reader skips the rows above.
        line = reader.line_num if self.sheet is not None else start
        # A sheet's header may start with empty cells, and so may its error CSV's,
        # which keeps them, when it comes back corrected.
        leads = self.sheet is not None or self.spec.error_copy
        match = match_header(header, self.spec.columns, sheet=leads)
        problems = self._header_problems(match)
        if problems and len(header) == 1 and "\t" in header[0] and len(self.spec.columns) > 1:
            # Saved as "Text (Tab delimited)": the header is one cell of tabs, and its
            # columns were said to be missing, with the whole line as one unknown.
            raise PermanentProblem("file.tab_separated", line=line)
        if self.spec.other_columns or match.returned or match.blank_tail:
            self._width = len(header)
            self._blank = match.blank
        if problems:
            # Words, not sentences: the console says them in its viewer's language.
            detail = Sentences([self._at_line(line, problem) for problem in problems])
            raise PermanentProblem("header.invalid", line=line, detail=detail)
        order = match.order
        return None if order == list(range(len(order))) else order

    def _header_problems(self, match: HeaderMatch) -> list[Words]:
        """The header's problems in words, but the line. An empty cell among named
        ones is named by its position: as an unknown column it has no name to show."""
        other = self.spec.other_columns  # unknown columns, empty ones too, read past
        problems = []
        for key, cells in match.problems:
            if key == "header.unknown":
                cells = [] if other else [cell for cell in cells if cell]
                if not cells:
                    continue
            problems.append(Words(key, {"columns": ", ".join(cells)}))
        if match.gaps and not other:
            positions = ", ".join(self._position(i) for i in match.gaps)
            problems.append(Words("header.blank_cells", {"positions": positions}))
        return problems

    def _at_line(self, line: int, problem: str | Words) -> Words:
        """`problem` said of a line: `3行目: …` in a CSV, `売上!3: …` in a sheet."""
        if self.sheet is None:
            return Words("row.error", {"line": line, "problem": problem})
        return Words("row.error_at", {"at": self.sheet.row(line), "problem": problem})

    def _said(self, words: Words) -> str:
        return words.say(self.spec.language)

    def _gives_words(self) -> bool:
        """Whether the next error is among the first of this reading (ERRORS_KEPT),
        which are given their words."""
        if self._words_left <= 0:
            return False
        self._words_left -= 1
        return True

    def _date_writers(self, order: list[int] | None) -> dict[int, Callable[[Any], str]]:
        """For each field of a date or datetime column, how a date cell of the sheet
        is written for that column to read it (dates.date_cell_writer)."""
        writers = {}
        for index, column in enumerate(self.spec.columns):
            at = order[index] if order is not None else index
            if column.type in ("date", "datetime") and at >= 0:
                writers[at] = date_cell_writer(column.type, getattr(column, "format", None))
        return writers

    def _header_again(self, line: int, fields: list[str]) -> RowError:
        """The header row again among the records: no data, said as such."""
        said = self._at_line(line, Words("row.header_again"))
        kept = said if self._gives_words() else None
        return RowError(line, "", "", self._said(said), fields, kept)

    def _row_error(self, line: int, expected: int, fields: list[str]) -> RowError:
        """A record of the wrong width, or one with a value under an empty header cell."""
        value = ""
        if self.sheet is not None and len(fields) > expected:
            # A value typed beside the table: named by its cell, as a cell error is.
            index = next(i for i in range(expected, len(fields)) if fields[i])
            value = fields[index]
            problem = Words("row.beside_table", {"value": cut(value)})
            said = Words("row.error_at", {"at": self.sheet.cell(line, index), "problem": problem})
            kept = said if self._gives_words() else None
            return RowError(line, "", value, self._said(said), fields, kept)
        if len(fields) != expected:
            problem = Words("row.field_count", {"expected": expected, "actual": len(fields)})
        else:
            index = next(i for i in self._blank if fields[i])
            value = fields[index]
            position = self._position(index)
            problem = Words("row.unnamed_cell", {"position": position, "value": cut(value)})
        said = self._at_line(line, problem)
        kept = said if self._gives_words() else None
        return RowError(line, "", value, self._said(said), fields, kept)

    def _position(self, index: int) -> str:
        """A field's column as the partner counts it: 5 in a CSV, E in a sheet."""
        if self.sheet is None:
            return str(index + 1)
        return column_letter(self.sheet.first_column + index)

    def _cell_errors(self, line: int, fields: list[str], order: list[int] | None) -> list[RowError]:
        cells = [fields[i] for i in order] if order is not None else fields
        errors = []
        lang = self.spec.language
        for index, (name, convert, cell) in enumerate(
            zip(self._names, self._converters, cells, strict=False)
        ):
            try:
                convert(cell)
            except CellError as exc:
                shown = cut(cell)
                problem_key = exc.key
                if isinstance(shown, Words) and exc.key == "cell.max_length":
                    problem_key = "cell.max_length_cut"  # the value cut says its length
                problem = message(problem_key, lang, value=shown, **exc.params)
                if self.sheet is None:
                    key, where = "cell.error", {"line": line}
                else:  # the cell by its place in the sheet: 売上!D14
                    at = self.sheet.cell(line, order[index] if order is not None else index)
                    key, where = "cell.error_at", {"at": at}
                text = message(key, lang, column=name, value=shown, problem=problem, **where)
                said = None
                if self._gives_words():  # made only for the errors a run may keep
                    inner = Words(problem_key, {"value": shown, **exc.params})
                    said = Words(key, {"column": name, "value": shown, "problem": inner, **where})
                errors.append(RowError(line, name, cell, text, fields, said))
        return errors

    def _csv_problem(self, exc: csv.Error, reader) -> PermanentProblem:  # noqa: ANN001
        """A CSV error, named by the line its record starts on: the csv module's line
        is the last one it read, lines past the start of a record of several lines."""
        line = reader.line_num if reader is not None else 0
        if self.part is not None:
            line += self.part.first_line
        assert self.sniffed is not None
        start, again = self._record_start(self.sniffed.encoding)
        if again is None or start is None:  # not met again: keep the csv module's line
            start = line
        if _TRUNCATED_CSV not in str(exc):
            return _bad_csv(exc, start, line)
        # The file ended inside a quoted cell.
        if self.sniffed.ends_with_newline:
            # A file that ends as files end: its writer finished it, and one quote
            # was never closed (the cell took every line after it).
            return PermanentProblem("file.unclosed_quote", line=start)
        return PermanentProblem("file.truncated", line=start)

    def _decode_problem(self, encoding: str) -> PermanentProblem:
        problem = decoding.decode_problem(self.path, encoding)
        if problem.key == "file.truncated":
            # Cut inside a character at the end: the record that is cut may have
            # started lines before (a cell of several lines).
            start, again = self._record_start(encoding, errors="replace")
            if start is not None and (again is None or _TRUNCATED_CSV in str(again)):
                return PermanentProblem("file.truncated", line=start)
        return problem

    def _record_start(
        self, encoding: str, errors: str = "strict"
    ) -> tuple[int | None, csv.Error | None]:
        """Read the file (or part) again: the physical line the record that meets a
        CSV error starts on, and that error; with none, the last record's line. Only
        on the way to a file problem, so the hot loop keeps no account of it."""
        base = self.part.first_line if self.part is not None else 0
        start = None
        with self._text(encoding, errors) as f:
            reader = csv.reader(f, strict=True)
            while True:
                before = reader.line_num
                try:
                    fields = next(reader)
                except StopIteration:
                    return start, None
                except csv.Error as exc:
                    return base + before + 1, exc
                if any(fields):
                    start = base + before + 1


def _first_record(reader) -> tuple[list[str] | None, int, int]:  # noqa: ANN001
    """The first record that holds anything (None: there is none), how many empty
    ones were read past above it, and the physical line it starts on."""
    blanks = 0
    while True:
        start = reader.line_num + 1
        fields = next(reader, None)
        if fields is None or any(fields):
            return fields, blanks, start
        blanks += 1


def _bad_csv(exc: csv.Error, start: int, line: int) -> PermanentProblem:
    """A csv module error met on `line` in a record starting on `start`, in the
    catalog's words; one it has none for is said without the module's English."""
    kind = next((kind for words, kind in _CSV_ERRORS.items() if words in str(exc)), "")
    params = {"limit": csv.field_size_limit()} if kind == "long_cell" else {}
    if start < line:
        key = f"file.bad_csv_record.{kind}" if kind else "file.bad_csv_record"
        return PermanentProblem(key, line=start, at=line, **params)
    key = f"file.bad_csv.{kind}" if kind else "file.bad_csv"
    return PermanentProblem(key, line=line, **params)


class _Slice(io.RawIOBase):
    """The bytes of an open file up to `end`: a part read as if it were the file."""

    def __init__(self, raw: io.FileIO, end: int) -> None:
        self._raw = raw
        self._left = end - raw.tell()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        size = min(len(buffer), self._left)
        if size <= 0:
            return 0
        got = self._raw.readinto(memoryview(buffer)[:size])
        self._left -= got
        return got

    def tell(self) -> int:
        return self._raw.tell()

    def close(self) -> None:
        self._raw.close()
        super().close()


def _line_breaks(cell: str) -> int:
    """The line breaks inside a (quoted) cell, each ending a physical line as the csv
    module counts them: CRLF, LF or CR."""
    return cell.count("\n") + cell.count("\r") - cell.count("\r\n")


def _line_stops(end: int, batch: list[list[str]]) -> list[int]:
    """The line each record of `batch` ends on, the one before it having ended on `end`."""
    stops = []
    for fields in batch:
        end += 1 + sum(map(_line_breaks, fields))
        stops.append(end)
    return stops


class _Records:
    """Turns a file's batches of records into chunks, remembering the line the last
    record ended on (`end`), the last record read (`last`) and the line it began on."""

    def __init__(
        self,
        csv_file: CsvFile,
        convert: Callable[[list[str]], list[object]],
        order: list[int] | None,
        width: int,
        base: int,
        wider: Callable[[], Callable[[list[str]], list[object]]] | None = None,
        header: list[str] | None = None,
    ) -> None:
        self.file = csv_file
        self.convert = convert
        # The header row again among the records (pages of one export pasted together)
        # is told apart where it would be taken as data: where every cell of it converts
        # (a layout of text columns); elsewhere its cells are errors of their own.
        self.again = header if header is not None and _converts(convert, header, width) else None
        self._wider = wider
        self.order = order
        self.width = width
        self.blank = csv_file._blank
        # The fewest fields a record may have: those under the empty cells the header
        # ends in may be missing, as a sheet saved past its table has them only there.
        self.least = width
        while self.least and self.least - 1 in self.blank:
            self.least -= 1
        self.unescape = csv_file.spec.error_copy
        # A corrected error CSV of a file without a header row: the two columns the
        # error CSV added come right after the record's own cells (error_report.py),
        # with no heading to name them, and are read past as a header's would be.
        self.returned_at = width if self.unescape and not csv_file.spec.header else None
        self.end = base
        self.last: list[str] = []
        self.line = base + 1

    def read(self, batch: list[list[str]], stops: list[int] | None, after: int) -> Chunk:
        """`batch`'s chunk; `stops` the line each record ends on, or None to count them
        from the cells; `after` the line the batch ends on."""
        if not batch:
            return Chunk()
        plain = not self.unescape and not self.blank and all(map(any, batch))
        if plain and self.again is not None and self.again in batch:
            plain = False
        convert = self._plain_converter(batch) if plain else None
        if convert is not None:
            try:
                rows = list(map(convert, batch))
            except CellError:
                pass  # read again record by record, each error with its line
            else:
                lines = _Starts(self.end, batch, stops, after)
                self.end, self.last = after, batch[-1]
                cells = batch if convert is self.convert else _Narrowed(batch, self.width)
                return Chunk(rows, [], len(batch), 0, lines, 0, cells)
        return self._one_by_one(batch, stops or _line_stops(self.end, batch), after)

    def _plain_converter(
        self, batch: list[list[str]]
    ) -> Callable[[list[str]], list[object]] | None:
        """The converter of a batch of records all as wide as the header, or all one
        empty cell wider; None for any other."""
        widths = set(map(len, batch))
        if widths == {self.width}:
            return self.convert
        if widths == {self.width + 1} and self._wider and not any(f[-1] for f in batch):
            return self._wider()
        return None

    def _one_by_one(self, batch: list[list[str]], stops: list[int], after: int) -> Chunk:
        chunk = Chunk()
        blank, width, file = self.blank, self.width, self.file
        for fields, stop in zip(batch, stops, strict=True):
            if not any(fields):
                # A blank line, or one of empty cells (`,,,` as Excel leaves below a
                # table): no record, wherever it is; counted, not an error.
                self.end = stop
                chunk.empty += 1
                continue
            line = self.end + 1
            if fields == self.again:
                chunk.errors.append(file._header_again(line, fields))
                self.end, self.last, self.line = stop, fields, line
                chunk.records += 1
                continue
            if self.unescape:
                fields = unescaped(fields)
            at = self.returned_at
            if at is not None and len(fields) >= at + 2:
                fields = fields[:at] + fields[at + 2 :]
            if len(fields) != width:
                fields = self._fitted(fields)
            # A cell under an empty header cell is no column's: a record that fills
            # one is refused, not imported without it.
            if len(fields) == width and not (blank and any(fields[i] for i in blank)):
                try:
                    chunk.rows.append(self.convert(fields))
                    chunk.lines.append(line)
                    chunk.cells.append(fields)
                except CellError:
                    chunk.errors.extend(file._cell_errors(line, fields, self.order))
            else:
                chunk.errors.append(file._row_error(line, width, fields))
            self.end, self.last, self.line = stop, fields, line
            chunk.records += 1
        self.end = after
        return chunk

    def _fitted(self, fields: list[str]) -> list[str]:
        """`fields` as wide as the header when what they have more or less is empty
        cells: some systems end every line with a comma (one empty cell more than the
        header), and under a header that ends in empty cells (`備考,,`) a record may end
        before them. Any other width is the record's error."""
        width = self.width
        if len(fields) > width and not any(fields[width:]):
            return fields[:width]
        if self.least <= len(fields) < width:
            return fields + [""] * (width - len(fields))
        return fields


def _converts(convert: Callable[[list[str]], list[object]], header: list[str], width: int) -> bool:
    """Whether the header row, read as a record, converts without an error."""
    if len(header) != width:
        return False
    try:
        convert(list(header))
    except CellError:
        return False
    return True


class _Narrowed(Sequence[list[str]]):
    """A batch's records without the empty cell each has past the header, cut when
    asked: only a reference check that refuses a row asks."""

    def __init__(self, batch: list[list[str]], width: int) -> None:
        self._batch, self._width = batch, width

    def __getitem__(self, index):  # noqa: ANN001, ANN204 - Sequence's own signature
        if isinstance(index, slice):
            return [fields[: self._width] for fields in self._batch[index]]
        return self._batch[index][: self._width]

    def __len__(self) -> int:
        return len(self._batch)


class _Starts(Sequence[int]):
    """The line each record of a plain batch starts on, worked out when first asked:
    only a reference check that refuses a row asks."""

    def __init__(self, end: int, batch: list[list[str]], stops: list[int] | None, after: int):
        self._lines: Sequence[int] | None = None
        if stops is None and after - end == len(batch):
            self._lines = range(end + 1, after + 1)  # one line each
        self._end, self._batch, self._stops = end, batch, stops

    def _all(self) -> Sequence[int]:
        if self._lines is None:
            stops = self._stops or _line_stops(self._end, self._batch)
            self._lines = [self._end + 1, *(stop + 1 for stop in stops[:-1])]
        return self._lines

    def __getitem__(self, index):  # noqa: ANN001, ANN204 - Sequence's own signature
        return self._all()[index]

    def __len__(self) -> int:
        return len(self._batch)
