"""Config checks that span keys: names that must exist, be unique, or be resolvable.

`cross_checks` works on the raw TOML dict so that it can report alongside type errors,
whatever else is wrong; `path_checks` needs the model's resolved paths. Both are called
by loading.parse(). `check_warnings` names what is allowed but most likely not meant; the
CLI prints it and the master logs it at start and reload.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import os
import re
import socket
import ssl
import stat
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from daemon.settings.keyedmodes import unkeyed_writes
from daemon.settings.listeners import is_loopback, split_listen
from daemon.settings.model import DEMO_PREFIX, RESERVED_TABLES, FtpSettings, Settings, resolved
from daemon.settings.problems import OsTrouble, Problem, near, shown
from daemon.settings.setchoices import set_choice_problems, set_value_problems
from daemon.settings.tokens import env_problem, header_problems, token_clashes
from daemon.store.objects import key_index_name
from importers.filenames import EXCEL_SUFFIXES, PatternError, compile_pattern
from importers.layouts import choice_form

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
# RFC 9110 5.6.2: a header's name is a token, as api.token_header's (model.py).
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", re.ASCII)
# RFC 9110 5.5: what renkei's HTTP client can write as a header's value.
_HEADER_VALUE = re.compile(r"[\t\x20-\x7e]*")

_LISTENER_DEFAULTS = {"smtp": "127.0.0.1:2525", "ftp": "127.0.0.1:2121", "api": "127.0.0.1:8080"}
_WILDCARDS = ("", "0.0.0.0", "::", "*")
MAX_ACCOUNT_NAME = 64  # characters: a folder's name (255 bytes), in UTF-8, with room


def cross_checks(raw: dict[str, Any]) -> list[Problem]:
    return [
        *_layout_names(raw),
        *_account_names(raw),
        *_outward_names(raw),
        *_columns_twice(raw),
        *_layout_refs(raw),
        *_user_accounts(raw),
        *_outbound(raw),
        *_outbound_headers(raw),
        *_calls_shape(raw),
        *_choice_values(raw),
        *_keys(raw),
        *_references(raw),
        *_member_keys(raw),
        *_modes(raw),
        *_filenames(raw),
        *_unique(raw, "mail", "address", str.lower),
        *_unique(raw, "ftp", "user", str),
        *token_clashes(raw),
        *header_problems(raw),
        *_same_listen(raw),
        *_passive_overlap(raw),
        *_secrets(raw),
        *_transport(raw),
    ]


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    """A name as the raw TOML holds it, or None when it is of another type (the model
    names that): a list or a table would not even hash."""
    return value if isinstance(value, str) else None


def _names(value: Any) -> list[Any]:
    """The columns a list or a table names; nothing for any other type, a string
    included (it would be named once per letter)."""
    return list(value) if isinstance(value, list | dict) else []


def _named(where: str, value: Any) -> list[tuple[str, Any]]:
    """The columns _names gives, each at its key path: a list's by its index, a table's
    by its key."""
    if isinstance(value, list):
        return [(f"{where}.{i}", name) for i, name in enumerate(value)]
    return [(f"{where}.{name}", name) for name in _names(value)]


def _accounts(raw: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, account in _dict(raw.get("accounts")).items():
        if isinstance(account, dict):
            yield name, account


def _not_a_layout(where: str, layout: Any, layouts: dict[str, Any]) -> Problem:
    params = {"value": repr(layout), "name": layout}
    return Problem(where, "config.unknown_layout", params, near(str(layout), layouts))


def _layout_names(raw: dict[str, Any]) -> Iterator[Problem]:
    seen: dict[str, str] = {}
    # The index each keyed layout's table has (store/tables.py): a table of its name
    # cannot be made, and serve and import ended in a traceback.
    indexes = {}
    for name, layout in _dict(raw.get("layouts")).items():
        key = _dict(layout).get("key")
        if isinstance(key, list) and all(isinstance(k, str) for k in key):
            indexes[key_index_name(name, key).lower()] = name
    for name in _dict(raw.get("layouts")):
        # SQLite's table names ignore case: `sales` and `SALES` would share one table.
        if (other := seen.setdefault(name.casefold(), name)) != name:
            yield Problem(f"layouts.{name}", "config.layout_case_twice", {"other": other})
        elif not _IDENTIFIER.fullmatch(name) or name.startswith("_"):
            yield Problem(f"layouts.{name}", "config.layout_name")
        elif name.lower() in RESERVED_TABLES:
            yield Problem(f"layouts.{name}", "config.layout_reserved")
        elif name.lower().startswith("sqlite_"):  # SQLite keeps these names for itself
            yield Problem(f"layouts.{name}", "config.layout_sqlite")
        elif name.lower() in indexes:
            yield Problem(
                f"layouts.{name}", "config.layout_index", {"other": indexes[name.lower()]}
            )


def _columns_twice(raw: dict[str, Any]) -> Iterator[Problem]:
    """Two columns of one name would make a table SQLite refuses to create (names that
    differ in case only are refused as headers that clash)."""
    for name, layout in _dict(raw.get("layouts")).items():
        seen: set[str] = set()
        for i, column in enumerate(_columns_of(layout)):
            if not isinstance(column, str):
                continue
            if column in seen:
                where = f"layouts.{name}.columns.{i}.name"
                yield Problem(where, "config.column_twice", {"value": repr(column)})
            seen.add(column)


def _account_names(raw: dict[str, Any]) -> Iterator[Problem]:
    """An account's name is a folder's (its FTP home, `data_dir/ftp/NAME`) and a part
    of URLs and ids: `..` or `a/b` would reach outside, onto the daemon's own files."""
    for name in _dict(raw.get("accounts")):
        if not _folder_name(name):
            yield Problem(f"accounts.{name}", "config.account_name", {"value": repr(name)})


def _folder_name(name: str) -> bool:
    unseen = any(unicodedata.category(ch)[0] == "C" for ch in name)
    outside = name.startswith(".") or "/" in name or "\\" in name
    return bool(name.strip()) and len(name) <= MAX_ACCOUNT_NAME and not (unseen or outside)


