"""One-file spool items: a delivery waits in `incoming/` as a single file — the data as
received, then its meta.json, then a footer giving the meta's length.

Written and fsynced once, then renamed in: two journal commits per delivery, where a
folder of `data` and `meta.json` took three (each new file's delayed blocks reach the
disk in a commit of their own). The worker turns a claimed item into the folder every
later state uses (queue.py, `Spool._unpack`); `strip()` cuts the meta off the data there.
"""

from __future__ import annotations

import hashlib
import os
import struct
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO, Protocol

_FOOTER = struct.Struct(">8sQ")  # magic, length of the meta's JSON
_MAGIC = b"renkei\x00\x01"
_COPY_CHUNK = 1 << 20
# From this size the sha256 is taken in another thread while the data is written: both
# leave the GIL, and on a large file the hash costs milliseconds.
_HASH_ASIDE = 1 << 20
_HASHERS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="spool-hash")


class Meta(Protocol):
    """What the item says of its file (queue.Meta): filled in here, then written."""

    sha256: str
    size: int
    received_at: str

    def to_json(self) -> bytes: ...


class NotPacked(ValueError):
    """A file that does not end in a packed item's footer."""


def write(path: Path, data: bytes | Path, meta: Meta, received_at: str) -> None:
    """Write `data` and `meta` to `path` as one item and fsync it; fills in the meta's
    sha256, size and (unless set) time of receipt first."""
    with open(path, "wb") as f:
        meta.sha256, meta.size = write_hashed(f, data)
        meta.received_at = meta.received_at or received_at
        described = meta.to_json()
        f.write(described + _FOOTER.pack(_MAGIC, len(described)))
        f.flush()
        os.fsync(f.fileno())


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


def write_hashed(f: BinaryIO, data: bytes | Path) -> tuple[str, int]:
    """Write `data` (bytes, or a file's contents) to `f`: its sha256 and size."""
    if isinstance(data, bytes):
        if len(data) < _HASH_ASIDE:
            f.write(data)
            return hashlib.sha256(data).hexdigest(), len(data)
        hashing = _HASHERS.submit(_sha256, data)
        f.write(data)
        return hashing.result(), len(data)
    digest = hashlib.sha256()
    size = 0
    with open(data, "rb") as source:
        while chunk := source.read(_COPY_CHUNK):
            digest.update(chunk)
            f.write(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
