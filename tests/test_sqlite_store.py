"""SQLite's own store: a transaction cancelled while it waits for the write lock, and
the delivery memory's look-ups answered in the asking thread."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading

from daemon.spool.queue import Meta
from daemon.store.glance import Glance
from daemon.store.sqlite import SqliteStore


def test_a_transaction_cancelled_at_its_begin_leaves_no_lock_behind(tmp_path, monkeypatch):
    monkeypatch.setenv("RENKEI_BUSY_TIMEOUT_MS", "2000")

    async def scenario() -> bool:
        store = await SqliteStore.open(tmp_path / "renkei.db")
        other = sqlite3.connect(tmp_path / "renkei.db", isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # another writer holds the lock

            async def write() -> None:
                async with store.transaction():
                    pass

            task = asyncio.create_task(write())
            await asyncio.sleep(0.3)  # inside BEGIN IMMEDIATE, waiting for the lock
            task.cancel()
            other.execute("COMMIT")  # the BEGIN may now go through in its thread
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await asyncio.sleep(0.3)
            # Nothing holds the lock: another connection writes at once.
            other.execute("PRAGMA busy_timeout = 0")
            other.execute("BEGIN IMMEDIATE")
            other.execute("COMMIT")
            return store.writer.in_transaction
        finally:
            other.close()
            await store.close()

    assert asyncio.run(scenario()) is False


def _meta(filename: str, sha256: str) -> Meta:
    return Meta("acme", "api", "acme", filename, "2026-12-03T00:00:00+00:00", sha256)


def test_the_delivery_memory_reads_the_latest_commit_without_a_round_trip(tmp_path):
    """The look-up before a delivery is spooled is answered in the loop's own thread
    (store/glance.py), and sees a run another process committed a moment before."""

    async def scenario() -> tuple[object, str, str]:
        store = await SqliteStore.open(tmp_path / "renkei.db")
        try:
            await store.add_run("20261203T000000000001-aaaaaa", _meta("20240516.csv", "a" * 64))
            first = (await store.latest_run_of_file("acme", "20240516.csv"))["sha256"]
            answered_here = store.glance("SELECT count(*) FROM runs", ())
            # A `renkei import` beside the daemon records a newer run of the same name.
            other = await SqliteStore.open(tmp_path / "renkei.db")
            try:
                await other.add_run("20261203T000000000002-bbbbbb", _meta("20240516.csv", "b" * 64))
            finally:
                await other.close()
            latest = (await store.latest_run_of_file("acme", "20240516.csv"))["sha256"]
            return answered_here[0][0], first, latest
        finally:
            await store.close()

    assert asyncio.run(scenario()) == (1, "a" * 64, "b" * 64)


def test_a_look_up_from_another_thread_goes_through_the_writer(tmp_path):
    async def scenario() -> tuple[object, object, str]:
        store = await SqliteStore.open(tmp_path / "renkei.db")
        try:
            await store.add_run("20261203T000000000001-aaaaaa", _meta("a.csv", "a" * 64))
            # The connection is the first caller's thread's; the loop's thread is refused…
            elsewhere = await asyncio.to_thread(store.glance, "SELECT id FROM runs", ())
            here = store.glance("SELECT id FROM runs", ())
            # …and its look-ups are answered all the same, through the writer.
            row = await store.latest_run_of_file("acme", "a.csv")
            return len(elsewhere), here, row["id"]
        finally:
            await store.close()

    assert asyncio.run(scenario()) == (1, None, "20261203T000000000001-aaaaaa")


def test_a_glance_never_waits_for_a_lock(tmp_path):
    """Whenever SQLite would make it wait, a glance answers None at once (its caller
    then asks through aiosqlite). A rollback-journal database whose writer holds an
    exclusive lock for half a second: a glance that waited would read the row after."""
    path = tmp_path / "locked.db"
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("CREATE TABLE t (x)")
    writer.execute("INSERT INTO t VALUES (1)")
    writer.execute("BEGIN EXCLUSIVE")
    release = threading.Timer(0.5, writer.execute, ("COMMIT",))
    glance = Glance(path)
    try:
        release.start()
        while_locked = glance.rows("SELECT x FROM t", ())
        release.join()
        after = glance.rows("SELECT x FROM t", ())
    finally:
        release.cancel()
        glance.close()
        writer.close()
    assert while_locked is None
    assert [tuple(row) for row in after] == [(1,)]


def test_a_large_runs_pages_reach_the_database_file_after_its_commit(tmp_path):
    """A transaction that copies staged parts in commits without the checkpoint, which
    then runs on its own: the database file alone, without its log, holds the rows."""
    part = tmp_path / "part0.db"
    with sqlite3.connect(part) as scratch:
        scratch.execute("CREATE TABLE staged_rows (n INTEGER, note TEXT)")
        scratch.executemany(
            "INSERT INTO staged_rows VALUES (?, ?)", ((i, "備考" * 20) for i in range(60000))
        )
    scratch.close()

    async def scenario() -> tuple[list, int, int]:
        store = await SqliteStore.open(tmp_path / "renkei.db")
        try:
            async with store.transaction() as db:
                await db.execute("CREATE TABLE big (n INTEGER, note TEXT)")
            async with store.transaction(staged=[part]) as db:
                await db.execute("INSERT INTO big SELECT * FROM staged0.staged_rows")
            async with store.writer.execute("PRAGMA wal_autocheckpoint") as cur:
                automatic = (await cur.fetchone())[0]
            await store._checkpoints.wait()
            # The database file as it is now, without the log beside it.
            copy = tmp_path / "alone.db"
            copy.write_bytes((tmp_path / "renkei.db").read_bytes())
            with contextlib.closing(sqlite3.connect(copy)) as alone:
                count = alone.execute("SELECT count(*) FROM big").fetchone()[0]
            async with store.writer.execute("PRAGMA wal_checkpoint(PASSIVE)") as cur:
                left = list(await cur.fetchone())
        finally:
            await store.close()
        return left, count, automatic

    left, count, automatic = asyncio.run(scenario())
    assert count == 60000
    assert automatic == 1000  # the writer's automatic checkpoint is back on
    assert left[0] == 0 and left[1] == left[2]  # every page of the log copied


def test_a_new_store_has_16_kib_pages_and_one_made_before_keeps_its_own(tmp_path):
    async def opened(path) -> int:
        store = await SqliteStore.open(path)
        try:
            await store.add_run("20261205T000000000000-aaaaaa", Meta("acme", "api", "a", "1.csv"))
            async with store.writer.execute("PRAGMA page_size") as cur:
                return (await cur.fetchone())[0]
        finally:
            await store.close()

    assert asyncio.run(opened(tmp_path / "new.db")) == 16384
    old = tmp_path / "old.db"
    with contextlib.closing(sqlite3.connect(old)) as db:
        db.execute("PRAGMA journal_mode=WAL")  # as every store before: 4 KiB pages
    assert asyncio.run(opened(old)) == 4096


HISTORY = 20_000


def _long_history(path) -> None:
    """HISTORY runs received: half of a logical file each (`file_key`), half recorded
    before runs had one (`file_key` ''), every tenth with an idempotency key."""
    db = sqlite3.connect(path)
    db.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)"
        " INSERT INTO runs (id, account, channel, filename, file_key, state, received_at,"
        " idempotency_key)"
        " SELECT printf('20261203T%012d-aaaaaa', i), 'acme', 'api', printf('%d.csv', i),"
        " CASE WHEN i % 2 THEN printf('%d.csv', i) ELSE '' END, 'completed',"
        " '2026-12-03T00:00:00.000+00:00', CASE WHEN i % 10 = 0 THEN printf('k%d', i) ELSE '' END"
        " FROM n",
        (HISTORY,),
    )
    db.commit()
    db.close()


def test_the_delivery_memory_and_the_daemon_read_a_few_rows_whatever_the_history(tmp_path):
    """Its look-ups sit on every delivery's path to the answer: each must go by an
    index, not through the runs received (an OR, or a range on `received_at`, took
    SQLite through all of them: milliseconds a delivery at 20,000 runs). So must what
    the daemon asks of the history now and then."""

    async def scenario() -> list[tuple[object, int]]:
        store = await SqliteStore.open(tmp_path / "renkei.db")
        _long_history(tmp_path / "renkei.db")
        steps = [0]
        store.glance("SELECT 1", ())
        # The glance connection's virtual machine steps, a hundred at a time.
        store._glance._db.set_progress_handler(lambda: steps.__setitem__(0, steps[0] + 1), 100)

        async def counted(look_up) -> tuple[object, int]:
            steps[0] = 0
            found = await look_up
            return found if found is None or isinstance(found, str) else found["id"], steps[0]

        try:
            # What the daemon asks now and then: the reports still to queue (a minute),
            # the overview's counts of the day (every five seconds a console is open),
            # and at each start the sends and calls a crash left to start.
            for db in (store.writer, store.reader):
                await db.set_progress_handler(lambda: steps.__setitem__(0, steps[0] + 1), 100)
            steps[0] = 0
            pending = await store.runs_to_report()
            today = await store.runs_by_state("2026-12-04")
            forward = await store.runs_to_forward()
            periodic = (len(pending), today, len(forward), steps[0])
            return [
                await counted(store.latest_run_of_file("acme", "new.csv", "new.csv")),
                await counted(store.latest_run_of_file("acme", "7.csv", "7.csv")),
                await counted(store.latest_run_of_file("acme", "8.csv", "8.csv")),
                await counted(store.latest_run_of_file("acme", "9.csv")),
                await counted(store.run_by_key("acme", "k20", "2026-12-02")),
                await counted(store.run_by_key("acme", "k21", "2026-12-02")),
            ], periodic
        finally:
            await store.close()

    found, periodic = asyncio.run(scenario())
    assert [what for what, _ in found] == [
        None,
        "20261203T000000000007-aaaaaa",  # by its key
        "20261203T000000000008-aaaaaa",  # recorded without one: by its name
        "20261203T000000000009-aaaaaa",
        "20261203T000000000020-aaaaaa",
        None,
    ]
    # A few hundred steps each; read through every run, tens of thousands.
    assert max(steps for _, steps in found) < 20, found
    assert periodic[:3] == (0, {}, 0) and periodic[3] < 20, periodic


def test_a_run_list_filtered_by_state_or_channel_reads_what_it_shows(tmp_path):
    """The few failed runs (or the mail runs) among a long history: the run lists of the
    console, the API and `renkei runs` go by an index for the page and its count, not
    through every run received (tens of thousands of steps before)."""

    async def scenario() -> list[tuple[int, int, int]]:
        store = await SqliteStore.open(tmp_path / "renkei.db")
        _long_history(tmp_path / "renkei.db")
        db = sqlite3.connect(tmp_path / "renkei.db")
        db.execute("UPDATE runs SET state = 'failed' WHERE id LIKE '%00000000007-aaaaaa'")
        db.execute("UPDATE runs SET channel = 'mail' WHERE id LIKE '%00000000009-aaaaaa'")
        db.commit()
        db.close()
        steps = [0]
        await store.reader.set_progress_handler(lambda: steps.__setitem__(0, steps[0] + 1), 100)
        counted = []
        try:
            for look_up in (
                store.list_runs({"state": "failed"}, 50),
                store.find_runs(None, {"state": "failed"}),
                store.find_runs(["acme"], {"channel": "mail"}, limit=20),
            ):
                steps[0] = 0
                rows, total = await look_up
                counted.append((len(rows), total, steps[0]))
            return counted
        finally:
            await store.close()

    counted = asyncio.run(scenario())
    assert [(shown, total) for shown, total, _ in counted] == [(1, 1), (1, 1), (1, 1)]
    assert max(steps for _, _, steps in counted) < 20, counted


def test_a_message_written_as_text_alone_drops_the_words_of_the_one_before(tmp_path):
    """A run's message and its words go together: an aborted run taken up again, or a
    send's message rewritten, must not be said by the words of its earlier message."""

    async def scenario() -> tuple[str, str]:
        store = await SqliteStore.open(tmp_path / "renkei.db")
        try:
            await store.add_run("r1", Meta("acme", "api", "x", "20240516.csv"))
            await store.update_run("r1", message="中断", said='{"k":"run.aborted","p":{}}')
            first = (await store.get_run("r1"))["said"]
            await store.update_run("r1", message="")
            return first, (await store.get_run("r1"))["said"]
        finally:
            await store.close()

    assert asyncio.run(scenario()) == ('{"k":"run.aborted","p":{}}', "")
