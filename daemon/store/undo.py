"""Undo (取込取消): what a run changed, kept so it can be taken back, and the taking back.

A mixin of Store. The writer keeps, in the run's own transaction, the
before-images of the rows the run replaced (replace_file: the previous version of the
logical file, copied by one INSERT … SELECT), updated or deleted (keyed modes), and the
`sources` entries it replaced; the rows it inserted need nothing, as they carry its
`_run_id`. An undo (`renkei undo`, `POST /api/v1/runs/{id}/undo`) removes the run's rows,
puts the before-images back and records itself as a run whose `undo_of` names the run,
all in one transaction. It refuses (`run_rows_edited`) when the Records API changed a
row the run wrote or removed since: the undo would keep that row, or restore a key
beside it.

Only the latest run can be undone, so only the latest run's images are kept: a run
that commits drops those of the runs it makes undoable no more (`_BLOCKS`). A later
run blocks an earlier one of the same account and layout when either is keyed (they
may have touched the same rows) or both are of the same logical file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, NamedTuple

import aiosqlite

from daemon.store.images import image_columns, table_columns
from daemon.store.keyed import KEYED
from daemon.store.records import SOURCE
from daemon.store.sql import literal, quote
from importers.messages import Words, words_json

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager

_KEYED = ", ".join(literal(m) for m in KEYED)
# Run `u` is blocked by (may no longer be undone after) a run of mode ? and file ?.
_BLOCKS = f"(u.mode IN ({_KEYED}) OR ? IN ({_KEYED}) OR u.logical_file = ? COLLATE NOCASE)"
# A run's before-images (`Images`): those in the rowid range it wrote them in that
# carry its run_id or, where the range is the run's alone (SQLite's), none.
_IMAGES = "u.rowid > ? AND u.rowid <= ? AND (u.run_id = ? OR u.run_id IS NULL AND ? = 1)"
# Modes whose before-images are rows the run updated where they lay (they hold its
# run_id since); the others' are rows it removed.
_IN_PLACE = ("upsert", "set")
SHOWN_KEYS = 5  # how many edited rows' keys a refusal names


class Images(NamedTuple):
    """The parameters of _IMAGES for one run."""

    after: int
    last: int
    run_id: str
    ranged: int  # 1: the range is the run's alone where its images carry no run_id


def _images_of(run_id: str, after: int | None, last: int | None) -> Images:
    """A run_undo record's images. One kept before the ranges were recorded has none
    (NULL): its images are found by their run_id alone."""
    if after is None or last is None:
        return Images(-1, 2**63 - 1, run_id, 0)
    return Images(after, last, run_id, 1)


class UndoRefusal(StrEnum):
    NOT_COMPLETED = "run_not_completed"  # queued, running, failed, ignored
    DRY_RUN = "run_dry_run"  # it changed nothing
    ALREADY_UNDONE = "run_already_undone"
    NOT_LATEST = "run_not_latest"  # a later run of its file (or keyed, its layout)
    NOT_KEPT = "undo_not_kept"  # older than undo, an undo itself, or its images dropped
    ROWS_EDITED = "run_rows_edited"  # rows it wrote or removed were changed since (Records API)
    SEND = "send_not_undoable"  # its rows went to a receiver: nothing here to take back


@dataclass(frozen=True, slots=True)
class Undone:
    """An undo's outcome: the undo run and its counts, or why there is none (`other`
    names the run that undid it, or the later run that blocks it)."""

    run_id: str | None
    deleted: int = 0
    restored: int = 0
    refusal: UndoRefusal | None = None
    other: str | Words = ""


@dataclass(frozen=True, slots=True)
class UndoRun:
    """Who asks for an undo, and the new run it becomes."""

    id: str
    channel: str  # cli | api
    sender: str
    at: str  # UTC ISO 8601, as the run times are written
    language: str = "ja"  # of its message (report.language); its words are kept too


def _key_text(values: Sequence[object]) -> str:
    """A key as the Records API's path names it: its values joined by `,`."""
    return ",".join("" if v is None else str(v) for v in values)


