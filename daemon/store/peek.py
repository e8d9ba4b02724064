"""A read-only look at the configured store for `renkei check`: the layout columns whose
type its tables would refuse at start and reload. Reads the schema version and each
layout table's columns; never creates, migrates or locks the store. Called by daemon.cli.check.

Only `renkei serve` changes the store (store/open.py): a command beside a running
daemon must not migrate it, and `renkei check` is often run before the daemon's first
start, where a store or data_dir made by the check would belong to whoever ran it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import aiosqlite

from daemon.settings import Column, ConfigError, Layout, Problem, Settings
from daemon.store.errors import StoreUnavailable
from daemon.store.images import table_types
from daemon.store.objects import stale_key_indexes
from daemon.store.open import (
    resolved_url,
    schema_refused,
    shown_url,
    sqlite_refused,
    unreachable,
)
from daemon.store.schema import check_version, opened
from daemon.store.tables import (
    LayoutTables,
    index_problems,
    layout_problems,
    name_problems,
    same_types,
)
from importers.messages import message

# How long a look waits for PostgreSQL (to connect, or for a lock): a check tells of a
# server it cannot reach, it does not hang on it.
_PG_SECONDS = 5
Types = dict[str, dict[str, str]]  # layout → its table's column → declared type
Named = list[Problem]  # layouts whose names the database holds otherwise


async def store_findings(settings: Settings) -> tuple[list[Problem], list[Problem]]:
    """What start and reload would refuse about the store (each layout column whose type
    its table does not store, a layout named like an index or view or renamed in case
    alone, a name or key index the layouts would take from each other or from renkei),
    and the warning that the store could not be looked at (unreachable, unreadable, or
    written by a newer renkei). A store that does not exist yet has nothing to compare,
    but the layouts' names are told alone."""
    where = "daemon.data_dir" if settings.store.url is None else "store.url"
    named = layout_problems(settings.layouts, folds=settings.store.url is None)
    try:
        types, looked, sql_type = await _table_types(settings)
    except StoreUnavailable as exc:
        return named, [Problem(where, "config.store_not_compared", {"reason": str(exc)})]
    # The database often says the same again (the index the names would share is made).
    named += [problem for problem in looked if problem not in named]
    return named + _changed_types(settings.layouts, types, sql_type), []


def _changed_types(
    layouts: Mapping[str, Layout], types: Types, sql_type: Callable[[Column], str]
) -> list[Problem]:
    # The store's own comparison (tables.same_types), one layout at a time, so that
    # every layout's problems are said at once.
    problems: list[Problem] = []
    for name, layout in layouts.items():
        try:
            same_types(name, layout.columns, types.get(name, {}), sql_type)
        except ConfigError as exc:
            problems += exc.problems
    return problems


async def _table_types(settings: Settings) -> tuple[Types, Named, Callable[[Column], str]]:
    language = settings.report.language
    url = settings.store.url
    if url is None:
        path = settings.data_dir / "renkei.db"
        with schema_refused(language, path):
            types, named = await _sqlite_types(path, settings.layouts, language)
        return types, named, LayoutTables().column_type
    # Imported here: psycopg loads only where PostgreSQL is used.
    from daemon.store.postgres.tables import PgLayoutTables

    resolved = resolved_url(url, language)
    with schema_refused(language, shown_url(resolved)):
        types, named = await _postgres_types(resolved, settings.layouts, language)
    return types, named, PgLayoutTables().column_type


async def _sqlite_types(
    path: Path, layouts: Mapping[str, Layout], language: str
) -> tuple[Types, Named]:
    try:
        if not path.exists():
            return {}, []
        with sqlite_refused(language, path):
            db = await opened(_read_only_uri(path), uri=True)
    except OSError as exc:
        raise StoreUnavailable(message("store.unreadable", language, path=path, error=exc)) from exc
    try:
        with sqlite_refused(language, path):
            await db.execute("PRAGMA query_only = 1")
            [[version]] = await db.execute_fetchall("PRAGMA user_version")
            check_version(version, lambda: True)  # only a newer schema is refused
            return await _looked_at(db, layouts)
    finally:
        await db.close()


def _read_only_uri(path: Path) -> str:
    """The store opened read-only. With no WAL file beside it (no daemon has it open) it
    is also opened immutable: a read-only WAL reader would otherwise create the -wal
    and -shm files, owned by whoever runs the check, which a daemon running as another
    user could then not open. A daemon that starts during the look may be read
    half-written: the worst is a wrong word from the check, never harm to the store."""
    immutable = "" if path.with_name(path.name + "-wal").exists() else "&immutable=1"
    return f"{path.resolve().as_uri()}?mode=ro{immutable}"


async def _looked_at(
    db: aiosqlite.Connection, layouts: Mapping[str, Layout]
) -> tuple[Types, Named]:
    """Each layout's table's types, and the layouts whose names (or whose key index's)
    the database holds otherwise (as tables.name_problems and index_problems refuse
    them)."""
    types: Types = {}
    named: Named = []
    # The old key indexes start drops before it makes any table (tables.ensure_layouts):
    # a layout may take such a name in the same edit.
    dropped = set()
    for name, layout in layouts.items():
        dropped.update(i.casefold() for i in await stale_key_indexes(db, name, layout.key))
    for name, layout in layouts.items():
        types[name] = await table_types(db, name)
        named += await name_problems(db, name, dropped)
        named += await index_problems(db, name, layout.key, dropped)
    return types, named


async def _postgres_types(
    url: str, layouts: Mapping[str, Layout], language: str
) -> tuple[Types, Named]:
    import psycopg

    from daemon.store.postgres.connection import Connection

    db = Connection(url, connect_timeout=_PG_SECONDS, lock_timeout_ms=_PG_SECONDS * 1000)
    try:
        if not await db.column_types("renkei_schema"):
            return {}, []  # no renkei has opened this database yet
        rows = await db.execute_fetchall("SELECT version FROM renkei_schema")
        check_version(rows[0][0] if rows else 0, lambda: True)
        return await _looked_at(db, layouts)
    except psycopg.Error as exc:
        raise unreachable(url, exc, language) from exc
    finally:
        await db.close()
