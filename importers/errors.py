"""Import errors, as the importer raises them and the daemon's edges translate them.

    ImportProblem
    └── PermanentProblem   the file is wrong: report it to the partner, never retry

Anything else raised while importing (disk, database busy, a reader process that
died) is our trouble: the pipeline puts the file back and tries again later, until
`daemon.max_attempts`.

A problem carries a catalog key and its parameters, not a rendered sentence, so the
edge decides the language; a parameter may itself be catalog words (messages.Words),
said in the same language.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from importers.messages import Words


class ImportProblem(Exception):
    def __init__(self, key: str, line: int | None = None, **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.line = line
        self.params = params

    def render(self, language: str) -> str:
        from importers.messages import message

        return message(self.key, language, line=self.line, **self.params)

    @property
    def words(self) -> Words:
        """The problem as catalog words, to be said again in another language."""
        from importers.messages import Words

        return Words(self.key, {"line": self.line, **self.params})


class PermanentProblem(ImportProblem):
    """The file cannot be imported as it is."""


# The row errors a run keeps in its record (the error CSV holds them all). The first so
# many of each reading of a file, or of a part of one, are given their catalog words
# (RowError.said): any a run keeps is among them. Every error's words would cost a
# file of nothing but bad cells a fifth more time, for words never stored.
ERRORS_KEPT = 1000


@dataclass(slots=True)
class RowError:
    """One cell (or row) that failed validation; `column` is '' for row-level errors.

    `column` is the name a partner knows the column by (its label, when it has one);
    `record` holds the record's cells as the file has them, for the error CSV a
    partner corrects and sends back (None for whole-file problems). `message` is said
    in the config's language; `said`, when known, is the same sentence as catalog words,
    for the console to say in its viewer's.
    """

    line: int
    column: str
    value: str
    message: str
    record: list[str] | None = None
    said: Words | None = None


@dataclass(slots=True)
class CellError(Exception):
    key: str
    params: dict[str, object] = field(default_factory=dict)


class Explained(ValueError):
    """A value renkei cannot use, said as a catalog key and its values: English as the
    exception's text (for logs), `render` for the user's language. A config check
    shows it in the config's language (daemon/settings/problems.py)."""

    def __init__(self, key: str, **params: object) -> None:
        from importers.messages import message

        super().__init__(message(key, "en", **params))
        self.key = key
        self.params = params

    def render(self, language: str) -> str:
        from importers.messages import message

        return message(self.key, language, **self.params)
