"""The pause before trying again: doubled after each failure, up to a cap.

One rule for every retry in the daemon — a crashed service or import loop started
again, a spool item whose import failed for a passing reason, report mail the relay
did not take, a request sent onward that failed — so a lasting fault is retried ever
more slowly and cannot flood the log, the relay or a partner's API.
"""

from __future__ import annotations

_MAX_DOUBLINGS = 60  # past this the cap has long been reached; 2.0**n stays a float


def backoff(first: float, failures: int, cap: float) -> float:
    """Seconds to wait after `failures` failures in a row (0: the first retry waits
    `first`), never more than `cap`."""
    return min(first * 2.0 ** min(max(failures, 0), _MAX_DOUBLINGS), cap)
