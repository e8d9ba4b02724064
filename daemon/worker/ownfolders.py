"""Whether an error is trouble of the server's own folders — the disk (or the user's
quota) full, a folder renkei may not write (its permissions, a file system mounted
read-only) — as the OS or SQLite says it.

Trouble of the moment, not of the file: every folder the importer writes (spool,
staging, reports, files) is renkei's own, so a file is never the cause. The pipeline
puts such a run back without counting an attempt (a partner's file is never
quarantined for the server's trouble, and the log says the cause), and a reader
process (partreader.py) says so to its writer. Imports only the standard library, as a
reader process must.
"""

from __future__ import annotations

import errno
import sqlite3

_SQLITE_FULL = 13
# The disk or the quota full; the folder's permissions or ownership (an admin's chmod,
# a restore as another user); the file system remounted read-only after an error.
_SERVER_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS})


def own_folder_trouble(exc: BaseException) -> bool:
    if isinstance(exc, OSError):
        return exc.errno in _SERVER_ERRNOS
    code = getattr(exc, "sqlite_errorcode", None)
    return (
        isinstance(exc, sqlite3.OperationalError)
        and code is not None
        and code & 0xFF == _SQLITE_FULL
    )
