"""The bound on a table of failed logins: shared by the console's login throttle
(daemon/console/throttle.py) and the FTP door's guard (handlers/ftpguard.py), which
each count failures by key (an address, a user name) and lock a key that fails too
often.

A table must hold at most so many keys, whatever a client sends as names or from how
many addresses. Once what is past is forgotten, a table still full drops the locks
soonest to end (only if they alone overflow it), then the keys with the fewest recent
failures, the oldest first. Clearing it, or dropping the oldest, would hand a guesser
who fills it with made-up keys fresh tries at the key it is after: its failures are
more and older than the filler's.
"""

from __future__ import annotations

from collections import deque
from collections.abc import MutableMapping


def prune(
    failures: MutableMapping[str, deque[float]],
    locks: MutableMapping[str, float],
    now: float,
    window: float,
    room: int,
) -> None:
    """Forget the locks (key: when it ends) ended by `now` and the failures (key: the
    times of its failures, oldest first) older than `window`, then drop what must go
    until the two hold at most `room` keys together."""
    for key in [k for k, until in locks.items() if until <= now]:
        del locks[key]
    for key, times in list(failures.items()):
        while times and times[0] <= now - window:
            times.popleft()
        if not times:
            del failures[key]
    if len(locks) > room:
        for key in sorted(locks, key=locks.__getitem__)[: len(locks) - room]:
            del locks[key]
    room -= len(locks)
    if len(failures) > room:
        fewest = sorted(failures, key=lambda k: (len(failures[k]), failures[k][-1]))
        for key in fewest[: len(failures) - room]:
            del failures[key]
