"""Failed FTP logins per client address, and the bans they earn (ftp.max_login_failures
within 10 minutes bans the address for ftp.ban_minutes). Shared by every session of
the FTP door (handlers/ftp.py), each on its I/O thread or, over FTPS, its own."""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict, deque

from daemon.failtable import prune

log = logging.getLogger(__name__)

FAILURE_WINDOW = 600.0  # failed logins count for 10 minutes
MAX_ADDRESSES = 10_000  # bounded memory, however many addresses fail (IPv6 has plenty)


class LoginGuard:
    """Failed logins per address; after too many within 10 minutes, a ban."""

    def __init__(self, max_failures: int, ban_seconds: float) -> None:
        self.max_failures = max_failures
        self.ban_seconds = ban_seconds
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._banned: dict[str, float] = {}
        self._lock = threading.Lock()

    def banned(self, address: str) -> bool:
        with self._lock:
            until = self._banned.get(address, 0.0)
            return until > time.monotonic()

    def __len__(self) -> int:
        """The addresses it holds failures or a ban of."""
        return len(self._failures) + len(self._banned)

    def failed(self, address: str) -> bool:
        """Count a failed login; True when it bans the address."""
        now = time.monotonic()
        with self._lock:
            if len(self._failures) + len(self._banned) >= MAX_ADDRESSES:
                room = MAX_ADDRESSES * 9 // 10
                prune(self._failures, self._banned, now, FAILURE_WINDOW, room)
            recent = self._failures[address]
            recent.append(now)
            while recent and recent[0] < now - FAILURE_WINDOW:
                recent.popleft()
            if len(recent) >= self.max_failures:
                self._banned[address] = now + self.ban_seconds
                del self._failures[address]
                log.warning(
                    "ftp: %s banned for %.0fs after failed logins", address, self.ban_seconds
                )
                return True
        return False
