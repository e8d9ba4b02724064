"""Keyed layouts written by modes that never match keys: a warning, read from the
settings alone, that check_warnings says (`renkei check`, the daemon's start and reload).

replace_file and insert add each row as it comes, without looking its key up. On a
layout with `key`, a key sent twice then becomes two rows, and the upsert, set or
delete that follows matches both: the table no longer says one thing per key.
"""

from __future__ import annotations

from collections.abc import Iterator

from daemon.settings.model import Account, Settings
from daemon.settings.problems import Problem

UNKEYED_MODES = ("replace_file", "insert")


def unkeyed_writes(settings: Settings) -> Iterator[Problem]:
    """One warning per account (or request parameter value) whose mode adds rows to a
    keyed layout without matching their key."""
    for name, account in settings.accounts.items():
        for where, layout, mode in _writes(name, account):
            key = settings.layouts[layout].key if layout in settings.layouts else []
            if key and mode in UNKEYED_MODES:
                params = {
                    "account": name,
                    "layout": layout,
                    "mode": mode,
                    "columns": ", ".join(key),
                }
                yield Problem(where, "config.keyed_layout_unkeyed_mode", params)


def _writes(name: str, account: Account) -> Iterator[tuple[str, str, str]]:
    """(key path of the mode, layout, mode) of each way the account writes: its own, and
    each API request parameter value that picks another layout or mode."""
    yield f"accounts.{name}.mode", account.layout, account.mode
    params = account.api.params if account.api is not None else {}
    for param, values in params.items():
        for value, effect in values.items():
            if effect.mode is None and effect.layout is None:
                continue  # writes as the account does: said once above
            where = f"accounts.{name}.api.params.{param}.{value}"
            where += ".mode" if effect.mode is not None else ".layout"
            yield where, effect.layout or account.layout, effect.mode or account.mode
