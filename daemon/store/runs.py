"""The run history: one row per accepted file in `runs`, its row errors in `run_errors`.

A mixin of Store (it needs the store's connections and write lock). Read by the
worker, the intake sink's delivery memory, the reporter, the web app and the CLI.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import aiosqlite

from daemon.store.sql import like_escaped, quote
from importers.errors import ERRORS_KEPT, RowError
from importers.messages import words_json, words_of

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager

    from daemon.spool.queue import Meta


# Every retry of the runs `marks` stands for, and every retry of one of those, …, each
# with the run it began from (`origin`); then those that completed.
_RETRIES = (
    "WITH RECURSIVE chain(origin, id) AS ("
    " SELECT retry_of, id FROM runs WHERE retry_of IN ({marks})"
    " UNION SELECT c.origin, r.id FROM runs AS r JOIN chain AS c ON r.retry_of = c.id)"
)
_COMPLETED_RETRY = "chain AS c JOIN runs AS r ON r.id = c.id WHERE r.state = 'completed'"
# The runs of an account whose error CSV is named so (its file under reports/<run id>/).
_ERROR_CSV_NAMED = "account = ? AND lower(error_report) = lower('reports/' || id || '/' || ?)"


class RunState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    ABORTED = "aborted"  # stopped part-way, rolled back; the file is imported again
    IGNORED = "ignored"  # the account is stopped


# runs.forward_state: the sends and calls of `after_import` still to be spooled.
FORWARD_PENDING, FORWARD_DONE = "pending", "done"


class ReportState(StrEnum):
    NONE = "none"  # no report for this run
    PENDING = "pending"  # committed with the run; not yet in the outbox
    QUEUED = "queued"  # in the outbox, waiting for the relay
    SENT = "sent"
    FAILED = "failed"  # refused for good; kept in outbox/failed/


FINAL_STATES = frozenset({RunState.COMPLETED, RunState.FAILED, RunState.IGNORED})
# Runs of what came in, not sends onward (daemon.outward).
RECEIVED = "direction = 'receive'"
# What nothing will touch again: a final state, or a send stopped part-way (強制終了),
# which unlike an aborted import is never taken up again.
_ENDED = "(state IN ({}) OR (state = 'aborted' AND direction = 'send'))".format(
    ", ".join(f"'{state}'" for state in sorted(FINAL_STATES))
)


def ended(run: Mapping[str, Any]) -> bool:
    """`_ENDED` of a run read: whether it is over, nothing to come of it. Its file and
    error CSV are then what they will stay."""
    if run.get("direction") == "send" and run["state"] == RunState.ABORTED:
        return True
    return run["state"] in FINAL_STATES


# Still to be imported: a retry of a run is not made twice while one of these is pending.
PENDING_STATES = (RunState.QUEUED, RunState.RUNNING, RunState.ABORTED)

# How a run came (or, `send`, went): what its `channel` may be.
CHANNELS = ("mail", "ftp", "api", "dropdir", "cli", "send")
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
    "rows_not_found",
    "rows_empty",
    "mode",
    "dry_run",
    "message",
    "received_at",
    "started_at",
    "finished_at",
    "report_state",
    "retry_of",
    "undo_of",
    "undone_by",
    "direction",
    "authentication_results",
    "instance",
]


def options_text(options: Mapping[str, Any]) -> str:
    """A delivery's import options as one comparable text."""
    return json.dumps(options, sort_keys=True, ensure_ascii=False)


def public_run(row: Mapping[str, Any]) -> dict[str, Any]:
    """A run as the API and `renkei runs --json` show it; a send's names its send."""
    run = {field: row[field] for field in RUN_FIELDS}
    run["dry_run"] = bool(run["dry_run"])
    run["send"] = send_name(row) or None
    return run


def public_error(error: RowError) -> dict[str, Any]:
    """A row error as the API shows it: its sentence in the config's language, not the
    words the console says it by."""
    return {
        "line": error.line,
        "column": error.column,
        "value": error.value,
        "message": error.message,
        "record": error.record,
    }


