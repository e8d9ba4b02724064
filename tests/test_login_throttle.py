"""The console's login throttle (daemon/console/throttle.py) under a table full of
made-up names: its memory stays bounded, and filling it does not hand a guesser
fresh guesses at the name it is after. tests/test_console.py drives the throttle
through the real login page; here its clock is injected, so that tens of thousands
of failures take no real time."""

from __future__ import annotations

from daemon.console.throttle import _MAX_KEYS, FAILURES, WINDOW, LoginThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_filling_the_table_with_made_up_names_keeps_the_count_of_the_real_one():
    """Made-up names from made-up addresses do not wipe the guesser's count of the name
    it guesses at from its address."""
    clock = Clock()
    throttle = LoginThrottle(clock)
    for _ in range(FAILURES - 1):
        assert not throttle.failed("192.0.2.1", "admin")
        clock.now += 1
    for n in range(2 * _MAX_KEYS):  # one failure each, name and address never seen
        throttle.failed(f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}", f"user{n}")
        clock.now += 0.001
        assert len(throttle) <= _MAX_KEYS
    assert throttle.failed("192.0.2.1", "ADMIN")  # the guess after: locked
    assert throttle.locked("192.0.2.1", "admin")
    assert not throttle.locked("198.51.100.7", "admin")  # from elsewhere, the admin logs in


def test_a_full_table_still_forgets_what_is_past_its_window():
    clock = Clock()
    throttle = LoginThrottle(clock)
    for n in range(_MAX_KEYS):
        throttle.failed(f"a{n}", f"u{n}")
    clock.now += WINDOW + 1
    for _ in range(FAILURES - 1):
        assert not throttle.failed("192.0.2.1", "admin")
    assert len(throttle) < 10
    assert throttle.failed("192.0.2.1", "admin")
