"""The FTP door's failed-login guard (handlers/ftpguard.py) under failures from more
addresses than it holds: its memory stays bounded, and an address nearing its ban keeps
its count however many made-up addresses fail meanwhile. tests/test_ftp.py drives the
ban itself through a real FTP session."""

from __future__ import annotations

from handlers.ftpguard import MAX_ADDRESSES, LoginGuard


def test_many_addresses_keep_the_guard_bounded_and_the_count_that_matters():
    guard = LoginGuard(max_failures=4, ban_seconds=60)
    for _ in range(3):
        assert not guard.failed("192.0.2.1")
    for n in range(2 * MAX_ADDRESSES):
        assert not guard.failed(f"2001:db8::{n:x}")
        assert len(guard) <= MAX_ADDRESSES
    assert guard.failed("192.0.2.1")  # its fourth: banned
    assert guard.banned("192.0.2.1")


def test_a_banned_address_is_no_longer_counted_but_banned():
    guard = LoginGuard(max_failures=2, ban_seconds=60)
    assert not guard.failed("192.0.2.9")
    assert guard.failed("192.0.2.9")
    assert guard.banned("192.0.2.9") and len(guard) == 1
