"""Secrets of the config: `env:NAME` read from the environment, or a sha256 to compare.

Used by every door that checks a password or a token.
"""

from __future__ import annotations

import hashlib
import hmac
import os


def resolve_secret(value: str | None) -> str | None:
    """A secret's clear text: `env:NAME` reads the environment, anything else is literal."""
    if value is None:
        return None
    if value.startswith("env:"):
        return os.environ.get(value[4:])
    return value


def secret_matches(given: str, literal: str | None, sha256: str | None) -> bool:
    """Whether `given` is the secret, written literally/`env:` or as its sha256 hex.

    Compared in constant time, so a wrong guess reveals nothing by its timing.
    """
    ok = False
    secret = resolve_secret(literal)
    if secret:
        ok |= hmac.compare_digest(given.encode(), secret.encode())
    if sha256:
        digest = hashlib.sha256(given.encode()).hexdigest()
        ok |= hmac.compare_digest(digest, sha256.lower())
    return ok
