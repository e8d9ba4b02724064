"""A layout's table dropped by hand under the running daemon: a file for it fails at
once saying so (it was tried three times, tracebacks in the log, and quarantined with
no word of why), the Records API answers 503 in words (a bare 500), and a reload makes
the table again. A real daemon on SQLite and on PostgreSQL, real clients."""

from __future__ import annotations

import contextlib
import signal
import sqlite3

import httpx
import psycopg
import pytest

from tests.support import Daemon, account, csv_bytes, wait_for, write_config

ADMIN = {"Authorization": "Bearer demo-admin"}
ACME = {"Authorization": "Bearer demo-acme-token"}


def upload(daemon: Daemon, name: str) -> dict:
    answer = httpx.post(
        f"{daemon.api}/api/v1/imports?wait=true",
        files={"file": (name, csv_bytes(["1,2024/05/16,1,a"]))},
        headers=ACME,
        timeout=60,
    )
    assert answer.status_code in (200, 422), answer.text
    return answer.json()


def ended(daemon: Daemon, run_id: str) -> dict | None:
    run = httpx.get(f"{daemon.api}/api/v1/runs/{run_id}", headers=ADMIN).json()
    return run if run["state"] not in ("queued", "running") else None


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_a_table_dropped_by_hand_fails_its_files_at_once_saying_so(tmp_path, request, store):
    extra = ""
    if store == "postgresql":
        pg_url = request.getfixturevalue("pg_url")
        extra = f'[store]\nurl = "{pg_url}"\n'
    accounts = account("acme") + '[accounts.acme.api]\ntoken = "demo-acme-token"\n'
    daemon = Daemon(write_config(tmp_path, accounts, extra=extra)).start()
    try:
        assert upload(daemon, "20240516.csv")["state"] == "completed"
        if store == "postgresql":
            with psycopg.connect(pg_url, autocommit=True) as conn:
                conn.execute("DROP TABLE performance")
        else:
            with contextlib.closing(sqlite3.connect(daemon.db_path)) as db:
                db.execute("DROP TABLE performance")
                db.commit()
        run = upload(daemon, "20240517.csv")
        assert (run["state"], run["rows_imported"]) == ("failed", 0), run
        assert "取込先のテーブルかその列がデータベースにありません" in run["message"], run
        assert list((daemon.data_dir / "spool" / "failed").iterdir()) == []
        records = httpx.get(f"{daemon.api}/api/v1/records/performance", headers=ADMIN)
        assert records.status_code == 503, records.text
        assert records.json()["error"] == "table_missing"
        daemon.notify.drain()
        daemon.notify.received.clear()
        daemon.proc.send_signal(signal.SIGHUP)  # a reload makes the table again
        daemon.notify.wait_for("RELOADING=1")
        daemon.notify.wait_for("READY=1")
        retried = httpx.post(f"{daemon.api}/api/v1/runs/{run['id']}/retry", headers=ADMIN)
        assert retried.status_code == 202, retried.text
        again = wait_for(lambda: ended(daemon, retried.json()["id"]))
        assert (again["state"], again["rows_imported"]) == ("completed", 1), again
        assert "Traceback" not in daemon.log.read_text(errors="replace")
    finally:
        daemon.terminate()
