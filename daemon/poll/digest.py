"""Daily digests: at each account's `digest_at` (report = digest | digest+errors), one
mail listing the runs that finished since the day before's `digest_at`, to the
account's success_report_to and error_report_to; none on a day without runs.

A run belongs to the digest whose window (previous digest_at, digest_at] holds its
finished_at, in daemon.timezone: a run still importing at 18:00 is listed the next day
rather than never. The digest of (account, day) is recorded in the store before it is
queued, so a restart, a reload or a second `renkei digest` never sends it twice.

`send_due()` takes `now`, so `renkei digest --now WHEN` runs the very same step as of
another moment. `Digester` runs it in the daemon: one APScheduler cron job per digest
account at its `digest_at`, rebuilt on reload, and once at start and at each reload (a
daemon down at 18:00 sends the day's digest when it comes back). Called by the master
and the CLI.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import zoneinfo
from collections.abc import Iterable

from daemon.poll.daily import CATCH_UP_DAYS, DailyAccountJobs
from daemon.report import digest as digest_mail
from daemon.report.alerts import Alerts
from daemon.report.outbox import DIGEST_PREFIX, Attempt, Reporter, id_part
from daemon.settings import Settings
from daemon.settings.model import Account
from daemon.store.base import Store
from daemon.store.errors import log_failure
from daemon.store.open import open_store
from daemon.store.runs import ReportState

log = logging.getLogger(__name__)
_JOB_PREFIX = "digest:"
DIGEST_POLICIES = ("digest", "digest+errors")


def wants_digest(account: Account) -> bool:
    return account.report in DIGEST_POLICIES


def due_day(
    name: str, account: Account, now: dt.datetime, zone: zoneinfo.ZoneInfo
) -> digest_mail.Day:
    """The latest digest at or before `now`: today's once digest_at has passed, else
    yesterday's; its window starts at the digest_at of the day before."""
    hour, minute = (int(part) for part in account.digest_at.split(":"))
    local = now.astimezone(zone)
    day = local.date()
    if local < dt.datetime.combine(day, dt.time(hour, minute), zone):
        day -= dt.timedelta(days=1)
    end = dt.datetime.combine(day, dt.time(hour, minute), zone)
    start = dt.datetime.combine(day - dt.timedelta(days=1), dt.time(hour, minute), zone)
    return digest_mail.Day(name, day, start, end, zone)


async def send_due(
    settings: Settings,
    store: Store,
    reporter: Reporter,
    now: dt.datetime,
    accounts: Iterable[str] | None = None,
) -> list[str]:
    """Queue each digest due as of `now` and not yet sent; their outbox ids."""
    zone = zoneinfo.ZoneInfo(settings.daemon.timezone)
    queued = []
    for name in accounts if accounts is not None else list(settings.accounts):
        account = settings.accounts.get(name)
        if account is None or not wants_digest(account):
            continue
        due = due_day(name, account, now, zone)
        if await store.digest_sent(name, due.day.isoformat()):
            continue
        found = await _runs_since_the_last(store, due)
        if found is not None and found[1]:
            queued += await _queue(settings, store, reporter, *found, now)
    return queued


async def _runs_since_the_last(
    store: Store, due: digest_mail.Day
) -> tuple[digest_mail.Day, list[dict]] | None:
    """The due digest's window and its runs, reaching back to where the account's
    last digest ended when the daemon was down over more than one digest_at: the runs
    of the days between are listed, not lost (at most CATCH_UP_DAYS back; a day
    without runs has no digest to end at, and none of its runs to list). None when a
    later digest went already: it reached back over this one's day."""
    found = await store.last_digest(due.account)
    last, ended = found if found is not None else (None, None)
    if last is not None and dt.date.fromisoformat(last) > due.day:
        return None
    day = _reach_back(due, last, ended)
    if day.start >= day.end:
        return None  # digest_at moved earlier: the last window reached past this one's
    runs = await store.runs_finished_between(due.account, _stamp(day.start), _stamp(day.end))
    if last is None:
        # Before the account's first digest it may have had a report per run (it was
        # `always` or `errors` until now): a run of the days reached back over whose
        # own report went is not listed a second time.
        runs = [run for run in runs if _unreported(run) or _finished_in(run, due)]
    return day, runs


