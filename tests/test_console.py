"""The web console (/console/) against the real daemon, driven with httpx: login and its
throttle, sessions, roles, the runs list and its export, a run's page and its actions,
the account switch kept across restarts and reloads, the upload, the language, and the
`renkei passwd` and `renkei check` commands that set users up."""

from __future__ import annotations

import concurrent.futures
import html
import json
import re
import shutil
import subprocess
import time
import tomllib

import httpx
import pytest

from daemon.settings.passwords import hash_password
from daemon.spool.queue import Meta
from tests.console_support import (
    PASSWORD,
    USERS,
    console_daemon,
    csrf,
    logged_in,
    login,
    login_token,
    users_toml,
)
from tests.support import (
    Daemon,
    account,
    csv_bytes,
    mail,
    queued_ids,
    renkei,
    send,
    send_as,
    write_config,
)

ACCOUNTS = (
    account("acme")
    + '[accounts.acme.api]\ntoken = "demo-acme-token"\n'
    + account("beta")
    + '[accounts.beta.api]\ntoken = "demo-beta-token"\n'
)
# Users only one test logs in as, so that their lock does not reach the others.
LOCKED_USER = "lockme"
BURST_USER = "burstme"
MORE_USERS = {**USERS, LOCKED_USER: ("viewer", ["acme"]), BURST_USER: ("viewer", ["acme"])}
GOOD = csv_bytes(["1,2024/05/01,1,a"])
BAD = csv_bytes(["2,2024/05/02,x,日本"])
ROW_ERROR = "2行目 列「sales_amount」の値「x」は整数ではありません"
ROW_ERROR_EN = "line 2, column 'sales_amount', value 'x' is not a whole number"


def rows_of(d: Daemon, source: str) -> list[tuple]:
    sql = "SELECT member_no FROM performance WHERE _source_file = ? ORDER BY member_no"
    return d.query(sql, (source,))


def audit(d: Daemon) -> list[tuple]:
    return d.query("SELECT user, action, target, outcome, detail FROM audit_log ORDER BY seq")


def anonymous(d: Daemon, **kwargs) -> httpx.Client:
    return httpx.Client(base_url=d.api, follow_redirects=False, timeout=30, **kwargs)


def is_page(r: httpx.Response) -> bool:
    return r.headers["content-type"].startswith("text/html") and "<!doctype html>" in r.text


@pytest.fixture(scope="module")
def daemon(tmp_path_factory, module_relay):
    folder = tmp_path_factory.mktemp("console")
    yield from console_daemon(folder, ACCOUNTS, module_relay.port, MORE_USERS)


@pytest.fixture(scope="module")
def runs(daemon):
    """Three runs of acme (the middle one failed) and one of beta, all by mail."""
    ids = {}
    for name, data in [
        ("20240501.csv", GOOD),
        ("20240502.csv", BAD),
        ("20240503.csv", csv_bytes(["3,2024/05/03,3,c"])),
    ]:
        _, _, reply = send(daemon.smtp_port, mail([(name, data)]))
        ids[name] = daemon.wait_run(queued_ids(reply)[0])["id"]
    _, _, reply = send_as(
        daemon.smtp_port, "beta", [("20240504.csv", csv_bytes(["4,2024/05/04,4,d"]))]
    )
    ids["beta"] = daemon.wait_run(queued_ids(reply)[0])["id"]
    return ids


@pytest.fixture(scope="module")
def clients(daemon):
    yield from logged_in(daemon, USERS)


# -- not logged in ---------------------------------------------------------------------


def test_root_goes_to_the_console(daemon):
    r = httpx.get(f"{daemon.api}/")
    assert r.status_code == 303 and r.headers["location"] == "/console/"


def test_pages_send_a_stranger_to_the_login_page(daemon, runs):
    run = runs["20240501.csv"]
    with anonymous(daemon) as web:
        assert web.get("/console/").headers["location"] == "/console/login"
        for path in [
            "/console/runs",
            "/console/runs?state=failed",
            "/console/runs/export.csv",
            f"/console/runs/{run}",
            f"/console/runs/{run}/file",
            f"/console/runs/{run}/errors.csv",
            "/console/accounts",
            "/console/accounts/acme",
            "/console/audit",
        ]:
            r = web.get(path)
            assert r.status_code == 303, path
            assert r.headers["location"].startswith("/console/login?next=/console/"), path
        r = web.get("/console/runs?state=failed")
        assert r.headers["location"] == "/console/login?next=/console/runs%3Fstate%3Dfailed"
        # The login page carries `next` through, back to the page asked for.
        form = web.get(r.headers["location"]).text
        assert 'name="next" value="/console/runs?state=failed"' in form
        r = web.post(
            "/console/login",
            data={
                "user": "view",
                "password": PASSWORD,
                "token": login_token(web),
                "next": re.search(r'name="next" value="([^"]*)"', form).group(1),
            },
        )
        assert r.headers["location"] == "/console/runs?state=failed"
        web.cookies.clear()
        # An action is not repeated after the login, which goes back to the page its
        # form was on (it went to the overview, the page left behind lost).
        for path, back in [
            ("/console/logout", ""),
            (f"/console/runs/{run}/retry", f"?next=/console/runs/{run}"),
            (f"/console/runs/{run}/undo", f"?next=/console/runs/{run}"),
            ("/console/accounts/acme/poll", "?next=/console/accounts/acme"),
            ("/console/accounts/acme/status", "?next=/console/accounts/acme"),
            ("/console/accounts/acme/upload", "?next=/console/accounts/acme"),
            ("/console/accounts/acme/upload/confirm", "?next=/console/accounts/acme"),
        ]:
            r = web.post(path, data={"csrf": "x", "status": "stopped"})
            assert r.status_code == 303, path
            assert r.headers["location"] == f"/console/login{back}", (path, r.headers)
        # The list's live refresh: back to the list after the login.
        r = web.get("/console/runs/table", headers={"HX-Request": "true"})
        assert r.status_code == 204
        assert r.headers["hx-redirect"] == "/console/login?next=/console/runs"
        r = web.get("/console/runs/table")
        assert r.status_code == 303
        assert r.headers["location"] == "/console/login?next=/console/runs"
        # A forged session cookie is no session.
        web.cookies.set("renkei_session", "made-up.signature")
        assert web.get("/console/runs").status_code == 303
    # Nothing was done on the stranger's word.
    assert daemon.query("SELECT count(*) FROM runs WHERE retry_of IS NOT NULL") == [(0,)]


# -- login -----------------------------------------------------------------------------


def test_login_sets_a_strict_http_only_cookie_and_is_audited(daemon):
    with anonymous(daemon) as web:
        page = web.get("/console/login")
        assert page.status_code == 200 and "ログイン" in page.text
        login_cookie = page.headers["set-cookie"].lower()
        assert "renkei_login=" in login_cookie and "httponly" in login_cookie
        token = login_token(web)
        r = web.post(
            "/console/login",
            data={"user": "admin", "password": PASSWORD, "token": token, "next": "/console/runs"},
        )
        assert r.status_code == 303 and r.headers["location"] == "/console/runs"
        [session] = [c for c in r.headers.get_list("set-cookie") if "renkei_session=" in c]
        attributes = [part.strip().lower() for part in session.split(";")]
        assert "httponly" in attributes and "samesite=strict" in attributes
        assert "path=/console" in attributes and "secure" not in attributes
        assert web.get("/console/runs").status_code == 200
        # Logged in, the login page sends the user on.
        r = web.get("/console/login?next=/console/accounts")
        assert r.status_code == 303 and r.headers["location"] == "/console/accounts"
    assert ("admin", "login", "", "ok", "") in audit(daemon)


