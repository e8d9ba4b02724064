"""Placeholders in what renkei sends: `{run.id}`, `{account}`, `{file}`, `{today}`,
`{part}` and `{parts}` (a send split into several requests), and for calls
`{row.COLUMN}` and the run's fields as `{run.NAME}`.

A placeholder is replaced by text, never evaluated: a value from outside (a cell, a
file name) cannot reach anything but the place it is put. `{{` and `}}` are braces.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote, urlencode

_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)?)\}")
PLAIN = ("account", "file", "today", "part", "parts")
RUN_FIELDS = ("id", "account", "file", "layout", "channel", "sender", "rows", "state")


class UnknownPlaceholder(KeyError):
    """A placeholder that names nothing renkei fills in."""


def names(text: str) -> list[str]:
    return [m.group(1) for m in _PLACEHOLDER.finditer(text) if m.group(1)]


def fillable(columns: Iterable[str] = ()) -> list[str]:
    """Every placeholder renkei fills in, with `{row.X}` for each of `columns`."""
    return [*PLAIN, *(f"run.{f}" for f in RUN_FIELDS), *(f"row.{c}" for c in columns)]


def unknown(texts: Iterable[str], columns: Iterable[str] = ()) -> list[str]:
    """The placeholders in `texts` that are not filled in (with `columns` for {row.X})."""
    allowed = set(fillable(columns))
    return [name for text in texts for name in names(text) if name not in allowed]


def fill(text: str, values: Mapping[str, Any], escape: Callable[[str], str] = str) -> str:
    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        name = match.group(1)
        if name not in values:
            raise UnknownPlaceholder(name)
        value = values[name]
        return "" if value is None else escape(str(value))

    return _PLACEHOLDER.sub(replace, text)


def fill_url(url: str, values: Mapping[str, Any]) -> str:
    """`url` with each placeholder's value percent-encoded whole: a cell or a file name
    holding `/`, `?`, `#` or `&` stays one segment or one value, never another path,
    parameter or fragment."""
    return fill(url, values, lambda value: quote(value, safe=""))


def fill_json(template: Any, values: Mapping[str, Any], rows: list[Mapping[str, Any]]) -> Any:
    """A JSON body from `template`: strings filled in; a list holding one object is that
    object once per row of `rows` (the run's rows, nested one level)."""
    if isinstance(template, str):
        return fill(template, values)
    if isinstance(template, dict):
        return {key: fill_json(value, values, rows) for key, value in template.items()}
    if isinstance(template, list):
        if len(template) == 1 and isinstance(template[0], dict):
            return [fill_json(template[0], {**values, **row_values(row)}, []) for row in rows]
        return [fill_json(item, values, rows) for item in template]
    return template


def row_values(row: Mapping[str, Any]) -> dict[str, Any]:
    return {f"row.{column}": value for column, value in row.items()}


def template_texts(template: Any) -> list[str]:
    """Every string in a JSON template, for checking its placeholders."""
    if isinstance(template, str):
        return [template]
    if isinstance(template, dict):
        return [t for value in template.values() for t in template_texts(value)]
    if isinstance(template, list):
        return [t for item in template for t in template_texts(item)]
    return []


def run_values(timezone: str, run: Mapping[str, Any] | None, account: str | None) -> dict[str, Any]:
    """What the placeholders of a send or call stand for: the run that triggered it (none
    for a send by hand or on schedule), its account (else `account`), and today."""
    run = run or {}
    return {
        "today": dt.datetime.now(zoneinfo.ZoneInfo(timezone)).strftime("%Y%m%d"),
        "part": 1,  # a send split into several requests: which one, of how many
        "parts": 1,
        "account": run.get("account") or account or "",
        "file": run.get("filename") or "",
        "run.id": run.get("id") or "",
        "run.account": run.get("account") or "",
        "run.file": run.get("filename") or "",
        "run.layout": run.get("layout") or "",
        "run.channel": run.get("channel") or "",
        "run.sender": run.get("sender") or "",
        "run.rows": run.get("rows_imported") or 0,
        "run.state": run.get("state") or "",
    }


def query_url(url: str, params: Mapping[str, str]) -> str:
    """`url` with `params` added to its query string."""
    if not params:
        return url
    return url + ("&" if "?" in url else "?") + urlencode(params)
