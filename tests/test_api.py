"""POST /api/v1/imports against the real daemon, with httpx and curl -F."""

from __future__ import annotations

import asyncio
import shutil

import httpx
import pytest

from handlers.base import MAX_NAME_CHARS
from tests.support import Daemon, account, csv_bytes, curl, needs_curl, renkei, write_config

ACCOUNTS = (
    account("acme")
    + '[accounts.acme.api]\ntoken = "demo-acme-token"\n'
    + account("halted", status="stopped", mode="insert")
    + '[accounts.halted.api]\ntoken = "demo-halted-token"\n'
)
ACME = {"Authorization": "Bearer demo-acme-token"}
ADMIN = {"Authorization": "Bearer demo-admin"}


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    folder = tmp_path_factory.mktemp("api")
    config = write_config(folder, ACCOUNTS, extra="[limits]\nmax_rows = 100\nmax_bytes = 20000\n")
    d = Daemon(config).start()
    yield d
    d.terminate()


def post(daemon, files=None, data=None, headers=ACME, wait=False) -> httpx.Response:
    params = {"wait": "true"} if wait else {}
    return httpx.post(
        f"{daemon.api}/api/v1/imports",
        files=files,
        data=data,
        headers=headers,
        params=params,
        timeout=60,
    )


def test_accepted_with_202_and_the_run_url(daemon):
    reply = post(daemon, files={"file": ("20240516.csv", csv_bytes(["1,2024/05/16,1,a"]))})
    assert reply.status_code == 202
    body = reply.json()
    assert body["url"].endswith(f"/api/v1/runs/{body['id']}")
    run = daemon.wait_run(body["id"])
    assert (run["state"], run["channel"], run["sender"]) == ("completed", "api", "acme")


def test_wait_answers_the_finished_run(daemon):
    reply = post(
        daemon, files={"file": ("20240517.csv", csv_bytes(["1,2024/05/17,1,①"]))}, wait=True
    )
    assert reply.status_code == 200
    body = reply.json()
    assert (body["state"], body["rows_imported"], body["encoding"]) == ("completed", 1, "cp932")
    assert body["errors"] == []


def test_a_rejected_file_answers_422_with_the_run_and_its_first_errors(daemon):
    reply = post(
        daemon, files={"file": ("20240518.csv", csv_bytes(["x,2024/05/18,1,a"]))}, wait=True
    )
    assert reply.status_code == 422
    body = reply.json()
    assert body["state"] == "failed" and body["rows_failed"] == 1
    assert body["errors"][0]["line"] == 2 and body["errors"][0]["column"] == "member_no"


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, 401),
        ({"Authorization": "Bearer nope"}, 401),
        ({"Authorization": "Bearer demo-admin"}, 403),
    ],
)
def test_tokens(daemon, headers, code):
    reply = post(daemon, files={"file": ("20240516.csv", b"x")}, headers=headers)
    assert reply.status_code == code and reply.json()["error"]


def test_bad_requests_are_422_naming_what_is_wrong(daemon):
    missing = post(daemon, data={"note": "no file"})
    assert missing.status_code == 422 and "「file」" in missing.json()["message"]
    wrong_part = post(daemon, files={"uploadFile": ("20240516.csv", b"a")})
    assert wrong_part.status_code == 422 and "uploadFile" in wrong_part.json()["message"]
    unmapped = post(daemon, files={"file": ("20240516.csv", b"a")}, data={"duplicateKey": "1"})
    assert unmapped.status_code == 422 and "duplicateKey" in unmapped.json()["message"]
    bad_json = post(daemon, files={"file": ("20240516.csv", b"a")}, data={"settings": "{nope"})
    assert bad_json.status_code == 422 and bad_json.json()["error"] == "bad_settings"
    not_multipart = httpx.post(
        f"{daemon.api}/api/v1/imports",
        content=b"\x00\xff",
        headers={**ACME, "Content-Type": "multipart/form-data; boundary=zzz"},
    )
    assert not_multipart.status_code == 422


def test_two_files_in_the_file_part_are_refused_not_one_dropped(daemon):
    files = [
        ("file", ("20240801.csv", csv_bytes(["1,2024/08/01,1,a"]))),
        ("file", ("20240802.csv", csv_bytes(["2,2024/08/02,2,b"]))),
    ]
    reply = post(daemon, files=files)
    assert reply.status_code == 422 and reply.json()["error"] == "unexpected_file"
    assert "ファイルが 2 個" in reply.json()["message"]
    assert daemon.query("SELECT count(*) FROM runs WHERE filename LIKE '2024080_.csv'") == [(0,)]


def test_settings_nested_past_the_parser_is_422_not_500(daemon):
    deep = "[" * 5000 + "]" * 5000
    reply = post(daemon, files={"file": ("20240516.csv", b"a")}, data={"settings": deep})
    assert reply.status_code == 422 and reply.json()["error"] == "bad_settings"


