"""Drop-folder intake. Spools each complete file written into an account's folder;
never parses CSV.

A file is complete when it was renamed into place from a `.`-prefixed or `.part`/`.tmp`
name, or when renkei has seen it unchanged for `settle` seconds. watchdog reports
changes from its own thread (they cross into the event loop with call_soon_threadsafe);
a periodic rescan catches whatever the events missed, and takes the files present at
start. A symbolic link is never followed and a file renkei cannot read is not retried:
each is refused once (the refusals) and left where it is. A folder renkei cannot read
is said once in the log and holds up no other. A run is named as mail and the API name
theirs (base.bare_name: no control or format characters); the file keeps its own name in
the folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISLNK, S_ISREG

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver

from daemon.settings import Settings
from daemon.settings.problems import OsTrouble
from handlers import claims
from handlers.base import Intake, IntakeSink, Refusal, SpoolUnavailable, bare_name, readable

log = logging.getLogger(__name__)

CHANNEL = "dropdir"
RESCAN_SECONDS = 0.5
SPOOL_RETRY_SECONDS = 5.0  # after the spool refused a file
_INCOMPLETE_SUFFIXES = (".part", ".tmp")


def run_name(name: str) -> str:
    """The name a dropped file's run is given: as the file system gave it (CP932 read
    as the other doors read it), reduced as mail and the API reduce theirs."""
    return bare_name(readable(name))


def complete_name(name: str) -> bool:
    # `~$` starts the lock file Office keeps beside a document open on a share (a
    # partner opening the workbook there): never a file of theirs to import.
    if name.startswith((".", "~$")):
        return False
    return not name.lower().endswith(_INCOMPLETE_SUFFIXES)


@dataclass(slots=True)
class Seen:
    signature: tuple[int, ...]  # _signature(): size, times, inode, mode
    since: float  # monotonic time renkei first saw it like this


class _Events(FileSystemEventHandler):
    """watchdog's thread → the event loop: only paths cross, never work."""

    def __init__(self, intake: DropdirIntake, loop: asyncio.AbstractEventLoop) -> None:
        self.intake = intake
        self.loop = loop

    def on_moved(self, event: FileSystemEvent) -> None:
        if not event.is_directory:
            source, path = (Path(os.fsdecode(p)) for p in (event.src_path, event.dest_path))
            self.loop.call_soon_threadsafe(self.intake.renamed, source, path)

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("created", "modified", "closed") and not event.is_directory:
            self.loop.call_soon_threadsafe(self.intake.wake)


