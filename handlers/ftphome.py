"""An account's FTP home: where it is, what an upload in progress is called there,
which names are the door's own, and the order the waiting uploads are taken in.

An upload is written under a temporary name of its own, `.NAME.<random>.part`, so two
uploads of one name at once never share a file. Once complete it takes its name; an
earlier upload of the name still waiting for the check is first moved aside, under
`..held-<stamp>-NAME` (a stamp sortable by time): both were accepted, and the check
takes each, in the order they came: by the time of their 226, which publish() gives
each as its mtime, whatever their names. Names starting with "." (uploads in progress,
uploads held aside, the check's claims) belong to the door: a client never sees them
listed. A name the client sees stands for every upload of it still waiting, those held
aside too: a DELE withdraws them all and a rename moves them all (withdraw,
rename_uploads), so what the client sees listed is what the check takes. Used by
the FTP door: handlers/ftp.py, ftpsession.py (HomeFS), ftpnames.py and ftpdata.py.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import logging
import os
import posixpath
import secrets
import stat
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

from pyftpdlib.filesystems import AbstractedFS

from daemon.settings import Settings
from handlers.claims import NAME_MAX, Claim, remove_holder, set_aside, stamped

log = logging.getLogger(__name__)

PART_SUFFIX = ".part"
# An upload moved aside for a later one of its name. A part name is "." and a name not
# starting with ".": it never starts with "..".
HELD_PREFIX = "..held-"
_HELD = stamped(HELD_PREFIX)


def waiting_uploads(home: Path) -> int:
    """The uploads waiting in an FTP home: under their names, and moved aside for a
    later one of the name (`..held-…`, a file, or a folder for a long name), which a
    plain `ls` or `mv *` passes over and were not counted. OSError if unreadable."""
    count = 0
    for path in home.iterdir():
        if path.name.startswith(HELD_PREFIX) and path.is_dir():
            count += sum(1 for inside in path.iterdir() if inside.is_file())
        elif path.is_file() and (path.name.startswith(HELD_PREFIX) or path.name[:1] != "."):
            count += 1
    return count


# Publishing and the check's claiming, one at a time in a home: the FTP server's
# threads and the check's here (a lock per home, so that a check of one account's
# home keeps no other account's session waiting on the FTP server's I/O thread), and
# with flock() the instances sharing the homes.
_HOMES: dict[str, threading.Lock] = {}
_HOMES_MADE = threading.Lock()


def ftp_home(settings: Settings, account: str) -> Path:
    return settings.data_dir / "ftp" / account


def part_name(name: str) -> str:
    """The temporary name of one upload of `name`: its own, whoever else sends `name`."""
    return f".{name}.{secrets.token_hex(8)}{PART_SUFFIX}"


# The longest name (in bytes) an upload may have: its temporary name is 23 bytes longer,
# and a file system takes no name over NAME_MAX.
MAX_NAME_BYTES = NAME_MAX - len(part_name(""))


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

    open_error: OSError | None = None  # why the last open failed (UploadHandler.ftp_STOR)

    def open(self, filename: str, mode: str):  # noqa: ANN201 - pyftpdlib's file object
        try:
            return super().open(filename, mode)
        except OSError as exc:
            self.open_error = exc
            raise

    def listdir(self, path: str) -> list[str]:
        return [name for name in super().listdir(path) if not name.startswith(".")]

    def validpath(self, path: str) -> bool:
        """Whether `path` lies in the home once its symlinks are followed, as
        pyftpdlib's check says. That check resolves the home and the path from `/`,
        an lstat per folder of each, on every command (twice an upload, the FTP
        thread's largest share of one after the file's own system calls). Whatever
        the home resolves to, a path below it none of whose own parts is a symlink
        (or `..`) resolves to a path below that: only those parts are looked at."""
        root = os.path.normpath(self.root)
        if path == root:
            return True
        if not path.startswith(root + os.sep) or os.path.normpath(path) != path:
            return bool(super().validpath(path))
        here = root
        for part in path[len(root) + 1 :].split(os.sep):
            here = os.path.join(here, part)
            try:
                mode = os.lstat(here).st_mode
            except OSError:
                break  # nothing there (yet): its real path is the path as written
            if stat.S_ISLNK(mode):
                return bool(super().validpath(path))
        return True


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
def home_lock(home: str | Path) -> Iterator[None]:
    """Held while an upload takes its name and while the check claims the uploads:
    a check never takes a later upload of a name while it misses the earlier one."""
    with _HOMES_MADE:
        lock = _HOMES.setdefault(os.path.normpath(home), threading.Lock())
    with lock:
        fd = os.open(home, os.O_RDONLY | os.O_DIRECTORY)
        try:
            with contextlib.suppress(OSError):  # no flock there (NFS): this process only
                fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)


def publish(partial: str, stamp: Callable[[], str]) -> str:
    """Give a finished upload its name; an earlier upload of the name still waiting is
    held aside (stamped by `stamp()`), never replaced. The upload's path. Paths as text:
    pathlib's objects cost as much as the rename here."""
    home, part = os.path.split(partial)
    with home_lock(home):
        # Its mtime is the time of its 226, the check's order: set here, in the lock,
        # since two uploads' last writes may come in the other order than their names.
        now = time.time_ns()
        os.utime(partial, ns=(now, now))
        return _put(home, partial, final_name(part), stamp)


