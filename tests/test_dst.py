"""Check schedules across DST changes, with an injected clock: ticks are wall times,
each checked once in order of the instant; a wall time the change skips moves to the
first minute after the gap (once), a repeated hour is checked once, and the
scheduler's trigger fires at exactly what `next_checks` lists."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from daemon.poll import windows
from daemon.poll.jobs import WindowTrigger
from daemon.poll.slots import latest_tick
from daemon.poll.windows import Schedule, next_checks
from daemon.settings import FtpAccount

UTC = dt.UTC
H = dt.timedelta(hours=1)


# Each change spelled out, not asked of zoneinfo: the zone, the day, the window around
# the change, the wall time the change happens at, and the offsets before and after.
CHANGES = {
    # Helsinki: 03:00 EET becomes 04:00 EEST (03:00-03:59 never shows on a clock).
    "helsinki-spring": ("Europe/Helsinki", "2026-03-29", "01:00-06:00", "03:00", 2, 3),
    # Helsinki: 04:00 EEST becomes 03:00 EET (03:00-03:59 shows twice).
    "helsinki-fall": ("Europe/Helsinki", "2026-10-25", "01:00-06:00", "04:00", 3, 2),
    # New York: 02:00 EST becomes 03:00 EDT.
    "new-york-spring": ("America/New_York", "2026-03-08", "00:00-05:00", "02:00", -5, -4),
    # New York: 02:00 EDT becomes 01:00 EST (01:00-01:59 shows twice).
    "new-york-fall": ("America/New_York", "2026-11-01", "00:00-05:00", "02:00", -4, -5),
}


def schedule(zone: str, window: str, interval: str, delay: str) -> Schedule:
    days = ["sat", "sun"]
    ftp = FtpAccount(user="u", weekdays=days, window=window, interval=interval, delay=delay)
    return Schedule.of(ftp, zone)


def expected(change: str, interval: str, delay: str) -> list[dt.datetime]:
    """The day's ticks in UTC, worked out from the change as spelled out above."""
    _, day, window, at, before, after = CHANGES[change]
    date = dt.date.fromisoformat(day)
    start, end = (dt.datetime.combine(date, dt.time.fromisoformat(t)) for t in window.split("-"))
    change_wall = dt.datetime.combine(date, dt.time.fromisoformat(at))
    step = dt.timedelta(minutes=int(interval[:-1]) * (60 if interval.endswith("h") else 1))
    shift = dt.timedelta(minutes=int(delay[:-1]))
    gap = after > before  # spring forward: wall times [change, change + 1h) are skipped
    out: list[dt.datetime] = []
    wall = start
    while wall <= end:
        tick = wall + shift
        if tick < change_wall:  # in fall back, the repeated hour the first time round
            instant = tick - before * H
        elif gap and tick < change_wall + H:
            instant = change_wall - before * H  # skipped: the first minute after the gap
        else:
            instant = tick - after * H
        instant = instant.replace(tzinfo=UTC)
        if not out or instant > out[-1]:
            out.append(instant)
        wall += step
    return out


def day_ticks(s: Schedule, change: str) -> list[dt.datetime]:
    """Every tick of the change's day, from `next_checks` with the clock at its start."""
    _, day, *_ = CHANGES[change]
    midnight = dt.datetime.combine(dt.date.fromisoformat(day), dt.time(), s.zone)
    ticks = next_checks(s, midnight - dt.timedelta(seconds=1), 200)
    return [t for t in ticks if t.astimezone(s.zone).date() == midnight.date()]


def utc(times: list[dt.datetime]) -> list[dt.datetime]:
    return [t.astimezone(UTC) for t in times]


CASES = [
    (change, interval, delay)
    for change in CHANGES
    for interval in ("15m", "1h")
    for delay in ("0m", "5m")
]


@pytest.mark.parametrize(("change", "interval", "delay"), CASES)
def test_each_tick_once_in_order_of_the_instant(change, interval, delay):
    zone, _, window, *_ = CHANGES[change]
    s = schedule(zone, window, interval, delay)
    ticks = day_ticks(s, change)
    instants = utc(ticks)
    assert instants == expected(change, interval, delay)
    assert all(a < b for a, b in zip(instants, instants[1:], strict=False))  # strictly
    assert len(set(instants)) == len(instants)
    # Shown in the zone, at the offset each instant has there.
    assert all(t.tzinfo == s.zone for t in ticks)
    assert [t.astimezone(s.zone).utcoffset() for t in ticks] == [t.utcoffset() for t in ticks]


@pytest.mark.parametrize(
    ("change", "first_valid"),
    [("helsinki-spring", "2026-03-29T01:00"), ("new-york-spring", "2026-03-08T07:00")],
)
@pytest.mark.parametrize("interval", ["15m", "1h"])
@pytest.mark.parametrize("delay", ["0m", "5m"])
def test_ticks_in_the_skipped_hour_move_to_the_first_valid_minute_once(
    change, first_valid, interval, delay
):
    zone, _, window, at, *_ = CHANGES[change]
    s = schedule(zone, window, interval, delay)
    instants = utc(day_ticks(s, change))
    moved = dt.datetime.fromisoformat(first_valid).replace(tzinfo=UTC)
    assert instants.count(moved) == 1
    local = moved.astimezone(s.zone)
    assert local.strftime("%H:%M") == f"{int(at[:2]) + 1:02d}:00"  # 04:00 / 03:00
    # Nothing between the last tick before the change and the first valid minute.
    before = [t for t in instants if t < moved]
    assert before and moved - before[-1] <= dt.timedelta(hours=1)


