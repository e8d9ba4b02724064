"""Cells a spreadsheet would run as formulas: which they are, and the cells of a
corrected error CSV sent back without the `'` its escape put before them.

The error CSV (daemon/worker/error_report.py) writes each formula-like cell after a
`'`, so that opening it runs nothing; the reader takes that `'` off again when the
partner sends the corrected copy back (ImportSpec.error_copy).
"""

from __future__ import annotations

import re

# What a spreadsheet runs as a formula when a cell starts with it.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# A signed number, as a partner's amount column holds it (-5, +1,200, -0.5).
_PLAIN_NUMBER = re.compile(r"[+-](?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|[+-]\.\d+", re.ASCII)


def formula_like(value: str) -> bool:
    """A cell a spreadsheet would run as a formula, once any `'` before it is gone
    (`=SUM(A1)`, `@x`, `'=x`); not a signed plain number (`-5`, `+1,200`), which it
    reads as the number it is. error_report.escape_cell puts a `'` before each."""
    bare = value.lstrip("'")
    return bare.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(bare)


def unescaped(fields: list[str]) -> list[str]:
    """The cells of a corrected error CSV as the partner's file had them: without the
    one `'` error_report.escape_cell put before each formula-like cell."""
    return [c[1:] if c[:1] == "'" and formula_like(c[1:]) else c for c in fields]
