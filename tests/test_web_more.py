"""The HTTP API and the console's login against the real daemon, with httpx: what the
path names is answered before what the query asks, HEAD on every GET route, and a
login throttle that counts an address and a name together, so that a guesser cannot
lock the admin out from elsewhere."""

from __future__ import annotations

import socket

import httpx
import pytest

from daemon.console import throttle
from tests.console_support import PASSWORD, login_token, users_toml
from tests.support import Daemon, account, queued_ids, send_as, write_config

ADMIN = {"Authorization": "Bearer demo-admin"}
ACME = {"Authorization": "Bearer demo-acme-token"}
DEALS = """
[layouts.deals]
key = ["deal_no"]
columns = [
  { name = "deal_no", type = "text", required = true },
  { name = "name",    type = "text" },
]
"""
ACCOUNTS = (
    account("acme", layout="deals")
    + '[accounts.acme.api]\ntoken = "demo-acme-token"\n'
    + account("beta")
    + '[accounts.beta.api]\ntoken = "demo-beta-token"\n'
)
# Each login test has names of its own: a lock one test makes reaches no other.
USERS = {name: ("admin", []) for name in ("admin", "boss", "chief", "head", "lead", "sprayed")}
NOSUCH = "/api/v1/records/nosuch"
LOGIN_LOCKED = "ログインの失敗が続いたため"


@pytest.fixture(scope="module")
def daemon(tmp_path_factory, module_relay):
    folder = tmp_path_factory.mktemp("webmore")
    extra = DEALS + users_toml(USERS)
    d = Daemon(write_config(folder, ACCOUNTS, extra=extra, relay_port=module_relay.port)).start()
    rows = b"deal_no,name\r\nD-1,first\r\n"
    _, _, reply = send_as(d.smtp_port, "acme", [("20240501.csv", rows)])
    assert d.wait_run(queued_ids(reply)[0])["state"] == "completed"
    yield d
    d.terminate()


@pytest.fixture(scope="module")
def api(daemon):
    with httpx.Client(base_url=daemon.api, timeout=30) as client:
        yield client


def not_found_layout(r: httpx.Response) -> None:
    assert r.status_code == 404, r.text
    assert r.json()["error"] == "not_found" and "nosuch" in r.json()["message"], r.text


# -- 1. the unknown layout's 404 before a parameter given twice -------------------------

TWICE = [("account", "acme"), ("account", "beta")]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", NOSUCH),
        ("GET", f"{NOSUCH}/history"),
        ("GET", f"{NOSUCH}/D-1"),
        ("DELETE", f"{NOSUCH}/D-1"),
        ("PATCH", f"{NOSUCH}/D-1"),
    ],
)
def test_an_unknown_layout_is_a_404_whatever_the_query_gives_twice(api, method, path):
    body = {"name": "x"} if method == "PATCH" else None
    not_found_layout(api.request(method, path, headers=ADMIN, params=TWICE, json=body))
    # A value FastAPI itself would refuse (a page 0, given twice) is not looked at either.
    paging = [("page[number]", "0"), ("page[number]", "x")]
    if method == "GET" and not path.endswith("D-1"):
        not_found_layout(api.request(method, path, headers=ADMIN, params=paging))


def test_an_unknown_layout_is_a_404_whatever_the_form_gives_twice(api):
    twice = "page[number]=1&page[number]=2"
    form = {"Content-Type": "application/x-www-form-urlencoded", **ADMIN}
    not_found_layout(api.post(f"{NOSUCH}/search", headers=form, content=twice))
    not_found_layout(api.post(NOSUCH, headers=ADMIN, params=TWICE, json={"deal_no": "D-9"}))


def test_a_known_layout_still_refuses_a_parameter_given_twice_and_a_stranger_gets_401(api):
    r = api.get("/api/v1/records/deals", headers=ADMIN, params=TWICE)
    assert r.status_code == 422 and r.json()["error"] == "invalid_search", r.text
    assert "account" in r.json()["message"]
    # The token is asked for before the layout: a stranger learns no layout's name.
    r = api.get(NOSUCH, params=TWICE)
    assert r.status_code == 401 and r.json()["error"] == "unauthorized"
    # An account's token gets the same 404 as the admin's.
    not_found_layout(api.get(f"{NOSUCH}/history", headers=ACME, params=TWICE))


# -- 3. HEAD on every GET route ---------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/runs",
        "/api/v1/accounts",
        "/api/v1/accounts/acme",
        "/api/v1/refusals",
        "/api/v1/records/deals",
        "/api/v1/records/deals/D-1",
        "/api/v1/records/deals/history",
        "/metrics",
        "/healthz",
        "/openapi.json",
    ],
)
def test_head_on_a_get_route_answers_as_get_without_a_body(api, path):
    got = api.get(path, headers=ADMIN)
    head = api.head(path, headers=ADMIN)
    assert got.status_code == 200 and head.status_code == 200, (head.status_code, head.text)
    assert head.content == b""
    assert head.headers["content-type"] == got.headers["content-type"]
    if path not in ("/metrics", "/healthz"):  # what those say changes from one ask to the next
        assert head.headers["content-length"] == str(len(got.content))


