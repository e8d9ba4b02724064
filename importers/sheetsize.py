"""How large a sheet of an .xlsx is, from its XML, before anything loads it.

calamine holds a sheet as one rectangle from A1 to its last cell with a value, every
cell of it in memory: a table of four columns with one stray space left in XFD2000
(the last column) is 33 million cells, 1.9 GB and 24 s before pandas sees a row, from
a workbook of 5 KB. So the reader asks here first, streaming the sheet's XML (at most
workbook.MAX_EXPANDED bytes) for the last row and column of a cell that holds
something; an empty cell that only carries a format (`<c r="XFD2000" s="1"/>`, a
sheet formatted down to its last row) is not one, as calamine does not count it.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from pathlib import Path
from xml.etree import ElementTree

_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_RELS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_REL_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
# A cell that is not self-closing, with its reference: it holds a value, a formula or
# an inline string. Attributes never hold `>` unescaped.
_CELL = re.compile(rb'<c\b[^>]*?\br="([A-Z]{1,3})([0-9]{1,7})"[^>]*?(?<!/)>')
_CHUNK = 1 << 20
_OVERLAP = 64  # longer than any cell's start tag up to its reference


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
    except (zipfile.BadZipFile, KeyError, OSError, ElementTree.ParseError, EOFError):
        return None


def _sheet_member(archive: zipfile.ZipFile, sheet: str) -> str | None:
    """The zip member holding `sheet`'s XML, by workbook.xml and its relationships."""
    book = ElementTree.fromstring(archive.read("xl/workbook.xml"))
    ids = [s.get(_REL_ID) for s in book.iter(f"{_MAIN}sheet") if s.get("name") == sheet]
    if not ids:
        return None
    rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    target = next(
        (r.get("Target") for r in rels.iter(f"{_RELS}Relationship") if r.get("Id") == ids[0]), None
    )
    if not target:
        return None
    return target.lstrip("/") if target.startswith("/") else posixpath.normpath(f"xl/{target}")


def _last_cell(xml: object) -> tuple[int, int]:
    rows = columns = 0
    tail = b""
    while chunk := xml.read(_CHUNK):  # type: ignore[attr-defined]
        data = tail + chunk
        for letters, row in _CELL.findall(data):
            rows = max(rows, int(row))
            columns = max(columns, _column_number(letters))
        tail = data[-_OVERLAP:]
    return rows, columns


def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + letter - 64
    return number