def test_wrong_password_and_unknown_user_get_the_same_401(daemon):
    with anonymous(daemon) as web:
        answers = []
        for user, password in [("admin", "wrong-password"), ("nobody", PASSWORD)]:
            r = web.post(
                "/console/login",
                data={"user": user, "password": password, "token": login_token(web)},
            )
            assert r.status_code == 401 and is_page(r)
            assert "ユーザー名またはパスワードが違います" in r.text
            assert "renkei_session=" not in r.headers.get("set-cookie", "")
            answers.append(re.sub(r'value="[^"]*"', "", r.text))
        assert answers[0] == answers[1]  # nothing tells a known user from an unknown one
        # A user name is kept as typed, and shown escaped (test_the_audit_page_…).
        r = web.post(
            "/console/login",
            data={"user": "<img src=x>", "password": "x", "token": login_token(web)},
        )
        assert r.status_code == 401 and "<img src=x>" not in r.text
    entries = audit(daemon)
    assert ("admin", "login", "", "failed", "") in entries
    assert ("nobody", "login", "", "failed", "") in entries
    # A success clears the address's count, so the failures above lock nobody out.
    login(daemon.api, "admin").close()


def test_a_wrong_password_keeps_the_page_the_login_was_for(daemon):
    # Taken from the query alone, `next` was lost once the form came back with an
    # error: the login then went to the overview, not the run the user had opened.
    target = "/console/runs?state=failed"
    with anonymous(daemon) as web:
        page = web.get("/console/login", params={"next": target})
        assert f'name="next" value="{html.escape(target)}"' in page.text
        r = web.post(
            "/console/login",
            data={"user": "op", "password": "wrong", "token": login_token(web), "next": target},
        )
        assert r.status_code == 401
        assert f'name="next" value="{html.escape(target)}"' in r.text
        r = web.post(
            "/console/login",
            data={"user": "op", "password": PASSWORD, "token": login_token(web), "next": target},
        )
        assert r.status_code == 303 and r.headers["location"] == target


def test_login_without_its_form_token_is_refused(daemon):
    with anonymous(daemon) as web:
        # No token, no cookie.
        r = web.post("/console/login", data={"user": "admin", "password": PASSWORD})
        assert r.status_code == 403 and "ログイン画面の有効期限が切れました" in r.text
        # A token without the cookie it is bound to (another site's form).
        token = login_token(web)
        web.cookies.clear()
        r = web.post("/console/login", data={"user": "admin", "password": PASSWORD, "token": token})
        assert r.status_code == 403 and "renkei_session=" not in str(r.headers)
    assert ("admin", "login", "", "refused", "form token") in audit(daemon)


def test_of_two_login_pages_open_at_once_the_first_one_used_logs_in(daemon):
    """Each login form shown set a new nonce cookie: of two tabs left on the login page
    (a session expired, a restart), the first one used was refused as expired."""
    with anonymous(daemon) as web:
        first = login_token(web)
        second = login_token(web)  # the second tab
        r = web.post("/console/login", data={"user": "op", "password": PASSWORD, "token": first})
        assert r.status_code == 303 and r.headers["location"] == "/console/", r.text
        # The other tab, used after: not refused as expired (and audited as refused).
        r = web.post("/console/login", data={"user": "op", "password": PASSWORD, "token": second})
        assert r.status_code == 303 and r.headers["location"] == "/console/", r.text


def test_a_form_the_framework_cannot_read_gets_the_consoles_page(daemon):
    """A broken multipart body, or a wrong method: once the API's JSON."""
    with anonymous(daemon) as web:
        broken = {"Content-Type": "multipart/form-data; boundary=zzz"}
        r = web.post("/console/login", content=b"\x00\xff--zzz", headers=broken)
        assert r.status_code == 400 and is_page(r) and "リクエストを読めません" in r.text
        r = web.delete("/console/runs")
        assert r.status_code == 405 and is_page(r) and r.headers["Allow"] == "GET, HEAD"
        assert httpx.delete(f"{daemon.api}/api/v1/runs").json()["error"] == "method_not_allowed"


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/", "/console//evil.example", "/elsewhere"]
)
def test_next_never_leaves_the_console(daemon, target):
    with anonymous(daemon) as web:
        r = web.post(
            "/console/login",
            data={"user": "op", "password": PASSWORD, "token": login_token(web), "next": target},
        )
        assert r.status_code == 303 and r.headers["location"] == "/console/"
        r = web.get("/console/lang/ja", params={"next": target})
        assert r.status_code == 303 and r.headers["location"] == "/console/"


def test_logins_sent_all_at_once_get_no_more_guesses_than_one_by_one(daemon):
    """Each login looked at the failures before its password was checked and counted
    after: sixty sent at once were sixty guesses, the right one among them let in."""
    clients = [anonymous(daemon, transport=httpx.HTTPTransport(local_address="127.0.0.4"))
               for _ in range(30)]  # fmt: skip
    try:
        forms = [(web, login_token(web)) for web in clients]

        def post(n: int) -> int:
            web, token = forms[n]
            password = PASSWORD if n == len(forms) - 1 else f"guess-{n}"
            data = {"user": BURST_USER, "password": password, "token": token}
            return web.post("/console/login", data=data).status_code

        with concurrent.futures.ThreadPoolExecutor(len(forms)) as pool:
            codes = list(pool.map(post, range(len(forms))))
    finally:
        for web in clients:
            web.close()
    checked = [code for code in codes if code in (401, 303)]
    assert len(checked) <= 5, codes  # as many passwords checked as five failures allow
    assert sorted(set(codes) - {401, 303}) == [429], codes


def test_five_failures_lock_the_user_name_from_their_address_even_with_the_right_password(
    daemon,
):
    # The failures come from an address of their own: the lock is on the name from that
    # address, and the right password from another address still logs in (a lock on
    # the name alone let anyone keep its admin out).
    attacker = httpx.HTTPTransport(local_address="127.0.0.2")
    with anonymous(daemon, transport=attacker) as web:
        for _ in range(5):
            r = web.post(
                "/console/login",
                data={"user": LOCKED_USER, "password": "guess-1234", "token": login_token(web)},
            )
            assert r.status_code == 401
        r = web.post(
            "/console/login",
            data={"user": LOCKED_USER, "password": PASSWORD, "token": login_token(web)},
        )
        assert r.status_code == 429 and "ログインの失敗が続いたため" in r.text
        assert "renkei_session=" not in str(r.headers)
    with anonymous(daemon, transport=httpx.HTTPTransport(local_address="127.0.0.3")) as web:
        r = web.post(
            "/console/login",
            data={"user": LOCKED_USER, "password": PASSWORD, "token": login_token(web)},
        )
        assert r.status_code == 303 and "renkei_session=" in str(r.headers)
    outcomes = [e[3] for e in audit(daemon) if e[0] == LOCKED_USER]
    assert outcomes == ["failed"] * 5 + ["locked", "ok"]
    assert [e[4] for e in audit(daemon) if e[0] == LOCKED_USER][4] == "locked"
    # Other users (from another address) still log in.
    login(daemon.api, "view").close()


def test_logout_ends_the_session_for_good(daemon):
    web = login(daemon.api, "view")
    cookie = web.cookies["renkei_session"]
    token = csrf(web)
    r = web.post("/console/logout")  # no token: refused, and the session lives on
    assert r.status_code == 403 and "フォームの確認用トークン" in r.text
    assert web.get("/console/").status_code == 200
    r = web.post("/console/logout", data={"csrf": token})
    assert r.status_code == 303 and r.headers["location"] == "/console/login"
    web.close()
    with anonymous(daemon) as replay:
        replay.cookies.set("renkei_session", cookie)
        r = replay.get("/console/runs")
        assert r.status_code == 303 and r.headers["location"].startswith("/console/login")
        r = replay.post("/console/logout", data={"csrf": token})
        assert r.status_code == 303 and r.headers["location"] == "/console/login"
    entries = audit(daemon)
    assert ("view", "csrf_refused", "/console/logout", "refused", "") in entries
    assert ("view", "logout", "", "ok", "") in entries


