"""Reader processes kept for the next file.

A part of a file is read by a `python -m daemon.worker.partreader` child (staging.py).
Starting one costs about a quarter of a second of CPU, for the importers' modules:
more than reading the part of a file of a few MB. So a process keeps its readers
between files: `take(n)` hands out n idle ones, starting what is missing, and
`give_back()` keeps those still alive for the next file. Whoever gave a reader a part
and could not wait for its answer ends it (`end()`), so a reader taken again is
always between parts. A reader ends by itself once its stdin closes: none outlives
the process that started it, even one killed outright.
"""

from __future__ import annotations

import atexit
import contextlib
import subprocess
import sys
from collections.abc import Iterable


class ReaderPool:
    def __init__(self) -> None:
        self._idle: list[subprocess.Popen] = []

    def idle(self) -> int:
        """Readers started and waiting for a part."""
        self._idle = [child for child in self._idle if child.poll() is None]
        return len(self._idle)

    def take(self, count: int) -> list[subprocess.Popen]:
        """`count` readers, each waiting on its stdin for a part."""
        self.idle()  # drop any that died meanwhile
        taken, self._idle = self._idle[:count], self._idle[count:]
        try:
            while len(taken) < count:
                taken.append(_start())
        except BaseException:
            # The system refused one more: none is left behind.
            end(taken)
            raise
        return taken

    def give_back(self, children: Iterable[subprocess.Popen], keep: int) -> None:
        """Keep the live ones among `children` for the next file, up to `keep` idle."""
        for child in children:
            if child.poll() is None and len(self._idle) < keep:
                self._idle.append(child)
            else:
                end([child])

    def warm(self, count: int) -> None:
        """Start readers until `count` wait idle, so the first file pays no start."""
        self.give_back(self.take(count), count)

    def close(self) -> None:
        end(self._idle)
        self._idle = []


def _start() -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "daemon.worker.partreader"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        # Out of the terminal's reach: a Ctrl-C there is for the command that started
        # the reader, which ends it; it reached each reader as a KeyboardInterrupt
        # traceback, even one still loading its modules.
        process_group=0,
    )


def end(children: Iterable[subprocess.Popen]) -> None:
    """End readers now, whatever they were doing."""
    for child in children:
        with contextlib.suppress(OSError):
            child.stdin.close()  # an idle reader ends on its own
        if child.poll() is None:
            child.kill()
        child.wait()
        child.stdout.close()


POOL = ReaderPool()
atexit.register(POOL.close)