def _outward_names(raw: dict[str, Any]) -> Iterator[Problem]:
    """A send's name is a segment of its URL (`POST /api/v1/sends/NAME`, `renkei send`)
    and a call's a part of its job's folder (`data_dir/outward/RUN-call-NAME`): a `/`
    there reaches another path, so they follow the rule of account names."""
    for section in ("sends", "calls"):
        for name in _dict(raw.get(section)):
            if not outward_name(name):
                yield Problem(f"{section}.{name}", "config.outward_name", {"value": repr(name)})


def outward_name(name: str) -> bool:
    """Whether `name` can name a send or a call (`renkei send` asks before it sends)."""
    return _folder_name(name)


def _layout_refs(raw: dict[str, Any]) -> Iterator[Problem]:
    layouts = _dict(raw.get("layouts"))
    for name, account in _accounts(raw):
        layout = account.get("layout")
        if isinstance(layout, str) and layout not in layouts:
            yield _not_a_layout(f"accounts.{name}.layout", layout, layouts)


def _user_accounts(raw: dict[str, Any]) -> Iterator[Problem]:
    accounts = _dict(raw.get("accounts"))
    for name, user in _dict(raw.get("users")).items():
        if not isinstance(user, dict) or not isinstance(user.get("accounts"), list):
            continue
        for index, account in enumerate(user["accounts"]):
            if isinstance(account, str) and account not in accounts:
                where = f"users.{name}.accounts.{index}"
                params = {"value": repr(account), "name": account}
                yield Problem(where, "config.unknown_account", params, near(account, accounts))


def _outbound(raw: dict[str, Any]) -> Iterator[Problem]:
    """Sends and calls name layouts, accounts and columns that exist, and only the
    placeholders renkei fills in."""
    from daemon.outward.fill import unknown

    layouts, accounts = _dict(raw.get("layouts")), _dict(raw.get("accounts"))
    for section in ("sends", "calls"):
        for name, item in _dict(raw.get(section)).items():
            if not isinstance(item, dict):
                continue
            where = f"{section}.{name}"
            layout = _text(item.get("layout"))
            if section == "sends" and isinstance(layout, str) and layout not in layouts:
                yield _not_a_layout(f"{where}.layout", layout, layouts)
            named = [(f"{where}.account", item.get("account"))]
            targets = item.get("after_import")
            for i, account in enumerate(targets if isinstance(targets, list) else []):
                named.append((f"{where}.after_import.{i}", account))
            for at, account in named:
                if isinstance(account, str) and account not in accounts:
                    params = {"value": repr(account), "name": account}
                    yield Problem(at, "config.unknown_account", params, near(account, accounts))
            if section == "calls":
                yield from _call_placeholders(where, item, raw)
                continue
            columns = _columns_of(layouts.get(layout)) if layout is not None else []
            for key in ("columns", "where", "labels"):
                for at, column in _named(f"{where}.{key}", item.get(key)):
                    if isinstance(column, str) and layout in layouts and column not in columns:
                        yield _not_a_column(at, column, layout)
            if layout in layouts:
                yield from _where_values(f"{where}.where", item.get("where"), layouts[layout])
            field = _text(item.get("file_field", "file"))
            if field in _dict(item.get("params")):
                yield Problem(f"{where}.params", "config.param_is_file", {"name": field})
            if item.get("body") == "json" and _text(item.get("json_field", "")) == field:
                yield Problem(f"{where}.json_field", "config.param_is_file", {"name": field})
            yield from _run_rows_followed(where, item, layout, accounts)
            for key in ("params", "filename", "url"):
                for at, text in _strings(f"{where}.{key}", item.get(key)):
                    for placeholder in unknown([text]):
                        yield Problem(at, "config.placeholder", {"name": placeholder})


def _run_rows_followed(
    where: str, item: dict[str, Any], layout: str | None, accounts: dict[str, Any]
) -> Iterator[Problem]:
    """A send of `rows = "run"` reads its import's rows from its own layout, of its own
    account when it names one: an import of an account of another layout, or another
    account, leaves it none, and every such import made a run that sent nothing."""
    if item.get("rows") != "run":
        return
    own = _text(item.get("account"))
    targets = item.get("after_import")
    for i, name in enumerate(targets if isinstance(targets, list) else []):
        account = accounts.get(name) if isinstance(name, str) else None
        if not isinstance(account, dict):
            continue
        theirs = _text(account.get("layout"))
        at = f"{where}.after_import.{i}"
        if isinstance(own, str) and name != own:
            params = {"name": name, "account": own}
            yield Problem(at, "config.run_rows_other_account", params)
        elif isinstance(layout, str) and isinstance(theirs, str) and theirs != layout:
            params = {"name": name, "theirs": theirs, "layout": layout}
            yield Problem(at, "config.run_rows_other_layout", params)


def _where_values(where: str, values: Any, layout: Any) -> Iterator[Problem]:
    """A send's `where` value is read as its column reads a cell (sends.py): one the
    column refuses found no row, silently, where `--where` answers 422. Checked as a
    set_value is; but an empty value finds the empty cells, and a key column may be
    filtered on."""
    filters = {name: value for name, value in _dict(values).items() if value != ""}
    unkeyed = {**_dict(layout), "key": None}
    for problem in set_value_problems(where, filters, unkeyed):
        if problem.key == "config.set_value_type":
            yield problem


def _call_placeholders(where: str, item: dict[str, Any], raw: dict[str, Any]) -> Iterator[Problem]:
    """A call fills `{row.X}` from a row of the run it follows, whose layout is its
    account's: per row anywhere, per run only inside a JSON list repeated for each row
    (fill.fill_json). Any other `{row.X}` passed check and then failed the call at
    every import."""
    from daemon.outward.fill import fillable, unknown

    followed = [name for name in _names(item.get("after_import")) if isinstance(name, str)]
    if not followed:
        return  # a call that follows no import is refused as such; no row to fill from
    columns = _followed_columns(followed, raw)
    per = "run" if item.get("per") == "run" else "row"
    for at, text, in_rows in _call_texts(where, item):
        filled = columns if per == "row" or in_rows else []
        for name in unknown([text], filled):
            outside_rows = per == "run" and not in_rows and name.startswith("row.")
            key = "config.call_placeholder_run" if outside_rows else "config.call_placeholder"
            allowed = " ".join(f"{{{placeholder}}}" for placeholder in fillable(filled))
            params = {"name": name, "per": per, "accounts": ", ".join(followed), "allowed": allowed}
            yield Problem(at, key, params)