def test_head_sends_no_body_on_the_wire(daemon):
    # httpx reads no body after a HEAD whatever the server sends: read the socket.
    host, port = daemon.api.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            b"HEAD /api/v1/runs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer demo-admin\r\n"
            b"Connection: close\r\n\r\n"
        )
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, rest = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"content-length:" in head.lower(), head
    assert rest == b""


def test_head_answers_as_get_does_when_get_refuses(api, daemon):
    r = api.head("/api/v1/runs/nosuch", headers=ADMIN)
    assert r.status_code == 404 and r.content == b""
    assert api.head("/api/v1/runs").status_code == 401
    run = daemon.query("SELECT id FROM runs")[0][0]
    r = api.head(f"/api/v1/runs/{run}/errors.csv", headers=ADMIN)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert api.head("/console/login").status_code == 200  # the console's pages too


def test_head_is_not_taken_by_a_route_that_has_no_get(api):
    for path in ("/api/v1/imports", "/api/v1/runs/nosuch/retry", "/api/v1/accounts/acme/poll"):
        r = api.head(path, headers=ADMIN)
        assert r.status_code == 405 and r.headers["Allow"] == "POST", (path, r.headers)


def test_options_is_a_405_whose_allow_names_every_method_head_too(api):
    for path, allowed in [
        ("/api/v1/runs", "GET, HEAD"),
        ("/api/v1/records/deals", "GET, HEAD, POST"),
        ("/api/v1/records/deals/D-1", "GET, HEAD, PATCH, DELETE"),
        ("/healthz", "GET, HEAD"),
        ("/api/v1/imports", "POST"),
    ]:
        r = api.options(path, headers=ADMIN)
        assert r.status_code == 405 and r.headers["Allow"] == allowed, (path, r.headers)
        assert r.json()["error"] == "method_not_allowed"


# -- 2. the login throttle counts an address and a name together -----------------------


def from_address(daemon: Daemon, address: str) -> httpx.Client:
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(
        base_url=daemon.api, follow_redirects=False, timeout=30, transport=transport
    )


def try_login(web: httpx.Client, user: str, password: str) -> httpx.Response:
    data = {"user": user, "password": password, "token": login_token(web)}
    return web.post("/console/login", data=data)


def audit_of(daemon: Daemon, user: str) -> list[tuple]:
    sql = "SELECT outcome, detail, address FROM audit_log WHERE user = ? ORDER BY seq"
    return daemon.query(sql, (user,))


def test_wrong_passwords_from_one_address_do_not_lock_the_name_out_elsewhere(daemon):
    with from_address(daemon, "127.0.0.12") as attacker:
        for _ in range(throttle.FAILURES):
            assert try_login(attacker, "boss", "guess-1234").status_code == 401
        # Locked there, even with the right password.
        r = try_login(attacker, "boss", PASSWORD)
        assert r.status_code == 429 and LOGIN_LOCKED in r.text
        assert "renkei_session=" not in str(r.headers)
    with from_address(daemon, "127.0.0.13") as owner:
        r = try_login(owner, "boss", PASSWORD)
        assert r.status_code == 303 and r.headers["location"] == "/console/", r.text
        assert "renkei_session=" in r.headers["set-cookie"]
    outcomes = [(o, a) for o, _, a in audit_of(daemon, "boss")]
    assert outcomes == [("failed", "127.0.0.12")] * throttle.FAILURES + [
        ("locked", "127.0.0.12"),
        ("ok", "127.0.0.13"),
    ]
    assert audit_of(daemon, "boss")[throttle.FAILURES - 1][1] == "locked"


def test_a_lock_on_one_name_leaves_the_address_its_other_names(daemon):
    with from_address(daemon, "127.0.0.14") as web:
        for _ in range(throttle.FAILURES):
            assert try_login(web, "chief", "guess-1234").status_code == 401
        assert try_login(web, "chief", PASSWORD).status_code == 429
        # A colleague behind the same address still logs in.
        assert try_login(web, "head", PASSWORD).status_code == 303


def test_the_name_is_counted_whatever_its_case(daemon):
    with from_address(daemon, "127.0.0.15") as web:
        for n in range(throttle.FAILURES):
            name = "LEAD" if n % 2 else "lead"
            assert try_login(web, name, "guess-1234").status_code == 401
        assert try_login(web, "Lead", "guess").status_code == 429


def test_an_address_trying_many_names_is_locked_for_every_name(daemon):
    with from_address(daemon, "127.0.0.16") as web:
        for n in range(throttle.ADDRESS_FAILURES):
            # Fewer than throttle.FAILURES for each name: the address's own count locks it.
            assert try_login(web, f"spray{n % 5}", "guess-1234").status_code == 401, n
        r = try_login(web, "sprayed", PASSWORD)
        assert r.status_code == 429 and LOGIN_LOCKED in r.text
    # Another address is not: the lock is the sprayer's.
    with from_address(daemon, "127.0.0.17") as web:
        assert try_login(web, "sprayed", PASSWORD).status_code == 303


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now
