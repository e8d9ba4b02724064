"""The HTTP import door's answers in its corners: a `?wait` the daemon's stop cuts
short, the error CSV of a run not yet ended, the admin token at an account's own
path, a parameter twice in one JSON field, a body cut off for time, and the multipart
parser's failures said in the catalog's words."""

from __future__ import annotations

import gzip
import http.client
import json
import re
import select
import signal
import socket
import threading
import time

import httpx
import pytest

from tests.support import Daemon, account, csv_bytes, store_held, wait_for, write_config

LIMIT = 2.0  # api.client_timeout: far above what the tests send promptly takes
ACME = {"Authorization": "Bearer demo-acme-token"}
ADMIN = {"Authorization": "Bearer demo-admin"}
EXPENSE = """
[accounts.exp]
layout = "performance"
report = "never"
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
"""
ACCOUNTS = account("acme") + '[accounts.acme.api]\ntoken = "demo-acme-token"\n' + EXPENSE


def configured(folder):
    config = write_config(folder, ACCOUNTS)
    text = config.read_text(encoding="utf-8")
    text = text.replace(
        'admin_token = "demo-admin"', f'admin_token = "demo-admin"\nclient_timeout = {LIMIT}'
    )
    config.write_text(text, encoding="utf-8")
    return config


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    d = Daemon(configured(tmp_path_factory.mktemp("fixes"))).start()
    yield d
    d.terminate()


def refusals(daemon: Daemon) -> list[dict]:
    listed = httpx.get(f"{daemon.api}/api/v1/refusals", headers=ADMIN, timeout=10).json()
    return listed["refusals"]


