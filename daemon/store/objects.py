"""The database's own objects around a layout's table, on either store: whether its
name is taken by something that is no table or by a key PostgreSQL named, and the key
indexes tables.py made on it.

A layout's key index is named `<layout>__key_<columns>`. A key changed in the config
leaves the old index behind: every import would keep it up to date for nothing, and a
layout later named like it could not have its table (SQLite and PostgreSQL share one
namespace between tables and indexes).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Sequence

import aiosqlite

# PostgreSQL keeps at most 63 bytes of a name (NAMEDATALEN - 1) and cuts a longer one,
# at a character's edge, without an error.
_PG_NAME_BYTES = 63
# A key index name past it: the layout's first 40 bytes, `__key_` and 12 hex digits.
_CUT, _HASH = 40, 12
_PG_KIND = (
    "CASE relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'i' THEN 'index'"
    " WHEN 'I' THEN 'index' WHEN 'v' THEN 'view' WHEN 'm' THEN 'view'"
    " WHEN 'S' THEN 'sequence' ELSE 'object' END"
)
# PostgreSQL's names for the keys and row-id sequences of renkei's own tables
# (tests/test_store_names_more.py checks them against a fresh store's). No layout may
# take one, on either store: a config moves from SQLite to PostgreSQL, and a table of
# the name would be refused there, or its refusal read as "drop the index".
_OWN_KEYS = {
    **{
        f"{table}_pkey": table
        for table in (
            *("runs", "sources", "sources_by_run", "choice_values", "expected_misses"),
            *("digests", "run_undo", "run_reports", "console_sessions", "audit_log"),
            *("outward_requests", "outward_jobs", "outward_bodies", "record_log"),
            *("schedule_slots", "account_switches", "console_secret", "expect_checks"),
            *("mail_outbox", "mail_sent", "delivery_keys"),
        )
    },
    "run_undo_run_id_key": "run_undo",
    **{f"{table}_seq_seq": table for table in ("audit_log", "record_log", "run_undo")},
    **{f"{table}_rowid_seq": table for table in ("run_errors", "choice_values", "undo_images")},
}
# Those PostgreSQL gives a layout's own table (its `rowid`, tables.py extra_columns).
_LAYOUT_KEYS = ("_pkey", "_rowid_seq")


def key_index_name(layout: str, key: Sequence[str]) -> str:
    """`<layout>__key_<columns>`; one longer than PostgreSQL keeps is cut and told
    apart by a hash of the whole (cut by the server, a 63-character layout's index was
    named like its own table and never made, and a layout named like a cut index
    passed check)."""
    name = f"{layout}__key_{'_'.join(key)}"
    if len(name.encode()) <= _PG_NAME_BYTES:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:_HASH]
    return f"{layout.encode()[:_CUT].decode(errors='ignore')}__key_{digest}"


async def other_object(db: aiosqlite.Connection, name: str, but: str = "table") -> str:
    """The kind of object (`table`, `index`, `view`, …) that holds `name` and is no
    `but`, or "" when none does."""
    if isinstance(db, aiosqlite.Connection):
        rows = await db.execute_fetchall(
            # SQLite compares names without case.
            "SELECT type FROM sqlite_master WHERE name = ? COLLATE NOCASE AND type != ?",
            (name, but),
        )
    else:  # PostgreSQL's (postgres/connection.py)
        rows = await db.execute_fetchall(
            f"SELECT kind FROM (SELECT {_PG_KIND} AS kind FROM pg_class"
            " WHERE relname = ? AND relnamespace = current_schema()::regnamespace) AS o"
            " WHERE kind != ?",
            (stored_name(db, name), but),
        )
    return str(rows[0][0]) if rows else ""


def kept_for(name: str) -> str:
    """The renkei table whose key or row id PostgreSQL names `name`, or ""."""
    return _OWN_KEYS.get(name.lower(), "")


def layout_key_of(name: str, layouts: Collection[str]) -> str:
    """The other layout whose table's key or row id PostgreSQL names `name`, or ""."""
    for suffix in _LAYOUT_KEYS:
        table = name.removesuffix(suffix)
        if table != name and table in layouts:
            return table
    return ""


async def key_owner(db: aiosqlite.Connection, name: str) -> str:
    """The table whose key (primary or unique) or row-id sequence holds `name`, or "":
    such an object is no leftover to drop, the table needs it. SQLite names neither."""
    if isinstance(db, aiosqlite.Connection):
        return ""
    here = "o.relname = ? AND o.relnamespace = current_schema()::regnamespace"
    rows = await db.execute_fetchall(
        "SELECT t.relname FROM pg_class o JOIN pg_constraint k ON k.conindid = o.oid"
        f" AND k.contype IN ('p', 'u') JOIN pg_class t ON t.oid = k.conrelid WHERE {here}"
        " UNION ALL SELECT t.relname FROM pg_class o JOIN pg_depend d"
        " ON d.classid = 'pg_class'::regclass AND d.objid = o.oid"
        " AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')"
        f" JOIN pg_class t ON t.oid = d.refobjid WHERE o.relkind = 'S' AND {here}",
        (stored_name(db, name), stored_name(db, name)),
    )
    return str(rows[0][0]) if rows else ""


async def index_elsewhere(db: aiosqlite.Connection, name: str, table: str) -> str:
    """The table, other than `table`, that an index named `name` is on, or ""."""
    if isinstance(db, aiosqlite.Connection):
        rows = await db.execute_fetchall(
            "SELECT tbl_name FROM sqlite_master WHERE type = 'index'"
            " AND name = ? COLLATE NOCASE AND tbl_name != ? COLLATE NOCASE",
            (name, table),
        )
    else:
        rows = await db.execute_fetchall(
            "SELECT tablename FROM pg_indexes WHERE schemaname = current_schema()"
            " AND indexname = ? AND tablename != ?",
            (stored_name(db, name), stored_name(db, table)),
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


async def table_indexes(db: aiosqlite.Connection, layout: str) -> list[str]:
    """The names of the indexes on `layout`'s table, as the database keeps them."""
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
    return [str(name) for (name,) in rows]


async def stale_key_indexes(db: aiosqlite.Connection, layout: str, key: Sequence[str]) -> list[str]:
    """The key indexes on `layout`'s table but the one of `key` (all of them when it
    has no key): left by a key the config had before."""
    return stale_among(db, await table_indexes(db, layout), layout, key)


def stale_among(
    db: aiosqlite.Connection, indexes: Sequence[str], layout: str, key: Sequence[str]
) -> list[str]:
    """stale_key_indexes() of the table's `indexes`, listed already."""
    current = stored_name(db, key_index_name(layout, key)) if key else None
    return [name for name in indexes if _is_key_index(name, layout) and name != current]


def _is_key_index(name: str, layout: str) -> bool:
    """Whether `name` is one key_index_name() gives `layout`, for some key: its whole
    form, or its cut one. Not any name holding `__key_`: a layout named `x__key_code`
    has a primary key index `x__key_code_pkey` on PostgreSQL, and an admin's own
    index may hold it too."""
    if name.startswith(f"{layout}__key_"):
        return True
    cut = layout.encode()[:_CUT].decode(errors="ignore")
    return re.fullmatch(rf"{re.escape(cut)}__key_[0-9a-f]{{{_HASH}}}", name) is not None


def stored_name(db: aiosqlite.Connection, name: str) -> str:
    """`name` as the database keeps it."""
    if isinstance(db, aiosqlite.Connection):
        return name
    return name.encode()[:_PG_NAME_BYTES].decode(errors="ignore")
