"""The store out of reach, as the web app answers it: 503 with Retry-After and words
(JSON for the API, a page for the console), on a connection that stays usable; and a
file the door accepted under ?wait=true is answered 202, never a 5xx.

A real daemon on a real PostgreSQL server (tests/postgres.py). The server is shared by
the worker's tests, so it is not stopped: the test's own database stops taking
connections and the daemon's sessions on it are ended, which is what the daemon sees
of a server gone away.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import pytest

from tests.console_support import login, login_token, users_toml
from tests.support import Daemon, account, csv_bytes, import_process, pause, write_config

ADMIN = {"Authorization": "Bearer demo-admin"}
ACME = {"Authorization": "Bearer demo-acme-token"}
WORDS_JA = "データベースに接続できない"
# What finding 2 of the PostgreSQL probe saw answered with a bare 500.
API_CALLS = (
    ("GET", "/api/v1/runs"),
    ("GET", "/api/v1/runs/{run_id}"),
    ("GET", "/api/v1/accounts"),
    ("GET", "/api/v1/accounts/{name}"),
    ("POST", "/api/v1/runs/{run_id}/retry"),
    ("POST", "/api/v1/runs/{run_id}/undo"),
    ("GET", "/api/v1/runs/{run_id}/file"),
)


@pytest.fixture
def daemon(tmp_path, pg_url) -> Iterator[Daemon]:
    extra = f'[store]\nurl = "{pg_url}"\n' + users_toml({"admin": ("admin", [])})
    accounts = account("acme") + '[accounts.acme.api]\ntoken = "demo-acme-token"\n'
    d = Daemon(write_config(tmp_path, accounts, extra=extra)).start()
    yield d
    d.terminate()


def _maintenance(pg_url: str) -> tuple[str, str]:
    """The server's `postgres` database, and the name of the test's own."""
    parts = urlsplit(pg_url)
    return urlunsplit(parts._replace(path="/postgres")), parts.path.lstrip("/")


@contextlib.contextmanager
def altered(pg_url: str, setting: str, undone: str) -> Iterator[None]:
    """The test's database under `ALTER DATABASE … setting` with every session of it
    ended (new ones take the setting), until `ALTER DATABASE … undone`."""
    url, name = _maintenance(pg_url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" {setting}')
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
    try:
        yield
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{name}" {undone}')


def store_down(pg_url: str) -> contextlib.AbstractContextManager[None]:
    """The test's database out of reach: no new connection, every session ended."""
    return altered(pg_url, "ALLOW_CONNECTIONS false", "ALLOW_CONNECTIONS true")


def upload(base: str, name: str, wait: bool) -> httpx.Response:
    files = {"file": (name, csv_bytes(["1,2024/05/16,1,a"]))}
    params = {"wait": "true"} if wait else {}
    url = f"{base}/api/v1/imports"
    return httpx.post(url, files=files, headers=ACME, params=params, timeout=60)


def client_port(answer: httpx.Response) -> int:
    """The client's port of the connection `answer` came on."""
    return answer.extensions["network_stream"].get_extra_info("client_addr")[1]


def test_every_api_route_answers_503_in_words_on_one_connection(daemon, pg_url):
    done = upload(daemon.api, "20240516.csv", wait=True)
    assert done.status_code == 200, done.text
    run_id = done.json()["id"]
    with httpx.Client(base_url=daemon.api, headers=ADMIN, timeout=30) as client:
        first = client.get("/healthz")
        assert first.status_code == 200
        with store_down(pg_url):
            for method, path in API_CALLS:
                answer = client.request(method, path.format(run_id=run_id, name="acme"))
                where = f"{method} {path}"
                assert answer.status_code == 503, f"{where}: {answer.text}"
                assert answer.headers["retry-after"] == "30", where
                body = answer.json()
                assert body["error"] == "store_unreachable", where
                assert WORDS_JA in body["message"], where
                assert client_port(answer) == client_port(first), f"{where}: reconnected"
            english = client.get("/api/v1/runs", headers={"Accept-Language": "en"})
            assert "the database cannot be reached" in english.json()["message"]
            after = client.get("/openapi.json")
            assert after.status_code == 200
            assert client_port(after) == client_port(first)
            for method, path in API_CALLS:
                operation = after.json()["paths"][path]
                assert "503" in operation[method.lower()]["responses"], f"{method} {path}"