def _followed_columns(followed: list[str], raw: dict[str, Any]) -> list[str]:
    """The columns the layouts of every followed account have, in the first's order;
    every layout's when one is unknown (said at its own key) or none is followed."""
    layouts, accounts = _dict(raw.get("layouts")), _dict(raw.get("accounts"))
    names = [_text(_dict(accounts.get(account)).get("layout")) for account in followed]
    if not names or any(name not in layouts for name in names):
        return sorted(c for c in _every_column(layouts) if isinstance(c, str))
    each = [_columns_of(layouts[name]) for name in names]
    return [c for c in each[0] if isinstance(c, str) and all(c in other for other in each)]


def _call_texts(where: str, item: dict[str, Any]) -> Iterator[tuple[str, str, bool]]:
    """Each string a call fills in, at its key path, and whether it is filled once per
    row of the run: inside a JSON list holding one object."""
    for key in ("url", "params"):
        for at, text in _strings(f"{where}.{key}", item.get(key)):
            yield at, text, False
    yield from _json_texts(f"{where}.json", item.get("json"), False)


def _json_texts(where: str, value: Any, in_rows: bool) -> Iterator[tuple[str, str, bool]]:
    if isinstance(value, str):
        yield where, value, in_rows
    elif isinstance(value, dict):
        for key, inner in value.items():
            yield from _json_texts(f"{where}.{key}", inner, in_rows)
    elif isinstance(value, list):
        repeated = len(value) == 1 and isinstance(value[0], dict)
        for index, inner in enumerate(value):
            yield from _json_texts(f"{where}.{index}", inner, in_rows or repeated)


def _outbound_headers(raw: dict[str, Any]) -> Iterator[Problem]:
    """A send's or call's header must be one a request can carry, and not one renkei
    sets itself: `idempotency-key` beside renkei's Idempotency-Key went out twice. And
    `rows = "run"` needs an import to follow: by hand or on schedule it sent every row."""
    from daemon.outward.jobs import OWN_HEADERS

    for section in ("sends", "calls"):
        for name, item in _dict(raw.get(section)).items():
            where, item = f"{section}.{name}", _dict(item)
            if section == "sends" and item.get("rows") == "run" and not item.get("after_import"):
                yield Problem(f"{where}.rows", "config.rows_run_alone")
            for header, value in _dict(item.get("headers")).items():
                at = f"{where}.headers.{header}"
                if not _HEADER_NAME.fullmatch(header):
                    yield Problem(at, "config.header_name", {"value": shown(header)})
                elif header.lower() in OWN_HEADERS:
                    yield Problem(at, "config.own_header", {"name": header})
                yield from _header_value(at, value)


def _calls_shape(raw: dict[str, Any]) -> Iterator[Problem]:
    """A call that can never go, or goes without what it was written with: one that
    follows no account (`after_import = []`) never runs, and a GET sends no body, so its
    `json` was dropped without a word."""
    for name, item in _dict(raw.get("calls")).items():
        where, item = f"calls.{name}", _dict(item)
        if item.get("after_import") == []:
            yield Problem(f"{where}.after_import", "config.call_follows_nothing")
        if str(item.get("method", "POST")).upper() == "GET" and item.get("json"):
            yield Problem(f"{where}.json", "config.get_without_body")


def _header_value(at: str, value: Any) -> Iterator[Problem]:
    """A header's value goes out as ASCII: any other character (Japanese, a line break)
    failed every request with UnicodeEncodeError. One read from the environment may
    change before it is sent: the request then fails at once, saying why."""
    literal = isinstance(value, str) and not value.startswith("env:")
    if literal and not _HEADER_VALUE.fullmatch(value):
        yield Problem(at, "config.header_ascii", {"value": shown(value)})


def _strings(where: str, value: Any) -> Iterator[tuple[str, str]]:
    """Each string in `value` (a string, or a table or list of them, nested) at its key
    path, so that a placeholder's problem names the one value that holds it."""
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, dict | list):
        pairs = value.items() if isinstance(value, dict) else enumerate(value)
        for key, inner in pairs:
            yield from _strings(f"{where}.{key}", inner)


def _choice_values(raw: dict[str, Any]) -> Iterator[Problem]:
    for name, layout in _dict(raw.get("layouts")).items():
        columns = _dict(layout).get("columns")
        for i, column in enumerate(columns if isinstance(columns, list) else []):
            if not isinstance(column, dict):
                continue
            where = f"layouts.{name}.columns.{i}.values"
            if column.get("type") == "choice" and not column.get("values"):
                yield Problem(where, "config.choice_values")
            elif column.get("type") == "choice":
                yield from _choice_forms(where, column["values"])
            elif column.get("type", "text") != "choice" and "values" in column:
                # Only a choice column checks its values: elsewhere they would be ignored.
                yield Problem(
                    where, "config.values_not_choice", {"type": shown(column.get("type", "text"))}
                )


def _choice_forms(where: str, values: object) -> Iterator[Problem]:
    """A cell matches a listed value under its normal form (choice_form): of two values
    of one form, a cell could only ever be the first."""
    first: dict[str, str] = {}
    for j, value in enumerate(values if isinstance(values, list) else []):
        if not isinstance(value, str):
            continue
        form = choice_form(value)
        if form in first:
            params = {"value": shown(value), "other": shown(first[form])}
            yield Problem(f"{where}.{j}", "config.choice_same_form", params)
        first.setdefault(form, value)


_KEYED_MODES = ("upsert", "delete", "set")
# Where renkei serves its own routes: an account's api.path on or under one of these
# would never reach the import (the route answers first).
_OWN_PATHS = (
    "/healthz",
    "/metrics",
    "/openapi.json",
    "/docs",
    "/redoc",
    "/console",
    "/api/v1/refusals",
    "/api/v1/runs",
    "/api/v1/accounts",
    "/api/v1/records",
    "/api/v1/sends",
)


