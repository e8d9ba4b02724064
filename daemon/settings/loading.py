"""Loading the config: TOML → the typed model plus the cross checks, every problem listed.

Called by the CLI (`renkei check`, every command) and the master at start and reload.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from daemon.settings.checks import cross_checks
from daemon.settings.model import Settings


class ConfigError(Exception):
    """The config cannot be used; `problems` holds one 'key.path: what is wrong' each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def load(path: Path | str) -> Settings:
    """Read and validate the config at `path`; raise ConfigError listing every problem."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError([f"{path}: no such config file"]) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: not valid TOML: {exc}"]) from None
    return parse(raw, source=path.resolve())


def parse(raw: dict[str, Any], source: Path | None = None) -> Settings:
    problems: list[str] = []
    settings = None
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        problems.extend(_describe(error) for error in exc.errors())
    problems.extend(cross_checks(raw))
    if problems:
        raise ConfigError(problems)
    assert settings is not None
    return settings.model_copy(update={"source": source})


def _describe(error: ErrorDetails) -> str:
    path = ".".join(str(part) for part in error["loc"])
    kind = error["type"]
    value = error.get("input")
    if kind == "extra_forbidden":
        return f"{path}: unknown key"
    if kind == "missing":
        return f"{path}: required key is missing"
    if kind == "literal_error":
        allowed = error["ctx"]["expected"].replace("'", "")
        return f"{path}: {value!r} is not one of {allowed}"
    msg = error["msg"].removeprefix("Value error, ")
    if kind == "value_error":
        return f"{path}: {msg}"
    return f"{path}: {value!r}: {msg}"