class DropdirIntake(Intake):
    channel = CHANNEL

    def __init__(self, settings: Callable[[], Settings], sink: IntakeSink) -> None:
        super().__init__(settings, sink)
        self.seen: dict[Path, Seen] = {}
        self.ready: set[Path] = set()  # renamed into place: complete now
        self.failed: dict[Path, tuple[int, ...]] = {}  # refused or not taken: said once
        self.unread: dict[Path, str] = {}  # folder → why it cannot be read: said once
        self.leftover: list[Left] = []  # claimed, not spooled yet: taken first
        self._wake = asyncio.Event()
        self._observer: BaseObserver | None = None
        self._task: asyncio.Task | None = None
        self._paused_until = 0.0  # the spool refused a file: no scan before then
        self._short_of_space = False  # said once while the spool is under min_free_bytes

    def folders(self) -> dict[str, Path]:
        settings = self.settings
        return {
            name: settings.path(account.dropdir.path)
            for name, account in settings.accounts.items()
            if account.dropdir is not None
        }

    async def start(self) -> None:
        for name, folder in self.folders().items():
            folder.mkdir(parents=True, exist_ok=True)
            for claimed in await claims.leftovers(self.sink, folder):
                self.leftover.append(Left(name, claimed, folder / claimed.name))
        self._watch()
        self._task = asyncio.create_task(self._serve(), name="dropdir")
        log.info("dropdir watching %d folder(s)", len(self.folders()))

    def _watch(self) -> None:
        # The folders first: one that cannot be made (a file in its place) leaves the
        # folders watched as they were, where a new observer left unstarted made every
        # later reload fail ("cannot join thread before it is started").
        folders = list(self.folders().values())
        for folder in folders:
            folder.mkdir(parents=True, exist_ok=True)
        observer = Observer()
        handler = _Events(self, asyncio.get_running_loop())
        for folder in folders:
            observer.schedule(handler, str(folder), recursive=False)
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(5)
        self._observer = observer
        observer.start()

    def reload(self) -> None:
        """Watch the folders of the current config (accounts added or removed)."""
        self._watch()
        self.wake()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._observer is not None:
            self._observer.stop()
            await asyncio.to_thread(self._observer.join, 5)

    def wake(self) -> None:
        self._wake.set()

    def renamed(self, source: Path, path: Path) -> None:
        """`source` was renamed to `path`. Only a name that says the file is unfinished
        makes the rename its end: a writer may rename `export.tmp.csv` into place and
        write on through the handle it holds, so that file must settle like any other."""
        if not complete_name(path.name):
            return  # a claim, or a name still written under
        if complete_name(source.name):
            self.ready.discard(path)  # another file now, under a name that was ready
        else:
            self.ready.add(path)
        self.wake()

    async def _serve(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.scan()
            except Exception:
                log.exception("dropdir scan failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), RESCAN_SECONDS)

    async def scan(self) -> None:
        """Take every complete file, in the order they came; remember the others and
        look again."""
        now = time.monotonic()
        if now < self._paused_until:
            return
        if not self.sink.has_room():  # under daemon.min_free_bytes: the files wait there
            self._paused_until = now + SPOOL_RETRY_SECONDS
            if not self._short_of_space:  # once, not every 5 s for as long as it lasts
                log.warning("dropdir: spool space under daemon.min_free_bytes; files wait")
                self._short_of_space = True
            return
        if self._short_of_space:
            log.info("dropdir: spool space is back over daemon.min_free_bytes")
            self._short_of_space = False
        # Claims a crash left go first: each came before any file now under its name.
        if not await self._take_leftovers():
            return
        settings = self.settings
        present: set[Path] = set()
        for name, folder in self.folders().items():
            account = settings.accounts[name]
            if account.status == "stopped":
                continue  # its files wait there, as an FTP home's do, until it starts again
            for path in self._complete(name, folder, account.dropdir.settle, now, present):
                if not await self._take(name, path):
                    return  # the spool cannot take files: the rest wait, in their order
        # A folder that cannot be read for now keeps what is known of its files.
        present |= {p for p in (*self.seen, *self.ready, *self.failed) if p.parent in self.unread}
        self.seen = {p: s for p, s in self.seen.items() if p in present}
        self.ready &= present
        self.failed = {p: s for p, s in self.failed.items() if p in present}

    def _complete(
        self, account: str, folder: Path, settle: float, now: float, present: set[Path]
    ) -> list[Path]:
        """The complete files of `folder`, in the order they came: by modification
        time, then change time, then name (README, Drop folder)."""
        found = []
        writing = []  # the files not complete yet: those that came after them wait
        try:
            entries = _entries(folder)
        except OSError as exc:
            self._unreadable_folder(folder, exc)
            return []
        self._readable_folder(folder)
        for entry, stat in entries:
            path = Path(entry.path)
            present.add(path)
            if self.failed.get(path) == _signature(stat):
                continue  # said once; looked at again when it changes
            if S_ISLNK(stat.st_mode):
                self._refuse(account, path, stat, "symlink", "dropdir.symlink")
            elif S_ISREG(stat.st_mode):
                came = (stat.st_mtime_ns, stat.st_ctime_ns, entry.name)
                if self._settled(path, stat, settle, now):
                    found.append((came, path))
                else:
                    writing.append(came)
        # A file renamed into place is complete at once, and one written in place only
        # once it settles: taken before an older file still settling, the newer one's
        # rows were replaced by the older's.
        first_unsettled = min(writing, default=None)
        return [
            path
            for came, path in sorted(found)
            if first_unsettled is None or came < first_unsettled
        ]

    def _settled(self, path: Path, stat: os.stat_result, settle: float, now: float) -> bool:
        """Renamed into place, or seen by renkei itself unchanged for `settle` seconds:
        a file's own times prove nothing (a share or a sync tool may set an old mtime
        while it still writes), and its ctime and inode, which no writer sets, change
        with it."""
        if path in self.ready:
            return True
        seen = self.seen.get(path)
        signature = _signature(stat)
        if seen is None or seen.signature != signature:
            self.seen[path] = seen = Seen(signature, now)
        return now - seen.since >= settle

    def _unreadable_folder(self, folder: Path, exc: OSError) -> None:
        """Said once, and again when the trouble changes or comes back, not at every
        scan; no traceback, as it is no fault of renkei's. Its files wait there."""
        trouble = OsTrouble(exc).render("en")
        if self.unread.get(folder) != trouble:
            self.unread[folder] = trouble
            log.warning(
                "dropdir: folder %r cannot be read, its files wait: %s", str(folder), trouble
            )

    def _readable_folder(self, folder: Path) -> None:
        if self.unread.pop(folder, None) is not None:
            # A folder removed and made again is another folder: its watch went with
            # the old one, and a file renamed in was seen only at the next rescan. (A
            # folder that cannot be made, a file in its place, is said by the scan.)
            with contextlib.suppress(OSError):
                self._watch()
            log.info("dropdir: folder %r can be read again", str(folder))

    async def _take(self, account: str, path: Path) -> bool:
        """Claim and spool `path`; False when the spool cannot take files."""
        self.seen.pop(path, None)
        self.ready.discard(path)
        try:
            _check_readable(path)
        except OSError as exc:
            self._cannot_read(account, path, exc)
            return True
        try:
            claimed = claims.claim(path.parent, path, self.sink.new_id())
        except OSError as exc:
            # This file alone (a permission, the file system): the others are taken,
            # and it is said once, not at every scan, until it changes.
            with contextlib.suppress(OSError):
                self.failed[path] = _signature(path.lstat())
            log.error("dropdir: %r cannot be taken, it stays: %s", str(path), exc)
            return True
        if claimed is None:
            return True
        return await self._spool(Left(account, claimed, path))

    async def _take_leftovers(self) -> bool:
        accounts = self.settings.accounts
        for left in list(self.leftover):
            account = accounts.get(left.account)
            if account is None or account.status == "stopped":
                continue  # they wait, claimed, as the account's files wait in the folder
            self.leftover.remove(left)
            if not await self._spool(left):
                return False
        return True

    async def _spool(self, left: Left) -> bool:
        """Spool a claimed file, read by a descriptor opened without following a link;
        False when the spool cannot take files (it stays claimed, to go first)."""
        try:
            fd = claims.open_plain(left.claim.path)
        except OSError as exc:
            self._give_back(left, exc)
            return True
        data = _by_descriptor(fd, left.claim.path)
        # The run is named as mail and the API name theirs (base.bare_name): a newline
        # or a right-to-left override in it would split a log line or a report's
        # Subject, or turn the name around where it is shown. The file keeps its name.
        name = run_name(left.claim.name)
        claimed = dataclasses.replace(left.claim, name=name)
        sender = str(left.origin.parent / name)
        try:
            with _closing(fd):
                run_id = await claims.spool_claim(
                    self.sink, claimed, left.account, CHANNEL, sender, data
                )
        except SpoolUnavailable as exc:
            return self._not_spooled(left, exc, data)
        log.info("dropdir: took %r as %s", str(left.origin), run_id)
        return True

    def _not_spooled(self, left: Left, exc: SpoolUnavailable, data: Path) -> bool:
        if _unreadable(exc, data):
            self._give_back(left, exc)
            return True
        log.warning("dropdir: spool unavailable; %r stays for the next scan", str(left.origin))
        self.leftover.insert(0, left)
        # Not sooner: the claim's rename wakes the scan at once.
        self._paused_until = time.monotonic() + SPOOL_RETRY_SECONDS
        return False

    def _give_back(self, left: Left, exc: BaseException) -> None:
        """A claimed file renkei cannot read goes back under its name, refused; never
        over a file that came under that name since (then it keeps its claim name)."""
        origin = left.origin
        try:
            back = claims.give_back(left.claim, origin)
        except OSError as trouble:
            back = False
            log.error("dropdir: %r could not be given back: %s", str(left.claim.path), trouble)
        if not back:
            origin = left.claim.path
        self._cannot_read(left.account, origin, exc)

    def _cannot_read(self, account: str, path: Path, exc: BaseException) -> None:
        try:
            stat = path.lstat()
        except OSError:
            return  # gone meanwhile: nothing to say of it
        if _os_errno(exc) == errno.ELOOP or S_ISLNK(stat.st_mode):
            self._refuse(account, path, stat, "symlink", "dropdir.symlink")
        else:
            self._refuse(account, path, stat, "unreadable", "dropdir.unreadable", exc)

    def _refuse(
        self,
        account: str,
        path: Path,
        stat: os.stat_result,
        reason: str,
        key: str,
        exc: BaseException | None = None,
    ) -> None:
        """A file renkei will not take: said once (the refusals, the log), left where
        it is for the admin to see and its writer to replace, looked at again when it
        changes."""
        self.failed[path] = _signature(stat)
        problem = OsTrouble(exc).render("en") if exc is not None else ""
        detail = self.sink.text(key, "en", problem=problem)
        self.sink.refused(Refusal(CHANNEL, "", "", reason, account, readable(path.name), detail))


@dataclass(frozen=True, slots=True)
class Left:
    """A claimed file still to spool: its account, its claim, and where it was dropped."""

    account: str
    claim: claims.Claim
    origin: Path


def _entries(folder: Path) -> list[tuple[os.DirEntry, os.stat_result]]:
    """The files of `folder` not named as unfinished, each with its own (not a link's
    target's) status. Raises the OSError reading the folder raised: a folder without
    the search permission can be listed, but none of its files looked at."""
    with os.scandir(folder) as listed:
        entries = [entry for entry in listed if complete_name(entry.name)]
    found = []
    for entry in entries:
        with contextlib.suppress(FileNotFoundError):  # taken or removed meanwhile
            found.append((entry, entry.stat(follow_symlinks=False)))
    return found


def _signature(stat: os.stat_result) -> tuple[int, ...]:
    """What changes whenever a file is written, replaced or has its mode changed: the
    ctime, which no writer can set back as it can the mtime (os.utime), among them."""
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_mode)


def _check_readable(path: Path) -> None:
    """Raise the OSError reading `path` would: a link (ELOOP), a permission. Looked at
    before the claim, so that a file renkei cannot read stays untouched."""
    os.close(claims.open_plain(path))


def _by_descriptor(fd: int, path: Path) -> Path:
    """A path the spool reads the open file `fd` by: the file itself, whatever is
    under its name by then (Linux's /proc); elsewhere the name, checked just now."""
    via = Path(f"/proc/self/fd/{fd}")
    return via if via.exists() else path


@contextlib.contextmanager
def _closing(fd: int) -> Iterator[None]:
    """Close `fd` once the spool is done with it; not when the daemon stops meanwhile:
    the spool's writer thread may still open it by its number, which must not be
    another file's by then (it is closed at exit)."""
    try:
        yield
    except asyncio.CancelledError:
        raise
    except BaseException:
        os.close(fd)
        raise
    os.close(fd)


def _unreadable(exc: SpoolUnavailable, data: Path) -> bool:
    """Whether the spool failed reading the file handed to it, not writing its own."""
    cause = exc.__cause__
    return isinstance(cause, OSError) and cause.filename == str(data)


def _os_errno(exc: BaseException) -> int | None:
    return exc.errno if isinstance(exc, OSError) else None
