"""Loading the config: TOML → the typed model plus the cross checks, every problem listed.

Called by the CLI (`renkei check`, every command) and the master at start and reload.
pydantic's errors become Problems here, each with a catalog key, so that `renkei check`
can say them in the config's language.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from daemon.settings.checks import cross_checks, path_checks
from daemon.settings.model import Settings
from daemon.settings.problems import Invalid, OsTrouble, Problem, near, not_one_of, shown
from daemon.settings.tomlwords import TomlTrouble


class ConfigError(Exception):
    """The config cannot be used; `problems` holds each thing wrong, with its key path."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(problem) for problem in problems))
        self.problems = problems


def load(path: Path | str) -> Settings:
    """Read and validate the config at `path`; raise ConfigError listing every problem."""
    path = Path(path)
    try:
        raw = tomllib.loads(_text(path.read_bytes(), path))
    except FileNotFoundError:
        raise ConfigError([Problem(str(path), "config.no_file")]) from None
    except IsADirectoryError:  # `--config /etc/renkei`: the folder, not the file in it
        raise ConfigError([Problem(str(path), "config.is_folder")]) from None
    except OSError as exc:  # not ours to read (permissions), or the disk failed
        detail = OsTrouble(exc)
        raise ConfigError([Problem(str(path), "config.unreadable", {"detail": detail})]) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        detail = TomlTrouble(exc)
        raise ConfigError([Problem(str(path), "config.not_toml", {"detail": detail})]) from None
    return parse(raw, source=path.resolve())


_BOM = b"\xef\xbb\xbf"


def _text(data: bytes, path: Path) -> str:
    """The config's text. A UTF-8 BOM (Notepad writes one) is read past, as TOML's
    parser would refuse it; text in another encoding (Shift_JIS, saved from Excel or an
    old editor) is named with its line and how to save it."""
    data = data.removeprefix(_BOM)
    if _utf16(data):
        raise ConfigError([Problem(str(path), "config.utf16")])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError([Problem(str(path), "config.not_utf8", {"line": line})]) from None


