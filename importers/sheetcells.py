"""A workbook cell's value as the text Excel shows it (General format): what
importers/workbook.py hands the reader for each cell, and a column's letter. A date
cell's text is a `DateCell`, which keeps its value for the date and datetime columns."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

_DIGITS = 15  # Excel keeps and shows 15 significant digits
_EXACT = 10**_DIGITS


class DateCell(str):
    """A date cell's text as Excel shows it (General), with the value it holds: a
    date or datetime column reads the value, a text column the text."""

    value: dt.datetime

    def __new__(cls, text: str, value: dt.datetime) -> DateCell:
        cell = super().__new__(cls, text)
        cell.value = value
        return cell

    def __reduce__(self) -> tuple:
        return (DateCell, (str(self), self.value))


def row_texts(row: list[object]) -> list[str]:
    # By the value's exact type first: a sheet of 100,000 rows reads in about half the
    # time of the isinstance() chain.
    return [
        value if type(value) is str else _BY_TYPE.get(type(value), cell_text)(value)
        for value in row
    ]


def cell_text(value: object) -> str:
    """A cell's value as Excel shows it (General format), for the column types to read."""
    if value is None or type(value).__name__ == "NaTType":  # pandas' missing time
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return _bool(value)
    if isinstance(value, int):
        return _int(value)
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, dt.datetime):
        return _datetime(value)
    if isinstance(value, dt.date):
        return _datetime(dt.datetime.combine(value, dt.time()))
    if isinstance(value, dt.time):
        return value.replace(microsecond=0).isoformat()
    if isinstance(value, dt.timedelta):
        return _duration(value)
    return str(value)


def _bool(value: bool) -> str:
    return "TRUE" if value else "FALSE"


def _int(value: int) -> str:
    """12, as pandas made of Excel's 12.0. Past 15 digits Excel never held more, and
    shows its own rounding: 12345678901234567890 is 12345678901234600000."""
    if -_EXACT < value < _EXACT:
        return str(value)
    return _fifteen(value)


def _float(value: float) -> str:
    """0.1 and not 0.1000000000000000055; 0.3 for 0.1 + 0.2, as Excel shows 15 digits."""
    if math.isnan(value):
        return ""
    if math.isinf(value):
        return str(value)
    if value.is_integer():
        return _int(int(value))
    return _fifteen(value)


def _fifteen(value: int | float) -> str:
    text = format(Decimal(f"{value:.{_DIGITS}g}"), "f")  # without an exponent
    return "0" if text == "-0" else text


def _datetime(value: dt.datetime) -> DateCell:
    value = value.replace(tzinfo=None)
    if value.microsecond:
        # calamine turns Excel's day fractions into microseconds that may fall a hair
        # short of the second Excel shows. Never into the next day: 23:59:59.6 (a
        # pasted NOW()) is still its own day's date.
        rounded = (value + dt.timedelta(microseconds=500_000)).replace(microsecond=0)
        value = rounded if rounded.date() == value.date() else value.replace(microsecond=0)
    if not (value.hour or value.minute or value.second):
        return DateCell(value.date().isoformat(), value)
    return DateCell(value.isoformat(sep=" "), value)


def _duration(value: dt.timedelta) -> str:
    """`[h]:mm:ss`, as Excel shows a duration."""
    seconds = round(value.total_seconds())
    sign = "-" if seconds < 0 else ""
    hours, rest = divmod(abs(seconds), 3600)
    return f"{sign}{hours}:{rest // 60:02d}:{rest % 60:02d}"


_BY_TYPE = {bool: _bool, int: _int, float: _float, dt.datetime: _datetime}


def column_letter(index: int) -> str:
    """0 → A, 25 → Z, 26 → AA: a column's name in the sheet."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters
