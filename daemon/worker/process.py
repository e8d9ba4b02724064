"""`python -m daemon.worker.process`: the daemon's import process.

Postfix keeps cleanup and qmgr apart from smtpd; renkei likewise imports in a process
of its own, so parsing, converting and writing never hold the event loop (or the GIL)
that the doors answer on. The master starts it (supervisor.py) and talks to it over
its stdin and stdout (wire.py). It builds the same graph as `renkei import`, recovers
the spool, then runs the worker until told to stop.

A stop (SIGTERM, or stdin closed because the master is gone) aborts the imports in
flight (the worker keeps two, turns.py): rolled back, their files back in `incoming/`.
A master killed outright takes this process with it (PR_SET_PDEATHSIG), exactly as a
crash of one process would.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time

from daemon import graph, logs
from daemon.backoff import backoff
from daemon.lifeline import die_with_parent
from daemon.settings import Settings
from daemon.store.runs import RunState
from daemon.worker import staging, wire

log = logging.getLogger(__name__)
MASTER_PID = "RENKEI_MASTER_PID"
NICENESS = 10
_RESTART_BASE = 1.0  # seconds before a crashed worker loop starts again, doubling…
_RESTART_MAX = 60.0  # …up to this
_RESTART_FORGET = 600.0  # a loop that ran this long before crashing starts the count anew


def die_with_master() -> None:
    """Ask Linux to kill this process when the master dies (elsewhere, stdin's EOF)."""
    master = os.environ.get(MASTER_PID)
    die_with_parent(int(master) if master else None)


class ImportProcess:
    def __init__(self, settings: Settings, master: asyncio.StreamReader) -> None:
        self.settings = settings
        self.master = master
        self.out = sys.stdout.buffer
        self._stop = asyncio.Event()
        self._applying: asyncio.Task | None = None  # new settings, until their layouts are

    def current(self) -> Settings:
        return self.settings

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop.set)
        loop.add_signal_handler(signal.SIGHUP, lambda: None)  # the master sends settings
        # Readers start loading while the graph is built: the first file waits for none.
        staging.warm()
        parts = await graph.build(
            self.current, reported=self._reported, counted=self._counted, forwards=True
        )
        try:
            await parts.worker.recover()
            wire.send(self.out, ("ready",))
            listening = asyncio.create_task(self._listen(parts))
            working = asyncio.create_task(self._work(parts))
            await self._stop.wait()
            for task in (listening, working):
                task.cancel()
            await asyncio.gather(listening, working, return_exceptions=True)
        finally:
            await parts.close()
        return 0

    async def _work(self, parts: graph.Parts) -> None:
        crashes = 0
        while True:
            started = time.monotonic()
            try:
                await parts.worker.serve()
            except Exception:
                # A crash of the loop itself (not of an import, which the pipeline
                # records): start it again rather than import nothing, after a pause
                # that grows while it keeps crashing, so a lasting fault (a full disk)
                # cannot flood the log.
                if time.monotonic() - started > _RESTART_FORGET:
                    crashes = 0  # it ran well for a while: this is a new fault
                delay = backoff(_RESTART_BASE, crashes, _RESTART_MAX)
                crashes += 1
                log.exception("import worker crashed; restarting it in %.0fs", delay)
                await asyncio.sleep(delay)

    async def _listen(self, parts: graph.Parts) -> None:
        try:
            while (message := await wire.receive(self.master)) is not None:
                if message[0] == "wake":
                    parts.worker.wake()
                elif message[0] == "settings":
                    # Beside the listening, so that wake-ups go on meanwhile; a later
                    # reload's settings replace these if they are not applied yet.
                    if self._applying is not None:
                        self._applying.cancel()
                    self._applying = asyncio.create_task(self._apply(parts, message[1]))
        finally:
            if self._applying is not None:
                self._applying.cancel()
        log.info("the master closed the pipe; stopping")
        self._stop.set()

    async def _apply(self, parts: graph.Parts, settings: Settings) -> None:
        """Take the master's new settings once this store knows their layouts (the
        master has made their tables already): a file planned on them before would
        name a column the store here had not heard of. A busy store is asked again
        with a growing pause: a failure once stopped every later reload, and every
        wake-up, from reaching this process until a restart."""
        failures = 0
        while True:
            try:
                await parts.store.ensure_layouts(settings.layouts)
                break
            except Exception as exc:
                delay = backoff(_RESTART_BASE, failures, _RESTART_MAX)
                failures += 1
                log.warning(
                    "the import process could not take the new config's layouts yet"
                    " (%s); trying again in %.0fs",
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)
        self.settings = settings

    async def _reported(self, run_id: str) -> None:
        wire.send(self.out, ("report", run_id))

    def _counted(self, state: RunState, imported: int, run_id: str) -> None:
        wire.send(self.out, ("run", str(state), imported, run_id))


async def _serve() -> int:
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    message = await wire.receive(reader)
    if message is None or message[0] != "settings":
        log.error("no settings from the master; stopping")
        return 1
    return await ImportProcess(message[1], reader).run()


def main() -> int:
    die_with_master()
    # Importing is background work: the doors, in the master, come first for the CPU,
    # so a burst of imports does not slow their answers (reader processes inherit it).
    with contextlib.suppress(OSError):
        os.nice(NICENESS)
    logs.configure()
    return asyncio.run(_serve())


if __name__ == "__main__":
    sys.exit(main())
