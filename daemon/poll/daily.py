"""Per-account daily jobs: one cron job per account at its own time of day, rebuilt on
reload, and one pass over every account at start and at each reload (a time already
past today is not missed). The base of the expected-file check (expected.py) and the
digest (digest.py); each says which accounts want it, at what time, and what a pass does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from daemon.report.outbox import Reporter
from daemon.settings import Settings
from daemon.settings.model import Account
from daemon.store.base import Store

# How far back a daily pass reaches for the days it missed while the daemon was down
# (a digest's runs, an expected file's due days).
CATCH_UP_DAYS = 7


class DailyAccountJobs:
    """Subclasses name their jobs (`job_prefix`, `job_name`), give each account's time
    (`time_of`, "HH:MM" or None) and do one pass (`run`)."""

    job_prefix = "daily:"
    job_name = "daily job"

    def __init__(self, settings: Callable[[], Settings], store: Store, reporter: Reporter) -> None:
        self._settings = settings
        self._store = store
        self._reporter = reporter
        self.scheduler: AsyncIOScheduler | None = None

    def time_of(self, account: Account) -> str | None:
        raise NotImplementedError

    async def run(self, accounts: list[str] | None = None) -> None:
        raise NotImplementedError

    def add_jobs(self, scheduler: AsyncIOScheduler) -> None:
        """Jobs of the subclass's own, added once at start."""

    def start(self) -> None:
        zone = self._settings().daemon.timezone
        self.scheduler = AsyncIOScheduler(event_loop=asyncio.get_running_loop(), timezone=zone)
        self.add_jobs(self.scheduler)
        self.rebuild()
        self.scheduler.start()
        asyncio.ensure_future(self.run())

    def stop(self) -> None:
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def rebuild(self) -> None:
        """One cron job per account that has a time; removed accounts' jobs go."""
        assert self.scheduler is not None
        settings = self._settings()
        for job in self.scheduler.get_jobs():
            if job.id.startswith(self.job_prefix):
                job.remove()
        for name, account in settings.accounts.items():
            at = self.time_of(account)
            if at is None:
                continue
            hour, minute = at.split(":")
            self.scheduler.add_job(
                self.run,  # a coroutine function: run on the event loop
                CronTrigger(hour=int(hour), minute=int(minute), timezone=settings.daemon.timezone),
                args=[[name]],
                id=f"{self.job_prefix}{name}",
                name=f"{self.job_name} of {name}",
                coalesce=True,
                max_instances=1,
                misfire_grace_time=3600,
            )

    def reload(self) -> None:
        """New settings: jobs rebuilt, and a pass at once, as at start."""
        self.rebuild()
        asyncio.ensure_future(self.run())