def _columns_of(layout: Any) -> list[str]:
    columns = _dict(layout).get("columns")
    columns = columns if isinstance(columns, list) else []
    return [c.get("name") for c in columns if isinstance(c, dict)]


def _keys(raw: dict[str, Any]) -> Iterator[Problem]:
    for name, layout in _dict(raw.get("layouts")).items():
        key = _dict(layout).get("key")
        names = _columns_of(layout)
        seen: list[Any] = []
        for column in key if isinstance(key, list) else []:
            if column not in names:
                yield Problem(f"layouts.{name}.key", "config.key_column", {"value": repr(column)})
            elif column in seen:
                yield Problem(f"layouts.{name}.key", "config.key_twice", {"value": repr(column)})
            seen.append(column)


def _not_a_column(where: str, column: Any, layout: str) -> Problem:
    return Problem(where, "config.not_column_of", {"value": repr(column), "layout": repr(layout)})


def _references(raw: dict[str, Any]) -> Iterator[Problem]:
    layouts = _dict(raw.get("layouts"))
    targets: dict[str, list[str]] = {}  # layout → the layouts its columns reference
    for name, layout in layouts.items():
        columns = _dict(layout).get("columns")
        for i, column in enumerate(columns if isinstance(columns, list) else []):
            target = _dict(column).get("reference")
            if not isinstance(target, str):
                continue  # none, or the model names its type
            where = f"layouts.{name}.columns.{i}.reference"
            if target not in layouts:
                yield _not_a_layout(where, target, layouts)
            elif not _dict(layouts[target]).get("key"):
                yield Problem(where, "config.reference_no_key", {"layout": repr(target)})
            else:
                targets.setdefault(name, []).append(target)
    every = _every_column(layouts)
    for name, account in _accounts(raw):
        member_key = account.get("member_key")
        layout = _text(account.get("layout"))
        # One of no layout at all is said once, by _member_keys.
        named = isinstance(member_key, str) and member_key in every
        for target in targets.get(layout, []) if named else []:
            if member_key not in _columns_of(layouts[target]):
                yield _not_a_column(f"accounts.{name}.member_key", member_key, target)


def _match_kind(kind: str) -> str:
    """What a reference compares as (worker/references.py: the cell converted by its
    column, then as text): a choice is stored as text, every other type as its own."""
    return "text" if kind == "choice" else kind


def _reference_type_warnings(settings: Settings) -> Iterator[Problem]:
    """Each reference column whose type is not its key column's: `01` in a text column
    never equals 1 in an int one, nor 1 a text key `001`, where values written alike
    (`1` and 1) still match: a warning, not a refusal. Checked against the key each
    account of the layout matches on (its member_key, else the first key column)."""
    for name, layout in settings.layouts.items():
        for index, column in enumerate(layout.columns):
            target = settings.layouts.get(column.reference or "")
            if target is None or not target.key:
                continue  # said by _references
            types = {c.name: c.type for c in target.columns}
            keys: dict[str, str] = {}  # key column → where it is chosen
            for account_name, account in settings.accounts.items():
                if account.layout != name:
                    continue
                if account.member_key is not None:
                    keys.setdefault(account.member_key, f"accounts.{account_name}.member_key")
                else:
                    keys.setdefault(target.key[0], "member_key")
            for key_column, where in keys.items():
                key_type = types.get(key_column)
                if key_type is None or _match_kind(column.type) == _match_kind(key_type):
                    continue  # an unknown member_key is said by _references
                params = {
                    "column": column.name,
                    "type": column.type,
                    "layout": column.reference,
                    "key_column": key_column,
                    "key_type": key_type,
                    "where": where,
                }
                at = f"layouts.{name}.columns.{index}.reference"
                yield Problem(at, "config.reference_type", params)


def _every_column(layouts: dict[str, Any]) -> set[str]:
    return {c for layout in layouts.values() for c in _columns_of(layout) if isinstance(c, str)}


def _member_keys(raw: dict[str, Any]) -> Iterator[Problem]:
    """A member_key (of an account, or set by a request parameter) that is a column of
    no layout at all could never match a reference."""
    every = _every_column(_dict(raw.get("layouts")))
    for name, account in _accounts(raw):
        keys = [(f"accounts.{name}.member_key", account.get("member_key"))]
        for param, values in _dict(_dict(account.get("api")).get("params")).items():
            for value, effect in _dict(values).items():
                where = f"accounts.{name}.api.params.{param}.{value}.member_key"
                keys.append((where, _dict(effect).get("member_key")))
        for where, key in keys:
            if isinstance(key, str) and key not in every:
                yield Problem(where, "config.member_key_column", {"value": repr(key)})


def _modes(raw: dict[str, Any]) -> Iterator[Problem]:
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
            layout = _text(effect.get("layout", default_layout))
            if layout is None:
                continue  # the model names a layout that is not a string
            if where != f"accounts.{name}" and "layout" in effect and layout not in layouts:
                yield _not_a_layout(f"{where}.layout", layout, layouts)
                continue
            if layout not in layouts:
                continue
            mode = effect.get("mode", account.get("mode"))
            if mode in _KEYED_MODES and not _dict(layouts[layout]).get("key"):
                params = {"mode": repr(mode), "layout": layout}
                yield Problem(f"{where}.mode", "config.mode_needs_key", params)
            # The set_values the effect runs with: its own, or the account's, which an
            # effect that picks another layout takes there (said once, where it goes).
            chosen = (
                effect.get("set_values") if "set_values" in effect else account.get("set_values")
            )
            other = layout != default_layout and mode == "set" and where != f"accounts.{name}"
            if "set_values" in effect or other or where == f"accounts.{name}":
                for column in _dict(chosen):
                    if column not in _columns_of(layouts[layout]):
                        yield _not_a_column(f"{where}.set_values", column, layout)
                on_unknown = effect.get("on_unknown", account.get("on_unknown"))
                yield from set_choice_problems(
                    f"{where}.set_values", chosen, layouts[layout], on_unknown
                )
                yield from set_value_problems(f"{where}.set_values", chosen, layouts[layout])
            own = where == f"accounts.{name}" or "mode" in effect or "set_values" in effect
            if mode == "set" and not chosen and own:
                yield Problem(f"{where}.set_values", "config.set_values_empty")
        yield from _api_paths(name, api)