def test_a_window_ending_inside_the_skipped_hour_checks_once_after_it():
    s = schedule("Europe/Helsinki", "01:00-03:30", "15m", "0m")
    ticks = day_ticks(s, "helsinki-spring")
    local = [t.strftime("%H:%M%z") for t in ticks]
    assert local[-3:] == ["02:30+0200", "02:45+0200", "04:00+0300"]  # 03:00-03:30: once


@pytest.mark.parametrize(
    ("change", "repeated_utc"),
    [
        ("helsinki-fall", ("2026-10-25T01:00", "2026-10-25T02:00")),
        ("new-york-fall", ("2026-11-01T06:00", "2026-11-01T07:00")),
    ],
)
@pytest.mark.parametrize("interval", ["15m", "1h"])
@pytest.mark.parametrize("delay", ["0m", "5m"])
def test_the_repeated_hour_is_checked_once(change, repeated_utc, interval, delay):
    zone, _, window, *_ = CHANGES[change]
    s = schedule(zone, window, interval, delay)
    ticks = day_ticks(s, change)
    second_time_round = [dt.datetime.fromisoformat(t).replace(tzinfo=UTC) for t in repeated_utc]
    assert not [t for t in utc(ticks) if second_time_round[0] <= t < second_time_round[1]]
    walls = [t.strftime("%H:%M") for t in ticks]
    assert len(walls) == len(set(walls))  # no wall time twice
    assert all(t.fold == 0 for t in ticks)


@pytest.mark.parametrize(("change", "interval", "delay"), CASES)
def test_the_trigger_fires_at_what_next_checks_lists(change, interval, delay):
    zone, _, window, *_ = CHANGES[change]
    s = schedule(zone, window, interval, delay)
    listed = utc(day_ticks(s, change))
    trigger = WindowTrigger(s)
    midnight = listed[0].astimezone(s.zone).replace(hour=0, minute=0)
    fired = [trigger.get_next_fire_time(None, midnight)]
    while len(fired) < len(listed):
        fired.append(trigger.get_next_fire_time(fired[-1], fired[-1]))
    assert utc(fired) == listed
    # And from any moment of the day, the trigger's next is next_checks' next.
    moment = midnight.astimezone(UTC)
    while moment < listed[-1]:
        for now in (moment, moment.astimezone(s.zone)):  # fold set by astimezone
            # A first fire time may be `now` itself (due now); after a fire, the next.
            due = next_checks(s, now.astimezone(UTC) - dt.timedelta(microseconds=1), 1)[0]
            assert trigger.get_next_fire_time(None, now) == due.astimezone(UTC)
            after = next_checks(s, now, 1)[0]
            assert trigger.get_next_fire_time(now, now) == after.astimezone(UTC)
        moment += dt.timedelta(minutes=7)


def test_the_trigger_in_the_second_time_round_of_the_repeated_hour():
    """At 03:30 EET (the second 03:30 that day) the next check is 04:00 EET, not one
    from the hour already checked; APScheduler's clock reads it in the zone, fold=1."""
    s = schedule("Europe/Helsinki", "01:00-06:00", "15m", "0m")
    zone = zoneinfo.ZoneInfo("Europe/Helsinki")
    now = dt.datetime(2026, 10, 25, 3, 30, tzinfo=zone, fold=1)
    assert now.utcoffset() == 2 * H
    fire = WindowTrigger(s).get_next_fire_time(None, now)
    assert fire == dt.datetime(2026, 10, 25, 2, 0, tzinfo=UTC)  # 04:00 EET
    assert next_checks(s, now, 1)[0].strftime("%H:%M%z") == "04:00+0200"
    assert latest_tick(s, now.astimezone(UTC)).strftime("%H:%M%z") == "03:45+0300"


def test_renkei_schedule_prints_the_checks_in_order(tmp_path, monkeypatch, capsys):
    from daemon import cli
    from tests.support import account, ftp_served, write_config

    config = write_config(
        tmp_path,
        account("acme") + '[accounts.acme.ftp]\nuser = "acme"\n'
        'weekdays = ["sun"]\nwindow = "02:00-05:00"\ninterval = "15m"\ndelay = "0m"\n',
    )
    text = config.read_text(encoding="utf-8")
    config.write_text(
        text.replace("[daemon]\n", '[daemon]\ntimezone = "Europe/Helsinki"\n', 1),
        encoding="utf-8",
    )
    ftp_served(config)  # checks are made only with FTP intake served
    clock = dt.datetime(2026, 10, 24, 12, 0, tzinfo=UTC)  # the Saturday before
    real = windows.next_checks
    monkeypatch.setattr(windows, "next_checks", lambda s, after, count=5: real(s, clock, count))
    assert cli.main(["schedule", "acme", "--count", "12", "--config", str(config)]) == 0
    lines = capsys.readouterr().out.splitlines()[1:]
    # "2026-10-25 日 02:45 +0300": the weekday in the config's language (Japanese)
    instants = [dt.datetime.strptime(line[:10] + line[12:], "%Y-%m-%d %H:%M %z") for line in lines]
    assert all(a < b for a, b in zip(instants, instants[1:], strict=False))
    assert lines[3:9] == [
        "2026-10-25 日 02:45 +0300",
        "2026-10-25 日 03:00 +0300",
        "2026-10-25 日 03:15 +0300",
        "2026-10-25 日 03:30 +0300",
        "2026-10-25 日 03:45 +0300",
        "2026-10-25 日 04:00 +0200",  # the repeated hour, checked once
    ]
