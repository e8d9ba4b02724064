"""Once per tick across instances: a scheduled job (an FTP check, a send) runs on the
one instance that takes the tick's slot in the shared store, under an advisory lock
while it works, so a slow check is not overtaken by another instance's next one.

With a store of its own (SQLite) an instance is alone and runs every tick. Used by
the poller (jobs.py) and the outward triggers.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable

from daemon.poll.windows import Schedule
from daemon.store.base import Store

log = logging.getLogger(__name__)


async def run_once(
    store: Store | None, job: str, schedule: Schedule, work: Callable[[], Awaitable[object]]
) -> bool:
    """Run `work` for the latest tick of `schedule` unless another instance has or
    does; whether this instance ran it."""
    if store is None or not store.shared:
        await work()
        return True
    now = dt.datetime.now(dt.UTC)
    # Every instance derives the same tick from the same schedule, whenever within
    # the tick's interval its timer fired.
    tick = latest_tick(schedule, now) or now.replace(second=0, microsecond=0)
    if not await store.claim_slot(job, tick):
        log.info("%s: the tick of %s was taken by another instance", job, tick.isoformat())
        return False
    async with store.exclusive(job) as alone:
        if not alone:
            log.info("%s: another instance is still at it; tick %s skipped", job, tick)
            return False
        await work()
    return True


def latest_tick(schedule: Schedule, now: dt.datetime) -> dt.datetime | None:
    """The latest tick at or before `now` (within the last two days)."""
    today = now.astimezone(schedule.zone).date()
    days = (today - dt.timedelta(days=back) for back in (2, 1, 0))
    past = [t for day in days for t in schedule.ticks_on(day) if t <= now]
    # By instant: two datetimes of one zone compare by wall time (see windows.py).
    return max(past, key=lambda t: t.astimezone(dt.UTC)) if past else None