def _api_paths(name: str, api: dict[str, Any]) -> Iterator[Problem]:
    path = api.get("path")
    header = api.get("token_header", "Authorization")
    default_path = path in (None, "/api/v1/imports")
    if default_path and isinstance(header, str) and header.lower() != "authorization":
        yield Problem(f"accounts.{name}.api.token_header", "config.token_header")
    if isinstance(path, str) and any(
        path == own or path.startswith(f"{own}/") for own in _OWN_PATHS
    ):
        yield Problem(f"accounts.{name}.api.path", "config.own_path", {"value": repr(path)})


def _filenames(raw: dict[str, Any]) -> Iterator[Problem]:
    """Every file-name pattern compiles; one that does not is named with why."""
    for name, account in _accounts(raw):
        where = f"accounts.{name}.filename"
        patterns = account.get("filename")
        patterns = [patterns] if isinstance(patterns, str) else patterns
        if patterns == []:
            yield Problem(where, "config.no_filenames")
        for pattern in patterns if isinstance(patterns, list) else []:
            if not isinstance(pattern, str):
                continue  # the model names the wrong type
            try:
                compile_pattern(pattern)
            except PatternError as exc:
                params = {"value": repr(pattern), "detail": exc}
                yield Problem(where, "config.bad_pattern", params)
                continue
            if pattern.lower().endswith(EXCEL_SUFFIXES) and account.get("excel") is not True:
                # Every file it takes would fail as "workbooks are off".
                yield Problem(where, "config.pattern_needs_excel", {"value": repr(pattern)})


def _unique(raw: dict[str, Any], section: str, key: str, fold: Any) -> Iterator[Problem]:
    owners: dict[str, str] = {}
    for name, account in _accounts(raw):
        value = _dict(account.get(section)).get(key)
        if not isinstance(value, str):
            continue
        folded = fold(value)
        if folded in owners:
            params = {"value": repr(value), "field": key, "owner": owners[folded]}
            yield Problem(f"accounts.{name}.{section}.{key}", "config.taken", params)
        else:
            owners[folded] = name


