"""The console's secret: it signs the session cookie and derives the CSRF tokens.

Kept in `data_dir/console.key` (made on first use, readable by renkei alone), so a
restart keeps everyone logged in and a second renkei on the same data reads the same.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from daemon.serving import make_data_dir
from daemon.spool.durable import fsync_dir

KEY_FILE = "console.key"


class Signer:
    def __init__(self, key: bytes) -> None:
        self._key = key

    @classmethod
    def for_data_dir(cls, data_dir: Path) -> Signer:
        path = data_dir / KEY_FILE
        try:
            return cls(path.read_bytes())
        except FileNotFoundError:
            pass
        make_data_dir(data_dir)
        key = secrets.token_bytes(32)
        tmp = path.with_name(f".{KEY_FILE}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, key)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)  # never replaces a key another process made first
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
        fsync_dir(data_dir)
        return cls(path.read_bytes())

    def sign(self, value: str) -> str:
        return f"{value}.{self._mac('cookie', value)}"

    def unsign(self, signed: str) -> str | None:
        value, _, mac = signed.rpartition(".")
        # As bytes: compare_digest refuses str with other than ASCII, which a forged
        # cookie may hold (a TypeError, a 500, instead of a refusal).
        if not value or not hmac.compare_digest(mac.encode(), self._mac("cookie", value).encode()):
            return None
        return value

    def token(self, purpose: str, value: str) -> str:
        """A token bound to `value` (a session id) for one `purpose` (csrf, login)."""
        return self._mac(purpose, value)

    def token_ok(self, purpose: str, value: str, token: str) -> bool:
        return bool(value) and hmac.compare_digest(
            token.encode(), self._mac(purpose, value).encode()
        )

    def _mac(self, purpose: str, value: str) -> str:
        digest = hmac.new(self._key, f"{purpose}:{value}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")
