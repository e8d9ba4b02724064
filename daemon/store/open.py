"""Which store a config asks for: PostgreSQL at `store.url`, else SQLite under data_dir."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit, urlunsplit

from daemon.settings import Settings, resolve_secret
from daemon.store.base import Store
from daemon.store.errors import StoreUnavailable
from importers.messages import message


def shown_url(url: str) -> str:
    """The URL without its password, fit for a message or a log line."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


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
        text = message("store.unreachable", language, url=shown_url(resolved), error=error)
        raise StoreUnavailable(text) from exc
