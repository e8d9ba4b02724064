"""Which store a config asks for: PostgreSQL at `store.url`, else SQLite under data_dir."""

from __future__ import annotations

import socket

from daemon.settings import Settings, resolve_secret
from daemon.store.base import Store


class StoreUrlMissing(Exception):
    """`store.url = "env:NAME"` names a variable that is not set."""


async def open_store(settings: Settings) -> Store:
    url = settings.store.url
    instance = settings.store.instance or socket.gethostname()
    if url is None:
        from daemon.store.sqlite import SqliteStore

        store: Store = await SqliteStore.open(settings.data_dir / "renkei.db")
        store.instance = instance
        return store
    resolved = resolve_secret(url)
    if not resolved:
        raise StoreUrlMissing(url)
    # Imported here: psycopg loads only where PostgreSQL is used.
    from daemon.store.postgres.store import PostgresStore

    return await PostgresStore.open(resolved, instance)
