"""Calls where the name, the size or the receiver went wrong: a Japanese name still
gives an ASCII Idempotency-Key, a per-row call's progress costs the same per request
however many rows it has (and survives a kill -9), and an answer whose body is cut
off or trickles past the timeout is answered by its status line. Real daemons, real
HTTP receivers."""

from __future__ import annotations

import http.server
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.capture import Capture
from tests.support import Daemon, account, csv_bytes, wait_for, write_config

ADMIN = {"Authorization": "Bearer demo-admin"}
FAST = "retry_seconds = 0.2\nmax_retry_seconds = 0.5\n"
MANY = 1000  # rows of one per-row call


def token_account(name: str) -> str:
    return account(name) + f'[accounts.{name}.api]\ntoken = "demo-{name}-token"\n'


class _Cut(http.server.BaseHTTPRequestHandler):
    """`/drop`: 200, then the connection closed mid-body. `/trickle`: 200, then a body
    a byte at a time, past the caller's timeout. Each request counted by path."""

    protocol_version = "HTTP/1.1"
    seen: Counter = Counter()

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        _Cut.seen[self.path] += 1
        self.send_response(200)
        if self.path == "/drop":
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"accepted, and then")
            self.wfile.flush()
            self.close_connection = True
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for _ in range(40):
                self.wfile.write(b"1\r\nx\r\n")
                self.wfile.flush()
                time.sleep(0.1)
        except OSError:
            pass
        self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def capture():
    server = Capture()
    yield server
    server.close()


@pytest.fixture(scope="module")
def cut():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Cut)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def daemon(tmp_path_factory, capture, cut):
    folder = tmp_path_factory.mktemp("calls_fixes")
    extra = f"""
[calls."通知"]
after_import = ["jp"]
per = "row"
url = "{capture.url("/jp")}"
params = {{ member = "{{row.member_no}}" }}
{FAST}
[calls.many]
after_import = ["many"]
per = "row"
url = "{capture.url("/many")}"
params = {{ member = "{{row.member_no}}" }}
{FAST}
[calls.drop]
after_import = ["cut"]
per = "run"
url = "{cut}/drop"
max_attempts = 3
{FAST}
[calls.trickle]
after_import = ["cut"]
per = "run"
url = "{cut}/trickle"
timeout = 1
max_attempts = 3
{FAST}
"""
    accounts = "".join(token_account(n) for n in ("jp", "many", "cut"))
    d = Daemon(write_config(folder, accounts, extra=extra)).start()
    try:
        yield d
    finally:
        d.terminate()


def imported(daemon: Daemon, who: str, rows: list[str]) -> dict:
    reply = httpx.post(
        f"{daemon.api}/api/v1/imports?wait=true",
        files={"file": ("20240516.csv", csv_bytes(rows))},
        headers={"Authorization": f"Bearer demo-{who}-token"},
        timeout=120,
    )
    assert reply.json()["state"] == "completed", reply.text
    return reply.json()


def settled(daemon: Daemon, run_id: str, count: int, timeout: float = 60) -> list[dict]:
    """The run's requests, once `count` are listed and none is waiting."""
    deadline = time.monotonic() + timeout
    while True:
        body = httpx.get(f"{daemon.api}/api/v1/runs/{run_id}", headers=ADMIN, timeout=30).json()
        requests = body["requests"]
        if len(requests) >= count and all(r["state"] != "waiting" for r in requests):
            return requests
        assert time.monotonic() < deadline, requests[:5]
        time.sleep(0.1)


def written(pid: int) -> int:
    """Bytes the process has passed to write(2) and the like, files and sockets alike."""
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    raise AssertionError("no wchar")


# -- 2. a call named in Japanese -----------------------------------------------------


def test_a_call_named_in_japanese_sends_with_an_ascii_idempotency_key(daemon, capture):
    run = imported(daemon, "jp", ["1,2024/05/16,100,a", "2,2024/05/16,200,b"])
    requests = settled(daemon, run["id"], 2)
    assert [(r["state"], r["status"]) for r in requests] == [("done", 200), ("done", 200)]
    got = capture.wait("/jp", 2)
    keys = sorted(r.headers["idempotency-key"] for r in got)
    assert keys == [f"{run['id']}-call-%E9%80%9A%E7%9F%A5-{seq}" for seq in (1, 2)]


# -- 4. a per-row call's progress is O(1) a request ----------------------------------


def test_a_per_row_call_of_many_rows_sends_each_once_writing_little_per_request(daemon, capture):
    rows = [f"{n},2024/05/16,{n},row {n}" for n in range(1, MANY + 1)]
    before = written(daemon.proc.pid)
    run = imported(daemon, "many", rows)
    requests = settled(daemon, run["id"], MANY, timeout=240)
    assert all(r["state"] == "done" for r in requests)
    got = capture.wait("/many", MANY)
    keys = Counter(r.headers["idempotency-key"] for r in got)
    assert len(keys) == MANY and set(keys.values()) == {1}
    # Rewriting job.json (all the requests) at each step wrote ~500 MB for 1,000 rows;
    # appending each request's progress writes some KB a request, the store's included.
    assert written(daemon.proc.pid) - before < 100_000_000


def test_a_per_row_call_killed_midway_resumes_sending_none_answered_again(tmp_path):
    capture = Capture()
    capture.delays["/kept"] = 0.02
    extra = f"""
[calls.kept]
after_import = ["acme"]
per = "row"
concurrency = 4
url = "{capture.url("/kept")}"
params = {{ member = "{{row.member_no}}" }}
{FAST}
"""
    daemon = Daemon(write_config(tmp_path, token_account("acme"), extra=extra))
    try:
        daemon.start()
        rows = [f"{n},2024/05/16,{n},r" for n in range(1, 301)]
        run = imported(daemon, "acme", rows)
        capture.wait("/kept", 100)
        daemon.kill()
        job = tmp_path / "var" / "outward" / f"{run['id']}-call-kept"
        assert (job / "progress").stat().st_size > 0  # the log, not job.json rewritten
        daemon.start()
        requests = settled(daemon, run["id"], 300, timeout=120)
        assert all(r["state"] == "done" for r in requests)
        keys = Counter(r.headers["idempotency-key"] for r in capture.to("/kept"))
        assert len(keys) == 300
        # Only those in flight at the kill (at most `concurrency`) went twice.
        again = [key for key, count in keys.items() if count > 1]
        assert len(again) <= 4 and set(keys.values()) <= {1, 2}
        wait_for(lambda: not job.exists())  # let go once its last answer is kept
    finally:
        if daemon.proc is not None and daemon.proc.poll() is None:
            daemon.terminate()
        capture.close()


# -- 5. the status line in, the request is answered ----------------------------------


def test_an_answer_cut_off_or_trickling_after_its_200_is_done_and_sent_once(daemon):
    _Cut.seen.clear()
    run = imported(daemon, "cut", ["1,2024/05/16,100,a"])
    requests = {r["name"]: r for r in (settled(daemon, run["id"], 2, timeout=60))}
    drop, trickle = requests["drop"], requests["trickle"]
    assert (drop["state"], drop["status"], drop["attempts"]) == ("done", 200, 1)
    assert drop["answer"] == "accepted, and then"
    assert (trickle["state"], trickle["status"], trickle["attempts"]) == ("done", 200, 1)
    assert set(trickle["answer"]) <= {"x"} and len(trickle["answer"]) < 40
    assert _Cut.seen == {"/drop": 1, "/trickle": 1}
