"""Which store a config asks for: PostgreSQL at `store.url`, else SQLite under data_dir."""

from __future__ import annotations

import re
import socket
from urllib.parse import unquote, urlsplit, urlunsplit

from daemon.settings import Settings, resolve_secret
from daemon.store.base import Store
from daemon.store.errors import StoreUnavailable
from importers.messages import message

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
    parts = urlsplit(url)
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


def _shown_error(error: str, url: str) -> str:
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
    url = settings.store.url
    instance = settings.store.instance or socket.gethostname()
    if url is None:
        from daemon.store.sqlite import SqliteStore

        path = settings.data_dir / "renkei.db"
        store: Store = await SqliteStore.open(path, settings.report.language)
        store.instance = instance
        return store
    language = settings.report.language
    resolved = resolve_secret(url)
    if not resolved:
        raise StoreUnavailable(message("store.env_unset", language, name=url[4:]))
    # Imported here: psycopg loads only where PostgreSQL is used.
    import psycopg

    from daemon.store.postgres.store import PostgresStore

    try:
        return await PostgresStore.open(resolved, instance)
    except psycopg.Error as exc:
        error = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        error = _shown_error(error, resolved)
        text = message("store.unreachable", language, url=shown_url(resolved), error=error)
        raise StoreUnavailable(text) from exc
