"""One-shot commands that use the daemon's parts without serving: `renkei import`, `runs`.

`import_file` spools the file (channel `cli`) claimed under this process's lock and runs
the same pipeline the daemon runs, built by the same graph, so it works whether or not
the daemon is running.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from daemon import graph
from daemon.settings import Settings
from daemon.spool.queue import Meta, SpoolItem
from daemon.store.runs import public_run
from daemon.store.sqlite import SqliteStore
from daemon.worker.pipeline import Pipeline


async def import_file(
    settings: Settings, path: Path, account: str, progress: bool = False
) -> dict[str, Any]:
    parts = await graph.build(lambda: settings)
    try:
        meta = Meta(account, "cli", str(path.resolve()), path.name)
        item = parts.spool.enqueue(meta, path, claim=True)
        if progress:
            await _with_progress(parts.pipeline, item, path.name)
        else:
            await parts.pipeline.process(item)
        # Deliver our own report now; a running daemon would also find it in the outbox.
        await parts.reporter.send_now(item.id)
        run = await parts.store.get_run(item.id)
        assert run is not None
        return public_run(run)
    finally:
        await parts.close()


async def _with_progress(pipeline: Pipeline, item: SpoolItem, name: str) -> None:
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    columns = (
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
    )
    # On stderr: stdout carries the result, which scripts read.
    with Progress(*columns, transient=True, console=Console(stderr=True)) as bar:
        task = bar.add_task(name, total=item.meta.size or None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        await pipeline.process(item, progress=advance)


async def latest_runs(settings: Settings, account: str | None, limit: int) -> list[dict[str, Any]]:
    db = settings.data_dir / "renkei.db"
    if not db.exists():
        return []
    store = await SqliteStore.open(db)
    try:
        rows, _ = await store.list_runs({"account": account}, limit)
        return [public_run(r) for r in rows]
    finally:
        await store.close()