def test_tokens_and_cookies_of_other_than_ascii_are_refused_not_a_500(daemon):
    """A forged cookie or form token with a character past ASCII was a TypeError in
    the comparison: a 500, and the forged form left no trace in the audit log."""
    logged = len(daemon.log.read_bytes())
    with anonymous(daemon) as web:
        web.get("/console/login")
        r = web.post("/console/login", data={"user": "view", "password": "x", "token": "é"})
        assert r.status_code == 403 and is_page(r), r.status_code
        r = web.get("/console/", headers={"Cookie": b"renkei_session=abc.\xe9"})
        assert r.status_code == 303 and r.headers["location"].startswith("/console/login")
    web = login(daemon.api, "view")
    try:
        r = web.post("/console/logout", data={"csrf": "é"})
        assert r.status_code == 403 and "フォームの確認用トークン" in r.text
        r = web.post("/console/logout", headers={"X-CSRF-Token": b"\xe9"})
        assert r.status_code == 403
        assert web.get("/console/").status_code == 200  # the session lives on
    finally:
        web.close()
    refused = [e for e in audit(daemon) if e[:2] == ("view", "csrf_refused")]
    assert len(refused) >= 2
    assert b"Traceback" not in daemon.log.read_bytes()[logged:]


# -- who may see and do what ------------------------------------------------------------


def test_a_viewer_reads_but_may_not_act(daemon, runs, clients):
    web = clients["view"]
    token = csrf(web)
    run = runs["20240501.csv"]
    for path in ["/console/", "/console/runs", f"/console/runs/{run}", "/console/accounts/acme"]:
        assert web.get(path).status_code == 200, path
    page = web.get(f"/console/runs/{run}").text
    assert "/retry" not in page and "/undo" not in page
    assert 'action="/console/accounts/acme/upload"' not in web.get("/console/accounts/acme").text
    for path, data in [
        (f"/console/runs/{run}/retry", {}),
        (f"/console/runs/{run}/undo", {}),
        ("/console/accounts/acme/poll", {}),
        ("/console/accounts/acme/status", {"status": "stopped"}),
        ("/console/accounts/acme/upload/confirm", {"preview": run}),
    ]:
        r = web.post(path, data={"csrf": token, **data})
        assert r.status_code == 403 and is_page(r), path
        assert "この操作は権限「閲覧者」ではできません" in r.text
    files = {"file": ("20240601.csv", GOOD, "text/csv")}
    r = web.post("/console/accounts/acme/upload", data={"csrf": token}, files=files)
    assert r.status_code == 403 and is_page(r)
    assert web.get("/console/audit").status_code == 403
    assert 'href="/console/audit"' not in web.get("/console/").text
    r = web.get("/console/accounts/beta")
    assert r.status_code == 404 and is_page(r) and "アカウント beta はありません" in r.text
    assert web.get(f"/console/runs/{runs['beta']}").status_code == 404
    assert daemon.run(run)["undone_by"] is None
    assert daemon.query("SELECT count(*) FROM runs WHERE retry_of = ?", (run,)) == [(0,)]
    assert daemon.query("SELECT count(*) FROM runs WHERE channel = 'api'") == [(0,)]


def test_an_operator_may_not_switch_accounts_or_read_the_audit_log(daemon, clients):
    web = clients["op"]
    r = web.post("/console/accounts/acme/status", data={"csrf": csrf(web), "status": "stopped"})
    assert r.status_code == 403 and "この操作は権限「運用者」ではできません" in r.text
    assert web.get("/console/audit").status_code == 403
    page = web.get("/console/accounts/acme").text
    assert "/console/accounts/acme/status" not in page
    assert 'action="/console/accounts/acme/upload"' in page
    # No FTP to check: refused as such, not as a role.
    r = web.post("/console/accounts/acme/poll", data={"csrf": csrf(web)})
    assert r.status_code == 409 and is_page(r)
    assert web.get("/console/accounts/beta").status_code == 404
    assert web.get("/console/accounts/nosuch").status_code == 404
    assert "/console/status" not in web.get("/console/").text


def test_runs_of_another_users_accounts_do_not_exist_for_it(daemon, runs, clients):
    web = clients["betaop"]
    token = csrf(web)
    run = runs["20240501.csv"]
    for path in [
        f"/console/runs/{run}",
        f"/console/runs/{run}/file",
        f"/console/runs/{run}/errors.csv",
    ]:
        r = web.get(path)
        assert r.status_code == 404 and is_page(r), path
        assert f"実行 {run} はありません" in r.text
    for path in [f"/console/runs/{run}/retry", f"/console/runs/{run}/undo"]:
        r = web.post(path, data={"csrf": token})
        assert r.status_code == 404 and is_page(r), path
    files = {"file": ("20240601.csv", GOOD, "text/csv")}
    r = web.post("/console/accounts/acme/upload", data={"csrf": token}, files=files)
    assert r.status_code == 404
    assert web.get("/console/accounts/acme").status_code == 404
    assert web.get(f"/console/runs/{runs['beta']}").status_code == 200
    # Asking for acme's runs by name shows none of them.
    listed = web.get("/console/runs", params={"account": "acme"}).text
    assert "data-run=" not in listed
    assert daemon.run(run)["undone_by"] is None


def test_lists_and_exports_hold_only_the_users_accounts(daemon, runs, clients):
    acme = [runs[n] for n in ("20240501.csv", "20240502.csv", "20240503.csv")]
    listed = clients["op"].get("/console/runs").text
    assert all(f'data-run="{i}"' in listed for i in acme)
    assert f'data-run="{runs["beta"]}"' not in listed
    assert ">beta<" not in clients["op"].get("/console/accounts").text
    export = clients["op"].get("/console/runs/export.csv").content.decode("utf-8-sig")
    assert all(i in export for i in acme) and runs["beta"] not in export
    listed = clients["admin"].get("/console/runs").text
    assert all(f'data-run="{i}"' in listed for i in [*acme, runs["beta"]])
    export = clients["admin"].get("/console/runs/export.csv").content.decode("utf-8-sig")
    assert runs["beta"] in export and all(i in export for i in acme)
    home = clients["betaop"].get("/console/").text
    assert 'href="/console/accounts/beta"' in home and 'href="/console/accounts/acme"' not in home


def test_todays_counts_link_to_the_runs_they_count(daemon, runs, clients):
    web = clients["admin"]
    home = web.get("/console/").text
    links = re.findall(
        r'href="(/console/runs\?account=acme&amp;state=completed[^"]*)">(\d+)<', home
    )
    [(link, count)] = links
    link = link.replace("&amp;", "&")
    assert "since=" in link and "until=" in link  # today's, as counted
    listed = web.get(link).text
    assert listed.count('<tr data-run="') == int(count), link


# -- the runs list ---------------------------------------------------------------------


def test_the_runs_list_shows_each_run_in_japanese(daemon, runs, clients):
    r = clients["admin"].get("/console/runs")
    assert r.status_code == 200 and is_page(r)
    page = r.text
    assert "状況確認" in page and "acme" in page and "20240501.csv" in page
    assert "export@acme.example" in page
    failed = page.split(f'data-run="{runs["20240502.csv"]}"')[1].split("</tr>")[0]
    assert "失敗" in failed and "取り込みなし" in failed and "errors.csv" in failed
    done = page.split(f'data-run="{runs["20240501.csv"]}"')[1].split("</tr>")[0]
    assert "完了" in done and "取り込みなし" not in done and "メール" in done


def shown(web: httpx.Client, **params) -> str:
    r = web.get("/console/runs", params=params)
    assert r.status_code == 200
    return r.text