class UndoRecords:
    instance: str
    reader: aiosqlite.Connection
    writer: aiosqlite.Connection

    if TYPE_CHECKING:

        def transaction(self) -> AbstractAsyncContextManager[aiosqlite.Connection]: ...

        async def _max_rowid(self, db: aiosqlite.Connection, layout: str) -> int: ...

    async def keep_sources(
        self, db: aiosqlite.Connection, run_id: str, entries: Sequence[Sequence[object]]
    ) -> None:
        """The `sources` entries (source_file, owner run, first, last) `run_id` replaced."""
        await db.executemany(
            "INSERT INTO undo_sources (run_id, source_file, owner_run, first_rowid, last_rowid)"
            " VALUES (?, ?, ?, ?, ?)",
            [(run_id, *entry) for entry in entries],
        )

    async def keep_undo(
        self,
        db: aiosqlite.Connection,
        layout: str,
        account: str,
        logical: str,
        mode: str,
        run_id: str,
        images_after: int,
    ) -> None:
        """At a run's commit: its images, those written since `images_after`
        (undo_mark), are kept; those of the runs it blocks go."""
        where = f"u.layout = ? AND u.account = ? AND u.kept = 1 AND {_BLOCKS}"
        await self.drop_kept(db, where, (layout, account, mode, logical))
        columns = json.dumps(await table_columns(db, layout), ensure_ascii=False)
        images_last = await self.undo_mark(db)
        # Delete, then insert (not an upsert): a record written again takes a new seq.
        await db.execute("DELETE FROM run_undo WHERE run_id = ?", (run_id,))
        await db.execute(
            "INSERT INTO run_undo (run_id, layout, account, logical_file, mode, columns,"
            " images_after, images_last) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (run_id, layout, account, logical, mode, columns, images_after, images_last),
        )

    async def undo_mark(self, db: aiosqlite.Connection) -> int:
        """The last before-image's rowid: taken in a run's transaction before it keeps
        any, it bounds the range the run's own will lie in (only one transaction
        writes at a time on SQLite; on PostgreSQL the run_id tells others apart)."""
        rows = await db.execute_fetchall("SELECT coalesce(max(rowid), 0) FROM undo_images")
        return int(rows[0][0])

    async def drop_kept(
        self, db: aiosqlite.Connection, where: str, params: Sequence[object]
    ) -> None:
        """Drop the images (and sources) kept by the runs of the run_undo records
        (`u`) `where` selects."""
        sql = f"SELECT u.run_id, u.images_after, u.images_last FROM run_undo AS u WHERE {where}"
        rows = await db.execute_fetchall(sql, params)
        await self._drop_images(db, [_images_of(*row) for row in rows])

    async def _drop_images(self, db: aiosqlite.Connection, images: Sequence[Images]) -> None:
        """The images of runs, and what else they kept."""
        if not images:
            return
        await db.executemany(f"DELETE FROM undo_images AS u WHERE {_IMAGES}", images)
        params = [(kept.run_id,) for kept in images]
        await db.executemany("DELETE FROM undo_sources WHERE run_id = ?", params)
        await db.executemany("UPDATE run_undo SET kept = 0 WHERE run_id = ?", params)

    async def undo_run(
        self,
        run_id: str,
        undo: UndoRun,
        keys: Mapping[str, Sequence[str]] | None = None,
    ) -> Undone:
        """Take back what `run_id` changed, as the run `undo`, in one transaction.
        `keys`, the layouts' key columns, lets a refusal for edited rows name them and
        find rows created since with a key the run removed."""
        async with self.transaction() as db:
            record = await self._undo_record(db, run_id)
            if record is not None:
                # On a shared store, another instance's undo of the run or import into
                # the layout runs before or after this one, never beside it: the run is
                # read once the lock is held, as the one before left it.
                await self.lock_layout(db, record["layout"])
            rows = await db.execute_fetchall("SELECT * FROM runs WHERE id = ?", (run_id,))
            if not rows:  # swept since the caller found it
                return Undone(None, refusal=UndoRefusal.NOT_KEPT)
            run = dict(rows[0])
            refused = await self._refusal(db, run, record)
            if refused is not None:
                return refused
            assert record is not None
            layout, account = record["layout"], record["account"]
            images = _images_of(run_id, record["images_after"], record["images_last"])
            key = (keys or {}).get(layout, ())
            refused = await self._edited(db, run, record, images, key)
            if refused is not None:
                return refused
            deleted = await self._remove_rows(db, layout, account, run_id)
            restored = await self._restore(
                db, layout, account, images, json.loads(record["columns"])
            )
            if record["mode"] in _IN_PLACE:
                # Each row the run updated was removed and its image put back: it is
                # restored, not lost. Counted twice, an upsert of few new rows read as
                # if the undo had deleted the table.
                deleted -= restored
            await self._forget_choices(db, layout, run_id)
            await self._add_undo_run(db, run, undo, deleted, restored)
            await db.execute("UPDATE runs SET undone_by = ? WHERE id = ?", (undo.id, run_id))
            await self._drop_images(db, [images])
        return Undone(undo.id, deleted, restored)

    async def undo_refusal(self, run: dict[str, Any]) -> Undone | None:
        """Why an undo of `run` would be refused as the runs stand now, read without
        the write lock (the console offers the undo only when none). An undo may still
        be refused for rows edited since (run_rows_edited), which only it reads."""
        record = await self._undo_record(self.reader, run["id"])
        return await self._refusal(self.reader, run, record)

    async def _undo_record(self, db: aiosqlite.Connection, run_id: str) -> dict[str, Any] | None:
        rows = await db.execute_fetchall("SELECT * FROM run_undo WHERE run_id = ?", (run_id,))
        return dict(rows[0]) if rows else None

    async def _refusal(
        self, db: aiosqlite.Connection, run: dict[str, Any], record: dict[str, Any] | None
    ) -> Undone | None:
        """Why `run` may not be undone, checked inside the undo's transaction."""
        if run["direction"] == "send":  # said as what it is, not as "not kept"
            return Undone(None, refusal=UndoRefusal.SEND)
        if run["state"] != "completed":
            return Undone(None, refusal=UndoRefusal.NOT_COMPLETED)
        if run["dry_run"]:
            return Undone(None, refusal=UndoRefusal.DRY_RUN)
        if run["undone_by"]:
            return Undone(None, refusal=UndoRefusal.ALREADY_UNDONE, other=run["undone_by"])
        if record is None:
            return Undone(None, refusal=UndoRefusal.NOT_KEPT)
        # Runs since undone changed nothing that is still there. Named: the latest of
        # the others, the one run of them that can still be undone.
        sql = (
            f"SELECT u.run_id FROM run_undo AS u JOIN runs AS r ON r.id = u.run_id"
            f" WHERE u.layout = ? AND u.account = ? AND u.seq > ? AND r.undone_by IS NULL"
            f" AND {_BLOCKS} ORDER BY u.seq DESC LIMIT 1"
        )
        params = (record["layout"], record["account"], record["seq"], record["mode"])
        later = await db.execute_fetchall(sql, (*params, record["logical_file"]))
        if later:
            return Undone(None, refusal=UndoRefusal.NOT_LATEST, other=later[0][0])
        if not record["kept"]:
            return Undone(None, refusal=UndoRefusal.NOT_KEPT)
        return None

    async def _edited(
        self,
        db: aiosqlite.Connection,
        run: dict[str, Any],
        record: dict[str, Any],
        images: Images,
        key: Sequence[str],
    ) -> Undone | None:
        """A refusal when rows the run wrote or removed were changed since by other
        than an import (a later import refuses as NOT_LATEST): the Records API stamps
        a row it edits as its own, so the undo would keep it, and a row it creates
        with a key the run removed would stand beside the restored one. Checked in
        the undo's transaction, so no edit slips in between."""
        layout, account = record["layout"], record["account"]
        in_place = record["mode"] in _IN_PLACE
        sql = f"SELECT count(*) FROM {quote(layout)} WHERE _account = ? AND _run_id = ?"
        held = (await db.execute_fetchall(sql, (account, run["id"])))[0][0]
        wrote = int(run["rows_inserted"]) + (await self._image_count(db, images) if in_place else 0)
        named = await self._edited_keys(db, record, images, key) if key else []
        changed = max(wrote - int(held), len(named))
        if not changed:
            return None
        if named:
            more = " …" if changed > min(len(named), SHOWN_KEYS) else ""
            shown = " / ".join(named[:SHOWN_KEYS]) + more
            said = Words("undo.edited.keys", {"layout": layout, "keys": shown})
        else:
            said = Words("undo.edited.rows", {"layout": layout, "count": changed})
        return Undone(None, refusal=UndoRefusal.ROWS_EDITED, other=said)

    async def _image_count(self, db: aiosqlite.Connection, images: Images) -> int:
        sql = f"SELECT count(*) FROM undo_images AS u WHERE {_IMAGES}"
        return int((await db.execute_fetchall(sql, images))[0][0])

    async def _edited_keys(
        self, db: aiosqlite.Connection, record: dict[str, Any], images: Images, key: Sequence[str]
    ) -> list[str]:
        """The keys of the run's before-images whose row was changed since: one it
        updated in place that no longer holds its run_id, or one whose key a row the
        Records API wrote holds now. For a replace, only rows from the run's own on
        count: an older file's row may share the key (replace_file keys on the file)."""
        layout, columns = record["layout"], json.loads(record["columns"])
        if not set(key) <= set(columns):  # a key added to the layout since the run
            return []
        cells = await self.image_cells(db, layout, columns)
        key_cells = [cells[columns.index(k)] for k in key]
        table = quote(layout)
        pairs = list(zip(key, key_cells, strict=True))
        # By `=`, which the key's index answers: PostgreSQL looks no index up by IS NOT
        # DISTINCT FROM, and read the whole table for every before-image (minutes for
        # an undo of thousands of rows). An image with an empty key cell, which `=`
        # never matches, is looked for the slow way, alone.
        equal = " AND ".join(f"t.{quote(k)} = {cell}" for k, cell in pairs)
        same = " AND ".join(f"t.{quote(k)} IS NOT DISTINCT FROM {cell}" for k, cell in pairs)
        empty = " OR ".join(f"{cell} IS NULL" for _, cell in pairs)
        written = "t._account = ? AND t._run_id != ? AND t._source_file = ? AND t.rowid >= ?"
        again = (
            f"EXISTS (SELECT 1 FROM {table} AS t WHERE {written} AND {equal})"
            f" OR (({empty}) AND EXISTS (SELECT 1 FROM {table} AS t WHERE {written} AND {same}))"
        )
        first = await self._first_rowid(db, record)
        by_row = [record["account"], images.run_id, SOURCE, first]
        params: list[object] = [*images, *by_row, *by_row]
        if record["mode"] in _IN_PLACE:
            again += (
                f" OR NOT EXISTS (SELECT 1 FROM {table} AS t"
                f" WHERE t.rowid = u.old_rowid AND t._run_id = ?)"
            )
            params.append(images.run_id)
        sql = (
            f"SELECT DISTINCT {', '.join(key_cells)} FROM undo_images AS u"
            f" WHERE {_IMAGES} AND ({again}) LIMIT {SHOWN_KEYS + 1}"
        )
        found = await db.execute_fetchall(sql, params)
        return [_key_text(row) for row in found]

    async def _first_rowid(self, db: aiosqlite.Connection, record: dict[str, Any]) -> int:
        """Where a replace's own rows begin (the rows after it are newer); 0 else."""
        sql = "SELECT min(first_rowid) FROM sources WHERE layout = ? AND account = ? AND run_id = ?"
        found = await db.execute_fetchall(
            sql, (record["layout"], record["account"], record["run_id"])
        )
        first = found[0][0] if found else None
        return int(first) if first is not None and record["mode"] == "replace_file" else 0

    async def _remove_rows(
        self, db: aiosqlite.Connection, layout: str, account: str, run_id: str
    ) -> int:
        """The rows the run inserted, or updated (keyed: they carry its id now)."""
        # A scan of the layout's table: no index on _run_id, which every import
        # would pay for; an undo is rare.
        sql = f"DELETE FROM {quote(layout)} WHERE _account = ? AND _run_id = ?"
        deleted = (await db.execute(sql, (account, run_id))).rowcount
        await db.execute(
            "DELETE FROM sources WHERE layout = ? AND account = ? AND run_id = ?",
            (layout, account, run_id),
        )
        return deleted

    async def _forget_choices(self, db: aiosqlite.Connection, layout: str, run_id: str) -> None:
        """The choice values the run learned (`on_unknown = "create"`) are allowed no
        more, unless a row still holds one (another account's, imported since)."""
        sql = "SELECT DISTINCT column_name FROM choice_values WHERE layout = ? AND run_id = ?"
        for (column,) in await db.execute_fetchall(sql, (layout, run_id)):
            held = (
                f"SELECT 1 FROM {quote(layout)} AS t WHERE t.{quote(column)} = choice_values.value"
            )
            await db.execute(
                "DELETE FROM choice_values WHERE layout = ? AND run_id = ? AND column_name = ?"
                f" AND NOT EXISTS ({held})",
                (layout, run_id, column),
            )

    async def _restore(
        self,
        db: aiosqlite.Connection,
        layout: str,
        account: str,
        images: Images,
        columns: list[str],
    ) -> int:
        """Put the before-images back at their own rowids, so the `sources` ranges they
        lay in hold them again; one whose rowid another row took since gets a new one."""
        table = quote(layout)
        names = ", ".join(quote(c) for c in columns)
        cells = ", ".join(await self.image_cells(db, layout, columns))
        taken_sql = (
            f"SELECT u.rowid FROM undo_images AS u WHERE {_IMAGES}"
            f" AND EXISTS (SELECT 1 FROM {table} AS t WHERE t.rowid = u.old_rowid)"
        )
        taken = json.dumps([row[0] for row in await db.execute_fetchall(taken_sql, images)])
        source = f"FROM undo_images AS u WHERE {_IMAGES} AND u.rowid"
        own = f"{source} NOT IN ({self.undo_id_list}) ORDER BY u.rowid"
        moved = f"{source} IN ({self.undo_id_list}) ORDER BY u.rowid"
        restored = (
            await db.execute(
                f"INSERT INTO {table} (rowid, {names}) SELECT u.old_rowid, {cells} {own}",
                (*images, taken),
            )
        ).rowcount
        restored += (
            await db.execute(
                f"INSERT INTO {table} ({names}) SELECT {cells} {moved}", (*images, taken)
            )
        ).rowcount
        await self._restore_sources(db, layout, account, images.run_id, taken != "[]")
        return restored

    # The rowids of a JSON array bound as one parameter, as a subquery.
    undo_id_list = "SELECT value FROM json_each(?)"

    async def image_cells(
        self, db: aiosqlite.Connection, layout: str, columns: Sequence[str]
    ) -> list[str]:
        """The SQL of each column's value in a before-image `u` (images.py): its own
        cell, or in an image kept as JSON, the array's item."""
        return [
            f"CASE WHEN u.image IS NULL THEN u.{cell} ELSE json_extract(u.image, '$[{i}]') END"
            for i, cell in enumerate(await image_columns(db, len(columns)))
        ]

    async def _restore_sources(
        self, db: aiosqlite.Connection, layout: str, account: str, run_id: str, moved: bool
    ) -> None:
        # A moved row lies past the old range: widen it (the range is read with _run_id).
        top = await self._max_rowid(db, layout) if moved else 0
        await db.execute(
            "INSERT INTO sources (layout, account, source_file, run_id, first_rowid,"
            " last_rowid) SELECT ?, ?, source_file, owner_run, first_rowid, max(last_rowid, ?)"
            " FROM undo_sources WHERE run_id = ? ON CONFLICT (layout, account, source_file,"
            " run_id) DO UPDATE SET first_rowid = excluded.first_rowid,"
            " last_rowid = excluded.last_rowid",
            (layout, account, top, run_id),
        )

    async def _add_undo_run(
        self,
        db: aiosqlite.Connection,
        run: dict[str, Any],
        undo: UndoRun,
        deleted: int,
        restored: int,
    ) -> None:
        words = Words("run.undo", {"run_id": run["id"], "deleted": deleted, "restored": restored})
        await db.execute(
            "INSERT INTO runs (id, account, channel, sender, filename, layout, state,"
            " rows_deleted, rows_inserted, mode, message, said, received_at, started_at,"
            " finished_at, undo_of, instance)"
            " VALUES (?, ?, ?, ?, ?, ?, 'completed', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                undo.id,
                run["account"],
                undo.channel,
                undo.sender,
                run["filename"],
                run["layout"],
                deleted,
                restored,
                run["mode"],
                words.say(undo.language),
                words_json(words),
                undo.at,
                undo.at,
                undo.at,
                run["id"],
                self.instance,
            ),
        )
