"""Column types and validation: turns each cell's text into the value the store keeps.

Every cell arrives as text and is converted only by its column's type; a value that
does not fit raises CellError, never a silent change. Called by the reader per row.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Protocol

from importers.dates import house_format, parse_date, parse_datetime, plain_datetimes
from importers.errors import CellError

Converter = Callable[[str], object]

SQL_TYPES = {
    "text": "TEXT",
    "int": "INTEGER",
    "decimal": "TEXT",  # exact: SQLite's REAL would round
    "date": "TEXT",
    "datetime": "TEXT",
    "bool": "INTEGER",
    "choice": "TEXT",
}

# Full-width digits and signs as a Japanese spreadsheet writes them.
# Full-width digits and signs, and the minus signs of Japanese accounts (▲100 and
# △100 are -100) and of Mac and web text (U+2212), as the number's own.
_WIDE = str.maketrans("０１２３４５６７８９，．－＋▲△\u2212", "0123456789,.-+---")
# A yen sign before the digits, as Excel saves a currency cell (in a Shift_JIS file
# the sign is the byte of the backslash, which CP932 reads as one).
_YEN = ("¥", "￥", "\\")
# ASCII digits only, once full-width ones are made ASCII (_WIDE): int() and Decimal()
# would also read other scripts' digits (Arabic-Indic ٣).
_INT = re.compile(r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)", re.ASCII)
_GROUPED = re.compile(r"\d{1,3}(?:,\d{3})+", re.ASCII)  # 1,234,567 as a spreadsheet writes it
_DECIMAL = re.compile(r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?", re.ASCII)
# A decimal already as str(Decimal(cell)) writes it: no sign but minus, no leading
# zero, no grouping, and not so small that Decimal would write it with an exponent.
_PLAIN_DECIMAL = re.compile(r"-?(?:[1-9]\d*(?:\.\d+)?|0(?:\.\d{1,6})?)", re.ASCII)
# And as Japanese forms write a yes and a no: 〇 and ×, はい and いいえ, 有 and 無.
_TRUE = frozenset(
    {"1", "true", "yes", "y", "t", "on", "〇", "○", "◯", "はい", "有", "あり", "有り"}
)
_FALSE = frozenset({"0", "false", "no", "n", "f", "off", "×", "✕", "いいえ", "無", "なし", "無し"})
_BOOL_WORDS = {**dict.fromkeys(_TRUE, 1), **dict.fromkeys(_FALSE, 0)}
_MEMO_LIMIT = 4096
_INT_MAX = 2**63 - 1  # SQLite's INTEGER; a larger int could not even be bound
_INT_DIGITS = len(str(_INT_MAX))
_SAFE_DIGITS = 18  # any number of this many digits fits


class ColumnLike(Protocol):
    name: str
    type: str
    required: bool
    max_length: int | None
    max_digits: int | None
    values: list[str] | None
    label: str | None
    aliases: list[str]
    format: str | None
    wareki: bool


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    """A column as plain data (what a reader process receives)."""

    name: str
    type: str = "text"
    required: bool = False
    max_length: int | None = None
    max_digits: int | None = None
    values: list[str] | None = None
    label: str | None = None
    aliases: list[str] = field(default_factory=list)
    format: str | None = None
    wareki: bool = False
    # on_unknown = "create": a choice value not among `values` is taken in its normal
    # form (choice_form) and learned after the run, instead of refused.
    creates: bool = False
    # An int column whose table turns a cell of plain digits into an integer itself
    # (SQLite's INTEGER affinity, PostgreSQL's COPY into a number): such a cell is
    # passed on as the text it is, once checked. Set by the large file's staging,
    # for columns whose values the reader does not also report.
    digits_as_text: bool = False
    # An upsert's blank = "keep": a cell of spaces keeps the old value in a number,
    # date or bool column too, as an empty one does, rather than being refused.
    blank_keeps: bool = False

    @classmethod
    def of(cls, column: ColumnLike) -> ColumnSpec:
        return cls(
            column.name,
            column.type,
            column.required,
            column.max_length,
            column.max_digits,
            list(column.values) if column.values else None,
            getattr(column, "label", None),
            list(getattr(column, "aliases", ())),
            getattr(column, "format", None),
            getattr(column, "wareki", False),
            getattr(column, "creates", False),
            blank_keeps=getattr(column, "blank_keeps", False),
        )


def display_name(column: ColumnLike) -> str:
    """What a partner calls the column: its label, else its name."""
    return getattr(column, "label", None) or column.name


# The characters Shift_JIS's bytes decode to one way in CP932 (Windows) and another in
# JIS and on a Mac, where a config is often written: 0x8160 is 〜 (U+301C) in JIS and ～
# (U+FF5E, which NFKC makes ~) in CP932; likewise − and －, — and ―, ‖ and ∥. Compared
# as one, so a label `期間〜コード` matches the header a Shift_JIS file writes.
_SJIS_TWINS = str.maketrans({"\u301c": "~", "\u2212": "-", "\u2014": "\u2015", "\u2016": "\u2225"})


def header_key(text: str) -> str:
    """A header cell as compared: NFKC (full-width letters and digits, half-width kana),
    without its spaces, case folded, so `会員番号 `, `数　量` (a full-width space Excel
    users type to line labels up) and `ＭＥＭＢＥＲ＿ＮＯ` match; 〜 and ～ are one. An
    invisible character (a second BOM a tool wrote, a zero-width space pasted from the
    web) is no part of a name: the header was refused naming `会員番号` as missing and
    `会員番号` as unknown."""
    text = unicodedata.normalize("NFKC", text).translate(_SJIS_TWINS)
    if not text.isascii():
        text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    return "".join(text.split()).casefold()


def choice_form(text: str) -> str:
    """A choice value as compared: NFKC, then trimmed, so `Ａ`, `A　` (U+3000, which NFKC
    makes a space) and `A` are one value, and `ｶﾞｲ` is `ガイ`; so are `A−1` and the
    `A－1` a Shift_JIS file writes. Case is kept: `a` and `A` may be two values of a
    partner's code list."""
    return unicodedata.normalize("NFKC", text).translate(_SJIS_TWINS).strip()


