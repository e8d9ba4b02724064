"""The store: SQLite (WAL) through aiosqlite; the one place that writes the database.

Holds `runs`, `run_errors` and one table per layout. Writes go through one connection
with `BEGIN IMMEDIATE`; reads use a second connection, so an API reader never sees an
import's uncommitted rows. Called by the worker, the web app and the CLI.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from importers.errors import RowError
from importers.layouts import SQL_TYPES
from importers.multirow import RowInsert
from importers.stager import ERRORS_TABLE, ROWS_TABLE, StagedTable

RUN_FIELDS = [
    "id",
    "account",
    "channel",
    "sender",
    "filename",
    "layout",
    "encoding",
    "state",
    "rows_total",
    "rows_imported",
    "rows_failed",
    "rows_inserted",
    "rows_updated",
    "rows_skipped",
    "rows_deleted",
    "mode",
    "dry_run",
    "message",
    "received_at",
    "started_at",
    "finished_at",
]
FINAL_STATES = ("completed", "failed", "ignored")
META_COLUMNS = ("_account", "_source_file", "_run_id")
ERRORS_KEPT = 1000  # in run_errors; the error CSV holds them all

MIGRATIONS = [
    """
    CREATE TABLE runs (
      id TEXT PRIMARY KEY,
      account TEXT NOT NULL,
      channel TEXT NOT NULL,
      sender TEXT NOT NULL DEFAULT '',
      filename TEXT NOT NULL DEFAULT '',
      layout TEXT NOT NULL DEFAULT '',
      encoding TEXT NOT NULL DEFAULT '',
      state TEXT NOT NULL,
      rows_total INTEGER NOT NULL DEFAULT 0,
      rows_imported INTEGER NOT NULL DEFAULT 0,
      rows_failed INTEGER NOT NULL DEFAULT 0,
      message TEXT NOT NULL DEFAULT '',
      received_at TEXT NOT NULL,
      started_at TEXT,
      finished_at TEXT,
      attempts INTEGER NOT NULL DEFAULT 0,
      sha256 TEXT NOT NULL DEFAULT '',
      error_report TEXT NOT NULL DEFAULT '',
      report_state TEXT NOT NULL DEFAULT 'none'
    );
    CREATE INDEX runs_by_account ON runs (account, received_at);
    CREATE INDEX runs_by_received ON runs (received_at);
    CREATE TABLE run_errors (
      run_id TEXT NOT NULL REFERENCES runs (id),
      line INTEGER NOT NULL,
      "column" TEXT NOT NULL,
      value TEXT NOT NULL,
      message TEXT NOT NULL
    );
    CREATE INDEX run_errors_by_run ON run_errors (run_id, line);
    """,
    """
    CREATE TABLE sources (
      layout TEXT NOT NULL,
      account TEXT NOT NULL,
      source_file TEXT NOT NULL,
      run_id TEXT NOT NULL,
      first_rowid INTEGER NOT NULL,
      last_rowid INTEGER NOT NULL,
      PRIMARY KEY (layout, account, source_file)
    );
    """,
    """
    ALTER TABLE runs ADD COLUMN problem TEXT NOT NULL DEFAULT ''
    """,
    """
    ALTER TABLE runs ADD COLUMN idempotency_key TEXT NOT NULL DEFAULT '';
    CREATE INDEX runs_by_key ON runs (account, idempotency_key);
    CREATE INDEX runs_by_sha256 ON runs (account, sha256)
    """,
    """
    ALTER TABLE runs ADD COLUMN rows_inserted INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE runs ADD COLUMN rows_updated INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE runs ADD COLUMN rows_skipped INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE runs ADD COLUMN rows_deleted INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE runs ADD COLUMN mode TEXT NOT NULL DEFAULT 'replace_file';
    ALTER TABLE runs ADD COLUMN dry_run INTEGER NOT NULL DEFAULT 0
    """,
    """
    CREATE TABLE choice_values (
      layout TEXT NOT NULL,
      column_name TEXT NOT NULL,
      value TEXT NOT NULL,
      run_id TEXT NOT NULL,
      PRIMARY KEY (layout, column_name, value)
    )
    """,
    """
    ALTER TABLE runs ADD COLUMN options TEXT NOT NULL DEFAULT '{}'
    """,
]


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """An SQL string literal: SQLite knows no backslash escapes, only doubled quotes."""
    if "\0" in text:
        raise ValueError("NUL in an SQL literal")
    return "'" + text.replace("'", "''") + "'"


class Store:
    def __init__(self, writer: aiosqlite.Connection, reader: aiosqlite.Connection) -> None:
        self.writer = writer
        self.reader = reader
        self._layouts: dict[str, list[str]] = {}
        # One writer connection serves the whole process; transactions take turns.
        self._write_lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path) -> Store:
        path.parent.mkdir(parents=True, exist_ok=True)
        writer = await _connect(path)
        await writer.execute("PRAGMA journal_mode=WAL")
        await _migrate(writer)
        reader = await _connect(path)
        return cls(writer, reader)

    async def close(self) -> None:
        await self.reader.close()
        await self.writer.close()

    # -- schema --------------------------------------------------------------------

    async def ensure_layouts(self, layouts: Mapping[str, Any]) -> None:
        for name, layout in layouts.items():
            await self.ensure_layout(name, layout.columns, layout.key)

    async def ensure_layout(
        self, name: str, columns: Sequence[Any], key: Sequence[str] = ()
    ) -> None:
        """Create the layout's table, or add the columns a changed layout gained."""
        defs = [f"{quote(c.name)} {SQL_TYPES[c.type]}" for c in columns]
        defs += [f"{quote(m)} TEXT NOT NULL" for m in META_COLUMNS]
        table = quote(name)
        async with self.transaction() as db:
            await db.execute(f"CREATE TABLE IF NOT EXISTS {table} ({', '.join(defs)})")
            async with db.execute(f"PRAGMA table_info({table})") as cursor:
                have = {row[1] for row in await cursor.fetchall()}
            for column in columns:
                if column.name not in have:
                    sql_type = SQL_TYPES[column.type]
                    await db.execute(
                        f"ALTER TABLE {table} ADD COLUMN {quote(column.name)} {sql_type}"
                    )
            if key:
                # Keyed modes look every row up by (_account, key): without an index
                # each lookup would read the whole table.
                index = quote(f"{name}__key_{'_'.join(key)}")
                cols = ", ".join(quote(c) for c in ("_account", *key))
                await db.execute(f"CREATE INDEX IF NOT EXISTS {index} ON {table} ({cols})")
        self._layouts[name] = [c.name for c in columns]

    # -- transactions --------------------------------------------------------------

    @asynccontextmanager
    async def transaction(self, staged: Sequence[Path] = ()) -> AsyncIterator[aiosqlite.Connection]:
        """BEGIN IMMEDIATE … COMMIT; any exception, cancellation included, rolls back.

        `staged` scratch databases are attached as staged0, staged1, … for the
        transaction (SQLite attaches only outside one).
        """
        async with self._write_lock:
            attached = 0
            try:
                for path in staged:
                    await self.writer.execute(
                        f"ATTACH DATABASE ? AS staged{attached}", (str(path),)
                    )
                    attached += 1
                await self.writer.execute("BEGIN IMMEDIATE")
                try:
                    yield self.writer
                except BaseException:
                    await asyncio.shield(self.writer.rollback())
                    raise
                await asyncio.shield(self.writer.commit())
            finally:
                for index in range(attached):
                    await asyncio.shield(self.writer.execute(f"DETACH DATABASE staged{index}"))

    async def replace_source(
        self, db: aiosqlite.Connection, layout: str, account: str, filename: str
    ) -> int:
        """Delete the rows this file name imported before; returns the rowid the new
        rows will start at.

        A file's rows are inserted in one transaction by the only writer, so they hold
        one run of rowids, recorded in `sources`. Finding them by that range spares
        every insert the upkeep of an index on (_account, _source_file): on a million
        rows that index cost a fifth of the import.
        """
        table = quote(layout)
        key = (layout, account, filename)
        sql = "SELECT first_rowid, last_rowid FROM sources WHERE layout = ? AND account = ? AND source_file = ?"
        async with db.execute(sql, key) as cur:
            previous = await cur.fetchone()
        if previous is not None:
            await db.execute(
                f"DELETE FROM {table} WHERE rowid BETWEEN ? AND ? AND _account = ? AND _source_file = ?",
                (*previous, account, filename),
            )
        return await self._max_rowid(db, layout) + 1

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
            "INSERT OR REPLACE INTO sources (layout, account, source_file, run_id, first_rowid,"
            " last_rowid) VALUES (?, ?, ?, ?, ?, ?)",
            (layout, account, filename, run_id, first_rowid, last),
        )

    async def _max_rowid(self, db: aiosqlite.Connection, layout: str) -> int:
        async with db.execute(f"SELECT coalesce(max(rowid), 0) FROM {quote(layout)}") as cur:
            return (await cur.fetchone())[0]

    def row_insert(self, layout: str, account: str, source_file: str, run_id: str) -> RowInsert:
        """The INSERT for one import: the three meta columns are the same on every row,
        so they are written as literals once instead of bound a million times."""
        names = [*self._layouts[layout], *META_COLUMNS]
        cols = ", ".join(quote(n) for n in names)
        width = len(self._layouts[layout])
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
        async with self.writer.execute(sql, (layout,)) as cur:
            for column, value in await cur.fetchall():
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
        self, layout: str, account: str, source_file: str, run_id: str
    ) -> StagedTable:
        """The scratch table a large file's parts are read into: this layout table's
        own columns, in its order, with the meta columns' values written in."""
        async with self.reader.execute(f"PRAGMA table_info({quote(layout)})") as cur:
            info = await cur.fetchall()
        meta = dict(zip(META_COLUMNS, (account, source_file, run_id), strict=True))
        wanted = set(self._layouts[layout])
        definitions, values, columns = [], [], []
        for _, name, sql_type, notnull, _, _ in info:
            definitions.append(f"{quote(name)} {sql_type}{' NOT NULL' if notnull else ''}")
            if name in meta:
                values.append(literal(meta[name]))
            elif name in wanted:
                values.append("?")
                columns.append(name)
            else:  # a column the layout no longer has
                values.append("NULL")
        return StagedTable(definitions, f"({', '.join(values)})", columns)

    async def copy_staged(self, db: aiosqlite.Connection, index: int, layout: str) -> None:
        """Copy the rows of attached scratch database `index`, in their order.

        Its table is this one's twin (see staged_table), which lets SQLite move whole
        records; a plain scan of a rowid table reads them in rowid order.
        """
        await db.execute(f"INSERT INTO {quote(layout)} SELECT * FROM staged{index}.{ROWS_TABLE}")

    async def staged_errors(
        self, db: aiosqlite.Connection, index: int, batch: int = 5000
    ) -> AsyncIterator[list[RowError]]:
        """The row errors of attached scratch database `index`, a batch at a time."""
        sql = f"SELECT line, column_name, value, message FROM staged{index}.{ERRORS_TABLE} ORDER BY rowid"
        async with db.execute(sql) as cur:
            while rows := await cur.fetchmany(batch):
                yield [RowError(*row) for row in rows]

    # -- runs ----------------------------------------------------------------------

    async def add_run(self, run_id: str, meta: Any, state: str = "queued") -> None:
        """Record a spooled file as a run; a second call for the same id does nothing."""
        async with self.transaction() as db:
            await db.execute(
                "INSERT OR IGNORE INTO runs (id, account, channel, sender, filename, state,"
                " received_at, attempts, sha256, idempotency_key, options)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    meta.account,
                    meta.channel,
                    meta.sender,
                    meta.filename,
                    state,
                    meta.received_at,
                    meta.attempts,
                    meta.sha256,
                    meta.idempotency_key,
                    options_text(meta.options),
                ),
            )

    async def update_run(
        self, run_id: str, db: aiosqlite.Connection | None = None, **fields: object
    ) -> None:
        assignments = ", ".join(f"{quote(k)} = ?" for k in fields)
        sql = f"UPDATE runs SET {assignments} WHERE id = ?"
        if db is not None:
            await db.execute(sql, (*fields.values(), run_id))
            return
        async with self.transaction() as tx:
            await tx.execute(sql, (*fields.values(), run_id))

    async def add_errors(
        self, db: aiosqlite.Connection, run_id: str, errors: Sequence[RowError]
    ) -> None:
        await db.executemany(
            'INSERT INTO run_errors (run_id, line, "column", value, message) VALUES (?, ?, ?, ?, ?)',
            [(run_id, e.line, e.column, e.value, e.message) for e in errors[:ERRORS_KEPT]],
        )

    async def replayed_run(
        self, account: str, key: str, filename: str, sha256: str, since: str, options: str
    ) -> dict[str, Any] | None:
        """The run an identical earlier request made: same Idempotency-Key, or the same
        file name, content and options received since `since`."""
        if key:
            sql = "SELECT * FROM runs WHERE account = ? AND idempotency_key = ? ORDER BY id LIMIT 1"
            params: tuple = (account, key)
        else:
            sql = (
                "SELECT * FROM runs WHERE account = ? AND sha256 = ? AND filename = ?"
                " AND received_at >= ? AND options = ? AND state != 'failed' AND dry_run = 0"
                " ORDER BY id LIMIT 1"
            )
            params = (account, sha256, filename, since, options)
        async with self.writer.execute(sql, params) as cur:
            row = await cur.fetchone()
        return dict(row) if row else None

    async def run_state(self, run_id: str) -> str | None:
        """The state as the writer sees it (used by recovery, which must not lag)."""
        async with self.writer.execute("SELECT state FROM runs WHERE id = ?", (run_id,)) as cur:
            row = await cur.fetchone()
        return row[0] if row else None

    async def get_run(self, run_id: str) -> dict[str, Any] | None:
        async with self.reader.execute("SELECT * FROM runs WHERE id = ?", (run_id,)) as cur:
            row = await cur.fetchone()
        return dict(row) if row else None

    async def list_runs(
        self, filters: Mapping[str, str | None], limit: int, offset: int = 0
    ) -> tuple[list[dict[str, Any]], int]:
        """Runs matching `filters` (field = value), newest first, and how many match."""
        where, params = _where(filters)
        async with self.reader.execute(f"SELECT count(*) FROM runs {where}", params) as cur:
            total = (await cur.fetchone())[0]
        sql = f"SELECT * FROM runs {where} ORDER BY received_at DESC, id DESC LIMIT ? OFFSET ?"
        async with self.reader.execute(sql, (*params, limit, offset)) as cur:
            rows = [dict(row) for row in await cur.fetchall()]
        return rows, total

    async def run_errors(self, run_id: str, limit: int = ERRORS_KEPT) -> list[RowError]:
        sql = 'SELECT line, "column", value, message FROM run_errors WHERE run_id = ? ORDER BY rowid LIMIT ?'
        async with self.reader.execute(sql, (run_id, limit)) as cur:
            return [RowError(*row) for row in await cur.fetchall()]

    async def runs_to_report(self) -> list[dict[str, Any]]:
        async with self.writer.execute("SELECT * FROM runs WHERE report_state = 'pending'") as cur:
            return [dict(row) for row in await cur.fetchall()]