def _utf16(data: bytes) -> bool:
    """Whether `data` is UTF-16 (Windows' "Unicode"): its BOM, or a first character
    of ASCII with its zero byte (which UTF-8 would read as a NUL TOML refuses)."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return True
    return len(data) >= 2 and (data[0] == 0) != (data[1] == 0)


def parse(raw: dict[str, Any], source: Path | None = None) -> Settings:
    problems: list[Problem] = []
    settings = None
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        problems.extend(describe(error) for error in exc.errors())
    problems.extend(cross_checks(raw))
    if settings is not None:
        # Paths resolve against the config's folder: checked once the model holds them.
        settings = settings.model_copy(update={"source": source})
        problems.extend(path_checks(settings))
    if problems:
        raise ConfigError([_secret_hidden(problem) for problem in problems])
    assert settings is not None
    return settings


# Keys whose value is a secret (or leads to one): a problem of theirs never repeats
# it. `password = 98765432` unquoted was printed by check, logged at a refused reload
# and mailed in the admin alert.
_SECRET_KEYS = frozenset(
    {
        "password",
        "password_sha256",
        "password_hash",
        "token",
        "token_sha256",
        "admin_token",
        "admin_token_sha256",
    }
)


def _secret_hidden(problem: Problem) -> Problem:
    key = problem.where.rsplit(".", 1)[-1]
    secret = key in _SECRET_KEYS or problem.where == "store.url"
    if not secret or "value" not in problem.params:
        return problem
    return dataclasses.replace(problem, params={**problem.params, "value": "***"})


# pydantic's error type → our message, where the value alone says what is wrong.
_PLAIN = {
    "missing": "config.missing",
    "string_type": "config.string",
    "list_type": "config.list",
    "dict_type": "config.table",
    "model_type": "config.table",
    "model_attributes_type": "config.table",
    "path_type": "config.path",
}
# … and where a bound of the key's Field says it.
_BOUNDS = {
    "greater_than_equal": ("config.at_least", "ge"),
    "greater_than": ("config.more_than", "gt"),
    "less_than_equal": ("config.at_most", "le"),
    "too_short": ("config.too_short", "min_length"),
}


def describe(error: ErrorDetails) -> Problem:
    """One pydantic error as a Problem at its key path."""
    where = ".".join(str(part) for part in error["loc"])
    kind, ctx = error["type"], error.get("ctx", {})
    value = error.get("input")
    if kind == "value_error" and isinstance(ctx.get("error"), Invalid):
        invalid = ctx["error"]
        return Problem(where, invalid.key, invalid.params, invalid.near)
    if kind == "extra_forbidden":
        return Problem(where, "config.unknown_key", near=_near_key(error["loc"]))
    if kind == "literal_error":
        # `type = "dat"`, `mode = "replace"`: a near miss said, as for a key.
        refused = not_one_of(value, re.findall(r"'([^']*)'", ctx["expected"]))
        return Problem(where, refused.key, refused.params, refused.near)
    if kind in ("int_type", "int_parsing", "float_type", "bool_type", "bool_parsing"):
        return _wrong_scalar(where, kind, value)
    if kind in _PLAIN:
        return Problem(where, _PLAIN[kind], {"value": shown(value)})
    if kind in _BOUNDS:
        key, bound = _BOUNDS[kind]
        limit = ctx.get(bound)
        limit = int(limit) if isinstance(limit, float) and limit.is_integer() else limit
        return Problem(where, key, {"value": shown(value), "limit": limit})
    # A rare pydantic type keeps pydantic's English words in our frame.
    detail = error["msg"].removeprefix("Value error, ")
    return Problem(where, "config.other", {"value": shown(value), "detail": detail})


def _wrong_scalar(where: str, kind: str, value: object) -> Problem:
    """A number or a boolean that is not one; a quoted one is named as such."""
    wanted = "bool" if kind.startswith("bool") else "int" if kind.startswith("int") else "number"
    params = {"value": shown(value)}
    if isinstance(value, str) and _unquoted(value.strip(), wanted) is not None:
        params["bare"] = _unquoted(value.strip(), wanted)
        return Problem(where, f"config.quoted.{wanted}", params)
    return Problem(where, f"config.not.{wanted}", params)


def _unquoted(text: str, wanted: str) -> str | None:
    """How `text` is written as a TOML value of the kind wanted, if it reads as one."""
    if wanted == "bool":
        return text.lower() if text.lower() in ("true", "false") else None
    pattern = r"[+-]?\d+" if wanted == "int" else r"[+-]?\d+(\.\d+)?([eE][+-]?\d+)?"
    return text if re.fullmatch(pattern, text, re.ASCII) else None


def _near_key(loc: tuple[int | str, ...]) -> str | None:
    """The key of the model an unknown key most likely misspells."""
    model = _model_at(loc[:-1])
    if model is None:
        return None
    keys = [f.alias or name for name, f in model.model_fields.items() if name != "source"]
    return near(str(loc[-1]), keys)


def _model_at(loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model class that validates the table at `loc` (keys, list indexes)."""
    kind: Any = Settings
    for part in loc:
        kind = _unwrap(kind)
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            field = next((f for n, f in kind.model_fields.items() if part in (n, f.alias)), None)
            kind = field.annotation if field is not None else None
        elif typing.get_origin(kind) in (dict, list):
            kind = typing.get_args(kind)[-1]  # a dict's value, a list's item
        else:
            return None
    kind = _unwrap(kind)
    return kind if isinstance(kind, type) and issubclass(kind, BaseModel) else None


def _unwrap(kind: Any) -> Any:
    """`X | None` → X."""
    if isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union:
        members = [k for k in typing.get_args(kind) if k is not type(None)]
        return members[0] if len(members) == 1 else kind
    return kind
