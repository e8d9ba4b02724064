"""Expected files: at each account's `expect.by` (and once at start), a day whose file
has not completed is recorded as missed and alerted once (未着のお知らせ) to the
account's error addresses and `report.admin_to`; when a completed run received on that
day turns up, the miss is closed with one short note (届きました). Each account's last
check is kept (`expect_checks`), so a day whose `by` passed while the daemon was down
is alerted at the next check.

A day's file is any completed run of the account whose received_at falls on that local
day (daemon.timezone), whenever that day it arrived: so a late file closes the alert.
A monthly `day` past the month's end (31 in April) means the month's last day.

`check()` takes `now`, so `renkei expect-check --now WHEN` runs the very same check as
of another moment (an admin's "what if", and the tests' clock). `Expecter` runs it in
the daemon: one APScheduler cron job per account at its `by`, rebuilt on reload, once at
start and at each reload, and a close pass whenever a run finishes. Called by the master and the CLI.
"""

from __future__ import annotations

import asyncio
import calendar
import contextlib
import datetime as dt
import logging
import zoneinfo
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from daemon.poll.daily import CATCH_UP_DAYS, DailyAccountJobs
from daemon.report import expected as expected_mail
from daemon.report.outbox import ALERT_PREFIX, Attempt, Reporter, id_part
from daemon.settings import Settings
from daemon.settings.model import WEEKDAYS, Account, Expect
from daemon.store.base import Store
from daemon.store.errors import log_failure
from daemon.store.open import open_store
from daemon.store.runs import RunState

log = logging.getLogger(__name__)
_SWEEP_SECONDS = 60  # a close pass this often too: `renkei import` runs tell nobody
_JOB_PREFIX = "expect:"


@dataclass(slots=True)
class Checked:
    """What one check queued: the outbox ids of its alerts and of its notes."""

    missing: list[str] = field(default_factory=list)
    arrived: list[str] = field(default_factory=list)
    # How each one's try fared, when a command sent them itself (check_now).
    attempts: list[Attempt | None] = field(default_factory=list)


def due_on(expect: Expect, day: dt.date) -> bool:
    """Whether a file is expected for `day`."""
    if expect.weekdays is not None:
        return WEEKDAYS[day.weekday()] in expect.weekdays
    last = calendar.monthrange(day.year, day.month)[1]
    wanted = last if expect.day == "last" else min(int(expect.day), last)
    return day.day == wanted


def deadline(expect: Expect, day: dt.date, zone: zoneinfo.ZoneInfo) -> dt.datetime:
    hour, minute = (int(part) for part in expect.by.split(":"))
    return dt.datetime.combine(day, dt.time(hour, minute), zone)


def _bounds(day: dt.date, zone: zoneinfo.ZoneInfo) -> tuple[str, str]:
    """The local day as UTC ISO 8601 bounds, in received_at's own format."""
    start = dt.datetime.combine(day, dt.time(), zone)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), zone)
    return tuple(t.astimezone(dt.UTC).isoformat(timespec="milliseconds") for t in (start, end))


async def check(
    settings: Settings,
    store: Store,
    reporter: Reporter,
    now: dt.datetime,
    accounts: Iterable[str] | None = None,
) -> Checked:
    """Alert the misses due by `now` (today's, and those of days whose `by` passed
    since the account was last checked, as while the daemon was down), then note every
    open miss that has arrived."""
    checked = Checked()
    zone = zoneinfo.ZoneInfo(settings.daemon.timezone)
    today = now.astimezone(zone).date()
    last = await store.expect_checks()
    done: dict[str, str] = {}
    forget: list[str] = []
    names = list(settings.accounts) if accounts is None else list(accounts)
    if accounts is None:
        forget = [name for name in last if name not in settings.accounts]
    for name in names:
        account = settings.accounts.get(name)
        expect = account.expect if account is not None else None
        if expect is None:
            forget += [name] if name in last else []
            continue
        done[name] = _stamp(now)
        if account.status == "stopped":
            continue  # checked all the same: its days while stopped are never alerted
        since = dt.datetime.fromisoformat(last[name]) if name in last else None
        for day in due_days(expect, today, since, now, zone):
            checked.missing += await _alert(settings, store, reporter, name, day, now)
    await store.record_expect_checks(done, forget)
    checked.arrived = await close_arrived(settings, store, reporter, now)
    return checked


def due_days(
    expect: Expect,
    today: dt.date,
    since: dt.datetime | None,
    now: dt.datetime,
    zone: zoneinfo.ZoneInfo,
) -> list[dt.date]:
    """The due days whose `by` has passed by `now` and came after the check at `since`
    (at most CATCH_UP_DAYS back): a day whose `by` a check passed already was settled
    by it, alerted or not (a stopped account's never is, and started again the same
    day it was alerted then). With no check before (a new install, an `expect` just
    added), today's alone."""
    days = [today]
    if since is not None:
        first = max(since.astimezone(zone).date(), today - dt.timedelta(days=CATCH_UP_DAYS))
        count = (today - first).days
        days = [first + dt.timedelta(days=k) for k in range(count)] + days
    return [
        day
        for day in days
        if due_on(expect, day)
        and now >= deadline(expect, day, zone)
        and (since is None or deadline(expect, day, zone) > since)
    ]