def send_name(run: Mapping[str, Any]) -> str:
    """The send (`[sends.NAME]`) a send run went out by, as its run kept it; "" for a
    run of what came in."""
    if run["direction"] != "send":
        return ""
    try:
        options = json.loads(run["options"] or "{}")
    except ValueError:  # written by hand, or cut: the run is still shown
        return ""
    name = options.get("send", "") if isinstance(options, dict) else ""
    return name if isinstance(name, str) else ""


def recorded_fields(run_id: str, meta: Meta, state: RunState, instance: str) -> dict[str, Any]:
    """The columns add_run() records of a spooled file; the others keep their defaults."""
    return {
        "id": run_id,
        "account": meta.account,
        "channel": meta.channel,
        "sender": meta.sender,
        "filename": meta.filename,
        "state": state,
        "received_at": meta.received_at,
        "attempts": meta.attempts,
        "sha256": meta.sha256,
        "size": meta.size,
        "idempotency_key": meta.idempotency_key,
        "options": options_text(meta.options),
        # As asked: the plan's (begin_run) once imported; a run ignored or refused
        # before it has a plan is still the dry run it was asked as.
        "dry_run": int(meta.options.get("dry_run") is True),
        "retry_of": meta.retry_of,
        "authentication_results": meta.authentication_results,
        "instance": instance,
        "file_key": meta.file_key,
    }


def queued_run(run_id: str, meta: Meta, instance: str) -> dict[str, Any]:
    """The row add_run() would record for a file still waiting in the spool: what a
    store that records runs at the door (PostgreSQL) shows of it, for one that records
    them only once the importer takes the file (SQLite). The columns it leaves to
    their defaults are those of the schema (schema.py)."""
    counts = dict.fromkeys((f for f in RUN_FIELDS if f.startswith("rows_")), 0)
    defaults = {
        "layout": "",
        "encoding": "",
        "mode": "replace_file",
        "dry_run": 0,
        "message": "",
        "started_at": None,
        "finished_at": None,
        "report_state": ReportState.NONE.value,
        "undo_of": None,
        "undone_by": None,
        "direction": "receive",
        "problem": "",
        "error_report": "",
        "forward_state": "",
    }
    recorded = recorded_fields(run_id, meta, RunState.QUEUED, instance)
    return counts | defaults | recorded | {"state": RunState.QUEUED.value}


