"""The store contract (daemon/store/base.py), run against both stores.

Every test takes the `store` fixture, parametrized over SqliteStore (a file under
tmp_path) and PostgresStore (a fresh database on the suite's own server, `pg_url`):
whatever renkei asks of a store must answer the same on either. The calls are made
as the daemon makes them (worker/writer.py, worker/pipeline.py, report/outbox.py,
outward/, console/, web/records.py), and the assertions read real values back.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from daemon.settings.model import Column
from daemon.spool.memory import recorded_elsewhere
from daemon.spool.queue import Meta
from daemon.store.base import Store
from daemon.store.images import table_columns
from daemon.store.keyed import KeyedWriter, RowStamp
from daemon.store.postgres.store import PostgresStore
from daemon.store.records import Condition, Order, Stamp
from daemon.store.runs import RUN_FIELDS, ReportState, RunState, public_run
from daemon.store.scratch import ScratchWriter
from daemon.store.sqlite import SqliteStore
from daemon.store.undo import UndoRefusal, UndoRun
from importers.errors import RowError
from importers.messages import Words, said, words_of

INSTANCE = "contract-a"
LAYOUT = "items"
COLUMNS = [
    Column(name="code", type="text"),
    Column(name="qty", type="int"),
    Column(name="price", type="decimal"),
    Column(name="active", type="bool"),
]
NAMES = [c.name for c in COLUMNS]
META_NAMES = ["_account", "_source_file", "_run_id"]


@dataclass(frozen=True)
class Target:
    """Where a test's stores live: one SQLite file or one PostgreSQL database. Two
    stores opened on one target are two instances sharing it."""

    kind: str
    where: str

    async def open(self, instance: str = INSTANCE) -> Store:
        if self.kind == "sqlite":
            store: Store = await SqliteStore.open(Path(self.where))
            store.instance = instance  # as open_store sets it
            return store
        return await PostgresStore.open(self.where, instance)


@pytest.fixture(params=["sqlite", "postgres"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Target:
    if request.param == "sqlite":
        return Target("sqlite", str(tmp_path / "renkei.db"))
    # Asked for only here, so the SQLite half never starts a server.
    return Target("postgres", request.getfixturevalue("pg_url"))


@pytest.fixture
async def store(target: Target) -> AsyncIterator[Store]:
    opened = await target.open()
    try:
        yield opened
    finally:
        await opened.close()


# -- helpers -----------------------------------------------------------------------


def at(day: int, hour: int = 9, minute: int = 0) -> str:
    """A UTC time in the format spool.queue.now_iso writes (text order is time order)."""
    return dt.datetime(2026, 5, day, hour, minute, tzinfo=dt.UTC).isoformat(timespec="milliseconds")


def run_id(n: int, tail: str = "aaaaaa") -> str:
    """An id shaped as spool.queue.new_id's, sortable by n."""
    return f"20260501T0900{n:02d}000000-{tail}"


def meta(
    account: str = "acme", filename: str = "items.csv", received: str | None = None, **kw: Any
) -> Meta:
    return Meta(
        account=account,
        channel=kw.pop("channel", "api"),
        sender=kw.pop("sender", "partner@example.com"),
        filename=filename,
        received_at=received or at(1),
        **kw,
    )


async def rows_of(store: Store, layout: str = LAYOUT, names: Sequence[str] = NAMES) -> list[tuple]:
    """The layout table's rows in insertion order, meta columns last."""
    cols = ", ".join(f'"{n}"' for n in (*names, *META_NAMES))
    found = await store.reader.execute_fetchall(f'SELECT {cols} FROM "{layout}" ORDER BY rowid')
    return [tuple(row) for row in found]


async def import_file(
    store: Store,
    rid: str,
    rows: list[list[object]],
    account: str = "acme",
    filename: str = "items.csv",
    layout: str = LAYOUT,
) -> None:
    """A replace_file import as worker/writer.py writes it: one transaction with the
    same-name replace, the rows, the undo record, the source range and the final run."""
    await store.add_run(rid, meta(account, filename))
    async with store.transaction() as db:
        await store.lock_layout(db, layout)
        mark = await store.undo_mark(db)
        first, _ = await store.replace_source(db, layout, account, filename, rid)
        insert = store.row_insert(layout, account, filename, rid)
        await store.insert_rows(db, insert, rows)
        await store.keep_undo(db, layout, account, filename, "replace_file", rid, mark)
        await store.record_source(db, layout, account, filename, rid, first)
        await store.update_run(
            rid,
            db=db,
            state=RunState.COMPLETED,
            layout=layout,
            mode="replace_file",
            rows_total=len(rows),
            rows_imported=len(rows),
            rows_inserted=len(rows),
            finished_at=at(1, 10),
        )


async def keyed_import(
    store: Store,
    rid: str,
    mode: str,
    rows: list[list[object]],
    columns: Sequence[str] = NAMES,
    **options: Any,
) -> KeyedWriter:
    """A keyed import (upsert, delete, set) as worker/writer.py writes it."""
    await store.add_run(rid, meta())
    writer = store.keyed_writer(
        LAYOUT, mode, list(columns), ["code"], RowStamp("acme", "items.csv", rid), **options
    )
    async with store.transaction() as db:
        await store.lock_layout(db, LAYOUT)
        mark = await store.undo_mark(db)
        await writer.write(db, rows)
        await store.keep_undo(db, LAYOUT, "acme", "items.csv", mode, rid, mark)
        await store.update_run(rid, db=db, state=RunState.COMPLETED, layout=LAYOUT, mode=mode)
    return writer


@dataclass
class _Layout:
    """What ensure_layouts reads of a settings Layout."""

    columns: list[Column]
    key: list[str]


# -- runs --------------------------------------------------------------------------


async def test_add_get_update_run(store: Store) -> None:
    rid = run_id(1)
    first = meta(
        sha256="ab" * 32,
        size=123,
        attempts=1,
        options={"mode": "upsert", "ライン": 1},
        idempotency_key="key-1",
        authentication_results="mx; spf=pass",
    )
    await store.add_run(rid, first)
    # A second add_run of the same id (a resend recovered twice) changes nothing.
    await store.add_run(rid, meta(sender="other@example.com", filename="other.csv"))

    run = await store.get_run(rid)
    assert run is not None
    assert run["id"] == rid
    assert run["account"] == "acme"
    assert run["channel"] == "api"
    assert run["sender"] == "partner@example.com"
    assert run["filename"] == "items.csv"
    assert run["state"] == "queued"
    assert run["received_at"] == at(1)
    assert run["sha256"] == "ab" * 32
    assert run["size"] == 123
    assert run["attempts"] == 1
    assert run["idempotency_key"] == "key-1"
    assert run["options"] == '{"mode": "upsert", "ライン": 1}'
    assert run["instance"] == INSTANCE == store.instance
    assert run["direction"] == "receive"
    assert run["report_state"] == "none"
    assert run["rows_total"] == 0 and run["dry_run"] == 0
    assert run["started_at"] is None and run["retry_of"] is None
    assert await store.run_state(rid) is RunState.QUEUED

    await store.update_run(rid, state=RunState.RUNNING, started_at=at(1, 9, 1))
    async with store.transaction() as db:  # as pipeline._finish: in the run's transaction
        await store.update_run(
            rid,
            db=db,
            state=RunState.COMPLETED,
            rows_total=3,
            rows_imported=2,
            rows_failed=1,
            message="2 imported",
            finished_at=at(1, 9, 2),
            report_state=ReportState.PENDING,
            dry_run=True,  # a boolean, as the worker writes it: stored as 1
        )
    assert await store.run_state(rid) is RunState.COMPLETED
    shown = public_run(await store.get_run(rid))
    assert list(shown) == [*RUN_FIELDS, "send"] and shown["send"] is None
    assert shown["state"] == "completed"
    assert shown["rows_total"] == 3 and shown["rows_imported"] == 2 and shown["rows_failed"] == 1
    assert shown["dry_run"] is True
    assert shown["started_at"] == at(1, 9, 1) and shown["finished_at"] == at(1, 9, 2)
    assert shown["instance"] == INSTANCE
    assert shown["mode"] == "replace_file"
    assert [r["id"] for r in await store.runs_to_report()] == [rid]

    assert await store.get_run("no-such-run") is None
    assert await store.run_state("no-such-run") is None


