"""On SQLite a run is recorded only once the importer takes its file; the URL a 202
named answers before that all the same, a queued run as PostgreSQL shows one (its
door records it). The real daemon, its importer stopped or the store held."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support import (
    Daemon,
    account,
    csv_bytes,
    import_process,
    pause,
    renkei,
    store_held,
    write_config,
)

ACCOUNTS = (
    account("acme", encoding="utf-8")
    + '[accounts.acme.api]\ntoken = "demo-acme-token"\n'
    + account("beta")
    + '[accounts.beta.api]\ntoken = "demo-beta-token"\n'
)
ACME = {"Authorization": "Bearer demo-acme-token"}
BETA = {"Authorization": "Bearer demo-beta-token"}
ADMIN = {"Authorization": "Bearer demo-admin"}


@pytest.fixture
def daemon(tmp_path):
    d = Daemon(write_config(tmp_path, ACCOUNTS)).start()
    yield d
    d.terminate()


@contextlib.contextmanager
def importer_stopped(daemon: Daemon) -> Iterator[None]:
    pid = import_process(daemon)
    pause(pid)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def upload(daemon: Daemon, name: str) -> dict:
    files = {"file": (name, csv_bytes(["1,2024/05/16,1,a"], encoding="utf-8"))}
    reply = httpx.post(f"{daemon.api}/api/v1/imports", files=files, headers=ACME, timeout=60)
    assert reply.status_code == 202, reply.text
    return reply.json()


def get(url: str, headers: dict = ADMIN) -> httpx.Response:
    return httpx.get(url, headers=headers, timeout=30)


def post(url: str) -> httpx.Response:
    return httpx.post(url, headers=ADMIN, timeout=30)


def test_a_file_waiting_in_the_spool_answers_as_a_queued_run(daemon):
    with importer_stopped(daemon):
        accepted = upload(daemon, "20240516.csv")
        assert daemon.query("SELECT id FROM runs WHERE id = ?", (accepted["id"],)) == []
        for who in (ADMIN, ACME):
            reply = get(accepted["url"], who)
            assert reply.status_code == 200, reply.text
            queued = reply.json()
            assert queued["id"] == accepted["id"]
            assert (queued["state"], queued["account"], queued["channel"]) == (
                "queued",
                "acme",
                "api",
            )
            assert (queued["filename"], queued["sender"]) == ("20240516.csv", "acme")
            # What the account's plan already says, before the importer took the file.
            assert (queued["layout"], queued["encoding"], queued["mode"]) == (
                "performance",
                "utf-8",
                "replace_file",
            )
            assert queued["received_at"] and queued["started_at"] is None
            assert queued["requests"] == []
        assert get(accepted["url"], BETA).status_code == 404

        # Not a header alone, which said there were no errors before the file was read.
        errors = get(f"{accepted['url']}/errors.csv")
        assert (errors.status_code, errors.json()["error"]) == (409, "run_not_final")
        # Kept once its run has ended: not yet, which "not kept" used to blame on retention.
        kept = get(f"{accepted['url']}/file")
        assert (kept.status_code, kept.json()["error"]) == (409, "run_not_final")
        assert "(状態 待機中)" in kept.json()["message"]  # in words, not the code

        retried = post(f"{accepted['url']}/retry")
        assert (retried.status_code, retried.json()["error"]) == (409, "run_not_final")
        assert "(状態 待機中)" in retried.json()["message"]
        undone = post(f"{accepted['url']}/undo")
        assert (undone.status_code, undone.json()["error"]) == (409, "run_not_completed")

    assert daemon.wait_run(accepted["id"])["state"] == "completed"
    completed = get(accepted["url"]).json()
    assert completed["state"] == "completed" and completed["rows_imported"] == 1
    assert completed.keys() == queued.keys()


def test_a_file_taken_while_the_store_is_held_answers_as_a_queued_run(daemon):
    active = daemon.data_dir / "spool" / "active"
    with store_held(daemon.db_path):
        accepted = upload(daemon, "20240517.csv")
        # The importer has taken it and waits for the store to record its run.
        deadline = time.monotonic() + 20
        while not any(active.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert any(active.iterdir())
        reply = get(accepted["url"])
        assert reply.status_code == 200, reply.text
        assert (reply.json()["id"], reply.json()["state"]) == (accepted["id"], "queued")
        # A write of the daemon's own waits for the store meanwhile (an audit of a login
        # form): the retry's look-up answered only after it, or timed out.
        waiting = threading.Thread(
            target=httpx.post,
            args=(f"{daemon.api}/console/login",),
            kwargs={"data": {"user": "x", "password": "y", "token": "t"}, "timeout": 60},
        )
        waiting.start()
        time.sleep(0.3)
        retried = httpx.post(f"{accepted['url']}/retry", headers=ADMIN, timeout=5)
        assert (retried.status_code, retried.json()["error"]) == (409, "run_not_final")
    waiting.join(60)
    assert daemon.wait_run(accepted["id"])["state"] == "completed"
    assert get(accepted["url"]).json()["state"] == "completed"


def test_an_unknown_run_and_a_name_outside_the_spool_are_not_found(daemon):
    for run_id in ("20240101T000000000000-abcdef", "..", "%2E%2E%2Fincoming"):
        reply = get(f"{daemon.api}/api/v1/runs/{run_id}")
        assert reply.status_code == 404, run_id


def test_a_queued_run_on_postgresql_shows_what_its_plan_says(tmp_path, pg_url):
    extra = f'[store]\nurl = "{pg_url}"\n'
    daemon = Daemon(write_config(tmp_path, ACCOUNTS, extra=extra)).start()
    try:
        with importer_stopped(daemon):
            accepted = upload(daemon, "20240518.csv")
            queued = get(accepted["url"]).json()
            listed = get(f"{daemon.api}/api/v1/runs?state=queued").json()
        assert queued["state"] == "queued"
        assert (queued["layout"], queued["encoding"]) == ("performance", "utf-8")
        assert [(r["id"], r["layout"]) for r in listed["runs"]] == [(accepted["id"], "performance")]
        completed = get(accepted["url"])
        deadline = time.monotonic() + 30
        while completed.json()["state"] != "completed" and time.monotonic() < deadline:
            time.sleep(0.1)
            completed = get(accepted["url"])
        assert completed.json()["state"] == "completed"
    finally:
        daemon.terminate()


def test_renkei_runs_and_show_know_a_file_waiting_in_the_spool(daemon):
    """The console and the API listed and showed it as queued; `renkei runs` left it
    out and `renkei show` of its short id said there was no such run."""
    with importer_stopped(daemon):
        accepted = upload(daemon, "20240517.csv")
        run_id, config = accepted["id"], str(daemon.config)
        listed = renkei("runs", "--json", "--config", config)
        [queued] = [run for run in json.loads(listed.stdout) if run["id"] == run_id]
        assert (queued["state"], queued["account"]) == ("queued", "acme")
        only = renkei("runs", "--json", "--state", "completed", "--config", config)
        assert run_id not in only.stdout
        shown = renkei("show", run_id[-6:], "--config", config)
        assert shown.returncode == 0, shown.stderr
        assert run_id in shown.stdout and "20240517.csv" in shown.stdout
    assert daemon.wait_run(run_id)["state"] == "completed"
