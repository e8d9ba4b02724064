"""Import modes: how a file's converted rows change the layout's table.

    replace_file  the rows this file name imported before are replaced (the default)
    insert        every row is added
    upsert        matched on the layout's key: a new key is inserted; an existing one
                  is skipped or updated (on_duplicate), blank cells kept or written (blank)
    delete        rows whose key is listed are deleted
    set           rows whose key is listed get fixed column values (set_values)

delete and set can miss: a listed key the table does not hold is counted not found.

Keyed modes touch only the account's own rows. Each chunk's rows (for delete and set,
its keys) go into a temporary table, from the reader's chunks or straight from a large
file's staged part; a key listed twice is resolved there, and the table's rows its
keys name are found once into a second temporary table. A range of a staged part that
lists no key twice is not copied: the chunk is a temporary view of it. Each step is then one
statement: keep the before-images for undo, update, insert what is new, delete, set.
Every statement runs in the run's transaction on the store's writer; the counts say
what happened to the table. The worker's plan picks the mode; this module only writes.
PostgreSQL loads the chunk by COPY and matches keys its own way (postgres/keyed.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from daemon.store.images import keep_rows_sql
from daemon.store.schema import META_COLUMNS
from daemon.store.sql import literal, quote

KeyedMode = Literal["upsert", "delete", "set"]
KEYED: tuple[KeyedMode, ...] = ("upsert", "delete", "set")
CHUNK = "renkei_keyed_chunk"  # the temporary table a chunk is loaded into
MATCHED = "renkei_keyed_matched"  # the table's rows the chunk's keys name
# What a cell of "spaces only" is made of, to blank = keep: the reader's str.isspace()
# in the characters files use (half- and full-width, tab, no-break space, line breaks).
BLANK_SPACES = " \t\r\n\u00a0\u3000"


@dataclass(slots=True)
class Counts:
    """What a run did to the table. `deleted` and a set's `updated` count the table's
    rows (a key may match several); the others count the file's rows."""

    inserted: int = 0
    updated: int = 0
    skipped: int = 0  # upsert, on_duplicate = skip: the key was there already
    deleted: int = 0
    not_found: int = 0  # delete and set: the table holds no row with the key


@dataclass(frozen=True, slots=True)
class RowStamp:
    """The meta columns every row of one import carries, and the logical file the
    import is (what same-name replace keys on; see importers/filenames.py)."""

    account: str
    source_file: str
    run_id: str
    logical_file: str = ""
    correction: bool = False  # a corrected error CSV: adds to the logical file's rows
    # When the file came (its run's received_at): a same-name replace never puts it
    # over the rows of a file of its name that came after it (another instance's).
    received_at: str = ""


