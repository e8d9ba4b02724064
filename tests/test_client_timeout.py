"""`api.client_timeout`: a client that trickles its headers, or stops sending its body,
is answered 408 and closed (slowloris), while a slow body that keeps moving is taken
and a quiet keep-alive connection still serves its next request."""

from __future__ import annotations

import select
import socket
import time

import httpx
import pytest

from daemon.settings import ConfigError, load
from tests.support import Daemon, account, write_config
from tests.test_api_bodies import CSV, FORM, HEAD, TOKEN, WHOLE

LIMIT = 2.0  # far above the pauses the tests make on purpose, on a loaded machine too


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    folder = tmp_path_factory.mktemp("deadline")
    accounts = account("acme") + '[accounts.acme.api]\ntoken = "demo-acme-token"\n'
    config = write_config(folder, accounts)
    text = config.read_text(encoding="utf-8")
    text = text.replace(
        'admin_token = "demo-admin"', f'admin_token = "demo-admin"\nclient_timeout = {LIMIT}'
    )
    config.write_text(text, encoding="utf-8")
    d = Daemon(config).start()
    yield d
    d.terminate()


def connect(daemon: Daemon) -> socket.socket:
    # Its timeout bounds the wait: a server that never closes fails the test there.
    return socket.create_connection(("127.0.0.1", daemon.api_port), timeout=10)


def answer(sock: socket.socket) -> bytes:
    """All the server sends until it closes the connection."""
    got = b""
    while chunk := sock.recv(4096):
        got += chunk
    return got


def api_runs(daemon: Daemon) -> int:
    return daemon.query("SELECT count(*) FROM runs WHERE channel = 'api'")[0][0]


def test_headers_trickled_past_the_limit_get_408_and_close(daemon):
    sock = connect(daemon)
    sock.sendall(b"GET /healthz HTTP/1.1\r\n")
    for _ in range(40):  # a header line a byte at a time, never whole, until answered
        if select.select([sock], [], [], 0.2)[0]:
            break
        sock.sendall(b"X")
    got = answer(sock)
    assert got.startswith(b"HTTP/1.1 408 "), got
    sock.close()
    assert httpx.get(f"{daemon.api}/healthz", timeout=10).status_code == 200


def test_a_connection_closed_for_time_lingers_reading_what_still_comes(daemon):
    """After its 408 the connection reads and drops what the client still sends for a
    while (a lingering close, as Apache's): closed at once with bytes arriving, the
    socket would reset the connection, and a client whose bytes were still on their way
    at the limit could lose the 408 to that reset."""
    sock = connect(daemon)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nX-Trickle: x")
    got = answer(sock)  # the 408, then the server's end of sending
    assert got.startswith(b"HTTP/1.1 408 "), got
    for _ in range(3):  # still read on the other side: no reset comes back
        sock.sendall(b"x" * 100)
        time.sleep(0.1)
    assert sock.recv(100) == b""
    sock.close()


def test_a_connection_that_sends_nothing_is_closed(daemon):
    sock = connect(daemon)
    start = time.monotonic()
    got = answer(sock)
    assert got.startswith(b"HTTP/1.1 408 "), got
    assert time.monotonic() - start > LIMIT - 0.2  # not before its time
    sock.close()


def test_a_body_that_stops_is_closed_and_makes_no_run(daemon):
    before = api_runs(daemon)
    sock = connect(daemon)
    head = (
        "POST /api/v1/imports HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: {TOKEN['Authorization']}\r\nContent-Type: {FORM['Content-Type']}\r\n"
        f"Content-Length: {len(WHOLE)}\r\n\r\n"
    ).encode()
    sock.sendall(head + HEAD + CSV[:5])
    got = answer(sock)
    assert got == b"" or got.startswith(b"HTTP/1.1 408 "), got
    sock.close()
    time.sleep(0.3)
    assert api_runs(daemon) == before
    assert httpx.get(f"{daemon.api}/healthz", timeout=10).status_code == 200


def test_a_slow_body_that_keeps_moving_is_taken(daemon):
    def pieces():
        for start in range(0, len(WHOLE), 12):
            time.sleep(0.3)  # each pause far under the limit, the whole over it
            yield WHOLE[start : start + 12]

    start = time.monotonic()
    reply = httpx.post(
        f"{daemon.api}/api/v1/imports?wait=true",
        content=pieces(),
        headers=TOKEN | FORM,
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    assert reply.json()["rows_imported"] == 2
    assert time.monotonic() - start > 1.5 * LIMIT


def test_a_kept_alive_connection_serves_its_next_request(daemon):
    with httpx.Client(base_url=daemon.api, timeout=10) as client:
        assert client.get("/healthz").status_code == 200
        time.sleep(LIMIT / 2)
        assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize("value", ["0", "-1", '"60"'])
def test_a_client_timeout_that_is_no_time_is_refused(tmp_path, value):
    config = write_config(tmp_path, account("acme"))
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("[api]\n", f"[api]\nclient_timeout = {value}\n"), "utf-8")
    with pytest.raises(ConfigError) as info:
        load(config)
    assert [p.where for p in info.value.problems] == ["api.client_timeout"]
