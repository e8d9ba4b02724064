"""Files in flight (daemon/worker/turns.py) against the real daemon: the next file is
read while the one before it writes, runs still end in the order they came (on SQLite
and on PostgreSQL, where a large file streams its parts inside its run's transaction),
and a stop with three in flight puts them all back to be imported exactly once."""

from __future__ import annotations

import time

import psycopg

from daemon.spool.queue import Meta, Spool
from tests.support import FINAL, Daemon, account, csv_bytes, wait_for, write_config
from tests.test_durability import BIG_LIMITS, big_config, big_csv

# A file read in parts, the longest; one that fails at once, on its name; one that
# replaces the first (same name, mode replace_file).
IN_ORDER = [
    ("20240516.csv", big_csv(20_000)),
    ("hello.csv", csv_bytes(["1,2024/05/16,1,named"])),
    ("20240516.csv", csv_bytes(["1,2024/05/16,1,second"])),
]


def spooled(tmp_path, files: list[tuple[str, bytes]]) -> list[str]:
    """The files waiting in the spool, in this order, before the daemon starts: its
    worker finds them all at once, as it finds a burst of mail."""
    spool = Spool(tmp_path / "var" / "spool")
    return [
        spool.enqueue(Meta("acme", "mail", "export@acme.example", name), data).id
        for name, data in files
    ]


def test_the_next_file_is_read_while_the_one_before_it_writes(tmp_path):
    config = big_config(tmp_path)
    # Each over the size read in parts by the readers (staging.PARTS_PAY).
    first, second = spooled(
        tmp_path, [("20240516.csv", big_csv(20_000)), ("20240517.csv", big_csv(20_000))]
    )
    daemon = Daemon(config).start()
    try:
        a = daemon.wait_run(first, timeout=60)
        b = daemon.wait_run(second, timeout=60)
    finally:
        daemon.terminate()
    assert (a["state"], a["rows_imported"]) == ("completed", 20_000), a
    assert (b["state"], b["rows_imported"]) == ("completed", 20_000), b
    # The second was taken up before the first had ended, and ended after it.
    assert b["started_at"] < a["finished_at"] <= b["finished_at"]
    assert daemon.query("SELECT count(*) FROM performance") == [(40_000,)]


def test_runs_end_in_the_order_they_came(tmp_path):
    config = big_config(tmp_path)
    ids = spooled(tmp_path, IN_ORDER)
    daemon = Daemon(config).start()
    try:
        runs = [daemon.wait_run(run_id, timeout=60) for run_id in ids]
    finally:
        daemon.terminate()
    assert [run["state"] for run in runs] == ["completed", "failed", "completed"], runs
    assert "「hello.csv」は規則に合いません" in runs[1]["message"], runs[1]
    # The name's failure waited for the file before it, though it was known at once.
    finished = [run["finished_at"] for run in runs]
    assert finished == sorted(finished), runs
    assert daemon.query("SELECT note FROM performance") == [("second",)]


def test_runs_end_in_the_order_they_came_on_postgresql(tmp_path, pg_url):
    extra = f'[store]\nurl = "{pg_url}"\n' + BIG_LIMITS
    config = write_config(tmp_path, account("acme"), extra=extra)
    ids = spooled(tmp_path, IN_ORDER)
    daemon = Daemon(config).start()
    try:
        runs = pg_runs(pg_url, ids)
    finally:
        daemon.terminate()
    assert [state for state, _ in runs] == ["completed", "failed", "completed"], runs
    finished = [at for _, at in runs]
    assert finished == sorted(finished), runs
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT note FROM performance").fetchall() == [("second",)]


def pg_runs(pg_url: str, ids: list[str], timeout: float = 60) -> list[tuple[str, str]]:
    """(state, finished_at) of each run once every one is final."""
    deadline = time.monotonic() + timeout
    while True:
        with psycopg.connect(pg_url) as conn:
            rows = conn.execute(
                "SELECT id, state, finished_at FROM runs WHERE id = ANY(%s)", (ids,)
            ).fetchall()
        found = {run_id: (state, str(at)) for run_id, state, at in rows}
        if all(found.get(run_id, ("",))[0] in FINAL for run_id in ids):
            return [found[run_id] for run_id in ids]
        assert time.monotonic() < deadline, found
        time.sleep(0.05)


def test_a_stop_with_three_files_in_flight_puts_them_all_back_to_be_imported_once(tmp_path):
    config = big_config(tmp_path)
    files = [
        ("20240516.csv", big_csv(300_000)),
        ("20240517.csv", big_csv(20_000)),
        ("20240518.csv", big_csv(20_000)),
    ]
    ids = spooled(tmp_path, files)
    daemon = Daemon(config).start()
    try:
        # The first is being read; the two after it, claimed beside it, wait their turn.
        scratch = daemon.data_dir / "staging" / ids[0]
        wait_for(lambda: list(scratch.glob("part*.db")), timeout=60, step=0.01)
        active = daemon.data_dir / "spool" / "active"
        wait_for(lambda: len(list(active.iterdir())) == 3, timeout=10, step=0.01)
        assert sorted(p.name for p in active.iterdir()) == ids
    finally:
        assert daemon.terminate() == 0
    assert [daemon.run(run_id)["state"] for run_id in ids] == ["aborted"] * 3
    incoming = daemon.data_dir / "spool" / "incoming"
    assert sorted(p.name for p in incoming.iterdir()) == ids
    assert list(active.iterdir()) == []
    daemon = Daemon(config).start()
    try:
        runs = [daemon.wait_run(run_id, timeout=120) for run_id in ids]
    finally:
        daemon.terminate()
    assert [(run["state"], run["rows_imported"]) for run in runs] == [
        ("completed", 300_000),
        ("completed", 20_000),
        ("completed", 20_000),
    ]
    assert daemon.query("SELECT count(*) FROM performance") == [(340_000,)]
