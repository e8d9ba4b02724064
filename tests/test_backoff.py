"""The one retry pause of the daemon: doubled per failure, capped."""

from daemon.backoff import backoff


def test_backoff_doubles_from_the_first_pause_up_to_the_cap():
    assert [backoff(1, n, 60) for n in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert backoff(30, 0, 3600) == 30


def test_backoff_after_very_many_failures_is_the_cap_not_an_overflow():
    assert backoff(1, 10_000, 60) == 60
    assert backoff(5, -1, 60) == 5  # a count that never went up: the first pause
