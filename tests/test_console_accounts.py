"""The console's account pages against the real daemon with FTP intake: an account whose
name holds characters a URL gives a meaning to (`#`, `?`) is linked, shown and acted on
under its own name; 今すぐチェック says how many files it took; a stopped account shows
no next checks, as its scheduled checks pass it by."""

from __future__ import annotations

import ftplib
import io
from urllib.parse import quote

import httpx
import pytest

from tests.console_support import csrf, login, users_toml
from tests.support import Daemon, account, csv_bytes, ftp_served, write_config
from tests.test_ftp import ftp_section

NAME = "shop#1?"  # a TOML key may hold both; a URL path must escape them
PATH = f"/console/accounts/{quote(NAME, safe='')}"
ACCOUNTS = (
    account("shopx").replace("[accounts.shopx", f'[accounts."{NAME}"')
    + ftp_section("shopx", "demo-shop-ftp").replace("[accounts.shopx", f'[accounts."{NAME}"')
    + f'[accounts."{NAME}".limits]\nmax_bytes = 1500\n'
    + account("halted", status="stopped")
    + ftp_section("halted", "demo-halted")
)
USERS = {"admin": ("admin", [])}


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    folder = tmp_path_factory.mktemp("console-accounts")
    config = write_config(folder, ACCOUNTS, extra=users_toml(USERS))
    port = ftp_served(config)
    d = Daemon(config).start()
    d.ftp_port = port
    yield d
    d.terminate()


@pytest.fixture(scope="module")
def web(daemon):
    client = login(daemon.api, "admin")
    yield client
    client.close()


def test_an_account_name_with_url_characters_is_linked_and_acted_on(daemon, web):
    for page in ("/console/", "/console/accounts"):
        assert f'href="{PATH}"' in web.get(page).text
    shown = web.get(PATH)
    assert shown.status_code == 200 and NAME in shown.text
    for action in ("poll", "status", "upload"):
        assert f'action="{PATH}/{action}"' in shown.text

    r = web.post(f"{PATH}/poll", data={"csrf": csrf(web)})
    assert (r.status_code, r.headers["location"]) == (303, f"{PATH}?notice=polled_none")
    assert (
        "今すぐチェックしました: 新しいファイルはありませんでした"
        in web.get(r.headers["location"]).text
    )

    with ftplib.FTP() as ftp:
        ftp.connect("127.0.0.1", daemon.ftp_port, timeout=10)
        ftp.login("shopx", "demo-shop-ftp")
        for name in ("20240516.csv", "20240517.csv"):
            ftp.storbinary(f"STOR {name}", io.BytesIO(csv_bytes(["1,2024/05/16,10,a"])))
    r = web.post(f"{PATH}/poll", data={"csrf": csrf(web)})
    assert (r.status_code, r.headers["location"]) == (303, f"{PATH}?notice=polled&taken=2")
    assert "2 件のファイルを受け付けました" in web.get(r.headers["location"]).text
    # The count goes with the notice: a link on that page leaves it behind.
    assert "taken=" not in web.get(f"{PATH}?notice=polled&taken=2").text.split("<main")[-1]

    r = web.post(f"{PATH}/status", data={"csrf": csrf(web), "status": "stopped"})
    assert (r.status_code, r.headers["location"]) == (303, f"{PATH}?notice=stopped")
    r = web.post(f"{PATH}/status", data={"csrf": csrf(web), "status": "active"})
    assert r.headers["location"] == f"{PATH}?notice=started"


def test_a_stopped_account_shows_no_next_checks(daemon, web):
    admin = {"Authorization": "Bearer demo-admin"}
    api = httpx.get(f"{daemon.api}/api/v1/accounts/halted", headers=admin).json()
    assert api["status"] == "stopped" and api["next_checks"] == []
    active = httpx.get(f"{daemon.api}/api/v1/accounts/{quote(NAME, safe='')}", headers=admin)
    assert len(active.json()["next_checks"]) == 5
    page = web.get("/console/accounts/halted").text
    assert "停止中のためチェックしません" in page
    row = web.get("/console/accounts").text.split('href="/console/accounts/halted"')[1]
    assert row.split("</tr>")[0].count("—") >= 1  # its next check: none


def test_an_upload_over_the_accounts_limit_is_refused_on_the_page(daemon, web):
    big = csv_bytes([f"{n},2024/05/16,{n},{'x' * 40}" for n in range(60)])
    assert len(big) > 1500
    r = web.post(
        f"{PATH}/upload",
        data={"csrf": csrf(web)},
        files={"file": ("20240518.csv", big, "text/csv")},
    )
    assert r.status_code == 413 and "ファイルが大きすぎます(上限 1,500 バイト)" in r.text
    # Nothing was taken: no run of it.
    r = httpx.get(
        f"{daemon.api}/api/v1/runs",
        params={"filename": "20240518.csv"},
        headers={"Authorization": "Bearer demo-admin"},
    )
    assert r.json()["runs"] == []
