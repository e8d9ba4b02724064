"""Durable files: write to a temporary name, fsync, rename, fsync the folder.

A reader only ever sees whole files. Used by the spool, the outbox and the poller.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import secrets
import time
from pathlib import Path

# File systems on which a file's fsync also makes durable the name it was created or
# renamed under: the journal (or log) commit that carries the file's metadata carries
# the folder's change too (ext4 without a journal syncs the parent itself). On any
# other, the folder is fsynced as well.
_NAME_WITH_FILE = frozenset({"ext4", "xfs", "btrfs", "tmpfs"})
_MOUNTINFO = Path("/proc/self/mountinfo")


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    """fsync a file written before (its data and size reach the disk)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_synced(path: Path, data: bytes) -> None:
    """Write `data` to `path` and fsync it (the caller renames and syncs the folder)."""
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def put_whole(path: Path, data: bytes) -> None:
    """Put `data` at `path` whole: written and fsynced under a temporary name of this
    writer's own, then renamed (the caller syncs the folder). Two processes writing one
    file at once (the outbox's item, queued by two) each rename a whole file of theirs;
    under a shared temporary name one renamed the other's and the other found none."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        write_synced(tmp, data)
        os.replace(tmp, path)
    except BaseException:
        # The disk full part-way: leave no temporary file behind.
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


_TEMPORARY = re.compile(r"\..+\.(\d+)-[0-9a-f]{8}\.tmp")
_TEMPORARY_AGE = 600.0  # seconds: a write takes milliseconds


def left_behind(name: str, changed: float) -> bool:
    """Whether `name`, last changed at `changed` (time.time()), is a temporary file of
    put_whole whose writer died between its write and its rename: that process is
    gone, and the file old enough that no other writer can still be at it."""
    found = _TEMPORARY.fullmatch(name)
    if found is None or time.time() - changed < _TEMPORARY_AGE:
        return False
    try:
        os.kill(int(found[1]), 0)
    except ProcessLookupError:
        return True
    except (OSError, ValueError, OverflowError):  # another user's (alive), or no pid
        return False
    return False


def replace_durably(path: Path, data: bytes) -> None:
    """Atomically replace `path` with `data`, surviving a crash at any point."""
    put_whole(path, data)
    fsync_dir(path.parent)


def sync_names(folder: Path) -> None:
    """Make the names just created or renamed in `folder` durable, after their files'
    fsyncs: nothing more where those fsyncs did it (see file_sync_keeps_names)."""
    if not file_sync_keeps_names(folder):
        fsync_dir(folder)


@functools.lru_cache(maxsize=64)
def file_sync_keeps_names(folder: Path, mount_table: Path = _MOUNTINFO) -> bool:
    """Whether a file's fsync makes its new name in `folder` durable (its file
    system's kind, from the mount table; False when it cannot be told)."""
    try:
        mounts = mount_table.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return filesystem_of(folder.resolve(), mounts) in _NAME_WITH_FILE


def filesystem_of(path: Path, mountinfo: str) -> str | None:
    """The kind of file system `path` is on, by the longest mount point holding it in
    `mountinfo` (proc(5)'s /proc/self/mountinfo)."""
    best: tuple[int, str] | None = None
    text = str(path)
    for line in mountinfo.splitlines():
        fields = line.split()
        if "-" not in fields[6:]:
            continue
        point = _unescape(fields[4])
        kind = fields[fields.index("-", 6) + 1]
        inside = text == point or text.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) >= best[0]):
            best = (len(point), kind)
    return best[1] if best else None


def _unescape(field: str) -> str:
    # The kernel writes a space, tab, newline or backslash in a path as \ooo.
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), field)
