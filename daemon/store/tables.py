"""Layout tables: one table per layout, the rows imports write and the ranges they own.

A mixin of Store. Every statement that touches a layout's table (create and
migrate it, insert rows, replace a file's rows, copy a large file's staged parts,
remember created choice values, look referenced values up) is here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiosqlite

from daemon.store.images import keep_rows_sql, table_types
from daemon.store.multirow import RowInsert
from daemon.store.objects import (
    case_twin,
    index_elsewhere,
    kept_for,
    key_index_name,
    key_owner,
    layout_key_of,
    other_object,
    stale_among,
    stale_key_indexes,
    stored_name,
    table_indexes,
)
from daemon.store.schema import META_COLUMNS
from daemon.store.scratch import ERROR_COLUMNS, ERRORS_TABLE, ROWS_TABLE, StagedTable, staged_error
from daemon.store.sql import literal, quote
from importers.errors import RowError
from importers.layouts import SQL_TYPES
from importers.messages import Words

if TYPE_CHECKING:
    import asyncio
    from contextlib import AbstractAsyncContextManager

    from daemon.settings import Column, Layout, Problem

BATCH = 500  # values per IN (…): well under SQLite's bound-parameter limit


def same_types(
    layout: str,
    columns: Sequence[Column],
    have: Mapping[str, str],
    sql_type: Callable[[Column], str],
) -> None:
    """Refuse a layout whose column changed to a type its table column does not store
    (int ↔ text, decimal, date, …): the table is never migrated, so the new values
    would be stored beside the old in another form (a decimal rounded into INTEGER, a
    number as text that no range finds). Raised as the config's problem."""
    from daemon.settings import ConfigError, Problem

    missing = [meta for meta in META_COLUMNS if meta not in have]
    if have and missing:
        # A table made by hand under the layout's name: every file failed on the
        # missing columns, three tracebacks each, and was quarantined.
        params = {"layout": layout, "missing": ", ".join(missing)}
        raise ConfigError([Problem(f"layouts.{layout}", "config.table_not_renkeis", params)])
    problems = []
    folded = {name.casefold(): name for name in have}
    for index, column in enumerate(columns):
        stored, wanted = have.get(column.name), sql_type(column).upper()
        existing = folded.get(column.name.casefold())
        if stored is None and existing is not None:
            # SQLite's column names ignore case (ALTER TABLE ADD failed on the
            # duplicate, a traceback at start), PostgreSQL's quoted ones do not (the
            # values would go on in a second column): neither is a rename.
            where = f"layouts.{layout}.columns.{index}.name"
            problems.append(Problem(where, "config.column_case_changed", {"have": existing}))
        elif stored is not None and stored != wanted:
            params = {"column": column.name, "type": column.type, "have": stored, "want": wanted}
            where = f"layouts.{layout}.columns.{index}.type"
            problems.append(Problem(where, "config.column_type_changed", params))
    if problems:
        raise ConfigError(problems)


def layout_problems(layouts: Mapping[str, Layout], folds: bool) -> list[Problem]:
    """What refuses layouts by their names alone, whatever the database holds yet: a
    name PostgreSQL gives a key of renkei's own tables (or there, of another layout's
    table), and a key index two layouts would share (`a` keyed on `b__key_c`, `a__key_b`
    on `c`), where the second CREATE INDEX IF NOT EXISTS made nothing and said nothing.
    `folds`: the store's names ignore case (SQLite). Said by start and reload (raised,
    before any table is made) and by `renkei check` (peek.py)."""
    problems: list[Problem] = []
    indexes: dict[str, str] = {}
    for name, layout in layouts.items():
        if table := kept_for(name) or ("" if folds else layout_key_of(name, layouts)):
            problems.append(_kept(name, table))
        if layout.key:
            index = key_index_name(name, layout.key)
            first = indexes.setdefault(index.casefold() if folds else index, name)
            if first != name:
                problems.append(_index_elsewhere(name, index, first))
    return problems


def _kept(layout: str, table: str) -> Problem:
    from daemon.settings import Problem
    from daemon.settings.model import RESERVED_TABLES

    own = table.lower() in RESERVED_TABLES
    key = "config.layout_kept" if own else "config.layout_table_key"
    return Problem(f"layouts.{layout}", key, {"layout": layout, "table": table})


def _index_elsewhere(layout: str, index: str, table: str) -> Problem:
    from daemon.settings import Problem

    params = {"layout": layout, "index": index, "table": table}
    return Problem(f"layouts.{layout}.key", "config.key_index_elsewhere", params)


