"""The HTTP API against the real daemon, with httpx (and curl where the machine has it)."""

from __future__ import annotations

import shutil
import subprocess

import httpx
import pytest

from tests.support import Daemon, account, csv_bytes, mail, queued_ids, send, send_as, write_config

ADMIN = {"Authorization": "Bearer demo-admin"}
ACCOUNTS = (
    account("acme")
    + '[accounts.acme.api]\ntoken = "demo-acme-token"\n'
    + account("beta")
    + "[accounts.beta.api]\ntoken_sha256 = "
    '"f44e64e75f3948e9f73f8dfa94721c4ce8cbb4f265c4790c702b2d41cfbf2753"\n'  # sha256("beta")
)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory, module_relay):
    folder = tmp_path_factory.mktemp("web")
    d = Daemon(write_config(folder, ACCOUNTS, relay_port=module_relay.port)).start()
    yield d
    d.terminate()


@pytest.fixture(scope="module")
def runs(daemon):
    """Four runs: three of acme (one failed), one of beta."""
    ids = {}
    for name, rows in [
        ("20240501.csv", ["1,2024/05/01,1,a"]),
        ("20240502.csv", ["2,2024/05/02,x,日本"]),
        ("20240503.csv", ["3,2024/05/03,3,c"]),
    ]:
        _, _, reply = send(daemon.smtp_port, mail([(name, csv_bytes(rows))]))
        ids[name] = daemon.wait_run(queued_ids(reply)[0])["id"]
    _, _, reply = send_as(
        daemon.smtp_port, "beta", [("20240504.csv", csv_bytes(["4,2024/05/04,4,d"]))]
    )
    ids["beta"] = daemon.wait_run(queued_ids(reply)[0])["id"]
    return ids


def test_healthz_is_open_and_ok(daemon):
    r = httpx.get(f"{daemon.api}/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic x"}]
)
def test_runs_need_a_valid_token(daemon, headers):
    r = httpx.get(f"{daemon.api}/api/v1/runs", headers=headers)
    assert r.status_code == 401
    assert r.json()["error"] == "unauthorized" and r.json()["message"]


def test_admin_lists_runs_newest_first_with_filters(daemon, runs):
    r = httpx.get(f"{daemon.api}/api/v1/runs", headers=ADMIN)
    body = r.json()
    assert r.status_code == 200 and body["total"] == 4 and body["next"] is None
    assert [run["id"] for run in body["runs"]] == [
        runs["beta"],
        runs["20240503.csv"],
        runs["20240502.csv"],
        runs["20240501.csv"],
    ]
    assert set(body["runs"][0]) == {
        "id",
        "account",
        "channel",
        "sender",
        "filename",
        "layout",
        "encoding",
        "state",
        "rows_total",
        "rows_imported",
        "rows_failed",
        "rows_inserted",
        "rows_updated",
        "rows_skipped",
        "rows_deleted",
        "rows_not_found",
        "rows_empty",
        "mode",
        "dry_run",
        "message",
        "received_at",
        "started_at",
        "finished_at",
        "report_state",
        "retry_of",
        "undo_of",
        "undone_by",
        "direction",
        "authentication_results",
        "instance",
        "send",
    }
    assert (body["runs"][0]["direction"], body["runs"][0]["send"]) == ("receive", None)
    failed = httpx.get(
        f"{daemon.api}/api/v1/runs", params={"state": "failed"}, headers=ADMIN
    ).json()
    assert [run["filename"] for run in failed["runs"]] == ["20240502.csv"]
    by_name = httpx.get(
        f"{daemon.api}/api/v1/runs",
        params={"filename": "20240501.csv", "account": "acme", "channel": "mail"},
        headers=ADMIN,
    ).json()
    assert by_name["total"] == 1


def test_paging_follows_next(daemon, runs):
    seen = []
    url = f"{daemon.api}/api/v1/runs?limit=3"
    while url:
        body = httpx.get(url, headers=ADMIN).json()
        seen += [run["id"] for run in body["runs"]]
        url = body["next"]
        assert url is None or url.startswith(f"{daemon.api}/api/v1/runs?"), url
    assert len(seen) == 4 and len(set(seen)) == 4


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "501"},
        {"limit": "many"},
        {"offset": "-1"},
        {"offset": "425176497062821494784"},
    ],
)  # the last one once gave a 500
def test_bad_paging_gets_422_json(daemon, params):
    r = httpx.get(f"{daemon.api}/api/v1/runs", params=params, headers=ADMIN)
    assert r.status_code == 422 and r.json()["error"] == "invalid_request"


