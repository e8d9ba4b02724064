"""Check schedules: when an account's FTP home is checked, from its weekdays, window,
interval and delay, in `daemon.timezone`.

One function, `next_checks()`, computes the ticks; the scheduler's trigger, the API's
`next_checks` and `renkei schedule` all use it, so what an admin sees is what runs.

Ticks are wall times: the window's start, then every `interval` up to its end, each
`delay` later, as a clock on the wall reads them. Across a DST change each becomes one
instant: a wall time the change skips (spring forward) moves to the first minute after
the gap, and one the change repeats (fall back) is taken the first time round, so the
repeated hour is checked once. Ticks that become the same instant are one check, and
instants are compared as instants (in UTC): two datetimes of the same zone compare by
their wall time, fold ignored, which would put a later instant first.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass

from daemon.settings import WEEKDAYS
from daemon.settings.model import Timetable

_UNITS = {"m": 1, "h": 60}


@dataclass(frozen=True, slots=True)
class Schedule:
    weekdays: frozenset[int]  # 0 = Monday
    start: dt.time
    end: dt.time
    interval: dt.timedelta
    delay: dt.timedelta
    zone: zoneinfo.ZoneInfo

    @classmethod
    def of(cls, ftp: Timetable, timezone: str) -> Schedule:
        start, end = (dt.time.fromisoformat(t) for t in ftp.window.split("-"))
        return cls(
            weekdays=frozenset(WEEKDAYS.index(day) for day in ftp.weekdays),
            start=start,
            end=end,
            interval=dt.timedelta(minutes=_minutes(ftp.interval)),
            delay=dt.timedelta(minutes=_minutes(ftp.delay)),
            zone=zoneinfo.ZoneInfo(timezone),
        )

    def window_of(self, day: dt.date) -> tuple[dt.datetime, dt.datetime]:
        """The window that starts on `day`; one whose end is before its start crosses
        midnight and belongs to the weekday it starts on."""
        start = dt.datetime.combine(day, self.start, self.zone)
        end = dt.datetime.combine(day, self.end, self.zone)
        if end < start:
            end += dt.timedelta(days=1)
        return start, end

    def ticks_on(self, day: dt.date) -> Iterator[dt.datetime]:
        """Check times of the window starting on `day` (delay applied), each once, in
        order of the instant."""
        if day.weekday() not in self.weekdays:
            return
        start = dt.datetime.combine(day, self.start)  # wall times: naive on purpose
        end = dt.datetime.combine(day, self.end)
        if end < start:
            end += dt.timedelta(days=1)
        wall = start
        previous: dt.datetime | None = None
        while wall <= end:
            moment = self.instant(wall + self.delay)
            # Resolving keeps the order of wall times; ticks moved out of a skipped
            # hour land on the same instant, and are one check.
            if previous is None or _utc(moment) > _utc(previous):
                yield moment
                previous = moment
            wall += self.interval

    def instant(self, wall: dt.datetime) -> dt.datetime:
        """The instant a naive wall time stands for in the zone: the first of a repeated
        hour's two, and for a time a DST change skips the first minute after the gap."""
        moment = wall.replace(tzinfo=self.zone).astimezone(dt.UTC)  # fold=0: the first
        local = moment.astimezone(self.zone)
        if local.replace(tzinfo=None) != wall:
            # Skipped: fold=0 read it at the old offset, which lands past the gap. The
            # change itself is the earliest minute since then at the new offset.
            offset = local.utcoffset()
            step = dt.timedelta(minutes=1)
            while (moment - step).astimezone(self.zone).utcoffset() == offset:
                moment -= step
            local = moment.astimezone(self.zone)
        return local

    def in_window(self, moment: dt.datetime) -> bool:
        """Whether `moment` falls inside a window (delay included), for missed ticks."""
        local = moment.astimezone(self.zone)
        for day in (local.date() - dt.timedelta(days=1), local.date()):
            if day.weekday() in self.weekdays:
                start, end = self.window_of(day)
                if start + self.delay <= local <= end + self.delay:
                    return True
        return False


def _minutes(text: str) -> int:
    return int(text[:-1]) * _UNITS[text[-1]]


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC)


def next_checks(schedule: Schedule, after: dt.datetime, count: int = 5) -> list[dt.datetime]:
    """The next `count` check times strictly after the instant `after`, in the
    schedule's zone, in order of the instant and each once."""
    after = _utc(after)
    found: dict[dt.datetime, dt.datetime] = {}  # by instant in UTC
    day = after.astimezone(schedule.zone).date() - dt.timedelta(days=1)
    enough = None
    for _ in range(400):  # a year and a bit: enough for any set of weekdays
        for tick in schedule.ticks_on(day):
            if _utc(tick) > after:
                found.setdefault(_utc(tick), tick)
        if enough is None and len(found) >= count:
            # A window crossing midnight runs into the next day: take that day too.
            enough = day + dt.timedelta(days=1)
        if day == enough:
            break
        day += dt.timedelta(days=1)
    return [found[instant] for instant in sorted(found)[:count]]
