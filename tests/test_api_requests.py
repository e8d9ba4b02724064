"""Requests the API doors must read as the sender meant them, or refuse: CP932 file
names, a parameter given twice, a file part without a name, a bad flag on the generic
path, a record key no path can name, an unknown runs filter and a chunked body past
the limit. Against the real daemon."""

from __future__ import annotations

import http.client
import json
import select
import socket
import time

import httpx
import pytest

from tests.support import Daemon, csv_bytes, write_config

MEMBERS = """
[layouts.members]
key = ["code"]
columns = [
  { name = "code", type = "text", required = true, max_length = 20 },
  { name = "name", type = "text", required = true, max_length = 60 },
]

[layouts.visits]
key = ["shop", "day"]
columns = [
  { name = "shop", type = "text", required = true },
  { name = "day",  type = "text", required = true },
]
"""
ACCOUNTS = """
[accounts.anyname]
layout = "performance"
filename = "any"
report = "never"
[accounts.anyname.api]
token = "demo-any"

[accounts.small]
layout = "performance"
report = "never"
[accounts.small.limits]
max_bytes = 2000
[accounts.small.api]
token = "demo-small"

[accounts.exp]
layout = "members"
report = "never"
mode = "upsert"
filename = "any"
[accounts.exp.api]
token = "demo-exp"
path = "/api/v1/csvimport"
token_header = "X-RS-apitoken"
file_field = "uploadFile"
body = "json"
json_field = "json"
[accounts.exp.api.params.duplicateKey]
"0" = { on_duplicate = "skip" }
"1" = { on_duplicate = "update" }

[accounts.shops]
layout = "visits"
report = "never"
"""
ADMIN = {"Authorization": "Bearer demo-admin", "Accept-Language": "en"}
EXP = {"X-RS-apitoken": "demo-exp", "Accept-Language": "en"}


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    folder = tmp_path_factory.mktemp("requests")
    d = Daemon(write_config(folder, ACCOUNTS, extra=MEMBERS)).start()
    yield d
    d.terminate()


def raw_post(daemon, path: str, token: bytes, name: bytes, data: bytes) -> tuple[int, dict]:
    """A multipart POST whose file part names the file with exactly these bytes."""
    body = (
        b'--B\r\nContent-Disposition: form-data; name="file"; filename="'
        + name
        + b'"\r\nContent-Type: text/csv\r\n\r\n'
        + data
        + b"\r\n--B--\r\n"
    )
    host, port = daemon.api.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    headers = {
        "Authorization": b"Bearer " + token,
        "Content-Type": "multipart/form-data; boundary=B",
        "Accept-Language": "en",
    }
    connection.request("POST", path, body, headers)
    reply = connection.getresponse()
    return reply.status, json.loads(reply.read())


def refusals(daemon, reason: str) -> list[dict]:
    listed = httpx.get(f"{daemon.api}/api/v1/refusals", headers=ADMIN, timeout=10).json()
    return [r for r in listed["refusals"] if r["reason"] == reason]


# -- 1. file names in CP932 -----------------------------------------------------------


def test_cp932_file_names_are_read_as_cp932_and_stay_two_files(daemon):
    sold = csv_bytes(["101,2024/05/16,1,uriage", "102,2024/05/16,2,uriage"])
    bought = csv_bytes(["201,2024/05/16,9,kaiage"])
    path = "/api/v1/imports?wait=true"
    status, first = raw_post(daemon, path, b"demo-any", "売上.csv".encode("cp932"), sold)
    assert status == 200 and first["filename"] == "売上.csv", first
    status, second = raw_post(daemon, path, b"demo-any", "買上.csv".encode("cp932"), bought)
    assert status == 200 and second["filename"] == "買上.csv", second
    rows = daemon.query(
        "SELECT member_no, _source_file FROM performance"
        " WHERE member_no IN (101, 102, 201) ORDER BY member_no"
    )
    assert rows == [(101, "売上.csv"), (102, "売上.csv"), (201, "買上.csv")]


