"""Whether an error is the disk (or the user's quota) full, as the OS or SQLite says it.

Trouble of the moment, not of the file: the pipeline puts such a run back without
counting an attempt, and a reader process (partreader.py) says so to its writer.
Imports only the standard library, as a reader process must.
"""

from __future__ import annotations

import errno
import sqlite3

_SQLITE_FULL = 13


def disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    code = getattr(exc, "sqlite_errorcode", None)
    return (
        isinstance(exc, sqlite3.OperationalError)
        and code is not None
        and code & 0xFF == _SQLITE_FULL
    )
