"""The worker's order for files in flight: the next file is read while the one
before it writes, and the one after that is made ready meanwhile. Made by the worker
(consumer.py), honoured by the pipeline and the row writer.

A run spends most of its time reading (reader processes convert the rows into scratch
databases) and then writing (one transaction copies them in and commits). One file
at a time, the readers wait out every commit, and a burst of small files pays that
wait fifty times over. So the worker claims the next files while one is in flight
(consumer.IN_FLIGHT), and each file's Turn keeps what must stay in order in order:

- a file is read in parts only once the file before it is done with the readers, so
  it gets all of them rather than falling back to one pass in the import process;
- a run ends (its transaction commits, or its failure is recorded) only after the run
  before it ended, so runs still commit in the order they were claimed, as a same-name
  replace, a keyed mode or an undo expects of them.
"""

from __future__ import annotations

import asyncio


class Turn:
    """One file's place in the worker's order, after `before` (None: nothing waits)."""

    def __init__(self, before: Turn | None = None) -> None:
        self._before = before
        self._read = asyncio.Event()
        self._ended = asyncio.Event()
        self.put_back = False

    async def may_read(self) -> None:
        """Wait until the file before this one is done with the readers."""
        if self._before is not None:
            await self._before._read.wait()

    async def may_write(self) -> None:
        """Wait until the run before this one has ended; WaitsForEarlier when it was
        put back to try again later (a fault of the moment): imported now, this file
        would go before it (an older file's rows over a newer one's of its name)."""
        if self._before is not None:
            await self._before._ended.wait()
            if self._before.put_back:
                raise WaitsForEarlier
            self._before = None  # the chain of ended turns is not kept alive

    def read(self) -> None:
        """This file is done with the readers, or never took them."""
        self._read.set()

    def end(self, put_back: bool = False) -> None:
        """This run has ended, whichever way (the file after it may write now), or
        was `put_back` to try again later (the files after it go back too)."""
        self.put_back = put_back
        self._read.set()
        self._ended.set()


class WaitsForEarlier(Exception):
    """A file's turn came after one put back to try again later: it goes back too,
    not counted as an attempt, so that files are still imported in the order they
    came."""
