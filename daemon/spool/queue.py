"""The spool: the durable queue between intake channels and the importer.

Layout under `data_dir/spool/`: `tmp/` (being written), `incoming/` (waiting),
`active/` (claimed by a worker, which holds a lock on it), `failed/` (quarantined
after too many attempts, never deleted but by the retention sweep with its run). A
delivery waits in `incoming/` as one file (packed.py) and is unpacked when claimed into
a folder holding `data` (the file as received) and `meta.json`, the form of every item
in `active/` and `failed/` and of one put back after a failed attempt. The one file is
written in `incoming/` under its id with no permission bits ("unpublished": no worker
takes it), then given them and fsynced (packed.py); a folder item is written in `tmp/`,
fsynced and renamed in. So a worker only ever takes a whole item. Once its run is final
the file is kept beside the run (kept.py). Called by the intake sink, the worker, the
retrier and the CLI.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import json
import logging
import os
import re
import secrets
import shutil
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from daemon.spool import packed
from daemon.spool.durable import (
    fsync_dir,
    fsync_file,
    replace_durably,
    sync_names,
    write_synced,
)
from daemon.spool.kept import kept_path, unkept_path

log = logging.getLogger(__name__)

# A claimed one-file item while it becomes a folder in `active/` (Spool._unpack).
_UNPACKING = ".unpacking"
# A settled item on its way out, in `tmp/` (Spool._drop).
_DROPPED = ".dropped"
# An unpublished item untouched this long was left by a writer that died: its sender
# never heard it was accepted. A live writer publishes right after its last write.
_UNPUBLISHED_SECONDS = 600.0


@dataclass(slots=True)
class Meta:
    """What is known of a file when it is accepted; the run is created from this."""

    account: str
    channel: str
    sender: str
    filename: str
    received_at: str = ""
    sha256: str = ""
    size: int = 0
    attempts: int = 0
    options: dict[str, Any] = field(default_factory=dict)
    problem: str | None = None  # an accepted delivery that holds no file to import
    idempotency_key: str = ""  # from an API sender, to answer its retries with this run
    retry_of: str | None = None  # the run whose kept file this imports again
    authentication_results: str = ""  # mail: the door's RFC 8601 verdict, '' unevaluated
    unauthenticated: str = ""  # mail, `sender_auth = "flag"`: what failed, said in the run
    also_attached: str = ""  # mail: its other attachments, not taken, said in the run
    # Mail without a file: its Subject, said in the run so the admin knows which mail it
    # was. An item spooled before this field reads as '' (from_json fills defaults).
    subject: str = ""
    by_content: bool = False  # a resend is known by its content (handlers/base.Delivery)
    file_key: str = ""  # the logical file it is, as resends are compared (filenames.file_key)

    @classmethod
    def from_json(cls, data: bytes) -> Meta:
        fields = json.loads(data)
        known = {k: v for k, v in fields.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def to_json(self) -> bytes:
        # Field by field: asdict() copies every value deeply, at three times the cost
        # (75 µs of each delivery's spooling). On one line: with an indent, json takes
        # its pure-Python encoder, at ten times the C one's cost.
        described = {name: getattr(self, name) for name in self.__dataclass_fields__}
        return json.dumps(described, ensure_ascii=False).encode()


class Damaged(ValueError):
    """An item whose meta cannot be read (a damaged disk, a file put in by hand). It is
    set aside in `failed/` as it is, so that it holds up no other item."""

    def __init__(self, item_id: str, reason: str, path: Path) -> None:
        super().__init__(f"{item_id}: {reason}")
        self.item_id = item_id
        self.reason = reason
        self.path = path  # where it was set aside


@dataclass(slots=True)
class SpoolItem:
    id: str
    path: Path
    meta: Meta
    lock_fd: int | None = None

    @property
    def data_path(self) -> Path:
        return self.path / "data"


def new_id() -> str:
    """Sortable by arrival: UTC time to the microsecond, then randomness."""
    return f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S%f}-{secrets.token_hex(3)}"


# What new_id() makes: no other name (`..`, `.`) is an item's, whatever is found there.
_ID = re.compile(r"[0-9]{8}T[0-9]{12}-[0-9a-f]{6}")


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


class Spool:
    def __init__(self, root: Path) -> None:
        self.root = root  # data_dir/spool
        self.data_dir = root.parent
        self.tmp = root / "tmp"
        self.incoming = root / "incoming"
        self.active = root / "active"
        self.failed = root / "failed"
        for folder in (self.tmp, self.incoming, self.active, self.failed):
            folder.mkdir(parents=True, exist_ok=True)

    # -- writing -----------------------------------------------------------------

    def enqueue(self, meta: Meta, data: bytes | Path | None, claim: bool = False) -> SpoolItem:
        """Make `data` durable under a new id; returns only once it is fsynced.

        With `claim`, the item goes straight to `active/` under this process's lock, so
        no other worker can take it (the CLI imports its own file this way).
        """
        return self.enqueue_many([(meta, data, None)], claim)[0]

    def enqueue_many(
        self,
        files: list[tuple[Meta, bytes | Path | None, str | None]],
        claim: bool = False,
        hashed: bool = True,
    ) -> list[SpoolItem]:
        """Stage every file first, then publish them all: a delivery of several files
        (one mail, several attachments) is not half-accepted when the disk fails.

        Not `hashed`, a waiting file's sha256 is left to whoever takes it (claim()) or
        asks for it (digest()): the doors answer without hashing what they received.
        """
        staged: list[_Staged] = []
        published: list[SpoolItem] = []
        try:
            for meta, data, item_id in files:
                staged.append(self._stage(meta, data, claim, item_id, hashed))
            folder = self.active if claim else self.incoming
            renamed = created = False
            for item in staged:
                if item.packed_fd is not None:
                    # Its permission bits and its fsync: one journal commit makes it
                    # whole on disk and takeable, where a rename needed one more.
                    published.append(SpoolItem(item.id, folder / item.id, item.meta))
                    packed.publish(item.packed_fd)
                    created = True
                else:
                    os.rename(self.tmp / item.id, folder / item.id)
                    renamed = True
                    published.append(SpoolItem(item.id, folder / item.id, item.meta, item.lock_fd))
            if renamed:
                fsync_dir(folder)
            elif created:
                sync_names(folder)
        except BaseException:
            self._unstage(staged, published)
            raise
        finally:
            for item in staged:
                if item.packed_fd is not None:
                    os.close(item.packed_fd)
        return published

    def _unstage(self, staged: Sequence[_Staged], published: Sequence[SpoolItem]) -> None:
        """Take back what a delivery that is not accepted wrote: one a worker took
        meanwhile (published) stays with it."""
        taken_back = [item for item in published if item.path.parent == self.incoming]
        with contextlib.suppress(OSError):
            self.withdraw(taken_back)
        done = {item.id for item in published}
        for item in staged:
            if item.packed_fd is not None and item.id not in done:
                (self.incoming / item.id).unlink(missing_ok=True)
            elif item.packed_fd is None:
                remove_item(self.tmp / item.id)
            if item.lock_fd is not None:
                os.close(item.lock_fd)

    def _stage(
        self,
        meta: Meta,
        data: bytes | Path | None,
        claim: bool,
        item_id: str | None = None,
        hashed: bool = True,
    ) -> _Staged:
        item_id = item_id or new_id()
        if data is not None and not claim:
            path = self.incoming / item_id
            # Hashed while the file is made and written, not after.
            hashing = packed.hash_aside(data) if hashed else None
            fd = packed.create(path)
            try:
                packed.write_item(fd, data, meta, now_iso(), hashing, hashed)
            except BaseException:
                os.close(fd)
                path.unlink(missing_ok=True)
                raise
            return _Staged(item_id, meta, packed_fd=fd)
        # A file the CLI imports itself (claimed at once), or a delivery with no file:
        # a folder, as every item in `active/` is.
        staging = self.tmp / item_id
        staging.mkdir()
        lock_fd = None
        try:
            lock_fd = _lock(staging) if claim else None
            written = ["meta.json"]
            if data is not None:
                meta.sha256, meta.size = _write_data(staging / "data", data, sync=False)
                written.insert(0, "data")
            meta.received_at = meta.received_at or now_iso()
            (staging / "meta.json").write_bytes(meta.to_json())
            # Written before they are synced: the first fsync commits the journal for
            # both files' creation, where syncing each as it is written costs one
            # journal commit more.
            for name in written:
                fsync_file(staging / name)
            fsync_dir(staging)
        except BaseException:
            # Disk full part-way: what was written goes now, not at the next start.
            shutil.rmtree(staging, ignore_errors=True)
            if lock_fd is not None:
                os.close(lock_fd)
            raise
        return _Staged(item_id, meta, lock_fd=lock_fd)

    def withdraw(self, items: Sequence[SpoolItem]) -> None:
        """Take back items just published to `incoming/` whose delivery was then not
        accepted after all; one a worker claimed meanwhile stays with it."""
        for item in items:
            hidden = self.tmp / item.id
            try:
                os.rename(self.incoming / item.id, hidden)
            except FileNotFoundError:
                continue
            remove_item(hidden)
        fsync_dir(self.incoming)

    # -- claiming ----------------------------------------------------------------

    def has(self, item_id: str) -> bool:
        if _ID.fullmatch(item_id) is None:
            return False  # `..` names a folder that exists: never an item
        return self.pending(item_id) or (self.failed / item_id).exists()

    def pending(self, item_id: str) -> bool:
        """Still to be imported (waiting or being imported), not finished or quarantined."""
        places = (
            self.incoming / item_id,
            self.active / item_id,
            self.active / (item_id + _UNPACKING),
        )
        return any(path.exists() for path in places)

    def waiting(self) -> list[str]:
        """The ids of the items waiting in `incoming/`, oldest first."""
        return sorted(entry.name for entry in self._waiting_entries() if _published(entry))

    def _waiting_entries(self) -> Iterator[os.DirEntry]:
        return _entries(self.incoming)

    def sweep_unpublished(self, older_than: float = _UNPUBLISHED_SECONDS) -> list[str]:
        """Remove the unpublished items of writers that died (their senders were never
        told they were accepted); the ids removed."""
        removed = []
        now = time.time()
        for entry in list(self._waiting_entries()):
            with contextlib.suppress(FileNotFoundError):
                if not _published(entry) and now - entry.stat().st_mtime > older_than:
                    os.unlink(entry.path)
                    removed.append(entry.name)
        if removed:
            log.warning("spool: removed %d never accepted: %s", len(removed), ", ".join(removed))
        return removed

    def claim(self, item_id: str) -> SpoolItem | None:
        """Take an item from `incoming/` into `active/`; None when another worker won,
        or while it is not yet published."""
        source = self.incoming / item_id
        target = self.active / item_id
        try:
            # Bits once given are never taken back: an item seen published stays so.
            if not packed.is_published(source.stat()):
                return None
            os.rename(source, target)
        except FileNotFoundError:
            return None
        if not target.is_dir():
            return self._unpack(target)
        lock_fd = _lock(target)
        return SpoolItem(item_id, target, self._claimed_meta(target, lock_fd), lock_fd)

    def _claimed_meta(self, path: Path, lock_fd: int) -> Meta:
        """The meta of an item just claimed into `active/`, locked by `lock_fd`, which
        is closed if it cannot be had: an item that cannot be read is set aside
        (Damaged); one whose read failed otherwise (an I/O error) waits again."""
        try:
            return self._meta(path)
        except Damaged:
            os.close(lock_fd)
            raise
        except BaseException:
            with contextlib.suppress(OSError):
                os.rename(path, self.incoming / path.name)
            os.close(lock_fd)
            raise

    def _unpack(self, item: Path) -> SpoolItem | None:
        """Turn the one-file item just claimed at `item` into a folder there.

        Its meta.json is durable before the data loses its copy of it; a crash part-way
        leaves what recover() finishes (`_finish_unpacking`).
        """
        try:
            held = _lock(item)  # recover() in another process leaves a held item alone
        except BlockingIOError:
            return None  # that recover() is putting it back
        folder = item.with_name(item.name + _UNPACKING)
        made = False
        lock_fd = None
        meta = self._claimed_meta(item, held)
        try:
            if not meta.sha256:  # the door answered without it: taken here, once
                meta.sha256 = packed.data_digest(item, meta.size)
            folder.mkdir()
            made = True
            lock_fd = _lock(folder)
            write_synced(folder / "meta.json", meta.to_json())
        except BaseException:
            # Nothing moved yet (a full disk, say): the item waits in `incoming/` again.
            if lock_fd is not None:
                os.close(lock_fd)
            if made:
                shutil.rmtree(folder, ignore_errors=True)
            with contextlib.suppress(OSError):
                os.rename(item, self.incoming / item.name)
            os.close(held)
            raise
        try:
            os.rename(item, folder / "data")
            packed.strip(folder / "data", meta.size)
            os.rename(folder, item)
        except BaseException:
            os.close(lock_fd)
            raise
        finally:
            os.close(held)
        return SpoolItem(item.name, item, meta, lock_fd)

    def digest(self, item_id: str) -> str | None:
        """The sha256 of the data of an item still in the spool, wherever it is on its
        way (waiting, just claimed, being unpacked, taken); None once it has left, when
        its run says it (the importer records it before the item goes)."""
        places = (
            self.incoming / item_id,
            self.active / item_id,
            self.active / (item_id + _UNPACKING),
            self.active / item_id,
        )  # in the order an item passes them, so one that moves on is met further on
        for place in places:
            try:
                if place.is_dir():
                    meta = Meta.from_json((place / "meta.json").read_bytes())
                    return meta.sha256 or packed.data_digest(place / "data", meta.size)
                meta = Meta.from_json(packed.read_meta(place))
                return meta.sha256 or packed.data_digest(place, meta.size)
            except (OSError, ValueError):
                continue  # moved on (or cut to its data by the unpacking) meanwhile
        return None

    def peek_account(self, item_id: str) -> str | None:
        """The account of the item waiting as `item_id`, its meta only read (not set
        aside when it cannot be: its claim does that); None when it cannot be told."""
        meta = peek_meta(self.incoming / item_id)
        return meta.account if meta is not None else None

    def load(self, path: Path) -> SpoolItem:
        """The item at `path`, a folder or (waiting) one file."""
        return SpoolItem(path.name, path, self._meta(path))

    def _meta(self, path: Path) -> Meta:
        """The meta of the item at `path`; one that cannot be read sets the item aside
        (Damaged)."""
        try:
            return Meta.from_json(_meta_bytes(path))
        except FileNotFoundError:
            if not path.is_dir():
                raise  # the item itself is gone (taken meanwhile)
            reason = "no meta.json"
        except (ValueError, TypeError, AttributeError, IsADirectoryError) as exc:
            reason = str(exc).replace(str(path), path.name)
        item_id = path.name.removesuffix(_UNPACKING)
        raise Damaged(item_id, reason, self._set_aside(path, item_id))

    def _set_aside(self, path: Path, item_id: str) -> Path:
        """Move an item into `failed/` as it is, under a name no other item there has."""
        target = self.failed / item_id
        while target.exists():
            target = self.failed / f"{item_id}.{new_id()}"
        os.rename(path, target)
        fsync_dir(self.failed)
        fsync_dir(path.parent)
        log.error("spool: %s cannot be read; set aside in %s", item_id, target)
        return target

    # -- settling ----------------------------------------------------------------

    def finish(self, item: SpoolItem) -> None:
        """The item's run is committed: keep its file beside the run, drop the rest.

        Called again for an item whose run committed before a crash: the file was
        either moved already (the item holds none) or is moved now.
        """
        if item.data_path.exists():
            self._keep(item)
        self._drop(item)

    def _keep(self, item: SpoolItem) -> None:
        target = kept_path(self.data_dir, item.id, item.meta.filename)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fsync_dir(target.parent.parent)
            # A rename in one file system: keeping costs no copy of the bytes.
            os.replace(item.data_path, target)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                # The run is committed and its item must go: the file stays in the
                # spool's own file system, where kept_file() finds it, rather than lost
                # to download and retry.
                self._keep_unkept(item, exc)
                return
            # data_dir/files on another file system than the spool: copy it once.
            _write_data(target, item.data_path)
        fsync_dir(target.parent)

    def _keep_unkept(self, item: SpoolItem, trouble: OSError) -> None:
        target = unkept_path(self.data_dir, item.id)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(item.data_path, target)
            fsync_dir(target.parent)
            fsync_dir(target.parent.parent)
        except OSError as exc:
            # Not even the spool: the run is committed and must not be imported again,
            # so its copy is lost rather than the item left to be claimed once more.
            log.error(
                "spool: could not keep the file of %s: %s; nor in %s: %s",
                item.id,
                trouble,
                target,
                exc,
            )
            return
        log.error(
            "spool: could not keep the file of %s in files/ (%s): kept in %s",
            item.id,
            trouble,
            target,
        )

    def _drop(self, item: SpoolItem) -> None:
        """Remove a settled item. It leaves `active/` in one rename first: removed
        where it lies, a kill part-way left a folder without its meta.json, which the
        next start took for a damaged item and failed the run it had completed. In
        `tmp/`, what a kill leaves is removed at the next start (recover())."""
        gone = self.tmp / f"{item.id}{_DROPPED}"
        try:
            os.rename(item.path, gone)
        except OSError:  # gone already, or one left by a kill is in the way
            gone = item.path
        remove_item(gone)
        _unlock(item)

    def release(self, item: SpoolItem, count_attempt: bool) -> None:
        """Put a claimed item back in `incoming/`, counting the attempt if it failed."""
        if count_attempt:
            item.meta.attempts += 1
            try:
                replace_durably(item.path / "meta.json", item.meta.to_json())
            except OSError as exc:
                # A full disk must not keep the item claimed until the next start: it
                # goes back uncounted (the worker waits longer each time it fails).
                log.error("spool: could not count the attempt of %s: %s", item.id, exc)
        target = self.incoming / item.id
        os.rename(item.path, target)
        fsync_dir(self.incoming)
        item.path = target
        _unlock(item)

    def quarantine(self, item: SpoolItem) -> None:
        target = self.failed / item.id
        os.rename(item.path, target)
        fsync_dir(self.failed)
        item.path = target
        _unlock(item)

    def orphans(self) -> Iterator[SpoolItem]:
        """The files of `renkei import` commands that died without ending their runs
        (killed outright: SIGKILL, the OOM killer), each locked now by this process.
        Their users were told nothing was imported, or nothing at all, and may have
        imported the file (or a newer one of its name) since: imported now, a file
        would replace what came after it. The worker ends each run as failed."""
        for path in sorted(self.active.iterdir()):
            if path.name.endswith(_UNPACKING) or not path.is_dir():
                continue  # a door's item, or one being unpacked: the CLI's are folders
            try:
                fd = _lock(path)
            except (BlockingIOError, FileNotFoundError):
                continue  # its command lives (or it just went)
            meta = peek_meta(path)
            if meta is None or meta.channel != "cli":
                # Unreadable: recover() sets it aside at the next start, and says so.
                os.close(fd)
                continue
            yield SpoolItem(path.name, path, meta, fd)

    def recover(self) -> Iterable[SpoolItem | Damaged]:
        """Move work a dead process left in `active/` back, counting the attempt (not
        for an item it had not begun to unpack).

        Items whose lock is still held belong to a live process (a `renkei import` run
        beside the daemon) and are left alone. Yields each recovered item, and each
        one set aside because its meta cannot be read.
        """
        for folder in sorted(self.active.glob("*" + _UNPACKING)):
            try:
                self._finish_unpacking(folder)
            except Damaged as damaged:
                yield damaged
        for path in sorted(self.active.iterdir()):
            if path.name.endswith(_UNPACKING):
                continue  # held by a live process
            try:
                fd = _lock(path)
            except BlockingIOError:
                continue
            one_file = not path.is_dir()
            try:
                meta = self._meta(path)
            except Damaged as damaged:
                os.close(fd)
                yield damaged
                continue
            if one_file:
                os.close(fd)
                yield self._put_back_packed(path, meta)
                continue
            if meta.channel == "cli":
                # A `renkei import` that was killed: never imported again as if it
                # waited (see orphans()).
                os.close(fd)
                continue
            item = SpoolItem(path.name, path, meta, fd)
            if (self.incoming / item.id).exists():
                # The same delivery twice (an id names one): the waiting copy will do.
                log.warning(
                    "spool: %s is both waiting and active; keeping the waiting copy", item.id
                )
                self._drop(item)
                continue
            self.release(item, count_attempt=True)
            yield item
        self.sweep_unpublished()
        for stale in self.tmp.iterdir():
            # Never acknowledged to a sender, so never accepted, or a settled item a
            # kill left on its way out (_drop): safe to drop, unless a live `renkei
            # import` holds it.
            try:
                os.close(_lock(stale))
            except BlockingIOError:
                continue
            remove_item(stale)

    def _finish_unpacking(self, folder: Path) -> None:
        """Complete, or undo, an unpacking a dead process left at `folder`."""
        try:
            fd = _lock(folder)
        except BlockingIOError:
            return
        try:
            item = folder.with_name(folder.name.removesuffix(_UNPACKING))
            if item.exists() or not (folder / "meta.json").is_file():
                # Cut short before the data moved in: the one file is still whole.
                shutil.rmtree(folder, ignore_errors=True)
                return
            data = folder / "data"
            if data.exists():
                packed.strip(data, self._meta(folder).size)
            os.rename(folder, item)
        finally:
            os.close(fd)

    def _put_back_packed(self, path: Path, meta: Meta) -> SpoolItem:
        """A one-file item claimed but not yet unpacked: back to `incoming/` as it was."""
        item = SpoolItem(path.name, path, meta)
        if (self.incoming / item.id).exists():
            log.warning("spool: %s is both waiting and active; keeping the waiting copy", item.id)
            path.unlink()
            return item
        os.rename(path, self.incoming / item.id)
        fsync_dir(self.incoming)
        item.path = self.incoming / item.id
        return item

    def free_bytes(self) -> int:
        stat = os.statvfs(self.root)
        return stat.f_bavail * stat.f_frsize


@dataclass(slots=True)
class _Staged:
    """A file of a delivery written and not yet published: a one-file item in
    `incoming/` (open at `packed_fd`), or a folder in `tmp/` (locked, when claimed)."""

    id: str
    meta: Meta
    lock_fd: int | None = None
    packed_fd: int | None = None


def waiting_count(root: Path) -> int:
    """How many items wait in the spool at `root` (a data_dir's `spool/`) to be taken,
    not counting those a door is still writing; 0 when there is no spool yet. For the
    console, which has the path and no Spool (making one makes its folders)."""
    try:
        return sum(1 for entry in _entries(root / "incoming") if _published(entry))
    except OSError:
        return 0


def pending_meta(root: Path, item_id: str) -> Meta | None:
    """The meta of the item `item_id` still to be imported from the spool at `root` (a
    data_dir's `spool/`): waiting, just claimed or being unpacked; None when there is
    none, or it moved on while looked for. For the API, which has the path and no
    Spool (making one makes its folders): on SQLite a run is recorded only once the
    importer takes its file, and the answer to its sender already named it."""
    if _ID.fullmatch(item_id) is None:
        return None  # not an id: no path outside the spool is ever read
    places = (
        root / "incoming" / item_id,
        root / "active" / item_id,
        root / "active" / (item_id + _UNPACKING),
        root / "active" / item_id,
    )  # in the order an item passes them, so one that moves on is met further on
    for place in places:
        try:
            if place.is_dir():
                return Meta.from_json((place / "meta.json").read_bytes())
            if place.parent.name == "incoming" and not packed.is_published(place.stat()):
                return None  # still being written: its sender has not been answered
            return Meta.from_json(packed.read_meta(place))
        except (OSError, ValueError, TypeError):
            continue  # moved on (or cut to its data by the unpacking) meanwhile
    return None


def _entries(folder: Path) -> Iterator[os.DirEntry]:
    with os.scandir(folder) as entries:
        yield from (entry for entry in entries if not entry.name.startswith("."))


def _published(entry: os.DirEntry) -> bool:
    try:
        return packed.is_published(entry.stat())
    except FileNotFoundError:
        return False  # taken meanwhile


def _meta_bytes(path: Path) -> bytes:
    """The meta of the item at `path`, a folder or (packed) one file, as stored."""
    return (path / "meta.json").read_bytes() if path.is_dir() else packed.read_meta(path)


def peek_meta(path: Path) -> Meta | None:
    """The meta of the item at `path`, only read: None when it is gone or cannot be
    read (where Spool._meta sets the item aside)."""
    try:
        return Meta.from_json(_meta_bytes(path))
    except (OSError, ValueError, TypeError, AttributeError):
        return None


def _write_data(path: Path, data: bytes | Path, sync: bool = True) -> tuple[str, int]:
    """Write `data` to `path` (fsynced unless the caller syncs it later); its sha256
    and size."""
    with open(path, "wb") as f:
        written = packed.write_hashed(f, data)
        if sync:
            f.flush()
            os.fsync(f.fileno())
    return written


def _lock(path: Path) -> int:
    """An exclusive lock on the item at `path` (a folder or one file), or BlockingIOError."""
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise
    return fd


def remove_item(path: Path) -> None:
    """Remove an item, a folder or one file, whatever is left of it."""
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _unlock(item: SpoolItem) -> None:
    if item.lock_fd is not None:
        os.close(item.lock_fd)
        item.lock_fd = None