async def test_begin_run_records_a_new_run_and_marks_one_recorded_before(store: Store) -> None:
    # As the importer takes a file: recorded and marked running in one commit.
    fresh, recorded = run_id(1), run_id(2)
    await store.begin_run(fresh, meta(size=5), state=RunState.RUNNING, started_at=at(1, 9, 1))
    run = await store.get_run(fresh)
    assert (run["state"], run["started_at"], run["size"]) == ("running", at(1, 9, 1), 5)
    assert (run["account"], run["filename"], run["received_at"]) == ("acme", "items.csv", at(1))
    # Recorded at start (or by the door of a shared store): only marked.
    await store.add_run(recorded, meta(sender="first@example.com"))
    await store.begin_run(recorded, meta(sender="other@example.com"), state=RunState.RUNNING)
    run = await store.get_run(recorded)
    assert (run["state"], run["sender"]) == ("running", "first@example.com")


async def test_list_runs_filters_and_paging(store: Store) -> None:
    await store.add_run(run_id(1), meta("acme", received=at(1)))
    await store.add_run(run_id(2), meta("acme", received=at(2)))
    await store.add_run(run_id(3), meta("beta", received=at(3)))
    await store.add_run(run_id(4), meta("acme", received=at(4)), state=RunState.RUNNING)
    # Same received_at: the id breaks the tie, newest first.
    await store.add_run(run_id(5), meta("acme", received=at(4)))

    rows, total = await store.list_runs({}, limit=10)
    assert total == 5
    assert [r["id"] for r in rows] == [run_id(5), run_id(4), run_id(3), run_id(2), run_id(1)]

    # None means no filter; an unknown field is no column and is left out.
    rows, total = await store.list_runs({"account": "acme", "state": None, "bogus": "x"}, 2)
    assert total == 4
    assert [r["id"] for r in rows] == [run_id(5), run_id(4)]
    rows, total = await store.list_runs({"account": "acme"}, 2, offset=2)
    assert total == 4
    assert [r["id"] for r in rows] == [run_id(2), run_id(1)]
    rows, total = await store.list_runs({"account": "acme"}, 2, offset=4)
    assert (rows, total) == ([], 4)

    rows, total = await store.list_runs({"state": "running"}, 10)
    assert [r["id"] for r in rows] == [run_id(4)] and total == 1
    rows, total = await store.list_runs({"account": "acme"}, 10, since=at(2))
    assert [r["id"] for r in rows] == [run_id(5), run_id(4), run_id(2)] and total == 3
    assert await store.list_runs({"account": "nobody"}, 10) == ([], 0)


async def test_run_errors_keep_their_order(store: Store) -> None:
    rid = run_id(1)
    await store.add_run(rid, meta())
    # Not in line order: run_errors gives them as written, not sorted.
    errors = [
        RowError(7, "qty", "x", "not a number"),
        RowError(2, "", "", "too many cells"),
        RowError(5, "code", "", "required", ["", "1"]),
        RowError(3, "price", "1,5", "100% wrong"),
    ]
    async with store.transaction() as db:
        await store.add_errors(db, rid, errors[:2])
        await store.add_errors(db, rid, errors[2:])
    plain = [RowError(e.line, e.column, e.value, e.message) for e in errors]
    assert await store.run_errors(rid) == plain
    assert await store.run_errors(rid, limit=2) == plain[:2]
    assert await store.error_count(rid) == 4
    assert await store.error_page(rid, 2, 1) == plain[1:3]
    assert await store.run_errors(run_id(9)) == []
    assert await store.error_count(run_id(9)) == 0


async def test_runs_like(store: Store) -> None:
    ids = [run_id(1, "abc123"), run_id(2, "def456"), run_id(3, "abc999")]
    for rid in ids:
        await store.add_run(rid, meta())
    assert await store.runs_like(ids[1], 10) == [ids[1]]  # a whole id: that run
    assert await store.runs_like("abc123", 10) == [ids[0]]  # the end of an id
    assert await store.runs_like("20260501T0900", 10) == ids[::-1]  # a start, newest first
    assert await store.runs_like("20260501T0900", 2) == ids[:0:-1]
    # LIKE's wildcards in a fragment are matched literally.
    assert await store.runs_like("%", 10) == []
    assert await store.runs_like("_bc123", 10) == []
    assert await store.runs_like("zzz", 10) == []


async def test_run_state_retries_and_retention(store: Store) -> None:
    await store.add_run(run_id(1), meta())
    await store.update_run(run_id(1), state=RunState.FAILED, finished_at=at(1, 10))
    await store.add_run(run_id(2), meta(retry_of=run_id(1)))
    assert (await store.get_run(run_id(2)))["retry_of"] == run_id(1)
    assert await store.pending_retry(run_id(1)) == run_id(2)
    await store.update_run(run_id(2), state=RunState.COMPLETED, finished_at=at(2, 10))
    assert await store.pending_retry(run_id(1)) is None

    # A run whose report is still pending stays; so does one not final.
    await store.add_run(run_id(3), meta())
    await store.update_run(
        run_id(3), state=RunState.COMPLETED, finished_at=at(1, 11), report_state="pending"
    )
    await store.add_run(run_id(4), meta(received=at(1)), state=RunState.RUNNING)
    async with store.transaction() as db:
        await store.add_errors(db, run_id(1), [RowError(1, "", "", "bad")])
    # An aborted import is taken up again; an aborted send (強制終了) never is.
    await store.add_run(run_id(5), meta(received=at(1)), state=RunState.ABORTED)
    send = {"id": run_id(6), "account": "acme", "channel": "send", "received_at": at(1)}
    await store.add_send_run(send | {"state": RunState.ABORTED, "finished_at": at(1, 12)})
    assert await store.expired_runs(at(3), 10) == [run_id(1), run_id(2), run_id(6)]
    assert await store.expired_runs(at(2), 10) == [run_id(1), run_id(6)]
    # Runs 4 and 5 are not final.
    assert await store.delete_runs([run_id(n) for n in (1, 4, 5, 6)]) == 2
    assert await store.get_run(run_id(1)) is None
    assert await store.get_run(run_id(6)) is None
    assert await store.run_errors(run_id(1)) == []
    assert await store.get_run(run_id(4)) is not None
    assert await store.get_run(run_id(5)) is not None


# -- delivery memory ---------------------------------------------------------------


async def test_run_by_key_within_window(store: Store) -> None:
    await store.add_run(run_id(1), meta(received=at(1), idempotency_key="k1"))
    await store.add_run(run_id(2), meta(received=at(3), idempotency_key="k1"))
    await store.add_run(run_id(3), meta("beta", received=at(3), idempotency_key="k1"))
    assert await store.run_by_key("acme", "k1", at(1)) == run_id(1)  # the first one
    assert await store.run_by_key("acme", "k1", at(2)) == run_id(2)  # the window's
    assert await store.run_by_key("acme", "k1", at(4)) is None
    assert await store.run_by_key("beta", "k1", at(1)) == run_id(3)
    assert await store.run_by_key("acme", "k2", at(1)) is None


async def test_a_key_answered_by_content_is_found_by_run_by_key(store: Store) -> None:
    await store.add_run(run_id(1), meta(received=at(1), idempotency_key="k1"))
    await store.remember_key("acme", "k2", run_id(1), at(2))
    await store.remember_key("acme", "k2", run_id(9), at(3))  # kept as first remembered
    assert await store.run_by_key("acme", "k2", at(1)) == run_id(1)
    assert await store.run_by_key("acme", "k2", at(3)) is None  # past its window
    assert await store.run_by_key("beta", "k2", at(1)) is None


async def test_a_report_put_in_the_outbox_never_undoes_its_sending(store: Store) -> None:
    """Another instance may send it between its queuing and this record: its `sent`
    was replaced by `queued`, for good."""
    await store.add_run(run_id(1), meta())
    await store.add_run(run_id(2), meta())
    await store.update_run(run_id(1), report_state="pending")
    await store.update_run(run_id(2), report_state="sent")
    for run in (run_id(1), run_id(2)):
        await store.report_in_outbox(run)
    assert (await store.get_run(run_id(1)))["report_state"] == "queued"
    assert (await store.get_run(run_id(2)))["report_state"] == "sent"


async def test_delivery_memory_is_shared(store: Store, target: Target) -> None:
    """A second instance on the same store answers a resend with the first's run."""
    other = await target.open("contract-b")
    try:
        await store.add_run(run_id(1), meta(idempotency_key="k1", sha256="11"))
        assert await other.run_by_key("acme", "k1", at(1)) == run_id(1)
        latest = await other.latest_run_of_file("acme", "items.csv")
        assert latest is not None and latest["sha256"] == "11"
        assert (await other.get_run(run_id(1)))["instance"] == INSTANCE
        # Its own runs carry its own name.
        await other.add_run(run_id(2), meta())
        assert (await store.get_run(run_id(2)))["instance"] == "contract-b"
    finally:
        await other.close()


