"""What TOML's parser says of a config it cannot read, in the catalog's words.

tomllib's messages are English only (`Expected ']' at the end of a table declaration
(at line 1, column 8)`); a Japanese admin gets the line, the column and what is wrong
in Japanese. A message this renkei does not know (a newer Python's) keeps tomllib's
words.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from importers.messages import message

_AT = re.compile(
    r"(?P<what>.*) \(at (?:line (?P<line>\d+), column (?P<column>\d+)|end of document)\)"
)
# tomllib's words, each to its catalog key; a group is the key or character named.
_REASONS = [
    (re.compile(r"Cannot overwrite a value"), "toml.overwrite"),
    (re.compile(r"Cannot mutate immutable namespace (?P<name>.+)"), "toml.immutable"),
    (re.compile(r"Unescaped '\\' in a string"), "toml.backslash"),
    (re.compile(r"(?:Illegal|Found invalid) character (?P<name>.+)"), "toml.character"),
    (re.compile(r"Expected '\]\]' at the end of an array declaration"), "toml.array_table_end"),
    (re.compile(r"Expected '\]' at the end of a table declaration"), "toml.table_end"),
    (re.compile(r"Expected '=' after a key in a key/value pair"), "toml.equals"),
    (re.compile(r"Expected newline or end of document after a statement"), "toml.line_end"),
    (re.compile(r"Expected (?P<name>.+)"), "toml.expected"),
    (re.compile(r"Duplicate inline table key (?P<name>.+)"), "toml.duplicate_key"),
    (re.compile(r"Cannot redefine namespace (?P<name>.+)"), "toml.redefine"),
    (re.compile(r"Cannot declare (?P<name>.+) twice"), "toml.twice"),
    (re.compile(r"Unterminated string"), "toml.unterminated"),
    (re.compile(r"Unclosed inline table"), "toml.inline_unclosed"),
    (re.compile(r"Unclosed array"), "toml.array_unclosed"),
    (re.compile(r"Invalid value"), "toml.value"),
    (re.compile(r"Invalid statement"), "toml.statement"),
    (re.compile(r"Invalid initial character for a key part"), "toml.key_start"),
    (re.compile(r"Invalid hex value"), "toml.hex"),
    (re.compile(r"Invalid date or datetime"), "toml.datetime"),
    (re.compile(r"Escaped character is not a Unicode scalar value"), "toml.scalar"),
]


@dataclass(frozen=True)
class TomlTrouble:
    """A tomllib.TOMLDecodeError as a Detail (settings/problems.py)."""

    exc: Exception

    def render(self, language: str) -> str:
        text = str(self.exc)
        at = _AT.fullmatch(text)
        what = at["what"] if at else text
        reason = _reason(what, language)
        if at is None or reason is None:
            return text
        if at["line"] is None:
            return message("toml.at_end", language, reason=reason)
        return message("toml.at", language, line=at["line"], column=at["column"], reason=reason)


def _reason(what: str, language: str) -> str | None:
    for pattern, key in _REASONS:
        found = pattern.fullmatch(what)
        if found is not None:
            return message(key, language, **{k: _name(v) for k, v in found.groupdict().items()})
    return None


def _name(text: str) -> str:
    """A key as the config writes it (`accounts.acme`, where tomllib writes the tuple
    `('accounts', 'acme')`); a character or a text as tomllib quotes it."""
    if text.startswith("("):
        try:
            parts = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return text
        if isinstance(parts, tuple) and all(isinstance(p, str) for p in parts):
            return ".".join(parts)
    return text