async def name_problems(
    db: aiosqlite.Connection, layout: str, dropped: AbstractSet[str] = frozenset()
) -> list[Problem]:
    """What refuses `layout`'s name: an index or view the database holds under it (the
    key index of a layout removed from the config, an admin's own), but an index of
    `dropped` (casefolded; start drops those first); on PostgreSQL a table that differs
    in case alone. A table's key or row-id sequence is no leftover: it is said as one
    the layout may not take, never as one to drop. Said by start and reload (raised)
    and by `renkei check` (peek.py)."""
    from daemon.settings import Problem

    where = f"layouts.{layout}"
    kind = await other_object(db, layout)
    if kind and not (kind == "index" and layout.casefold() in dropped):
        if table := await key_owner(db, layout):
            return [_kept(layout, table)]
        params = {"layout": layout, "kind": Words(f"db.kind.{kind}")}
        return [Problem(where, "config.layout_name_taken", params)]
    twin = await case_twin(db, layout)
    if twin and not await table_types(db, layout):
        return [Problem(where, "config.layout_case_changed", {"layout": layout, "have": twin})]
    return []


async def index_problems(
    db: aiosqlite.Connection,
    layout: str,
    key: Sequence[str],
    dropped: AbstractSet[str] = frozenset(),
) -> list[Problem]:
    """What refuses `layout`'s key index: a table or view the database holds under its
    name (a layout's, removed from the config), where CREATE INDEX failed with a
    traceback; or an index of another table, but one of `dropped` (as name_problems'),
    where CREATE INDEX IF NOT EXISTS made nothing: keyed imports ran without it."""
    from daemon.settings import Problem

    if not key:
        return []
    index = key_index_name(layout, key)
    if kind := await other_object(db, index, but="index"):
        params = {"layout": layout, "index": index, "kind": Words(f"db.kind.{kind}")}
        return [Problem(f"layouts.{layout}.key", "config.key_index_taken", params)]
    table = await index_elsewhere(db, index, layout)
    if table and index.casefold() not in dropped:
        return [_index_elsewhere(layout, index, table)]
    return []


