"""Drop-folder intake. Spools each complete file written into an account's folder;
never parses CSV.

A file is complete when it was renamed into place from a `.`-prefixed or `.part`/`.tmp`
name, or when it has not changed for `settle` seconds. watchdog reports changes from
its own thread (they cross into the event loop with call_soon_threadsafe); a periodic
rescan catches whatever the events missed, and takes the files present at start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver

from daemon.settings import Settings
from handlers import claims
from handlers.base import Intake, IntakeSink, SpoolUnavailable

log = logging.getLogger(__name__)

CHANNEL = "dropdir"
RESCAN_SECONDS = 0.5
SPOOL_RETRY_SECONDS = 5.0  # after the spool refused a file
_INCOMPLETE_SUFFIXES = (".part", ".tmp")


def complete_name(name: str) -> bool:
    return not name.startswith(".") and not name.lower().endswith(_INCOMPLETE_SUFFIXES)


@dataclass(slots=True)
class Seen:
    size: int
    mtime_ns: int
    since: float  # monotonic time it was first seen like this


class _Events(FileSystemEventHandler):
    """watchdog's thread → the event loop: only paths cross, never work."""

    def __init__(self, intake: DropdirIntake, loop: asyncio.AbstractEventLoop) -> None:
        self.intake = intake
        self.loop = loop

    def on_moved(self, event: FileSystemEvent) -> None:
        if not event.is_directory:
            self.loop.call_soon_threadsafe(self.intake.renamed, Path(os.fsdecode(event.dest_path)))

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("created", "modified", "closed") and not event.is_directory:
            self.loop.call_soon_threadsafe(self.intake.wake)


class DropdirIntake(Intake):
    channel = CHANNEL

    def __init__(self, settings: Callable[[], Settings], sink: IntakeSink) -> None:
        super().__init__(settings, sink)
        self.seen: dict[Path, Seen] = {}
        self.ready: set[Path] = set()  # renamed into place: complete now
        self.failed: set[Path] = set()  # could not be taken: said once
        self._wake = asyncio.Event()
        self._observer: BaseObserver | None = None
        self._task: asyncio.Task | None = None
        self._paused_until = 0.0  # the spool refused a file: no scan before then

    def folders(self) -> dict[str, Path]:
        settings = self.settings
        return {
            name: settings.path(account.dropdir.path)
            for name, account in settings.accounts.items()
            if account.dropdir is not None
        }

    async def start(self) -> None:
        for folder in self.folders().values():
            folder.mkdir(parents=True, exist_ok=True)
            await claims.recover(self.sink, folder)
        self._watch()
        self._task = asyncio.create_task(self._serve(), name="dropdir")
        log.info("dropdir watching %d folder(s)", len(self.folders()))

    def _watch(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(5)
        self._observer = Observer()
        handler = _Events(self, asyncio.get_running_loop())
        for folder in self.folders().values():
            folder.mkdir(parents=True, exist_ok=True)
            self._observer.schedule(handler, str(folder), recursive=False)
        self._observer.start()

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

    def renamed(self, path: Path) -> None:
        if complete_name(path.name):
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
        """Take every complete file; remember the others and look again."""
        now = time.monotonic()
        if now < self._paused_until:
            return
        if not self.sink.has_room():  # under daemon.min_free_bytes: the files wait there
            self._paused_until = now + SPOOL_RETRY_SECONDS
            log.warning("dropdir: spool space under daemon.min_free_bytes; files wait")
            return
        settings = self.settings
        present: set[Path] = set()
        for name, folder in self.folders().items():
            account = settings.accounts[name]
            if account.status == "stopped":
                continue  # its files wait there, as an FTP home's do, until it starts again
            for path in sorted(folder.iterdir()) if folder.is_dir() else ():
                if not complete_name(path.name) or not path.is_file():
                    continue
                present.add(path)
                if self._settled(path, account.dropdir.settle, now):
                    await self._take(name, path)
        self.seen = {p: s for p, s in self.seen.items() if p in present}
        self.ready &= present
        self.failed &= present

    def _settled(self, path: Path, settle: float, now: float) -> bool:
        if path in self.ready:
            return True
        try:
            stat = path.stat()
        except FileNotFoundError:
            return False
        seen = self.seen.get(path)
        if seen is None or (seen.size, seen.mtime_ns) != (stat.st_size, stat.st_mtime_ns):
            # First sight: a file already this old when we start counts its age.
            age = max(0.0, time.time() - stat.st_mtime) if seen is None else 0.0
            self.seen[path] = seen = Seen(stat.st_size, stat.st_mtime_ns, now - age)
        return now - seen.since >= settle

    async def _take(self, account: str, path: Path) -> None:
        try:
            run_id = await claims.take(self.sink, account, CHANNEL, str(path), path)
        except SpoolUnavailable:
            log.warning("dropdir: spool unavailable; %s stays for the next scan", path)
            # Not sooner: the claim's rename and its undoing wake the scan at once.
            self._paused_until = time.monotonic() + SPOOL_RETRY_SECONDS
            return
        except OSError as exc:
            # This file alone (a permission, the file system): the others are taken,
            # and it is said once, not at every scan, until it changes.
            self.seen.pop(path, None)
            self.ready.discard(path)
            if path not in self.failed:
                self.failed.add(path)
                log.error("dropdir: %s cannot be taken, it stays: %s", path, exc)
            return
        self.seen.pop(path, None)
        self.ready.discard(path)
        if run_id:
            log.info("dropdir: took %s as %s", path, run_id)
