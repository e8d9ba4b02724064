"""Dates as Japanese spreadsheets write them: turns a date or datetime cell into ISO text.

Taken by default: `2024-05-16`, `2024/5/6`, `20240516` and `2024年5月16日` (full-width
digits too); with `wareki`, era dates (`令和6年5月16日`, `令和元年5月1日`, `R6.5.16`,
`H31/4/30`); with `format`, one house format only (`YYYYMMDD`, `YYYY年M月D日`, …).
A cell in a date's shape whose date does not exist (`2024/02/30`, `R1.4.30`, before
Reiwa began) gets its own error. Called by the column converters in layouts.py; the
reader asks `date_cell_writer` how a workbook's date cell is written for a column.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable

from importers.errors import CellError, Explained

# Era, its first day and (but for the current one) its last day.
ERAS: dict[str, tuple[dt.date, dt.date | None]] = {
    "令和": (dt.date(2019, 5, 1), None),
    "平成": (dt.date(1989, 1, 8), dt.date(2019, 4, 30)),
    "昭和": (dt.date(1926, 12, 25), dt.date(1989, 1, 7)),
    "大正": (dt.date(1912, 7, 30), dt.date(1926, 12, 24)),
    "明治": (dt.date(1868, 1, 25), dt.date(1912, 7, 29)),
}
_ERA_LETTERS = {"R": "令和", "H": "平成", "S": "昭和", "T": "大正", "M": "明治"}

# ASCII digits only (full-width ones are made ASCII first): int() would also read
# other scripts' digits (Arabic-Indic ٣), which no Japanese partner means as a date.
_DATE = re.compile(
    r"(\d{4})(?:([/.-])(\d{1,2})\2(\d{1,2})|(\d{2})(\d{2})|年(\d{1,2})月(\d{1,2})日)", re.ASCII
)
# A date with the midnight Excel and Access write after a date cell's day (`2024/05/16
# 0:00`): the date it is. Any other time in a date column is refused, not dropped.
_AT_MIDNIGHT = re.compile(r"(.+?)[ T]0?0:00(?::00)?", re.ASCII)
_TIME = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?", re.ASCII)
# The shape most files write a date and time in, ASCII as it stands: read at once,
# where the general path normalizes the text and matches the date twice.
_PLAIN_DATETIME = re.compile(
    r"(\d{4})([/-])(\d{1,2})\2(\d{1,2})[ T](\d{1,2}):(\d{2})(?::(\d{2}))?", re.ASCII
)
# What plain_datetimes() remembers at most: dates of a decade, every second of a day.
_DATES_KEPT = 4096
_TIMES_KEPT = 86400
_ERA_DATE = re.compile(
    r"(令和|平成|昭和|大正|明治|[RHSTM])\s*(元|\d{1,2})"
    r"(?:年(\d{1,2})月(\d{1,2})日|([./-])(\d{1,2})\5(\d{1,2}))",
    re.IGNORECASE | re.ASCII,
)
# Tokens of a house format, longest first, and the pattern each stands for.
_TOKENS = {
    "YYYY": r"(?P<year>\d{4})",
    "MM": r"(?P<month>\d{2})",
    "DD": r"(?P<day>\d{2})",
    "HH": r"(?P<hour>\d{2})",
    "mm": r"(?P<minute>\d{2})",
    "ss": r"(?P<second>\d{2})",
    "M": r"(?P<month>\d{1,2})",
    "D": r"(?P<day>\d{1,2})",
    "H": r"(?P<hour>\d{1,2})",
}
_TOKEN = re.compile("|".join(_TOKENS))
# How date_cell_writer writes a workbook's date and time that a house format cannot.
_SHEET_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")

Parse = Callable[[str], object]


def normal(cell: str) -> str:
    """Full-width digits and punctuation as ASCII, outer blanks dropped. A circled or
    superscript digit (①, ¹), which NFKC makes a digit too, is left as it is, and so
    no date: `5/1①` (a day's first batch) was read as the 11th."""
    if not cell.isascii() and any(unicodedata.category(ch) == "No" for ch in cell):
        return cell.strip()
    return unicodedata.normalize("NFKC", cell).strip()


def parse_date(cell: str, wareki: bool = False) -> dt.date:
    """The date `cell` names, or CellError (`cell.date`, or `cell.date_unreal`)."""
    text = normal(cell)
    match = _DATE.fullmatch(text)
    if match is None and (midnight := _AT_MIDNIGHT.fullmatch(text)):
        match = _DATE.fullmatch(midnight.group(1))
    if match:
        year, _, m1, d1, m2, d2, m3, d3 = match.groups()
        return _real(cell, int(year), int(m1 or m2 or m3), int(d1 or d2 or d3))
    if wareki:
        # As a Western date: a midnight after it (Excel, Access), spaces inside it
        # (`令和 6年 5月16日`, as a form lines the numbers up).
        if midnight := _AT_MIDNIGHT.fullmatch(text):
            text = midnight.group(1)
        if era := _ERA_DATE.fullmatch(re.sub(r"\s+", "", text)):
            return _era_date(cell, era)
    raise CellError("cell.date_wareki" if wareki else "cell.date")


def parse_datetime(cell: str) -> dt.datetime:
    """A date and a time (`2024/5/16 9:30`, seconds optional), or CellError."""
    return quick_datetime(cell) or general_datetime(cell)


def quick_datetime(cell: str) -> dt.datetime | None:
    """`cell` read at once when it is in the plain shape (_PLAIN_DATETIME); None for
    any other cell, and for one that names no real date and time (the general path
    says which)."""
    plain = _PLAIN_DATETIME.fullmatch(cell)
    if plain is None:
        return None
    year, _, month, day, hour, minute, second = plain.groups()
    try:
        return dt.datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second or 0)
        )
    except ValueError:
        return None


