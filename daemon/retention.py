"""Retention: what renkei keeps of a finished run goes once `daemon.retention_days` pass.

`sweep()` removes the runs (with their row errors) that are final — completed, failed
or ignored — and finished before now less the retention, once their report is out of
their hands (in the outbox, sent or given up); first their kept file, error CSV folder
and quarantined item, then their rows, so a sweep cut short is finished by the next. It also removes report mail the
relay refused for good (`outbox/failed/`) written before that. Work not final is never
touched: queued, running and aborted runs, the spool's `incoming/` and `active/`.

The daemon sweeps once at start and then daily (`Sweeper`, an APScheduler job on the
event loop, as the poller's); `renkei sweep [--now WHEN]` runs the same `sweep()`, so an
admin, or a test, may sweep as of another moment.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from daemon.settings import Settings
from daemon.spool.kept import holds_file, run_folders
from daemon.spool.queue import remove_item
from daemon.store.base import Store
from daemon.store.errors import log_failure

log = logging.getLogger(__name__)
BATCH = 500  # runs removed per transaction: the import process waits no longer than this
DAILY_AT = "03:30"  # in daemon.timezone: a quiet hour for partners' batch jobs


@dataclass(slots=True)
class Swept:
    """What one sweep removed, and the moment before which things counted as old."""

    before: dt.datetime
    runs: int = 0
    files: int = 0  # received files (kept or quarantined)
    mails: int = 0  # failed report mails


async def sweep(settings: Settings, store: Store, now: dt.datetime) -> Swept:
    """Remove what is older than `settings.daemon.retention_days` before `now`."""
    before = now.astimezone(dt.UTC) - dt.timedelta(days=settings.daemon.retention_days)
    swept = Swept(before)
    # finished_at's own format (spool.queue.now_iso), so text order is time order.
    stamp = before.isoformat(timespec="milliseconds")
    data_dir = settings.data_dir
    while ids := await store.expired_runs(stamp, BATCH):
        swept.files += await asyncio.to_thread(_remove_run_folders, data_dir, ids)
        removed = await store.delete_runs(ids)
        swept.runs += removed
        if removed < len(ids) or len(ids) < BATCH:
            break
    await store.sweep_slots(stamp)
    outbox_failed = data_dir / "outbox" / "failed"
    swept.mails = await asyncio.to_thread(_remove_mail, outbox_failed, before.timestamp())
    return swept


def _remove_run_folders(data_dir: Path, run_ids: Sequence[str]) -> int:
    """Remove each run's folders; returns how many received files went with them."""
    files = 0
    for run_id in run_ids:
        files += holds_file(data_dir, run_id)
        for folder in run_folders(data_dir, run_id):
            # A folder, or a spooled item set aside whole (it could not be read).
            remove_item(folder)
    return files


def _remove_mail(folder: Path, before: float) -> int:
    """Remove the failed report mails (`<run id>.eml` and its `.json` envelope) written
    before `before` (a POSIX time); returns how many went. An envelope set aside without
    its mail (the outbox's damaged items) goes by its own time."""
    if not folder.is_dir():
        return 0
    removed = 0
    for item in {path.stem for path in folder.glob("*.eml")} | {
        path.stem for path in folder.glob("*.json")
    }:
        eml, envelope = folder / f"{item}.eml", folder / f"{item}.json"
        try:
            written = (eml if eml.exists() else envelope).stat().st_mtime
        except FileNotFoundError:
            continue
        if written >= before:
            continue
        envelope.unlink(missing_ok=True)
        eml.unlink(missing_ok=True)
        removed += 1
    return removed


def _daily(zone: str) -> CronTrigger:
    hour, minute = DAILY_AT.split(":")
    return CronTrigger(hour=int(hour), minute=int(minute), timezone=zone)


class Sweeper:
    """The daemon's daily sweep, and the one at start. Started and stopped by the master."""

    def __init__(self, settings: Callable[[], Settings], store: Store) -> None:
        self._settings = settings
        self._store = store
        self.scheduler: AsyncIOScheduler | None = None
        self._zone = ""

    def start(self) -> None:
        zone = self._settings().daemon.timezone
        self._zone = zone
        self.scheduler = AsyncIOScheduler(event_loop=asyncio.get_running_loop(), timezone=zone)
        self.scheduler.add_job(
            self.run,  # a coroutine function: run on the event loop, not in a thread
            _daily(zone),
            id="retention",
            name="retention sweep",
            coalesce=True,
            max_instances=1,
            misfire_grace_time=3600,
            next_run_time=dt.datetime.now(dt.UTC),  # and once now, at start
        )
        self.scheduler.start()
        log.info("retention: sweeping at start and daily at %s %s", DAILY_AT, zone)

    def reload(self) -> None:
        """New settings: the daily sweep follows a daemon.timezone changed by reload, as
        the expected-file and digest jobs do (it stayed at 03:30 in the old zone)."""
        zone = self._settings().daemon.timezone
        if self.scheduler is None or zone == self._zone:
            return
        self._zone = zone
        self.scheduler.reschedule_job("retention", trigger=_daily(zone))
        log.info("retention: sweeping daily at %s %s", DAILY_AT, zone)

    def stop(self) -> None:
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    async def run(self) -> None:
        settings = self._settings()
        try:
            swept = await sweep(settings, self._store, dt.datetime.now(dt.UTC))
        except asyncio.CancelledError:
            # The daemon stopping (the sweep runs at start): each step of the sweep
            # commits on its own, and the next start sweeps again. Said here, for
            # APScheduler would log the cancellation as the job's traceback.
            log.info("retention: sweep stopped part-way by the stop; the next start resumes it")
            return
        except Exception as exc:  # the disk, the database: the next day's sweep tries again
            log_failure(log, exc, "retention sweep failed")
            return
        log.info(
            "retention: removed %d runs finished before %s (%d received files),"
            " %d failed report mails; keeping %d days",
            swept.runs,
            swept.before.isoformat(timespec="seconds"),
            swept.files,
            swept.mails,
            settings.daemon.retention_days,
        )
