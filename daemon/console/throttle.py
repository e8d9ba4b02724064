"""Login throttling: after too many failed logins from one address, or for one user
name, further attempts are refused for a while, whatever the password.

Kept in memory: a restart forgets it, as pyftpdlib's ban list does; an attacker gains
a few guesses per restart, which a daemon that restarts rarely makes worthless.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from daemon.failtable import prune

FAILURES = 5  # within WINDOW seconds, then…
WINDOW = 600.0
LOCKED = 900.0  # …refused this long
_MAX_KEYS = 10_000  # bounded memory whatever a client sends as user names
_KEPT = _MAX_KEYS * 9 // 10  # what a full table is pruned down to


class LoginThrottle:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._locked: dict[str, float] = {}

    def __len__(self) -> int:
        """The addresses and user names it holds failures or a lock of."""
        return len(self._failures) + len(self._locked)

    def locked(self, address: str, user: str) -> bool:
        now = self._clock()
        return any(self._locked.get(key, 0.0) > now for key in _keys(address, user))

    def failed(self, address: str, user: str) -> bool:
        """Count a failed login; True when it locks the address or the user name."""
        now = self._clock()
        self._prune(now)
        locked = False
        for key in _keys(address, user):
            times = self._failures.setdefault(key, deque())
            times.append(now)
            while times and times[0] <= now - WINDOW:
                times.popleft()
            if len(times) >= FAILURES:
                self._locked[key] = now + LOCKED
                times.clear()
                locked = True
        return locked

    def succeeded(self, address: str, user: str) -> None:
        for key in _keys(address, user):
            self._failures.pop(key, None)

    def _prune(self, now: float) -> None:
        if len(self._failures) + len(self._locked) + 2 <= _MAX_KEYS:
            return  # room for the address and the name this failure counts
        prune(self._failures, self._locked, now, WINDOW, _KEPT)


def _keys(address: str, user: str) -> tuple[str, str]:
    return f"address:{address}", f"user:{user.casefold()}"
