"""The master's side of the import process: starts it, wakes it, hears from it, and
starts it again if it dies.

`start()` returns once the process has recovered the spool, so the daemon binds its
listeners (and says READY=1) only after that, as before. Runs and reports the process
announces are counted in the daemon's metrics and wake the reporter here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable

from daemon.settings import Settings
from daemon.store.runs import RunState
from daemon.worker import wire
from daemon.worker.pipeline import Counted
from daemon.worker.process import MASTER_PID

log = logging.getLogger(__name__)
_START_SECONDS = 120  # recovery of a large spool included
_RESTART_SECONDS = (1, 2, 5, 10, 30)


class ImportProcessDied(Exception):
    """The import process ended before it was ready."""


class ImportSupervisor:
    def __init__(
        self,
        settings: Callable[[], Settings],
        counted: Counted,
        reported: Callable[[str], None],
    ) -> None:
        self._settings = settings
        self._counted = counted
        self._reported = reported
        self._proc: asyncio.subprocess.Process | None = None
        self._stopping = False

    async def start(self) -> None:
        """Start the process and wait until it has recovered the spool."""
        env = {**os.environ, MASTER_PID: str(os.getpid())}
        self._proc = proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "daemon.worker.process",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=env,
            # A Ctrl-C at the terminal is for the master, which stops us with its one
            # SIGTERM: both signals at once, the second met asyncio closing its loop.
            process_group=0,
        )
        self._send(("settings", self._settings()))
        assert proc.stdout is not None
        try:
            await asyncio.wait_for(self._recovered(proc.stdout), _START_SECONDS)
        except TimeoutError:
            proc.kill()
            raise ImportProcessDied("the import process did not start in time") from None
        except EOFError:
            code = await proc.wait()
            raise ImportProcessDied(f"the import process ended at start (exit {code})") from None
        log.info("import process %d ready", proc.pid)

    async def _recovered(self, stdout: asyncio.StreamReader) -> None:
        """Until the process says it is ready. Its recovery may fail runs first (a file
        it cannot read), which are heard as later ones are."""
        while (message := await wire.receive(stdout)) != ("ready",):
            if message is None:
                raise EOFError
            self._heard(message)

    def wake(self) -> None:
        self._send(("wake",))

    def reload(self) -> None:
        self._send(("settings", self._settings()))

    def _send(self, message: tuple) -> None:
        proc = self._proc
        if proc is None or proc.stdin is None or proc.stdin.is_closing():
            return  # dead or restarting: it rescans the spool when it is back
        proc.stdin.write(wire.frame(message))

    async def serve(self) -> None:
        """Hear the process until it ends; start it again unless we are stopping."""
        failures = 0
        while True:
            assert self._proc is not None and self._proc.stdout is not None
            while (message := await wire.receive(self._proc.stdout)) is not None:
                failures = 0
                self._heard(message)
            code = await self._proc.wait()
            if self._stopping:
                return
            delay = _RESTART_SECONDS[min(failures, len(_RESTART_SECONDS) - 1)]
            log.error("import process ended (exit %s); starting it again in %ss", code, delay)
            failures += 1
            await asyncio.sleep(delay)
            with contextlib.suppress(ImportProcessDied):
                await self.start()

    def _heard(self, message: tuple) -> None:
        if message[0] == "run":
            self._counted(RunState(message[1]), message[2], message[3])
        elif message[0] == "report":
            self._reported(message[1])

    async def stop(self, timeout: float) -> None:
        """SIGTERM: the running import is aborted and rolled back; kill after `timeout`."""
        self._stopping = True
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), timeout)
        except TimeoutError:
            log.error("import process did not stop within %ss; killing it", timeout)
            proc.kill()
            await proc.wait()
