"""The intake sink: the daemon's side of the intake contract (handlers/base.py).

Turns Deliveries into spool items, off the event loop, and wakes the worker. Called by
every channel; the only path from a socket to the spool.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

from daemon import metrics
from daemon.settings import Settings
from daemon.spool import Meta, Spool, new_id
from daemon.store import Store
from handlers.base import Delivery, SpoolUnavailable
from importers.filenames import check_filename
from importers.messages import message

log = logging.getLogger(__name__)
# How long a delivery's key is remembered before its run row exists (a busy worker may
# take a while to reach it); after that the run history answers.
REMEMBER_SECONDS = 24 * 3600


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
        self._recent: dict[tuple[str, str], tuple[str, float]] = {}

    async def spool(self, deliveries: Sequence[Delivery]) -> list[str]:
        files = [
            (
                Meta(
                    d.account,
                    d.channel,
                    d.sender,
                    d.filename,
                    options=d.options,
                    problem=d.problem,
                    idempotency_key=d.idempotency_key,
                ),
                d.data,
                d.id,
            )
            for d in deliveries
        ]
        try:
            items = await asyncio.to_thread(self._spool.enqueue_many, files)
        except Exception as exc:  # disk full, I/O error, anything: the sender retries
            raise SpoolUnavailable(str(exc)) from exc
        now = time.monotonic()
        self._recent = {k: v for k, v in self._recent.items() if now - v[1] < REMEMBER_SECONDS}
        for d, item in zip(deliveries, items, strict=True):
            metrics.FILES_RECEIVED.labels(d.channel).inc()
            if d.idempotency_key:
                self._recent[(d.account, d.idempotency_key)] = (item.id, now)
        self._wake()
        for item in items:
            log.info(
                "spooled %s: account=%s channel=%s file=%r",
                item.id,
                item.meta.account,
                item.meta.channel,
                item.meta.filename,
            )
        return [item.id for item in items]

    def has_room(self) -> bool:
        try:
            return self._spool.free_bytes() >= self._settings().daemon.min_free_bytes
        except OSError:
            return False

    def refused(self, channel: str, reason: str) -> None:
        metrics.REFUSED.labels(channel, reason).inc()

    def filename_problem(self, name: str) -> str | None:
        if check_filename(name):
            return None
        return message("filename.rule", self._settings().report.language, name=name)

    def new_id(self) -> str:
        return new_id()

    async def earlier(self, deliveries: Sequence[Delivery]) -> list[str] | None:
        ids = []
        for d in deliveries:
            if not d.idempotency_key:
                return None
            # Spooled but not yet taken by the worker: no run row yet, only this memory.
            recent = self._recent.get((d.account, d.idempotency_key))
            if recent is not None:
                ids.append(recent[0])
                continue
            run = None
            if self._store is not None:
                run = await self._store.replayed_run(d.account, d.idempotency_key, "", "", "", "")
            if run is None:
                return None
            ids.append(run["id"])
        return ids

    async def known(self, run_id: str) -> bool:
        if self._spool.has(run_id):
            return True
        return self._store is not None and await self._store.run_state(run_id) is not None