async def _alert(
    settings: Settings,
    store: Store,
    reporter: Reporter,
    name: str,
    day: dt.date,
    now: dt.datetime,
) -> list[str]:
    """Record and alert `day` as missed, unless its file completed or it was before."""
    zone = zoneinfo.ZoneInfo(settings.daemon.timezone)
    start, end = _bounds(day, zone)
    if await store.completed_between(name, start, end) is not None:
        return []
    if not await store.add_miss(name, day.isoformat(), _stamp(now)):
        return []
    # A crash right here leaves the miss recorded but not mailed; the API still lists
    # it. Mailing first could mail twice, which is worse.
    expect = settings.accounts[name].expect
    assert expect is not None
    params = {"by": expect.by, "timezone": settings.daemon.timezone}
    if waiting := await _waiting(settings, store, name):
        params["waiting"] = waiting
    log.warning("expected file of %s for %s missing at %s", name, day, expect.by)
    return await _mail(settings, reporter, name, day.isoformat(), "missing", params)


async def _waiting(settings: Settings, store: Store, name: str) -> int:
    """The account's files taken and not yet imported, and those waiting in its FTP
    home for a check time (`by` may come before it): a partner who delivered in time
    read "not received" of a file renkei held."""
    count = 0
    for state in (RunState.QUEUED, RunState.RUNNING):
        _, total = await store.list_runs({"account": name, "state": state.value}, 1)
        count += total
    from handlers.ftphome import waiting_uploads

    if settings.accounts[name].ftp is not None:
        with contextlib.suppress(OSError):
            # Those moved aside for a later upload of their name too: both are imported.
            count += waiting_uploads(settings.ftp_home(name))
    return count


async def close_arrived(
    settings: Settings, store: Store, reporter: Reporter, now: dt.datetime
) -> list[str]:
    """Close each open miss whose day now has a completed run; one note each."""
    zone = zoneinfo.ZoneInfo(settings.daemon.timezone)
    noted = []
    for name, day in await store.open_misses():
        if name not in settings.accounts:
            continue
        start, end = _bounds(dt.date.fromisoformat(day), zone)
        run = await store.completed_between(name, start, end)
        if run is None or not await store.close_miss(name, day, _stamp(now), run["id"]):
            continue
        # Its counts: a file whose every row failed arrived, but "imported" it was not.
        params = {
            "filename": run["filename"],
            "run": run["id"],
            "imported": run["rows_imported"],
            "failed": run["rows_failed"],
        }
        noted += await _mail(settings, reporter, name, day, "arrived", params)
        log.info("expected file of %s for %s arrived: run %s", name, day, run["id"])
    return noted


async def _mail(
    settings: Settings,
    reporter: Reporter,
    name: str,
    day: str,
    kind: str,
    params: dict[str, object],
) -> list[str]:
    """Queue one alert or note; its id, or none when nobody is to get it."""
    recipients = list(
        dict.fromkeys([*settings.accounts[name].error_report_to, *settings.report.admin_to])
    )
    if not recipients:
        log.warning("expected file of %s for %s: no address to tell (%s)", name, day, kind)
        return []
    item_id = f"{ALERT_PREFIX}expect-{id_part(name)}-{day}-{kind}"
    report = settings.report
    params = {"account": name, "day": day, **params}
    msg = expected_mail.build(item_id, kind, params, recipients, report.from_, report.language)
    await reporter.queue_mail(item_id, msg, recipients)
    return [item_id]


def _stamp(now: dt.datetime) -> str:
    return now.astimezone(dt.UTC).isoformat(timespec="milliseconds")


class Expecter(DailyAccountJobs):
    """The daemon's checks: at each account's `by`, at start and reload (an `expect`
    added after its `by` notices today's miss), and as runs finish."""

    job_prefix = _JOB_PREFIX
    job_name = "expected file"

    def __init__(self, settings: Callable[[], Settings], store: Store, reporter: Reporter) -> None:
        super().__init__(settings, store, reporter)
        self._closing = False

    def time_of(self, account: Account) -> str | None:
        return account.expect.by if account.expect is not None else None

    def add_jobs(self, scheduler: AsyncIOScheduler) -> None:
        scheduler.add_job(
            self.close,
            "interval",
            seconds=_SWEEP_SECONDS,
            id="expect-close",
            coalesce=True,
            max_instances=1,
        )

    def wake(self) -> None:
        """A run finished: it may be the file an open miss waits for."""
        if not self._closing:
            self._closing = True
            asyncio.ensure_future(self.close())

    async def run(self, accounts: list[str] | None = None) -> None:
        try:
            now = dt.datetime.now(dt.UTC)
            await check(self._settings(), self._store, self._reporter, now, accounts)
        except Exception as exc:
            log_failure(log, exc, "expected-file check failed")

    async def close(self) -> None:
        self._closing = False
        try:
            now = dt.datetime.now(dt.UTC)
            await close_arrived(self._settings(), self._store, self._reporter, now)
        except Exception as exc:
            log_failure(log, exc, "expected-file close pass failed")


async def check_now(settings: Settings, now: dt.datetime) -> Checked:
    """`renkei expect-check`: the daemon's check as of `now`, against its store and
    outbox. What it queues it tries to send once; a running daemon sends the rest (each
    item is locked while it is sent, in the folder or the shared store's outbox, so
    two senders never both send it)."""
    store = await open_store(settings)
    try:
        reporter = Reporter(lambda: settings, store)
        checked = await check(settings, store, reporter, now)
        for item_id in [*checked.missing, *checked.arrived]:
            checked.attempts.append(await reporter.send_now(item_id))
        return checked
    finally:
        await store.close()
