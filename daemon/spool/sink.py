"""The intake sink: the daemon's side of the intake contract (handlers/base.py).

Answers a resend from the delivery memory, turns every other delivery into spool
items (written and fsynced off the event loop once the memory found no earlier
delivery) and wakes the worker; tells a channel how a run it spooled
ended; logs, counts and keeps what a channel refused (refusals.py). Called by
every channel; the only path from a socket to the spool.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from daemon import metrics
from daemon.settings import Account, Settings
from daemon.spool import durable
from daemon.spool.memory import DeliveryMemory, account_corrects, delivery_file_key
from daemon.spool.queue import Meta, Spool, SpoolItem, new_id
from daemon.spool.refusals import RefusalLog
from daemon.store.base import Store
from daemon.store.runs import FINAL_STATES, RunState, public_error, public_run
from handlers.base import Delivery, Receipt, Refusal, RunReport, SpoolUnavailable
from importers.filenames import filename_rule
from importers.messages import message

log = logging.getLogger(__name__)
_WAIT_STEP = 0.05
# The deliveries' writers, of their own: a delivery's fsync must not wait for a thread
# the rest of the daemon needs, nor hold one up.
_WRITERS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="spool-writer")
_LIMIT_PROBLEMS = ("file.too_many_rows", "file.too_large")


class SpoolSink:
    def __init__(
        self,
        spool: Spool,
        settings: Callable[[], Settings],
        wake: Callable[[], None],
        store: Store | None = None,
    ) -> None:
        self._spool = spool
        self._store = store
        self._settings = settings
        self._wake = wake
        self.memory = DeliveryMemory(store, spool.digest)
        self.refusals = RefusalLog()

    async def spool(self, deliveries: Sequence[Delivery]) -> Receipt:
        settings = self._settings()
        for d in deliveries:  # once, for the memory's look-up and the spooled meta
            try:
                d.file_key = await delivery_file_key(settings, self._store, d.account, d.filename)
            except Exception as exc:  # the store unreachable: take nothing we cannot check
                raise SpoolUnavailable(f"store: {exc}") from exc
            d.by_content = d.by_content or account_corrects(settings, d.account, d.filename)
        async with self.memory.turn(deliveries):
            try:
                earlier = await self.memory.earlier(deliveries)
            except Exception as exc:  # the store unreachable: take nothing we cannot check
                raise SpoolUnavailable(f"store: {exc}") from exc
            if earlier is not None:
                log.info("a resend of %s: answered with its earlier runs", ", ".join(earlier))
                return Receipt(earlier, replayed=True)
            # Written once the look-up found no earlier delivery: writing meanwhile
            # saved no time once the file needed one fsync, and kept three threads
            # (loop, look-up, writer) passing the GIL about for each delivery.
            items = await self._enqueue(deliveries)
            if self._store is not None and self._store.shared:
                await self._record(items)
            self.memory.remember(deliveries, items)
        for d in deliveries:
            metrics.FILES_RECEIVED.labels(d.channel).inc()
        self._wake()
        for item in items:
            log.info(
                "spooled %s: account=%s channel=%s file=%r",
                item.id,
                item.meta.account,
                item.meta.channel,
                item.meta.filename,
            )
        return Receipt([item.id for item in items])

    async def _enqueue(self, deliveries: Sequence[Delivery]) -> list[SpoolItem]:
        files = [(_meta(d), d.data, d.id) for d in deliveries]
        # Hashed by the importer (or when a file of the name comes again), not on the
        # way to the answer; but for a shared store, whose door records the run first.
        hashed = self._store is not None and self._store.shared
        write = functools.partial(self._spool.enqueue_many, files, hashed=hashed)
        try:
            return await asyncio.get_running_loop().run_in_executor(_WRITERS, write)
        except Exception as exc:  # disk full, I/O error, anything: the sender retries
            raise SpoolUnavailable(str(exc)) from exc

    async def _record(self, items: Sequence[SpoolItem]) -> None:
        """A shared store: record each run before the sender hears 250/2xx, so that a
        resend to any other instance is answered with it. The store unreachable, the
        delivery is not accepted: its items leave the spool again (one the worker took
        already is imported once the store is back; a resend then finds its run)."""
        assert self._store is not None
        try:
            for item in items:
                await self._store.add_run(item.id, item.meta)
        except Exception as exc:
            await asyncio.to_thread(self._spool.withdraw, items)
            raise SpoolUnavailable(f"store: {exc}") from exc

    def has_room(self) -> bool:
        try:
            return self._spool.free_bytes() >= self._settings().daemon.min_free_bytes
        except OSError:
            return False

    def refused(self, refusal: Refusal) -> None:
        self.refusals.add(refusal)

    def filename_problem(
        self, name: str, *, account: Account | None = None, language: str | None = None
    ) -> str | None:
        rule = filename_rule(account.filename, account.excel) if account else filename_rule()
        if rule.match(name) is not None:
            return None
        return rule.refusal(name).render(language or self._settings().report.language)

    def text(self, key: str, language: str | None = None, **params: object) -> str:
        return message(key, language or self._settings().report.language, **params)

    def new_id(self) -> str:
        return new_id()

    def sync_names(self, folder: Path) -> None:
        durable.sync_names(folder)

    async def known(self, run_id: str) -> bool:
        if self._spool.has(run_id):
            return True
        return self._store is not None and await self._store.run_state(run_id) is not None

    async def finished(self, run_id: str, timeout: float, errors: int) -> RunReport | None:
        """The run once it is final, with its first `errors`; None after `timeout`, or
        once the store fails to say, or the wait is cancelled (the daemon stopping): the
        file is spooled, so its sender is told it was accepted (the run's URL), never
        that the server failed."""
        if self._store is None:
            return None
        try:
            return await self._final_run(run_id, timeout, errors)
        except Exception as exc:  # the store unreachable, or gone while we read
            log.warning("run %s: the store does not say how it ended: %s", run_id, exc)
            return None
        except asyncio.CancelledError:
            # Not passed on: the request waiting here is still to be answered, and the
            # run is imported at the next start.
            log.info("run %s: stopping; answered as accepted, not waited for", run_id)
            return None

    async def _final_run(self, run_id: str, timeout: float, errors: int) -> RunReport | None:
        assert self._store is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            run = await self._store.get_run(run_id)
            if run is not None and run["state"] in FINAL_STATES:
                found = await self._store.run_errors(run_id, limit=errors)
                first = [public_error(e) for e in found]
                failed = run["state"] == RunState.FAILED
                too_big = run["problem"] in _LIMIT_PROBLEMS
                return RunReport(public_run(run), first, failed=failed, over_limit=too_big)
            await asyncio.sleep(_WAIT_STEP)
        return None


def _meta(d: Delivery) -> Meta:
    return Meta(
        d.account,
        d.channel,
        d.sender,
        d.filename,
        options=d.options,
        problem=d.problem,
        idempotency_key=d.idempotency_key,
        authentication_results=d.authentication_results,
        unauthenticated=d.unauthenticated,
        also_attached=d.also_attached,
        subject=d.subject,
        by_content=d.by_content,
        file_key=d.file_key,
        received_at=d.received_at,
    )