class LayoutTables:
    writer: aiosqlite.Connection
    reader: aiosqlite.Connection
    _layouts: dict[str, list[str]]
    _text_columns: dict[str, list[str]]

    if TYPE_CHECKING:

        def transaction(
            self, staged: Sequence[Path] = ()
        ) -> AbstractAsyncContextManager[aiosqlite.Connection]: ...

        async def keep_sources(
            self, db: aiosqlite.Connection, run_id: str, entries: Sequence[Sequence[object]]
        ) -> None: ...

        async def lock_layout(self, db: aiosqlite.Connection, layout: str) -> None: ...

    async def ensure_layouts(self, layouts: Mapping[str, Layout]) -> None:
        from daemon.settings import ConfigError  # as same_types: settings imports the store

        if problems := layout_problems(layouts, isinstance(self.writer, aiosqlite.Connection)):
            raise ConfigError(problems)
        # Every layout's old key indexes first: a layout may take the name of one that
        # a key changed in the same edit leaves behind, whatever the order in the file.
        async with self.transaction() as db:
            for name, layout in layouts.items():
                for stale in await stale_key_indexes(db, name, layout.key):
                    await db.execute(f"DROP INDEX {quote(stale)}")
        for name, layout in layouts.items():
            await self.ensure_layout(name, layout.columns, layout.key)

    async def ensure_layout(
        self, name: str, columns: Sequence[Column], key: Sequence[str] = ()
    ) -> None:
        """Create the layout's table, or add the columns a changed layout gained."""
        from daemon.settings import ConfigError  # as same_types: settings imports the store

        defs = [f"{quote(c.name)} {self.column_type(c)}" for c in columns]
        defs += [f"{quote(m)} TEXT NOT NULL" for m in META_COLUMNS]
        defs += self.extra_columns
        table = quote(name)
        async with self.transaction() as db:
            await self.lock_layout(db, name)  # two instances starting together
            if problems := await name_problems(db, name):
                raise ConfigError(problems)
            await db.execute(f"CREATE TABLE IF NOT EXISTS {table} ({', '.join(defs)})")
            have = await table_types(db, name)
            same_types(name, columns, have, self.column_type)
            for column in columns:
                if column.name not in have:
                    sql_type = self.column_type(column)
                    await db.execute(
                        f"ALTER TABLE {table} ADD COLUMN {quote(column.name)} {sql_type}"
                    )
            indexes = await table_indexes(db, name)
            if key:
                # Keyed modes look every row up by (_account, key): without an index
                # each lookup would read the whole table.
                if problems := await index_problems(db, name, key):
                    raise ConfigError(problems)
                index = key_index_name(name, key)
                # Made only when missing: on PostgreSQL even CREATE INDEX IF NOT EXISTS
                # needs the table's owner, and a role granted its rows alone could not
                # start renkei (a traceback) though the index was there.
                if stored_name(db, index) not in indexes:
                    cols = ", ".join(quote(c) for c in ("_account", *key))
                    await db.execute(f"CREATE INDEX {quote(index)} ON {table} ({cols})")
            for stale in stale_among(db, indexes, name, key):
                await db.execute(f"DROP INDEX {quote(stale)}")
        self._layouts[name] = [c.name for c in columns]
        # Whose empty cell is '' rather than NULL (importers.layouts: text columns).
        self._text_columns[name] = [c.name for c in columns if c.type == "text"]

    # Columns a layout table has beyond the layout's and the meta columns (none here;
    # PostgreSQL's store adds a real rowid).
    extra_columns: tuple[str, ...] = ()

    def column_type(self, column: Column) -> str:
        """The SQL type of a layout column in this store."""
        return SQL_TYPES[column.type]

    async def replace_source(
        self, db: aiosqlite.Connection, layout: str, account: str, filename: str, run_id: str
    ) -> tuple[int, int]:
        """Delete the rows this logical file imported before; returns the rowid the new
        rows will start at, and how many rows were deleted.

        A file's rows are inserted in one transaction by the only writer, so they hold
        one run of rowids, recorded in `sources`. Finding them by that range spares
        every insert the upkeep of an index on (_account, _source_file): on a million
        rows that index cost a fifth of the import. The rows are told by their run, not
        by `_source_file`: that holds the name as received, and one logical file
        (`employees*.csv`) arrives under many. Names match whatever their case, as
        file-name patterns do, so a `.CSV` recorded by an older renkei is still found.

        The old rows are kept first for an undo of `run_id` (undo.py): one INSERT …
        SELECT per range, no row through Python.
        """
        table = quote(layout)
        key = (layout, account, filename)
        where = "layout = ? AND account = ? AND source_file = ? COLLATE NOCASE"
        sql = f"SELECT source_file, run_id, first_rowid, last_rowid FROM sources WHERE {where}"
        previous = await db.execute_fetchall(sql, key)
        in_range = "rowid BETWEEN ? AND ? AND _account = ? AND _run_id = ?"
        keep = await keep_rows_sql(db, layout, run_id, in_range) if previous else ""
        removed = 0
        for _, owner, first, last in previous:
            await db.execute(keep, (first, last, account, owner))
            sql = f"DELETE FROM {table} WHERE {in_range}"
            removed += (await db.execute(sql, (first, last, account, owner))).rowcount
        await self.keep_sources(db, run_id, [tuple(entry) for entry in previous])
        await db.execute(f"DELETE FROM sources WHERE {where}", key)
        return await self._max_rowid(db, layout) + 1, removed

    async def newer_source(
        self, db: aiosqlite.Connection, layout: str, account: str, filename: str, received: str
    ) -> str | None:
        """The run whose rows of this logical file came after `received` (the newest
        of them), or None: a file a crashed instance held back, imported now over a
        newer one of its name that another instance took meanwhile, would bring its
        older rows back."""
        where = "s.layout = ? AND s.account = ? AND s.source_file = ? COLLATE NOCASE"
        sql = (
            f"SELECT s.run_id FROM sources s JOIN runs r ON r.id = s.run_id WHERE {where}"
            " AND r.received_at > ? ORDER BY r.received_at DESC LIMIT 1"
        )
        rows = await db.execute_fetchall(sql, (layout, account, filename, received))
        return rows[0][0] if rows else None

    async def record_source(
        self,
        db: aiosqlite.Connection,
        layout: str,
        account: str,
        filename: str,
        run_id: str,
        first_rowid: int,
    ) -> None:
        last = await self._max_rowid(db, layout)
        await db.execute(
            "INSERT INTO sources (layout, account, source_file, run_id, first_rowid,"
            " last_rowid) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (layout, account, source_file,"
            " run_id) DO UPDATE SET first_rowid = excluded.first_rowid,"
            " last_rowid = excluded.last_rowid",
            (layout, account, filename, run_id, first_rowid, last),
        )

    async def next_rowid(self, db: aiosqlite.Connection, layout: str) -> int:
        """Where rows added to a logical file without replacing it start."""
        return await self._max_rowid(db, layout) + 1

    async def _max_rowid(self, db: aiosqlite.Connection, layout: str) -> int:
        [[value]] = await db.execute_fetchall(
            f"SELECT coalesce(max(rowid), 0) FROM {quote(layout)}"
        )
        return value

    def _read_as(self, layout: str, file_columns: Sequence[str] | None) -> list[str]:
        """The columns a run's rows were read as: `file_columns`, else the layout's as
        the store last ensured it (both stores)."""
        return list(file_columns) if file_columns is not None else self._layouts[layout]

    def row_insert(
        self,
        layout: str,
        account: str,
        source_file: str,
        run_id: str,
        file_columns: Sequence[str] | None = None,
    ) -> RowInsert:
        """The INSERT for one import of rows of `file_columns` (default: the layout's, as
        the store last ensured it; a run names those its rows were read as, which a
        reload may have changed since). The three meta columns are the same on every
        row, so they are written as literals once instead of bound a million times."""
        own = self._read_as(layout, file_columns)
        names = [*own, *META_COLUMNS]
        cols = ", ".join(quote(n) for n in names)
        width = len(own)
        meta = [literal(account), literal(source_file), literal(run_id)]
        values = f"({', '.join(['?'] * width + meta)})"
        return RowInsert(f"INSERT INTO {quote(layout)} ({cols}) VALUES ", values, width)

    async def insert_rows(
        self, db: aiosqlite.Connection, insert: RowInsert, rows: Sequence[Sequence[object]]
    ) -> None:
        for sql, params in insert.statements(rows):
            await db.executemany(sql, params)

    async def learned_choices(self, layout: str) -> dict[str, list[str]]:
        """Choice values imports created beyond the layout's own, by column."""
        sql = "SELECT column_name, value FROM choice_values WHERE layout = ? ORDER BY rowid"
        learned: dict[str, list[str]] = {}
        for column, value in await self.writer.execute_fetchall(sql, (layout,)):
            learned.setdefault(column, []).append(value)
        return learned

    async def learn_choices(
        self, db: aiosqlite.Connection, layout: str, column: str, values: Iterable[str], run_id: str
    ) -> None:
        await db.executemany(
            "INSERT OR IGNORE INTO choice_values (layout, column_name, value, run_id)"
            " VALUES (?, ?, ?, ?)",
            [(layout, column, v, run_id) for v in values],
        )

    async def staged_table(
        self,
        layout: str,
        account: str,
        source_file: str,
        run_id: str,
        file_columns: Sequence[str] | None = None,
    ) -> StagedTable:
        """The scratch table a large file's parts are read into: this layout table's
        own columns, in its order, with the meta columns' values written in; those of
        `file_columns` (as row_insert's) filled from the file."""
        meta = dict(zip(META_COLUMNS, (account, source_file, run_id), strict=True))
        wanted = set(self._read_as(layout, file_columns))
        definitions, values, columns = [], [], []
        found = await self._definitions(layout)
        for name, definition, _ in found:
            definitions.append(definition)
            if name in meta:
                values.append(literal(meta[name]))
            elif name in wanted:
                values.append("?")
                columns.append(name)
            else:  # a column the layout no longer has
                values.append("NULL")
        integers = _integer_columns(found, wanted)
        return StagedTable(
            definitions,
            f"({', '.join(values)})",
            columns,
            integers=integers,
            table_columns=tuple(name for name, _, _ in found),
        )

    # Whether a large file's parts are loaded while they are still read (stream_staged),
    # in the run's transaction begun before the reading: PostgreSQL's, which keeps no
    # other session waiting, streams each part to COPY as it grows. SQLite's one writer
    # would keep every other write waiting for the whole reading: its parts are copied
    # once read (copy_staged).
    streams_staged = False

    async def stream_staged(
        self, db: Any, index: int, layout: str, finished: asyncio.Event
    ) -> None:
        """Load part `index` while its reader writes it, to its end once `finished`."""
        raise NotImplementedError

    async def copy_staged(
        self,
        db: aiosqlite.Connection,
        index: int,
        layout: str,
        table: StagedTable | None = None,
    ) -> None:
        """Copy the rows of attached scratch database `index`, in their order.

        Its table is this one's twin (see staged_table), which lets SQLite move whole
        records; a plain scan of a rowid table reads them in rowid order. A table a
        reload changed while the parts were read (a column added) is no twin any more:
        the part's columns are then named.
        """
        source = f"staged{index}.{ROWS_TABLE}"
        if table is not None and table.table_columns:
            info = await db.execute_fetchall(f"PRAGMA main.table_info({quote(layout)})")
            if [row[1] for row in info] != list(table.table_columns):
                names = ", ".join(quote(name) for name in table.table_columns)
                sql = f"INSERT INTO {quote(layout)} ({names}) SELECT {names} FROM {source}"
                await db.execute(sql)
                return
        await db.execute(f"INSERT INTO {quote(layout)} SELECT * FROM {source}")

    async def keyed_staged_table(self, layout: str, names: Sequence[str]) -> StagedTable:
        """The scratch table a large file of a keyed mode is read into: the file's
        columns alone (a delete or set reads just the key), with this table's types and
        in its order, and no meta column: the keyed writer stamps what it writes."""
        wanted = set(names)
        found = [column for column in await self._definitions(layout) if column[0] in wanted]
        columns = [name for name, _, _ in found]
        values = f"({', '.join('?' * len(columns))})"
        definitions = [definition for _, definition, _ in found]
        return StagedTable(definitions, values, columns, integers=_integer_columns(found, wanted))

    async def _definitions(self, layout: str) -> list[tuple[str, str, str]]:
        """Each column of the layout's table, in its order, with its definition as a
        scratch table repeats it (type and NOT NULL), and its declared type."""
        info = await self.reader.execute_fetchall(f"PRAGMA table_info({quote(layout)})")
        return [
            (name, f"{quote(name)} {sql_type}{' NOT NULL' if notnull else ''}", sql_type)
            for _, name, sql_type, notnull, _, _ in info
        ]

    async def staged_batches(
        self,
        db: aiosqlite.Connection,
        index: int,
        layout: str,
        columns: Sequence[str],
        batch: int = 20000,
    ) -> list[tuple[str, int, int]]:
        """The rows of attached scratch database `index` (of a keyed_staged_table of
        `layout`, its `columns`) as rowid ranges of about `batch` rows in the file's
        order, each with the table that holds them, for KeyedWriter.write_staged."""
        source = f"staged{index}.{ROWS_TABLE}"
        [[last]] = await db.execute_fetchall(f"SELECT coalesce(max(rowid), 0) FROM {source}")
        return [(source, low, min(low + batch, last)) for low in range(0, last, batch)]

    async def staged_errors(
        self, db: aiosqlite.Connection, index: int, batch: int = 5000
    ) -> AsyncIterator[list[RowError]]:
        """The row errors of attached scratch database `index`, a batch at a time."""
        sql = f"SELECT {ERROR_COLUMNS} FROM staged{index}.{ERRORS_TABLE} ORDER BY rowid"
        async with db.execute(sql) as cur:
            while rows := await cur.fetchmany(batch):
                yield [staged_error(row) for row in rows]

    async def found_values(
        self, db: aiosqlite.Connection, layout: str, column: str, values: Sequence[object]
    ) -> set[object]:
        """Which of `values` the layout's `column` holds (reference checks), any
        account's. Asked account by account, the accounts found first from the index
        they lead: the key's index is (_account, key …), and a look-up by the key alone
        read the whole index for every 500 values (minutes for a file of 100,000 rows
        referencing a table of millions)."""
        table = quote(layout)
        accounts = [
            row[0]
            for row in await db.execute_fetchall(
                f"WITH RECURSIVE a(x) AS (SELECT min(_account) FROM {table} UNION ALL"
                f" SELECT (SELECT min(_account) FROM {table} WHERE _account > a.x) FROM a"
                " WHERE a.x IS NOT NULL) SELECT x FROM a WHERE x IS NOT NULL"
            )
        ]
        found: set[object] = set()
        if not accounts:
            return found
        held = f"_account IN ({', '.join('?' * len(accounts))}) AND "
        for start in range(0, len(values), BATCH):
            part = list(values[start : start + BATCH])
            sql = (
                f"SELECT DISTINCT {quote(column)} FROM {table}"
                f" WHERE {held}{quote(column)} IN ({', '.join('?' * len(part))})"
            )
            found.update(row[0] for row in await db.execute_fetchall(sql, [*accounts, *part]))
        return found


def _integer_columns(found: list[tuple[str, str, str]], wanted: set[str]) -> frozenset[str]:
    """The `wanted` columns of INTEGER affinity: SQLite stores a text of plain digits
    bound to one as the integer it spells (a declared type naming INT, sqlite.org's
    datatype3 rule 1)."""
    return frozenset(
        name for name, _, sql_type in found if name in wanted and "INT" in sql_type.upper()
    )
