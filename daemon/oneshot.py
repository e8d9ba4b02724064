"""One-shot commands that use the daemon's parts without serving: `renkei import`, `runs`,
`show`, `sweep`, `undo`.

`import_file` spools the file (channel `cli`) claimed under this process's lock and runs
the same pipeline the daemon runs, built by the same graph, so it works whether or not
the daemon is running. A dry run is the API's `?dry_run=true`: the same delivery option,
so the pipeline validates and counts, writes no row and queues no report.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
import signal
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from daemon import graph
from daemon.settings import Settings
from daemon.spool import kept
from daemon.spool.memory import delivery_file_key
from daemon.spool.queue import Meta, SpoolItem, new_id, now_iso, pending_meta
from daemon.store.open import open_store
from daemon.store.runs import kept_elsewhere, public_run, queued_run
from daemon.store.undo import Undone, UndoRun
from daemon.worker.pipeline import Pipeline, uncounted
from daemon.worker.plan import with_plan
from daemon.worker.waiting import spooled_runs, waiting_items
from handlers.base import bare_name, readable
from importers.errors import RowError
from importers.messages import message

if TYPE_CHECKING:
    from daemon.report.outbox import Attempt, Reporter
    from daemon.retention import Swept


class Cancelled(Exception):
    """`renkei import` cancelled by its user (Ctrl-C), or ended by a signal (SIGTERM
    from `timeout`, cron or systemd; SIGHUP from a closed terminal): its run, ended
    failed (not aborted), and no row imported."""

    def __init__(self, run_id: str, signum: int = signal.SIGINT) -> None:
        super().__init__(run_id)
        self.run_id = run_id
        self.signum = signum


SHOWN_ERRORS = 20  # the first row errors `renkei import` and `renkei show` print
CANDIDATES = 10  # ids named when a short id fits several runs


async def import_file(
    settings: Settings, path: Path, account: str, progress: bool = False, dry_run: bool = False
) -> tuple[dict[str, Any], Attempt | None]:
    """The run, and how its report mail fared at the one try made here (None: there
    was none to send, or it was not tried)."""
    parts = await graph.build(lambda: settings, counted=uncounted)
    parts.pipeline.cancel_ends_run = True
    try:
        options = {"dry_run": True} if dry_run else {}
        # Named as every door names a file: no control or format character in the run.
        name = bare_name(readable(path.name))
        meta = Meta(
            account,
            "cli",
            readable(str(path.resolve())),
            name,
            options=options,
            file_key=await delivery_file_key(settings, parts.store, account, name),
        )
        item = parts.spool.enqueue(meta, path, claim=True)
        _end_on_signals(parts.pipeline)
        try:
            if progress:
                await _with_progress(parts.pipeline, item, path.name)
            else:
                await parts.pipeline.process(item)
        except asyncio.CancelledError:
            # Ctrl-C: asyncio.run cancelled us. Said as the run it ended, not as a
            # bare KeyboardInterrupt; the exit is the same 130 all the same.
            await asyncio.shield(parts.pipeline.abandon(item))
            raise Cancelled(item.id, parts.pipeline.cancelled_by) from None
        # Deliver our own report now; a running daemon would also find it in the outbox.
        if progress:
            attempt = await _sending(parts.reporter, item.id, settings)
        else:
            attempt = await parts.reporter.send_now(item.id)
        run = await parts.store.get_run(item.id)
        assert run is not None
        return public_run(run), attempt
    finally:
        await parts.close()


def _end_on_signals(pipeline: Pipeline) -> None:
    """SIGTERM and SIGHUP end the import as Ctrl-C does (asyncio.run cancels on
    SIGINT): they killed the command outright, leaving its claimed file in the spool
    for the daemon's next start to import, over whatever came for it since. The
    pipeline keeps which signal it was (Ctrl-C's unless another came)."""
    task = asyncio.current_task()
    assert task is not None

    def end(signum: int) -> None:
        pipeline.cancelled_by = signum  # the run's message and the exit name it
        task.cancel()

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(signum, end, signum)


async def _sending(reporter: Reporter, item_id: str, settings: Settings) -> Attempt | None:
    """send_now, saying on the terminal that the relay is being asked: one that takes
    the connection and never answers holds the command for `report.timeout`, after
    the progress bar has gone and before the result is printed."""
    from rich.console import Console

    relay = settings.report.relay
    text = message("cli.mail.sending", settings.report.language, relay=relay)
    with Console(stderr=True).status(text):
        return await reporter.send_now(item_id)


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


async def latest_runs(
    settings: Settings, filters: Mapping[str, str | None], limit: int, since: str | None = None
) -> list[dict[str, Any]]:
    """The newest runs matching `filters` (account, state, channel) received at `since`
    (UTC ISO 8601) or later, as the API shows them, each with the words of its message
    (`said`), which say it in today's language."""
    if not _has_store(settings):
        return []
    store = await open_store(settings)
    try:
        rows, _ = await store.list_runs(filters, limit, since=since)
        # On SQLite the files still waiting in the spool are recorded once taken: the
        # queued runs the doors' answers named, as the console and the API list them.
        account = filters.get("account")
        spooled = [
            run
            for run in await spooled_runs(settings, store, [account] if account else None)
            if filters.get("state") in (None, run["state"])
            and filters.get("channel") in (None, run["channel"])
            and (since is None or run["received_at"] >= since)
        ]
        if spooled:
            rows = sorted([*spooled, *rows], key=lambda r: (r["received_at"], r["id"]))
            rows = rows[::-1][:limit]
        return [public_run(r) | {"said": r.get("said")} for r in rows]
    finally:
        await store.close()


async def undo_run(settings: Settings, run_id: str, sender: str) -> Undone:
    """Undo `run_id` (channel `cli`) in the store itself, daemon running or not: the
    store's write lock waits for the daemon's writer, as `renkei import` does."""
    store = await open_store(settings)
    try:
        undo = UndoRun(new_id(), "cli", sender, now_iso(), settings.report.language)
        keys = {name: layout.key for name, layout in settings.layouts.items()}
        return await store.undo_run(run_id, undo, keys)
    finally:
        await store.close()


@dataclass(slots=True)
class Found:
    """A run looked up by a whole or short id: the run, or the ids it could mean."""

    run: dict[str, Any] | None = None
    errors: list[RowError] = field(default_factory=list)  # the first SHOWN_ERRORS
    error_count: int = 0  # in run_errors, which keeps the first ERRORS_KEPT
    error_csv: Path | None = None  # when the run has errors to show in it
    kept_file: Path | None = None
    candidates: list[str] = field(default_factory=list)
    more: bool = False  # more runs fit than the candidates named
    # A send's requests as sent, or those of the calls that followed an import.
    requests: list[dict[str, Any]] = field(default_factory=list)
    report: dict[str, Any] | None = None  # its report mail as it went out (run_reports)
    elsewhere: str = ""  # the instance of a shared store that keeps its files, not this


async def find_run(settings: Settings, fragment: str) -> Found:
    """The one run whose id is `fragment` or starts or ends with it, with its first row
    errors; none found, or several (`candidates`), when it is not exactly one."""
    if not fragment or not _has_store(settings):
        return Found()
    store = await open_store(settings)
    try:
        ids = await store.runs_like(fragment, CANDIDATES + 1)
        if not ids and not store.shared:
            # On SQLite a run is recorded once the importer takes its file: one still
            # waiting is the queued run the door's answer named (as the API shows it),
            # by its whole id or the start or end of it, as a recorded one.
            waiting = await asyncio.to_thread(waiting_items, settings.data_dir / "spool")
            ids = sorted(i for i in waiting if i.startswith(fragment) or i.endswith(fragment))
            if not ids:  # taken from the waiting ones meanwhile, its run not recorded yet
                spool = settings.data_dir / "spool"
                taken = await asyncio.to_thread(pending_meta, spool, fragment)
                if taken is not None:
                    waiting, ids = {fragment: taken}, [fragment]
            meta = waiting.get(ids[0]) if len(ids) == 1 else None
            if meta is not None:
                # Its layout and mode as its account's plan gives them, as the API and
                # the console show a waiting file (not the schema's defaults).
                return Found(with_plan(settings, queued_run(ids[0], meta, store.instance)))
        if len(ids) != 1:
            return Found(candidates=ids[:CANDIDATES], more=len(ids) > CANDIDATES)
        run = await store.get_run(ids[0])
        assert run is not None
        errors = await store.run_errors(ids[0], SHOWN_ERRORS)
        count = await store.error_count(ids[0])
        sent = await store.requests_of(ids[0])  # a send's, or the calls after an import
        report = await store.run_report(ids[0])
        elsewhere = kept_elsewhere(run, store.shared, store.instance)
    finally:
        await store.close()
    data_dir = settings.data_dir
    error_csv = data_dir / run["error_report"] if run["error_report"] and count else None
    if error_csv is not None and not error_csv.is_file():
        error_csv = None
    kept_at = kept_file(data_dir, run)
    return Found(
        run, errors, count, error_csv, kept_at, requests=sent, report=report, elsewhere=elsewhere
    )


def kept_file(data_dir: Path, run: Mapping[str, Any]) -> Path | None:
    """The received file, kept beside its run (or quarantined) until retention ends;
    None when there is none (see daemon/spool/kept.py)."""
    return kept.kept_file(data_dir, run["id"], run["filename"])


def save_files(found: Found, folder: Path) -> list[Path]:
    """Copy the run's kept file (under its own name) and its error CSV, those it has,
    into `folder`, made when missing; its parent never is (FileNotFoundError)."""
    assert found.run is not None
    folder.mkdir(exist_ok=True)
    named = [(found.kept_file, kept.bare(found.run["filename"])), (found.error_csv, "")]
    copied = []
    for path, name in named:
        if path is not None:
            copied.append(Path(shutil.copy2(path, folder / (name or path.name))))
    return copied


async def sweep_now(settings: Settings, now: dt.datetime) -> Swept:
    """`renkei sweep`: the daemon's daily retention sweep, as of `now`."""
    from daemon.retention import sweep  # with the scheduler it needs: `sweep` only

    store = await open_store(settings)
    try:
        return await sweep(settings, store, now)
    finally:
        await store.close()


def _has_store(settings: Settings) -> bool:
    """Whether there is a store to read: a PostgreSQL one always is; SQLite's file is
    not made just to be read."""
    return settings.store.url is not None or (settings.data_dir / "renkei.db").exists()