async def test_latest_run_of_file(store: Store) -> None:
    await store.add_run(run_id(1), meta(filename="a.csv", sha256="11", options={"x": 1}))
    await store.add_run(run_id(2), meta(filename="a.csv", sha256="22"))
    await store.update_run(run_id(2), state=RunState.COMPLETED)
    # A dry run and a send of the same name are no delivery of the file.
    await store.add_run(run_id(3), meta(filename="a.csv", sha256="33"))
    await store.update_run(run_id(3), dry_run=True)
    send = {"id": run_id(4), "account": "acme", "channel": "send", "filename": "a.csv"}
    await store.add_send_run(send | {"state": RunState.RUNNING, "received_at": at(1)})
    latest = await store.latest_run_of_file("acme", "a.csv")
    expected = {"id": run_id(2), "state": "completed", "sha256": "22", "options": "{}"}
    assert latest == expected | {"undone_by": None}
    assert await store.latest_run_of_file("acme", "b.csv") is None
    assert await store.latest_run_of_file("beta", "a.csv") is None


async def test_latest_run_of_a_logical_file_whatever_its_spelling(store: Store) -> None:
    """Runs of one logical file (filenames.file_key) under other names count; a run
    recorded before keys were kept counts by its name."""
    await store.add_run(run_id(1), meta(filename="20240516.csv", sha256="11"))  # no key
    assert (await store.latest_run_of_file("acme", "20240516.csv", "20240516.csv"))["id"] == (
        run_id(1)
    )
    await store.add_run(run_id(2), meta(filename="20240516.CSV", file_key="20240516.csv"))
    await store.add_run(run_id(3), meta(filename="20240517.csv", file_key="20240517.csv"))
    latest = await store.latest_run_of_file("acme", "20240516.csv", "20240516.csv")
    assert latest is not None and latest["id"] == run_id(2)
    assert (await store.latest_run_of_file("acme", "20240516.csv"))["id"] == run_id(1)


# -- layout tables -----------------------------------------------------------------


async def test_ensure_layout_columns(store: Store, tmp_path: Path) -> None:
    await store.ensure_layout(LAYOUT, COLUMNS, key=["code"])
    assert await table_columns(store.writer, LAYOUT) == [*NAMES, *META_NAMES]
    # Again, unchanged: nothing happens (no error on the existing table or index).
    await store.ensure_layout(LAYOUT, COLUMNS, key=["code"])
    assert await table_columns(store.writer, LAYOUT) == [*NAMES, *META_NAMES]

    # Rows written before the layout changed keep NULL in the new column.
    await import_file(store, run_id(1), [["A1", 1, "1.50", 1]])
    changed = [*COLUMNS, Column(name="note", type="text"), Column(name="rank", type="int")]
    await store.ensure_layouts({LAYOUT: _Layout(changed, ["code"])})
    assert await table_columns(store.writer, LAYOUT) == [*NAMES, *META_NAMES, "note", "rank"]
    names = [*NAMES, "note", "rank"]
    await import_file(store, run_id(2), [["B1", 2, "2", 0, "メモ", 7]], filename="other.csv")
    assert await rows_of(store, names=names) == [
        ("A1", 1, "1.50", 1, None, None, "acme", "items.csv", run_id(1)),
        ("B1", 2, "2", 0, "メモ", 7, "acme", "other.csv", run_id(2)),
    ]
    # A column dropped from the layout stays in the table; new rows leave it NULL.
    await store.ensure_layout(LAYOUT, COLUMNS)
    assert await table_columns(store.writer, LAYOUT) == [*NAMES, *META_NAMES, "note", "rank"]
    await import_file(store, run_id(3), [["C1", 3, "3", 1]], filename="third.csv")
    assert (await rows_of(store, names=names))[-1] == (
        "C1", 3, "3", 1, None, None, "acme", "third.csv", run_id(3)
    )  # fmt: skip
    assert (await store.staged_table(LAYOUT, "acme", "x.csv", run_id(4))).columns == NAMES
    await staged_import(store, tmp_path, run_id(4), [[["D1", 4, "4", 1]]], "x.csv")
    assert (await rows_of(store, names=names))[-1] == (
        "D1", 4, "4", 1, None, None, "acme", "x.csv", run_id(4)
    )  # fmt: skip


async def test_rows_and_same_name_replace(store: Store) -> None:
    await store.ensure_layout(LAYOUT, COLUMNS)
    await import_file(store, run_id(1), [["A1", 1, "1.5", 1], ["A2", None, "", 0]])
    await import_file(store, run_id(2), [["X1", 9, "9", 1]], account="beta")
    assert await rows_of(store) == [
        ("A1", 1, "1.5", 1, "acme", "items.csv", run_id(1)),
        ("A2", None, "", 0, "acme", "items.csv", run_id(1)),
        ("X1", 9, "9", 1, "beta", "items.csv", run_id(2)),
    ]
    # The same file name again, in another case: acme's rows are replaced, beta's stay.
    await import_file(store, run_id(3), [["A3", 3, "3", 1]], filename="ITEMS.CSV")
    assert await rows_of(store) == [
        ("X1", 9, "9", 1, "beta", "items.csv", run_id(2)),
        ("A3", 3, "3", 1, "acme", "ITEMS.CSV", run_id(3)),
    ]
    # Another file name adds; the first is replaced again (ranges recorded right).
    await import_file(store, run_id(4), [["B1", 4, "4", 0]], filename="more.csv")
    await import_file(store, run_id(5), [["A4", 5, "5", 1], ["A5", 6, "6", 1]])
    assert await rows_of(store) == [
        ("X1", 9, "9", 1, "beta", "items.csv", run_id(2)),
        ("B1", 4, "4", 0, "acme", "more.csv", run_id(4)),
        ("A4", 5, "5", 1, "acme", "items.csv", run_id(5)),
        ("A5", 6, "6", 1, "acme", "items.csv", run_id(5)),
    ]
    # Many rows in one call: more than one multi-row statement (SQLite) or COPY batch.
    many = [[f"M{i}", i, str(i), i % 2] for i in range(600)]
    await import_file(store, run_id(6), many, filename="many.csv")
    found = await rows_of(store)
    assert [r[:4] for r in found[4:]] == [tuple(r) for r in many]
    async with store.transaction() as db:
        assert await store.next_rowid(db, LAYOUT) > len(found)


async def staged_import(
    store: Store, folder: Path, rid: str, parts: list[list[list[object]]], filename: str
) -> list[RowError]:
    """A large file as worker/writer.py imports it: each part read into a scratch
    database (as a reader process does, through ScratchWriter), then one transaction
    copies them all in. One row error per part; returns the errors read back."""
    await store.add_run(rid, meta(filename=filename))
    table = await store.staged_table(LAYOUT, "acme", filename, rid)
    paths = []
    for number, rows in enumerate(parts):
        path = folder / f"{rid}-part{number}.db"
        scratch = ScratchWriter(path, table)
        try:
            scratch.add(rows, [RowError(10 * number + 1, "qty", "x", "bad", ["x"])])
            scratch.commit()
        finally:
            scratch.close()
        paths.append(path)
    errors: list[RowError] = []
    async with store.transaction(staged=paths) as db:
        await store.lock_layout(db, LAYOUT)
        mark = await store.undo_mark(db)
        first, _ = await store.replace_source(db, LAYOUT, "acme", filename, rid)
        for index in range(len(paths)):
            async for batch in store.staged_errors(db, index):
                errors.extend(batch)
        for index in range(len(paths)):
            await store.copy_staged(db, index, LAYOUT)
        await store.keep_undo(db, LAYOUT, "acme", filename, "replace_file", rid, mark)
        await store.record_source(db, LAYOUT, "acme", filename, rid, first)
        await store.update_run(rid, db=db, state=RunState.COMPLETED, layout=LAYOUT)
    return errors


