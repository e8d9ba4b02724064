"""A header row against a layout: which cell names which column, and every way the
two differ, for the reader to say.

A cell names a column by its name, label or alias (layouts.header_key); an error CSV
sent back ends with the two columns it added, and a sheet saved by Excel may end in
empty cells: both are read past.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from importers.layouts import ColumnLike, display_name, header_key, header_names

# The two columns an error CSV adds after the partner's own (error_report.py).
RETURNED_COLUMNS = frozenset({"行番号", "エラー内容", "line", "error"})


@dataclass(frozen=True, slots=True)
class HeaderMatch:
    """How a header row lines up with a layout's columns."""

    order: list[int]  # for each column, the index of its header cell (-1: missing)
    problems: list[tuple[str, list[str]]]  # every way it differs, the gravest first
    returned: bool  # it ends with 行番号/エラー内容, as an error CSV sent back does
    # The positions of the empty cells it ends in (`備考,,`), as Excel saves a sheet
    # whose used range runs past the table: columns of nothing, read past like the
    # returned ones while the cells under them are empty. Also those before 行番号 and
    # エラー内容, as the error CSV of such a file comes back (`備考,,行番号,エラー内容`),
    # and in a sheet those it starts with: a note typed in column A below a table that
    # starts in B (`※金額は税込`) makes A a column of the sheet, empty in its header.
    blank: tuple[int, ...] = ()
    # The positions of its empty cells between named ones (`会員番号,日付,,売上金額`).
    gaps: tuple[int, ...] = ()

    @property
    def blank_tail(self) -> bool:
        return bool(self.blank)


def match_header(
    header: Sequence[str], columns: Sequence[ColumnLike], sheet: bool = False
) -> HeaderMatch:
    """Match header cells to columns by name, label or alias (see layouts.header_key).
    A `sheet`'s header may start with empty cells (a note in column A below a table
    that starts in B), and so may its error CSV's; another CSV's that does is refused
    as a whole, as a pandas index column written with no name has a value under it in
    every row."""
    wanted: dict[str, int] = {}
    for index, column in enumerate(columns):
        for key in header_names(column):
            wanted.setdefault(key, index)
    found: dict[int, list[int]] = {}
    unknown: list[str] = []
    gaps: list[int] = []
    named = _named_width(header, wanted)
    tail = header[named:]
    returned = any(cell.strip() for cell in tail)
    lead = next((i for i, cell in enumerate(header[:named]) if header_key(cell)), 0) if sheet else 0
    for position, cell in enumerate(header[lead:named], lead):
        key = header_key(cell)
        if key in wanted:
            found.setdefault(wanted[key], []).append(position)
        else:
            # 行番号 or エラー内容 here is no returned column (those come last): a
            # column of the partner's own that the layout does not have.
            unknown.append(cell.strip())
            if not key:
                gaps.append(position)
    names = [display_name(column) for column in columns]
    problems = []
    duplicates = [names[i] for i, at in sorted(found.items()) if len(at) > 1]
    if duplicates:
        problems.append(("header.duplicate", duplicates))
    missing = [names[i] for i in range(len(columns)) if i not in found]
    if missing:
        problems.append(("header.missing", missing))
    if unknown:
        problems.append(("header.unknown", unknown))
    order = [found[i][0] if i in found else -1 for i in range(len(columns))]
    blank = (*range(lead), *(named + i for i, cell in enumerate(tail) if not cell.strip()))
    return HeaderMatch(order, problems, returned, blank, tuple(gaps))


def _named_width(header: Sequence[str], wanted: dict[str, int]) -> int:
    """The header's cells up to its last that is neither empty nor one of the error
    CSV's returned columns (unless the layout has a column of that name)."""
    named = len(header)
    while named:
        key = header_key(header[named - 1])
        if key and (key not in RETURNED_COLUMNS or key in wanted):
            break
        named -= 1
    return named
