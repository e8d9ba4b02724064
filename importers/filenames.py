"""File-name rules: the patterns an account's file names must match, and which logical
file a name is (what same-name replace keys on).

Called by the importer before reading a file, by the intake sink for edges that refuse
a bad name at the door, and by the config check, which explains a pattern it refuses.

A pattern is literal text with at most one date part — `{YYYYMMDD}` (a real calendar
date), `{YYYYMM00}` (a monthly file: a real month, day 00), `{YYYYMM}` (a real month) —
and the wildcards `*` (any text) and `?` (any one character); or the word `any`.
Names are compared after Unicode NFC, ignoring case. `YYYYMMDD.csv` and
`YYYYMM00.csv` written without braces are today's rule as users have it written.

The logical file is the pattern with its date filled in: wildcards do not tell files
apart, so `employees*.csv` takes `employees_0501.csv` and then `employees_0601.csv` as
one file, the second replacing the first. `any` keeps the name itself.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from importers.errors import Explained, PermanentProblem
from importers.messages import Words

ANY = "any"
DATE_PARTS = ("YYYYMMDD", "YYYYMM00", "YYYYMM")
DEFAULT_PATTERNS = ("{YYYYMMDD}.csv", "{YYYYMM00}.csv")
CORRECTION_SUFFIX = ".errors.csv"  # error_report_name(): what a partner sends back
# A corrected error CSV as browsers save a second download of it (`(1)`, ` (2)`); and
# any name made of an error CSV's, kept as a workbook or renamed after its `.errors`
# (`…errors_fixed.csv`), which no pattern may take for a full copy of its file.
_SAVED_AGAIN = re.compile(r"(?P<stem>.+)\.errors ?\(\d{1,3}\)\.csv", re.IGNORECASE)
_RENAMED = re.compile(r"(?P<stem>.+)\.errors[^.]*\.(?:csv|xlsx|xls)", re.IGNORECASE)
EXCEL_SUFFIXES = (".xlsx", ".xls")  # what a pattern ending in .csv also takes, with excel
_LEGACY = {"yyyymmdd.csv": "{YYYYMMDD}.csv", "yyyymm00.csv": "{YYYYMM00}.csv"}
_TOKEN = re.compile(r"\{[^{}]*\}|[*?{}]|[^{}*?]+")
# The date parts as regexes that take real dates only, so that where wildcards leave
# a date's place open (`*{YYYYMMDD}*.csv` and `list_20240516153012.csv`) the regex finds
# a split that holds a real one; wildcards are lazy, so it is the leftmost (a timestamp
# starts with its date). Years are 0001-9999, leap years as the Gregorian calendar has
# them (tests/test_filenames.py checks them against datetime.date).
_YEAR = "(?!0000)[0-9]{4}"
_MONTH = "(?:0[1-9]|1[0-2])"
_MONTH_DAY = (
    "(?:(?:0[13578]|1[02])(?:0[1-9]|[12][0-9]|3[01])"
    "|(?:0[469]|11)(?:0[1-9]|[12][0-9]|30)"
    "|02(?:0[1-9]|1[0-9]|2[0-8]))"
)
_LEAP = "(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)"
_DATE_REGEX = {
    "YYYYMMDD": f"(?:{_YEAR}{_MONTH_DAY}|{_LEAP}0229)",
    "YYYYMM00": f"{_YEAR}{_MONTH}00",
    "YYYYMM": f"{_YEAR}{_MONTH}",
}
_BARE_DATE = re.compile("|".join(DATE_PARTS), re.IGNORECASE)
# What the store's same-name replace folds (COLLATE NOCASE): ASCII letters only.
_ASCII_FOLD = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


class PatternError(Explained):
    """A pattern renkei cannot use: why, and what to write instead."""


@dataclass(frozen=True, slots=True)
class Pattern:
    """One compiled pattern: `text` as written (legacy spelling made current)."""

    text: str
    regex: re.Pattern[str] | None  # None: `any`
    date: str | None  # the date part it holds, if any

    def match(self, name: str) -> str | None:
        """The logical file `name` is under this pattern, or None when it does not fit."""
        if self.regex is None:
            return name
        found = self.regex.fullmatch(name)
        if found is None:
            return None
        if self.date is None:
            return self.text
        return self.text.replace("{" + self.date + "}", found.group("date"))


def compile_pattern(text: str, excel: bool = False) -> Pattern:
    """Compile one pattern; raises PatternError saying why it cannot be used."""
    text = unicodedata.normalize("NFC", text)
    if text.lower() == ANY:
        return Pattern(ANY, None, None)
    text = _LEGACY.get(text.lower(), text)
    tokens = _tokens(text)
    dates = [t[1:-1] for t in tokens if t.startswith("{")]
    if len(dates) > 1:
        parts = ", ".join("{" + d + "}" for d in dates)
        raise PatternError("pattern.two_dates", count=len(dates), parts=parts)
    body = "".join(_regex(token) for token in tokens)
    if excel and text.lower().endswith(".csv"):
        # A workbook of the same name is the same file: the logical name keeps `.csv`.
        suffixes = "|".join(re.escape(s) for s in (".csv", *EXCEL_SUFFIXES))
        body = body[: -len(re.escape(".csv"))] + f"(?:{suffixes})"
    regex = re.compile(body, re.IGNORECASE | re.DOTALL)
    return Pattern(text, regex, dates[0] if dates else None)


def _tokens(text: str) -> list[str]:
    """Split a pattern into literal text, date parts and wildcards, or say what is wrong."""
    if not text.strip():
        raise PatternError("pattern.empty")
    for separator in ("/", "\\"):
        if separator in text:
            last = text.replace("\\", "/").rsplit("/", 1)[-1] or "{YYYYMMDD}.csv"
            raise PatternError("pattern.separator", separator=repr(separator), example=repr(last))
    tokens = _TOKEN.findall(text)
    if "{" in tokens or "}" in tokens:
        raise PatternError("pattern.braces")
    for token in tokens:
        _check_token(token, text)
    return tokens


def _check_token(token: str, text: str) -> None:
    if token.startswith("{") and token[1:-1] not in DATE_PARTS:
        near = "".join(ch for ch in token[1:-1].upper() if ch in "YMD0")
        if near in DATE_PARTS:
            fixed = repr(text.replace(token, "{" + near + "}"))
            raise PatternError("pattern.unknown_part_near", token=token, fixed=fixed)
        raise PatternError("pattern.unknown_part", token=token)
    bare = None if token.startswith("{") else _BARE_DATE.search(token)
    if bare:
        # Users wrote today's rule as YYYYMMDD.csv: a date part without braces would
        # silently match only that very name.
        fixed = token.replace(bare.group(), "{" + bare.group().upper() + "}", 1)
        raise PatternError(
            "pattern.bare_date", bare=bare.group(), fixed=repr(text.replace(token, fixed, 1))
        )


def _regex(token: str) -> str:
    if token == "*":
        return ".*?"
    if token == "?":
        return "."
    if token.startswith("{"):
        return f"(?P<date>{_DATE_REGEX[token[1:-1]]})"
    return re.escape(token)


@dataclass(frozen=True, slots=True)
class FilenameRule:
    """An account's patterns, compiled once: which names it takes, as which file."""

    patterns: tuple[Pattern, ...]
    excel: bool = False

    @property
    def is_default(self) -> bool:
        return sorted(p.text for p in self.patterns) == sorted(DEFAULT_PATTERNS)

    def match(self, name: str) -> str | None:
        """The logical file name `name` is, or None when no pattern takes it."""
        name = unicodedata.normalize("NFC", name)
        corrected = self._corrected(name)
        if corrected is not None:
            return corrected
        if self._renamed_correction(name) is not None:
            return None
        for pattern in self.patterns:
            logical = pattern.match(name)
            if logical is not None:
                return logical
        return None

    def corrects(self, name: str) -> bool:
        """`name` is a corrected error CSV sent back (`20240516.errors.csv`): its rows
        are added to the file it corrects, not put in place of that file's rows."""
        return self._corrected(unicodedata.normalize("NFC", name)) is not None

    def _corrected(self, name: str) -> str | None:
        """The logical file the error CSV `name` belongs to, or None. Checked before the
        patterns, so that `*.csv` or `any` does not make it a file of its own."""
        if again := _SAVED_AGAIN.fullmatch(name):
            name = again.group("stem") + CORRECTION_SUFFIX
        if not name.lower().endswith(CORRECTION_SUFFIX):
            return None
        stem = name[: -len(CORRECTION_SUFFIX)]
        original = stem + ".csv"
        if original.lower().endswith(CORRECTION_SUFFIX) or _SAVED_AGAIN.fullmatch(original):
            # A correction's own error CSV (`20240518.errors.errors.csv`), sent back
            # corrected in its turn: it corrects the same file.
            return self._corrected(original)
        # A workbook's error CSV is a CSV too: under `{YYYYMMDD}.xlsx` the copy sent back
        # of `20240516.xlsx`'s is `20240516.errors.csv`, which corrects the workbook.
        suffixes = (".csv", *EXCEL_SUFFIXES) if self.excel else (".csv",)
        for suffix in suffixes:
            for pattern in self.patterns:
                logical = pattern.match(stem + suffix)
                if logical is not None:
                    return logical
        return None

    def _renamed_correction(self, name: str) -> str | None:
        """The name an error CSV of one of this rule's files is sent back under, when
        `name` is one made of it otherwise (saved as a workbook, renamed after its
        `.errors`); else None. Under `売上_{YYYYMMDD}_*.csv` such a name was taken for a
        full copy of its day, and its corrected rows replaced the file's good ones."""
        found = _RENAMED.fullmatch(name)
        if found is None:
            return None
        expected = found.group("stem") + CORRECTION_SUFFIX
        return expected if self._corrected(expected) is not None else None

    def check(self, name: str) -> str:
        """The logical file name; raises FilenameProblem when no pattern takes `name`."""
        logical = self.match(name)
        if logical is None:
            raise self.refusal(name)
        return logical

    def refusal(self, name: str) -> PermanentProblem:
        """The problem `name` is under this rule; it renders the rule in words."""
        name = unicodedata.normalize("NFC", name)
        if (expected := self._renamed_correction(name)) is not None:
            return PermanentProblem("filename.correction_renamed", name=name, expected=expected)
        return FilenameProblem(name, self)

    def words(self) -> Words:
        """The rule in words, for a refusal."""
        if self.is_default:
            words = Words("filename.rule.default")
        else:
            patterns = ", ".join(p.text for p in self.patterns)
            words = Words("filename.rule.patterns", {"patterns": patterns})
        if self.excel and any(p.text.lower().endswith(".csv") for p in self.patterns):
            words = Words("filename.rule.excel", {"rule": words})
        return words


