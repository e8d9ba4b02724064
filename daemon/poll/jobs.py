"""The poller: checks each account's FTP home at the ticks of its schedule.

APScheduler 3.x runs one job per account on a WindowTrigger (coalesced, one instance at
a time). Ticks that fall together are taken in `priority` order. A tick missed while the
daemon was down runs once at start if its window is still open, as does the first check
of an account with none recorded (not "missed": there was nothing before). Called by the
master.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger

from daemon.poll.slots import latest_tick, run_once
from daemon.poll.windows import Schedule, next_checks
from daemon.settings import Settings
from daemon.spool.durable import replace_durably
from daemon.store.base import Store
from daemon.store.errors import log_failure

log = logging.getLogger(__name__)
_GATHER_SECONDS = 0.2  # ticks this close together count as one moment
_MISFIRE_GRACE = 300


class WindowTrigger(BaseTrigger):
    """APScheduler 3.x trigger that fires at `next_checks()`."""

    def __init__(self, schedule: Schedule) -> None:
        self.schedule = schedule

    def get_next_fire_time(
        self, previous_fire_time: dt.datetime | None, now: dt.datetime
    ) -> dt.datetime | None:
        # Instants in UTC: APScheduler compares and subtracts its datetimes, and two of
        # one zone would do so by wall time, fold ignored, wrong in a repeated hour.
        after = (previous_fire_time if previous_fire_time is not None else now).astimezone(dt.UTC)
        # A fire time equal to `now` is due now; APScheduler asks "from now on".
        if previous_fire_time is None:
            after -= dt.timedelta(microseconds=1)
        upcoming = next_checks(self.schedule, after, 1)
        return upcoming[0].astimezone(dt.UTC) if upcoming else None

    def __str__(self) -> str:
        s = self.schedule
        return f"window[{s.start:%H:%M}-{s.end:%H:%M} every {s.interval} +{s.delay}]"


class Poller:
    def __init__(
        self,
        settings: Callable[[], Settings],
        check: Callable[[str], Awaitable[list[str]]],
        state_file: Path,
        store: Store | None = None,
    ) -> None:
        self._settings = settings
        self._check = check
        self._store = store
        self.state_file = state_file
        self._due: set[str] = set()
        self._flush: asyncio.TimerHandle | None = None
        self.scheduler: AsyncIOScheduler | None = None

    def start(self) -> None:
        settings = self._settings()
        self.scheduler = AsyncIOScheduler(
            event_loop=asyncio.get_running_loop(), timezone=settings.daemon.timezone
        )
        self.rebuild()
        self.scheduler.start()
        self._catch_up(dt.datetime.now(dt.UTC))

    def stop(self) -> None:
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def rebuild(self) -> None:
        """One job per account with FTP intake; jobs of removed accounts go."""
        assert self.scheduler is not None
        settings = self._settings()
        self.scheduler.remove_all_jobs()
        for name, schedule in self._schedules(settings).items():
            self.scheduler.add_job(
                # A coroutine function: APScheduler's AsyncIOExecutor runs it on the
                # event loop. A plain function would run in a worker thread, where
                # there is no loop to gather the tick on.
                self._scheduled_tick,
                WindowTrigger(schedule),
                args=[name],
                id=name,
                name=f"check {name}",
                coalesce=True,
                max_instances=1,
                misfire_grace_time=_MISFIRE_GRACE,
                replace_existing=True,
            )

    @staticmethod
    def _schedules(settings: Settings) -> dict[str, Schedule]:
        return {
            name: Schedule.of(account.ftp, settings.daemon.timezone)
            for name, account in settings.accounts.items()
            if account.ftp is not None
        }

    def _catch_up(self, now: dt.datetime) -> None:
        last = self._last_checks()
        for name, schedule in self._schedules(self._settings()).items():
            previous = latest_tick(schedule, now)
            seen = last.get(name)
            if not (previous and schedule.in_window(now)):
                continue
            if seen is None:
                # A new install, or an account new to FTP: nothing was missed, but
                # files may already wait in the home.
                log.info("check %s: no check recorded yet; running the first now", name)
                self._tick(name)
            elif seen < previous:
                log.info("check %s: tick %s was missed; running it now", name, previous)
                self._tick(name)

    async def _scheduled_tick(self, name: str) -> None:
        self._tick(name)

    def _tick(self, name: str) -> None:
        self._due.add(name)
        if self._flush is None:
            loop = asyncio.get_running_loop()
            self._flush = loop.call_later(
                _GATHER_SECONDS, lambda: asyncio.ensure_future(self._run_due())
            )

    async def _run_due(self) -> None:
        self._flush = None
        settings = self._settings()
        due, self._due = self._due, set()
        order = sorted(
            (n for n in due if n in settings.accounts),
            key=lambda n: (-settings.accounts[n].ftp.priority, n),
        )
        schedules = self._schedules(settings)
        for name in order:
            try:
                await run_once(
                    self._store, f"check:{name}", schedules[name], lambda n=name: self.check(n)
                )
            except Exception as exc:
                log_failure(log, exc, "check %s failed", name)

    async def check(self, name: str) -> list[str]:
        ids = await self._check(name)
        self._record(name, dt.datetime.now(dt.UTC))
        if ids:
            log.info("check %s: %d file(s) spooled", name, len(ids))
        return ids

    def _last_checks(self) -> dict[str, dt.datetime]:
        try:
            raw = json.loads(self.state_file.read_text())
        except (FileNotFoundError, ValueError):
            return {}
        return {k: dt.datetime.fromisoformat(v) for k, v in raw.items()}

    def _record(self, name: str, when: dt.datetime) -> None:
        state = {k: v.isoformat() for k, v in self._last_checks().items()}
        state[name] = when.isoformat()
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        replace_durably(self.state_file, json.dumps(state).encode())