async def test_rows_keep_their_columns_when_a_reload_reorders_or_adds_some(
    store: Store, tmp_path: Path
) -> None:
    """A reload that reorders a layout's columns, or adds one, while files wait their
    turn (three are in flight): their rows, read as the layout was, went into each
    other's columns (an int column holding the text of another), or the run failed on
    the count. Each run names the columns its rows were read as."""
    await store.ensure_layout(LAYOUT, COLUMNS)
    await store.add_run(run_id(2), meta(filename="big.csv"))
    table = await store.staged_table(LAYOUT, "acme", "big.csv", run_id(2), file_columns=NAMES)
    path = tmp_path / "part0.db"
    scratch = ScratchWriter(path, table)
    scratch.add([["B", 2, "2.5", 0]], [])
    scratch.commit()
    scratch.close()
    # The reload: price before qty, and a column more.
    moved = [COLUMNS[0], COLUMNS[2], COLUMNS[1], COLUMNS[3], Column(name="memo", type="text")]
    await store.ensure_layout(LAYOUT, moved)
    await store.add_run(run_id(1), meta())
    async with store.transaction() as db:
        insert = store.row_insert(LAYOUT, "acme", "items.csv", run_id(1), file_columns=NAMES)
        await store.insert_rows(db, insert, [["A", 1, "1.5", 1]])
    async with store.transaction(staged=[path]) as db:
        await store.copy_staged(db, 0, LAYOUT, table)
    assert await rows_of(store, names=[*NAMES, "memo"]) == [
        ("A", 1, "1.5", 1, None, "acme", "items.csv", run_id(1)),
        ("B", 2, "2.5", 0, None, "acme", "big.csv", run_id(2)),
    ]


async def test_staged_copy(store: Store, tmp_path: Path) -> None:
    """A large file's parts, read into scratch databases, copied in by the transaction."""
    await store.ensure_layout(LAYOUT, COLUMNS)
    assert (await store.staged_table(LAYOUT, "acme", "items.csv", run_id(1))).columns == NAMES
    await import_file(store, run_id(1), [["OLD", 0, "0", 0]])
    # COPY's own characters in cells (tab, newline, backslash, the text \\N) and a NULL
    # come back as they were written.
    parts: list[list[list[object]]] = [
        [[f"P{p}-{i}", i, str(i), 1] for i in range(3)] for p in range(2)
    ]
    parts[1].append(["tab\there\nline\\", None, "\\N", 0])
    # Empty cells as converters give them: '' in a text column, None in any other
    # (a decimal is stored as TEXT, yet its empty cell is NULL, not '').
    parts[1].append(["", None, None, None])
    errors = await staged_import(store, tmp_path, run_id(2), parts, "items.csv")
    assert errors == [RowError(1, "qty", "x", "bad", ["x"]), RowError(11, "qty", "x", "bad", ["x"])]
    expected = [tuple(row) + ("acme", "items.csv", run_id(2)) for part in parts for row in part]
    assert await rows_of(store) == expected  # the old version of the file replaced
    # The range it recorded is replaced by the next import of the file.
    await import_file(store, run_id(3), [["N1", 1, "1", 1]])
    assert await rows_of(store) == [("N1", 1, "1", 1, "acme", "items.csv", run_id(3))]
    # And undone, the staged rows come back.
    undone = await store.undo_run(run_id(3), UndoRun(run_id(9), "api", "a", at(2)))
    assert (undone.deleted, undone.restored) == (1, len(expected))
    assert await rows_of(store) == expected


async def test_found_values_and_choices(store: Store) -> None:
    await store.ensure_layout(LAYOUT, COLUMNS)
    rows: list[list[object]] = [["A1", 1, "1", 1], ["A2", 2, "2", 1], ["A1", 3, "3", 0]]
    await import_file(store, run_id(1), [*rows, ["7", 7, "7", 1]])
    async with store.transaction() as db:
        assert await store.found_values(db, LAYOUT, "code", ["A1", "ZZ", "A2"]) == {"A1", "A2"}
        assert await store.found_values(db, LAYOUT, "qty", [1, 3, 99]) == {1, 3}
        assert await store.found_values(db, LAYOUT, "code", []) == set()
        # A text cell against an integer column (a reference to an integer key): as a
        # number when it reads as one, else no match, never an error.
        texts = ["abc", "1", "2.0", "1.5", "", None]
        assert await store.found_values(db, LAYOUT, "qty", texts) == {1, 2}
        # And a number against a text column: as its text.
        assert await store.found_values(db, LAYOUT, "code", [7, 8, "A1", None]) == {"7", "A1"}
        # More than one batch of IN (…) values.
        wanted = [f"Q{i}" for i in range(700)] + ["A2"]
        assert await store.found_values(db, LAYOUT, "code", wanted) == {"A2"}

    async with store.transaction() as db:
        await store.learn_choices(db, LAYOUT, "code", ["b", "a"], run_id(1))
        await store.learn_choices(db, LAYOUT, "price", ["x"], run_id(1))
    async with store.transaction() as db:
        # A value learned before is not learned twice (INSERT OR IGNORE).
        await store.learn_choices(db, LAYOUT, "code", ["a", "c"], run_id(2))
    learned = {"code": ["b", "a", "c"], "price": ["x"]}
    assert await store.learned_choices(LAYOUT) == learned
    assert await store.known_choices(LAYOUT) == learned
    assert await store.learned_choices("other") == {}


# -- keyed writes ------------------------------------------------------------------


async def test_keyed_upsert_keeps_what_earlier_rows_of_the_file_set(store: Store) -> None:
    """blank = keep with a key listed more than once: the rows count as if they came one
    after the other, so a blank cell of a later row keeps what an earlier row of the
    same file set (the last row alone was kept, its blanks read against the table)."""
    await store.ensure_layout(LAYOUT, COLUMNS, key=["code"])
    await keyed_import(store, run_id(1), "upsert", [["A", 1, "1", 1]])
    rows = [
        ["A", 2, "", 0],
        ["A", None, "", 1],
        ["K", 5, "k", 1],
        ["K", None, "", 0],
        ["A", None, "x", 1],
    ]
    done = await keyed_import(store, run_id(2), "upsert", rows, blank="keep")
    assert (done.counts.inserted, done.counts.updated) == (1, 4)
    assert await rows_of(store) == [
        ("A", 2, "x", 1, "acme", "items.csv", run_id(2)),
        ("K", 5, "k", 0, "acme", "items.csv", run_id(2)),
    ]


async def test_keyed_upsert_delete_set(store: Store) -> None:
    await store.ensure_layout(LAYOUT, COLUMNS, key=["code"])
    first = await keyed_import(
        store, run_id(1), "upsert", [["A", 1, "1", 1], ["B", 2, "2", 1], ["A", 3, "3", 0]]
    )
    # A key listed twice: the last row wins, counted as an update.
    assert (first.counts.inserted, first.counts.updated, first.counts.skipped) == (2, 1, 0)
    assert await rows_of(store) == [
        ("A", 3, "3", 0, "acme", "items.csv", run_id(1)),
        ("B", 2, "2", 1, "acme", "items.csv", run_id(1)),
    ]

    # blank = keep: an empty cell ('' in a text column, None in an int one) keeps the
    # table's value, as does a text cell of spaces (a padded export's empty field); a
    # filled one is written.
    rows = [["A", 30, "", 1], ["B", None, " \u3000\t", 0], ["C", 30, "30", 1]]
    update = await keyed_import(store, run_id(2), "upsert", rows, blank="keep")
    assert (update.counts.inserted, update.counts.updated) == (1, 2)
    assert await rows_of(store) == [
        ("A", 30, "3", 1, "acme", "items.csv", run_id(2)),
        ("B", 2, "2", 0, "acme", "items.csv", run_id(2)),
        ("C", 30, "30", 1, "acme", "items.csv", run_id(2)),
    ]
    # blank = overwrite (the default): an empty cell is written.
    cleared = await keyed_import(store, run_id(6), "upsert", [["A", None, "", 1]])
    assert cleared.counts.updated == 1
    assert (await rows_of(store))[0] == ("A", None, "", 1, "acme", "items.csv", run_id(6))

    skip = await keyed_import(
        store, run_id(3), "upsert", [["C", 99, "99", 0], ["D", 4, "4", 1]], on_duplicate="skip"
    )
    assert (skip.counts.inserted, skip.counts.updated, skip.counts.skipped) == (1, 0, 1)

    # delete and set name rows by key only: the file's other columns are not there.
    gone = await keyed_import(store, run_id(4), "delete", [["A"], ["Z"], ["A"]], columns=["code"])
    assert (gone.counts.deleted, gone.counts.not_found) == (1, 2)
    fixed = await keyed_import(
        store,
        run_id(5),
        "set",
        [["B"], ["Y"], ["B"]],
        columns=["code"],
        set_values={"price": "0", "active": "1"},
    )
    assert (fixed.counts.updated, fixed.counts.not_found) == (2, 1)
    assert await rows_of(store) == [
        ("B", 2, "0", 1, "acme", "items.csv", run_id(5)),
        ("C", 30, "30", 1, "acme", "items.csv", run_id(2)),
        ("D", 4, "4", 1, "acme", "items.csv", run_id(3)),
    ]


