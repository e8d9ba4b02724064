"""The intake sink: the daemon's side of the intake contract (handlers/base.py).

Turns Deliveries into spool items, off the event loop, and wakes the worker. Called by
every channel; the only path from a socket to the spool.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from daemon import metrics
from daemon.settings import Settings
from daemon.spool import Meta, Spool, new_id
from daemon.store import Store
from handlers.base import Delivery, SpoolUnavailable
from importers.filenames import check_filename
from importers.messages import message

log = logging.getLogger(__name__)


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

    async def known(self, run_id: str) -> bool:
        if self._spool.has(run_id):
            return True
        return self._store is not None and await self._store.run_state(run_id) is not None