def test_utf8_file_names_are_still_read_as_utf8(daemon):
    data = csv_bytes(["111,2024/05/16,1,utf8"])
    for name in ("売上_utf8.csv", "café.csv"):
        status, run = raw_post(
            daemon, "/api/v1/imports?wait=true", b"demo-any", name.encode(), data
        )
        assert status == 200 and run["filename"] == name, run


# -- 2. a parameter given twice ---------------------------------------------------------


def own_path(daemon, params=None, fields=(), jsons=()) -> httpx.Response:
    files = [("uploadFile", ("m.csv", b"code,name\nD1,x\n"))]
    files += [(key, (None, value)) for key, value in fields]
    files += [("json", (None, value)) for value in jsons]
    return httpx.post(
        f"{daemon.api}/api/v1/csvimport", params=params, files=files, headers=EXP, timeout=60
    )


@pytest.mark.parametrize(
    "given",
    [
        {"params": {"duplicateKey": "0"}, "jsons": ['{"duplicateKey": "1"}']},
        {"fields": [("duplicateKey", "0")], "jsons": ['{"duplicateKey": "1"}']},
        {"jsons": ['{"duplicateKey": "1"}', '{"duplicateKey": "0"}']},
        {"params": [("duplicateKey", "1"), ("duplicateKey", "0")]},
    ],
    ids=["query_and_json", "form_and_json", "two_json_fields", "twice_in_query"],
)
def test_a_parameter_given_twice_with_different_values_is_refused(daemon, given):
    before = daemon.query("SELECT count(*) FROM runs WHERE account = 'exp'")[0][0]
    reply = own_path(daemon, **given)
    assert reply.status_code == 422, reply.text
    body = reply.json()
    assert body["error"] == "bad_parameter_value", body
    assert "duplicateKey" in body["message"] and "twice" in body["message"], body
    assert daemon.query("SELECT count(*) FROM runs WHERE account = 'exp'")[0][0] == before


def test_a_parameter_given_twice_with_the_same_value_is_taken(daemon):
    reply = own_path(
        daemon, params={"duplicateKey": "1", "wait": "true"}, jsons=['{"duplicateKey": 1}']
    )
    assert reply.status_code == 200, reply.text
    assert reply.json()["state"] == "completed"


# -- 3. a file part whose name comes to nothing -------------------------------------------


@pytest.mark.parametrize("name", [b"", b".", b"..", b"/", b"a/", b" "])
def test_a_file_name_that_comes_to_nothing_is_refused_as_none(daemon, name):
    data = csv_bytes(["301,2024/05/16,1,nameless"])
    status, body = raw_post(daemon, "/api/v1/imports?wait=true", b"demo-any", name, data)
    assert status == 422, body
    assert body["error"] == "missing_file" and "no file name" in body["message"], body
    assert daemon.query("SELECT count(*) FROM runs WHERE filename = 'unnamed'") == [(0,)]


def test_a_file_named_unnamed_is_still_taken(daemon):
    data = csv_bytes(["302,2024/05/16,1,named"])
    status, run = raw_post(daemon, "/api/v1/imports?wait=true", b"demo-any", b"unnamed", data)
    assert status == 200 and run["filename"] == "unnamed", run


# -- 4. a bad flag on the generic path ------------------------------------------------------


@pytest.mark.parametrize("flag", ["wait", "dry_run"])
def test_a_bad_flag_on_the_generic_path_is_a_counted_bad_query(daemon, flag):
    counted = len(refusals(daemon, "bad_query"))
    reply = httpx.post(
        f"{daemon.api}/api/v1/imports",
        params={flag: "maybe"},
        files={"file": ("20241101.csv", csv_bytes(["1,2024/05/16,1,x"]))},
        headers={"Authorization": "Bearer demo-any", "Accept-Language": "en"},
        timeout=60,
    )
    assert reply.status_code == 422, reply.text
    assert reply.json()["error"] == "bad_query", reply.text
    assert "'maybe'" in reply.json()["message"]
    assert len(refusals(daemon, "bad_query")) == counted + 1
    metrics = httpx.get(f"{daemon.api}/metrics", timeout=10).text
    assert 'renkei_refused_total{channel="api",reason="bad_query"}' in metrics