def _listeners(raw: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(section, host:port) of every listener that will be bound."""
    for section, default in _LISTENER_DEFAULTS.items():
        table = _dict(raw.get(section))
        listen = table.get("listen", default)
        if table.get("enabled", True) is not False and isinstance(listen, str):
            yield section, listen


def _same_listen(raw: dict[str, Any]) -> Iterator[Problem]:
    """Two listeners on one address: the second could never bind. A wildcard host takes
    the port on every address; port 0 is a new free port each time."""
    taken: list[tuple[str, str, int]] = []
    for section, listen in _listeners(raw):
        try:
            host, port = split_listen(listen)
        except ValueError:
            continue  # the model names a listen that is not host:port
        host = "127.0.0.1" if host == "localhost" else host
        for other, other_host, other_port in taken:
            clash = host == other_host or host in _WILDCARDS or other_host in _WILDCARDS
            if port and port == other_port and clash:
                params = {"value": repr(listen), "other": f"{other}.listen"}
                yield Problem(f"{section}.listen", "config.same_listen", params)
                break
        taken.append((section, host, port))


def _passive_overlap(raw: dict[str, Any]) -> Iterator[Problem]:
    """A listener's port inside FTP's passive range: a session's data port would be
    taken by the listener, or the listener find its port held by a transfer."""
    listeners = dict(_listeners(raw))
    if "ftp" not in listeners:
        return
    value = _dict(raw.get("ftp")).get(
        "passive_ports", FtpSettings.model_fields["passive_ports"].default
    )
    low, _, high = str(value).partition("-")
    if not (low.isdigit() and high.isdigit()):
        return  # the model says what is wrong with the range
    try:
        ftp_host, _ = split_listen(listeners["ftp"])
    except ValueError:
        return
    for section, listen in listeners.items():
        try:
            host, port = split_listen(listen)
        except ValueError:
            continue
        clash = host == ftp_host or host in _WILDCARDS or ftp_host in _WILDCARDS
        if clash and int(low) <= port <= int(high):
            params = {"value": repr(value), "other": f"{section}.listen", "listen": listen}
            yield Problem("ftp.passive_ports", "config.passive_overlap", params)


def _passive_ports_few(settings: Settings) -> Iterator[Problem]:
    """A passive range smaller than ftp.max_connections: sessions past its size find
    every port taken and their transfers refused (425), as the door never uses a port
    outside the range (a firewall opening only the range would block it)."""
    ftp = settings.ftp
    low, _, high = ftp.passive_ports.partition("-")
    count = int(high) - int(low) + 1
    if ftp.enabled and count < ftp.max_connections:
        params = {"value": repr(ftp.passive_ports), "count": count, "sessions": ftp.max_connections}
        yield Problem("ftp.passive_ports", "config.passive_ports_few", params)


def _secret_values(raw: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    yield "api.admin_token", _dict(raw.get("api")).get("admin_token")
    yield "store.url", _dict(raw.get("store")).get("url")
    for name, account in _accounts(raw):
        yield f"accounts.{name}.ftp.password", _dict(account.get("ftp")).get("password")
        yield f"accounts.{name}.api.token", _dict(account.get("api")).get("token")


def _public_listeners(raw: dict[str, Any]) -> list[str]:
    public = []
    for section, listen in _listeners(raw):
        try:
            loopback = is_loopback(listen)
        except ValueError:
            continue
        if not loopback:
            public.append(f"{section}.listen = {listen!r}")
    return public


def _secrets(raw: dict[str, Any]) -> Iterator[Problem]:
    public = _public_listeners(raw)
    for key, value in _secret_values(raw):
        if not isinstance(value, str):
            continue
        if (problem := env_problem(key, value)) is not None:
            yield problem
        elif value.startswith(DEMO_PREFIX) and public:
            yield Problem(key, "config.demo_secret", {"listeners": ", ".join(public)})


def served_checks(settings: Settings) -> list[Problem]:
    """What is wrong with `settings` as a reload serves it: the keys a restart would
    change (listeners, data_dir) are kept as they were (restart.keep_started), so a
    config whose own listeners are all loopback could put its demo secrets on a public
    one, and one whose drop folder is outside its own data_dir could sit inside the
    data_dir still served."""
    demo = [p for p in _secrets(settings.model_dump(mode="json")) if p.key == "config.demo_secret"]
    return [*demo, *path_checks(settings)]


def _transport(raw: dict[str, Any]) -> Iterator[Problem]:
    """TLS that is asked for has its certificate; a relay login never goes in clear."""
    for section in ("smtp", "ftp", "api"):
        table = _dict(raw.get(section))
        has_cert = table.get("tls_cert") is not None
        if table.get("require_tls") is True and not has_cert:
            params = {"cert": f"{section}.tls_cert"}
            yield Problem(f"{section}.require_tls", "config.tls_needs_cert", params)
        if table.get("tls_key") is not None and not has_cert:
            params = {"cert": f"{section}.tls_cert"}
            yield Problem(f"{section}.tls_key", "config.tls_key_alone", params)
    report = _dict(raw.get("report"))
    if report.get("user") is not None and report.get("tls", "off") not in ("required", "implicit"):
        yield Problem("report.user", "config.login_needs_tls")
    password = report.get("password")
    if password is not None and report.get("user") is None:
        yield Problem("report.password", "config.password_alone")
    if (problem := env_problem("report.password", password)) is not None:
        yield problem


def _tls_files(settings: Settings) -> Iterator[Problem]:
    """Each certificate with its key, and the relay's CA file, loaded as the listener or
    the reporter will load them."""
    from daemon.settings.tls import client_context, server_context

    for section in ("smtp", "ftp", "api"):
        conf = getattr(settings, section)
        if conf.tls_cert is None:
            continue
        cert = settings.path(conf.tls_cert)
        key = settings.path(conf.tls_key) if conf.tls_key else None
        try:
            server_context(cert, key)
        except (OSError, ssl.SSLError) as exc:
            yield Problem(f"{section}.tls_cert", "config.tls_file", {"detail": _why(exc)})
    if settings.report.tls_ca is not None:
        try:
            client_context(settings.path(settings.report.tls_ca))
        except (OSError, ssl.SSLError) as exc:
            yield Problem("report.tls_ca", "config.tls_file", {"detail": _why(exc)})


def _why(exc: Exception) -> object:
    if isinstance(exc, ssl.SSLError) or (isinstance(exc, OSError) and exc.errno):
        return OsTrouble(exc)  # TLS's reasons and the system's, in the catalog's words
    # A ValueError of settings/tls.py (an encrypted key) carries one sentence.
    return exc.args[0] if len(exc.args) == 1 and isinstance(exc.args[0], str) else str(exc)


# The folders renkei writes its own files in, under data_dir (the FTP homes apart,
# told by their own check; their folder, data_dir/ftp, is one of these too): a drop
# folder there would take renkei's files as a partner's.
OWN_FOLDERS = ("spool", "files", "reports", "outbox", "staging", "outward")


def _held_by(folder: Path, settings: Settings) -> Path | None:
    """The config's folder or data_dir when `folder` is or holds it: a drop folder
    there would take renkei.toml, the log, the database as a partner's files."""
    own = [settings.data_dir.resolve()]
    if settings.source is not None:
        own.insert(0, settings.source.parent.resolve())
    return next((path for path in own if folder == path or folder in path.parents), None)


def path_checks(settings: Settings) -> Iterator[Problem]:
    """data_dir a folder; drop folders, compared as resolved paths: one folder per
    account, none that is data_dir or one of renkei's own folders in it, and none in
    an FTP home, where the FTP check and the drop folder would both take each file."""
    data_dir = settings.data_dir.resolve()
    if (there := _file_in_the_way(data_dir)) is not None:
        yield Problem("daemon.data_dir", "config.data_dir_not_folder", {"path": there})
    elif (trouble := _cannot_make(data_dir)) is not None:  # serve would not start
        yield Problem("daemon.data_dir", "config.folder_cannot_make", trouble)
    own = [data_dir / name for name in OWN_FOLDERS]
    homes = {
        name: settings.ftp_home(name).resolve()
        for name, account in settings.accounts.items()
        if account.ftp is not None
    }
    for name, home in homes.items():
        if home.exists() and not home.is_dir():  # as handlers/ftp.py refuses it
            yield Problem(f"accounts.{name}.ftp", "config.ftp_home_not_folder", {"path": home})
    owners: dict[Path, str] = {}
    for name, account in settings.accounts.items():
        if account.dropdir is None:
            continue
        where = f"accounts.{name}.dropdir.path"
        written = repr(str(account.dropdir.path))
        folder = resolved(settings.path(account.dropdir.path))
        if (there := _file_in_the_way(folder)) is not None:
            # serve cannot start; a reload to it was refused with FileExistsError
            broken = os.path.islink(there) and not os.path.exists(there)
            key = "config.dropdir_broken_link" if broken else "config.dropdir_not_folder"
            yield Problem(where, key, {"path": there})
        elif (trouble := _cannot_make(folder)) is not None:
            # as for a file in its way; a reload to it logged a traceback at each retry
            yield Problem(where, "config.folder_cannot_make", trouble)
        if folder in owners:
            yield Problem(where, "config.same_dropdir", {"value": written, "owner": owners[folder]})
        owners.setdefault(folder, name)
        in_home = any(folder == home or home in folder.parents for home in homes.values())
        ftp_root = data_dir / "ftp"  # the homes' folder: told by the home check below
        if (
            folder == data_dir
            or any(folder == f or f in folder.parents for f in own)
            or (not in_home and (folder == ftp_root or ftp_root in folder.parents))
        ):
            params = {"value": written, "data_dir": data_dir}
            yield Problem(where, "config.dropdir_in_data_dir", params)
        elif held := _held_by(folder, settings):
            params = {"value": written, "held": held}
            yield Problem(where, "config.dropdir_holds_own", params)
        for owner, home in homes.items():
            if folder == home or home in folder.parents:
                params = {"value": written, "owner": owner, "home": home}
                yield Problem(where, "config.dropdir_in_ftp_home", params)
    yield from _tls_files(settings)
    yield from _listen_hosts(settings)


def _listen_hosts(settings: Settings) -> Iterator[Problem]:
    """Each listener's host is one this machine has: a name that does not resolve, or
    an address of another machine, passed check and then stopped serve. Tried by
    binding a port the system picks, let go at once (never the configured one, which a
    serving daemon holds)."""
    for section, listen in settings.listeners().items():
        host, _ = split_listen(listen)
        if host in _WILDCARDS or host == "localhost":
            continue
        try:
            found = socket.getaddrinfo(host, 0, type=socket.SOCK_STREAM)
            family, kind, proto, _, address = found[0]
            with socket.socket(family, kind, proto) as probe:
                if family == socket.AF_INET6 and section == "smtp":
                    # asyncio's create_server (the SMTP door) binds IPv6 only, where
                    # an IPv4-mapped address (::ffff:127.0.0.1) is refused.
                    probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                probe.bind(address)
        except OSError as exc:
            params = {"value": repr(listen), "detail": OsTrouble(exc)}
            yield Problem(f"{section}.listen", "config.listen_host", params)


def _cannot_make(folder: Path) -> dict[str, object] | None:
    """Why `folder`, not there yet, cannot be made (renkei makes it at start): its
    nearest parent that is there is on a read-only file system or not ours to write.
    Looked at by access(2), never by making anything."""
    parent = _nearest(folder)
    if parent in (None, folder) or not parent.is_dir() or os.access(parent, os.W_OK | os.X_OK):
        return None
    code = errno.EROFS if os.statvfs(parent).f_flag & os.ST_RDONLY else errno.EACCES
    return {"path": folder, "parent": parent, "detail": OsTrouble(OSError(code, ""))}


def _file_in_the_way(folder: Path) -> Path | None:
    """The file at `folder`, or at the nearest of its parents that is there: a file in
    its path makes the folder as impossible to create as a file in its place."""
    there = _nearest(folder)
    return there if there is not None and not there.is_dir() else None


def _nearest(folder: Path) -> Path | None:
    """`folder`, or the nearest of its parents that is there (None: not even `/`); a
    link counts, one that leads nowhere or round in a loop too (it is in the way)."""
    return next((p for p in (folder, *folder.parents) if os.path.lexists(p)), None)


# File systems every instance of a shared store can see the same files on; `fuse.*`
# (sshfs, s3fs, glusterfs over FUSE, …) counts too.
SHARED_FILESYSTEMS = frozenset(
    ("nfs", "nfs4", "cifs", "smb3", "smbfs", "ceph", "glusterfs", "lustre", "gpfs", "gfs2")
)
MOUNTINFO = Path("/proc/self/mountinfo")


def filesystem_type(path: Path, mountinfo: str | None = None) -> str | None:
    """The type of the file system `path` is on (or would be, when it does not exist
    yet), from Linux's mountinfo; None when that cannot be told."""
    if mountinfo is None:
        try:
            mountinfo = MOUNTINFO.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None  # not Linux, or no /proc: no guess
    target = path.resolve()
    best, found = -1, None
    for line in mountinfo.splitlines():
        # 36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw,errors=…
        fields, sep, rest = line.partition(" - ")
        parts = fields.split()
        if not sep or len(parts) < 5 or not rest.split():
            continue
        point = Path(_unescape(parts[4]))
        # The deepest mount point above it; of two on one point, the later is on top.
        if (point == target or point in target.parents) and len(point.parts) >= best:
            best, found = len(point.parts), rest.split()[0]
    return found


def _unescape(text: str) -> str:
    # mountinfo writes space, tab, newline and backslash in paths as \ooo
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), text)


