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
from daemon.spool import Meta, Spool
from handlers.base import Delivery, SpoolUnavailable

log = logging.getLogger(__name__)


class SpoolSink:
    def __init__(
        self, spool: Spool, settings: Callable[[], Settings], wake: Callable[[], None]
    ) -> None:
        self._spool = spool
        self._settings = settings
        self._wake = wake

    async def spool(self, deliveries: Sequence[Delivery]) -> list[str]:
        files = [
            (
                Meta(
                    d.account, d.channel, d.sender, d.filename, options=d.options, problem=d.problem
                ),
                d.data,
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
