"""Sends and calls in the daemon: what starts them and what delivers them.

By hand (`POST /api/v1/sends/{name}`, `renkei send`, the console), after every
completed import of the accounts they follow (`after_import`), and on a send's own
timetable (`schedule`: the weekday × window × interval × delay rules of FTP checks,
through the poller's trigger). Built and started by the master.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from daemon.outward.calls import Calls
from daemon.outward.deliver import Deliverer, NotSpooled
from daemon.outward.jobs import JobFolder
from daemon.outward.keeping import FolderJobs, SharedJobs
from daemon.outward.sends import Sends, Trigger, forwarded_key
from daemon.poll.jobs import WindowTrigger
from daemon.poll.slots import run_once
from daemon.poll.windows import Schedule
from daemon.report.alerts import Alerts
from daemon.settings import Settings
from daemon.spool.queue import now_iso
from daemon.store.base import Store
from daemon.store.errors import log_failure
from daemon.store.runs import FORWARD_DONE, FORWARD_PENDING, RunState

log = logging.getLogger(__name__)
FOLDER = "outward"
_MISFIRE_GRACE = 300


# Sends and calls that could not start are tried again after this pause, doubling…
_FOLLOW_AGAIN_BASE = 5.0
_FOLLOW_AGAIN_MAX = 300.0  # …up to this


class Outward:
    def __init__(
        self,
        settings: Callable[[], Settings],
        store: Store,
        report: Callable[[str], Awaitable[None]],
        alerts: Alerts,
    ) -> None:
        self._settings = settings
        self.store = store
        folder = JobFolder(settings().data_dir / FOLDER)
        jobs = (
            SharedJobs(store, folder)  # type: ignore[arg-type]  # shared: the PostgreSQL store
            if store.shared
            else FolderJobs(folder)
        )
        self.deliverer = Deliverer(settings, store, jobs)
        self.sends = Sends(settings, store, self.deliverer, report)
        self.calls = Calls(settings, store, self.deliverer, alerts)
        self.scheduler: AsyncIOScheduler | None = None
        self._pending: set[asyncio.Task] = set()
        self._following: set[str] = set()  # runs whose sends and calls are being started
        self._born = now_iso()  # before the API takes a send: older running sends were cut off

    async def start(self) -> None:
        await self.deliverer.recover()
        if not self.store.shared:
            # With a shared store another instance may be spooling the send still.
            await self.sends.end_unspooled(self._born, self.deliverer.jobs.kept)
        # Imports a crash left between their commit and their sends and calls: those
        # start now (one spooled in the instant before the crash may start twice).
        for run_id in await self.store.runs_to_forward():
            self.after_import(run_id)
        self.scheduler = AsyncIOScheduler(
            event_loop=asyncio.get_running_loop(), timezone=self._settings().daemon.timezone
        )
        self.rebuild()
        self.scheduler.start()

    def rebuild(self) -> None:
        """One scheduler job per send with a timetable; a reload adds, changes, removes."""
        if self.scheduler is None:
            return
        settings = self._settings()
        wanted = {name: send for name, send in settings.sends.items() if send.schedule}
        for job in self.scheduler.get_jobs():
            if job.id not in wanted:
                job.remove()
        for name, send in wanted.items():
            assert send.schedule is not None
            trigger = WindowTrigger(Schedule.of(send.schedule, settings.daemon.timezone))
            self.scheduler.add_job(
                self._scheduled,
                trigger,
                args=[name],
                id=name,
                name=f"send {name}",
                replace_existing=True,
                coalesce=True,
                max_instances=1,
                misfire_grace_time=_MISFIRE_GRACE,
            )

    async def stop(self) -> None:
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        for task in list(self._pending):
            task.cancel()
        await self.deliverer.stop()

    async def send(self, name: str, trigger: Trigger) -> str:
        """Start send `name` now; its run's id (KeyError: no such send)."""
        return await self.sends.start(name, trigger)

    def after_import(self, run_id: str) -> None:
        """A run completed: start the sends and calls that follow its account."""
        if run_id in self._following:
            return  # found pending at the start while the import process told of it too
        self._following.add(run_id)
        task = asyncio.create_task(self._follow_until_started(run_id), name=f"after {run_id}")
        task.add_done_callback(lambda _: self._following.discard(run_id))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _follow_until_started(self, run_id: str) -> None:
        """Start the run's sends and calls, again after a pause while some could not
        start (the store or the disk away: a PostgreSQL restart at that moment held
        them back until this instance's next start, for days maybe)."""
        pause = _FOLLOW_AGAIN_BASE
        while True:
            try:
                if await self._follow(run_id):
                    return
            except Exception as exc:  # noqa: BLE001 - the store away: tried again
                log_failure(log, exc, "run %s: its sends and calls could not be started", run_id)
            log.warning(
                "run %s: sends and calls that did not start are tried again in %g s", run_id, pause
            )
            await asyncio.sleep(pause)
            pause = min(pause * 2, _FOLLOW_AGAIN_MAX)

    async def _follow(self, run_id: str) -> bool:
        """Start what follows the run; False when some of it could not start."""
        settings = self._settings()
        run = await self.store.get_run(run_id)
        if (
            run is None
            or run["state"] != RunState.COMPLETED
            or run["direction"] != "receive"
            or run["dry_run"]
            or run["undo_of"]
            or run["forward_state"] == FORWARD_DONE
        ):
            return True
        account = settings.accounts.get(run["account"])
        started = True
        for name, send in settings.sends.items():
            if run["account"] in send.after_import:
                key = forwarded_key(run_id, name)
                earlier = await self._guarded_lookup(send.account or run["account"], key)
                if earlier is None:
                    started = False  # the store away: tried again at the next start
                    continue
                if earlier:
                    # Spooled before a stop (its deliverer goes on with it) or ended: a
                    # new run would send the rows again under new Idempotency-Keys.
                    log.info("run %s: send %s started already, as run %s", run_id, name, earlier)
                    continue
                executor = tuple(account.error_report_to) if account else ()
                trigger = Trigger("forward", run=run, executor_to=executor)
                started &= await self._guarded(self._forward(name, trigger), f"send {name}")
        for name, call in settings.calls.items():
            if run["account"] in call.after_import:
                started &= await self._guarded(self.calls.start(name, run), f"call {name}")
        if not started:
            # Neither spooled nor recorded as failed (the store or the disk away): still
            # pending, tried again after a pause, and at the next start if it stops first.
            return False
        if run["forward_state"] == FORWARD_PENDING:
            # Spooled, or recorded as failed and told: not started again.
            await self.store.update_run(run_id, forward_state=FORWARD_DONE)
        return True

    async def _guarded_lookup(self, account: str, key: str) -> str | None:
        """The send run keyed `key` that went already ('' none); None when the store
        cannot say."""
        try:
            return await self.store.forwarded_send(account, key) or ""
        except Exception:
            log.exception("could not look for the send run %s", key)
            return None

    async def _forward(self, name: str, trigger: Trigger) -> None:
        """Start send `name` after an import. One that could not be spooled is already
        recorded failed, and reported: started as far as the import is concerned, or
        the next start sent every send and call of the import again, those that went."""
        with contextlib.suppress(NotSpooled):
            await self.sends.start(name, trigger)

    async def _scheduled(self, name: str) -> None:
        send = self._settings().sends.get(name)
        if send is None:
            return
        if send.rows == "run":
            # The rows of the import that triggered it: on a timetable there is none.
            log.warning("send %s sends the rows of its import (rows = run): not on schedule", name)
            return
        trigger = Trigger("schedule", executor_to=tuple(send.executor_to))
        assert send.schedule is not None
        schedule = Schedule.of(send.schedule, self._settings().daemon.timezone)
        once = run_once(
            self.store, f"send:{name}", schedule, lambda: self.sends.start(name, trigger)
        )
        await self._guarded(once, f"send {name}")

    @staticmethod
    async def _guarded(work: Awaitable[object], what: str) -> bool:
        """Whether `work` ran through: False when it raised (said in the log)."""
        try:
            await work
        except Exception:
            log.exception("%s could not be started", what)
            return False
        return True