class FilenameProblem(PermanentProblem):
    """A name no pattern of the account takes; the message states the account's rule."""

    def __init__(self, name: str, rule: FilenameRule) -> None:
        super().__init__("filename.rule", name=name)
        self.rule = rule

    @property
    def words(self) -> Words:
        return Words(self.key, {"name": self.params["name"], "rule": self.rule.words()})

    def render(self, language: str) -> str:
        return self.words.say(language)


def filename_rule(patterns: Sequence[str] = DEFAULT_PATTERNS, excel: bool = False) -> FilenameRule:
    """The compiled rule of an account's `filename` and `excel` (raises PatternError)."""
    return _compiled(tuple(patterns), excel)


@lru_cache(maxsize=256)
def _compiled(patterns: tuple[str, ...], excel: bool) -> FilenameRule:
    return FilenameRule(tuple(compile_pattern(p, excel) for p in patterns), excel)


def file_key(rule: FilenameRule, name: str) -> str:
    """What the deliveries of one logical file share, for the resend rules: the logical
    file (`name` itself when no pattern takes it), with ASCII letters folded as the
    store's same-name replace compares them. `20240516.csv` and `20240516.CSV` are one
    file; so are `sales_20240516_0900.csv` and `sales_20240516_1500.csv` under
    `sales_{YYYYMMDD}_*.csv`."""
    name = unicodedata.normalize("NFC", name)
    return (rule.match(name) or name).translate(_ASCII_FOLD)