def test_a_file_part_without_a_filename_says_so(daemon):
    """As a client that writes only filename* (RFC 5987) sends it."""
    body = (
        b'--zz\r\nContent-Disposition: form-data; name="file";'
        b" filename*=utf-8''%E5%A3%B2%E4%B8%8A20250304.csv\r\n"
        b"Content-Type: text/csv\r\n\r\n1,2024/05/16,1,a\r\n--zz--\r\n"
    )
    reply = httpx.post(
        f"{daemon.api}/api/v1/imports",
        content=body,
        headers={**ACME, "Content-Type": "multipart/form-data; boundary=zz"},
    )
    assert reply.status_code == 422 and reply.json()["error"] == "missing_file"
    assert "ファイル名がありません" in reply.json()["message"]


def test_missing_file_names_the_file_parts_as_text(daemon):
    reply = post(daemon, files={"upload": ("20240516.csv", b"a"), "other": ("x.csv", b"b")})
    assert reply.status_code == 422
    assert "(ファイルのパートは upload, other)" in reply.json()["message"]


def test_long_idempotency_keys_alike_at_first_are_two_deliveries(daemon):
    keys = ["p" * 200 + "A", "p" * 200 + "B"]
    ids = []
    for day, key in zip((11, 12), keys, strict=True):
        files = {"file": (f"202409{day}.csv", csv_bytes([f"{day},2024/09/{day},1,k"]))}
        reply = post(daemon, files=files, headers={**ACME, "Idempotency-Key": key})
        assert reply.status_code == 202 and "Idempotent-Replayed" not in reply.headers
        ids.append(reply.json()["id"])
    assert ids[0] != ids[1]
    assert {daemon.wait_run(i)["state"] for i in ids} == {"completed"}
    # The same long key again is still the first delivery.
    files = {"file": ("20240913.csv", csv_bytes(["9,2024/09/13,9,again"]))}
    again = post(daemon, files=files, headers={**ACME, "Idempotency-Key": keys[0]})
    assert again.json()["id"] == ids[0] and again.headers["Idempotent-Replayed"] == "true"


def test_a_name_too_long_fails_naming_its_length_not_cut(daemon):
    name = "a" * 300 + ".csv"
    reply = post(daemon, files={"file": (name, csv_bytes(["1,2024/05/16,1,a"]))}, wait=True)
    body = reply.json()
    assert reply.status_code == 422 and body["filename"] == name
    assert "ファイル名が長すぎます(UTF-8 で 304 バイト" in body["message"]


def test_a_name_cut_at_the_door_is_said_to_be_at_least_its_length(daemon):
    # Cut to MAX_NAME_CHARS at the door, its length was said as the cut name's.
    name = "20240516" + "x" * 3000 + ".csv"
    reply = post(daemon, files={"file": (name, csv_bytes(["1,2024/05/16,1,a"]))}, wait=True)
    body = reply.json()
    assert reply.status_code == 422 and body["filename"] == name[:MAX_NAME_CHARS]
    assert f"(UTF-8 で {MAX_NAME_CHARS} バイト以上、上限 255 バイト)" in body["message"]


def test_limits_answer_413(daemon):
    too_big = post(daemon, files={"file": ("20240516.csv", b"x" * 20001)})
    assert too_big.status_code == 413 and too_big.json()["error"] == "too_large"
    rows = [f"{i},2024/05/19,1,a" for i in range(101)]
    too_many = post(daemon, files={"file": ("20240519.csv", csv_bytes(rows))}, wait=True)
    assert too_many.status_code == 413 and too_many.json()["state"] == "failed"


def test_a_body_far_past_the_limit_is_refused_by_its_length_alone(daemon):
    """Its Content-Length says so before a byte of it is read."""
    body = b"x" * (3 * 1024 * 1024)
    reply = post(daemon, files={"file": ("20240516.csv", body)})
    assert reply.status_code == 413 and reply.json()["error"] == "too_large"
    assert "20,000 バイトを超えています" in reply.json()["message"]
    assert post(daemon, files={"file": ("20241117.csv", b"a")}).status_code == 202


def test_stopped_account_gets_an_ignored_run(daemon):
    reply = post(
        daemon,
        files={"file": ("20240516.csv", b"a")},
        headers={"Authorization": "Bearer demo-halted-token"},
        wait=True,
    )
    assert reply.status_code == 200 and reply.json()["state"] == "ignored", reply.text
    assert reply.json()["dry_run"] is False