def plain_datetimes() -> Callable[[str], str | None]:
    """A reader of plain datetime cells to ISO text (quick_datetime's cells, None for
    any other) that remembers the date and the time of each apart: a file's timestamps
    rarely repeat, their dates and times do. A remembered pair is valid together, since
    the shape is a date part, one separator and a time part, and each is checked apart."""
    dates: dict[str, str] = {}
    times: dict[str, str] = {}

    def read(cell: str) -> str | None:
        day, sep, clock = cell.partition(" ")
        if not sep:
            day, sep, clock = cell.partition("T")
        known_day, known_clock = dates.get(day), times.get(clock)
        if known_day is not None and known_clock is not None:
            return f"{known_day}T{known_clock}"
        value = quick_datetime(cell)
        if value is None:
            return None
        if len(dates) < _DATES_KEPT and len(times) < _TIMES_KEPT:
            dates[day] = value.date().isoformat()
            times[clock] = value.time().isoformat()
        return value.isoformat()

    return read


def general_datetime(cell: str) -> dt.datetime:
    """parse_datetime for any cell: full-width digits, outer blanks, every date shape."""
    text = normal(cell)
    date_text, sep, time_text = text.replace("T", " ", 1).partition(" ")
    time_match = _TIME.fullmatch(time_text.strip()) if sep else None
    if time_match is None or not _DATE.fullmatch(date_text):
        raise CellError("cell.datetime")
    try:
        day = parse_date(date_text)
    except CellError as exc:
        raise CellError(
            "cell.datetime_unreal" if exc.key == "cell.date_unreal" else exc.key
        ) from None
    hour, minute, second = (int(part) if part else 0 for part in time_match.groups())
    try:
        return dt.datetime.combine(day, dt.time(hour, minute, second))
    except ValueError:
        raise CellError("cell.datetime_unreal") from None


def house_format(fmt: str, with_time: bool) -> Parse:
    """A parser that takes only `fmt` (`YYYYMMDD`, `YYYY年M月D日`, `YYYY/MM/DD HH:mm`)."""
    pattern = compile_format(fmt)

    def parse(cell: str) -> object:
        match = pattern.fullmatch(normal(cell))
        if not match:
            if with_time and _SHEET_DATETIME.fullmatch(cell):
                # A workbook's date cell the format cannot write whole (date_cell_writer).
                return dt.datetime.fromisoformat(cell)
            raise CellError("cell.format", {"format": fmt})
        parts = match.groupdict()
        day = _real(cell, int(parts["year"]), int(parts["month"]), int(parts["day"]))
        if not with_time:
            return day
        hour, minute, second = (int(parts.get(k) or 0) for k in ("hour", "minute", "second"))
        try:
            return dt.datetime.combine(day, dt.time(hour, minute, second))
        except ValueError:
            raise CellError("cell.datetime_unreal") from None

    return parse


