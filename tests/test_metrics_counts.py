"""What GET /metrics counts: `renkei_runs_total{state}` the daemon's import runs, a dry
run's too; `renkei_rows_imported_total` the rows they committed, so none of a dry
run's; an undo is the admin's act, not an import, and is in neither. Against the real
daemon."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.support import Daemon, account, csv_bytes, write_config

TOKEN = {"Authorization": "Bearer demo-acme-token"}
ADMIN = {"Authorization": "Bearer demo-admin"}
ROWS = ["1,2024/05/16,100,a", "2,2024/05/16,200,b", "3,2024/05/16,300,c"]


@pytest.fixture
def daemon(tmp_path, relay):
    accounts = account("acme", report="never") + '[accounts.acme.api]\ntoken = "demo-acme-token"\n'
    d = Daemon(write_config(tmp_path, accounts, relay_port=relay.port)).start()
    yield d
    d.terminate()


def upload(daemon: Daemon, name: str, dry_run: bool) -> dict:
    params = {"wait": "true"} | ({"dry_run": "true"} if dry_run else {})
    reply = httpx.post(
        f"{daemon.api}/api/v1/imports",
        headers=TOKEN,
        files={"file": (name, csv_bytes(ROWS))},
        params=params,
        timeout=60,
    )
    assert reply.status_code == 200, reply.text
    return daemon.wait_run(reply.json()["id"])


def counters(daemon: Daemon) -> dict[str, float]:
    text = httpx.get(f"{daemon.api}/metrics", timeout=10).text
    wanted = r"^(renkei_rows_imported_total|renkei_runs_total\{[^}]*\}) (\S+)$"
    return {name: float(value) for name, value in re.findall(wanted, text, re.M)}


def test_a_dry_run_counts_as_a_run_and_commits_no_rows(daemon):
    dry = upload(daemon, "20240516.csv", dry_run=True)
    assert (dry["state"], dry["dry_run"], dry["rows_imported"]) == ("completed", True, 3)
    assert daemon.query("SELECT count(*) FROM performance") == [(0,)]
    seen = counters(daemon)
    assert seen['renkei_runs_total{state="completed"}'] == 1
    assert seen["renkei_rows_imported_total"] == 0

    real = upload(daemon, "20240516.csv", dry_run=False)
    assert (real["state"], real["rows_imported"]) == ("completed", 3)
    seen = counters(daemon)
    assert seen['renkei_runs_total{state="completed"}'] == 2
    assert seen["renkei_rows_imported_total"] == 3


def test_an_undo_is_not_counted_as_an_import(daemon):
    real = upload(daemon, "20240516.csv", dry_run=False)
    before = counters(daemon)
    reply = httpx.post(f"{daemon.api}/api/v1/runs/{real['id']}/undo", headers=ADMIN, timeout=60)
    assert reply.status_code == 201, reply.text
    assert daemon.query("SELECT count(*) FROM performance") == [(0,)]
    assert counters(daemon) == before
