"""Config checks that span keys: names that must exist, be unique, or be resolvable.

Works on the raw TOML dict so that it can report alongside type errors, whatever else
is wrong. Called by loading.parse().
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

from daemon.settings.listeners import is_loopback
from daemon.settings.model import DEMO_PREFIX, RESERVED_TABLES
from importers.filenames import PatternError, compile_pattern

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")

_LISTENER_DEFAULTS = {"smtp": "127.0.0.1:2525", "ftp": "127.0.0.1:2121", "api": "127.0.0.1:8080"}


def cross_checks(raw: dict[str, Any]) -> list[str]:
    return [
        *_layout_names(raw),
        *_layout_refs(raw),
        *_choice_values(raw),
        *_keys(raw),
        *_references(raw),
        *_modes(raw),
        *_filenames(raw),
        *_unique(raw, "mail", "address", str.lower),
        *_unique(raw, "ftp", "user", str),
        *_secrets(raw),
    ]


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _accounts(raw: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, account in _dict(raw.get("accounts")).items():
        if isinstance(account, dict):
            yield name, account


def _layout_names(raw: dict[str, Any]) -> Iterator[str]:
    for name in _dict(raw.get("layouts")):
        if not _IDENTIFIER.fullmatch(name) or name.startswith("_"):
            yield f"layouts.{name}: a layout name is a table name: letters, digits and _"
        elif name.lower() in RESERVED_TABLES:
            yield f"layouts.{name}: the name of one of renkei's own tables"


def _layout_refs(raw: dict[str, Any]) -> Iterator[str]:
    layouts = _dict(raw.get("layouts"))
    for name, account in _accounts(raw):
        layout = account.get("layout")
        if isinstance(layout, str) and layout not in layouts:
            yield f"accounts.{name}.layout: {layout!r} is not a layout ([layouts.{layout}] is missing)"


def _choice_values(raw: dict[str, Any]) -> Iterator[str]:
    for name, layout in _dict(raw.get("layouts")).items():
        columns = _dict(layout).get("columns")
        for i, column in enumerate(columns if isinstance(columns, list) else []):
            if (
                isinstance(column, dict)
                and column.get("type") == "choice"
                and not column.get("values")
            ):
                yield f"layouts.{name}.columns.{i}.values: a choice column needs its values"


_KEYED_MODES = ("upsert", "delete", "set")
_OWN_PATHS = ("/healthz", "/metrics", "/openapi.json", "/docs", "/redoc")


def _columns_of(layout: Any) -> list[str]:
    columns = _dict(layout).get("columns")
    columns = columns if isinstance(columns, list) else []
    return [c.get("name") for c in columns if isinstance(c, dict)]


def _keys(raw: dict[str, Any]) -> Iterator[str]:
    for name, layout in _dict(raw.get("layouts")).items():
        key = _dict(layout).get("key")
        names = _columns_of(layout)
        for column in key if isinstance(key, list) else []:
            if column not in names:
                yield f"layouts.{name}.key: {column!r} is not a column of the layout"


def _references(raw: dict[str, Any]) -> Iterator[str]:
    layouts = _dict(raw.get("layouts"))
    targets: dict[str, list[str]] = {}  # layout → the layouts its columns reference
    for name, layout in layouts.items():
        columns = _dict(layout).get("columns")
        for i, column in enumerate(columns if isinstance(columns, list) else []):
            target = _dict(column).get("reference")
            if target is None:
                continue
            where = f"layouts.{name}.columns.{i}.reference"
            if target not in layouts:
                yield f"{where}: {target!r} is not a layout"
            elif not _dict(layouts[target]).get("key"):
                yield f"{where}: layout {target!r} declares no key to match on"
            else:
                targets.setdefault(name, []).append(target)
    for name, account in _accounts(raw):
        member_key = account.get("member_key")
        for target in targets.get(account.get("layout"), []) if member_key else []:
            if member_key not in _columns_of(layouts[target]):
                yield f"accounts.{name}.member_key: {member_key!r} is not a column of {target!r}"


def _modes(raw: dict[str, Any]) -> Iterator[str]:
    """Every layout, mode and column an account or a request parameter may pick."""
    layouts = _dict(raw.get("layouts"))
    for name, account in _accounts(raw):
        api = _dict(account.get("api"))
        effects = [(f"accounts.{name}", account)]
        for param, values in _dict(api.get("params")).items():
            for value, effect in _dict(values).items():
                effects.append((f"accounts.{name}.api.params.{param}.{value}", _dict(effect)))
        default_layout = account.get("layout")
        for where, effect in effects:
            layout = effect.get("layout", default_layout)
            if where != f"accounts.{name}" and "layout" in effect and layout not in layouts:
                yield f"{where}.layout: {layout!r} is not a layout ([layouts.{layout}] is missing)"
                continue
            if layout not in layouts:
                continue
            mode = effect.get("mode", account.get("mode"))
            if mode in _KEYED_MODES and not _dict(layouts[layout]).get("key"):
                yield f"{where}.mode: {mode!r} needs key columns ([layouts.{layout}] key = [...])"
            for column in _dict(effect.get("set_values")):
                if column not in _columns_of(layouts[layout]):
                    yield f"{where}.set_values: {column!r} is not a column of layout {layout!r}"
        path = api.get("path")
        header = api.get("token_header", "Authorization")
        default_path = path in (None, "/api/v1/imports")
        if default_path and isinstance(header, str) and header.lower() != "authorization":
            yield (
                f"accounts.{name}.api.token_header: /api/v1/imports takes the token as"
                " Authorization: Bearer; give the account its own path for another header"
            )
        if isinstance(path, str) and (
            path in _OWN_PATHS
            or path.startswith("/api/v1/runs")
            or path.startswith("/api/v1/accounts")
        ):
            yield f"accounts.{name}.api.path: {path!r} is one of renkei's own paths"


def _filenames(raw: dict[str, Any]) -> Iterator[str]:
    """Every file-name pattern compiles; one that does not is named with why."""
    for name, account in _accounts(raw):
        patterns = account.get("filename")
        patterns = [patterns] if isinstance(patterns, str) else patterns
        if patterns == []:
            yield f'accounts.{name}.filename: [] takes no file: give a pattern, or "any"'
        for pattern in patterns if isinstance(patterns, list) else []:
            if not isinstance(pattern, str):
                continue  # the model names the wrong type
            try:
                compile_pattern(pattern)
            except PatternError as exc:
                yield f"accounts.{name}.filename: {pattern!r} {exc}"


def _unique(raw: dict[str, Any], section: str, key: str, fold: Any) -> Iterator[str]:
    owners: dict[str, str] = {}
    for name, account in _accounts(raw):
        value = _dict(account.get(section)).get(key)
        if not isinstance(value, str):
            continue
        folded = fold(value)
        if folded in owners:
            yield (
                f"accounts.{name}.{section}.{key}: {value!r} is also the {key} of "
                f"accounts.{owners[folded]}"
            )
        else:
            owners[folded] = name


def _secret_values(raw: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    yield "api.admin_token", _dict(raw.get("api")).get("admin_token")
    for name, account in _accounts(raw):
        yield f"accounts.{name}.ftp.password", _dict(account.get("ftp")).get("password")
        yield f"accounts.{name}.api.token", _dict(account.get("api")).get("token")


def _public_listeners(raw: dict[str, Any]) -> list[str]:
    public = []
    for section, default in _LISTENER_DEFAULTS.items():
        table = _dict(raw.get(section))
        listen = table.get("listen", default)
        if table.get("enabled", True) is not False and isinstance(listen, str):
            try:
                loopback = is_loopback(listen)
            except ValueError:
                continue
            if not loopback:
                public.append(f"{section}.listen = {listen!r}")
    return public


def _secrets(raw: dict[str, Any]) -> Iterator[str]:
    public = _public_listeners(raw)
    for key, value in _secret_values(raw):
        if not isinstance(value, str):
            continue
        if value.startswith("env:") and value[4:] not in os.environ:
            yield f"{key}: environment variable {value[4:]} is not set"
        elif value.startswith(DEMO_PREFIX) and public:
            yield (
                f"{key}: a demo secret is allowed only while every listener is on loopback "
                f"({', '.join(public)})"
            )
