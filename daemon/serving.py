"""One `renkei serve` per data_dir.

Two daemons on one data_dir (a second unit, a start by hand beside the service) would
share a spool, an FTP home and a SQLite store while each believes it is alone. The
master holds an advisory lock on `data_dir/serve.lock` for as long as it lives; a
second is refused at start, naming the first's pid. The kernel drops the lock with the
process, so a daemon that was killed never blocks the next start (its import process
ends with it, and a claimed file is claimed under a lock of its own). One-shot commands (`renkei import`, `runs`, …) take no part in this: they
work beside a running daemon. They only look whether one runs (held_elsewhere) when the
store's schema is behind theirs, so as not to migrate it under a daemon that still
uses the older tables.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

LOCK_NAME = "serve.lock"
# held_elsewhere takes the lock for an instant: a start that meets it tries again
# for a while, rather than take that look for a daemon.
_TRIES = 10
_PAUSE = 0.05
# The data_dirs whose lock this process holds (resolved), so that its own look finds
# no other daemon.
_held: set[Path] = set()


class AlreadyServing(Exception):
    def __init__(self, path: Path, pid: str) -> None:
        super().__init__(f"{path}: held by pid {pid or '?'}")
        self.path = path
        self.pid = pid


# Partners' files, reports and the store live in data_dir: not for other users, whatever
# the umask of whoever starts renkei first. An existing one is kept as it is.
DATA_DIR_MODE = 0o750


def make_data_dir(data_dir: Path) -> None:
    """Make `data_dir` (and its parents) when missing, the last one DATA_DIR_MODE."""
    data_dir.mkdir(parents=True, exist_ok=True, mode=DATA_DIR_MODE)


def hold(data_dir: Path) -> int:
    """Take the data_dir's serve lock for this process; its descriptor, kept open for as
    long as the daemon runs. Raises AlreadyServing when another daemon holds it."""
    make_data_dir(data_dir)
    path = data_dir / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        taken = _take(fd)
    except BaseException:
        os.close(fd)
        raise
    if not taken:
        pid = os.pread(fd, 32, 0).decode(errors="replace").strip()
        os.close(fd)
        raise AlreadyServing(path, pid)
    # Only a hint for the admin who meets the refusal; the lock is what counts.
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    _held.add(data_dir.resolve())
    return fd


def _take(fd: int) -> bool:
    for attempt in range(_TRIES):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if attempt + 1 < _TRIES:
                time.sleep(_PAUSE)
    return False


def held_here(data_dir: Path) -> bool:
    """Whether this process is the `renkei serve` of `data_dir` (hold took its lock)."""
    return data_dir.resolve() in _held


def held_elsewhere(data_dir: Path) -> bool:
    """Whether another process's `renkei serve` holds `data_dir`'s lock now. Learnt by
    taking the lock without waiting and letting it go at once (the kernel's lock is the
    only sure sign: a pid left in the file may be a daemon long killed)."""
    if held_here(data_dir):
        return False
    try:
        fd = os.open(data_dir / LOCK_NAME, os.O_RDONLY)
    except FileNotFoundError:
        return False
    except OSError:
        return True  # cannot tell: the upgrade is left to the daemon's start
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # lets go of the lock, when it was taken
    return False
