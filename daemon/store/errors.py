"""What a store says to the user when it cannot be opened: one line, no traceback; and
which PostgreSQL errors are the server's trouble rather than the file's.

Apart from open.py so that the CLI and the worker can use it without loading a store."""

from __future__ import annotations

import logging
import sqlite3
import sys


class StoreUnavailable(Exception):
    """The store cannot be opened (its URL's variable unset, the server unreachable)."""


# SQLSTATE (or its class) -> the catalog key naming the cause. The server, or its
# admin, is in trouble: a failover left it read-only, it restarts, a lock is held too
# long, a privilege was taken away. Trying the same file later can succeed.
_CAUSES = {
    "08": "store.trouble.connection",
    "57P01": "store.trouble.connection",
    "57P02": "store.trouble.connection",
    "57P03": "store.trouble.connection",
    "25006": "store.trouble.read_only",
    "25P03": "store.trouble.idle_timeout",
    "53": "store.trouble.resources",
    "55P03": "store.trouble.lock_timeout",
    "42501": "store.trouble.privilege",
}
_OTHER = "store.trouble.other"
# Classes psycopg raises as OperationalError that the rows themselves cause, at every
# try alike: 54, a limit of the program (a key or choice value past the 2,704 bytes a
# btree index row holds). Taken for the server's trouble, the file was tried again for
# ever and every later file of its account waited behind it.
_THE_DATAS = ("54",)


def sqlite_busy(exc: BaseException) -> bool:
    """SQLITE_BUSY / SQLITE_LOCKED: another connection held the lock waited for past
    the busy timeout (a `renkei import`, `renkei undo`, an admin's own session)."""
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return "locked" in str(exc) or "busy" in str(exc)


def server_trouble(exc: BaseException) -> str | None:
    """The catalog key of the cause when `exc` is PostgreSQL's trouble of the moment
    (psycopg's OperationalError, or one of the SQLSTATEs above); None otherwise.
    psycopg is looked at only where it is loaded (the store is PostgreSQL)."""
    psycopg = sys.modules.get("psycopg")
    if psycopg is None or not isinstance(exc, psycopg.Error):
        return None
    state = exc.sqlstate or ""
    for code in (state, state[:2]):
        if code in _CAUSES:
            return _CAUSES[code]
    if state.startswith(_THE_DATAS):
        return None
    if isinstance(exc, psycopg.OperationalError):
        # No SQLSTATE: the client lost the server (closed connection, refused connect).
        return "store.trouble.connection" if not state else _OTHER
    return None


class StoreTooNew(StoreUnavailable):
    """The store's schema is newer than this renkei's: no restart of this renkei can
    mend it (renkei exits EXIT_STORE_TOO_NEW, which systemd does not restart)."""


class SchemaNewer(Exception):
    """The store's schema is at `version`, past the `known` migrations of this renkei:
    a newer renkei wrote it, and this one would write into tables it does not know."""

    def __init__(self, version: int, known: int) -> None:
        super().__init__(f"schema version {version}, known up to {known}")
        self.version = version
        self.known = known


class SchemaBehind(Exception):
    """The store's schema is at `version`, behind this renkei's `known`, and this opener
    may not migrate it: a one-shot command beside a daemon that still uses the older
    tables (the daemon upgrades the store at its restart)."""

    def __init__(self, version: int, known: int) -> None:
        super().__init__(f"schema version {version}, this renkei at {known}")
        self.version = version
        self.known = known


def log_failure(log: logging.Logger, exc: BaseException, what: str, *args: object) -> None:
    """A scheduled pass or a background round that failed: PostgreSQL's trouble of the
    moment said in a line (the next pass tries again, and a store down for an hour
    would fill the log with tracebacks), and so SQLite held by another writer past its
    busy timeout; anything else with its traceback."""
    if sqlite_busy(exc):
        log.warning(what + ", the store is held by another writer: %s", *args, exc)
    elif server_trouble(exc) is None:
        log.error(what, *args, exc_info=exc)
    else:
        log.warning(what + ", the store is away: %s", *args, exc)


def refused_by_store(exc: BaseException) -> bool:
    """The database refused the rows themselves: a constraint of the table (a UNIQUE
    index, a CHECK, NOT NULL an admin added) or a value its column cannot hold."""
    if isinstance(exc, sqlite3.IntegrityError | sqlite3.DataError):
        return True
    psycopg = sys.modules.get("psycopg")
    if psycopg is None:
        return False
    # 54: a limit of the server the rows pass (a key past what a btree index row holds),
    # which psycopg raises as an OperationalError.
    limit = isinstance(exc, psycopg.Error) and (exc.sqlstate or "").startswith("54")
    return limit or isinstance(exc, psycopg.IntegrityError | psycopg.DataError)


def table_gone(exc: BaseException) -> bool:
    """A layout's table, or a column of it, is not in the database: dropped or altered
    by hand under the running daemon (a reload makes them again). Every try fails
    alike: said so at once, not quarantined after three tracebacks."""
    if isinstance(exc, sqlite3.OperationalError):
        text = str(exc)
        return (
            text.startswith(("no such table", "no such column")) or " has no column named " in text
        )
    psycopg = sys.modules.get("psycopg")
    if psycopg is None or not isinstance(exc, psycopg.Error):
        return False
    return (exc.sqlstate or "") in ("42P01", "42703")
