"""An account's FTP home: where it is, what an upload in progress is called there,
and which names are the door's own.

An upload is written under a temporary name of its own, `.NAME.<random>.part`, so two
uploads of one name at once never share a file. Names starting with "." (uploads in
progress, the check's claims) belong to the door: a client never sees them listed.
Used by handlers/ftp.py.
"""

from __future__ import annotations

import contextlib
import logging
import posixpath
import secrets
import time
from pathlib import Path

from pyftpdlib.filesystems import AbstractedFS

from daemon.settings import Settings

log = logging.getLogger(__name__)

PART_SUFFIX = ".part"


def ftp_home(settings: Settings, account: str) -> Path:
    return settings.data_dir / "ftp" / account


def part_name(name: str) -> str:
    """The temporary name of one upload of `name`: its own, whoever else sends `name`."""
    return f".{name}.{secrets.token_hex(8)}{PART_SUFFIX}"


def final_name(partial: str) -> str:
    """The name an upload written as `.NAME.<random>.part` gets once complete."""
    if not (partial.startswith(".") and partial.endswith(PART_SUFFIX)):
        return partial
    return partial[1 : -len(PART_SUFFIX)].rpartition(".")[0]


def hidden(path: str) -> bool:
    """Whether the client's `path` goes through a name starting with "." (`.x`, `.x/y`)."""
    parts = posixpath.normpath(path).split("/")
    return any(part.startswith(".") and part not in (".", "..") for part in parts)


class HomeFS(AbstractedFS):
    """An account's home as its client sees it: without the door's own names."""

    def listdir(self, path: str) -> list[str]:
        return [name for name in super().listdir(path) if not name.startswith(".")]


# An upload's temporary file untouched this long was left by a session that ended
# without closing it (the daemon killed mid-upload): pyftpdlib ends an idle data
# connection after 300 s. Another instance of a shared store may be writing a younger one.
STALE_PART_SECONDS = 3600


def drop_if_stale(path: Path) -> None:
    """Remove `path` if it is an upload's temporary file left long ago."""
    if not path.name.endswith(PART_SUFFIX):
        return
    with contextlib.suppress(OSError):  # gone meanwhile: its upload ended after all
        if time.time() - path.stat().st_mtime > STALE_PART_SECONDS:
            path.unlink()
            log.info("ftp: removed %s, an upload left unfinished", path)