def options_text(options: Mapping[str, Any]) -> str:
    """A request's import options as one comparable text."""
    return json.dumps(options, sort_keys=True, ensure_ascii=False)


def public_run(row: Mapping[str, Any]) -> dict[str, Any]:
    """A run as the API and `renkei runs --json` show it."""
    run = {field: row[field] for field in RUN_FIELDS}
    run["dry_run"] = bool(run["dry_run"])
    return run


def _where(filters: Mapping[str, str | None]) -> tuple[str, tuple[str, ...]]:
    items = [(k, v) for k, v in filters.items() if v is not None and k in RUN_FIELDS]
    if not items:
        return "", ()
    return "WHERE " + " AND ".join(f"{quote(k)} = ?" for k, _ in items), tuple(v for _, v in items)


async def _connect(path: Path) -> aiosqlite.Connection:
    db = await aiosqlite.connect(path, isolation_level=None)
    db.row_factory = aiosqlite.Row
    # FULL: a commit survives power loss, because the spooled copy is deleted after it.
    for pragma in (
        "busy_timeout = 30000",
        "synchronous = FULL",
        "foreign_keys = ON",
        "cache_size = -16384",
        "temp_store = MEMORY",
    ):
        await db.execute(f"PRAGMA {pragma}")
    return db


async def _migrate(db: aiosqlite.Connection) -> None:
    # Read the version inside the write lock: a `renkei import` may start beside the daemon.
    await db.execute("BEGIN IMMEDIATE")
    try:
        async with db.execute("PRAGMA user_version") as cur:
            version = (await cur.fetchone())[0]
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            for statement in filter(str.strip, script.split(";")):
                await db.execute(statement)
            await db.execute(f"PRAGMA user_version = {number}")
    except BaseException:
        await db.rollback()
        raise
    await db.commit()
