"""Secrets of the raw config that must resolve or be told apart: an `env:NAME` that is
set, and an API token that is one account's alone.

Called by checks.cross_checks, on the raw TOML like the other cross checks.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from typing import Any

from daemon.settings.problems import Problem
from daemon.settings.secrets import resolve_secret

_SHA256 = re.compile(r"[0-9A-Fa-f]{64}")


def env_problem(key: str, value: Any) -> Problem | None:
    """What is wrong with an `env:NAME` value: no name, or a variable that is unset or
    set empty (`NAME=` in a unit's environment file): the secret would be empty, a
    door that compares by prefix would take anything, and a header would go out blank."""
    if not isinstance(value, str) or not value.startswith("env:"):
        return None
    name = value[4:]
    if not name:
        return Problem(key, "config.env_no_name")
    if name not in os.environ:
        return Problem(key, "config.env_unset", {"name": name})
    if not os.environ[name].strip():  # a space left after `NAME=` is as empty
        return Problem(key, "config.env_empty", {"name": name})
    return None


def header_problems(raw: dict[str, Any]) -> Iterator[Problem]:
    """A send's or a call's header read from the environment, like any other secret."""
    for section in ("sends", "calls"):
        for name, item in _dict(raw.get(section)).items():
            for header, value in _dict(_dict(item).get("headers")).items():
                problem = env_problem(f"{section}.{name}.headers.{header}", value)
                if problem is not None:
                    yield problem


def token_clashes(raw: dict[str, Any]) -> Iterator[Problem]:
    """An API token names its account: one shared by two accounts would file the second
    one's uploads as the first's, and one equal to api.admin_token would read every
    account's runs. Compared as the daemon compares them (env: resolved, sha256 too)."""
    api = _dict(raw.get("api"))
    admin = _digests(api.get("admin_token"), api.get("admin_token_sha256"))
    owners: dict[str, str] = {}  # a token's sha256 → the key that holds it first
    for name, account in _dict(raw.get("accounts")).items():
        own = _dict(_dict(account).get("api"))
        field = "token" if own.get("token") is not None else "token_sha256"
        where = f"accounts.{name}.api.{field}"
        digests = _digests(own.get("token"), own.get("token_sha256"))
        if digests & admin:
            yield Problem(where, "config.token_is_admin")
        owner = next((owners[d] for d in sorted(digests) if d in owners), None)
        if owner is not None:
            yield Problem(where, "config.token_taken", {"owner": owner})
        for digest in digests:
            owners.setdefault(digest, where)


def _digests(token: Any, sha256: Any) -> set[str]:
    found = set()
    secret = resolve_secret(token) if isinstance(token, str) else None
    if secret:
        found.add(hashlib.sha256(secret.encode()).hexdigest())
    if isinstance(sha256, str) and _SHA256.fullmatch(sha256):
        found.add(sha256.lower())
    return found


def is_sha256(value: str) -> bool:
    return _SHA256.fullmatch(value) is not None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