def is_shared_filesystem(kind: str) -> bool:
    return kind in SHARED_FILESYSTEMS or kind.startswith("fuse.")


def _open_data_dir(settings: Settings) -> Iterator[Problem]:
    """renkei makes data_dir 0750, but one made beforehand keeps its own mode, and what
    renkei writes in it follows the umask: in a data_dir others may enter, any local
    user reads the partners' files and the database."""
    try:
        mode = stat.S_IMODE(settings.data_dir.stat().st_mode)
    except OSError:
        return  # not made yet (renkei makes it 0750), or said elsewhere
    if mode & 0o007:
        params = {"path": settings.data_dir, "mode": f"{mode:04o}"}
        yield Problem("daemon.data_dir", "config.data_dir_open", params)


def _local_ftp_homes(settings: Settings) -> Iterator[Problem]:
    """With a shared store, whichever instance runs a tick's FTP check takes the files,
    so every instance must see every FTP home: on a local disk, an upload through one
    instance is never seen by the checks of the others."""
    if settings.store.url is None or not settings.ftp.enabled:
        return
    for name, account in settings.accounts.items():
        if account.ftp is None:
            continue
        kind = filesystem_type(settings.ftp_home(name))
        if kind is not None and not is_shared_filesystem(kind):
            params = {"path": settings.data_dir / "ftp", "fstype": kind}
            yield Problem("daemon.data_dir", "config.ftp_home_local", params)
            return  # one warning says it: the homes sit side by side


EXPIRING_DAYS = 30  # a certificate ending sooner than this is warned of