def test_a_dry_run_to_a_stopped_account_is_an_ignored_dry_run(daemon):
    """Recorded as a real import before: a script reading `dry_run` took it for one."""
    reply = httpx.post(
        f"{daemon.api}/api/v1/imports",
        files={"file": ("20240516.csv", b"a")},
        headers={"Authorization": "Bearer demo-halted-token"},
        params={"wait": "true", "dry_run": "true"},
        timeout=60,
    )
    assert reply.status_code == 200 and reply.json()["state"] == "ignored", reply.text
    assert reply.json()["dry_run"] is True
    shown = httpx.get(f"{daemon.api}/api/v1/runs/{reply.json()['id']}", headers=ADMIN)
    assert shown.json()["dry_run"] is True
    # And in the account's mode and layout (the schema's replace_file and none before).
    assert (shown.json()["mode"], shown.json()["layout"]) == ("insert", "performance")
    # Its file was thrown away unread: no size (it said 0 bytes).
    said = renkei("show", reply.json()["id"], "--config", str(daemon.config)).stdout
    assert "サイズ: -" in said, said


def test_spool_trouble_answers_503_with_retry_after(daemon):
    incoming = daemon.data_dir / "spool" / "incoming"
    shutil.rmtree(incoming)
    incoming.write_text("")
    try:
        reply = post(daemon, files={"file": ("20240516.csv", b"a")})
        assert reply.status_code == 503 and reply.headers["Retry-After"] == "30"
    finally:
        incoming.unlink()
        incoming.mkdir()


@needs_curl
def test_curl_form_upload(daemon, tmp_path):
    source = tmp_path / "20240520.csv"
    source.write_bytes(csv_bytes(["5,2024/05/20,5,curl"]))
    status, body = curl(
        f"{daemon.api}/api/v1/imports?wait=true",
        "-H", "Authorization: Bearer demo-acme-token", "-F", f"file=@{source}",
    )  # fmt: skip
    assert status == 200
    assert body["state"] == "completed" and body["filename"] == "20240520.csv"


def test_the_same_request_again_answers_the_first_run(daemon):
    files = {"file": ("20240521.csv", csv_bytes(["21,2024/05/21,1,once"]))}
    first = post(daemon, files=files, wait=True)
    again = post(daemon, files=files, wait=True)
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert daemon.query("SELECT count(*) FROM runs WHERE filename = '20240521.csv'") == [(1,)]


def test_an_idempotency_key_answers_its_first_run_whatever_the_content(daemon):
    key = {**ACME, "Idempotency-Key": "order-77"}
    one = post(
        daemon, files={"file": ("20240522.csv", csv_bytes(["1,2024/05/22,1,a"]))}, headers=key
    )
    two = post(
        daemon, files={"file": ("20240522.csv", csv_bytes(["2,2024/05/22,2,b"]))}, headers=key
    )
    assert one.status_code == two.status_code == 202
    assert two.json()["id"] == one.json()["id"]
    daemon.wait_run(one.json()["id"])
    assert daemon.query(
        "SELECT member_no FROM performance WHERE _source_file = '20240522.csv'"
    ) == [(1,)]


def test_identical_requests_at_once_make_one_run(daemon):
    """A client retrying before its first request was answered gets the same run."""
    files = {"file": ("20240523.csv", csv_bytes(["23,2024/05/23,1,once"]))}

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=daemon.api, headers=ACME, timeout=60) as client:
            requests = [client.post("/api/v1/imports", files=files) for _ in range(8)]
            return await asyncio.gather(*requests)

    replies = asyncio.run(burst())
    assert {r.status_code for r in replies} == {202}
    assert len({r.json()["id"] for r in replies}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in replies) == 7
    daemon.wait_run(replies[0].json()["id"])
    assert daemon.query("SELECT count(*) FROM runs WHERE filename = '20240523.csv'") == [(1,)]


def test_a_run_without_row_errors_has_an_errors_csv_of_the_header_alone(daemon):
    """A script can always download errors.csv, even of a run that had none."""
    body = post(
        daemon, files={"file": ("20240601.csv", csv_bytes(["1,2024/06/01,1,a"]))}, wait=True
    ).json()
    assert body["state"] == "completed"
    reply = httpx.get(f"{daemon.api}/api/v1/runs/{body['id']}/errors.csv", headers=ACME)
    assert reply.status_code == 200
    # An ASCII file is valid UTF-8, so the run's encoding is utf-8.
    assert reply.headers["content-type"] == "text/csv; charset=utf-8"
    assert "20240601.errors.csv" in reply.headers["content-disposition"]
    assert reply.content == "member_no,date,sales_amount,note,行番号,エラー内容\r\n".encode()


def test_the_run_json_says_what_became_of_its_report(daemon):
    body = post(
        daemon, files={"file": ("20240602.csv", csv_bytes(["1,2024/06/02,1,a"]))}, wait=True
    ).json()
    # Mailed to sales@acme.example through a relay that is not there: it waits.
    assert body["report_state"] in ("pending", "queued")
    run = httpx.get(f"{daemon.api}/api/v1/runs/{body['id']}", headers=ACME).json()
    assert run["report_state"] in ("pending", "queued")
    listed = httpx.get(f"{daemon.api}/api/v1/runs", headers=ACME).json()["runs"]
    assert all("report_state" in r for r in listed)