async def test_keyed_upsert_of_keys_all_there(store: Store) -> None:
    """Every key of a chunk there already, once or (rows written before the layout
    had a key) twice: all updated, nothing inserted; one new key among them is."""
    await store.ensure_layout(LAYOUT, COLUMNS, key=["code"])
    await import_file(store, run_id(1), [["A", 1, "1", 1], ["A", 2, "2", 1], ["B", 3, "3", 1]])
    again = await keyed_import(store, run_id(2), "upsert", [["A", 10, "10", 0], ["B", 30, "30", 0]])
    assert (again.counts.inserted, again.counts.updated) == (0, 3)
    more = await keyed_import(store, run_id(3), "upsert", [["A", 11, "11", 0], ["C", 5, "5", 1]])
    assert (more.counts.inserted, more.counts.updated) == (1, 2)
    assert sorted(row[:2] for row in await rows_of(store)) == [
        ("A", 11),
        ("A", 11),
        ("B", 30),
        ("C", 5),
    ]


async def test_keyed_null_key_matches_null(store: Store) -> None:
    """Keys match with IS (NULL names NULL), on PostgreSQL IS NOT DISTINCT FROM."""
    await store.ensure_layout(LAYOUT, COLUMNS, key=["code"])
    await keyed_import(store, run_id(1), "upsert", [[None, 1, "1", 1]])
    again = await keyed_import(store, run_id(2), "upsert", [[None, 2, "2", 1]])
    assert (again.counts.inserted, again.counts.updated) == (0, 1)
    gone = await keyed_import(store, run_id(3), "delete", [[None]], columns=["code"])
    assert (gone.counts.deleted, gone.counts.not_found) == (1, 0)
    assert await rows_of(store) == []


# -- undo --------------------------------------------------------------------------


async def test_undo_replace_restores_rows(store: Store) -> None:
    await store.ensure_layout(LAYOUT, COLUMNS)
    await import_file(store, run_id(1), [["A1", 1, "1.5", 1], ["A2", None, "2", 0]])
    await import_file(store, run_id(2), [["B1", 7, "7", 1]])
    undo = UndoRun(run_id(9, "undo01"), "api", "admin", at(2))
    undone = await store.undo_run(run_id(2), undo)
    assert (undone.run_id, undone.deleted, undone.restored, undone.refusal) == (
        undo.id,
        1,
        2,
        None,
    )
    assert await rows_of(store) == [
        ("A1", 1, "1.5", 1, "acme", "items.csv", run_id(1)),
        ("A2", None, "2", 0, "acme", "items.csv", run_id(1)),
    ]
    undone_run = await store.get_run(run_id(2))
    assert undone_run["undone_by"] == undo.id
    record = await store.get_run(undo.id)
    assert record["undo_of"] == run_id(2)
    assert record["state"] == "completed" and record["channel"] == "api"
    assert record["rows_deleted"] == 1 and record["rows_inserted"] == 2
    # Said in the undo's language, and kept as words for the console to say in its own.
    assert record["message"] == f"実行 {run_id(2)} を取り消しました: 削除 1 行、復元 2 行"
    assert said(words_of(record["said"]), "", "en") == (
        f"undid run {run_id(2)}: 1 row removed, 2 rows restored"
    )

    again = await store.undo_run(run_id(2), UndoRun(run_id(8), "cli", "me", at(2)))
    assert (again.refusal, again.other) == (UndoRefusal.ALREADY_UNDONE, undo.id)
    # Run 1's images went when run 2 committed: it can no longer be undone.
    older = await store.undo_run(run_id(1), UndoRun(run_id(8), "cli", "me", at(2)))
    assert older.refusal is UndoRefusal.NOT_KEPT
    # The restored rows lie in their source range again: the next import replaces them.
    await import_file(store, run_id(3), [["C1", 3, "3", 1]])
    assert await rows_of(store) == [("C1", 3, "3", 1, "acme", "items.csv", run_id(3))]
    later = await store.undo_run(run_id(3), UndoRun(run_id(10), "cli", "me", at(3)))
    assert (later.deleted, later.restored) == (1, 2)


async def test_undo_restores_rows_whose_place_was_taken(store: Store) -> None:
    """Rows of another account written since may sit where the restored rows were
    (SQLite reuses the top rowids): they come back elsewhere, still in their file."""
    await store.ensure_layout(LAYOUT, COLUMNS)
    await import_file(store, run_id(1), [["A1", 1, "1", 1], ["A2", 2, "2", 1]])
    await import_file(store, run_id(2), [["B1", 3, "3", 1]])
    await import_file(store, run_id(3), [["X1", 9, "9", 1]], account="beta")
    undone = await store.undo_run(run_id(2), UndoRun(run_id(9), "cli", "me", at(2)))
    assert (undone.deleted, undone.restored) == (1, 2)
    assert sorted(await rows_of(store)) == [
        ("A1", 1, "1", 1, "acme", "items.csv", run_id(1)),
        ("A2", 2, "2", 1, "acme", "items.csv", run_id(1)),
        ("X1", 9, "9", 1, "beta", "items.csv", run_id(3)),
    ]
    # Wherever they went, the file's next import replaces both.
    await import_file(store, run_id(4), [["C1", 4, "4", 1]])
    assert sorted(await rows_of(store)) == [
        ("C1", 4, "4", 1, "acme", "items.csv", run_id(4)),
        ("X1", 9, "9", 1, "beta", "items.csv", run_id(3)),
    ]


async def test_undo_refusals(store: Store) -> None:
    await store.ensure_layout(LAYOUT, COLUMNS)
    await import_file(store, run_id(1), [["A1", 1, "1", 1]])
    await import_file(store, run_id(2), [["A2", 2, "2", 1]])

    def undo(n: int) -> UndoRun:
        return UndoRun(run_id(n, "undo00"), "cli", "me", at(3))

    blocked = await store.undo_run(run_id(1), undo(20))
    assert (blocked.refusal, blocked.other) == (UndoRefusal.NOT_LATEST, run_id(2))
    await store.add_run(run_id(3), meta())
    assert (await store.undo_run(run_id(3), undo(21))).refusal is (UndoRefusal.NOT_COMPLETED)
    missing = await store.undo_run("no-such-run", undo(22))
    assert (missing.run_id, missing.refusal) == (None, UndoRefusal.NOT_KEPT)
    # Nothing of a refused undo was written.
    assert await store.get_run(run_id(20, "undo00")) is None


async def test_undo_keyed_restores_before_images(store: Store) -> None:
    await store.ensure_layout(LAYOUT, COLUMNS, key=["code"])
    await keyed_import(store, run_id(1), "upsert", [["A", 1, "1.5", 1], ["B", 2, None, 0]])
    await keyed_import(store, run_id(2), "upsert", [["A", 10, "10", 0], ["C", 3, "3", 1]])
    await keyed_import(store, run_id(3), "delete", [["B"]], columns=["code"])
    # Only the latest keyed run can be undone.
    blocked = await store.undo_run(run_id(2), UndoRun(run_id(9), "api", "a", at(2)))
    assert (blocked.refusal, blocked.other) == (UndoRefusal.NOT_LATEST, run_id(3))

    undone = await store.undo_run(run_id(3), UndoRun(run_id(10), "api", "a", at(2)))
    assert (undone.deleted, undone.restored) == (0, 1)
    rows = await rows_of(store)
    # B is back with its NULL and its int intact (the image's types restored).
    assert ("B", 2, None, 0, "acme", "items.csv", run_id(1)) in rows
    assert len(rows) == 3


