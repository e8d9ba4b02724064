"""SQL text helpers: quoting identifiers and literals for the statements built here."""

from __future__ import annotations


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def like_escaped(text: str) -> str:
    """`text` matched literally by LIKE … ESCAPE '\\': its \\, % and _ escaped."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def literal(text: str) -> str:
    """An SQL string literal: SQLite knows no backslash escapes, only doubled quotes."""
    if "\0" in text:
        raise ValueError("NUL in an SQL literal")
    return "'" + text.replace("'", "''") + "'"
