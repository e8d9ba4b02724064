"""Check schedules with an injected clock: what `next_checks` says is what fires."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from daemon.poll.jobs import WindowTrigger
from daemon.poll.windows import Schedule, next_checks
from daemon.settings import FtpAccount
from handlers.base import Receipt

TOKYO = zoneinfo.ZoneInfo("Asia/Tokyo")


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=TOKYO)


def schedule(**keys) -> Schedule:
    return Schedule.of(FtpAccount(user="u", **keys), "Asia/Tokyo")


def hhmm(times: list[dt.datetime]) -> list[str]:
    return [t.strftime("%a %H:%M") for t in times]


def test_friday_evening_to_monday_morning_for_a_weekday_window():
    s = schedule(window="09:00-17:30", interval="30m", delay="3m")
    # 2026-11-20 is a Friday; the last tick (17:30 + 3m) has passed.
    assert hhmm(next_checks(s, at("2026-11-20T17:50"), 3)) == [
        "Mon 09:03",
        "Mon 09:33",
        "Mon 10:03",
    ]


def test_window_ending_off_the_hour_every_2h_includes_no_tick_past_the_end():
    s = schedule(window="09:00-17:30", interval="2h", delay="0m")
    day = next_checks(s, at("2026-11-23T00:00"), 5)
    assert hhmm(day) == ["Mon 09:00", "Mon 11:00", "Mon 13:00", "Mon 15:00", "Mon 17:00"]
    assert hhmm(next_checks(s, at("2026-11-23T17:00"), 1)) == ["Tue 09:00"]


def test_the_end_of_the_window_is_included_and_delay_shifts_every_tick():
    s = schedule(window="09:00-18:00", interval="1h", delay="5m")
    ticks = next_checks(s, at("2026-11-23T16:30"), 3)
    assert hhmm(ticks) == ["Mon 17:05", "Mon 18:05", "Tue 09:05"]
    assert all(t.tzinfo is not None and t.utcoffset() == dt.timedelta(hours=9) for t in ticks)


def test_strictly_after_now():
    s = schedule(window="09:00-10:00", interval="30m")
    assert hhmm(next_checks(s, at("2026-11-23T09:30"), 2)) == ["Mon 10:00", "Tue 09:00"]


def test_a_window_crossing_midnight_belongs_to_the_day_it_starts():
    s = schedule(window="22:00-02:00", interval="2h", weekdays=["fri"])
    ticks = next_checks(s, at("2026-11-20T21:00"), 4)
    assert [t.strftime("%a %d %H:%M") for t in ticks] == [
        "Fri 20 22:00",
        "Sat 21 00:00",
        "Sat 21 02:00",
        "Fri 27 22:00",
    ]


def test_trigger_fires_at_the_computed_ticks():
    s = schedule(window="09:00-18:00", interval="15m", delay="3m")
    trigger = WindowTrigger(s)
    first = trigger.get_next_fire_time(None, at("2026-11-20T17:50"))
    assert first == at("2026-11-20T17:48") + dt.timedelta(minutes=15)  # 18:03 is still a tick
    second = trigger.get_next_fire_time(first, first)
    assert second == at("2026-11-23T09:03")


@pytest.mark.parametrize(
    ("now", "inside"),
    [
        ("2026-11-23T09:02", False),
        ("2026-11-23T09:03", True),
        ("2026-11-23T18:03", True),
        ("2026-11-23T18:04", False),
        ("2026-11-22T12:00", False),
    ],
)
def test_inside_the_window_for_a_missed_tick(now, inside):
    s = schedule(window="09:00-18:00", interval="15m", delay="3m")
    assert s.in_window(at(now)) is inside


def _settings(tmp_path, accounts: dict):
    from daemon.settings import parse

    return parse(
        {
            "daemon": {"data_dir": str(tmp_path / "var")},
            "layouts": {"p": {"columns": [{"name": "a"}]}},
            "accounts": {
                name: {"layout": "p", "ftp": {"user": name, "password": "demo-x", **ftp}}
                for name, ftp in accounts.items()
            },
        }
    )


async def test_accounts_ticking_together_are_checked_in_priority_order(tmp_path):
    import asyncio

    from daemon.poll.jobs import Poller

    settings = _settings(
        tmp_path, {"low": {"priority": 1}, "high": {"priority": 5}, "mid": {"priority": 3}}
    )
    order: list[str] = []

    async def check(name: str) -> list[str]:
        order.append(name)
        return []

    poller = Poller(lambda: settings, check, tmp_path / "state.json")
    for name in ("low", "mid", "high"):
        poller._tick(name)
    await asyncio.sleep(0.5)
    assert order == ["high", "mid", "low"]
    assert set(poller._last_checks()) == {"low", "mid", "high"}


class SlowSink:
    def __init__(self) -> None:
        self.active = self.most = 0
        self.spooled: list[str] = []

    async def spool(self, deliveries):
        import asyncio

        self.active += 1
        self.most = max(self.most, self.active)
        await asyncio.sleep(0.2)
        self.spooled += [d.filename for d in deliveries]
        self.active -= 1
        return Receipt([d.id for d in deliveries])

    def new_id(self) -> str:
        from daemon.spool.queue import new_id

        return new_id()


async def test_checks_of_one_account_never_overlap(tmp_path):
    import asyncio

    from handlers.ftp import FtpIntake, ftp_home

    settings = _settings(tmp_path, {"acme": {}})
    home = ftp_home(settings, "acme")
    home.mkdir(parents=True)
    for name in ("20240516.csv", "20240517.csv"):
        (home / name).write_bytes(b"a\r\n1\r\n")
    sink = SlowSink()
    intake = FtpIntake(lambda: settings, sink)
    first, second = await asyncio.gather(intake.check("acme"), intake.check("acme"))
    assert sink.most == 1
    assert sorted(sink.spooled) == ["20240516.csv", "20240517.csv"]
    assert len(first) == 2 and second == []
