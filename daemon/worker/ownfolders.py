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

# SQLite's primary result codes of the same troubles: the disk full; a database, its
# log or a scratch database it may not write or create (a chmod, a read-only remount,
# the disk failing under it). None of them a file's rows can cause: a partner's file
# was quarantined after three tries in six seconds of a folder made read-only.
_SQLITE_PERM, _SQLITE_READONLY, _SQLITE_IOERR, _SQLITE_FULL, _SQLITE_CANTOPEN = 3, 8, 10, 13, 14
_SQLITE_CODES = frozenset(
    {_SQLITE_PERM, _SQLITE_READONLY, _SQLITE_IOERR, _SQLITE_FULL, _SQLITE_CANTOPEN}
)
# The disk or the quota full; the folder's permissions or ownership (an admin's chmod,
# a restore as another user); the file system remounted read-only after an error.
_SERVER_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS})


# How each is said (the catalog's os.* words): SQLite's own English said "disk I/O
# error" of a folder made read-only.
SQLITE_WORDS = {
    _SQLITE_PERM: "os.denied",
    _SQLITE_READONLY: "os.denied",
    _SQLITE_CANTOPEN: "os.denied",
    _SQLITE_IOERR: "os.io",
    _SQLITE_FULL: "os.no_space",
}


def sqlite_words(exc: BaseException) -> str:
    """The os.* catalog key that says SQLite's trouble `exc` (own_folder_trouble)."""
    code = getattr(exc, "sqlite_errorcode", None) or 0
    return SQLITE_WORDS.get(code & 0xFF, "os.io")


def own_folder_trouble(exc: BaseException) -> bool:
    if isinstance(exc, OSError):
        return exc.errno in _SERVER_ERRNOS
    code = getattr(exc, "sqlite_errorcode", None)
    return (
        isinstance(exc, sqlite3.OperationalError)
        and code is not None
        and code & 0xFF in _SQLITE_CODES
    )