async def test_undo_finds_each_runs_images_among_others(store: Store) -> None:
    """Images of several files kept side by side, dropped in any order, and (SQLite)
    rowids of dropped images taken again: an undo puts back its run's alone."""
    await store.ensure_layout(LAYOUT, COLUMNS)
    rows = {n: [[f"R{n}", n, str(n), 1]] for n in range(1, 8)}
    rows[3].append(["R3b", 33, "33", 0])
    for n, name in [(1, "a.csv"), (2, "a.csv"), (3, "b.csv"), (4, "b.csv"), (5, "b.csv")]:
        await import_file(store, run_id(n), rows[n], filename=name)
    # Run 5 dropped run 4's images (the newest); its undo drops its own.
    undone = await store.undo_run(run_id(5), UndoRun(run_id(20), "cli", "me", at(2)))
    assert (undone.deleted, undone.restored) == (1, 1)
    for n in (6, 7):
        await import_file(store, run_id(n), rows[n], filename="c.csv")
    undone = await store.undo_run(run_id(7), UndoRun(run_id(21), "cli", "me", at(2)))
    assert (undone.deleted, undone.restored) == (1, 1)
    undone = await store.undo_run(run_id(2), UndoRun(run_id(22), "cli", "me", at(2)))
    assert (undone.deleted, undone.restored) == (1, 1)
    assert sorted(row[:2] for row in await rows_of(store)) == [("R1", 1), ("R4", 4), ("R6", 6)]


# -- report records, expected misses, digests ----------------------------------------


async def test_report_records(store: Store) -> None:
    rid = run_id(1)
    await store.add_run(rid, meta())
    assert await store.run_report(rid) is None
    await store.report_queued(rid, ["a@example.com", "担当@example.jp"])
    report = await store.run_report(rid)
    assert report["recipients"] == ["a@example.com", "担当@example.jp"]
    assert report["attempts"] == 0 and report["sent_at"] is None
    assert report["last_answer"] is None and report["queued_at"]

    await store.report_attempt(rid, "421 try later")
    await store.report_attempt(rid, "451 busy (100%)")
    report = await store.run_report(rid)
    assert (report["attempts"], report["last_answer"], report["sent_at"]) == (
        2,
        "451 busy (100%)",
        None,
    )
    await store.report_sent(rid, "250 ok")
    report = await store.run_report(rid)
    assert report["attempts"] == 3 and report["last_answer"] == "250 ok" and report["sent_at"]
    await store.report_sent(rid)  # taken with no answer to keep
    report = await store.run_report(rid)
    assert (report["attempts"], report["last_answer"]) == (4, None)
    # The system's answer (not the relay's) is kept as words too, until the next try.
    await store.report_attempt(rid, "Error connecting: refused", Words("os.refused"))
    assert (await store.run_report(rid))["said"] == Words("os.refused")
    await store.report_attempt(rid, "421 try later")
    assert (await store.run_report(rid))["said"] is None

    # Queued again (recovery): a new mail, its tries start over.
    await store.report_queued(rid, ["b@example.com"])
    await store.report_refused(rid, "550 no such user")
    report = await store.run_report(rid)
    assert report["recipients"] == ["b@example.com"]
    assert (report["attempts"], report["last_answer"], report["sent_at"]) == (
        1,
        "550 no such user",
        None,
    )
    # A run queued before the table existed: nothing to update, no error.
    await store.report_sent(run_id(2), "250 ok")
    assert await store.run_report(run_id(2)) is None


async def test_expected_misses(store: Store) -> None:
    assert await store.add_miss("acme", "2026-05-01", at(1, 12)) is True
    assert await store.add_miss("acme", "2026-05-01", at(1, 13)) is False  # alerted once
    assert await store.add_miss("acme", "2026-05-02", at(2, 12)) is True
    assert await store.add_miss("beta", "2026-05-01", at(1, 12)) is True
    assert await store.open_misses() == [
        ("acme", "2026-05-02"),
        ("acme", "2026-05-01"),
        ("beta", "2026-05-01"),
    ]
    assert await store.open_misses("beta") == [("beta", "2026-05-01")]
    assert await store.close_miss("acme", "2026-05-01", at(1, 14), run_id(1)) is True
    assert await store.close_miss("acme", "2026-05-01", at(1, 15), run_id(2)) is False
    assert await store.open_misses("acme") == [("acme", "2026-05-02")]

    await store.add_run(run_id(1), meta(received=at(1, 13)))
    await store.update_run(run_id(1), state=RunState.COMPLETED)
    await store.add_run(run_id(2), meta(received=at(1, 11)))  # not completed
    await store.add_run(run_id(3), meta(received=at(1, 12)))
    await store.update_run(run_id(3), state=RunState.COMPLETED, dry_run=True)
    found = await store.completed_between("acme", at(1, 0), at(2, 0))
    assert found == {"id": run_id(1), "filename": "items.csv", "rows_imported": 0, "rows_failed": 0}
    assert await store.completed_between("acme", at(1, 0), at(1, 13)) is None


async def test_expect_checks_never_move_back(store: Store) -> None:
    assert await store.expect_checks() == {}
    await store.record_expect_checks({"acme": at(2, 9), "beta": at(2, 9)}, [])
    await store.record_expect_checks({"acme": at(1, 9), "beta": at(3, 9)}, [])
    assert await store.expect_checks() == {"acme": at(2, 9), "beta": at(3, 9)}
    await store.record_expect_checks({}, ["beta", "gone"])
    assert await store.expect_checks() == {"acme": at(2, 9)}


async def test_digests(store: Store) -> None:
    assert await store.digest_sent("acme", "2026-05-01") is False
    assert await store.add_digest("acme", "2026-05-01", at(2), 3) is True
    assert await store.add_digest("acme", "2026-05-01", at(2, 10), 4) is False  # once
    assert await store.digest_sent("acme", "2026-05-01") is True
    assert await store.digest_sent("acme", "2026-05-02") is False

    for n, state, finished in [
        (1, RunState.COMPLETED, at(1, 12)),
        (2, RunState.FAILED, at(1, 10)),
        (3, RunState.RUNNING, at(1, 11)),
        (4, RunState.COMPLETED, at(2, 12)),
    ]:
        await store.add_run(run_id(n), meta())
        await store.update_run(run_id(n), state=state, finished_at=finished)
    found = await store.runs_finished_between("acme", at(1, 0), at(2, 0))
    assert [r["id"] for r in found] == [run_id(2), run_id(1)]  # oldest first
    assert found[0]["state"] == "failed"


# -- schedule slots and exclusive work -------------------------------------------------


async def test_claim_slot_once(store: Store, target: Target) -> None:
    tick = dt.datetime(2026, 5, 1, 18, 0, tzinfo=dt.timezone(dt.timedelta(hours=9)))
    assert await store.claim_slot("check:acme", tick) is True
    assert await store.claim_slot("check:acme", tick) is False
    # The same instant in another zone is the same slot.
    assert await store.claim_slot("check:acme", tick.astimezone(dt.UTC)) is False
    assert await store.claim_slot("check:beta", tick) is True
    assert await store.claim_slot("check:acme", tick + dt.timedelta(hours=1)) is True

    # Two instances on one store, racing for the same tick: exactly one wins.
    other = await target.open("contract-b")
    try:
        next_tick = tick + dt.timedelta(days=1)
        for _ in range(3):
            won = await asyncio.gather(
                store.claim_slot("send:daily", next_tick), other.claim_slot("send:daily", next_tick)
            )
            assert sorted(won) == [False, True]
            next_tick += dt.timedelta(days=1)
    finally:
        await other.close()
    assert await store.sweep_slots(tick.astimezone(dt.UTC).isoformat()) == 0
    assert await store.sweep_slots("9999") == 6


async def test_exclusive(store: Store, target: Target) -> None:
    other = await target.open("contract-b")
    try:
        async with store.exclusive("check:acme") as mine:
            assert mine is True
            async with other.exclusive("check:acme") as theirs:
                # SQLite is one instance's alone: it always holds its own work.
                assert theirs is (target.kind == "sqlite")
            async with other.exclusive("check:beta") as unrelated:
                assert unrelated is True
        # Released with the first holder's context: the other may take it now.
        async with other.exclusive("check:acme") as theirs:
            assert theirs is True
    finally:
        await other.close()


# -- outward -----------------------------------------------------------------------


