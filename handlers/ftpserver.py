"""How the FTP door serves its sessions. Plain FTP: every session on one I/O thread, as
bare pyftpdlib does (`OneThread`), where a thread per session handed the GIL about at
each of an upload's syscalls; while other sessions are served, what blocks on the disk
(an upload's rename and fsync) goes to a pool (`aside`), so one upload's fsync holds up
no other session, and comes back to the I/O thread through a `Waker`. FTPS: a thread per session
(`SessionThreads`), since a TLS data channel's close is an SSL shutdown on the I/O
thread of its session, and its upload is made durable there. Chosen by handlers/ftp.py;
ftpdata.UploadDTP and ftpnames ask `aside_of` where to do it.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import socket
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from pyftpdlib.handlers import FTPHandler
from pyftpdlib.ioloop import IOLoop
from pyftpdlib.servers import FTPServer, ThreadedFTPServer

log = logging.getLogger(__name__)
T = TypeVar("T")
DURABLE_WORKERS = 8  # uploads made durable at once (each mostly waits on its fsync)


class Waker:
    """Runs on an IOLoop's thread what other threads hand it: `call()` from any thread,
    the call made at the loop's next poll. A socket pair registered on the loop wakes
    it; pyftpdlib's own scheduler may only be touched from the loop's thread."""

    def __init__(self, ioloop: IOLoop) -> None:
        self.ioloop = ioloop
        self._read, self._write = socket.socketpair()
        self._read.setblocking(False)
        self._write.setblocking(False)
        self._fileno = self._read.fileno()  # pyftpdlib sorts what it closes by it
        self._calls: collections.deque[tuple[Callable[..., None], tuple]] = collections.deque()
        ioloop.register(self._fileno, self, ioloop.READ)

    def call(self, fn: Callable[..., None], *args: Any) -> None:
        self._calls.append((fn, args))
        # A full socket buffer already holds a wake-up the loop has not read yet.
        with contextlib.suppress(BlockingIOError, OSError):
            self._write.send(b"\0")

    # -- what pyftpdlib's IOLoop asks of a registered instance -----------------------

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return False

    def handle_read_event(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            while self._read.recv(4096):
                pass
        self.run()

    def run(self) -> None:
        """Make the calls handed over so far, here (on the loop's thread)."""
        while self._calls:
            fn, args = self._calls.popleft()
            try:
                fn(*args)
            except Exception:  # one upload's bookkeeping failing ends no other's
                log.exception("ftp: a finished upload could not be answered")

    def handle_close(self) -> None:
        pass

    def handle_error(self) -> None:
        log.exception("ftp: the I/O thread's waker failed")

    def close(self) -> None:
        self.ioloop.unregister(self._fileno)
        self._read.close()
        self._write.close()


class OneThread(FTPServer):
    """Every session on the server's one I/O thread; the disk's slow work aside."""

    def __init__(self, address: tuple[str, int], handler: type) -> None:
        # An IOLoop of its own: pyftpdlib's IOLoop.instance() is one per process.
        super().__init__(address, handler, ioloop=IOLoop())
        self._waker = Waker(self.ioloop)
        self._pool = ThreadPoolExecutor(DURABLE_WORKERS, thread_name_prefix="ftp-durable")

    def aside(self, work: Callable[[], T], then: Callable[[Future[T]], None]) -> None:
        """Run `work` in the pool, then `then(its future)` back on the I/O thread."""
        self._pool.submit(work).add_done_callback(lambda done: self._waker.call(then, done))

    def serves_others(self) -> bool:
        """Whether more than one session is connected: with one alone, its upload is
        made durable on the I/O thread, where it keeps nobody waiting and saves the two
        thread hand-offs of going aside (a tenth of a millisecond each here)."""
        return self._map_len() > 1

    def _map_len(self) -> int:
        # The sessions: what ftp.max_connections counts (pyftpdlib counts every socket
        # of the loop here: data connections, passive ports, the waker).
        return sum(isinstance(x, FTPHandler) for x in self.ioloop.socket_map.values())

    def close_all(self) -> None:
        # What is being made durable finishes first, and its client is told (226, or
        # why not) before every session is closed.
        self._pool.shutdown(wait=True)
        self._waker.run()
        super().close_all()


Aside = Callable[[Callable[[], T], Callable[[Future[T]], None]], None]


def aside_of(server: FTPServer) -> Aside | None:
    """Where a session of `server` does slow disk work now: the pool (OneThread.aside)
    while its one I/O thread serves other sessions too; None when the work is best
    done in place (the session alone there, or a thread of its own: FTPS)."""
    if isinstance(server, OneThread) and server.serves_others():
        return server.aside
    return None


class SessionThreads(ThreadedFTPServer):
    """A thread per session (FTPS): one upload's fsyncs never hold up the others."""

    poll_timeout = 0.2  # how soon a session's thread sees the server stopping

    def _loop(self, handler: Any) -> None:
        # A session closed as it opened (a banned address, told 421) has nothing to
        # serve; pyftpdlib's thread would register its closed socket with a new poller
        # (often given the same descriptor number) and die with a traceback.
        if not handler._closed:
            super()._loop(handler)