def choice_spellings(values: Sequence[str]) -> dict[str, str]:
    """Each value's normal form, to the value as the config or the store writes it (the
    first of a form: two listed values of one form are a config problem)."""
    spellings: dict[str, str] = {}
    for value in values:
        spellings.setdefault(choice_form(value), value)
    return spellings


def listed_spelling(values: Sequence[str], value: str) -> str:
    """`value` as `values` write the one of its normal form; as given when none is."""
    return choice_spellings(values).get(choice_form(value), value)


def header_names(column: ColumnLike) -> list[str]:
    """Every header text that names `column`, as compared."""
    names = [column.name, getattr(column, "label", None), *getattr(column, "aliases", ())]
    return list(dict.fromkeys(header_key(n) for n in names if n))


def converter(column: ColumnLike) -> Converter:
    """The function that turns one cell of `column` into its stored value."""
    build = _BUILDERS[column.type]
    convert = build(column)
    if column.required:
        return _required(convert)
    if column.type != "text" and getattr(column, "blank_keeps", False):
        return _blank_kept(convert)
    # A cell of spaces is a value here: stored as sent in a text column, refused as no
    # number or date in another (only `required`, and blank = keep, read it as empty).
    return _optional(convert, "" if column.type == "text" else None)


def converters(columns: Sequence[ColumnLike]) -> list[Converter]:
    return [converter(column) for column in columns]


def row_converter(
    columns: Sequence[ColumnLike],
    order: Sequence[int] | None,
    extra: Sequence[object],
    width: int | None = None,
) -> Callable[[list[str]], list[object]]:
    """One function that converts a whole record and appends `extra`.

    The reader calls it once per row, a million times for a large file, so it is
    generated: each cell gets an inline fast path for its common case (ASCII digits,
    plain or grouped by commas; a text within its limit; a date seen before) and falls
    back to the column's full converter, which raises CellError, for everything else.
    Only indices and numbers from the layout reach the generated source, never a name
    from the config.
    `width` is the record's number of fields when it has more than the columns read.
    """
    order = list(order) if order is not None else list(range(len(columns)))
    namespace: dict[str, object] = {}
    cells = []
    for i, column in enumerate(columns):
        full = converter(column)
        namespace[f"c{i}"] = full
        cells.append(_fast_path(column, f"p{order[i]}", i, full, namespace))
    for j, value in enumerate(extra):
        namespace[f"x{j}"] = value
        cells.append(f"x{j}")
    params = ", ".join(f"p{i}" for i in range(width or len(columns)))
    source = f"def convert(fields):\n    {params}, = fields\n    return [{', '.join(cells)}]\n"
    exec(compile(source, f"<row converter {len(columns)} columns>", "exec"), namespace)  # noqa: S102
    return namespace["convert"]  # type: ignore[return-value]