def correction_name(name: str) -> str:
    """The error CSV's own name of a corrected copy sent back as browsers save a second
    download (`20240516.errors (1).csv` → `20240516.errors.csv`); `name` otherwise."""
    again = _SAVED_AGAIN.fullmatch(unicodedata.normalize("NFC", name))
    return again.group("stem") + CORRECTION_SUFFIX if again else name


def error_report_name(name: str) -> str:
    """`20240516.csv` → `20240516.errors.csv`; a workbook's too (`20240516.xlsx`), so
    that the corrected copy sent back is taken as correcting that file. Never longer
    than a file system holds: the stem of a name near the limit is cut."""
    stem = name
    for suffix in (".csv", *EXCEL_SUFFIXES):
        if name.lower().endswith(suffix):
            stem = name[: -len(suffix)]
            break
    # Room for the error CSV's temporary name while it is written (`.NAME.tmp`).
    while stem and _name_bytes(stem + CORRECTION_SUFFIX) > MAX_NAME_BYTES - len("..tmp"):
        stem = stem[:-1]
    return f"{stem}{CORRECTION_SUFFIX}"


MAX_NAME_BYTES = 255  # one path component, in UTF-8: what Linux file systems hold


def _name_bytes(name: str) -> int:
    return len(name.encode("utf-8", "surrogatepass"))


def length_problem(name: str, cut: bool = False) -> PermanentProblem | None:
    """The problem of a name too long for the file system to hold (the kept file and
    the error CSV are named after it); None when it fits. A name the door `cut` is
    said to be at least its length."""
    size = _name_bytes(name)
    if size <= MAX_NAME_BYTES:
        return None
    shown = name if len(name) <= 60 else name[:60] + "…"
    key = "file.name_too_long.cut" if cut else "file.name_too_long"
    return PermanentProblem(key, name=shown, size=size, limit=MAX_NAME_BYTES)
