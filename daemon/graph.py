"""The daemon's object graph, built once from settings: store, spool, reporter, admin
alerts, pipeline, worker, intake sink and retrier.

`renkei serve` (the master, and its import process), `renkei import` and the
benchmark all build it here, so they import through the same parts wired the same way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from daemon.report.alerts import Alerts
from daemon.report.outbox import Reporter
from daemon.serving import make_data_dir
from daemon.settings import Settings
from daemon.spool.queue import Damaged, Spool, SpoolItem
from daemon.spool.retry import Retrier
from daemon.spool.sink import SpoolSink
from daemon.store.base import Store
from daemon.store.open import open_store
from daemon.worker.consumer import Worker
from daemon.worker.pipeline import Counted, Pipeline, count_run


@dataclass(slots=True)
class Parts:
    store: Store
    spool: Spool
    reporter: Reporter
    pipeline: Pipeline
    worker: Worker
    sink: SpoolSink
    retrier: Retrier
    alerts: Alerts

    async def close(self) -> None:
        await self.store.close()


async def build(
    settings: Callable[[], Settings],
    reports: bool = True,
    wake: Callable[[], None] | None = None,
    reported: Callable[[str], Awaitable[None]] | None = None,
    counted: Counted = count_run,
    forwards: bool = False,
) -> Parts:
    """Open the store (migrated, layout tables ensured) and wire the rest to it.

    `settings` is read at each use, so a reload reaches every part. Without `reports`
    the pipeline queues no report mail (the benchmark measures importing alone). The
    daemon imports in another process: its sink `wake`s that process instead of this
    one's worker, and that process tells the daemon what it `reported` and `counted`;
    its runs record that their sends and calls are still to start (`forwards`), which
    a one-shot `renkei import` does not start.
    """
    current = settings()
    data_dir = current.data_dir
    make_data_dir(data_dir)
    store = await open_store(current)
    try:
        await store.ensure_layouts(current.layouts)
        spool = Spool(data_dir / "spool")
        reporter = Reporter(settings, store)
        alerts = Alerts(settings, reporter)
        reporter.on_refused = alerts.report_refused
        reporter.on_damaged = alerts.report_damaged
        notify = quarantined = set_aside = account_gone = None
        if reports:

            async def notify(run_id: str) -> None:
                await reporter.queue_run(run_id)
                if reported is not None:
                    await reported(run_id)  # the daemon's reporter sends it

            async def quarantined(item: SpoolItem) -> None:
                await alerts.quarantined(item)
                if reported is not None:
                    await reported(item.id)

            async def account_gone(item: SpoolItem) -> None:
                await alerts.account_gone(item)
                if reported is not None:
                    await reported(item.id)

            async def set_aside(damaged: Damaged) -> None:
                await alerts.damaged(damaged.item_id, damaged.path.name, damaged.reason)
                if reported is not None:
                    await reported(damaged.item_id)

        pipeline = Pipeline(settings, store, spool, notify, counted, quarantined, set_aside)
        pipeline.forwards = forwards
        pipeline.account_gone = account_gone
        worker = Worker(spool, pipeline)
        sink = SpoolSink(spool, settings, wake or worker.wake, store)
        retrier = Retrier(spool, store, settings, wake or worker.wake)
    except BaseException:
        await store.close()
        raise
    return Parts(store, spool, reporter, pipeline, worker, sink, retrier, alerts)
