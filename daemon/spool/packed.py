"""One-file spool items: a delivery waits in `incoming/` as a single file — the data as
received, then its meta.json, then a footer giving the meta's length.

Written where it waits, under its id, with no permission bits: unpublished, no worker
takes it (a delivery of several files is published whole, or not at all). Published by
giving it its bits and fsyncing it: one journal commit per delivery, the cost of the
bare servers' one fsync, where a file written in `tmp/`, fsynced and renamed in took
two, and a folder of `data` and `meta.json` three. The rename made the new name
durable with the folder's fsync; a file created and fsynced in place has its name made
durable by that fsync on ext4, XFS and btrfs, and on any other file system the folder
is fsynced too (durable.sync_names). The worker turns a claimed item into the folder
every later state uses (queue.py, `Spool._unpack`); `strip()` cuts the meta off the
data there.
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO, Protocol

_FOOTER = struct.Struct(">8sQ")  # magic, length of the meta's JSON
_MAGIC = b"renkei\x00\x01"
_COPY_CHUNK = 1 << 20
# From this size the sha256 is taken in another thread while the file is made and
# written (both leave the GIL), not after: 0.2 ms of a 300 KB delivery's answer.
_HASH_ASIDE = 1 << 16
_HASHERS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="spool-hash")
Hashing = Future[str]


class Meta(Protocol):
    """What the item says of its file (queue.Meta): filled in here, then written."""

    sha256: str
    size: int
    received_at: str

    def to_json(self) -> bytes: ...


class NotPacked(ValueError):
    """A file that does not end in a packed item's footer."""


def _umask() -> int:
    """The process's umask, read without changing it (os.umask would, for a moment,
    in every thread)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


# What open() would have given the file (the one kept beside its run keeps these
# bits), and always its owner's reading and writing, which the worker needs.
_PUBLISHED_MODE = (0o666 & ~_umask()) | 0o600


def create(path: Path) -> int:
    """A new item at `path`, unpublished; its open descriptor."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0)


def write_item(
    fd: int,
    data: bytes | Path,
    meta: Meta,
    received_at: str,
    hashing: Hashing | None = None,
    hashed: bool = True,
) -> None:
    """Write `data` and `meta` as one item to `fd` (created by create()); fills in the
    meta's size, sha256 (unless not `hashed`: see data_digest()) and (unless set) time
    of receipt first. `hashing`: the data's sha256 begun by hash_aside()."""
    with open(fd, "wb", closefd=False) as f:
        if hashed:
            meta.sha256, meta.size = write_hashed(f, data, hashing)
        else:
            meta.size = write_plain(f, data)
        meta.received_at = meta.received_at or received_at
        described = meta.to_json()
        f.write(described + _FOOTER.pack(_MAGIC, len(described)))


def publish(fd: int) -> None:
    """Make the item written to `fd` takeable and durable; raises if its name was
    removed meanwhile (Spool.sweep_unpublished took it for a dead writer's)."""
    os.fchmod(fd, _PUBLISHED_MODE)
    os.fsync(fd)
    if os.fstat(fd).st_nlink == 0:
        raise FileNotFoundError("the spooled file was removed before it was accepted")


def is_published(stat: os.stat_result) -> bool:
    """Whether the item of `stat` may be taken: a folder, or a published file."""
    return stat.st_mode & 0o777 != 0


def read_meta(path: Path) -> bytes:
    """The meta.json of the packed item at `path`."""
    with open(path, "rb") as f:
        end = f.seek(0, os.SEEK_END)
        if end < _FOOTER.size:
            raise NotPacked(f"{path}: too short for a spooled item")
        f.seek(end - _FOOTER.size)
        magic, length = _FOOTER.unpack(f.read(_FOOTER.size))
        if magic != _MAGIC or length > end - _FOOTER.size:
            raise NotPacked(f"{path}: no spooled item's footer")
        f.seek(end - _FOOTER.size - length)
        return f.read(length)


def strip(path: Path, size: int) -> None:
    """Leave the file at `path` holding its first `size` bytes, the data as received.
    Again on a file already stripped: nothing changes."""
    os.truncate(path, size)


def hash_aside(data: bytes | Path | None) -> Hashing | None:
    """Begin the sha256 of `data` in another thread, if it is bytes worth it."""
    if isinstance(data, bytes) and len(data) >= _HASH_ASIDE:
        return _HASHERS.submit(_sha256, data)
    return None


def write_hashed(
    f: BinaryIO, data: bytes | Path, hashing: Hashing | None = None
) -> tuple[str, int]:
    """Write `data` (bytes, or a file's contents) to `f`: its sha256 and size."""
    if isinstance(data, bytes):
        hashing = hashing or hash_aside(data)
        f.write(data)
        if hashing is None:
            return hashlib.sha256(data).hexdigest(), len(data)
        return hashing.result(), len(data)
    digest = hashlib.sha256()
    size = _copy(data, f, digest.update)
    return digest.hexdigest(), size


def write_plain(f: BinaryIO, data: bytes | Path) -> int:
    """Write `data` (bytes, or a file's contents) to `f`: its size."""
    if isinstance(data, bytes):
        f.write(data)
        return len(data)
    return _copy(data, f)


def _copy(source: Path, f: BinaryIO, seen: Callable[[bytes], object] | None = None) -> int:
    """Copy the file at `source` to `f` a block at a time, each also to `seen`: its size."""
    size = 0
    with open(source, "rb") as blocks:
        while chunk := blocks.read(_COPY_CHUNK):
            if seen is not None:
                seen(chunk)
            f.write(chunk)
            size += len(chunk)
    return size


def data_digest(path: Path, size: int) -> str:
    """The sha256 of the data of the item (or data file) at `path`: its first `size`
    bytes. For an item the door wrote without one."""
    digest = hashlib.sha256()
    left = size
    with open(path, "rb") as f:
        while left > 0 and (chunk := f.read(min(_COPY_CHUNK, left))):
            digest.update(chunk)
            left -= len(chunk)
    if left:
        raise NotPacked(f"{path}: shorter than its data")
    return digest.hexdigest()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
