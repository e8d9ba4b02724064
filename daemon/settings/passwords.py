"""Console passwords: scrypt hashes made by `renkei passwd` and kept in `[users.NAME]`.

scrypt is in the standard library (hashlib) and costly enough to make a stolen config
slow to guess from. The hash names its parameters, so they can grow later without
invalidating hashes already written.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

_SCHEME = "scrypt"
# 16 MiB of memory per check: the cost OWASP names for scrypt.
_N, _R, _P = 2**14, 8, 1
_MAX_MEMORY = 64 * 1024 * 1024


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = _derive(password, salt, _N, _R, _P)
    return "$".join((_SCHEME, str(_N), str(_R), str(_P), _b64(salt), _b64(digest)))


def verify_password(password: str, stored: str) -> bool:
    """Whether `password` is the one `stored` was made from; never raises on a bad hash."""
    parts = _parts(stored)
    if parts is None:
        return False
    n, r, p, salt, digest = parts
    return hmac.compare_digest(_derive(password, salt, n, r, p), digest)


def is_password_hash(value: str) -> bool:
    return _parts(value) is not None


def _parts(value: str) -> tuple[int, int, int, bytes, bytes] | None:
    fields = value.split("$")
    if len(fields) != 6 or fields[0] != _SCHEME:
        return None
    try:
        n, r, p = (int(f) for f in fields[1:4])
        salt, digest = (
            base64.b64decode(fields[4], validate=True),
            base64.b64decode(fields[5], validate=True),
        )
    except ValueError:
        return None
    # A power of two that scrypt can compute within the memory it is given.
    if n < 2 or n & (n - 1) or not 1 <= r <= 32 or not 1 <= p <= 16 or 128 * n * r > _MAX_MEMORY:
        return None
    if not salt or len(digest) != 32:
        return None
    return n, r, p, salt, digest


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=_MAX_MEMORY * 2, dklen=32
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