def test_the_console_answers_503_with_a_page_in_words(daemon, pg_url):
    admin = login(daemon.api, "admin")
    stranger = httpx.Client(base_url=daemon.api, follow_redirects=False, timeout=30)
    token = login_token(stranger)
    with contextlib.closing(admin), contextlib.closing(stranger), store_down(pg_url):
        for path in ("/console/", "/console/accounts/acme"):
            page = admin.get(path)
            assert page.status_code == 503, f"{path}: {page.text}"
            assert page.headers["content-type"].startswith("text/html"), path
            assert page.headers["retry-after"] == "30", path
            assert "一時的に利用できません" in page.text and WORDS_JA in page.text, path
        form = {"user": "admin", "password": "console-pass-1", "token": token}
        refused = stranger.post("/console/login", data=form)
        assert refused.status_code == 503, refused.text
        assert WORDS_JA in refused.text
        again = stranger.get("/console/login")
        assert again.status_code == 200
        assert client_port(again) == client_port(refused)


def queued_run(pg_url: str, timeout: float = 30) -> str:
    """The id of the run the door recorded (queued, its importer stopped)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with psycopg.connect(pg_url) as conn:
            row = conn.execute("SELECT id FROM runs WHERE state = 'queued'").fetchone()
        if row:
            return row[0]
        time.sleep(0.05)
    raise AssertionError("no queued run")


def test_an_accepted_upload_waiting_for_its_run_is_answered_202(daemon, pg_url):
    worker = import_process(daemon)
    pause(worker)
    answers: list[httpx.Response] = []
    try:
        post = threading.Thread(
            target=lambda: answers.append(upload(daemon.api, "20240517.csv", wait=True))
        )
        post.start()
        run_id = queued_run(pg_url)
        with store_down(pg_url):
            post.join(60)
            assert answers, "no answer while the store was down"
    finally:
        os.kill(worker, signal.SIGCONT)
    [answer] = answers
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body == {"id": run_id, "url": f"{daemon.api}/api/v1/runs/{run_id}"}


def read_only(pg_url: str) -> contextlib.AbstractContextManager[None]:
    """The test's database read-only, as a failover leaves a demoted primary."""
    setting = "default_transaction_read_only"
    return altered(pg_url, f"SET {setting} = on", f"RESET {setting}")


def test_a_read_only_server_answers_a_write_503_and_reads_still_work(daemon, pg_url):
    done = upload(daemon.api, "20240516.csv", wait=True)
    assert done.status_code == 200, done.text
    run_id = done.json()["id"]
    with httpx.Client(base_url=daemon.api, headers=ADMIN, timeout=30) as client:
        with read_only(pg_url):
            assert client.get(f"/api/v1/runs/{run_id}").status_code == 200
            # The first write meets its ended session; the next, a new read-only one.
            for _ in range(2):
                answer = client.post(f"/api/v1/runs/{run_id}/undo")
                assert answer.status_code == 503, answer.text
                assert answer.json()["error"] == "store_unreachable"
                assert answer.headers["retry-after"] == "30"
            # Said as read-only, where it was said the server could not be reached.
            assert "データベースが読み取り専用です" in answer.json()["message"], answer.text
        assert client.get(f"/api/v1/runs/{run_id}").json()["state"] == "completed"


def test_a_lock_held_past_the_timeout_is_answered_busy_not_unreachable(tmp_path, pg_url):
    """Another session holding the layout's lock (a long import) made a Records API
    write wait, then answered that the database could not be reached."""
    extra = f'[store]\nurl = "{pg_url}"\n'
    accounts = account("acme") + '[accounts.acme.api]\ntoken = "demo-acme-token"\n'
    config = write_config(tmp_path, accounts, extra=extra)
    # Keyed: the Records API creates no record in a layout without a key.
    keyed = '[layouts.performance]\nkey = ["member_no"]'
    config.write_text(config.read_text().replace("[layouts.performance]", keyed))
    daemon = Daemon(config, env={"RENKEI_BUSY_TIMEOUT_MS": "1000"}).start()
    try:
        assert upload(daemon.api, "20240516.csv", wait=True).status_code == 200
        with psycopg.connect(pg_url, autocommit=True) as other:
            other.execute("SELECT pg_advisory_lock(hashtext('layout:performance'))")
            answer = httpx.post(
                f"{daemon.api}/api/v1/records/performance",
                json={"member_no": 9, "date": "2024/05/16", "_account": "acme"},
                headers=ADMIN,
                timeout=60,
            )
        assert answer.status_code == 503, answer.text
        assert answer.json()["error"] == "store_busy", answer.text
        assert "別の処理に使われていて" in answer.json()["message"]
    finally:
        daemon.terminate()