def _reach_back(due: digest_mail.Day, last: str | None, ended_at: str | None) -> digest_mail.Day:
    """The due digest's window, starting where the last one ended: after a change of
    digest_at too, no run is left between two windows or listed in both."""
    earliest = due.start - dt.timedelta(days=CATCH_UP_DAYS - 1)
    if last is None:
        # No digest ended anywhere (the first one was missed too): the full reach.
        return dataclasses.replace(due, start=earliest)
    if ended_at is not None:
        ended = dt.datetime.fromisoformat(ended_at).astimezone(due.zone)
    else:
        # Recorded before windows kept their end: at its day's current digest_at.
        ended = dt.datetime.combine(dt.date.fromisoformat(last), due.end.time(), due.zone)
    return dataclasses.replace(due, start=max(ended, earliest))


def _unreported(run: dict) -> bool:
    return run["report_state"] == ReportState.NONE


def _finished_in(run: dict, day: digest_mail.Day) -> bool:
    return dt.datetime.fromisoformat(run["finished_at"]) > day.start


async def _queue(
    settings: Settings,
    store: Store,
    reporter: Reporter,
    day: digest_mail.Day,
    runs: list[dict],
    now: dt.datetime,
) -> list[str]:
    account = settings.accounts[day.account]
    recipients = list(dict.fromkeys([*account.success_report_to, *account.error_report_to]))
    if not recipients:
        log.warning("digest of %s for %s: no address to send it to", day.account, day.day)
        return []
    day_text = day.day.isoformat()
    if not await store.add_digest(day.account, day_text, _stamp(now), len(runs), _stamp(day.end)):
        return []  # another sender (the daemon, `renkei digest`) recorded it first
    # A crash right here leaves the digest recorded but not queued: recording after
    # queueing could mail it twice, which is worse. The runs stay in the history.
    # An alert-style id: the outbox marks no run's report_state when it goes.
    item_id = f"{DIGEST_PREFIX}{id_part(day.account)}-{day.day.isoformat()}"
    report = settings.report
    msg = digest_mail.build(
        item_id, day, runs, settings.data_dir, recipients, report.from_, report.language
    )
    await reporter.queue_mail(item_id, msg, recipients)
    log.info("digest of %s for %s queued: %d runs", day.account, day.day, len(runs))
    return [item_id]


def _stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds")


class Digester(DailyAccountJobs):
    """The daemon's digests: at each digest account's `digest_at`, at start and reload."""

    job_prefix = _JOB_PREFIX
    job_name = "daily digest"

    def time_of(self, account: Account) -> str | None:
        return account.digest_at if wants_digest(account) else None

    async def run(self, accounts: list[str] | None = None) -> None:
        try:
            now = dt.datetime.now(dt.UTC)
            await send_due(self._settings(), self._store, self._reporter, now, accounts)
        except Exception as exc:
            log_failure(log, exc, "daily digest failed")


async def digest_now(
    settings: Settings, now: dt.datetime, account: str | None = None
) -> list[tuple[str, Attempt | None]]:
    """`renkei digest`: the daemon's step as of `now`, against its store and outbox;
    what it queues it tries to send once, and a running daemon sends the rest. Each
    queued id, with how its try fared."""
    store = await open_store(settings)
    try:
        reporter = Reporter(lambda: settings, store)
        # A digest refused for good is never queued again: the admin hears of it (the
        # alert waits in the outbox for the running daemon).
        reporter.on_refused = Alerts(lambda: settings, reporter).report_refused
        accounts = [account] if account is not None else None
        queued = await send_due(settings, store, reporter, now, accounts)
        return [(item_id, await reporter.send_now(item_id)) for item_id in queued]
    finally:
        await store.close()
