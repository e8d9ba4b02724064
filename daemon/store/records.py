"""Records: one layout table's rows read and changed one at a time, with their log.

A mixin of Store for the Records API (daemon/web/records.py). Searches and
look-ups read through the reader connection; a create, update or delete runs in one
write transaction together with its row of `record_log` (who, when, before, after).
A row the API writes carries `_source_file` = SOURCE and an empty `_run_id`: it is no
import's, so no same-name replace or undo of an import removes it. Rows are told by
(`_account`, the layout's key), as keyed import modes tell them (keyed.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import aiosqlite

from daemon.store.schema import META_COLUMNS
from daemon.store.sql import quote

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager

SOURCE = "api:records"  # the `_source_file` of a row the Records API created or changed
Op = Literal["eq", "contains", "from", "to"]
_OPS = {"eq": "{} IS ?", "contains": "instr({}, ?) > 0", "from": "{} >= ?", "to": "{} <= ?"}


@dataclass(frozen=True, slots=True)
class Condition:
    """One search condition; `numeric` compares a TEXT-stored number (decimal) as one."""

    column: str
    op: Op
    value: object
    numeric: bool = False


@dataclass(frozen=True, slots=True)
class Order:
    column: str
    descending: bool = False
    numeric: bool = False


@dataclass(frozen=True, slots=True)
class Stamp:
    """Who changes a record and when, for its log entry."""

    who: str  # "admin", or the account's name
    at: str  # UTC ISO 8601


@dataclass(slots=True)
class Changed:
    """What a change did: `outcome` ok, or why not (not_found, duplicate, ambiguous)."""

    outcome: Literal["ok", "not_found", "duplicate", "ambiguous"]
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    count: int = 0  # ambiguous: how many rows the key names


def _expr(column: str, numeric: bool) -> str:
    return f"CAST({quote(column)} AS REAL)" if numeric else quote(column)


def _where(conditions: Sequence[Condition]) -> tuple[str, list[object]]:
    parts, params = [], []
    for c in conditions:
        # A decimal is kept as written (`1.50`): an exact search compares by value too,
        # or `search[price]=1.5` would miss the 1.50 its range finds.
        if c.numeric and c.op != "contains":
            parts.append(_OPS[c.op].format(_expr(c.column, True)).replace("?", "CAST(? AS REAL)"))
        else:
            parts.append(_OPS[c.op].format(quote(c.column)))
        params.append(c.value)
    return (" WHERE " + " AND ".join(parts)) if parts else "", params


def _select(columns: Sequence[str]) -> str:
    return ", ".join(quote(c) for c in (*columns, *META_COLUMNS))


def _record(row: Sequence[object], columns: Sequence[str]) -> dict[str, Any]:
    names = (*columns, *META_COLUMNS)
    return dict(zip(names, row, strict=True))


def _values(record: Mapping[str, Any], columns: Sequence[str]) -> dict[str, Any]:
    return {c: record[c] for c in columns}


def _json(value: object) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)


class RecordRecords:
    writer: aiosqlite.Connection
    reader: aiosqlite.Connection

    if TYPE_CHECKING:

        def transaction(
            self, staged: Sequence[Path] = ()
        ) -> AbstractAsyncContextManager[aiosqlite.Connection]: ...

    async def search_records(
        self,
        layout: str,
        columns: Sequence[str],
        conditions: Sequence[Condition],
        order: Sequence[Order],
        limit: int,
        offset: int,
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of the rows `conditions` select, in `order` (then insertion order),
        and how many they select in all."""
        where, params = _where(conditions)
        table = quote(layout)
        [[total]] = await self.reader.execute_fetchall(
            f"SELECT count(*) FROM {table}{where}", params
        )
        sorts = [f"{_expr(o.column, o.numeric)} {'DESC' if o.descending else 'ASC'}" for o in order]
        sql = (
            f"SELECT {_select(columns)} FROM {table}{where}"
            f" ORDER BY {', '.join([*sorts, 'rowid'])} LIMIT ? OFFSET ?"
        )
        rows = [
            _record(row, columns)
            for row in await self.reader.execute_fetchall(sql, [*params, limit, offset])
        ]
        return rows, total

    async def known_choices(self, layout: str) -> dict[str, list[str]]:
        """Choice values imports created, by column, as committed (the reader's view)."""
        sql = "SELECT column_name, value FROM choice_values WHERE layout = ? ORDER BY rowid"
        known: dict[str, list[str]] = {}
        for column, value in await self.reader.execute_fetchall(sql, (layout,)):
            known.setdefault(column, []).append(value)
        return known

    async def find_records(
        self,
        layout: str,
        columns: Sequence[str],
        key: Mapping[str, object],
        account: str | None,
        limit: int = 3,
    ) -> list[dict[str, Any]]:
        """The rows (at most `limit`) with `key`, of `account` or (None) of any account."""
        return await self._find(self.reader, layout, columns, key, account, limit)

    async def _find(
        self,
        db: aiosqlite.Connection,
        layout: str,
        columns: Sequence[str],
        key: Mapping[str, object],
        account: str | None,
        limit: int = 3,
    ) -> list[dict[str, Any]]:
        match = {**key, **({"_account": account} if account is not None else {})}
        where, params = _where([Condition(c, "eq", v) for c, v in match.items()])
        sql = f"SELECT rowid, {_select(columns)} FROM {quote(layout)}{where} ORDER BY rowid LIMIT ?"
        found = await db.execute_fetchall(sql, [*params, limit])
        return [{"rowid": row[0], **_record(row[1:], columns)} for row in found]

    async def create_record(
        self,
        layout: str,
        columns: Sequence[str],
        key: Mapping[str, object],
        account: str,
        values: Mapping[str, object],
        stamp: Stamp,
    ) -> Changed:
        """Insert one row of `account` (a duplicate when its key is there) and log it."""
        names = [*columns, *META_COLUMNS]
        cells = [values.get(c) for c in columns] + [account, SOURCE, ""]
        async with self.transaction() as db:
            # On a shared store another instance's create of the key, or its import,
            # would otherwise pass the same look (READ COMMITTED): two records of a key.
            await self.lock_layout(db, layout)
            if key and await self._find(db, layout, columns, key, account, 1):
                return Changed("duplicate")
            await db.execute(
                f"INSERT INTO {quote(layout)} ({', '.join(quote(n) for n in names)})"
                f" VALUES ({', '.join('?' * len(names))})",
                cells,
            )
            after = {c: values.get(c) for c in columns}
            await self._log(db, layout, account, key, "create", stamp, None, after)
        return Changed("ok", None, after)

    async def update_record(
        self,
        layout: str,
        columns: Sequence[str],
        key: Mapping[str, object],
        account: str,
        changes: Mapping[str, object],
        stamp: Stamp,
    ) -> Changed:
        """Change the given columns of the one row of `account` with `key`, and log it."""
        async with self.transaction() as db:
            await self.lock_layout(db, layout)  # as create_record
            found = await self._find(db, layout, columns, key, account)
            if len(found) != 1:
                return Changed("ambiguous" if found else "not_found", count=len(found))
            row = found[0]
            before = _values(row, columns)
            after = {**before, **{c: v for c, v in changes.items() if c in columns}}
            sets = [f"{quote(c)} = ?" for c in after] + ["_source_file = ?", "_run_id = ''"]
            await db.execute(
                f"UPDATE {quote(layout)} SET {', '.join(sets)} WHERE rowid = ?",
                [*after.values(), SOURCE, row["rowid"]],
            )
            await self._log(db, layout, account, key, "update", stamp, before, after)
        return Changed("ok", before, after)

    async def delete_record(
        self,
        layout: str,
        columns: Sequence[str],
        key: Mapping[str, object],
        account: str,
        stamp: Stamp,
    ) -> Changed:
        """Delete the one row of `account` with `key`, and log it."""
        async with self.transaction() as db:
            await self.lock_layout(db, layout)  # as create_record
            found = await self._find(db, layout, columns, key, account)
            if len(found) != 1:
                return Changed("ambiguous" if found else "not_found", count=len(found))
            before = _values(found[0], columns)
            await db.execute(f"DELETE FROM {quote(layout)} WHERE rowid = ?", (found[0]["rowid"],))
            await self._log(db, layout, account, key, "delete", stamp, before, None)
        return Changed("ok", before, None)

    async def _log(
        self,
        db: aiosqlite.Connection,
        layout: str,
        account: str,
        key: Mapping[str, object],
        action: str,
        stamp: Stamp,
        before: Mapping[str, object] | None,
        after: Mapping[str, object] | None,
    ) -> None:
        await db.execute(
            "INSERT INTO record_log (layout, account, record_key, action, who, at, before,"
            " after) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                layout,
                account,
                record_key(key.values()),
                action,
                stamp.who,
                stamp.at,
                _json(before),
                _json(after),
            ),
        )

    async def record_history(
        self,
        layout: str,
        account: str | None,
        key: Sequence[object] | None,
        limit: int,
        offset: int,
    ) -> tuple[list[dict[str, Any]], int]:
        """The log of `layout`'s changes, newest first: of `account` (None: every
        account's), of one key when `key` is given."""
        conditions = [Condition("layout", "eq", layout)]
        if account is not None:
            conditions.append(Condition("account", "eq", account))
        if key is not None:
            conditions.append(Condition("record_key", "eq", record_key(key)))
        where, params = _where(conditions)
        [[total]] = await self.reader.execute_fetchall(
            f"SELECT count(*) FROM record_log{where}", params
        )
        sql = (
            "SELECT seq, at, who, account, action, record_key, before, after"
            f" FROM record_log{where} ORDER BY seq DESC LIMIT ? OFFSET ?"
        )
        rows = await self.reader.execute_fetchall(sql, [*params, limit, offset])
        return [
            {
                "seq": seq,
                "at": at,
                "who": who,
                "account": owner,
                "action": action,
                "key": json.loads(stored_key),
                "before": json.loads(before) if before is not None else None,
                "after": json.loads(after) if after is not None else None,
            }
            for seq, at, who, owner, action, stored_key, before, after in rows
        ], total


def record_key(values: Sequence[object] | Any) -> str:
    """A key as `record_log` keeps it: the JSON array of its values."""
    return json.dumps(list(values), ensure_ascii=False)