async def test_send_runs_and_requests(store: Store) -> None:
    await store.ensure_layout(LAYOUT, COLUMNS)
    await import_file(store, run_id(1), [["A1", 5, "1", 1], ["A2", 6, "2", 0], ["A3", 5, "3", 1]])
    await import_file(store, run_id(2), [["X1", 5, "9", 1]], account="beta")

    rows = await store.send_rows(LAYOUT, ["code", "qty"], "acme", {}, None)
    assert rows == [("A1", 5), ("A2", 6), ("A3", 5)]
    # A config filter is text: 5 matches the int column's 5.
    assert await store.send_rows(LAYOUT, ["code"], None, {"qty": "5"}, None) == [
        ("A1",),
        ("A3",),
        ("X1",),
    ]
    assert await store.send_rows(LAYOUT, ["code"], None, {}, run_id(2)) == [("X1",)]

    send = run_id(3, "send00")
    await store.add_send_run(
        {
            "id": send,
            "account": "acme",
            "channel": "send",
            "sender": "schedule",
            "filename": "out.csv",
            "layout": LAYOUT,
            "encoding": "utf-8",
            "state": RunState.RUNNING,
            "received_at": at(2),
            "started_at": at(2),
            "options": '{"send": "daily"}',
            "retry_of": None,
        }
    )
    run = await store.get_run(send)
    assert run["direction"] == "send" and run["state"] == "running"
    assert run["layout"] == LAYOUT and run["options"] == '{"send": "daily"}'

    def request(seq: int, job: str = "job-1") -> dict[str, Any]:
        return {
            "job_id": job,
            "run_id": send,
            "seq": seq,
            "kind": "send",
            "name": "daily",
            "method": "POST",
            "url": f"https://example.com/in?part={seq}&x=100%25",
            "bytes": 100 * seq,
            "rows": seq,
            "state": "waiting",
            "attempts": 0,
            "status": None,
            "answer": "",
            "at": at(2),
        }

    await store.log_requests([request(2), request(1)])
    await store.log_requests([request(1)])  # spooled again after a restart: kept once
    await store.log_requests([])
    await store.request_answered("job-1", 1, "done", 1, 200, "ok", at(2, 10))
    found = await store.requests_of(send)
    assert [r["seq"] for r in found] == [1, 2]
    assert found[0] == {
        "seq": 1,
        "kind": "send",
        "name": "daily",
        "method": "POST",
        "url": "https://example.com/in?part=1&x=100%25",
        "bytes": 100,
        "rows": 1,
        "state": "done",
        "attempts": 1,
        "status": 200,
        "answer": "ok",
        "at": at(2, 10),
    }
    assert (found[1]["state"], found[1]["status"]) == ("waiting", None)
    assert await store.requests_of(run_id(1)) == []


# -- console -----------------------------------------------------------------------


async def test_console_sessions_and_audit(store: Store) -> None:
    await store.add_session("s1", "alice", "127.0.0.1", at(1, 9), at(1, 17))
    assert await store.session_user("s1", at(1, 10)) == "alice"
    assert await store.session_user("s1", at(1, 17)) is None  # expired
    assert await store.session_user("nope", at(1, 10)) is None
    # A new session sweeps the expired ones.
    await store.add_session("s2", "bob", "::1", at(2, 9), at(2, 17))
    assert await store.session_user("s1", at(1, 10)) is None
    assert await store.session_user("s2", at(2, 10)) == "bob"
    await store.end_session("s2")
    assert await store.session_user("s2", at(2, 10)) is None

    for n in range(3):
        await store.audit(
            {
                "at": at(1, 10, n),
                "user": "alice",
                "address": "127.0.0.1",
                "action": "login" if n == 0 else "undo",
                "target": f"run {n}",
                "outcome": "ok",
                # Not given: detail is written empty.
            }
        )
    entries, total = await store.audit_entries(2)
    assert total == 3
    assert [e["target"] for e in entries] == ["run 2", "run 1"]
    assert entries[0]["user"] == "alice" and entries[0]["detail"] == ""
    assert entries[0]["at"] == at(1, 10, 2) and entries[0]["action"] == "undo"
    entries, total = await store.audit_entries(2, offset=2)
    assert [e["target"] for e in entries] == ["run 0"] and total == 3


async def test_console_run_queries(store: Store) -> None:
    await store.add_run(run_id(1), meta("acme", "Stock_100%.csv", at(1)))
    await store.add_run(run_id(2), meta("acme", "stock_2.csv", at(2)))
    await store.add_run(run_id(3), meta("beta", "STOCK_100%.CSV", at(3)))
    await store.update_run(run_id(2), state=RunState.FAILED)

    rows, total = await store.find_runs(None, {}, limit=10)
    assert total == 3 and [r["id"] for r in rows] == [run_id(3), run_id(2), run_id(1)]
    rows, total = await store.find_runs(["acme"], {"state": "", "channel": "api"})
    assert total == 2
    assert await store.find_runs([], {}) == ([], 0)  # no account may be seen
    # A file name fragment, case-blind, its % and _ literal.
    rows, total = await store.find_runs(None, {}, filename="k_100%")
    assert total == 2 and [r["id"] for r in rows] == [run_id(3), run_id(1)]
    rows, total = await store.find_runs(None, {}, filename="k%2")
    assert total == 0
    rows, total = await store.find_runs(None, {"state": "failed"})
    assert [r["id"] for r in rows] == [run_id(2)]
    rows, total = await store.find_runs(None, {}, since=at(2), until=at(3), limit=1)
    assert [r["id"] for r in rows] == [run_id(2)] and total == 1
    rows, total = await store.find_runs(None, {}, limit=1, offset=1)
    assert [r["id"] for r in rows] == [run_id(2)] and total == 3

    assert await store.runs_by_state(at(1)) == {
        ("acme", "queued"): 1,
        ("acme", "failed"): 1,
        ("beta", "queued"): 1,
    }
    assert await store.runs_by_state(at(3)) == {("beta", "queued"): 1}


# -- records API -------------------------------------------------------------------


async def test_records_api(store: Store) -> None:
    await store.ensure_layout(LAYOUT, COLUMNS, key=["code"])
    await import_file(store, run_id(1), [["A1", 5, "10.5", 1], ["A2", 12, "9", 0]])
    key = {"code": "R1"}
    stamp = Stamp("admin", at(2))

    made = await store.create_record(
        LAYOUT, NAMES, key, "acme", {"code": "R1", "qty": 7, "price": "100"}, stamp
    )
    assert (made.outcome, made.after) == (
        "ok",
        {"code": "R1", "qty": 7, "price": "100", "active": None},
    )
    assert (
        await store.create_record(LAYOUT, NAMES, key, "acme", {"code": "R1"}, stamp)
    ).outcome == ("duplicate")
    found = await store.find_records(LAYOUT, NAMES, key, "acme")
    assert len(found) == 1
    assert {k: v for k, v in found[0].items() if k != "rowid"} == {
        "code": "R1",
        "qty": 7,
        "price": "100",
        "active": None,
        "_account": "acme",
        "_source_file": "api:records",
        "_run_id": "",
    }
    assert await store.find_records(LAYOUT, NAMES, key, "beta") == []

    changed = await store.update_record(LAYOUT, NAMES, key, "acme", {"qty": 8, "bogus": 1}, stamp)
    assert changed.outcome == "ok"
    assert changed.before["qty"] == 7 and changed.after["qty"] == 8
    assert "bogus" not in changed.after
    missing = await store.update_record(LAYOUT, NAMES, {"code": "ZZ"}, "acme", {"qty": 1}, stamp)
    assert (missing.outcome, missing.count) == ("not_found", 0)

    # Searches: a numeric range on a TEXT-stored decimal compares as numbers.
    def codes(rows: list[dict[str, Any]]) -> list[str]:
        return [r["code"] for r in rows]

    rows, total = await store.search_records(LAYOUT, NAMES, [], [], 10, 0)
    assert total == 3 and codes(rows) == ["A1", "A2", "R1"]
    assert rows[0]["_run_id"] == run_id(1)
    price_from = [Condition("price", "from", "9.5", numeric=True)]
    rows, total = await store.search_records(LAYOUT, NAMES, price_from, [], 10, 0)
    assert codes(rows) == ["A1", "R1"] and total == 2
    by_price = [Order("price", descending=True, numeric=True)]
    rows, _ = await store.search_records(LAYOUT, NAMES, [], by_price, 10, 0)
    assert codes(rows) == ["R1", "A1", "A2"]
    rows, _ = await store.search_records(LAYOUT, NAMES, [], [Order("qty")], 2, 1)
    assert codes(rows) == ["R1", "A2"]
    contains = [Condition("code", "contains", "A"), Condition("qty", "to", 10)]
    rows, total = await store.search_records(LAYOUT, NAMES, contains, [], 10, 0)
    assert codes(rows) == ["A1"] and total == 1
    nothing = [Condition("active", "eq", None)]
    rows, _ = await store.search_records(LAYOUT, NAMES, nothing, [], 10, 0)
    assert codes(rows) == ["R1"]

    gone = await store.delete_record(LAYOUT, NAMES, key, "acme", Stamp("acme", at(3)))
    assert gone.outcome == "ok" and gone.before["qty"] == 8
    assert await store.find_records(LAYOUT, NAMES, key, None) == []

    history, total = await store.record_history(LAYOUT, "acme", ["R1"], 10, 0)
    assert total == 3
    assert [(h["action"], h["who"], h["key"]) for h in history] == [
        ("delete", "acme", ["R1"]),
        ("update", "admin", ["R1"]),
        ("create", "admin", ["R1"]),
    ]
    assert history[0]["after"] is None and history[0]["before"]["qty"] == 8
    assert history[2]["before"] is None and history[2]["after"]["price"] == "100"
    history, total = await store.record_history(LAYOUT, None, None, 1, 1)
    assert total == 3 and [h["action"] for h in history] == ["update"]
    assert await store.record_history(LAYOUT, "beta", None, 10, 0) == ([], 0)


