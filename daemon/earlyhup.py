"""A SIGHUP that comes while `renkei serve` starts: held, not the end of the process.

SIGHUP's default action ends a process, and `renkei serve` takes a while to import its
modules and read its settings. It holds the signal from its first line (daemon/entry.py,
and cmd_serve for `python -m daemon.cli`); the master takes what was held once its loop
handles SIGHUP itself, and reloads for it once ready. Imports only the standard
library, so that holding costs the start nothing.
"""

from __future__ import annotations

import signal

_held = False


def hold() -> None:
    """From now on a SIGHUP is remembered instead of ending the process."""
    signal.signal(signal.SIGHUP, _remember)


def _remember(signum: int, frame: object) -> None:
    global _held
    _held = True


def take() -> bool:
    """Whether a SIGHUP was held since hold(); it is forgotten once told."""
    global _held
    held, _held = _held, False
    return held