def _fast_path(column: ColumnLike, v: str, i: int, full: Converter, namespace: dict) -> str:
    slow = f"c{i}({v})"
    if column.type == "text":
        if not column.required:
            return (
                v
                if column.max_length is None
                else f"({v} if len({v}) <= {column.max_length} else {slow})"
            )
        # A cell of spaces (a padded export's empty field) is as empty as "".
        filled = f"{v} and not {v}.isspace()"
        if column.max_length is None:
            return f"({v} if {filled} else {slow})"
        return f"({v} if {filled} and len({v}) <= {column.max_length} else {slow})"
    if column.type == "int":
        digits = min(column.max_digits or _SAFE_DIGITS, _SAFE_DIGITS)
        # A grouped number's length grows with its digits, so one length check bounds both.
        grouped = digits + (digits - 1) // 3
        namespace[f"g{i}"] = _GROUPED.fullmatch
        plain = f"{v}.isdigit() and {v}.isascii() and len({v}) <= {digits}"
        commas = f"g{i}({v}) and len({v}) <= {grouped}"
        # int() was an eighth of a wide file's reading, where the table makes the integer.
        value = v if getattr(column, "digits_as_text", False) else f"int({v})"
        return f"({value} if {plain} else (int({v}.replace(',', '')) if {commas} else {slow}))"
    if column.type == "decimal":
        # Its length bounds its digits; a longer cell is counted by the full converter.
        namespace[f"s{i}"], namespace[f"d{i}"] = _plain_decimals(column.max_digits)
        return f"({v} if {v} in s{i} or d{i}({v}) else {slow})"
    if column.type == "datetime" and not getattr(column, "format", None):
        # Timestamps rarely repeat, their dates and times do: a plain one is put
        # together from its remembered halves before the memo of whole cells is asked.
        namespace[f"q{i}"] = plain_datetimes()
        return f"(q{i}({v}) or {_memo_path(v, i, full, namespace)})"
    if column.type in ("date", "datetime", "choice"):
        return _memo_path(v, i, full, namespace)
    if column.type == "bool":
        # A word as the lists write it; any other spelling, and an empty cell, is
        # the full converter's (a memo's `or` would call it again for every 0).
        namespace[f"b{i}"] = _BOOL_WORDS
        return f"(b{i}[{v}] if {v} in b{i} else {slow})"
    return slow


def _plain_decimals(max_digits: int | None) -> tuple[set[str], Callable[[str], bool]]:
    """The cells passed as plain decimals so far, and the check of any other: a plain
    decimal within `max_digits` (its length bounds its digits; a longer cell is counted
    by the full converter). Rates and quantities repeat, and a set answers them
    without the pattern."""
    seen: set[str] = set()
    match = _PLAIN_DECIMAL.fullmatch
    limit = max_digits or sys.maxsize

    def plain(cell: str) -> bool:
        if match(cell) is None or len(cell) > limit:
            return False
        if len(seen) < _MEMO_LIMIT:
            seen.add(cell)
        return True

    return seen, plain


def _memo_path(v: str, i: int, full: Converter, namespace: dict) -> str:
    """A date, datetime or choice cell: one seen before is taken from a memo (a choice
    cell's normal form is worked out once per spelling, not once per row)."""
    memo: dict[str, object] = {}

    def remember(cell: str) -> object:
        value = full(cell)
        if len(memo) < _MEMO_LIMIT and value is not None:
            memo[cell] = value
        return value

    namespace[f"m{i}"] = memo
    namespace[f"r{i}"] = remember
    return f"(m{i}.get({v}) or r{i}({v}))"


def _required(convert: Converter) -> Converter:
    def check(cell: str) -> object:
        # Spaces only (half- or full-width), as fixed-width exports pad an empty field.
        if not cell or cell.isspace():
            raise CellError("cell.required")
        return convert(cell)

    return check


def _blank_kept(convert: Converter) -> Converter:
    def check(cell: str) -> object:
        return None if not cell or cell.isspace() else convert(cell)

    return check


def _optional(convert: Converter, empty: object) -> Converter:
    def check(cell: str) -> object:
        return empty if cell == "" else convert(cell)

    return check


def _text(column: ColumnLike) -> Converter:
    limit = column.max_length
    if limit is None:
        return str

    def text(cell: str) -> str:
        if len(cell) > limit:
            raise CellError("cell.max_length", {"limit": limit, "length": len(cell)})
        return cell

    return text


def _digits_ok(number: str, limit: int | None) -> bool:
    """`number` is already checked to be a sign, digits and at most one point."""
    return limit is None or _significant_digits(number) <= limit


def _significant_digits(number: str) -> int:
    """The digits a number has, as `max_digits` counts them: those of its whole part
    without leading zeros, then every digit after the point as written (they are
    stored as written: `1.50` stays `1.50`). Zero-padded fixed-width exports write
    `00000000000001` for 1, which is one digit, not fourteen; `0` and `0.5` have one."""
    whole, _, fraction = number.lstrip("+-").partition(".")
    return max(len(whole.lstrip("0")) + len(fraction), 1)