def test_the_runs_list_filters(daemon, runs, clients):
    web = clients["admin"]
    ids = {name: f'data-run="{i}"' for name, i in runs.items()}
    page = shown(web, state="failed")
    assert ids["20240502.csv"] in page and ids["20240501.csv"] not in page
    assert ids["beta"] not in page
    page = shown(web, state="completed", account="acme")
    assert ids["20240501.csv"] in page and ids["20240503.csv"] in page
    assert ids["20240502.csv"] not in page and ids["beta"] not in page
    page = shown(web, channel="mail")
    assert all(i in page for i in ids.values())
    page = shown(web, channel="ftp")
    assert not any(i in page for i in ids.values()) and "該当する実行はありません" in page
    page = shown(web, filename="0503")
    assert ids["20240503.csv"] in page and ids["20240501.csv"] not in page
    page = shown(web, filename="%")  # a LIKE wildcard is a character like another
    assert "data-run=" not in page
    page = shown(web, since="2000-01-01", until="2999-12-31")
    assert all(i in page for i in ids.values())
    assert "data-run=" not in shown(web, since="2999-01-01")
    assert "data-run=" not in shown(web, until="2000-01-01")
    page = shown(web, since="2024-13-45")
    assert "日付は 2024-05-16 の形で入力してください" in page
    assert all(i in page for i in ids.values())  # the bad condition is not used
    # Days swapped: said, where the list once said only that no run matched.
    page = shown(web, since="2999-12-06", until="2000-12-04")
    assert "開始日が終了日より後になっています" in page and "data-run=" not in page
    assert "開始日が終了日より後" not in shown(web, since="2000-01-01", until="2000-01-01")
    # The export holds what the list shows.
    export = web.get("/console/runs/export.csv", params={"state": "failed"})
    text = export.content.decode("utf-8-sig")
    assert runs["20240502.csv"] in text and runs["20240501.csv"] not in text


@pytest.mark.parametrize(
    "path", ["/console/runs", "/console/runs/table", "/console/runs/export.csv"]
)
@pytest.mark.parametrize("dates", [{"since": "0001-01-01"}, {"until": "9999-12-31"}])
def test_a_day_at_the_ends_of_the_calendar_is_ignored_like_a_bad_date(
    daemon, runs, clients, path, dates
):
    """Its start, or the next day's, is past what a datetime holds in UTC."""
    r = clients["admin"].get(path, params=dates)
    assert r.status_code == 200
    text = r.content.decode("utf-8-sig")
    assert all(i in text for i in runs.values())  # the day is not used
    if path == "/console/runs":
        assert "日付は 2024-05-16 の形で入力してください" in text


