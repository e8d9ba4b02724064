"""Undo (取込取消): what a run changed, kept so it can be taken back, and the taking back.

A mixin of Store. The writer keeps, in the run's own transaction, the
before-images of the rows the run replaced (replace_file: the previous version of the
logical file, copied by one INSERT … SELECT), updated or deleted (keyed modes), and the
`sources` entries it replaced; the rows it inserted need nothing, as they carry its
`_run_id`. An undo (`renkei undo`, `POST /api/v1/runs/{id}/undo`) removes the run's rows,
puts the before-images back and records itself as a run whose `undo_of` names the run,
all in one transaction.

Only the latest run can be undone, so only the latest run's images are kept: a run
that commits drops those of the runs it makes undoable no more (`_BLOCKS`). A later
run blocks an earlier one of the same account and layout when either is keyed (they
may have touched the same rows) or both are of the same logical file.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import aiosqlite

from daemon.store.images import table_columns
from daemon.store.keyed import KEYED
from daemon.store.sql import literal, quote

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager

_KEYED = ", ".join(literal(m) for m in KEYED)
# Run `u` is blocked by (may no longer be undone after) a run of mode ? and file ?.
_BLOCKS = f"(u.mode IN ({_KEYED}) OR ? IN ({_KEYED}) OR u.logical_file = ? COLLATE NOCASE)"


class UndoRefusal(StrEnum):
    NOT_COMPLETED = "run_not_completed"  # queued, running, failed, ignored
    DRY_RUN = "run_dry_run"  # it changed nothing
    ALREADY_UNDONE = "run_already_undone"
    NOT_LATEST = "run_not_latest"  # a later run of its file (or keyed, its layout)
    NOT_KEPT = "undo_not_kept"  # older than undo, an undo itself, or its images dropped


@dataclass(frozen=True, slots=True)
class Undone:
    """An undo's outcome: the undo run and its counts, or why there is none (`other`
    names the run that undid it, or the later run that blocks it)."""

    run_id: str | None
    deleted: int = 0
    restored: int = 0
    refusal: UndoRefusal | None = None
    other: str = ""


@dataclass(frozen=True, slots=True)
class UndoRun:
    """Who asks for an undo, and the new run it becomes."""

    id: str
    channel: str  # cli | api
    sender: str
    at: str  # UTC ISO 8601, as the run times are written


class UndoRecords:
    instance: str
    writer: aiosqlite.Connection

    if TYPE_CHECKING:

        def transaction(self) -> AbstractAsyncContextManager[aiosqlite.Connection]: ...

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
    ) -> None:
        """At a run's commit: its images are kept; those of the runs it blocks go."""
        sql = (
            f"SELECT u.run_id FROM run_undo AS u WHERE u.layout = ? AND u.account = ?"
            f" AND u.kept = 1 AND {_BLOCKS}"
        )
        rows = await db.execute_fetchall(sql, (layout, account, mode, logical))
        await self._drop_images(db, [row[0] for row in rows])
        columns = json.dumps(await table_columns(db, layout), ensure_ascii=False)
        # Delete, then insert (not an upsert): a record written again takes a new seq.
        await db.execute("DELETE FROM run_undo WHERE run_id = ?", (run_id,))
        await db.execute(
            "INSERT INTO run_undo (run_id, layout, account, logical_file, mode, columns)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (run_id, layout, account, logical, mode, columns),
        )

    async def _drop_images(self, db: aiosqlite.Connection, run_ids: Sequence[str]) -> None:
        params = [(run_id,) for run_id in run_ids]
        await db.executemany("DELETE FROM undo_rows WHERE run_id = ?", params)
        await db.executemany("DELETE FROM undo_sources WHERE run_id = ?", params)
        await db.executemany("UPDATE run_undo SET kept = 0 WHERE run_id = ?", params)

    async def undo_run(
        self, run_id: str, undo: UndoRun, describe: Callable[[int, int], str]
    ) -> Undone:
        """Take back what `run_id` changed, as the run `undo`, in one transaction;
        `describe(deleted, restored)` is the undo run's message."""
        async with self.transaction() as db:
            rows = await db.execute_fetchall("SELECT * FROM runs WHERE id = ?", (run_id,))
            if not rows:  # swept since the caller found it
                return Undone(None, refusal=UndoRefusal.NOT_KEPT)
            run = dict(rows[0])
            record = await self._undo_record(db, run_id)
            refused = await self._refusal(db, run, record)
            if refused is not None:
                return refused
            assert record is not None
            layout, account = record["layout"], record["account"]
            deleted = await self._remove_rows(db, layout, account, run_id)
            restored = await self._restore(
                db, layout, account, run_id, json.loads(record["columns"])
            )
            await self._add_undo_run(db, run, undo, deleted, restored, describe(deleted, restored))
            await db.execute("UPDATE runs SET undone_by = ? WHERE id = ?", (undo.id, run_id))
            await self._drop_images(db, [run_id])
        return Undone(undo.id, deleted, restored)

    async def _undo_record(self, db: aiosqlite.Connection, run_id: str) -> dict[str, Any] | None:
        rows = await db.execute_fetchall("SELECT * FROM run_undo WHERE run_id = ?", (run_id,))
        return dict(rows[0]) if rows else None

    async def _refusal(
        self, db: aiosqlite.Connection, run: dict[str, Any], record: dict[str, Any] | None
    ) -> Undone | None:
        """Why `run` may not be undone, checked inside the undo's transaction."""
        if run["state"] != "completed":
            return Undone(None, refusal=UndoRefusal.NOT_COMPLETED)
        if run["dry_run"]:
            return Undone(None, refusal=UndoRefusal.DRY_RUN)
        if run["undone_by"]:
            return Undone(None, refusal=UndoRefusal.ALREADY_UNDONE, other=run["undone_by"])
        if record is None:
            return Undone(None, refusal=UndoRefusal.NOT_KEPT)
        # Runs since undone changed nothing that is still there.
        sql = (
            f"SELECT u.run_id FROM run_undo AS u JOIN runs AS r ON r.id = u.run_id"
            f" WHERE u.layout = ? AND u.account = ? AND u.seq > ? AND r.undone_by IS NULL"
            f" AND {_BLOCKS} ORDER BY u.seq LIMIT 1"
        )
        params = (record["layout"], record["account"], record["seq"], record["mode"])
        later = await db.execute_fetchall(sql, (*params, record["logical_file"]))
        if later:
            return Undone(None, refusal=UndoRefusal.NOT_LATEST, other=later[0][0])
        if not record["kept"]:
            return Undone(None, refusal=UndoRefusal.NOT_KEPT)
        return None

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

    async def _restore(
        self, db: aiosqlite.Connection, layout: str, account: str, run_id: str, columns: list[str]
    ) -> int:
        """Put the before-images back at their own rowids, so the `sources` ranges they
        lay in hold them again; one whose rowid another row took since gets a new one."""
        table = quote(layout)
        names = ", ".join(quote(c) for c in columns)
        cells = ", ".join(await self.image_cells(db, layout, columns))
        taken_sql = (
            f"SELECT u.rowid FROM undo_rows AS u WHERE u.run_id = ?"
            f" AND EXISTS (SELECT 1 FROM {table} AS t WHERE t.rowid = u.old_rowid)"
        )
        taken = json.dumps([row[0] for row in await db.execute_fetchall(taken_sql, (run_id,))])
        source = "FROM undo_rows AS u WHERE u.run_id = ? AND u.rowid"
        own = f"{source} NOT IN ({self.undo_id_list}) ORDER BY u.rowid"
        moved = f"{source} IN ({self.undo_id_list}) ORDER BY u.rowid"
        restored = (
            await db.execute(
                f"INSERT INTO {table} (rowid, {names}) SELECT u.old_rowid, {cells} {own}",
                (run_id, taken),
            )
        ).rowcount
        restored += (
            await db.execute(
                f"INSERT INTO {table} ({names}) SELECT {cells} {moved}", (run_id, taken)
            )
        ).rowcount
        await self._restore_sources(db, layout, account, run_id, taken != "[]")
        return restored

    # The rowids of a JSON array bound as one parameter, as a subquery.
    undo_id_list = "SELECT value FROM json_each(?)"

    async def image_cells(
        self, db: aiosqlite.Connection, layout: str, columns: Sequence[str]
    ) -> list[str]:
        """The SQL of each column's value in a before-image `u.image`."""
        return [f"json_extract(u.image, '$[{i}]')" for i in range(len(columns))]

    async def _restore_sources(
        self, db: aiosqlite.Connection, layout: str, account: str, run_id: str, moved: bool
    ) -> None:
        # A moved row lies past the old range: widen it (the range is read with _run_id).
        async with db.execute(f"SELECT coalesce(max(rowid), 0) FROM {quote(layout)}") as cur:
            top = (await cur.fetchone())[0] if moved else 0
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
        text: str,
    ) -> None:
        await db.execute(
            "INSERT INTO runs (id, account, channel, sender, filename, layout, state,"
            " rows_deleted, rows_inserted, mode, message, received_at, started_at,"
            " finished_at, undo_of, instance)"
            " VALUES (?, ?, ?, ?, ?, ?, 'completed', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                text,
                undo.at,
                undo.at,
                undo.at,
                run["id"],
                self.instance,
            ),
        )
