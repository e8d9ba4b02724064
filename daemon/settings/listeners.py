"""Listener addresses: `host:port` values of the config, parsed and checked.

Used by the model's validators, the cross checks and every channel that binds.
"""

from __future__ import annotations

import ipaddress
import os
import socket

from daemon.settings.problems import Invalid


def check_listen(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise Invalid("config.listen", value=repr(value))
    # Port 0 is any free port the system picks: a listener no partner could find, a
    # relay never reached.
    if not 1 <= int(port) <= 65535:
        raise Invalid("config.listen_port", value=repr(value), port=int(port))
    return value


def split_listen(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host.strip("[]"), int(port)


class ListenError(OSError):
    """A bind failure that names the config key, for a message without a traceback;
    its errno is the bind's, for the words the catalog has for it."""

    def __init__(self, key: str, listen: str, errno: int | None) -> None:
        super().__init__(errno, os.strerror(errno or 0))
        self.key = key
        self.listen = listen

    def __str__(self) -> str:
        return f"{self.key} {self.listen}: {self.strerror}"


class UnresolvedListen(ListenError, socket.gaierror):
    """A listen host whose name does not resolve: its errno is getaddrinfo's EAI code,
    which read as an errno was "Unknown error -2"; as a gaierror it is said as such
    (settings/problems.OsTrouble)."""

    def __str__(self) -> str:
        return f"{self.key} {self.listen}: the host name does not resolve"


def listen_error(key: str, listen: str, exc: OSError) -> ListenError:
    if isinstance(exc, socket.gaierror):
        return UnresolvedListen(key, listen, exc.errno)
    return ListenError(key, listen, exc.errno)


def is_loopback(listen: str) -> bool:
    host, _ = split_listen(listen)
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
