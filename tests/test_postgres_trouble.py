"""PostgreSQL's trouble of the moment, through the real daemon on the suite's own server
(tests/postgres.py): a read-only server, a table lock held past the lock timeout, the
daemon's sessions dropped (as by a restart). None is the file's fault: it waits, is
never counted as a failed attempt, and is imported once the trouble is over."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from importers.messages import said, words_of
from tests.support import (
    Daemon,
    account,
    cli_import,
    csv_bytes,
    import_process,
    pause,
    write_config,
)

pytestmark = pytest.mark.slow
ADMIN = {"Authorization": "Bearer demo-admin"}
ACME_API = {"Authorization": "Bearer demo-acme-api"}


def pg_config(folder: Path, pg_url: str) -> Path:
    section = account("acme", report="never") + '[accounts.acme.api]\ntoken = "demo-acme-api"\n'
    return write_config(folder, section, extra=f'[store]\nurl = "{pg_url}"\n')


def query(pg_url: str, sql: str, params: tuple = ()) -> list[dict[str, Any]]:
    with psycopg.connect(pg_url, row_factory=dict_row) as conn:
        return conn.execute(sql, params).fetchall()


def run_of(pg_url: str, run_id: str) -> dict[str, Any]:
    rows = query(pg_url, "SELECT * FROM runs WHERE id = %s", (run_id,))
    return rows[0] if rows else {}


def wait_state(pg_url: str, run_id: str, states: tuple[str, ...], timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (run := run_of(pg_url, run_id)).get("state") in states:
            return run
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} not {states}: {run_of(pg_url, run_id)}")


def post(daemon: Daemon, rows: list[str], name: str = "20240516.csv") -> str:
    files = {"file": (name, csv_bytes(rows))}
    url = f"{daemon.api}/api/v1/imports"
    answer = httpx.post(url, headers=ACME_API, files=files, timeout=30)
    assert answer.status_code == 202, answer.text
    return answer.json()["id"]


def set_read_only(pg_url: str, on: bool) -> None:
    """A failover's demoted primary: every new transaction is read-only."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        if on:
            conn.execute("ALTER SYSTEM SET default_transaction_read_only = on")
        else:
            conn.execute("ALTER SYSTEM RESET default_transaction_read_only")
        conn.execute("SELECT pg_reload_conf()")


def failed_items(daemon: Daemon) -> list[Path]:
    return list((daemon.data_dir / "spool" / "failed").iterdir())


def test_a_read_only_server_makes_the_file_wait_not_fail(tmp_path, pg_url):
    daemon = Daemon(pg_config(tmp_path, pg_url)).start()
    worker = import_process(daemon)
    try:
        pause(worker)  # the door records the run; the import comes once read-only
        try:
            run_id = post(daemon, ["1,2024/05/16,10,a"])
            set_read_only(pg_url, True)
        finally:
            os.kill(worker, signal.SIGCONT)
        try:
            deadline = time.monotonic() + 20
            while "put back to try again later" not in daemon.log.read_text():
                assert time.monotonic() < deadline, daemon.log.read_text()[-3000:]
                time.sleep(0.1)
            # Tried again while still read-only; the report outbox looked (every 5 s).
            time.sleep(6)
            run = run_of(pg_url, run_id)
            assert run["state"] == "queued" and run["attempts"] == 0, run
            assert failed_items(daemon) == []
            assert "crashed" not in daemon.log.read_text()
        finally:
            set_read_only(pg_url, False)
        run = wait_state(pg_url, run_id, ("completed", "failed"))
        assert run["state"] == "completed" and run["rows_imported"] == 1, run
        assert failed_items(daemon) == []
    finally:
        daemon.terminate()


def test_a_lock_held_past_the_timeout_puts_the_file_back_saying_so(tmp_path, pg_url):
    # RENKEI_BUSY_TIMEOUT_MS shortens the lock timeout as it does SQLite's busy one.
    daemon = Daemon(pg_config(tmp_path, pg_url), env={"RENKEI_BUSY_TIMEOUT_MS": "1000"})
    daemon.start()
    try:
        first = post(daemon, ["1,2024/05/16,10,a"])
        assert wait_state(pg_url, first, ("completed", "failed"))["state"] == "completed"
        with psycopg.connect(pg_url) as other:
            other.execute("LOCK TABLE performance IN ACCESS EXCLUSIVE MODE")
            run_id = post(daemon, ["2,2024/05/17,20,b"], "20240517.csv")
            deadline = time.monotonic() + 30
            while "ロック" not in (run := run_of(pg_url, run_id))["message"]:
                assert time.monotonic() < deadline, (run, daemon.log.read_text()[-3000:])
                time.sleep(0.1)
            assert run["state"] == "queued" and run["attempts"] == 0, run
            assert "1 秒" in run["message"], run
            # Kept as words too: the English console says the wait in English.
            english = said(words_of(run["said"]), "", "en")
            assert "held a lock on the table for more than 1 s" in english, run
            assert "crashed" not in daemon.log.read_text()
        run = wait_state(pg_url, run_id, ("completed", "failed"))
        assert run["state"] == "completed" and run["rows_imported"] == 1, run
        assert failed_items(daemon) == []
    finally:
        daemon.terminate()


def test_the_first_read_after_the_sessions_were_dropped_is_answered(tmp_path, pg_url):
    """pg_terminate_backend of the daemon's sessions is what a restart does to them."""
    daemon = Daemon(pg_config(tmp_path, pg_url)).start()
    try:
        run_id = post(daemon, ["1,2024/05/16,10,a"])
        assert wait_state(pg_url, run_id, ("completed", "failed"))["state"] == "completed"
        assert httpx.get(f"{daemon.api}/api/v1/runs", headers=ADMIN, timeout=30).status_code == 200
        db = pg_url.rsplit("/", 1)[1]
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (db,),
            )
        with httpx.Client(headers=ADMIN, timeout=30) as client:
            runs = client.get(f"{daemon.api}/api/v1/runs?limit=1")
            assert runs.status_code == 200, runs.text
            assert runs.json()["runs"][0]["id"] == run_id
            one = client.get(f"{daemon.api}/api/v1/runs/{run_id}")
            assert one.status_code == 200 and one.json()["state"] == "completed", one.text
        # The worker's sessions were dropped too: the next file is imported all the same.
        second = post(daemon, ["2,2024/05/17,20,b"], "20240517.csv")
        assert wait_state(pg_url, second, ("completed", "failed"))["state"] == "completed"
        assert "crashed" not in daemon.log.read_text()
    finally:
        daemon.terminate()


def test_a_statement_timeout_the_database_sets_does_not_cut_an_import_short(tmp_path, pg_url):
    """README: no statement has a time limit. One set on the database cancelled a long
    import at every try, the file put back again and again, each later one behind it."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET statement_timeout = 1',"
            " current_database()); END $$"
        )
    source = tmp_path / "20240516.csv"
    source.write_bytes(csv_bytes([f"{i},2024/05/16,{i},備考 {i}" for i in range(9_000)]))
    run = cli_import(pg_config(tmp_path, pg_url), source)
    assert (run["state"], run["rows_imported"]) == ("completed", 9_000), run["message"]
