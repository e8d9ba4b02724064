"""Config problems as data: the key path, a catalog key and its values, said in either
language when shown.

Made by the model's validators (`Invalid`), loading (pydantic's errors) and the cross
checks; rendered by the CLI in the config's `report.language` and by the master's log
in English.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from importers.messages import message


@runtime_checkable
class Detail(Protocol):
    """A problem's value that renders itself (filenames.PatternError, dates.FormatError)."""

    def render(self, language: str) -> str: ...


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong (or worth a warning) in the config, at one key path."""

    where: str  # accounts.acme.ftp.interval, or the config file's path
    key: str  # the catalog key of what is wrong: config.not_one_of
    params: dict[str, object] = field(default_factory=dict)
    near: str | None = None  # the near miss to suggest: on_row_error, Asia/Tokyo

    def render(self, language: str = "en") -> str:
        # A value that says something itself (why a pattern or a date format is wrong)
        # is said in the same language.
        params = {
            k: v.render(language) if isinstance(v, Detail) else v for k, v in self.params.items()
        }
        text = message(self.key, language, **params)
        if self.near is not None:
            text += message("config.did_you_mean", language, near=self.near)
        return f"{self.where}: {text}" if self.where else text

    def __str__(self) -> str:
        # Logs stay English, like every other log line of the daemon.
        return self.render("en")


class Invalid(ValueError):
    """What a validator of the model raises: pydantic keeps it in the error's context,
    and loading turns it into a Problem at the key's path."""

    def __init__(self, key: str, near: str | None = None, **params: object) -> None:
        super().__init__(message(key, "en", **params))
        self.key = key
        self.near = near
        self.params = params


def shown(value: object) -> str:
    """A config value as the admin wrote it: strings quoted, booleans as TOML spells them,
    anything long cut short."""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def near(word: str, choices: Iterable[str]) -> str | None:
    """The choice `word` most likely misspells (case ignored), or None."""
    by_fold = {choice.casefold(): choice for choice in choices}
    found = difflib.get_close_matches(word.casefold(), by_fold, n=1, cutoff=0.6)
    return by_fold[found[0]] if found else None