def _certificate_dates(settings: Settings, now: dt.datetime | None = None) -> Iterator[Problem]:
    """A listener's certificate past its end (every verifying client refuses it) or
    ending within EXPIRING_DAYS, and a key file others may read: check said nothing,
    and a partner's client failed with 'certificate verify failed'."""
    from cryptography import x509

    now = now or dt.datetime.now(dt.UTC)
    for section in ("smtp", "ftp", "api"):
        conf = getattr(settings, section)
        if conf.tls_cert is None:
            continue
        cert_path = settings.path(conf.tls_cert)
        try:
            [leaf, *_] = x509.load_pem_x509_certificates(cert_path.read_bytes())
        except (OSError, ValueError):
            continue  # unreadable: _tls_files says why
        end = leaf.not_valid_after_utc
        params = {"path": cert_path, "date": end.date().isoformat()}
        if end <= now:
            yield Problem(f"{section}.tls_cert", "config.tls_cert_expired", params)
        elif end - now < dt.timedelta(days=EXPIRING_DAYS):
            days = (end - now).days
            yield Problem(
                f"{section}.tls_cert", "config.tls_cert_expiring", params | {"days": days}
            )
        key_path = settings.path(conf.tls_key) if conf.tls_key else None
        with contextlib.suppress(OSError):
            mode = key_path.stat().st_mode & 0o777 if key_path is not None else 0
            if mode & 0o077:
                yield Problem(
                    f"{section}.tls_key",
                    "config.tls_key_open",
                    {"path": key_path, "mode": f"{mode:04o}"},
                )


def _homes_of_no_account(settings: Settings) -> Iterator[Problem]:
    """An FTP home is the account's name's folder: an account renamed (or its FTP
    removed) leaves the files uploaded to the old one there, which no check takes and
    nothing said."""
    homes = settings.data_dir / "ftp"
    served = {settings.ftp_home(name) for name, a in settings.accounts.items() if a.ftp}
    try:
        folders = sorted(p for p in homes.iterdir() if p.is_dir() and p not in served)
    except OSError:
        return  # none yet (or unreadable: path_checks and the door say so)
    from handlers.ftphome import waiting_uploads  # handlers import the settings

    for folder in folders:
        try:
            count = waiting_uploads(folder)
        except OSError:
            continue
        if count:
            params = {"path": folder, "count": count}
            yield Problem("accounts", "config.ftp_home_of_no_account", params)


def _report_from_account(settings: Settings) -> Iterator[Problem]:
    """Bounces and auto-replies go to a report's From: when that is an account's
    address, or in the domain whose mail comes to renkei, they come back to the door
    (taken there as automatic mail, handlers/automail.py) and no one ever reads them."""
    sender = settings.report.from_.lower()
    domain = sender.rpartition("@")[2]
    same_domain = None
    for name, account in settings.accounts.items():
        address = account.mail.address.lower() if account.mail else ""
        params = {"address": sender, "account": name}
        if address == sender:
            yield Problem("report.from", "config.report_from_account", params)
            return
        if same_domain is None and address.rpartition("@")[2] == domain:
            same_domain = Problem(
                "report.from",
                "config.report_from_account_domain",
                params | {"account_address": address},
            )
    if same_domain is not None:
        yield same_domain


def _decimal_keys(settings: Settings) -> Iterator[Problem]:
    """A decimal is stored as written (`1.50` stays `1.50`), so a key of one matches as
    written: 1.5 and 1.50 are two records, and an upsert adds a duplicate."""
    for name, layout in settings.layouts.items():
        types = {column.name: column.type for column in layout.columns}
        for column in layout.key:
            if types.get(column) == "decimal":
                yield Problem(f"layouts.{name}.key", "config.decimal_key", {"column": column})


def _secrets_twice(settings: Settings) -> Iterator[Problem]:
    """A secret given both as itself and as its sha256: either one is taken, so the old
    one an admin meant to replace by the other still lets its holder in."""
    pairs = [("api", "admin_token", settings.api.admin_token, settings.api.admin_token_sha256)]
    for name, account in settings.accounts.items():
        if account.api is not None:
            pairs.append(
                (f"accounts.{name}.api", "token", account.api.token, account.api.token_sha256)
            )
        if account.ftp is not None:
            ftp = account.ftp
            pairs.append((f"accounts.{name}.ftp", "password", ftp.password, ftp.password_sha256))
    for where, key, literal, digest in pairs:
        if literal and digest:
            yield Problem(f"{where}.{key}_sha256", "config.secret_twice", {"name": key})


def check_warnings(settings: Settings) -> list[Problem]:
    """What is allowed but most likely not meant: said, never refused."""
    return [
        *_open_data_dir(settings),
        *_local_ftp_homes(settings),
        *_passive_ports_few(settings),
        *_homes_of_no_account(settings),
        *_certificate_dates(settings),
        *_report_from_account(settings),
        *unkeyed_writes(settings),
        *_reference_type_warnings(settings),
        *_decimal_keys(settings),
        *(
            Problem(f"accounts.{name}.mail.allowed_senders", "config.no_senders")
            for name, account in settings.accounts.items()
            if account.mail is not None and not account.mail.allowed_senders
        ),
        *(
            Problem(f"accounts.{name}.ftp.weekdays", "config.no_weekdays")
            for name, account in settings.accounts.items()
            if account.ftp is not None and not account.ftp.weekdays
        ),
        *_secrets_twice(settings),
        *(
            Problem(f"accounts.{name}.sheet", "config.sheet_without_excel")
            for name, account in settings.accounts.items()
            if account.sheet is not None and not account.excel
        ),
        *(
            Problem(f"accounts.{name}.ftp", "config.ftp_off")
            for name, account in settings.accounts.items()
            if account.ftp is not None and not settings.ftp.enabled
        ),
        *(
            Problem(f"accounts.{name}.ftp.window", "config.window_instant", {"at": start})
            for name, account in settings.accounts.items()
            if account.ftp is not None
            and account.ftp.weekdays
            and (start := account.ftp.window.partition("-")[0])
            == account.ftp.window.partition("-")[2]
        ),
        *(
            Problem(f"accounts.{name}.expect.weekdays", "config.expect_no_weekdays")
            for name, account in settings.accounts.items()
            if account.expect is not None and account.expect.weekdays == []
        ),
        *(
            Problem(f"accounts.{name}.ftp", "config.ftp_no_password")
            for name, account in settings.accounts.items()
            if account.ftp is not None
            and account.ftp.password is None
            and account.ftp.password_sha256 is None
        ),
        *(
            Problem(f"users.{name}.accounts", "config.admin_accounts")
            for name, user in settings.users.items()
            if user.role == "admin" and user.accounts
        ),
        *(
            Problem(f"users.{name}.accounts", "config.user_no_accounts")
            for name, user in settings.users.items()
            if user.role != "admin" and not user.accounts
        ),
    ]
