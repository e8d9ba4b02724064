"""Check schedules: when an account's FTP home is checked, from its weekdays, window,
interval and delay, in `daemon.timezone`.

One function, `next_checks()`, computes the ticks; the scheduler's trigger, the API's
`next_checks` and `renkei schedule` all use it, so what an admin sees is what runs.
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
        """Check times of the window starting on `day` (delay applied), in order."""
        if day.weekday() not in self.weekdays:
            return
        start, end = self.window_of(day)
        tick = start
        while tick <= end:
            # Arithmetic in UTC, so a DST change never shifts the interval.
            yield (tick.astimezone(dt.UTC) + self.delay).astimezone(self.zone)
            tick = (tick.astimezone(dt.UTC) + self.interval).astimezone(self.zone)

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


def next_checks(schedule: Schedule, after: dt.datetime, count: int = 5) -> list[dt.datetime]:
    """The next `count` check times strictly after `after`."""
    found: list[dt.datetime] = []
    day = after.astimezone(schedule.zone).date() - dt.timedelta(days=1)
    for _ in range(400):  # a year and a bit: enough for any set of weekdays
        found += [t for t in schedule.ticks_on(day) if t > after]
        if len(found) >= count:
            break
        day += dt.timedelta(days=1)
    return sorted(found)[:count]