def test_one_run_and_an_unknown_one(daemon, runs):
    r = httpx.get(f"{daemon.api}/api/v1/runs/{runs['20240501.csv']}", headers=ADMIN)
    assert (
        r.status_code == 200 and r.json()["state"] == "completed" and r.json()["rows_imported"] == 1
    )
    r = httpx.get(f"{daemon.api}/api/v1/runs/nope", headers=ADMIN)
    assert r.status_code == 404 and r.json()["error"] == "not_found"


def test_a_path_nobody_serves_is_404_and_a_wrong_method_405(daemon):
    unknown = httpx.get(f"{daemon.api}/api/v1/runz", headers=ADMIN)
    assert unknown.status_code == 404 and unknown.json()["error"] == "not_found"
    wrong = httpx.post(f"{daemon.api}/healthz")
    assert wrong.status_code == 405 and wrong.json()["error"] == "method_not_allowed"
    assert "GET" in wrong.headers["Allow"]
    wrong = httpx.delete(f"{daemon.api}/api/v1/runs", headers=ADMIN)
    assert wrong.status_code == 405 and wrong.headers["Allow"] == "GET, HEAD"
    # A POST to a path no account imports at is a refused import, as before.
    unknown = httpx.post(f"{daemon.api}/push/nowhere", headers=ADMIN)
    assert unknown.status_code == 404 and "取込パス /push/nowhere" in unknown.json()["message"]
    page = httpx.get(f"{daemon.api}/console/nope")
    assert page.status_code == 404 and "text/html" in page.headers["content-type"]
    assert "ページ /console/nope はありません" in page.text


def test_healthz_answers_head(daemon):
    r = httpx.head(f"{daemon.api}/healthz")
    assert r.status_code == 200 and r.content == b""


def test_errors_csv_in_the_files_encoding(daemon, runs):
    r = httpx.get(f"{daemon.api}/api/v1/runs/{runs['20240502.csv']}/errors.csv", headers=ADMIN)
    assert r.status_code == 200 and "windows-31j" in r.headers["content-type"]
    text = r.content.decode("cp932")
    assert text == (
        "member_no,date,sales_amount,note,行番号,エラー内容\r\n"
        "2,2024/05/02,x,日本,2,2行目 列「sales_amount」の値「x」は整数ではありません\r\n"
    )
    # A run without row errors: the header row alone.
    r = httpx.get(f"{daemon.api}/api/v1/runs/{runs['20240501.csv']}/errors.csv", headers=ADMIN)
    # (all ASCII, so read as UTF-8: the error CSV follows)
    expected = "member_no,date,sales_amount,note,行番号,エラー内容\r\n".encode()
    assert r.status_code == 200 and r.content == expected


def test_account_token_sees_only_its_own_runs(daemon, runs):
    acme = {"Authorization": "Bearer demo-acme-token"}
    body = httpx.get(f"{daemon.api}/api/v1/runs", headers=acme).json()
    assert body["total"] == 3 and {run["account"] for run in body["runs"]} == {"acme"}
    assert httpx.get(f"{daemon.api}/api/v1/runs/{runs['beta']}", headers=acme).status_code == 404
    beta = {"Authorization": "Bearer beta"}  # matched by its sha256
    body = httpx.get(f"{daemon.api}/api/v1/runs", headers=beta).json()
    assert [run["id"] for run in body["runs"]] == [runs["beta"]]


def test_metrics_count_files_runs_and_rows(daemon, runs):
    text = httpx.get(f"{daemon.api}/metrics").text
    assert 'renkei_files_received_total{channel="mail"} 4.0' in text
    assert 'renkei_runs_total{state="completed"} 3.0' in text
    assert 'renkei_runs_total{state="failed"} 1.0' in text
    assert "renkei_rows_imported_total 3.0" in text


@pytest.mark.skipif(not shutil.which("curl"), reason="curl is not installed")
def test_curl_reads_the_run_history(daemon, runs):
    out = subprocess.run(
        [
            "curl",
            "-s",
            "-H",
            "Authorization: Bearer demo-admin",
            f"{daemon.api}/api/v1/runs?limit=1",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    assert '"total":4' in out


def test_accounts_show_status_channels_last_run_and_next_checks(daemon, runs):
    body = httpx.get(f"{daemon.api}/api/v1/accounts", headers=ADMIN).json()
    assert [a["name"] for a in body["accounts"]] == ["acme", "beta"]
    acme = httpx.get(f"{daemon.api}/api/v1/accounts/acme", headers=ADMIN).json()
    assert acme["status"] == "active" and acme["channels"] == ["mail", "api"]
    assert acme["last_run"]["id"] == runs["20240503.csv"] and acme["next_checks"] == []
    own = {"Authorization": "Bearer demo-acme-token"}
    assert httpx.get(f"{daemon.api}/api/v1/accounts/beta", headers=own).status_code == 404
    assert [
        a["name"]
        for a in httpx.get(f"{daemon.api}/api/v1/accounts", headers=own).json()["accounts"]
    ] == ["acme"]