class RunRecords:
    instance: str
    shared: bool
    writer: aiosqlite.Connection
    reader: aiosqlite.Connection

    if TYPE_CHECKING:

        def transaction(self) -> AbstractAsyncContextManager[aiosqlite.Connection]: ...

        async def drop_kept(  # undo.py
            self, db: aiosqlite.Connection, where: str, params: Sequence[object]
        ) -> None: ...

    async def add_run(self, run_id: str, meta: Meta, state: RunState = RunState.QUEUED) -> None:
        """Record a spooled file as a run; a second call for the same id does nothing."""
        async with self.transaction() as db:
            await self._insert_run(db, run_id, meta, state)

    async def _insert_run(
        self, db: aiosqlite.Connection, run_id: str, meta: Meta, state: RunState
    ) -> None:
        fields = recorded_fields(run_id, meta, state, self.instance)
        columns, marks = ", ".join(fields), ", ".join("?" * len(fields))
        await db.execute(
            f"INSERT OR IGNORE INTO runs ({columns}) VALUES ({marks})", tuple(fields.values())
        )

    async def begin_run(self, run_id: str, meta: Meta, **fields: object) -> None:
        """Record a spooled file as a run unless it is already, and set `fields` on it,
        in one commit (the importer taking a file: one sync where two were)."""
        async with self.transaction() as db:
            await self._insert_run(db, run_id, meta, RunState.QUEUED)
            if meta.sha256:
                # Recorded while it waited, by a door that spools without hashing.
                sql = "UPDATE runs SET sha256 = ? WHERE id = ? AND sha256 = ''"
                await db.execute(sql, (meta.sha256, run_id))
            await self.update_run(run_id, db, **fields)

    async def update_run(
        self, run_id: str, db: aiosqlite.Connection | None = None, **fields: object
    ) -> None:
        if "message" in fields and "said" not in fields:
            # A message given as text alone: the words of the one before go with it.
            fields["said"] = ""
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
        if not errors:
            return
        await db.executemany(
            'INSERT INTO run_errors (run_id, line, "column", value, message, said)'
            " VALUES (?, ?, ?, ?, ?, ?)",
            [
                (run_id, e.line, e.column, e.value, e.message, words_json(e.said))
                for e in errors[:ERRORS_KEPT]
            ],
        )

    async def run_by_key(self, account: str, key: str, since: str) -> str | None:
        """The first run (dry runs aside: a key tried by a dry run is still the real
        import's) a delivery with this idempotency key made since `since`."""
        # By the key's index: compared as it is, `received_at` took SQLite to the
        # account's index instead, through every run of the last day (3 ms at 20,000).
        sql = (
            "SELECT id FROM runs WHERE account = ? AND idempotency_key = ?"
            " AND coalesce(received_at, '') >= ? AND dry_run = 0 ORDER BY id LIMIT 1"
        )
        rows = await self._look_up(sql, (account, key, since))
        if not rows:  # a delivery answered with an earlier run of its content
            sql = (
                "SELECT run_id FROM delivery_keys"
                " WHERE account = ? AND idempotency_key = ? AND at >= ?"
            )
            rows = await self._look_up(sql, (account, key, since))
        return rows[0][0] if rows else None

    async def remember_key(self, account: str, key: str, run_id: str, at: str) -> None:
        """A delivery with this idempotency key was answered with `run_id`, an earlier
        run of the same content: its retry is answered so too (run_by_key)."""
        async with self.transaction() as db:
            await db.execute(
                "INSERT OR IGNORE INTO delivery_keys (account, idempotency_key, run_id, at)"
                " VALUES (?, ?, ?, ?)",
                (account, key, run_id, at),
            )

    async def latest_run_of_file(
        self, account: str, filename: str, file_key: str = ""
    ) -> dict[str, Any] | None:
        """The newest run (dry runs aside) of this account's logical file `file_key`,
        however its name was spelled (runs recorded without a key: by their name); with
        no `file_key`, of the name alone."""
        columns = "id, state, sha256, options, undone_by"
        received = f"{RECEIVED} AND dry_run = 0"
        # The name's runs, by the (account, filename) index; `length(file_key)` rather
        # than `file_key = ''`, which would take SQLite through every run recorded
        # without a key instead.
        by_name = f"SELECT {columns} FROM runs WHERE account = ? AND filename = ? AND {received}"
        if file_key:
            # Two indexed questions, not one with OR: SQLite answered that through
            # every run received (4.6 ms a delivery at 20,000 runs, on the doors' path).
            sql = (
                f"SELECT {columns} FROM runs WHERE account = ? AND file_key = ? AND {received}"
                f" UNION ALL {by_name} AND length(file_key) = 0 ORDER BY id DESC LIMIT 1"
            )
            params: tuple[str, ...] = (account, file_key, account, filename)
        else:
            sql, params = f"{by_name} ORDER BY id DESC LIMIT 1", (account, filename)
        rows = await self._look_up(sql, params)
        return dict(rows[0]) if rows else None

    async def corrected_file(self, account: str, name: str) -> str | None:
        """The logical file of the newest run of `account` whose error CSV is named
        `name`: the file a corrected copy sent back under that name corrects. Its name
        does not always tell: `shop.xlsx`'s error CSV is `shop.errors.csv`, and a long
        name's is cut. None when no run with a logical file made it."""
        sql = (
            f"SELECT file_key FROM runs WHERE {_ERROR_CSV_NAMED} AND length(file_key) > 0"
            " ORDER BY id DESC LIMIT 1"
        )
        rows = await self.reader.execute_fetchall(sql, (account, name))
        return rows[0][0] if rows else None

    async def error_csv_run(self, account: str, name: str) -> dict[str, Any] | None:
        """The run of `account` a corrected error CSV named `name` is taken to correct
        (its id, state, dry_run, undone_by, rows_failed): every run of a file names its
        error CSV alike, so the newest of them, passing over dry runs, undone runs and
        runs that failed whole while another is left (its file's version in the table:
        a later copy refused whole left the earlier one's rows there; one refused for
        its row errors under on_row_error = reject is the one its error CSV lists);
        None when none is."""
        sql = (
            "SELECT id, state, dry_run, undone_by, rows_failed FROM runs"
            f" WHERE {_ERROR_CSV_NAMED} ORDER BY CASE WHEN dry_run = 1 OR undone_by IS NOT"
            " NULL OR (state != 'completed' AND rows_failed = 0) THEN 1 ELSE 0 END,"
            " id DESC LIMIT 1"
        )
        rows = await self.reader.execute_fetchall(sql, (account, name))
        if not rows:
            return None
        run_id, state, dry_run, undone_by, failed = rows[0]
        return {
            "id": run_id,
            "state": state,
            "dry_run": bool(dry_run),
            "undone_by": undone_by,
            "rows_failed": int(failed),
        }

    async def error_csv_runs_on(self, account: str, name: str, lines: Sequence[int]) -> list[str]:
        """The runs of `account` whose error CSV is named `name` and lists a row error
        on each of `lines`, newest first: those a corrected copy still carrying those
        line numbers can be a copy of."""
        wanted = sorted(set(lines))
        marks = ", ".join("?" * len(wanted))
        sql = (
            f"SELECT id FROM runs WHERE {_ERROR_CSV_NAMED} AND (SELECT count(DISTINCT line)"
            f" FROM run_errors WHERE run_id = runs.id AND line IN ({marks})) = ? ORDER BY id DESC"
        )
        rows = await self.reader.execute_fetchall(sql, (account, name, *wanted, len(wanted)))
        return [found for (found,) in rows]

    async def corrections_after(self, account: str, run_id: str) -> list[tuple[str, str]]:
        """The completed runs of `account` after `run_id` (not dry runs, not undone) whose
        file names a corrected error CSV: (id, file name), oldest first."""
        sql = (
            "SELECT id, filename FROM runs WHERE account = ? AND id > ? AND state = 'completed'"
            " AND dry_run = 0 AND undone_by IS NULL AND undo_of IS NULL"
            " AND lower(filename) LIKE '%.errors%' ORDER BY id"
        )
        rows = await self.reader.execute_fetchall(sql, (account, run_id))
        return [(found, filename) for found, filename in rows]

    async def file_runs(self, layout: str, account: str, logical: str) -> list[str]:
        """The runs whose rows a replace_file logical file holds now (the file, and the
        corrected error CSVs sent back for it), newest first."""
        sql = (
            "SELECT s.run_id FROM sources s JOIN runs r ON r.id = s.run_id WHERE s.layout = ?"
            " AND s.account = ? AND s.source_file = ? COLLATE NOCASE ORDER BY r.received_at DESC"
        )
        rows = await self.reader.execute_fetchall(sql, (layout, account, logical))
        return [run_id for (run_id,) in rows]

    async def run_state(self, run_id: str) -> RunState | None:
        """The state as the writer sees it (used by recovery, which must not lag)."""
        # One round trip to the connection's thread, not three: this is on the doors' path.
        sql = "SELECT state FROM runs WHERE id = ?"
        rows = await self.writer.execute_fetchall(sql, (run_id,))
        return RunState(rows[0][0]) if rows else None

    async def run_state_now(self, run_id: str) -> RunState | None:
        """The state as committed, answered at once where the store can (glance.py):
        a request's check must not queue behind a write waiting for another
        process's lock (a retry of a queued run timed out so, its 409 never said)."""
        rows = await self._look_up("SELECT state FROM runs WHERE id = ?", (run_id,))
        return RunState(rows[0][0]) if rows else None

    async def _look_up(self, sql: str, params: Sequence[object]) -> Sequence[Any]:
        """A look-up of the delivery memory, on the doors' path: answered at once where
        the store can (glance.py), else through the writer's connection."""
        rows = self.glance(sql, params)
        if rows is None:
            rows = await self.writer.execute_fetchall(sql, params)
        return rows

    def glance(self, sql: str, params: Sequence[object]) -> Sequence[Any] | None:
        """The rows of a read answered in this thread without waiting, or None."""
        return None

    async def get_run(self, run_id: str) -> dict[str, Any] | None:
        rows = await self.reader.execute_fetchall("SELECT * FROM runs WHERE id = ?", (run_id,))
        return dict(rows[0]) if rows else None

    async def list_runs(
        self,
        filters: Mapping[str, str | None],
        limit: int,
        offset: int = 0,
        since: str | None = None,
    ) -> tuple[list[dict[str, Any]], int]:
        """Runs matching `filters` (field = value) and received at `since` (UTC ISO 8601,
        as received_at is written) or later, newest first, and how many match."""
        where, params = _where(filters, since)
        [[total]] = await self.reader.execute_fetchall(f"SELECT count(*) FROM runs {where}", params)
        sql = f"SELECT * FROM runs {where} ORDER BY received_at DESC, id DESC LIMIT ? OFFSET ?"
        rows = [
            dict(row) for row in await self.reader.execute_fetchall(sql, (*params, limit, offset))
        ]
        return rows, total

    async def runs_like(self, fragment: str, limit: int) -> list[str]:
        """Ids of the runs whose id is `fragment`, or starts or ends with it, newest first:
        a person may give the short id `renkei runs` shows. A whole id is the one run."""
        rows = await self.reader.execute_fetchall("SELECT id FROM runs WHERE id = ?", (fragment,))
        if rows:
            return [rows[0][0]]
        pattern = like_escaped(fragment)
        sql = (
            "SELECT id FROM runs WHERE id LIKE ? ESCAPE '\\' OR id LIKE ? ESCAPE '\\'"
            " ORDER BY id DESC LIMIT ?"
        )
        rows = await self.reader.execute_fetchall(sql, (pattern + "%", "%" + pattern, limit))
        return [row[0] for row in rows]

    async def run_errors(self, run_id: str, limit: int = ERRORS_KEPT) -> list[RowError]:
        sql = (
            'SELECT line, "column", value, message, said FROM run_errors WHERE run_id = ?'
            " ORDER BY rowid LIMIT ?"
        )
        return [
            stored_error(row) for row in await self.reader.execute_fetchall(sql, (run_id, limit))
        ]

    async def error_count(self, run_id: str) -> int:
        sql = "SELECT count(*) FROM run_errors WHERE run_id = ?"
        rows = await self.reader.execute_fetchall(sql, (run_id,))
        return rows[0][0]

    async def pending_retry(self, run_id: str) -> str | None:
        """The newest retry of `run_id` still waiting or being imported, if any."""
        marks = ", ".join("?" * len(PENDING_STATES))
        sql = (
            f"SELECT id FROM runs WHERE retry_of = ? AND state IN ({marks})"
            " ORDER BY id DESC LIMIT 1"
        )
        rows = await self._look_up(sql, (run_id, *PENDING_STATES))
        return rows[0][0] if rows else None

    async def imported_again(self, run_ids: Sequence[str]) -> set[str]:
        """Those of `run_ids` a retry has since imported, or a retry of a retry (Q, its
        retry failed, that one's retry completed): a quarantined file stays kept with
        its run, its trouble over."""
        if not run_ids:
            return set()
        marks = ", ".join("?" * len(run_ids))
        sql = f"{_RETRIES.format(marks=marks)} SELECT DISTINCT c.origin FROM {_COMPLETED_RETRY}"
        return {row[0] for row in await self.reader.execute_fetchall(sql, tuple(run_ids))}

    async def retry_holding_rows(self, run_id: str) -> str | None:
        """The retry of `run_id` (or of a retry of it, …) whose rows are in: completed,
        not undone; the newest such. None when there is none."""
        sql = (
            f"{_RETRIES.format(marks='?')} SELECT r.id FROM {_COMPLETED_RETRY}"
            " AND r.undone_by IS NULL ORDER BY r.id DESC LIMIT 1"
        )
        rows = await self.reader.execute_fetchall(sql, (run_id,))
        return rows[0][0] if rows else None

    async def holds_rows(self, layout: str, account: str, run_id: str) -> bool:
        """Whether `layout`'s table holds a row `run_id` wrote (none once a newer file of
        its logical file replaced them, or the table is gone)."""
        sql = f"SELECT 1 FROM {quote(layout)} WHERE _account = ? AND _run_id = ? LIMIT 1"
        try:
            return bool(await self.reader.execute_fetchall(sql, (account, run_id)))
        except Exception:  # noqa: BLE001 - no such table (a layout removed): no row
            return False

    async def expired_runs(self, before: str, limit: int) -> list[str]:
        """Ids of final runs that finished before `before` (UTC ISO 8601, as finished_at
        is written): what retention may remove. Not a run whose report is still to be
        written (`pending`): the reporter builds it from the run. A report already in
        the outbox is whole and goes without its run."""
        # Each instance sweeps the runs it received: their files are in its data_dir.
        own, mine = self._own_runs()
        sql = (
            f"SELECT id FROM runs WHERE {_ENDED} AND report_state != ?"
            f" AND COALESCE(finished_at, received_at) < ?{own} ORDER BY id LIMIT ?"
        )
        params = (ReportState.PENDING, before, *mine, limit)
        rows = await self.writer.execute_fetchall(sql, params)
        return [row[0] for row in rows]

    async def delete_runs(self, run_ids: Sequence[str]) -> int:
        """Remove these runs and their row errors, final runs only; returns how many
        went."""
        marks = ", ".join("?" * len(run_ids))
        async with self.transaction() as db:
            # Checked again inside the transaction: only a final run is ever removed.
            where = f"run_id IN (SELECT id FROM runs WHERE id IN ({marks}) AND {_ENDED})"
            await db.execute(f"DELETE FROM run_errors WHERE {where}", run_ids)
            # What was kept to undo them goes with them (undo.py), and their report's record.
            await self.drop_kept(db, where, run_ids)
            for table in ("undo_sources", "run_undo", "run_reports", "delivery_keys"):
                await db.execute(f"DELETE FROM {table} WHERE {where}", run_ids)
            cursor = await db.execute(
                f"DELETE FROM runs WHERE id IN ({marks}) AND {_ENDED}", run_ids
            )
            return cursor.rowcount

    def _own_runs(self) -> tuple[str, tuple[str, ...]]:
        """The condition (and its parameter) that keeps to this instance's runs on a
        shared store; nothing where the store is this instance's alone."""
        return (" AND instance = ?", (self.instance,)) if self.shared else ("", ())

    async def runs_to_forward(self) -> list[str]:
        """Completed imports whose sends and calls were never started (a crash came
        between the commit and the daemon spooling them); on a shared store only this
        instance's, as for reports."""
        own, mine = self._own_runs()
        # Written out, as in runs_to_report: the partial index serves that value only.
        sql = f"SELECT id FROM runs WHERE forward_state = '{FORWARD_PENDING}'{own} ORDER BY id"
        return [row[0] for row in await self.writer.execute_fetchall(sql, mine)]

    async def runs_to_report(self, finished_before: str | None = None) -> list[dict[str, Any]]:
        """Runs whose report is still to be queued (those finished before a moment, when
        given). On a shared store only this instance's: the instance that imported a
        run queues its report (it has the error CSV), so another starting up must not
        queue it a second time."""
        own, mine = self._own_runs()
        # The state written out, not bound: a plan made for the query whatever the
        # state (PostgreSQL's generic plans) may then use the index of pending reports
        # (schema.py) too.
        sql = f"SELECT * FROM runs WHERE report_state = '{ReportState.PENDING}'{own}"
        params: tuple[Any, ...] = tuple(mine)
        if finished_before is not None:
            sql += " AND finished_at < ?"
            params = (*params, finished_before)
        return [dict(row) for row in await self.writer.execute_fetchall(sql, params)]


def _where(filters: Mapping[str, str | None], since: str | None) -> tuple[str, tuple[str, ...]]:
    items = [(k, v) for k, v in filters.items() if v is not None and k in RUN_FIELDS]
    terms = [f"{quote(k)} = ?" for k, _ in items]
    params = [v for _, v in items]
    if since is not None:
        # Both sides are UTC in one format (spool.queue.now_iso), so text order is time order.
        terms.append("received_at >= ?")
        params.append(since)
    return ("WHERE " + " AND ".join(terms) if terms else ""), tuple(params)


def stored_error(row: Sequence[Any]) -> RowError:
    """A run_errors row (line, column, value, message, said) as the error it keeps."""
    line, column, value, text, said = row
    return RowError(line, column, value, text, None, words_of(said))


def kept_elsewhere(run: Mapping[str, Any], shared: bool, instance: str) -> str:
    """The instance that keeps `run`'s files under its own data_dir, when that is not
    this one (`instance`) of a shared store; "" otherwise."""
    owner = run.get("instance") or ""
    # A run that received no file (a mail without a CSV, an undo) has none anywhere.
    received = bool(run.get("sha256"))
    return owner if shared and received and owner and owner != instance else ""