@pytest.mark.parametrize(
    ("query", "said"),
    [
        ("dry_run", "''"),
        ("wait=", "''"),
        ("dry_run=1&dry_run=0", "dry_run was given more than once with different values"),
        ("wait=yes&wait=no", "wait was given more than once with different values"),
    ],
)
def test_a_flag_that_says_no_one_yes_or_no_imports_nothing(daemon, query, said):
    # A bare `?dry_run` meant a dry run; taken as no, it imported the file.
    data = csv_bytes(["3101,2024/05/16,1,flagged"])
    reply = httpx.post(
        f"{daemon.api}/api/v1/imports?{query}",
        files={"file": ("20241102.csv", data)},
        headers={"Authorization": "Bearer demo-any", "Accept-Language": "en"},
        timeout=60,
    )
    assert reply.status_code == 422, reply.text
    assert reply.json()["error"] == "bad_query", reply.text
    assert said in reply.json()["message"]
    assert daemon.query("SELECT count(*) FROM performance WHERE member_no = 3101") == [(0,)]


def test_a_flag_given_twice_alike_is_taken(daemon):
    data = csv_bytes(["3102,2024/05/16,1,twice"])
    reply = httpx.post(
        f"{daemon.api}/api/v1/imports?dry_run=1&dry_run=true&wait=1",
        files={"file": ("20241103.csv", data)},
        headers={"Authorization": "Bearer demo-any"},
        timeout=60,
    )
    assert reply.status_code == 200, reply.text
    assert reply.json()["dry_run"] is True and reply.json()["rows_total"] == 1
    assert daemon.query("SELECT count(*) FROM performance WHERE member_no = 3102") == [(0,)]


# -- 5. a record key no path can name ---------------------------------------------------------


def test_a_record_key_holding_a_slash_is_refused(daemon):
    url = f"{daemon.api}/api/v1/records/members"
    reply = httpx.post(url, json={"code": "S/1", "name": "slash", "_account": "exp"}, headers=ADMIN)
    assert reply.status_code == 422, reply.text
    body = reply.json()
    assert body["error"] == "invalid_record", body
    assert [e["field"] for e in body["errors"]] == ["code"], body
    assert "'/'" in body["errors"][0]["message"]
    assert daemon.query("SELECT count(*) FROM members WHERE code = 'S/1'") == [(0,)]


def test_a_comma_in_a_key_column_before_the_last_is_refused(daemon):
    url = f"{daemon.api}/api/v1/records/visits"
    record = {"shop": "A,B", "day": "x", "_account": "shops"}
    reply = httpx.post(url, json=record, headers=ADMIN)
    assert reply.status_code == 422 and reply.json()["errors"][0]["field"] == "shop", reply.text
    # The last key column may hold one: the path splits the key from the left.
    record = {"shop": "A", "day": "x,y", "_account": "shops"}
    assert httpx.post(url, json=record, headers=ADMIN).status_code == 201
    assert httpx.get(f"{url}/A,x,y", headers=ADMIN).json()["day"] == "x,y"


# -- 6. unknown runs filters ----------------------------------------------------------------


@pytest.mark.parametrize("query", [{"state": "complete"}, {"channel": "email"}])
def test_an_unknown_runs_filter_value_is_a_bad_query(daemon, query):
    reply = httpx.get(f"{daemon.api}/api/v1/runs", params=query, headers=ADMIN, timeout=10)
    assert reply.status_code == 422, reply.text
    body = reply.json()
    [(name, value)] = query.items()
    assert body["error"] == "bad_query", body
    assert name in body["message"] and repr(value) in body["message"], body