def _int(column: ColumnLike) -> Converter:
    limit = column.max_digits

    def integer(cell: str) -> int:
        # Fast path for the common case; int() alone would also take '1_000' and ' 1'.
        if cell.isascii() and cell.isdigit():
            number = cell
        else:
            number = _number_text(cell)
            if not _INT.fullmatch(number):
                raise CellError("cell.int")
            number = number.replace(",", "")
        if not _digits_ok(number, limit):
            raise CellError("cell.max_digits", {"limit": limit})
        if _significant_digits(number) > _INT_DIGITS:
            # Said before int() is asked: it refuses a text of over 4,300 digits, zeros
            # included, with a ValueError that failed the whole run as our trouble.
            raise CellError("cell.int_range")
        value = int(number if len(number) <= _INT_DIGITS + 1 else _unpadded(number))
        if not -_INT_MAX <= value <= _INT_MAX:
            raise CellError("cell.int_range")
        return value

    return integer


def _number_text(cell: str) -> str:
    """A number cell as ASCII for the patterns: full-width made half-width, ▲ and △
    made a minus, spaces around it (a right-aligned export pads it), a yen sign before
    its digits (`¥1,234`, `-¥5`, `¥-5`) and 円 after them taken off."""
    number = cell.translate(_WIDE).strip()
    sign = number[:1] if number[:1] in ("-", "+") else ""
    rest = number[len(sign) :]
    if rest.startswith(_YEN):
        rest = rest[1:]
    if rest.endswith("円"):  # `1,234円`
        rest = rest[:-1]
    return sign + rest


def _unpadded(number: str) -> str:
    """A sign and digits without the zeros that pad them (`-0007` → `-7`)."""
    sign = number[0] if number[0] in "+-" else ""
    return sign + (number.lstrip("+-").lstrip("0") or "0")


def _decimal(column: ColumnLike) -> Converter:
    limit = column.max_digits

    def decimal(cell: str) -> str:
        number = _number_text(cell)
        if not _DECIMAL.fullmatch(number):
            raise CellError("cell.decimal")
        number = number.replace(",", "")
        if not _digits_ok(number, limit):
            raise CellError("cell.max_digits", {"limit": limit})
        try:
            # Positional always: str() writes 0.0000001 as 1E-7, which reads back as
            # no decimal at all (an export or a corrected copy would fail).
            return format(Decimal(number), "f")
        except InvalidOperation as exc:  # pragma: no cover - the pattern already guards
            raise CellError("cell.decimal") from exc

    return decimal


def _memoized(convert: Converter) -> Converter:
    """Dates repeat across a file's rows; remember the last few thousand conversions."""
    memo: dict[str, object] = {}

    def cached(cell: str) -> object:
        try:
            return memo[cell]
        except KeyError:
            value = convert(cell)
            if len(memo) < _MEMO_LIMIT:
                memo[cell] = value
            return value

    return cached


def _date(column: ColumnLike) -> Converter:
    fmt = getattr(column, "format", None)
    if fmt:
        parse = house_format(fmt, with_time=False)
    else:
        wareki = getattr(column, "wareki", False)

        def parse(cell: str) -> object:
            return parse_date(cell, wareki)

    return _memoized(lambda cell: parse(cell).isoformat())


def _datetime(column: ColumnLike) -> Converter:
    fmt = getattr(column, "format", None)
    parse = house_format(fmt, with_time=True) if fmt else parse_datetime
    return _memoized(lambda cell: parse(cell).isoformat())


def _bool(column: ColumnLike) -> Converter:
    def boolean(cell: str) -> int:
        # NFKC: full-width ＴＲＵＥ and １ as their ASCII.
        word = unicodedata.normalize("NFKC", cell).strip().lower()
        if word in _TRUE:
            return 1
        if word in _FALSE:
            return 0
        raise CellError("cell.bool")

    return boolean


def _choice(column: ColumnLike) -> Converter:
    """A cell is the listed (or learned) value of its normal form, stored as listed;
    with on_unknown = create, a value not known is taken in its normal form, so the
    values learned from `東京 ` and `東京` are one."""
    values = column.values or []
    spellings = choice_spellings(values)
    creates = getattr(column, "creates", False)
    shown = ", ".join(values)

    def choice(cell: str) -> str | None:
        form = choice_form(cell)
        if not form:  # only spaces: an empty cell, as `""` is to the wrappers
            if column.required:
                raise CellError("cell.required")
            return None
        value = spellings.get(form)
        if value is not None:
            return value
        if creates:
            return form
        raise CellError("cell.choice", {"values": shown})

    return choice


_BUILDERS: dict[str, Callable[[ColumnLike], Converter]] = {
    "text": _text,
    "int": _int,
    "decimal": _decimal,
    "date": _date,
    "datetime": _datetime,
    "bool": _bool,
    "choice": _choice,
}