def counted(daemon: Daemon, reason: str) -> float:
    text = httpx.get(f"{daemon.api}/metrics", timeout=10).text
    pattern = rf'^renkei_refused_total\{{channel="api",reason="{reason}"\}} (\S+)$'
    found = re.search(pattern, text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def upload(daemon: Daemon, name: str, rows: list[str], wait: bool = False) -> httpx.Response:
    return httpx.post(
        f"{daemon.api}/api/v1/imports",
        params={"wait": "true"} if wait else {},
        files={"file": (name, csv_bytes(rows))},
        headers=ACME,
        timeout=60,
    )


# -- 1. the daemon stopping while a ?wait=true upload waits ------------------------------


def test_a_stop_answers_a_waiting_upload_202_at_once_and_imports_it_at_the_next_start(
    tmp_path,
):
    d = Daemon(configured(tmp_path)).start()
    replies: list[httpx.Response] = []
    try:
        with store_held(d.db_path):  # the import waits for the store
            waiting = threading.Thread(
                target=lambda: replies.append(
                    upload(d, "20240901.csv", ["901,2024/09/01,1,stop"], wait=True)
                )
            )
            waiting.start()
            wait_for(lambda: "spooled " in d.log.read_text(errors="replace"))
            time.sleep(0.3)  # well into its wait
            logged = d.log.stat().st_size
            stopped_at = time.monotonic()
            d.proc.send_signal(signal.SIGTERM)
            waiting.join(30)
            answered_in = time.monotonic() - stopped_at
        assert d.proc.wait(60) == 0
    finally:
        if d.proc.poll() is None:
            d.kill()
        else:
            d.notify.close()
    [reply] = replies
    assert reply.status_code == 202, reply.text
    assert reply.headers["content-type"] == "application/json"
    run_id = reply.json()["id"]
    assert reply.json()["url"].endswith(f"/api/v1/runs/{run_id}")
    assert answered_in < 10, answered_in  # not the web server's 20 s stop limit
    said = d.log.read_bytes()[logged:].decode(errors="replace")
    assert "Traceback" not in said and "CancelledError" not in said, said
    d.start()
    try:
        run = d.wait_run(run_id)
        assert (run["state"], run["rows_imported"]) == ("completed", 1), run
        assert d.query("SELECT count(*) FROM runs WHERE filename = '20240901.csv'") == [(1,)]
    finally:
        d.terminate()


# -- 2. a run's error CSV before the run has ended ---------------------------------------


def test_the_error_csv_of_a_run_not_yet_ended_is_409_not_a_header_alone(daemon):
    with store_held(daemon.db_path):  # the run stays queued meanwhile
        reply = upload(daemon, "20240902.csv", ["x,2024/09/02,1,bad"])
        assert reply.status_code == 202, reply.text
        url = reply.json()["url"]
        early = httpx.get(f"{url}/errors.csv", headers=ACME, timeout=10)
        file = httpx.get(f"{url}/file", headers=ACME, timeout=10)
    assert early.status_code == 409, early.text
    assert early.json()["error"] == file.json()["error"] == "run_not_final"
    assert "まだ終わっていません(状態 待機中)" in early.json()["message"]
    assert "エラーCSVは実行が終わってから取得できます" in early.json()["message"]
    daemon.wait_run(reply.json()["id"])
    ended = httpx.get(f"{url}/errors.csv", headers=ACME, timeout=10)
    assert ended.status_code == 200 and ended.headers["content-type"].startswith("text/csv")
    header, error = ended.content.splitlines()  # the header row and the row's error
    assert header.startswith(b"member_no,") and error.startswith(b"x,2024/09/02,"), error


# -- 3. the admin token at an account's own import path ----------------------------------


def test_the_admin_token_at_an_own_path_is_403_as_on_the_generic_path(daemon):
    reply = httpx.post(
        f"{daemon.api}/api/v1/csvimport",
        files={"uploadFile": ("20240903.csv", csv_bytes(["903,2024/09/03,1,a"]))},
        headers={"X-RS-apitoken": "demo-admin"},
        timeout=30,
    )
    assert reply.status_code == 403, reply.text
    body = reply.json()
    assert body == {
        "error": "account_token_required",
        "message": "取り込みにはアカウントのトークンを使ってください",
    }
    [refused] = [r for r in refusals(daemon) if r["what"] == "/api/v1/csvimport"]
    assert (refused["code"], refused["reason"]) == ("403", "account_token_required")


# -- 4. a parameter given twice inside one JSON field ------------------------------------


def own_path(daemon: Daemon, name: str, settings: str) -> httpx.Response:
    return httpx.post(
        f"{daemon.api}/api/v1/csvimport?wait=true",
        files=[
            ("uploadFile", (name, csv_bytes(["904,2024/09/04,1,a"]))),
            ("json", (None, settings)),
        ],
        headers={"X-RS-apitoken": "demo-exp"},
        timeout=60,
    )


def test_a_key_twice_in_one_json_field_with_two_values_is_refused(daemon):
    reply = own_path(daemon, "20240904.csv", '{"duplicateKey": "1", "duplicateKey": "0"}')
    assert reply.status_code == 422, reply.text
    assert reply.json()["error"] == "bad_parameter_value"
    assert (
        "パラメーター duplicateKey が異なる値で2回指定されています: '1', '0'"
        in reply.json()["message"]
    )
    assert daemon.query("SELECT count(*) FROM runs WHERE filename = '20240904.csv'") == [(0,)]


def test_a_key_twice_in_one_json_field_with_one_value_is_taken(daemon):
    reply = own_path(daemon, "20240905.csv", '{"duplicateKey": "1", "duplicateKey": "1"}')
    assert reply.status_code == 200, reply.text
    assert reply.json()["state"] == "completed"


def test_an_object_as_a_json_parameter_is_still_not_a_plain_value(daemon):
    reply = own_path(daemon, "20240906.csv", '{"duplicateKey": {"a": "1"}}')
    assert reply.status_code == 422, reply.text
    assert reply.json()["error"] == "bad_settings"
    assert "「duplicateKey」は単一の値にしてください" in reply.json()["message"]


# -- 5. a body cut off for time -----------------------------------------------------------


def test_a_body_cut_off_for_time_is_a_json_408_recorded_as_sent(daemon):
    before_timeout, before_gone = counted(daemon, "timeout"), counted(daemon, "unreadable_request")
    body = (
        b'--B\r\nContent-Disposition: form-data; name="file"; filename="20240907.csv"\r\n'
        b"\r\nmember_no,date"
    )
    sock = socket.create_connection(("127.0.0.1", daemon.api_port), timeout=10)
    head = (
        "POST /api/v1/imports HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: {ACME['Authorization']}\r\n"
        "Content-Type: multipart/form-data; boundary=B\r\nContent-Length: 5000\r\n\r\n"
    )
    sock.sendall(head.encode() + body)
    got = b""
    while select.select([sock], [], [], 10)[0] and (chunk := sock.recv(4096)):
        got += chunk
    sock.close()
    status, _, payload = got.partition(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 408 "), got
    assert b"content-type: application/json" in status.lower(), got
    said = httpx.Response(408, content=payload).json()
    assert said["error"] == "request_timeout", said
    assert "2 秒以上途切れたため、打ち切りました" in said["message"], said
    wait_for(lambda: counted(daemon, "timeout") == before_timeout + 1)
    assert counted(daemon, "unreadable_request") == before_gone
    [refused] = [r for r in refusals(daemon) if r["reason"] == "timeout"]
    assert (refused["code"], refused["who"]) == ("408", "acme"), refused


# -- 6. the multipart parser's failures in the catalog's words ---------------------------


def raw(daemon: Daemon, body: bytes, content_type: str, **more: str) -> tuple[int, dict]:
    host, port = daemon.api.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    headers = {**ACME, "Content-Type": content_type, **more}
    connection.request("POST", "/api/v1/imports", body, headers)
    reply = connection.getresponse()
    return reply.status, json.loads(reply.read())


def form(name: bytes, boundary: bytes = b"B") -> bytes:
    return (
        b"--" + boundary + b'\r\nContent-Disposition: form-data; name="file"; filename="'
        + name + b'"\r\nContent-Type: text/csv\r\n\r\n'
        + csv_bytes(["908,2024/09/08,1,a"]) + b"\r\n--" + boundary + b"--\r\n"
    )  # fmt: skip


def test_a_file_name_too_long_for_the_part_header_says_so_in_japanese(daemon):
    name = ("売上明細" * 350 + ".csv").encode()  # 1,404 characters, 4,204 bytes
    status, body = raw(daemon, form(name), "multipart/form-data; boundary=B")
    assert status == 422, body
    assert body == {
        "error": "unreadable_request",
        "message": "multipart フォームのパートのヘッダーが長すぎます"
        "(ファイル名が長すぎないか確かめてください)",
    }
    # The parser's English only where the admin looks: the refusal's detail, the log.
    refused = refusals(daemon)[0]
    assert refused["reason"] == "unreadable_request", refused
    assert refused["detail"].endswith(": Maximum header size exceeded"), refused


def test_a_compressed_body_is_said_to_be_one(daemon):
    packed = gzip.compress(form(b"20240909.csv"))
    status, body = raw(
        daemon, packed, "multipart/form-data; boundary=B", **{"Content-Encoding": "gzip"}
    )
    assert status == 422, body
    assert body["error"] == "unreadable_request"
    assert (
        body["message"]
        == "Content-Encoding 'gzip' の本文は受け付けません。圧縮せずに送ってください"
    )


def test_a_body_not_split_by_its_boundary_says_so(daemon):
    status, body = raw(daemon, form(b"20240910.csv", b"Other"), "multipart/form-data; boundary=B")
    assert status == 422, body
    assert body["error"] == "unreadable_request"
    assert body["message"].startswith("本文が Content-Type の境界(boundary)で区切られていません")
    assert "Invalid" not in body["message"] and "Expected" not in body["message"]
