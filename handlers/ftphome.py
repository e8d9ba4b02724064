"""An account's FTP home: where it is, what an upload in progress is called there,
which names are the door's own, and the order the waiting uploads are taken in.

An upload is written under a temporary name of its own, `.NAME.<random>.part`, so two
uploads of one name at once never share a file. Once complete it takes its name; an
earlier upload of the name still waiting for the check is first moved aside, under
`..held-<stamp>-NAME` (a stamp sortable by time): both were accepted, and the check
takes each, in the order they came. Names starting with "." (uploads in progress,
uploads held aside, the check's claims) belong to the door: a client never sees them
listed. Used by handlers/ftp.py.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import posixpath
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from pyftpdlib.filesystems import AbstractedFS

from daemon.settings import Settings
from handlers.claims import Claim, remove_holder, set_aside, stamped

log = logging.getLogger(__name__)

PART_SUFFIX = ".part"
# An upload moved aside for a later one of its name. A part name is "." and a name not
# starting with ".": it never starts with "..".
HELD_PREFIX = "..held-"
_HELD = stamped(HELD_PREFIX)
# Publishing and the check's claiming, one at a time in a home: sessions' threads and
# the check's thread here, and with flock() the instances sharing the homes.
_HOMES = threading.Lock()


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


@contextlib.contextmanager
def home_lock(home: Path) -> Iterator[None]:
    """Held while an upload takes its name and while the check claims the uploads:
    a check never takes a later upload of a name while it misses the earlier one."""
    with _HOMES:
        fd = os.open(home, os.O_RDONLY | os.O_DIRECTORY)
        try:
            with contextlib.suppress(OSError):  # no flock there (NFS): this process only
                fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)


def publish(partial: Path, stamp: Callable[[], str]) -> Path:
    """Give a finished upload its name; an earlier upload of the name still waiting is
    held aside (stamped by `stamp()`), never replaced. The upload's path."""
    home, name = partial.parent, final_name(partial.name)
    final = home / name
    with home_lock(home):
        if os.path.lexists(final):
            # Gone meanwhile: taken by the check of an instance without flock() here.
            with contextlib.suppress(FileNotFoundError):
                hold(home, final, stamp(), name)
        os.rename(partial, final)
    return final


def hold(home: Path, path: Path, stamp: str, name: str) -> Path:
    """Move the upload at `path` aside in `home`, to be taken at the next check in the
    order of `stamp` among the uploads of `name`; where it now is."""
    return set_aside(path, home, HELD_PREFIX, stamp, name)[0]


def hold_back(home: Path, claimed: Claim) -> None:
    """A claimed upload not spooled goes back to wait, in the order its run id says
    (the time it was claimed: after every upload of its name held before)."""
    hold(home, claimed.path, claimed.run_id, claimed.name)
    remove_holder(claimed.holder)


def waiting(home: Path) -> list[tuple[Path, str]]:
    """The complete uploads in `home`, each with the name it was sent as, in the order
    the check takes them: by name, and the uploads of one name in the order they came
    (those held aside, then the one under the name, the last to come)."""
    found: list[tuple[str, int, str, Path]] = []
    for path in home.iterdir():
        held = _HELD.fullmatch(path.name)
        if held is not None:
            found.extend(_held(path, *held.groups()))
        elif path.name.startswith("."):
            drop_if_stale(path)
        elif path.is_file():
            found.append((path.name, 1, "", path))
    found.sort()
    return [(path, name) for name, _, _, path in found]


def _held(path: Path, stamp: str, name: str | None) -> list[tuple[str, int, str, Path]]:
    if name is not None:
        return [(name, 0, stamp, path)] if path.is_file() else []
    if not path.is_dir():
        return []
    inside = [(p.name, 0, stamp, p) for p in path.iterdir() if p.is_file()]
    if not inside:
        remove_holder(path)  # its upload taken, the folder left by a crash
    return inside


def unhold(path: Path, home: Path) -> None:
    """Remove the folder a long name was held in, once its upload was claimed."""
    if path.parent != home:
        remove_holder(path.parent)
