"""The reader takes records from the csv module a batch at a time: a batch of plain
records is converted in one go and its lines counted from the cells, any other is read
record by record. Whatever the batch size, every row and every error must name the
physical line its record starts on, as the csv module counts lines."""

from __future__ import annotations

import csv
import io
import random
from pathlib import Path

import pytest

from importers.layouts import ColumnSpec
from importers.reader import CsvFile, ImportSpec

COLUMNS = [ColumnSpec("member_no", "int", required=True), ColumnSpec("note", "text")]
BREAKS = ["\n", "\r\n", "\r", "\n\n", "\r\r\n"]


def records(seed: int, count: int) -> list[str]:
    """Lines of a file: plain records, records of several lines, blank lines and lines
    of empty cells, a bad number, a record of the wrong width."""
    rnd = random.Random(seed)
    lines = []
    for i in range(count):
        kind = rnd.random()
        if kind < 0.15:
            lines.append(f'{i},"a{rnd.choice(BREAKS)}b{rnd.choice(BREAKS)}c"')
        elif kind < 0.2:
            lines.append(rnd.choice(["", ","]))
        elif kind < 0.23:
            lines.append(f"x{i},bad number")
        elif kind < 0.25:
            lines.append(f'{i},"two{rnd.choice(BREAKS)}lines",too wide')
        else:
            lines.append(f"{i},plain {i}")
    return lines


def expected(text: str) -> tuple[list[tuple[int, list[object]]], list[tuple[int, str]], int]:
    """Rows with their lines, errors (line, column), empty lines: counted by csv itself."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    next(reader)
    rows, errors, empty = [], [], 0
    before = reader.line_num
    for fields in reader:
        line, before = before + 1, reader.line_num
        if not any(fields):
            empty += 1
        elif len(fields) != 2:
            errors.append((line, ""))
        elif not fields[0].isdigit():
            errors.append((line, "member_no"))
        else:
            rows.append((line, [int(fields[0]), fields[1]]))
    return rows, errors, empty


@pytest.mark.parametrize("size", [1, 3, 7, 50, 20000])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_row_and_error_names_the_line_its_record_starts_on(tmp_path: Path, size, seed):
    text = "\r\n".join(["member_no,note", *records(seed, 300)]) + "\r\n"
    path = tmp_path / "20240516.csv"
    path.write_bytes(text.encode("utf-8"))
    csv_file = CsvFile(path, ImportSpec(COLUMNS, max_rows=1000))
    csv_file.open()
    rows, errors, empty = [], [], 0
    for chunk in csv_file.chunks(size=size):
        rows += list(zip(chunk.lines, chunk.rows, strict=True))
        errors += [(e.line, e.column) for e in chunk.errors]
        empty += chunk.empty
    assert (rows, errors, empty) == expected(text)
    # A file of this mix holds each kind: the test reads every path of the reader.
    assert len(errors) > 5 and empty > 5 and any(line > 400 for line, _ in rows)


def test_a_batch_of_plain_records_of_several_lines_names_each_line(tmp_path: Path):
    lines = ["member_no,note", *(f'{i},"one\r\ntwo"' if i % 2 else f"{i},x" for i in range(9))]
    path = tmp_path / "20240516.csv"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8"))
    csv_file = CsvFile(path, ImportSpec(COLUMNS))
    csv_file.open()
    [chunk] = list(csv_file.chunks())
    assert not chunk.errors
    assert list(chunk.lines) == [2, 3, 5, 6, 8, 9, 11, 12, 14]
    assert chunk.lines[-1] == 14 and len(chunk.lines) == 9