@pytest.mark.parametrize(
    "query",
    ["state=completed&state=failed", "channel=api&channel=mail", "limit=1&limit=2"],
)
def test_a_runs_filter_given_twice_with_two_values_is_a_bad_query(daemon, query):
    """The last of the two was kept: the failed runs alone, listed as if asked for."""
    reply = httpx.get(f"{daemon.api}/api/v1/runs?{query}", headers=ADMIN, timeout=10)
    assert reply.status_code == 422 and reply.json()["error"] == "bad_query", reply.text
    assert "more than once" in reply.json()["message"]
    same = query.split("&")[0]
    again = httpx.get(f"{daemon.api}/api/v1/runs?{same}&{same}", headers=ADMIN, timeout=10)
    assert again.status_code == 200, again.text


def test_known_runs_filter_values_still_answer(daemon):
    data = csv_bytes(["112,2024/05/16,1,filtered"])
    status, _ = raw_post(daemon, "/api/v1/imports?wait=true", b"demo-any", b"filter.csv", data)
    assert status == 200
    query = {"state": "completed", "channel": "api"}
    reply = httpx.get(f"{daemon.api}/api/v1/runs", params=query, headers=ADMIN, timeout=10)
    assert reply.status_code == 200 and reply.json()["total"] >= 1, reply.text


# -- 7. a chunked body past the limit ---------------------------------------------------------


def test_a_chunked_body_past_the_limit_is_refused_before_it_ends(daemon):
    """No Content-Length: the 413 comes once the body passes max_bytes and the form's
    room (1 MiB), while the client still sends the rest of its 16 MB."""
    host, port = daemon.api.removeprefix("http://").split(":")
    head = (
        "POST /api/v1/imports HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer demo-small\r\n"
        "Accept-Language: en\r\nContent-Type: multipart/form-data; boundary=B\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    )
    part = b'--B\r\nContent-Disposition: form-data; name="file"; filename="20240520.csv"\r\n\r\n'
    total, sent, answer = 16 * 1024 * 1024, 0, b""
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(head.encode() + _chunk(part))
        chunk = _chunk(b"z" * 65536)
        deadline = time.monotonic() + 60
        while sent < total and time.monotonic() < deadline:
            if select.select([s], [], [], 0)[0]:
                break  # answered: stop sending
            try:
                s.sendall(chunk)
            except OSError:
                break
            sent += 65536
        if sent >= total:  # read whole: end the body, so the answer comes at last
            s.sendall(_chunk(b"\r\n--B--\r\n") + b"0\r\n\r\n")
        answer = _read_answer(s)
    assert sent < total, "the whole body was read before the answer"
    status, _, rest = answer.partition(b"\r\n")
    assert b" 413 " in status, answer[:300]
    assert json.loads(rest.partition(b"\r\n\r\n")[2])["error"] == "too_large"


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _read_answer(s: socket.socket) -> bytes:
    """The whole answer (its body is short JSON with a Content-Length)."""
    answer = b""
    while b"\r\n\r\n" not in answer or not _complete(answer):
        data = s.recv(65536)
        if not data:
            break
        answer += data
    return answer


def _complete(answer: bytes) -> bool:
    head, _, body = answer.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return False


def test_a_client_gone_mid_body_is_a_refusal_that_says_so(daemon):
    # Counted as unreadable_request with no detail: nothing said why.
    host, port = daemon.api.removeprefix("http://").split(":")
    part = b'--B\r\nContent-Disposition: form-data; name="file"; filename="20241104.csv"\r\n\r\n'
    head = (
        "POST /api/v1/imports HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer demo-any\r\n"
        "Content-Type: multipart/form-data; boundary=B\r\nContent-Length: 100000\r\n\r\n"
    )
    before = len(refusals(daemon, "unreadable_request"))
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(head.encode() + part + b"1,2024/05/16,1,a\r\n")
        time.sleep(0.3)  # the door has begun reading the body
    deadline = time.monotonic() + 10
    while len(gone := refusals(daemon, "unreadable_request")) == before:
        assert time.monotonic() < deadline, "the refusal was never recorded"
        time.sleep(0.1)
    assert gone[0]["detail"] == "the client closed the connection before its body ended"
