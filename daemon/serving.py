"""One `renkei serve` per data_dir.

Two daemons on one data_dir (a second unit, a start by hand beside the service) would
share a spool, an FTP home and a SQLite store while each believes it is alone. The
master holds an advisory lock on `data_dir/serve.lock` for as long as it lives; a
second is refused at start, naming the first's pid. The kernel drops the lock with the
process, so a daemon that was killed never blocks the next start (its import process
ends with it, and a claimed file is claimed under a lock of its own). One-shot commands (`renkei import`, `runs`, …) take no part in this: they
work beside a running daemon.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

LOCK_NAME = "serve.lock"


class AlreadyServing(Exception):
    def __init__(self, path: Path, pid: str) -> None:
        super().__init__(f"{path}: held by pid {pid or '?'}")
        self.path = path
        self.pid = pid


def hold(data_dir: Path) -> int:
    """Take the data_dir's serve lock for this process; its descriptor, kept open for as
    long as the daemon runs. Raises AlreadyServing when another daemon holds it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        pid = os.pread(fd, 32, 0).decode(errors="replace").strip()
        os.close(fd)
        raise AlreadyServing(path, pid) from None
    except BaseException:
        os.close(fd)
        raise
    # Only a hint for the admin who meets the refusal; the lock is what counts.
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd
