"""Which store a config asks for: PostgreSQL at `store.url`, else SQLite under data_dir."""

from __future__ import annotations

import errno
import logging
import os
import re
import shutil
import socket
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from daemon import serving
from daemon.settings import Settings, resolve_secret
from daemon.settings.problems import OsTrouble
from daemon.settings.values import read_ports
from daemon.store.base import Store
from daemon.store.errors import SchemaBehind, SchemaNewer, StoreTooNew, StoreUnavailable
from importers.messages import message

log = logging.getLogger("renkei.store")

HIDDEN = "***"
# libpq's key=value form: a value is quoted ('a b\' c', backslash escapes) or runs to
# the next space. Only `password` is hidden: `passfile` names a file, which helps.
_KEY_VALUE_PASSWORD = re.compile(r"(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'?|\S*)")


def shown_url(url: str) -> str:
    """The connection string without its password, however it is given (a URL's
    userinfo or `password=` parameter, or libpq's key=value form), fit for a message
    or a log line: the rest reads as given, the password as ***."""
    if not _is_url(url):
        return _KEY_VALUE_PASSWORD.sub(rf"\g<1>{HIDDEN}", url)
    try:
        read_ports(url)
        parts = urlsplit(url)
    except ValueError:  # unreadable (a `[` in the password): nothing of it is shown
        return f"{url.split(':', 1)[0]}://{HIDDEN}"
    if parts.password is not None:
        host = parts.netloc.rsplit("@", 1)[1]
        parts = parts._replace(netloc=f"{parts.username}:{HIDDEN}@{host}")
    query = "&".join(_shown_parameter(p) for p in parts.query.split("&"))
    return urlunsplit(parts._replace(query=query))


def _is_url(url: str) -> bool:
    """libpq's test: a URL by its scheme, anything else key=value pairs."""
    return url.lstrip().lower().startswith(("postgresql://", "postgres://"))


def _shown_parameter(parameter: str) -> str:
    key, equals, _ = parameter.partition("=")
    if equals and unquote(key).strip().lower() == "password":
        return f"{key}={HIDDEN}"
    return parameter


def shown_error(error: str, url: str) -> str:
    """The driver's words without the password: libpq may quote a part of the string
    it could not read."""
    for secret in sorted(set(_passwords(url)), key=len, reverse=True):
        if len(secret) >= 3:  # shorter would hide letters of other words, and tells little
            error = error.replace(secret, HIDDEN)
    return error


def _passwords(url: str) -> list[str]:
    """The password as the string gives it, in each spelling it may take there."""
    if not _is_url(url):
        given = [m.group(2) for m in _KEY_VALUE_PASSWORD.finditer(url) if m.group(2)]
        return given + [re.sub(r"\\(.)", r"\1", g.strip("'")) for g in given]
    parts = urlsplit(url)
    found = [parts.password, unquote(parts.password)] if parts.password else []
    for parameter in parts.query.split("&"):
        key, equals, value = parameter.partition("=")
        if equals and unquote(key).strip().lower() == "password" and value:
            found += [value, unquote(value)]
    return found


async def open_store(settings: Settings) -> Store:
    """The config's store, migrated. A schema this renkei must not touch raises
    StoreUnavailable naming both versions: one newer than this renkei's, or one behind
    it that this opener may not upgrade (each store's may_upgrade below)."""
    url = settings.store.url
    language = settings.report.language
    if url is None:
        path = settings.data_dir / "renkei.db"
        with schema_refused(language, path), sqlite_refused(language, path):
            return await _open_sqlite(settings, path)
    resolved = resolved_url(url, language)
    with schema_refused(language, shown_url(resolved)):
        return await _open_postgres(settings, resolved)


def resolved_url(url: str, language: str) -> str:
    """`store.url` with its secret resolved (`env:NAME`); StoreUnavailable when unset."""
    resolved = resolve_secret(url)
    if not resolved:
        raise StoreUnavailable(message("store.env_unset", language, name=url[4:]))
    return resolved


# What libpq and psycopg say of the usual causes (lowercased), by the catalog's words.
_PG_CAUSES = (
    ("authentication failed", "store.pg.login"),  # password or peer
    ("no password supplied", "store.pg.login"),
    ("connection refused", "os.refused"),
    ("failed to resolve host", "os.no_such_host"),
    ("could not translate host name", "os.no_such_host"),
    ("timeout expired", "os.timed_out"),
)
_PG_STATES = {"28P01": "store.pg.login", "28000": "store.pg.login", "3D000": "store.pg.no_db"}


def unreachable(url: str, exc: Exception, language: str) -> StoreUnavailable:
    """The driver's error reaching `url`, said without its password: a usual cause in
    the catalog's words (the driver's English kept for the log), another as it says it."""
    error = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    error = shown_error(error, url)
    said = str(exc).lower()
    key = _PG_STATES.get(getattr(exc, "sqlstate", None) or "") or next(
        (key for words, key in _PG_CAUSES if words in said), None
    )
    if key is not None:
        log.warning("cannot reach the database %s: %s", shown_url(url), error)
        error = message(key, language)
    text = message("store.unreachable", language, url=shown_url(url), error=error)
    return StoreUnavailable(text)


async def _open_sqlite(settings: Settings, path: Path) -> Store:
    from daemon.store.sqlite import SqliteStore

    def may_upgrade() -> bool:
        # The daemon, or a command with no daemon beside it (a fresh install, an
        # admin's first command after an upgrade with the service stopped).
        return not serving.held_elsewhere(settings.data_dir)

    store: Store = await SqliteStore.open(path, settings.report.language, may_upgrade)
    store.instance = settings.store.instance or socket.gethostname()
    return store


async def _open_postgres(settings: Settings, url: str) -> Store:
    # Imported here: psycopg loads only where PostgreSQL is used.
    import psycopg

    from daemon.store.postgres.store import PostgresStore

    def may_upgrade() -> bool:
        # Instances on other hosts may still run the older renkei on the tables, and no
        # lock of theirs is seen from here: only a starting daemon upgrades them.
        return serving.held_here(settings.data_dir)

    instance = settings.store.instance or socket.gethostname()
    try:
        return await PostgresStore.open(url, instance, may_upgrade)
    except psycopg.Error as exc:
        raise unreachable(url, exc, settings.report.language) from exc


@contextmanager
def schema_refused(language: str, where: object) -> Iterator[None]:
    """A schema refused by the migrations, said as a store that cannot be opened."""
    try:
        yield
    except SchemaNewer as exc:
        text = message(
            "store.schema_newer", language, where=where, version=exc.version, known=exc.known
        )
        raise StoreTooNew(text) from exc
    except SchemaBehind as exc:
        text = message(
            "store.schema_behind", language, where=where, version=exc.version, known=exc.known
        )
        raise StoreUnavailable(text) from exc


def _disk_full(folder: Path) -> bool:
    """Whether the file system under `folder` has no room left for a SQLite page."""
    try:
        return shutil.disk_usage(folder).free < 64 * 1024
    except OSError:
        return False


# SQLite's primary result codes (sqlite3.Error.sqlite_errorcode & 0xFF) met opening
# the store, by the catalog's words; CANTOPEN and READONLY are told by _cannot_open.
_SQLITE_WORDS = {
    3: "os.denied",  # SQLITE_PERM
    10: "os.io",  # SQLITE_IOERR
    11: "store.sqlite.damaged",  # SQLITE_CORRUPT
    13: "os.no_space",  # SQLITE_FULL
    26: "store.sqlite.damaged",  # SQLITE_NOTADB: "file is not a database"
}
_SQLITE_CANTOPEN, _SQLITE_READONLY = 14, 8


def _sqlite_words(exc: sqlite3.Error, path: Path, language: str) -> str:
    """Why SQLite could not open `path`, in the catalog's words where it is a usual
    cause; SQLite's own English otherwise."""
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    if code in (_SQLITE_CANTOPEN, _SQLITE_READONLY):
        return _cannot_open(path, language)
    key = _SQLITE_WORDS.get(code)
    return str(exc) if key is None else message(key, language)


def _cannot_open(path: Path, language: str) -> str:
    """SQLite's "unable to open database file" told apart: the folder missing or not
    ours to write (the -wal and -shm files are made beside the file), or the file not
    ours to read and write."""
    folder = path.parent
    if not folder.is_dir():
        return message("store.sqlite.no_folder", language, folder=folder)
    if not os.access(folder, os.W_OK | os.X_OK):
        return message(
            "store.sqlite.folder", language, folder=folder, detail=_why(folder, language)
        )
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        return message("store.sqlite.file", language, detail=_why(path, language))
    return message("store.sqlite.cannot_open", language)


def _why(path: Path, language: str) -> str:
    code = errno.EROFS if os.statvfs(path).f_flag & os.ST_RDONLY else errno.EACCES
    return OsTrouble(OSError(code, "")).render(language)


@contextmanager
def sqlite_refused(language: str, path: Path) -> Iterator[None]:
    """A file SQLite cannot open as the store (damaged, not a database, a folder),
    said as `renkei check` says it, naming the file and why in the catalog's words
    (SQLite's English kept for the log): a traceback would say neither."""
    try:
        yield
    except sqlite3.Error as exc:
        log.warning("cannot read the database %s: %s", path, exc)
        is_dir = path.is_dir()
        error = message("os.is_folder", language) if is_dir else _sqlite_words(exc, path, language)
        if not is_dir and _disk_full(path.parent):
            # SQLite says "disk I/O error" when it has no room for its -wal and -shm:
            # read as a damaged disk, where the disk is full.
            error = message("os.no_space", language)
        raise StoreUnavailable(
            message("store.unreadable", language, path=path, error=error)
        ) from exc