async def test_records_sort_nulls_first(store: Store) -> None:
    """NULL sorts below every value, ascending and descending, as SQLite has it."""
    await store.ensure_layout(LAYOUT, COLUMNS)
    await import_file(
        store, run_id(1), [["b", 2, "2.5", 1], ["n", None, None, 1], ["a", 1, "10", 0]]
    )

    async def codes(order: Order) -> list[str]:
        rows, _ = await store.search_records(LAYOUT, NAMES, [], [order], 10, 0)
        return [r["code"] for r in rows]

    assert await codes(Order("qty")) == ["n", "a", "b"]
    assert await codes(Order("qty", descending=True)) == ["b", "a", "n"]
    assert await codes(Order("price", numeric=True)) == ["n", "b", "a"]
    assert await codes(Order("price", descending=True, numeric=True)) == ["a", "b", "n"]


# -- transactions, health ----------------------------------------------------------


async def test_transaction_rolls_back_on_exception(store: Store) -> None:
    await store.ensure_layout(LAYOUT, COLUMNS)
    rid = run_id(1)
    await store.add_run(rid, meta())

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with store.transaction() as db:
            await store.lock_layout(db, LAYOUT)
            first, _ = await store.replace_source(db, LAYOUT, "acme", "items.csv", rid)
            await store.insert_rows(
                db, store.row_insert(LAYOUT, "acme", "items.csv", rid), [["A1", 1, "1", 1]]
            )
            await store.record_source(db, LAYOUT, "acme", "items.csv", rid, first)
            await store.learn_choices(db, LAYOUT, "code", ["new"], rid)
            await store.add_errors(db, rid, [RowError(1, "", "", "x")])
            await store.update_run(rid, db=db, state=RunState.COMPLETED)
            raise Boom
    assert await rows_of(store) == []
    assert await store.run_state(rid) is RunState.QUEUED
    assert await store.run_errors(rid) == []
    assert await store.learned_choices(LAYOUT) == {}
    # The store is usable after the rollback: the same import now commits.
    await import_file(store, run_id(2), [["A1", 1, "1", 1]])
    assert len(await rows_of(store)) == 1


async def test_transaction_rolls_back_on_sql_error_and_cancel(store: Store) -> None:
    await store.ensure_layout(LAYOUT, COLUMNS)
    rid = run_id(1)
    await store.add_run(rid, meta())
    # A statement the engine refuses: the transaction is rolled back, the store goes on.
    with pytest.raises(Exception, match="no_such_table"):
        async with store.transaction() as db:
            await store.update_run(rid, db=db, state=RunState.COMPLETED)
            await db.execute('SELECT * FROM "no_such_table"')
    assert await store.run_state(rid) is RunState.QUEUED
    # Cancellation (SIGTERM mid-import) rolls back too.
    with pytest.raises(asyncio.CancelledError):
        async with store.transaction() as db:
            await store.update_run(rid, db=db, state=RunState.RUNNING)
            raise asyncio.CancelledError
    assert await store.run_state(rid) is RunState.QUEUED
    await store.update_run(rid, state=RunState.FAILED)
    assert await store.run_state(rid) is RunState.FAILED


async def test_reader_sees_only_committed(store: Store) -> None:
    """The API reads through the reader: never an import's uncommitted rows."""
    await store.ensure_layout(LAYOUT, COLUMNS)
    rid = run_id(1)
    await store.add_run(rid, meta())
    async with store.transaction() as db:
        insert = store.row_insert(LAYOUT, "acme", "items.csv", rid)
        await store.insert_rows(db, insert, [["A1", 1, "1", 1]])
        await store.update_run(rid, db=db, state=RunState.COMPLETED)
        assert await rows_of(store) == []
        assert (await store.get_run(rid))["state"] == "queued"
    assert len(await rows_of(store)) == 1
    assert (await store.get_run(rid))["state"] == "completed"


async def test_layout_writes_wait_for_other_instance(store: Store, target: Target) -> None:
    """Two instances importing into one layout: the second waits for the first's commit."""
    await store.ensure_layout(LAYOUT, COLUMNS)
    other = await target.open("contract-b")
    await other.ensure_layout(LAYOUT, COLUMNS)
    order: list[str] = []

    async def second() -> None:
        async with other.transaction() as db:
            await other.lock_layout(db, LAYOUT)
            order.append("second")
            await other.insert_rows(
                db, other.row_insert(LAYOUT, "beta", "b.csv", run_id(2)), [["B1", 2, "2", 1]]
            )

    try:
        async with store.transaction() as db:
            await store.lock_layout(db, LAYOUT)
            await store.insert_rows(
                db, store.row_insert(LAYOUT, "acme", "a.csv", run_id(1)), [["A1", 1, "1", 1]]
            )
            waiting = asyncio.create_task(second())
            await asyncio.sleep(0.3)
            assert not order  # still waiting for this transaction
            order.append("first")
        await asyncio.wait_for(waiting, 10)
    finally:
        await other.close()
    assert order == ["first", "second"]
    assert [r[0] for r in await rows_of(store)] == ["A1", "B1"]


async def test_ping_and_unreachable(store: Store, target: Target, tmp_path: Path) -> None:
    await store.ping()
    if target.kind == "sqlite":
        blocker = tmp_path / "a-file"
        blocker.write_text("")
        with pytest.raises(OSError):
            await SqliteStore.open(blocker / "renkei.db")
        return
    # A port nobody listens on: bound, then closed again.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(psycopg.OperationalError):
        await PostgresStore.open(f"postgresql://renkei@127.0.0.1:{port}/renkei", "x")


async def test_a_delivery_recorded_elsewhere_is_found_by_the_resend_rules(store):
    """What a waiting item no door recorded is checked against at start
    (spool/memory.recorded_elsewhere): the run another instance made of its resend,
    by its key from when it came (months ago here, not the last 24 hours from now),
    or for an API file without a key, by the content of the latest run of its name."""
    taken = run_id(2)
    await store.add_run(taken, meta(received=at(1, 9, 5), idempotency_key="<k@x>"))
    waiting = meta(received=at(1, 9, 0), idempotency_key="<k@x>")
    assert await recorded_elsewhere(store, waiting, lambda: None) == taken
    other = meta(received=at(1, 9, 0), idempotency_key="<other@x>")
    assert await recorded_elsewhere(store, other, lambda: None) is None

    by_content = run_id(3)
    await store.add_run(by_content, meta(filename="b.csv", sha256="ab" * 32))
    await store.update_run(by_content, state=RunState.COMPLETED)
    same = meta(filename="b.csv", by_content=True)
    assert await recorded_elsewhere(store, same, lambda: "ab" * 32) == by_content
    assert await recorded_elsewhere(store, same, lambda: "cd" * 32) is None
    await store.update_run(by_content, state=RunState.FAILED)
    assert await recorded_elsewhere(store, same, lambda: "ab" * 32) is None


async def test_the_first_write_after_the_servers_session_ended_is_done(pg_url: str) -> None:
    """PostgreSQL ended the store's session (a restart, an admin's terminate) while it
    was idle: the next transaction's BEGIN met the dead session, and the first delivery
    after a restart got a 451 for a write that was never tried. (PostgreSQL's alone:
    SQLite has no session to lose.)"""
    store = await Target("postgres", pg_url).open()
    try:
        await store.add_run(run_id(1), meta())
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        await asyncio.sleep(0.2)  # the terminations land
        await store.add_run(run_id(2), meta(filename="second.csv"))
        assert (await store.get_run(run_id(2)))["filename"] == "second.csv"
    finally:
        await store.close()
