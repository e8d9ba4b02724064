"""sd_notify, written directly: READY, STOPPING, RELOADING and watchdog pings.

A no-op when the daemon was not started by systemd (no NOTIFY_SOCKET). Called by the
master.
"""

from __future__ import annotations

import os
import socket


def notify(state: str) -> bool:
    """Send `state` (e.g. "READY=1") to the service manager; False when there is none."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # abstract namespace
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            # Never waits: sent from the event loop, a send to a manager that has
            # stopped reading (its queue of datagrams full) blocked the whole daemon,
            # its stop included. The message is dropped instead, as a ping is anyway
            # when the loop is busy.
            sock.send(state.encode(), socket.MSG_DONTWAIT)
    except OSError:
        # The manager went away, or reads no more: the daemon's work does not
        # depend on telling it.
        return False
    return True


def watchdog_seconds() -> float | None:
    """Half the watchdog timeout systemd set for this process, or None."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 1_000_000 / 2