def arrival(path: Path) -> str:
    """When an upload got its 226 (publish set its mtime; a client cannot: no MFMT),
    in the run's time format (UTC ISO 8601 to the millisecond); '' when it cannot be
    read, and the spool then says now."""
    try:
        ns = path.stat().st_mtime_ns
    except OSError:
        return ""
    moment = dt.datetime.fromtimestamp(ns / 1e9, dt.UTC)
    return moment.isoformat(timespec="milliseconds")


def _put(home: str | Path, path: str | Path, name: str, stamp: Callable[[], str]) -> str:
    """Rename `path` to `name` in `home`, an upload waiting there under it held aside
    first; where it now is. Called in home_lock."""
    final = os.path.join(home, name)
    if os.path.lexists(final):
        # Gone meanwhile: taken by the check of an instance without flock() here.
        with contextlib.suppress(FileNotFoundError):
            hold(Path(home), Path(final), stamp(), name)
    os.rename(path, final)
    return final


def hold(home: Path, path: Path, stamp: str, name: str) -> Path:
    """Move the upload at `path` aside in `home`, as one of the uploads of `name`, after
    those held with an earlier `stamp` when they came at the same time; where it now is."""
    return set_aside(path, home, HELD_PREFIX, stamp, name)[0]


def hold_back(home: Path, claimed: Claim) -> None:
    """A claimed upload not spooled goes back to wait: under its name when that is free,
    so that the client sees it listed, else held aside. Its mtime keeps its order."""
    with home_lock(home):
        if os.path.lexists(home / claimed.name):
            hold(home, claimed.path, claimed.run_id, claimed.name)
        else:
            os.rename(claimed.path, home / claimed.name)
    remove_holder(claimed.holder)


class Upload(NamedTuple):
    """A complete upload waiting in a home; its fields in the order the check takes it."""

    arrived: int  # its mtime in ns: the time of its 226 (publish), kept by a rename
    name: str  # the name it was sent as (or given by a rename)
    rank: int  # of uploads of one name that came at once: 0 held aside, 1 under the name
    stamp: str  # a held one's: the order of those held at once
    path: Path


def waiting(home: Path) -> list[tuple[Path, str]]:
    """The complete uploads in `home`, each with the name it was sent as, in the order
    the check takes them: the order they came, whatever their names."""
    return [(upload.path, upload.name) for upload in sorted(uploads(home))]


def uploads(home: Path) -> list[Upload]:
    """Every complete upload in `home`, held aside or not; an upload's temporary file
    left long ago is removed on the way."""
    found: list[Upload] = []
    for path in home.iterdir():
        held = _HELD.fullmatch(path.name)
        if held is not None:
            found.extend(_held(path, *held.groups()))
        elif path.name.startswith("."):
            drop_if_stale(path)
        else:
            found.extend(_upload(path, path.name, 1, ""))
    return found


def _upload(path: Path, name: str, rank: int, stamp: str) -> list[Upload]:
    """The upload at `path`, if it is a file still there (not taken meanwhile by the
    check of an instance without flock() here)."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return []
    return [Upload(info.st_mtime_ns, name, rank, stamp, path)] if stat.S_ISREG(info.st_mode) else []


def _held(path: Path, stamp: str, name: str | None) -> list[Upload]:
    if name is not None:
        return _upload(path, name, 0, stamp)
    if not path.is_dir():
        return []
    inside = [u for p in path.iterdir() for u in _upload(p, p.name, 0, stamp)]
    if not inside:
        remove_holder(path)  # its upload taken, the folder left by a crash
    return inside


def unhold(path: Path, home: Path) -> None:
    """Remove the folder a long name was held in, once its upload was claimed."""
    if path.parent != home:
        remove_holder(path.parent)


def withdraw(home: Path, name: str) -> int:
    """Remove every upload of `name` still waiting in `home`, those held aside too: the
    client sees one name, and deleting it must leave nothing of it to the check. How
    many there were."""
    with home_lock(home):
        gone = [upload for upload in uploads(home) if upload.name == name]
        for upload in gone:
            with contextlib.suppress(FileNotFoundError):  # taken by another instance
                upload.path.unlink()
            unhold(upload.path, home)
        if gone:
            _sync(home)
    return len(gone)


def rename_uploads(home: Path, old: str, new: str, stamp: Callable[[], str]) -> bool:
    """Give every upload of `old` waiting in `home` the name `new`, those held aside
    too; an upload waiting under `new` is held aside, as a second STOR of it would
    hold it: every accepted upload is kept, and each keeps its place in the order.
    False when no upload is waiting under `old` (taken by the check meanwhile)."""
    with home_lock(home):
        if not (home / old).is_file():
            return False
        if old == new:
            return True
        held = sorted(u for u in uploads(home) if u.name == old and u.rank == 0)
        for upload in held:
            hold(home, upload.path, stamp(), new)
            unhold(upload.path, home)
        _put(home, home / old, new, stamp)
        _sync(home)
    return True


def _sync(home: Path) -> None:
    """Make the names just removed or changed in `home` durable: a DELE or a rename
    answered must not come undone in a crash."""
    fd = os.open(home, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