# How each token of a house format writes a date and time.
_WRITE = {
    "YYYY": lambda v: f"{v.year:04d}",
    "MM": lambda v: f"{v.month:02d}",
    "DD": lambda v: f"{v.day:02d}",
    "HH": lambda v: f"{v.hour:02d}",
    "mm": lambda v: f"{v.minute:02d}",
    "ss": lambda v: f"{v.second:02d}",
    "M": lambda v: str(v.month),
    "D": lambda v: str(v.day),
    "H": lambda v: str(v.hour),
}


def date_cell_writer(kind: str, fmt: str | None) -> Callable[[dt.datetime], str]:
    """How an Excel date cell's value is written for a `kind` (date or datetime)
    column of house format `fmt` to read it: a date cell is a date however it is
    shown, so the format narrows only what a partner types as text.

    A date column takes the cell's date and leaves its time: calamine does not say
    how a cell is shown, and a date cell shown as a date (a pasted NOW()) may hold
    the time of day. A datetime column takes a date at midnight as 00:00:00, and the
    time a format does not write (its seconds, or the whole time under `YYYY/MM/DD`)
    is not dropped: such a value is written `2024-05-16T09:30:45`, which the format's
    parser takes beside the format, as no partner types it."""
    if fmt:
        has = {_TOKENS[token].split(">")[0][4:] for token in _TOKEN.findall(fmt)}

        def written(value: dt.datetime) -> str:
            if kind == "datetime" and any(
                getattr(value, part) and part not in has for part in ("hour", "minute", "second")
            ):
                return value.isoformat(timespec="seconds")
            return _TOKEN.sub(lambda token: _WRITE[token.group()](value), fmt)

        return written
    if kind == "date":
        return lambda value: value.date().isoformat()
    return lambda value: value.isoformat(sep=" ")


class FormatError(Explained):
    """A house format renkei cannot use, and why."""


def compile_format(fmt: str) -> re.Pattern[str]:
    """The regular expression of a house format; FormatError says what is wrong with it."""
    parts, seen, pos = [], set(), 0
    for token in _TOKEN.finditer(fmt):
        parts.append(re.escape(fmt[pos : token.start()]))
        field = _TOKENS[token.group()].split(">")[0][4:]
        if field in seen:
            raise FormatError("format.twice", token=token.group())
        seen.add(field)
        parts.append(_TOKENS[token.group()])
        pos = token.end()
    parts.append(re.escape(fmt[pos:]))
    missing = [t for t, f in (("YYYY", "year"), ("MM", "month"), ("DD", "day")) if f not in seen]
    if missing:
        raise FormatError("format.lacks", parts=", ".join(missing))
    return re.compile("".join(parts), re.ASCII)


def _real(cell: str, year: int, month: int, day: int) -> dt.date:
    try:
        return dt.date(year, month, day)
    except ValueError:
        raise CellError("cell.date_unreal") from None


def _era_date(cell: str, match: re.Match[str]) -> dt.date:
    name, number, m1, d1, _, m2, d2 = match.groups()
    era = _ERA_LETTERS.get(name.upper(), name)
    first, last = ERAS[era]
    year = first.year + (1 if number == "元" else int(number)) - 1
    day = _real(cell, year, int(m1 or m2), int(d1 or d2))
    # A day that exists, written in an era it is not in: many systems went on
    # printing 平成31年 after the era had changed. Said so, not "no such date".
    if day < first:
        raise CellError("cell.date_before_era", {"era": era, "first": first.isoformat()})
    if last is not None and day > last:
        raise CellError("cell.date_after_era", {"era": era, "last": last.isoformat()})
    return day