class KeyedWriter:
    """Applies upsert, delete or set to rows, chunk by chunk, counting what changed.

    SQLite's: the chunk goes into a temporary table of the connection (in memory, as
    the store's temp_store says), with an index on its key. A store whose engine says
    some of it differently overrides `_column_types`, `_load`, `_create_chunk`,
    `_index_chunk`, `_match`, `_found` and `_update_sql`.
    """

    def __init__(
        self,
        layout: str,
        mode: KeyedMode,
        columns: Sequence[str],
        key: Sequence[str],
        stamp: RowStamp,
        on_duplicate: str = "update",
        blank: str = "overwrite",
        set_values: Mapping[str, str | None] | None = None,
    ) -> None:
        self.mode = mode
        self.on_duplicate = on_duplicate
        self.counts = Counts()
        self.layout, self.columns, self.key, self.stamp = layout, list(columns), list(key), stamp
        self.blank, self.set_values = blank, dict(set_values or {})
        self._key_at = [self.columns.index(k) for k in key]
        self._types: dict[str, str] | None = None  # the table's, at the first write
        self._keep = ""  # the before-image INSERT, made at its first use

    async def write(self, db: Any, rows: list[list[object]]) -> None:
        """Apply the mode to `rows` (the file's, in its order)."""
        if self._types is None:
            self._types = await self._column_types(db)
        at = range(len(self.columns)) if self.mode == "upsert" else self._key_at
        await self._load(db, self._loaded(), [[row[i] for i in at] for row in rows])
        await self._apply(db, len(rows))

    async def write_staged(
        self, db: Any, source: str, low: int, high: int, unique: bool = False
    ) -> None:
        """Apply the mode to the rows `low < rowid <= high` of `source`, a scratch
        table of the file's columns (staging.py) in its order, by statements alone, so
        no row passes through Python. A range that lists no key twice (`unique`: its
        reader found none in its part) is read where it lies (_view_staged); one that
        does is copied into the chunk table first, where _one_per_key resolves it."""
        if self._types is None:
            self._types = await self._column_types(db)
        columns = self._loaded()
        names = ", ".join(quote(c) for c in columns)
        if await self._view_staged(db, source, low, high, names, unique):
            [[listed]] = await db.execute_fetchall(f"SELECT count(*) FROM {CHUNK}")
            await self._apply(db, int(listed), repeats=False)
            return
        await self._create_chunk(db, columns)
        copied = await db.execute(
            f"INSERT INTO {CHUNK} (ord, {names}) SELECT rowid, {names} FROM {source}"
            " WHERE rowid > ? AND rowid <= ? ORDER BY rowid",
            (low, high),
        )
        await self._index_chunk(db)
        await self._apply(db, copied.rowcount)

    async def _view_staged(
        self, db: Any, source: str, low: int, high: int, names: str, unique: bool = False
    ) -> bool:
        """Make the chunk a view of the range (its `names` columns), unless it lists a
        key twice (False).

        Copying a range into the chunk table and indexing it was a fifth of an
        upsert's statements; a view costs neither, and the statements read the range
        by its rowids (the chunk's `ord`)."""
        keys = ", ".join(quote(k) for k in self.key)
        repeated = not unique and await db.execute_fetchall(
            f"SELECT 1 FROM {source} WHERE rowid > ? AND rowid <= ?"
            f" GROUP BY {keys} HAVING count(*) > 1 LIMIT 1",
            (low, high),
        )
        if repeated:
            return False
        await self._drop_chunk(db)
        # A temporary view may read an attached database; the bounds are integers.
        await db.execute(
            f"CREATE TEMP VIEW {CHUNK} AS SELECT rowid AS ord, {names} FROM {source}"
            f" WHERE rowid > {int(low)} AND rowid <= {int(high)}"
        )
        return True

    async def _drop_chunk(self, db: Any) -> None:
        """Whichever the last chunk was: a table, or a view of a staged range (each
        kind has its own DROP, which refuses the other)."""
        found = await db.execute_fetchall(
            "SELECT type FROM temp.sqlite_master WHERE name = ?", (CHUNK,)
        )
        for (kind,) in found:
            await db.execute(f"DROP {'VIEW' if kind == 'view' else 'TABLE'} temp.{CHUNK}")

    def _loaded(self) -> list[str]:
        """The columns a chunk holds: an upsert writes them all; delete and set need
        only the key."""
        return self.columns if self.mode == "upsert" else self.key

    async def _apply(self, db: Any, listed: int, repeats: bool = True) -> None:
        """The mode's statements for the chunk just loaded, its `listed` rows in the
        file's order (`ord`), a key perhaps more than once."""
        if self.mode == "upsert":
            await self._upsert(db, listed, repeats)
            return
        # As if the rows came one after the other: a key listed again is set again,
        # but deleted only once (the second time it is not found).
        found = await self._found(db)
        await self._one_per_key(db, repeats)
        await self._match(db)
        found_once = await self._matched_rows(db)
        await self._keep_images(db)
        table = quote(self.layout)
        if self.mode == "delete":
            sql = f"DELETE FROM {table} WHERE rowid IN (SELECT rid FROM {MATCHED})"
            self.counts.deleted += (await db.execute(sql)).rowcount
            self.counts.not_found += listed - found_once
            return
        fixed = [
            f"{quote(c)} = {'NULL' if v is None else literal(v)}"
            for c, v in self.set_values.items()
        ]
        sql = (
            f"UPDATE {table} SET {', '.join([*fixed, *self._stamp_sets()])}"
            f" WHERE rowid IN (SELECT rid FROM {MATCHED})"
        )
        self.counts.updated += (await db.execute(sql)).rowcount + found - found_once
        self.counts.not_found += listed - found

    async def _found(self, db: Any) -> int:
        """How many of the chunk's rows name a key the table holds."""
        table = quote(self.layout)
        rows = await db.execute_fetchall(
            f"SELECT count(*) FROM {CHUNK} AS k"
            f" WHERE EXISTS (SELECT 1 FROM {table} AS t WHERE {self._joined()})"
        )
        return int(rows[0][0])

    async def _upsert(self, db: Any, listed: int, repeats: bool = True) -> None:
        unique = listed - await self._one_per_key(db, repeats)
        await self._match(db)
        if self.on_duplicate == "update":
            await self._keep_images(db)
            sql = self._update_sql([c for c in self.columns if c not in self.key])
            self.counts.updated += (await db.execute(sql)).rowcount + listed - unique
        else:
            self.counts.skipped += listed - unique
        inserted = await self._insert_new(db, unique)
        self.counts.inserted += inserted
        if self.on_duplicate == "skip":
            self.counts.skipped += unique - inserted

    async def _insert_new(self, db: Any, unique: int) -> int:
        """Insert the chunk's rows whose key the table does not hold; how many."""
        # Every key there (a file sent again): nothing to insert, and looking for it
        # would cost a probe of the matched rows for every row of the chunk.
        if await self._matched_rows(db) == unique:
            return 0
        stamp = self.stamp
        names = [*self.columns, *META_COLUMNS]
        cells = [f"k.{quote(c)}" for c in self.columns]
        cells += [literal(stamp.account), literal(stamp.source_file), literal(stamp.run_id)]
        sql = (
            f"INSERT INTO {quote(self.layout)} ({', '.join(quote(n) for n in names)})"
            f" SELECT {', '.join(cells)} FROM {CHUNK} AS k"
            f" WHERE k.ord NOT IN (SELECT ord FROM {MATCHED}) ORDER BY k.ord"
        )
        return int((await db.execute(sql)).rowcount)

    async def _one_per_key(self, db: Any, repeats: bool = True) -> int:
        """Leave one row per key in the chunk, and say how many went. A key listed
        twice in one file behaves as if its rows came one after the other: when
        updating, the last row wins in the place of the first (inserted, then
        updated); when skipping, the first stays."""
        if not repeats:  # the chunk is known to list no key twice
            return 0
        keys = ", ".join(quote(k) for k in self.key)
        repeated = f"SELECT {{}} FROM {CHUNK} GROUP BY {keys} HAVING count(*) > 1"
        if not await db.execute_fetchall(repeated.format("1") + " LIMIT 1"):
            return 0
        if self.mode != "upsert" or self.on_duplicate != "update":
            sql = f"DELETE FROM {CHUNK} WHERE ord NOT IN (SELECT min(ord) FROM {CHUNK} GROUP BY {keys})"
            return int((await db.execute(sql)).rowcount)
        same = " AND ".join(
            f"c.{quote(k)} IS NOT DISTINCT FROM {CHUNK}.{quote(k)}" for k in self.key
        )
        # The last row takes the first's place, marked negative until the others go.
        await db.execute(
            f"UPDATE {CHUNK} SET ord = -1 - (SELECT min(c.ord) FROM {CHUNK} AS c WHERE {same})"
            f" WHERE ord IN ({repeated.format('max(ord)')})"
        )
        if self.blank == "keep":
            await db.execute(self._kept_from_earlier_rows(same))
        gone = await db.execute(
            f"DELETE FROM {CHUNK} WHERE ord >= 0"
            f" AND EXISTS (SELECT 1 FROM {CHUNK} AS c WHERE c.ord < 0 AND {same})"
        )
        await db.execute(f"UPDATE {CHUNK} SET ord = -1 - ord WHERE ord < 0")
        return int(gone.rowcount)

    def _kept_from_earlier_rows(self, same: str) -> str:
        """With blank = keep, the last row of a repeated key (marked negative) takes each
        blank cell from the latest earlier row of its key that has one: the rows came one
        after the other, and the last one's blanks keep what those before it set. (A cell
        blank in every row keeps the table's value: _new_value.)"""
        sets = []
        for column in (c for c in self.columns if c not in self.key):
            name = quote(column)
            mine, theirs = f"{CHUNK}.{name}", f"c.{name}"
            earlier = (
                f"SELECT {theirs} FROM {CHUNK} AS c WHERE c.ord >= 0 AND {same}"
                f" AND NOT {_blank(theirs)} ORDER BY c.ord DESC LIMIT 1"
            )
            sets.append(
                f"{name} = CASE WHEN {_blank(mine)} THEN coalesce(({earlier}), {mine})"
                f" ELSE {mine} END"
            )
        return f"UPDATE {CHUNK} SET {', '.join(sets)} WHERE ord < 0"

    def _update_sql(self, values: list[str]) -> str:
        """Update the matched rows' `values` columns from the chunk: each matched row
        (_match) by its rowid, with the chunk row that named it by the chunk's `ord`
        (its rowid, or the staged range's). Joined by the key instead, SQLite plans
        `UPDATE … FROM chunk` table first, reading every row of the account for
        every chunk."""
        table = quote(self.layout)
        sets = self._stamp_sets()
        if values:
            names = ", ".join(quote(c) for c in values)
            cells = ", ".join(self._new_value(c, f"{table}.{quote(c)}") for c in values)
            sets.insert(0, f"({names}) = ({cells})")
        return (
            f"UPDATE {table} SET {', '.join(sets)} FROM {MATCHED} AS m"
            f" JOIN {CHUNK} AS k ON k.ord = m.ord WHERE {table}.rowid = m.rid"
        )

    def _new_value(self, column: str, old: str) -> str:
        """A column's value after the update: the chunk's cell, or with blank = keep
        the `old` value where the cell is empty ('' or NULL)."""
        cell = f"k.{quote(column)}"
        if self.blank != "keep":
            return cell
        return f"CASE WHEN {_blank(cell)} THEN {old} ELSE {cell} END"

    async def _column_types(self, db: Any) -> dict[str, str]:
        return {
            row[1]: row[2]
            for row in await db.execute_fetchall(f"PRAGMA table_info({quote(self.layout)})")
        }

    async def _load(
        self, db: Any, columns: Sequence[str], rows: Sequence[Sequence[object]]
    ) -> None:
        """The chunk's rows into the temporary table, in their order (`ord`), each
        column with the table's type, so a cell is stored as the table would store it."""
        await self._create_chunk(db, columns)
        marks = ", ".join("?" * (len(columns) + 1))
        await db.executemany(
            f"INSERT INTO temp.{CHUNK} VALUES ({marks})",
            [(n, *row) for n, row in enumerate(rows)],
        )
        await self._index_chunk(db)

    async def _create_chunk(self, db: Any, columns: Sequence[str]) -> None:
        """An empty temporary table for a chunk of `columns`."""
        assert self._types is not None
        await self._drop_chunk(db)
        defs = [f"{quote(c)} {self._types.get(c, '')}" for c in columns]
        # `ord` is the rowid: the update finds each chunk row by it (_update_sql).
        await db.execute(f"CREATE TEMP TABLE {CHUNK} (ord INTEGER PRIMARY KEY, {', '.join(defs)})")

    async def _index_chunk(self, db: Any) -> None:
        """The chunk's key index, made once it is filled (one sort, not one insert
        into the index per row); with `ord`, it answers _one_per_key alone."""
        keys = ", ".join(quote(k) for k in self.key)
        await db.execute(f"CREATE INDEX temp.{CHUNK}_key ON {CHUNK} ({keys}, ord)")

    async def _keep_images(self, db: Any) -> None:
        """Before-images of the matched rows, about to change, for undo (images.py)."""
        if not self._keep:
            layout, run_id = self.layout, self.stamp.run_id
            self._keep = await keep_rows_sql(db, layout, run_id, "t.rowid = m.rid", MATCHED)
        await db.execute(self._keep)

    async def _matched_rows(self, db: Any) -> int:
        """How many of the chunk's rows _match found in the table (a key the table
        holds twice is still one row of the chunk)."""
        [[count]] = await db.execute_fetchall(f"SELECT count(DISTINCT ord) FROM {MATCHED}")
        return int(count)

    async def _match(self, db: Any) -> None:
        """Find the table's rows the chunk's keys name (after _one_per_key), once for
        every statement of the chunk: (rid, the row's rowid; ord, the chunk row's)."""
        await db.execute(f"DROP TABLE IF EXISTS {MATCHED}")
        await db.execute(
            f"CREATE TEMP TABLE {MATCHED} AS SELECT t.rowid AS rid, k.ord AS ord"
            f" {self._chunk_first()}"
        )

    def _chunk_first(self) -> str:
        """The table's rows that the chunk's keys match, the chunk read first: SQLite
        keeps a join's order under CROSS JOIN and then finds each key by the table's
        key index, where `table WHERE EXISTS (chunk …)` would read the whole table for
        every chunk. (PostgreSQL plans the join its own way.)"""
        return f"FROM {CHUNK} AS k CROSS JOIN {quote(self.layout)} AS t WHERE {self._joined()}"

    def _joined(self) -> str:
        owner = f"t.{quote('_account')} = {literal(self.stamp.account)}"
        keys = [f"t.{quote(k)} IS NOT DISTINCT FROM k.{quote(k)}" for k in self.key]
        return " AND ".join([owner, *keys])

    def _stamp_sets(self) -> list[str]:
        return [
            f"{quote('_source_file')} = {literal(self.stamp.source_file)}",
            f"{quote('_run_id')} = {literal(self.stamp.run_id)}",
        ]


def _blank(cell: str) -> str:
    """Whether `cell` is empty, as blank = keep reads it: '', NULL or spaces only (a
    text column keeps a cell of spaces as sent; a padded export's empty field)."""
    return f"rtrim(coalesce(CAST({cell} AS TEXT), ''), {literal(BLANK_SPACES)}) = ''"
