"""Login throttling: after too many failed logins for one user name from one address,
or from one address whatever the names, further attempts from that address (for that
name, or for every name) are refused for a while, whatever the password.

Never for a name alone: a lock on the name would let anyone who reaches the console
keep its admin out by trying wrong passwords under the admin's name. A guesser with
many addresses gets FAILURES guesses at a name from each; the address's own count stops
one address trying a few guesses at each of many names.

Kept in memory: a restart forgets it, as pyftpdlib's ban list does; an attacker gains
a few guesses per restart, which a daemon that restarts rarely makes worthless.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from daemon.failtable import prune

FAILURES = 5  # for one name from one address within WINDOW seconds, then…
ADDRESS_FAILURES = 20  # …or from one address, whatever the names, then…
WINDOW = 600.0
LOCKED = 900.0  # …refused this long
# Refused logins (a form without its token, a locked login), and actions refused for
# the user's role, audited from one address within WINDOW: each is a row of the audit
# log, which nothing bounded before (three hundred rows a second from one client);
# past these, the log says they go on.
NOTED = 20
_MAX_KEYS = 10_000  # bounded memory whatever a client sends as user names
_KEPT = _MAX_KEYS * 9 // 10  # what a full table is pruned down to


class LoginThrottle:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._locked: dict[str, float] = {}
        # Attempts whose password is being checked now, by key: counted with the
        # failures, so that logins sent all at once cannot each pass the look at the
        # failures before any of them is counted (sixty guesses in one burst).
        self._flying: dict[str, int] = {}
        self._noted = Noted(clock)  # refusals audited, by address

    def __len__(self) -> int:
        """The addresses and (address, name) pairs it holds failures or a lock of."""
        return len(self._failures) + len(self._locked)

    def locked(self, address: str, user: str) -> bool:
        now = self._clock()
        return any(self._locked.get(key, 0.0) > now for key in _keys(address, user))

    def worth_noting(self, address: str) -> bool:
        """Whether a refused login from `address` is to be audited (NOTED a WINDOW)."""
        return self._noted.worth_noting(address)

    def begin(self, address: str, user: str) -> bool:
        """Whether an attempt may be checked now: not while locked, nor while the
        failures so far and the attempts being checked make FAILURES. One that may
        is counted as being checked until end()."""
        if self.locked(address, user):
            return False
        now = self._clock()
        keys = _keys(address, user)
        for key in keys:
            recent = sum(1 for t in self._failures.get(key, ()) if t > now - WINDOW)
            if recent + self._flying.get(key, 0) >= _limit(key):
                return False
        for key in keys:
            self._flying[key] = self._flying.get(key, 0) + 1
        return True

    def end(self, address: str, user: str, ok: bool) -> bool:
        """The attempt begin() let through was checked: True when its failure locks
        the address, or the user name from it."""
        for key in _keys(address, user):
            left = self._flying.get(key, 0) - 1
            if left > 0:
                self._flying[key] = left
            else:
                self._flying.pop(key, None)
        if ok:
            self.succeeded(address, user)
            return False
        return self.failed(address, user)

    def failed(self, address: str, user: str) -> bool:
        """Count a failed login; True when it locks the address, or the name from it."""
        now = self._clock()
        self._prune(now)
        locked = False
        for key in _keys(address, user):
            times = self._failures.setdefault(key, deque())
            times.append(now)
            while times and times[0] <= now - WINDOW:
                times.popleft()
            if len(times) >= _limit(key):
                self._locked[key] = now + LOCKED
                times.clear()
                locked = True
        return locked

    def succeeded(self, address: str, user: str) -> None:
        # The address's count too: an office behind one address is not locked out by
        # its users' typos once one of them gets in.
        for key in _keys(address, user):
            self._failures.pop(key, None)

    def _prune(self, now: float) -> None:
        if len(self._failures) + len(self._locked) + 2 <= _MAX_KEYS:
            return  # room for the two keys this failure counts
        prune(self._failures, self._locked, now, WINDOW, _KEPT)


class Noted:
    """Refusals audited, by address: NOTED a WINDOW from each, in bounded memory."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._times: dict[str, deque[float]] = {}

    def worth_noting(self, address: str) -> bool:
        """Whether a refusal from `address` is to be audited; counted when it is."""
        now = self._clock()
        if address not in self._times and len(self._times) >= _MAX_KEYS:
            self._times = {a: t for a, t in self._times.items() if t and t[-1] > now - WINDOW}
            if len(self._times) >= _MAX_KEYS:
                return False  # a flood of addresses: the log has it
        times = self._times.setdefault(address, deque())
        while times and times[0] <= now - WINDOW:
            times.popleft()
        if len(times) >= NOTED:
            return False
        times.append(now)
        return True


def _keys(address: str, user: str) -> tuple[str, str]:
    """What an attempt counts under: the address, and the name from it (an address holds
    no space, so no name makes one pair read as another)."""
    return f"address:{address}", f"login:{address} {user.casefold()}"


def _limit(key: str) -> int:
    return ADDRESS_FAILURES if key.startswith("address:") else FAILURES
