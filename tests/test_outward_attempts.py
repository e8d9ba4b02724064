"""An outward request's `attempts` says how many times it went out, counting the one a
`kill -9` cut off mid-request (daemon/outward/deliver.py)."""

from __future__ import annotations

import time

import httpx

from tests.capture import Capture
from tests.support import Daemon, account, csv_bytes, write_config

ADMIN = {"Authorization": "Bearer demo-admin"}
HOLD_SECONDS = 3.0  # the receiver holds the first request this long: the kill comes meanwhile


def _config(tmp_path, capture: Capture):
    accounts = account("acme") + '[accounts.acme.api]\ntoken = "demo-acme-token"\n'
    call = f"""
[calls.held]
after_import = ["acme"]
per = "run"
url = "{capture.url("/held")}"
params = {{ run = "{{run.id}}" }}
retry_seconds = 0.2
max_retry_seconds = 1
"""
    return write_config(tmp_path, accounts, extra=call)


def _imported(daemon: Daemon) -> str:
    reply = httpx.post(
        f"{daemon.api}/api/v1/imports?wait=true",
        files={"file": ("20240516.csv", csv_bytes(["1,2024/05/16,100,a"]))},
        headers={"Authorization": "Bearer demo-acme-token"},
        timeout=60,
    )
    assert reply.json()["state"] == "completed", reply.text
    return reply.json()["id"]


def _wait_in_flight(capture: Capture, path: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while capture.in_flight.get(path, 0) < 1:
        assert time.monotonic() < deadline, f"no request to {path} came"
        time.sleep(0.01)


def _answered(daemon: Daemon, run_id: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        run = httpx.get(f"{daemon.api}/api/v1/runs/{run_id}", headers=ADMIN, timeout=10).json()
        if run["requests"] and run["requests"][0]["state"] != "waiting":
            return run["requests"][0]
        assert time.monotonic() < deadline, run["requests"]
        time.sleep(0.05)


def test_a_request_cut_off_by_kill_9_is_counted_as_an_attempt(tmp_path):
    capture = Capture()
    capture.delays["/held"] = HOLD_SECONDS
    daemon = Daemon(_config(tmp_path, capture))
    try:
        daemon.start()
        run_id = _imported(daemon)
        _wait_in_flight(capture, "/held")
        daemon.kill()  # SIGKILL while the receiver holds the request
        capture.delays["/held"] = 0
        daemon.start()
        request = _answered(daemon, run_id)
        got = capture.wait("/held", 2)  # the held one too, once its hold ended
        assert (request["state"], request["status"]) == ("done", 200)
        assert request["attempts"] == len(got) == 2
        assert len({r.headers["idempotency-key"] for r in got}) == 1  # one request, twice
    finally:
        if daemon.proc is not None and daemon.proc.poll() is None:
            daemon.terminate()
        capture.close()
