"""The worker ("qmgr"): the one consumer of the spool in the daemon.

Claims waiting items in order and runs each through the pipeline, the next one read
while the one before it writes (turns.py: runs still commit one at a time, in order).
Woken by the intake sink; rescans the spool now and then for anything else. Started by
the import process.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time

from daemon.backoff import backoff
from daemon.spool.memory import recorded_elsewhere
from daemon.spool.queue import Damaged, Spool, SpoolItem
from daemon.store.runs import FINAL_STATES, RunState
from daemon.worker import staging
from daemon.worker.pipeline import Pipeline
from daemon.worker.turns import Turn

log = logging.getLogger(__name__)
_RESCAN_SECONDS = 5.0
_SWEEP_SECONDS = 60.0
_RETRY_SECONDS = 2.0  # a transient failure is tried again after this, doubling…
_RETRY_MAX_SECONDS = 300.0  # …up to this, for as long as the daemon runs
# The file being written, the next being read, and the one after made ready (claimed,
# its run begun, its file opened) meanwhile: with two, that preparation waited for the
# first to end, and the readers stood idle through it (turns.py).
IN_FLIGHT = 3


class Worker:
    def __init__(self, spool: Spool, pipeline: Pipeline) -> None:
        self.spool = spool
        self.pipeline = pipeline
        self._wake = asyncio.Event()
        self._not_before: dict[str, float] = {}
        self._failures: dict[str, int] = {}  # transient failures in a row, per item
        self._accounts: dict[str, str] = {}  # the account of each item put back

    def wake(self) -> None:
        self._wake.set()

    async def recover(self) -> None:
        """Start-up: put unfinished work back and record a run for every waiting file."""
        for item in await asyncio.to_thread(lambda: list(self.spool.recover())):
            if isinstance(item, Damaged):
                await self.pipeline.damaged(item)
            else:
                log.warning("recovered %s (attempt %d)", item.id, item.meta.attempts)
        await self._end_orphans()
        scratch = self.pipeline.settings.data_dir / "staging"
        await asyncio.to_thread(staging.sweep, scratch, self.spool.pending)
        for item_id in self.spool.waiting():
            try:
                item = self.spool.load(self.spool.incoming / item_id)
            except Damaged as damaged:
                await self.pipeline.damaged(damaged)
                continue
            store = self.pipeline.store
            if store.shared and await store.run_state(item.id) is None:
                # Its door died between spooling and recording: the sender was never
                # told, and may have sent it again through another instance.
                digest = functools.partial(self.spool.digest, item.id)
                other = await recorded_elsewhere(store, item.meta, digest)
                if other is not None:
                    await self.pipeline.taken_elsewhere(item, other)
                    continue
            await store.add_run(item.id, item.meta)
            if await store.run_state(item.id) not in FINAL_STATES:
                await store.update_run(item.id, state=RunState.QUEUED, attempts=item.meta.attempts)

    async def _end_orphans(self) -> None:
        """End the runs of `renkei import` commands killed part-way (Spool.orphans):
        at start, and now and then while serving beside them."""
        for item in await asyncio.to_thread(lambda: list(self.spool.orphans())):
            await self.pipeline.orphaned(item)

    async def serve(self) -> None:
        swept = time.monotonic()
        while True:
            self._wake.clear()
            worked = await self.drain()
            if time.monotonic() - swept > _SWEEP_SECONDS:
                # What a writer that died left unpublished (the master's doors, or a
                # `renkei poll` beside the daemon), at start and then now and then.
                swept = time.monotonic()
                await asyncio.to_thread(self.spool.sweep_unpublished)
                await self._end_orphans()
            if not worked:
                # Until woken, the next rescan, or the next item put back comes due.
                now = time.monotonic()
                due = [t - now for t in self._not_before.values() if t > now]
                wait = min([_RESCAN_SECONDS, *due])
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)

    async def drain(self) -> bool:
        """Process every waiting item that is due, IN_FLIGHT at a time in their turns
        (turns.py); True when any was processed."""
        worked = False
        waiting = self.spool.waiting()
        for gone in set(self._not_before) - set(waiting):  # taken meanwhile (the CLI)
            self._not_before.pop(gone, None)
            self._failures.pop(gone, None)
            self._accounts.pop(gone, None)
        flight: list[asyncio.Task[None]] = []
        before: Turn | None = None
        held: set[str] = set()  # accounts whose earlier file waits to be tried again
        try:
            for item_id in waiting:
                if self._not_before.get(item_id, 0) > time.monotonic():
                    held.add(self._accounts.get(item_id, ""))
                    continue
                if held and self.spool.peek_account(item_id) in held:
                    # After it, never before it: under replace_file an older file's
                    # rows stood over a newer one's; keyed rows in another order.
                    continue
                item = await self._claim(item_id)
                if item is None:
                    continue
                worked = True
                before = Turn(before)
                flight.append(asyncio.create_task(self._import(item, before)))
                if len(flight) == IN_FLIGHT:
                    await flight[0]  # raises what crashed it
                    flight.pop(0)
            while flight:
                await flight[0]
                flight.pop(0)
        except BaseException:
            # A crash, or the stop: none of the others is left running behind it.
            for task in flight:
                task.cancel()
            await asyncio.gather(*flight, return_exceptions=True)
            raise
        return worked

    async def _claim(self, item_id: str) -> SpoolItem | None:
        """The item claimed; None when it is gone, set aside, or must wait."""
        try:
            return self.spool.claim(item_id)
        except Damaged as damaged:
            await self.pipeline.damaged(damaged)
            await self._discard_scratch(damaged.item_id)
        except OSError as exc:
            # A full disk while it was unpacked, or its read failed: it waits in
            # `incoming/` again.
            log.warning("%s: could not be claimed: %s", item_id, exc)
            self._accounts[item_id] = self.spool.peek_account(item_id) or ""
            self._later(item_id)
        return None

    async def _import(self, item: SpoolItem, turn: Turn) -> None:
        state = None
        crashed = False
        try:
            state = await self.pipeline.process(item, turn=turn)
        except Exception:
            # The worker crashes (and is started again, later each time), but the
            # item must not sit in `active/` until the next start.
            crashed = True
            self.pipeline.put_back(item, count_attempt=True)
            raise
        finally:
            # Put back, the files after it go back too (turns.py); a stop cancels
            # them all the same, each aborted.
            turn.end(put_back=crashed or state == RunState.QUEUED)
        if state == RunState.QUEUED:  # a transient failure: give it a moment
            self._accounts[item.id] = item.meta.account
            self._later(item.id)
        else:
            self._not_before.pop(item.id, None)
            self._failures.pop(item.id, None)
            self._accounts.pop(item.id, None)
            await self._discard_scratch(item.id)

    async def _discard_scratch(self, run_id: str) -> None:
        """The run is final, whatever way it came there: its scratch databases go now.
        An attempt killed mid-staging left them, and the attempt that ended the run
        may not have staged at all (quarantined, or read in one part)."""
        folder = self.pipeline.settings.data_dir / "staging" / run_id
        await asyncio.to_thread(staging.discard, folder)

    def _later(self, item_id: str) -> None:
        """Leave the item alone for a while, longer each time it fails in a row."""
        failures = self._failures.get(item_id, 0)
        delay = backoff(_RETRY_SECONDS, failures, _RETRY_MAX_SECONDS)
        self._failures[item_id] = failures + 1
        self._not_before[item_id] = time.monotonic() + delay
        log.info("%s: trying again in %.0fs", item_id, delay)
