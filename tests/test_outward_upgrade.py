"""Sends an older renkei left in data_dir/outward/ on a PostgreSQL store go out after
the upgrade: moved once into the shared table, delivered once, their run completed.

A renkei before the shared table kept its outward jobs in the folder even with a
PostgreSQL store, its runs and request log in PostgreSQL. That state is built for
real: a daemon starts a send to a receiver that answers 503 and is killed, then its
job is written out of the shared table by JobFolder (the writer older versions used)
and taken out of the table. Real daemons, a real PostgreSQL server, a real receiver.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from daemon.outward.jobs import JobFolder, job_of
from tests.capture import Capture
from tests.support import Daemon, account, csv_bytes, write_config

pytestmark = pytest.mark.slow
ADMIN = {"Authorization": "Bearer demo-admin"}
ACME_API = {"Authorization": "Bearer demo-acme-api"}


def query(pg_url: str, sql: str, params: tuple = ()) -> list[dict[str, Any]]:
    with psycopg.connect(pg_url, row_factory=dict_row) as conn:
        return conn.execute(sql, params).fetchall()


def wait_state(pg_url: str, run_id: str, state: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        run = query(pg_url, "SELECT * FROM runs WHERE id = %s", (run_id,))[0]
        if run["state"] == state or time.monotonic() > deadline:
            return run
        time.sleep(0.1)


def pg_config(folder: Path, pg_url: str, relay_port: int, capture: Capture) -> Path:
    folder.mkdir()
    section = account("acme") + '[accounts.acme.api]\ntoken = "demo-acme-api"\n'
    extra = f'[store]\nurl = "{pg_url}"\ninstance = "a"\n'
    config = write_config(folder, section, extra=extra, relay_port=relay_port)
    config.write_text(config.read_text() + capture.retrying_send("push"))
    return config


def send_left_in_folder(daemon: Daemon, pg_url: str, keep_shared_copy: bool = False) -> str:
    """A send waiting on a receiver that answers 503, its daemon killed, its job in
    data_dir/outward/ as an older renkei left it; the run's id."""
    daemon.start()
    files = {"file": ("20240516.csv", csv_bytes(["1,2024/05/16,10,x", "2,2024/05/16,20,y"]))}
    answer = httpx.post(
        f"{daemon.api}/api/v1/imports?wait=true", headers=ACME_API, files=files, timeout=60
    )
    assert answer.json()["state"] == "completed", answer.text
    started = httpx.post(f"{daemon.api}/api/v1/sends/push", headers=ADMIN, timeout=30)
    assert started.status_code == 202, started.text
    run_id = started.json()["id"]
    capture_wait = time.monotonic() + 30
    while not query(pg_url, "SELECT job_id FROM outward_jobs") and time.monotonic() < capture_wait:
        time.sleep(0.05)
    time.sleep(0.5)  # a few 503s: attempts counted in the job
    daemon.kill()
    (row,) = query(pg_url, "SELECT job_id, job FROM outward_jobs")
    bodies = query(
        pg_url, "SELECT seq, body FROM outward_bodies WHERE job_id = %s", (row["job_id"],)
    )
    job = job_of(json.loads(row["job"]))
    assert job.requests[0].attempts >= 1 and job.requests[0].state == "waiting"
    JobFolder(daemon.data_dir / "outward").create(job, {b["seq"]: bytes(b["body"]) for b in bodies})
    if not keep_shared_copy:
        with psycopg.connect(pg_url) as conn:
            conn.execute("DELETE FROM outward_bodies")
            conn.execute("DELETE FROM outward_jobs")
    return run_id


def outward_left(daemon: Daemon) -> list[str]:
    return sorted(p.name for p in (daemon.data_dir / "outward").iterdir())


@pytest.mark.parametrize("keep_shared_copy", [False, True], ids=["folder", "crash-after-move"])
def test_a_send_left_in_the_folder_goes_once_after_the_upgrade(
    tmp_path, pg_url, relay, keep_shared_copy
):
    """crash-after-move: the shared copy was committed and the process died before the
    folder was removed; the job still goes once."""
    capture = Capture(default=(503, {}, b"busy"))
    daemon = Daemon(pg_config(tmp_path / "a", pg_url, relay.port, capture))
    try:
        run_id = send_left_in_folder(daemon, pg_url, keep_shared_copy)
        assert (daemon.data_dir / "outward" / run_id / "job.json").is_file()
        before = len(capture.to("/push"))
        capture.default = (200, {}, b"ok")
        daemon.start()
        run = wait_state(pg_url, run_id, "completed")
        assert run["state"] == "completed" and run["rows_imported"] == 2
        got = capture.to("/push")[before:]
        assert [r.status for r in got] == [200]
        assert got[0].headers["idempotency-key"] == f"{run_id}-1"
        assert b"2024/05/16" in got[0].body or b"2024-05-16" in got[0].body
        assert outward_left(daemon) == []
        daemon.terminate()
        daemon.start()
        time.sleep(1.5)
        assert len(capture.to("/push")) == before + 1
        assert query(pg_url, "SELECT count(*) AS n FROM outward_jobs")[0]["n"] == 0
        shown = httpx.get(f"{daemon.api}/api/v1/runs/{run_id}", headers=ADMIN, timeout=30)
        assert shown.json()["state"] == "completed"
    finally:
        if daemon.proc is not None and daemon.proc.poll() is None:
            daemon.terminate()
        capture.close()
