"""The database's own objects around a layout's table, on either store: whether its
name is taken by something that is no table, and the key indexes tables.py made on it.

A layout's key index is named `<layout>__key_<columns>`. A key changed in the config
leaves the old index behind: every import would keep it up to date for nothing, and a
layout later named like it could not have its table (SQLite and PostgreSQL share one
namespace between tables and indexes).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import aiosqlite

# PostgreSQL keeps at most 63 bytes of a name (NAMEDATALEN - 1) and cuts a longer one,
# at a character's edge, without an error.
_PG_NAME_BYTES = 63


def key_index_name(layout: str, key: Sequence[str]) -> str:
    """`<layout>__key_<columns>`; one longer than PostgreSQL keeps is cut and told
    apart by a hash of the whole (cut by the server, a 63-character layout's index was
    named like its own table and never made, and a layout named like a cut index
    passed check)."""
    name = f"{layout}__key_{'_'.join(key)}"
    if len(name.encode()) <= _PG_NAME_BYTES:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:12]
    return f"{layout.encode()[:40].decode(errors='ignore')}__key_{digest}"


async def other_object(db: aiosqlite.Connection, name: str) -> str:
    """The kind of object (`index`, `view`, …) that holds `name` and is no table, or
    "" when none does."""
    if isinstance(db, aiosqlite.Connection):
        rows = await db.execute_fetchall(
            # SQLite compares names without case.
            "SELECT type FROM sqlite_master WHERE name = ? COLLATE NOCASE AND type != 'table'",
            (name,),
        )
    else:  # PostgreSQL's (postgres/connection.py)
        rows = await db.execute_fetchall(
            "SELECT CASE relkind WHEN 'i' THEN 'index' WHEN 'I' THEN 'index'"
            " WHEN 'v' THEN 'view' WHEN 'm' THEN 'view' WHEN 'S' THEN 'sequence'"
            " ELSE 'object' END FROM pg_class"
            " WHERE relname = ? AND relnamespace = current_schema()::regnamespace"
            " AND relkind NOT IN ('r', 'p')",
            (stored_name(db, name),),
        )
    return str(rows[0][0]) if rows else ""


async def case_twin(db: aiosqlite.Connection, layout: str) -> str:
    """The table that differs from `layout` in case alone, or "". SQLite's names ignore
    case (one table); PostgreSQL's quoted ones do not, so a layout renamed from `Sales`
    to `sales` got a new empty table, its rows left in the old one."""
    if isinstance(db, aiosqlite.Connection):
        return ""
    rows = await db.execute_fetchall(
        "SELECT relname FROM pg_class WHERE lower(relname) = lower(?) AND relname != ?"
        " AND relkind IN ('r', 'p') AND relnamespace = current_schema()::regnamespace",
        (stored_name(db, layout), stored_name(db, layout)),
    )
    return str(rows[0][0]) if rows else ""


async def stale_key_indexes(db: aiosqlite.Connection, layout: str, key: Sequence[str]) -> list[str]:
    """The key indexes on `layout`'s table but the one of `key` (all of them when it
    has no key): left by a key the config had before."""
    if isinstance(db, aiosqlite.Connection):
        rows = await db.execute_fetchall(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?", (layout,)
        )
    else:
        rows = await db.execute_fetchall(
            "SELECT indexname FROM pg_indexes"
            " WHERE schemaname = current_schema() AND tablename = ?",
            (layout,),
        )
    current = stored_name(db, key_index_name(layout, key)) if key else None
    return [name for (name,) in rows if "__key_" in name and name != current]


def stored_name(db: aiosqlite.Connection, name: str) -> str:
    """`name` as the database keeps it."""
    if isinstance(db, aiosqlite.Connection):
        return name
    return name.encode()[:_PG_NAME_BYTES].decode(errors="ignore")