def test_the_export_in_utf8_with_bom_and_in_cp932(daemon, runs, clients):
    web = clients["admin"]
    r = web.get("/console/runs/export.csv", params={"encoding": "utf-8"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.content.startswith(b"\xef\xbb\xbf")
    lines = r.content.decode("utf-8-sig").split("\r\n")
    assert lines[0].startswith("実行ID,実行日時,アカウント,")
    assert "attachment" in r.headers["content-disposition"]
    failed = next(line for line in lines if runs["20240502.csv"] in line)
    assert "失敗" in failed and "メール" in failed
    r = web.get("/console/runs/export.csv", params={"encoding": "cp932"})
    assert r.status_code == 200 and "windows-31j" in r.headers["content-type"]
    assert not r.content.startswith(b"\xef\xbb\xbf")
    text = r.content.decode("cp932")
    assert text.startswith("実行ID,実行日時,アカウント,") and runs["beta"] in text


def test_the_table_fragment_refreshes_itself_on_page_one(daemon, runs, clients):
    web = clients["admin"]
    r = web.get("/console/runs/table", headers={"HX-Request": "true"})
    assert r.status_code == 200 and "<html" not in r.text
    assert 'id="runs-table"' in r.text and 'hx-trigger="every 2s"' in r.text
    assert f'data-run="{runs["20240501.csv"]}"' in r.text
    # That a later page of finished runs stands still is checked where there is one:
    # test_a_page_past_the_end_shows_the_last_page (offset 50 here is past the end).


# -- one run ---------------------------------------------------------------------------


def test_a_failed_runs_page_shows_its_fields_and_row_errors(daemon, runs, clients):
    run = runs["20240502.csv"]
    r = clients["view"].get(f"/console/runs/{run}")
    assert r.status_code == 200 and is_page(r)
    page = r.text
    assert run in page and "20240502.csv" in page and "export@acme.example" in page
    assert "失敗" in page and ROW_ERROR in page and "エラーの行(1 件)" in page
    assert f"/console/runs/{run}/file" in page and f"/console/runs/{run}/errors.csv" in page


REJECTED = "1 行にエラーがあるため、1行も取り込みませんでした"
REJECTED_EN = "1 row with errors: no row was imported"


def test_a_runs_message_and_row_errors_are_said_in_the_pages_language(daemon, runs):
    """Recorded in the config's language (Japanese), a run's message and row errors
    are said in English to a user who chose it: on the run's page, in an upload's
    preview, in the runs export. The error CSV and the API keep the sentences the run
    was recorded with."""
    run = runs["20240502.csv"]
    web = login(daemon.api, "op")
    try:
        web.get("/console/lang/en")
        page = html.unescape(web.get(f"/console/runs/{run}").text)
        assert ROW_ERROR_EN in page and ROW_ERROR not in page
        assert REJECTED_EN in page and REJECTED not in page
        # The notes the door added (this test's mail is not authenticated) too.
        assert "送信元を認証" not in page and "sender" in page.lower()
        r = upload(web, "20240603.csv", csv_bytes(["2,2024/06/03,x,日本"]))
        preview = html.unescape(r.text)
        assert ROW_ERROR_EN in preview and ROW_ERROR not in preview
        assert REJECTED_EN in preview and REJECTED not in preview
        export = web.get("/console/runs/export.csv").content.decode("utf-8-sig")
        assert REJECTED_EN in export and REJECTED not in export
        web.get("/console/lang/ja")
        page = web.get(f"/console/runs/{run}").text
        assert ROW_ERROR in page and REJECTED in page
        token = {"Authorization": "Bearer demo-acme-token"}
        api = httpx.get(f"{daemon.api}/api/v1/runs/{run}/errors.csv", headers=token)
        assert ROW_ERROR in api.content.decode("cp932")
        shown = httpx.get(f"{daemon.api}/api/v1/runs/{run}", headers=token).json()
        assert shown["message"].endswith(REJECTED) and "said" not in shown
    finally:
        web.close()


def test_a_headers_problems_are_said_in_the_pages_language(daemon):
    # Said in the config's language when read, they stayed Japanese on English pages.
    data = b"member_no,date,sales_amount,note,extra\r\n1,2024/07/20,1,a,b\r\n"
    _, _, reply = send(daemon.smtp_port, mail([("20240720.csv", data)]))
    run = daemon.wait_run(queued_ids(reply)[0])
    assert run["message"].endswith("1行目: 見出しに不明な列があります: extra"), run
    web = login(daemon.api, "op")
    try:
        web.get("/console/lang/en")
        page = html.unescape(web.get(f"/console/runs/{run['id']}").text)
        assert "line 1: the header has unknown columns: extra" in page
        assert "見出し" not in page
        header = "member_no,date,sales_amount,note\r\n"
        r = upload(web, "20240721.csv", f"{header.replace('note', 'amount')}1,x,1,a\r\n".encode())
        preview = html.unescape(r.text)
        assert "line 1: the header lacks columns: note" in preview
        assert "line 1: the header has unknown columns: amount" in preview
        assert "見出し" not in preview
    finally:
        web.close()


def test_a_page_of_errors_or_of_the_audit_log_past_the_end_shows_the_last(daemon, runs, clients):
    page = clients["view"].get(f"/console/runs/{runs['20240502.csv']}?errors=500").text
    assert ROW_ERROR in page and "エラーの行(1 件)" in page
    audit = clients["admin"].get("/console/audit?offset=5000")
    assert audit.status_code == 200 and '<tr class="o-' in audit.text  # its entries


def test_the_received_file_and_the_error_csv_download(daemon, runs, clients):
    web = clients["view"]
    r = web.get(f"/console/runs/{runs['20240502.csv']}/file")
    assert r.status_code == 200 and r.content == BAD
    r = web.get(f"/console/runs/{runs['20240501.csv']}/file")
    assert r.status_code == 200 and r.content == GOOD
    r = web.get(f"/console/runs/{runs['20240502.csv']}/errors.csv")
    assert r.status_code == 200 and ROW_ERROR in r.content.decode("cp932")
    assert web.get("/console/runs/nosuch").status_code == 404


def test_an_error_csv_moved_aside_is_a_404_in_the_console_and_the_api(daemon, runs, clients):
    run = runs["20240502.csv"]
    report = daemon.data_dir / "reports" / run / "20240502.errors.csv"
    aside = report.with_name("aside")
    report.rename(aside)
    try:
        page = clients["view"].get(f"/console/runs/{run}/errors.csv")
        api = httpx.get(
            f"{daemon.api}/api/v1/runs/{run}/errors.csv",
            headers={"Authorization": "Bearer demo-admin"},
        )
    finally:
        aside.rename(report)
    assert page.status_code == 404 and is_page(page)
    assert f"実行 {run} のエラーCSVは保存されていません" in page.text
    assert api.status_code == 404 and api.json()["error"] == "error_report_not_kept"
    assert f"実行 {run} のエラーCSVは保存されていません" in api.json()["message"]


def test_the_report_mail_is_shown_once_sent(daemon, runs, clients, module_relay):
    module_relay.for_recipient("sales@acme.example", "20240501.csv")
    deadline = time.monotonic() + 15
    while True:
        page = clients["view"].get(f"/console/runs/{runs['20240501.csv']}").text
        if "中継サーバーが受け取りました" in page or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    section = page.split("レポートメール")[-1]
    assert "sales@acme.example" in section and "中継サーバーが受け取りました" in section
    failed = clients["view"].get(f"/console/runs/{runs['20240502.csv']}").text
    module_relay.for_recipient("ops@acme.example", "20240502.csv")
    assert "送信の試行回数" in failed


def test_an_operator_retries_a_run(daemon, runs, clients):
    web = clients["op"]
    old = runs["20240502.csv"]
    page = web.get(f"/console/runs/{old}").text
    assert f'action="/console/runs/{old}/retry"' in page
    assert f'action="/console/runs/{old}/undo"' not in page  # nothing to undo
    r = web.post(f"/console/runs/{old}/retry", data={"csrf": csrf(web)})
    assert r.status_code == 303
    new = re.fullmatch(r"/console/runs/([^?]+)\?notice=retried", r.headers["location"]).group(1)
    retried = daemon.wait_run(new)
    assert retried["retry_of"] == old and retried["state"] == "failed"
    assert retried["filename"] == "20240502.csv"
    page = web.get(r.headers["location"]).text
    assert "再取込を受け付けました" in page
    assert f'href="/console/runs/{old}"' in page  # 再取込元
    assert f'href="/console/runs/{new}"' in web.get(f"/console/runs/{old}").text
    assert ("op", "retry", old, "ok", f"new run {new}") in audit(daemon)


def test_an_operator_undoes_a_run_once(daemon, runs, clients):
    web = clients["op"]
    done = runs["20240503.csv"]
    assert rows_of(daemon, "20240503.csv") == [(3,)]
    page = web.get(f"/console/runs/{done}").text
    assert f'action="/console/runs/{done}/undo"' in page
    token = csrf(web)
    r = web.post(f"/console/runs/{done}/undo", data={"csrf": token})
    assert r.status_code == 303
    undo = re.fullmatch(r"/console/runs/([^?]+)\?notice=undone", r.headers["location"]).group(1)
    assert daemon.wait_run(undo)["undo_of"] == done
    assert daemon.run(done)["undone_by"] == undo
    assert rows_of(daemon, "20240503.csv") == []
    page = web.get(r.headers["location"]).text
    assert "取込を取り消しました" in page
    # The undo run's message is said in the page's language, as every run's is.
    undid = f"実行 {done} を取り消しました: 削除 1 行、復元 0 行"
    assert undid in page
    english = login(daemon.api, "op")
    try:
        english.get("/console/lang/en")
        page = html.unescape(english.get(f"/console/runs/{undo}").text)
        assert f"undid run {done}: 1 row removed, 0 rows restored" in page and undid not in page
    finally:
        english.close()
    r = web.post(f"/console/runs/{done}/undo", data={"csrf": token})
    assert r.status_code == 409 and is_page(r) and "今は実行できません" in r.text
    assert daemon.query("SELECT count(*) FROM runs WHERE undo_of = ?", (done,)) == [(1,)]
    assert f'action="/console/runs/{done}/undo"' not in web.get(f"/console/runs/{done}").text
    outcomes = [e[3] for e in audit(daemon) if e[1] == "undo" and e[2] == done]
    assert outcomes == ["ok", "refused"]


def test_a_run_a_later_one_superseded_offers_no_undo_and_names_the_latest(daemon, clients):
    web = clients["op"]
    ids = []
    for line in ["9,2024/05/09,1,first", "9,2024/05/09,2,second", "9,2024/05/09,3,third"]:
        _, _, reply = send(daemon.smtp_port, mail([("20240509.csv", csv_bytes([line]))]))
        ids.append(daemon.wait_run(queued_ids(reply)[0])["id"])
    first, _, latest = ids
    page = web.get(f"/console/runs/{first}").text
    # No button that could only be refused; the page says why and which run can be.
    assert f'action="/console/runs/{first}/undo"' not in page
    assert (
        "最新ではないため取り消せません" in page
        and f"取り消せるのはその最新の実行 {latest}" in page
    )
    assert f'href="/console/runs/{latest}"' in page
    assert f'action="/console/runs/{latest}/undo"' in web.get(f"/console/runs/{latest}").text
    # A form posted anyway (a page left open) gets the refusal with its way back.
    r = web.post(f"/console/runs/{first}/undo", data={"csrf": csrf(web)})
    assert r.status_code == 409 and is_page(r)
    assert f'href="/console/runs/{first}"' in r.text and f"実行 {first} に戻る" in r.text
    assert f'href="/console/runs/{latest}"' in r.text and f"実行 {latest} を開く" in r.text
    assert daemon.run(first)["undone_by"] is None


def test_actions_without_the_csrf_token_are_refused_and_audited(daemon, runs, clients):
    web = clients["op"]
    run = runs["20240501.csv"]
    r = web.post(f"/console/runs/{run}/retry")
    assert r.status_code == 403 and is_page(r) and "フォームの確認用トークン" in r.text
    r = web.post(f"/console/runs/{run}/undo", data={"csrf": csrf(clients["view"])})
    assert r.status_code == 403  # another session's token
    r = web.post(f"/console/runs/{run}/undo", headers={"X-CSRF-Token": "forged"})
    assert r.status_code == 403
    assert daemon.run(run)["undone_by"] is None
    assert daemon.query("SELECT count(*) FROM runs WHERE retry_of = ?", (run,)) == [(0,)]
    refused = [e for e in audit(daemon) if e[1] == "csrf_refused" and e[0] == "op"]
    assert [e[2] for e in refused][-3:] == [
        f"/console/runs/{run}/retry",
        f"/console/runs/{run}/undo",
        f"/console/runs/{run}/undo",
    ]
    # The header htmx sends does as well as the form field.
    r = web.post("/console/accounts/acme/poll", headers={"X-CSRF-Token": csrf(web)})
    assert r.status_code == 409


# -- upload ----------------------------------------------------------------------------


def upload(web: httpx.Client, name: str, data: bytes | None, account: str = "acme"):
    files = {"file": (name, data, "text/csv")} if data is not None else None
    extra = {} if files else {"file": ""}
    return web.post(
        f"/console/accounts/{account}/upload", data={"csrf": csrf(web), **extra}, files=files
    )


def test_an_upload_is_checked_first_then_imported_once(daemon, clients):
    web = clients["op"]
    data = csv_bytes(["601,2024/06/01,10,a", "602,2024/06/01,20,b"])
    r = upload(web, "20240601.csv", data)
    assert r.status_code == 200 and is_page(r)
    assert "20240601.csv の確認結果(まだ取り込んでいません)" in r.text
    assert "全 2 行のうち 取込可 2 行 / エラー 0 行" in r.text
    assert 'action="/console/accounts/acme/upload/confirm"' in r.text
    preview = re.search(r'name="preview" value="([^"]+)"', r.text).group(1)
    dry = daemon.run(preview)
    assert dry["dry_run"] == 1 and dry["state"] == "completed" and dry["channel"] == "api"
    assert rows_of(daemon, "20240601.csv") == []
    token = csrf(web)
    r = web.post("/console/accounts/acme/upload/confirm", data={"csrf": token, "preview": preview})
    assert r.status_code == 303
    run_id = re.fullmatch(r"/console/runs/([^?]+)\?notice=uploaded", r.headers["location"]).group(1)
    run = daemon.wait_run(run_id)
    assert run["state"] == "completed" and run["channel"] == "api" and run["sender"] == "op"
    assert run["dry_run"] == 0 and run["rows_imported"] == 2
    assert rows_of(daemon, "20240601.csv") == [(601,), (602,)]
    again = web.post(
        "/console/accounts/acme/upload/confirm", data={"csrf": token, "preview": preview}
    )
    assert again.status_code == 303 and again.headers["location"] == r.headers["location"]
    real = "SELECT count(*) FROM runs WHERE filename = '20240601.csv' AND dry_run = 0"
    assert daemon.query(real) == [(1,)]
    assert rows_of(daemon, "20240601.csv") == [(601,), (602,)]
    actions = [(e[0], e[1], e[3]) for e in audit(daemon) if e[2] == "acme"]
    assert ("op", "upload_preview", "ok") in actions and ("op", "upload", "ok") in actions


def test_a_bad_upload_shows_its_first_error_and_no_confirm(daemon, clients):
    web = clients["op"]
    r = upload(web, "20240602.csv", csv_bytes(["2,2024/06/02,x,日本"]))
    assert r.status_code == 200
    assert ROW_ERROR in r.text and "このままでは取り込めません" in r.text
    assert "upload/confirm" not in r.text
    preview = daemon.query(
        "SELECT id, state FROM runs WHERE filename = '20240602.csv' AND dry_run = 1"
    )
    assert [state for _, state in preview] == ["failed"]
    # Its id confirmed by hand is refused too.
    r = web.post(
        "/console/accounts/acme/upload/confirm",
        data={"csrf": csrf(web), "preview": preview[0][0]},
    )
    assert r.status_code == 409 and "確認でエラーになったファイルは取り込めません" in r.text
    assert daemon.query("SELECT count(*) FROM runs WHERE filename = '20240602.csv'") == [(1,)]


def test_an_upload_with_a_wrong_name_or_no_file_gets_422(daemon, clients):
    web = clients["op"]
    r = upload(web, "data.csv", GOOD)
    assert r.status_code == 422 and is_page(r)
    assert "YYYYMMDD" in r.text and "data.csv" in r.text
    r = upload(web, "", None)
    assert r.status_code == 422 and "ファイルを選んでください" in r.text
    # A workbook to an account without `excel`: said as its run would say it, where
    # the name rule named only .csv.
    r = upload(web, "20240516.xlsx", b"PK\x03\x04")
    [said] = re.findall(r'role="alert">([^<]*)', r.text)
    assert r.status_code == 422 and "excel = true" in said and "YYYYMMDD" not in said
    assert daemon.query("SELECT count(*) FROM runs WHERE filename = 'data.csv'") == [(0,)]
    # A preview id that is not a dry run of this account is no preview.
    r = web.post("/console/accounts/acme/upload/confirm", data={"csrf": csrf(web), "preview": "x"})
    assert r.status_code == 404


# -- language and headers --------------------------------------------------------------


def test_english_on_request(daemon):
    web = login(daemon.api, "admin")
    r = web.get("/console/lang/en", params={"next": "/console/runs"})
    assert r.status_code == 303 and r.headers["location"] == "/console/runs"
    cookie = r.headers["set-cookie"].lower()
    assert "renkei_lang=en" in cookie and "path=/console" in cookie
    page = web.get("/console/runs").text
    assert 'lang="en"' in page and "<h1>Runs</h1>" in page and "状況確認" not in page
    assert "Save this list as CSV" in page
    web.get("/console/lang/xx")  # unknown: ignored
    assert "<h1>Runs</h1>" in web.get("/console/runs").text
    web.get("/console/lang/ja")
    assert "<h1>状況確認</h1>" in web.get("/console/runs").text
    web.close()


def test_pages_carry_the_security_headers(daemon, runs, clients):
    with anonymous(daemon) as web:
        answers = [web.get("/console/login")]
    answers += [
        clients["admin"].get("/console/"),
        clients["admin"].get(f"/console/runs/{runs['20240501.csv']}"),
        clients["view"].get("/console/audit"),  # an error page too
    ]
    for r in answers:
        csp = r.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert r.headers["cache-control"] == "no-store"
        assert r.headers["x-content-type-options"] == "nosniff"


def test_the_audit_page_lists_entries_for_an_admin(daemon, clients):
    page = clients["admin"].get("/console/audit")
    assert page.status_code == 200 and "監査ログ" in page.text
    assert "ログイン" in page.text and "127.0.0.1" in page.text
    assert "&lt;img src=x&gt;" in page.text and "<img src=x>" not in page.text


# -- account switch (own daemon: it stops acme and restarts) ---------------------------


def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return renkei(*args, stdin=stdin, timeout=60)


@pytest.fixture(scope="module")
def cli_hash():
    done = cli("passwd", "--stdin", stdin="typed-at-the-cli\n")
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture(scope="module")
def switched(tmp_path_factory, cli_hash):
    folder = tmp_path_factory.mktemp("switch")
    users = users_toml() + (
        f'[users.cliuser]\npassword_hash = "{cli_hash}"\nrole = "viewer"\naccounts = ["beta"]\n'
    )
    d = Daemon(write_config(folder, ACCOUNTS, extra=users)).start()
    yield d
    if d.proc.poll() is None:
        d.terminate()


def status_of(web: httpx.Client, name: str = "acme") -> str:
    page = web.get(f"/console/accounts/{name}").text
    return page.split("<th>状態</th><td>")[1].split("</td>")[0]


def reloaded(d: Daemon, change) -> None:
    d.notify.drain()
    d.notify.received.clear()
    change()
    d.notify.wait_for("RELOADING=1")
    d.notify.wait_for("READY=1")


def test_an_admin_stops_an_account_for_good(switched):
    d = switched
    admin = login(d.api, "admin")
    assert "稼働" in status_of(admin) and "コンソールで" not in status_of(admin)
    r = admin.post("/console/accounts/acme/status", data={"csrf": csrf(admin), "status": "stopped"})
    assert r.status_code == 303 and r.headers["location"] == "/console/accounts/acme?notice=stopped"
    status = status_of(admin)
    assert "停止" in status
    assert "コンソールで admin が切り替えました" in status and "設定ファイルでは「稼働」" in status
    # What becomes of its files, by door: mail and API record them, FTP and the drop
    # folder keep them (the notice once said every file was recorded).
    notice = html.unescape(admin.get(r.headers["location"]).text)
    assert "メールと API で届くファイルは取り込まずに記録し" in notice
    assert "FTP と取込フォルダのファイルは稼働に戻すまでそのまま置いておきます" in notice
    assert "停止" in admin.get("/console/accounts").text
    switches = json.loads((d.data_dir / "switches.json").read_text())
    assert switches["acme"]["status"] == "stopped" and switches["acme"]["by"] == "admin"
    # A file mailed to a stopped account is not imported.
    _, code, reply = send(d.smtp_port, mail([("20240701.csv", GOOD)]))
    assert code == 250
    assert d.wait_run(queued_ids(reply)[0])["state"] == "ignored"
    assert rows_of(d, "20240701.csv") == []
    # Nor is one uploaded in the console.
    op = login(d.api, "op")
    r = upload(op, "20240702.csv", GOOD)
    assert r.status_code == 409 and "このアカウントは停止中です" in r.text
    # The other account runs on.
    _, _, reply = send_as(d.smtp_port, "beta", [("20240703.csv", GOOD)])
    assert d.wait_run(queued_ids(reply)[0])["state"] == "completed"

    # A restart keeps the switch (and the session: it is in the database).
    d.terminate()
    d.start()
    assert "停止" in status_of(admin)
    _, _, reply = send(d.smtp_port, mail([("20240704.csv", GOOD)]))
    assert d.wait_run(queued_ids(reply)[0])["state"] == "ignored"

    # So does a reload, by SIGHUP or by an edit of the config.
    reloaded(d, lambda: d.proc.send_signal(1))
    assert "停止" in status_of(admin)
    reloaded(d, lambda: d.config.write_text(d.config.read_text() + "\n# edited\n"))
    status = status_of(admin)
    assert "停止" in status and "設定ファイルでは「稼働」" in status

    # Started again: the switch is forgotten, the config rules.
    r = admin.post("/console/accounts/acme/status", data={"csrf": csrf(admin), "status": "active"})
    assert r.status_code == 303 and r.headers["location"].endswith("notice=started")
    status = status_of(admin)
    assert "稼働" in status and "コンソールで" not in status
    assert "acme" not in json.loads((d.data_dir / "switches.json").read_text())
    _, _, reply = send(d.smtp_port, mail([("20240705.csv", GOOD)]))
    assert d.wait_run(queued_ids(reply)[0])["state"] == "completed"
    r = admin.post("/console/accounts/acme/status", data={"csrf": csrf(admin), "status": "paused"})
    assert r.status_code == 422
    entries = [(e[0], e[1], e[2], e[4]) for e in audit(d) if e[1] == "status"]
    assert entries == [
        ("admin", "status", "acme", "stopped"),
        ("admin", "status", "acme", "active"),
    ]
    admin.close()
    op.close()


def test_a_reload_refused_while_applied_keeps_the_consoles_stop(tmp_path):
    """The new config agreed with the switch (acme stopped there too), so the switch
    was forgotten as it was applied; then a drop folder it could not make refused the
    reload, the old config went on serving, and acme's files were imported again."""
    d = Daemon(write_config(tmp_path, ACCOUNTS, extra=users_toml())).start()
    try:
        admin = login(d.api, "admin")
        stop = {"csrf": csrf(admin), "status": "stopped"}
        assert admin.post("/console/accounts/acme/status", data=stop).status_code == 303
        text = d.config.read_text()
        broken = text.replace("[accounts.acme]\n", '[accounts.acme]\nstatus = "stopped"\n', 1)
        broken += '[accounts.beta.dropdir]\npath = "/proc/renkei-no-such/drop"\n'
        reloaded(d, lambda: d.config.write_text(broken))
        assert "reload refused" in d.log.read_text()
        switches = json.loads((d.data_dir / "switches.json").read_text())
        assert switches["acme"]["status"] == "stopped", switches
        _, code, reply = send(d.smtp_port, mail([("20240720.csv", GOOD)]))
        assert code == 250
        assert d.wait_run(queued_ids(reply)[0])["state"] == "ignored"
        admin.close()
    finally:
        d.terminate()


def test_a_preview_confirmed_after_the_account_stopped_imports_nothing(switched):
    d = switched
    op, admin = login(d.api, "op"), login(d.api, "admin")
    try:
        r = upload(op, "20240710.csv", csv_bytes(["710,2024/07/10,1,a"]))
        preview = re.search(r'name="preview" value="([^"]+)"', r.text).group(1)
        stop = {"csrf": csrf(admin), "status": "stopped"}
        assert admin.post("/console/accounts/acme/status", data=stop).status_code == 303
        r = op.post(
            "/console/accounts/acme/upload/confirm", data={"csrf": csrf(op), "preview": preview}
        )
        if r.status_code == 303:
            run_id = r.headers["location"].split("/console/runs/")[1].split("?")[0]
            assert d.wait_run(run_id)["state"] == "ignored"
        else:
            assert r.status_code == 409 and "このアカウントは停止中です" in r.text
        assert rows_of(d, "20240710.csv") == []
    finally:
        start = {"csrf": csrf(admin), "status": "active"}
        assert admin.post("/console/accounts/acme/status", data=start).status_code == 303
        op.close()
        admin.close()


def test_the_account_page_tells_the_configs_status_truly(switched):
    d = switched
    admin = login(d.api, "admin")
    original = d.config.read_text()
    try:
        stop = {"csrf": csrf(admin), "status": "stopped"}
        assert admin.post("/console/accounts/acme/status", data=stop).status_code == 303
        # The config is then edited to say so too.
        edited = original.replace("[accounts.acme]\n", '[accounts.acme]\nstatus = "stopped"\n')
        assert edited != original
        reloaded(d, lambda: d.config.write_text(edited))
        status = status_of(admin)
        assert "停止" in status
        assert "設定ファイルでは「稼働」" not in status
    finally:
        reloaded(d, lambda: d.config.write_text(original))
        start = {"csrf": csrf(admin), "status": "active"}
        admin.post("/console/accounts/acme/status", data=start)
        admin.close()


def test_a_user_removed_or_changed_in_the_config_is_so_at_once(switched):
    d = switched
    betaop, view = login(d.api, "betaop"), login(d.api, "view")
    original = d.config.read_text()
    try:
        assert betaop.get("/console/accounts/beta").status_code == 200
        assert view.get("/console/accounts/beta").status_code == 404
        edited = original.replace("[users.betaop]", "[users.betaop_gone]").replace(
            'role = "viewer"\naccounts = ["acme"]', 'role = "viewer"\naccounts = ["acme", "beta"]'
        )
        reloaded(d, lambda: d.config.write_text(edited))
        r = betaop.get("/console/accounts/beta")
        assert r.status_code == 303 and r.headers["location"].startswith("/console/login")
        assert view.get("/console/accounts/beta").status_code == 200
        # Put back (a rollback of the config): the session it ended stays ended.
        reloaded(d, lambda: d.config.write_text(original))
        r = betaop.get("/console/accounts/beta")
        assert r.status_code == 303 and r.headers["location"].startswith("/console/login")
    finally:
        reloaded(d, lambda: d.config.write_text(original))
        betaop.close()
        view.close()


def test_a_password_changed_in_the_config_ends_the_sessions_opened_with_the_old(switched):
    d = switched
    view, admin = login(d.api, "view"), login(d.api, "admin")
    original = d.config.read_text()
    new_hash = hash_password("a-new-pass-for-view")
    section = original.split("[users.view]\n")[1]
    old_hash = section.split('password_hash = "')[1].split('"')[0]
    edited = original.replace(
        f'[users.view]\npassword_hash = "{old_hash}"', f'[users.view]\npassword_hash = "{new_hash}"'
    )
    assert edited != original
    try:
        assert view.get("/console/accounts/acme").status_code == 200
        reloaded(d, lambda: d.config.write_text(edited))
        r = view.get("/console/accounts/acme")
        assert r.status_code == 303 and r.headers["location"].startswith("/console/login")
        assert admin.get("/console/accounts/acme").status_code == 200  # unchanged: still in
        again = login(d.api, "view", "a-new-pass-for-view")
        assert again.get("/console/accounts/acme").status_code == 200
        again.close()
    finally:
        reloaded(d, lambda: d.config.write_text(original))
        view.close()
        admin.close()


# -- renkei passwd and renkei check ----------------------------------------------------


def test_renkei_passwd_makes_a_hash_that_logs_in(switched, cli_hash):
    assert cli_hash.startswith("scrypt$") and "typed-at-the-cli" not in cli_hash
    web = login(switched.api, "cliuser", "typed-at-the-cli")
    assert web.get("/console/accounts/beta").status_code == 200
    web.close()
    with anonymous(switched) as web:
        r = web.post(
            "/console/login",
            data={"user": "cliuser", "password": "typed-at-the-cl", "token": login_token(web)},
        )
        assert r.status_code == 401
    table = cli("passwd", "--stdin", "someone", stdin="typed-at-the-cli\n")
    assert table.returncode == 0
    assert table.stdout.startswith('[users.someone]\npassword_hash = "scrypt$')


@pytest.mark.parametrize("name", ["bad name", "さとう", 'x"y]', "back\\slash", "tab\there"])
def test_renkei_passwd_quotes_a_name_that_is_no_bare_key(tmp_path, name):
    """The config takes any user name; the table printed for one reads back as it."""
    table = cli("passwd", "--stdin", name, stdin="typed-at-the-cli\n")
    assert table.returncode == 0, table.stderr
    config = write_config(tmp_path, ACCOUNTS, extra=table.stdout)
    assert cli("check", "--config", str(config)).returncode == 0
    assert list(tomllib.loads(config.read_text(encoding="utf-8"))["users"]) == [name]


def test_renkei_passwd_refuses_a_name_that_is_not_utf8():
    # The byte 0xff as the argument (a surrogate escape is how Python passes it on).
    done = renkei(
        "passwd", "--stdin", "sat\udcff", stdin="typed-at-the-cli\n", env={"PYTHONUTF8": "1"}
    )
    assert done.returncode == 2 and done.stdout == ""
    assert "'sat\\udcff': ユーザー名が UTF-8 ではありません" in done.stderr


def test_renkei_passwd_without_a_terminal_says_to_use_stdin():
    done = cli("passwd", stdin="typed-at-the-cli\ntyped-at-the-cli\n")
    assert done.returncode == 2 and "--stdin を付けてください" in done.stderr, done.stderr
    assert "Warning" not in done.stderr and done.stdout == ""


def test_renkei_passwd_refuses_a_short_password():
    done = cli("passwd", "--stdin", stdin="short\n")
    assert done.returncode == 1 and done.stdout == ""
    assert "8" in done.stderr


def test_renkei_check_refuses_unknown_accounts_and_plain_passwords(tmp_path):
    users = (
        '[users.typo]\npassword_hash = "{h}"\nrole = "operator"\naccounts = ["acmee"]\n'
        '[users.plain]\npassword_hash = "secret-password"\nrole = "viewer"\naccounts = ["acme"]\n'
    ).format(h=users_toml().split('password_hash = "')[1].split('"')[0])
    config = write_config(tmp_path, ACCOUNTS, extra=users)
    done = cli("check", "--config", str(config))
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "users.typo.accounts.0" in out and "'acmee'" in out and "acme の誤り" in out
    assert "users.plain.password_hash" in out and "パスワードのハッシュではありません" in out


def test_every_run_field_has_a_label_in_both_languages():
    from daemon.store.runs import RUN_FIELDS
    from importers.messages import CATALOG

    missing = [f for f in RUN_FIELDS if f"console.field.{f}" not in CATALOG]
    assert not missing, f"the run page shows every field; label these: {missing}"


# -- the language of every page, and a page past the end --------------------------------


def test_the_export_speaks_the_language_the_user_chose(daemon, runs):
    """report.language is ja; a user who clicked English gets an English CSV too."""
    web = login(daemon.api, "admin")
    try:
        web.get("/console/lang/en")
        r = web.get("/console/runs/export.csv", params={"encoding": "utf-8"})
        lines = r.content.decode("utf-8-sig").split("\r\n")
        assert lines[0].startswith("Run,Received,Account,")
        failed = next(line for line in lines if runs["20240502.csv"] in line)
        assert ",mail,20240502.csv,failed," in failed
        assert r.headers["content-disposition"] == "attachment; filename*=utf-8''runs.csv"
        web.get("/console/lang/ja")
        r = web.get("/console/runs/export.csv", params={"encoding": "utf-8"})
        assert r.content.decode("utf-8-sig").startswith("実行ID,実行日時,アカウント,")
        assert r.headers["content-disposition"].endswith(
            "''%E9%80%A3%E6%90%BA%E7%8A%B6%E6%B3%81.csv"
        )
    finally:
        web.close()


WEEKLY = (
    account("weekly", report="errors")
    + '[accounts.weekly.ftp]\nuser = "weekly"\n'
    + 'weekdays = ["mon", "wed", "fri"]\nwindow = "10:00-11:00"\ninterval = "30m"\n'
    + '[accounts.weekly.expect]\nweekdays = ["mon", "wed", "fri"]\nby = "10:00"\n'
)
MANY = 77  # runs of weekly: one page of 50 and one of 27


@pytest.fixture(scope="module")
def weekly(tmp_path_factory, module_relay):
    """A daemon of its own: an account checked and expected on weekdays, with 77 runs."""
    folder = tmp_path_factory.mktemp("weekly")
    admin = {"admin": USERS["admin"]}
    config = write_config(folder, WEEKLY, extra=users_toml(admin), relay_port=module_relay.port)
    d = Daemon(config).start()
    days = [f"2023{month:02}{day:02}.csv" for month in (1, 2, 3) for day in range(1, 27)]
    for first in range(0, MANY, 11):
        files = [(name, GOOD) for name in days[first : min(first + 11, MANY)]]
        _, _, reply = send_as(d.smtp_port, "weekly", files)
        for run_id in queued_ids(reply):
            d.wait_run(run_id)
    yield d
    if d.proc.poll() is None:
        d.terminate()


def test_weekdays_are_listed_with_the_languages_separator(weekly):
    web = login(weekly.api, "admin")
    try:
        web.get("/console/lang/en")
        page = web.get("/console/accounts/weekly").text
        assert page.count("Mon, Wed, Fri") == 2 and "・" not in page  # FTP, expected files
        web.get("/console/lang/ja")
        assert web.get("/console/accounts/weekly").text.count("月、水、金") == 2
    finally:
        web.close()


def test_a_page_past_the_end_shows_the_last_page(weekly):
    web = login(weekly.api, "admin")
    try:
        for path in ["/console/runs", "/console/runs/table"]:
            for offset in ["80", "50"]:
                text = web.get(path, params={"offset": offset}).text
                assert text.count("data-run=") == MANY - 50, (path, offset)
                assert "77 件中 51〜77 件" in text and 'href="?offset=0" rel="prev"' in text
                assert 'rel="next"' not in text
                assert "hx-trigger" not in text  # a later page of finished runs stands still
        # A filter that leaves fewer runs than the offset: its one page, no pager.
        text = web.get("/console/runs", params={"offset": "80", "filename": "202301"}).text
        assert text.count("data-run=") == 26 and 'class="pager"' not in text
    finally:
        web.close()


def test_refused_logins_fill_the_audit_log_only_so_far(daemon):
    """Every login refused for its form token (no session needed to send one) was a row
    of the audit log, which nothing trims: three hundred rows a second from one client."""
    before = len(audit(daemon))
    transport = httpx.HTTPTransport(local_address="127.0.0.5")
    with anonymous(daemon, transport=transport) as web:
        for n in range(60):
            r = web.post("/console/login", data={"user": f"x{n}", "password": "p", "token": "t"})
            assert r.status_code == 403
    assert len(audit(daemon)) - before == 20


def _cards(page: str) -> dict[str, str]:
    """The overview's cards: each title with its number."""
    return dict(
        (title, n) for n, title in re.findall(r'<span class="n">(\d+)</span>([^<]+)<', page)
    )


def test_the_overview_counts_only_the_accounts_a_user_may_see(daemon, clients):
    """A viewer of acme saw the whole daemon's quarantined files and outbox (beta's
    report mails among them), counts of work none of their lists holds."""
    failed = daemon.config.parent / "var" / "spool" / "failed" / "20240101T000000000000-bbbbbb"
    failed.mkdir(parents=True)
    meta = Meta("beta", "mail", "export@beta.example", "20240101.csv")
    (failed / "meta.json").write_bytes(meta.to_json())
    try:
        admin = _cards(clients["admin"].get("/console/").text)
        assert admin["隔離"] == "1" and "送信待ちメール" in admin
        for user, quarantined in (("view", "0"), ("betaop", "1")):
            cards = _cards(clients[user].get("/console/").text)
            assert cards["隔離"] == quarantined, (user, cards)
            assert "送信待ちメール" not in cards and "送れなかったメール" not in cards
    finally:
        shutil.rmtree(failed)
