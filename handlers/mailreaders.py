"""Mails read beside the doors' event loop, not under its GIL.

Reading a mail (mailread.py: MIME parsing, base64 decoding) holds the GIL for a
millisecond or more per 500 KB. In a thread of the daemon's process that still held
up the loop every door answers on: fifty mails of 500 KB arriving at once lagged it
50 to 100 ms, where the same mails read by processes apart lag it 15 to 30. So a mail
over THREAD_BYTES is read by one of a small pool of processes, all started with the
first such mail (a fifth of a second each, for their modules) and kept; a smaller
one in a thread, where handing it over would cost more than reading it.

A reader killed (out of memory, by hand) breaks the pool: another is made and the
mail read again there, once; a second loss is the caller's 451. A reader ignores
Ctrl-C, which is for the daemon that stops it (from its start: spawned with it
blocked), and dies with the daemon however it ends (PR_SET_PDEATHSIG): readers hold
each other's ends of the pool's queues, so none would see the daemon go otherwise.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from daemon.lifeline import die_with_parent
from handlers import mailread

log = logging.getLogger(__name__)

THREAD_BYTES = 256 * 1024
WORKERS = 2  # a large mail being read leaves a reader for the others


class MailReaders:
    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None

    async def read(self, raw: bytes, mail_from: str) -> mailread.Read:
        """mailread.read(raw, mail_from), in a thread or a reader process."""
        if len(raw) <= THREAD_BYTES:
            return await asyncio.to_thread(mailread.read, raw, mail_from)
        loop = asyncio.get_running_loop()
        pool = self._pool or self._start()
        try:
            return await loop.run_in_executor(pool, mailread.read, raw, mail_from)
        except BrokenProcessPool:
            log.warning("a mail reader process ended; the mail is read again by a new one")
            self._drop(pool)
        return await loop.run_in_executor(
            self._pool or self._start(), mailread.read, raw, mail_from
        )

    def close(self) -> None:
        """End the readers; a mail still being read gets no answer (its sender retries)."""
        if self._pool is not None:
            self._drop(self._pool)

    def _start(self) -> ProcessPoolExecutor:
        # Spawned, not forked: the daemon has threads, whose locks a fork would copy
        # held; and not from a fork server, whose readers would be no children of the
        # daemon's to die with it.
        context = multiprocessing.get_context("spawn")
        self._pool = ProcessPoolExecutor(
            WORKERS, mp_context=context, initializer=_started, initargs=(os.getpid(),)
        )
        # A task each, so that every reader starts now (the pool starts one per task
        # that finds none idle): started with the next burst of mails instead, one
        # took its 0.2 s of CPU beside them, and the burst's imports read 1.44x-1.56x
        # of one import where they read 1.36x-1.40x this way (two runs each).
        # Started with Ctrl-C blocked, which they inherit: one that came while a reader
        # still loaded its modules, before _started, ended it with a KeyboardInterrupt
        # traceback. Blocked, not ignored, in this thread: the daemon still gets it.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            for _ in range(WORKERS):
                self._pool.submit(os.getpid)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        return self._pool

    def _drop(self, pool: ProcessPoolExecutor) -> None:
        if self._pool is pool:
            self._pool = None
        pool.shutdown(wait=False, cancel_futures=True)


def _started(daemon: int) -> None:
    """In each reader as it starts; `daemon` is the pid of the process it reads for."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Blocked since it was spawned (MailReaders._start): one that came meanwhile waits,
    # and is dropped now that it is ignored.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    die_with_parent(daemon)
