"""How large a sheet of an .xlsx is, from its XML, before anything loads it.

calamine holds a sheet as one rectangle from A1 to its last cell with a value, every
cell of it in memory: a table of four columns with one stray space left in XFD2000
(the last column) is 33 million cells, 1.9 GB and 24 s before pandas sees a row, from
a workbook of 5 KB. So the reader asks here first, streaming the sheet's XML (at most
workbook.MAX_EXPANDED bytes) through expat for the last row and column of a cell that
holds something: a value, an inline string or a formula. A cell that only carries a
format (`<c r="XFD2000" s="1"/>`, a sheet formatted down to its last row) is not one,
as calamine does not count it; a cell or row without its `r` (optional in the
format) is where the one before it ends, and any namespace prefix is read past.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from pathlib import Path
from typing import IO
from xml.etree import ElementTree
from xml.parsers import expat

_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_RELS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_REL_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
_REF = re.compile(r"([A-Za-z]{1,3})([0-9]{1,7})")
_CONTENT = frozenset({"v", "is", "f"})  # what a cell that holds something has in it
_CHUNK = 1 << 20
_OVERLAP = 256  # longer than a cell's start tag and the end of an empty one
_CUT = 8  # past `<x:c r=`: a match ending closer to a chunk's end may be a cut tag
_PREFIX = rb"(?:[A-Za-z_][\w.-]*:)?"  # a namespace prefix some writers give every tag
# A cell whose first attribute is its reference (as Excel and openpyxl write it), what
# ends its start tag (`/` when self-closing) and whether it is closed at once: either
# means the cell only carries a format. A cell written otherwise is expat's (_walked).
_CELL = re.compile(rb"<" + _PREFIX + rb'c r="([A-Z]{1,3})([0-9]{1,7})"([^>]*)>(\s*</)?')
_OTHER = re.compile(rb"<" + _PREFIX + rb'c(?! r="[A-Z])(?:>|/|\s)')


def used_size(path: Path, sheet: str) -> tuple[int, int] | None:
    """(rows, columns) from A1 to the last cell of `sheet` that holds something, or
    None when the workbook does not say where that sheet is (calamine then says why)."""
    try:
        with zipfile.ZipFile(path) as archive:
            member = _sheet_member(archive, sheet)
            if member is None:
                return None
            with archive.open(member) as xml:
                return _last_cell(xml)
    except (zipfile.BadZipFile, KeyError, OSError, ElementTree.ParseError, expat.ExpatError):
        return None


def _sheet_member(archive: zipfile.ZipFile, sheet: str) -> str | None:
    """The zip member holding `sheet`'s XML, by workbook.xml and its relationships."""
    book = ElementTree.fromstring(archive.read("xl/workbook.xml"))
    ids = [s.get(_REL_ID) for s in book.iter(f"{_MAIN}sheet") if s.get("name") == sheet]
    if not ids:
        return None
    rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    targets = (r.get("Target") for r in rels.iter(f"{_RELS}Relationship") if r.get("Id") == ids[0])
    target = next(targets, None)
    if not target:
        return None
    return target.lstrip("/") if target.startswith("/") else posixpath.normpath(f"xl/{target}")


class _Walk:
    """Where each cell is, as expat reports the sheet's elements."""

    def __init__(self) -> None:
        self.row = self.column = 0  # the current row, and the last cell's column in it
        self.cell: tuple[int, int] | None = None  # the open cell's place
        self.filled = False  # whether the open cell holds something
        self.rows = self.columns = 0

    def start(self, name: str, attrs: dict[str, str]) -> None:
        local = name.rpartition(" ")[2]  # "namespace c" with namespace_separator " "
        if local == "row":
            self.row = int(attrs["r"]) if attrs.get("r", "").isdigit() else self.row + 1
            self.column = 0
        elif local == "c":
            found = _REF.fullmatch(attrs.get("r", ""))
            if found:
                self.row = int(found.group(2))
                self.column = _column_number(found.group(1))
            else:
                self.column += 1
            self.cell, self.filled = (self.row, self.column), False
        elif local in _CONTENT and self.cell is not None:
            self.filled = True

    def end(self, name: str) -> None:
        if name.rpartition(" ")[2] == "c" and self.cell is not None:
            if self.filled:
                self.rows = max(self.rows, self.cell[0])
                self.columns = max(self.columns, self.cell[1])
            self.cell = None


def _last_cell(xml: IO[bytes]) -> tuple[int, int]:
    """By the cells' references, read by a pattern (expat is five times slower: 1.6 s
    for a sheet of 100,000 rows); by expat when a cell has none."""
    rows = columns = 0
    tail = b""
    while chunk := xml.read(_CHUNK):
        data = tail + chunk
        # A tag cut by the chunk's end is looked at again whole, with the next one.
        if any(m.end() + _CUT < len(data) for m in _OTHER.finditer(data)):
            xml.seek(0)
            return _walked(xml)
        filled = [c for c in _CELL.findall(data) if not c[3] and not c[2].endswith(b"/")]
        if filled:
            # A few letters, many rows: each distinct column's number is worked out once.
            rows = max(rows, *map(int, [c[1] for c in filled]))
            letters = {c[0] for c in filled}
            columns = max(columns, *(_column_number(x.decode()) for x in letters))
        tail = data[-_OVERLAP:]
    if _OTHER.search(tail + b" "):
        xml.seek(0)
        return _walked(xml)
    return rows, columns


def _walked(xml: IO[bytes]) -> tuple[int, int]:
    walk = _Walk()
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.StartElementHandler = walk.start
    parser.EndElementHandler = walk.end
    while chunk := xml.read(_CHUNK):
        parser.Parse(chunk, False)
    parser.Parse(b"", True)
    return walk.rows, walk.columns


def _column_number(letters: str) -> int:
    number = 0
    for letter in letters.upper():
        number = number * 26 + ord(letter) - 64
    return number
