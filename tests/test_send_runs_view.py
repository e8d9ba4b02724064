"""Send runs shown as sends wherever a person looks at runs: the console's overview and
run page, the runs list, `renkei show` (text and JSON) and `renkei runs`; and a console
form whose body cannot be read, refused and audited like every other refusal.

Real daemons, a real HTTP receiver for the sends (tests/capture.py), the real command
line and, for the overview's live refresh, Chromium."""

from __future__ import annotations

import json
import re
import socket
import time

import httpx
import pytest

from tests.console_support import csrf, login, users_toml
from tests.support import Daemon, account, csv_bytes, renkei, write_config

ADMIN = {"Authorization": "Bearer demo-admin"}
ROWS = ["1,2024/05/16,100,a", "2,2024/05/16,200,b"]
USERS = {"admin": ("admin", []), "op": ("operator", ["acme"]), "betaop": ("operator", ["beta"])}
ACCOUNTS = "".join(
    account(name) + f'[accounts.{name}.api]\ntoken = "demo-{name}-token"\n'
    for name in ("acme", "beta")
)
WAIT = 15_000  # ms: longer than the overview's 5 s refresh and a send
FAST = "retry_seconds = 0.2\nmax_retry_seconds = 1\n"


def sends(url) -> str:
    """`partner` goes through; `broken` meets a receiver that answers 503 twice."""
    return "".join(
        f"""
[sends.{name}]
layout = "performance"
account = "{who}"
url = "{url("/" + name)}"
report = "never"
max_attempts = 2
{FAST}"""
        for name, who in (("partner", "acme"), ("broken", "acme"), ("betasend", "beta"))
    ) + (
        # A receiver not listening: the answer is renkei's own, said in words.
        f'[sends.nowhere]\nlayout = "performance"\naccount = "acme"\nreport = "never"\n'
        f'url = "http://127.0.0.1:{_free_port()}/x"\nmax_attempts = 1\n'
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def daemon(tmp_path_factory, capture, module_relay):
    folder = tmp_path_factory.mktemp("send-runs")
    extra = users_toml(USERS) + sends(capture.url)
    config = write_config(folder, ACCOUNTS, extra=extra, relay_port=module_relay.port)
    # The same daemon's data in English: `renkei show` speaks report.language.
    text = config.read_text(encoding="utf-8")
    english = folder / "renkei-en.toml"
    english.write_text(text.replace("[report]\n", '[report]\nlanguage = "en"\n', 1), "utf-8")
    d = Daemon(config).start()
    d.english = english
    yield d
    d.terminate()


@pytest.fixture(scope="module")
def runs(daemon, capture):
    """An import of acme's and of beta's rows, then one finished run of each send."""
    for who in ("acme", "beta"):
        reply = httpx.post(
            f"{daemon.api}/api/v1/imports?wait=true",
            files={"file": ("20240516.csv", csv_bytes(ROWS))},
            headers={"Authorization": f"Bearer demo-{who}-token"},
            timeout=60,
        )
        assert reply.json()["state"] == "completed", reply.text
    capture.answer("/broken", (503, {}, b"receiver down"), (503, {}, b"still down"))
    ids = {}
    for name in ("partner", "broken", "betasend", "nowhere"):
        reply = httpx.post(f"{daemon.api}/api/v1/sends/{name}", headers=ADMIN, timeout=30)
        assert reply.status_code == 202, reply.text
        ids[name] = reply.json()["id"]
        daemon.wait_run(ids[name])
    assert daemon.run(ids["partner"])["state"] == "completed"
    assert daemon.run(ids["broken"])["state"] == "failed"
    return ids


@pytest.fixture(scope="module")
def admin(daemon):
    client = login(daemon.api, "admin")
    yield client
    client.close()


def text_of(html: str) -> str:
    """A page's words, tags and runs of space gone, so that a test reads what a person does."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", html).replace("&amp;", "&").split())


def status_of(d: Daemon, name: str) -> str:
    return httpx.get(f"{d.api}/api/v1/accounts/{name}", headers=ADMIN).json()["status"]


def audit(d: Daemon) -> list[tuple]:
    return d.query("SELECT user, action, target, outcome, detail FROM audit_log ORDER BY seq")


# -- the overview ------------------------------------------------------------------------


def test_overview_lists_the_latest_sends_with_state_counts_and_link(daemon, runs, admin):
    page = admin.get("/console/")
    assert page.status_code == 200
    words = text_of(page.text)
    assert "最近の送信" in words
    assert "partner acme 完了 送信 2 件 / 全 2 件" in words
    assert "broken acme 失敗 送信 0 件 / 全 2 件" in words
    for run_id in runs.values():
        assert f'href="/console/runs/{run_id}"' in page.text
    assert 'href="/console/runs?channel=send"' in page.text
    # A failed send is no failed import: "nothing imported" is not said of it.
    assert "取り込みなし" not in words


def test_overview_shows_each_user_only_the_sends_of_its_accounts(daemon, runs):
    beta = login(daemon.api, "betaop")
    try:
        page = beta.get("/console/").text
    finally:
        beta.close()
    assert runs["betasend"] in page
    assert runs["partner"] not in page and runs["broken"] not in page


def test_overview_in_english(daemon, runs, admin):
    admin.cookies.set("renkei_lang", "en", path="/console")
    try:
        words = text_of(admin.get("/console/").text)
    finally:
        admin.cookies.delete("renkei_lang", path="/console")
    assert "Latest sends" in words and "broken acme failed 0 of 2 rows sent" in words


# -- the run page and the runs list ------------------------------------------------------


def test_a_send_runs_page_says_what_was_sent_where(daemon, runs, admin):
    page = admin.get(f"/console/runs/{runs['broken']}")
    assert page.status_code == 200
    words = text_of(page.text)
    assert "詳細: 送信 broken / " in words
    assert "この送信は失敗しました" in words
    assert "送信設定 broken" in words and "実行者 管理者(API・コマンド)" in words
    assert "送信済み 0" in words and "未送信 2" in words
    assert "still down" in words  # the receiver's last answer, with the request
    # Nothing of an import: no received file, no error CSV, no import mode, no row errors.
    for said in (
        "ファイルの行は 1 行も",
        "受信ファイル",
        "エラーCSV",
        "取込方法",
        "エラーの行",
        "取り込みなし",
    ):
        assert said not in words, said
    assert f"/console/runs/{runs['broken']}/errors.csv" not in page.text
    # Asked for all the same: a send has none, as README says, where the header came.
    asked = admin.get(f"/console/runs/{runs['broken']}/errors.csv")
    assert asked.status_code == 404 and "送信で、エラーCSVはありません" in asked.text


def test_a_send_runs_message_is_said_in_the_pages_language(daemon, runs, admin):
    """Recorded in Japanese (report.language), a send's message is said in English to
    a user who chose it, as an import's is; the API keeps the recorded sentence."""
    run = runs["broken"]
    admin.cookies.set("renkei_lang", "en", path="/console")
    try:
        words = text_of(admin.get(f"/console/runs/{run}").text)
    finally:
        admin.cookies.delete("renkei_lang", path="/console")
    assert "Request 1 of 1 failed (503); 0 of 2 rows sent." in words, words
    assert "リクエストが失敗しました" not in words
    recorded = httpx.get(f"{daemon.api}/api/v1/runs/{run}", headers=ADMIN).json()["message"]
    assert "リクエストが失敗しました" in recorded


def test_a_send_in_the_runs_list_is_not_called_an_import(daemon, runs, admin):
    page = admin.get("/console/runs", params={"channel": "send"}).text
    words = text_of(page)
    assert runs["broken"] in page and "未送信 2 行" in words
    assert "取り込みなし" not in words and "/errors.csv" not in page


def test_the_runs_export_says_who_started_a_send_in_words(daemon, runs, admin):
    """As the page says it: the export wrote the code (admin, forward, schedule), and
    `admin` read like a console user of that name."""
    export = admin.get("/console/runs/export.csv", params={"channel": "send"})
    lines = export.content.decode("utf-8-sig").splitlines()
    sent = [line for line in lines[1:] if runs["broken"] in line]
    assert sent and "管理者(API・コマンド)" in sent[0], lines


# -- renkei show, renkei runs ------------------------------------------------------------


def test_show_of_a_send_says_what_was_sent(daemon, runs):
    result = renkei("show", runs["broken"][-6:], "--config", str(daemon.config))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "送信設定: broken" in lines
    assert "実行者: 管理者(API・コマンド)" in lines
    assert "件数: 送信 0 件 / 全 2 件" in lines
    assert any(
        line.startswith("メッセージ: 1 件中 1 件目のリクエストが失敗しました(503)")
        for line in lines
    )
    # Its request, tried twice (max_attempts) and answered 503 both times.
    assert "リクエスト:" in lines
    assert any("/broken" in line and "→ 503(試行 2 回)" in line for line in lines), lines
    assert any(line.startswith("最後のエラー") and "503" in line for line in lines), lines
    # Not a file received: no sender, size, digest, kept file, import mode or result.
    for said in ("送信元", "受付日時", "サイズ", "SHA-256", "受信したファイル", "取込方法", "結果"):
        assert not any(line.startswith(said) or said in line for line in lines), said


def test_show_of_a_send_in_english(daemon, runs):
    shown = renkei("show", runs["partner"], "--config", str(daemon.english)).stdout
    lines = shown.splitlines()
    assert "Send: partner" in lines and "Executor: admin (API, command line)" in lines
    assert "Rows: 2 of 2 rows sent" in lines
    assert "Sender" not in shown and "Received" not in shown and "not kept" not in shown


def test_show_json_of_a_send_names_the_send(daemon, runs):
    result = renkei("show", runs["broken"], "--json", "--config", str(daemon.config))
    shown = json.loads(result.stdout)
    assert (shown["direction"], shown["send"]) == ("send", "broken")
    assert (shown["rows_total"], shown["rows_imported"], shown["state"]) == (2, 0, "failed")
    [request] = shown["requests"]
    api = httpx.get(f"{daemon.api}/api/v1/runs/{runs['broken']}", headers=ADMIN, timeout=30)
    assert api.json()["send"] == "broken"
    listed = renkei("runs", "--json", "--channel", "send", "--config", str(daemon.config))
    assert {run["send"] for run in json.loads(listed.stdout)} == {
        "partner",
        "broken",
        "betasend",
        "nowhere",
    }
    assert (request["status"], request["attempts"]) == (503, 2)


def test_runs_heads_the_count_of_a_send_as_sent_too(daemon, runs):
    lines = renkei("runs", "--config", str(daemon.config)).stdout.splitlines()
    assert "取込/送信" in lines[0]
    imports = renkei("runs", "--channel", "api", "--config", str(daemon.config)).stdout
    assert "取込/送信" not in imports and "取込" in imports.splitlines()[0]


# -- a console form that cannot be read --------------------------------------------------

BOUNDARY = "renkeiTestBoundary"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"
URLENCODED = "application/x-www-form-urlencoded"


def _multipart_cut(token: str) -> bytes:
    """An upload whose body stops in the middle of the file: no closing boundary."""
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n{token}\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="20240517.csv"'
        "\r\nContent-Type: text/csv\r\n\r\nmember_no,date\r\n1,2024/05"
    ).encode()


BROKEN = {
    "multipart cut short": (MULTIPART, _multipart_cut, "form cut short"),
    "multipart malformed": (MULTIPART, lambda token: b"\x00\xff not multipart", "malformed form"),
    "multipart part without a name": (
        MULTIPART,
        lambda token: (
            f"--{BOUNDARY}\r\nContent-Disposition: form-data\r\n\r\nx\r\n--{BOUNDARY}--\r\n".encode()
        ),
        "malformed form",
    ),
    "urlencoded not UTF-8": (
        URLENCODED,
        lambda token: f"csrf={token}&status=%ff%fe".encode(),
        "form not decodable",
    ),
    "urlencoded raw bytes": (
        URLENCODED,
        lambda token: f"csrf={token}&status=".encode() + "停止".encode("cp932"),
        "form not decodable",
    ),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_broken_form_is_refused_with_a_page_and_audited(daemon, admin, case):
    content_type, body, detail = BROKEN[case]
    target = (
        "/console/accounts/acme/upload"
        if content_type == MULTIPART
        else "/console/accounts/acme/status"
    )
    token = csrf(admin, "/console/accounts/acme")
    before = len(audit(daemon))
    r = admin.post(target, content=body(token), headers={"content-type": content_type})
    assert r.status_code == 400, r.text
    words = text_of(r.text)
    assert "リクエストを読めません" in words
    assert "送信されたフォームを読み取れませんでした" in words
    assert audit(daemon)[before:] == [("admin", "form_refused", target, "refused", detail)]
    assert status_of(daemon, "acme") == "active"  # nothing was done


def test_a_whole_form_still_works(daemon, admin):
    """The strict reading takes what a browser sends: Japanese text percent-encoded."""
    token = csrf(admin, "/console/accounts/acme")
    body = f"csrf={token}&status=active&note=%E5%81%9C%E6%AD%A2".encode()
    r = admin.post(
        "/console/accounts/acme/status", content=body, headers={"content-type": URLENCODED}
    )
    assert r.status_code == 303 and r.headers["location"].endswith("notice=started")


def test_a_broken_login_form_is_audited(daemon):
    with httpx.Client(base_url=daemon.api, timeout=30) as web:
        before = len(audit(daemon))
        r = web.post(
            "/console/login",
            content=b"user=admin&password=%ff",
            headers={"content-type": URLENCODED},
        )
        assert r.status_code == 400 and "送信されたフォームを読み取れませんでした" in r.text
    assert audit(daemon)[before:] == [
        ("", "form_refused", "/console/login", "refused", "form not decodable")
    ]


def test_a_body_cut_off_by_the_client_is_audited(daemon, admin):
    """The client promises more than it sends and stops: recorded, though nobody hears."""
    token = csrf(admin, "/console/accounts/acme")
    body = f"csrf={token}&status=stopped".encode()
    host, port = daemon.api.removeprefix("http://").split(":")
    cookies = "; ".join(f"{name}={value}" for name, value in admin.cookies.items())
    before = len(audit(daemon))
    with socket.create_connection((host, int(port)), timeout=30) as raw:
        raw.sendall(
            b"POST /console/accounts/acme/status HTTP/1.1\r\nHost: renkei\r\n"
            + f"Cookie: {cookies}\r\nContent-Type: {URLENCODED}\r\n".encode()
            + f"Content-Length: {len(body) + 100}\r\n\r\n".encode()
            + body
        )
        raw.shutdown(socket.SHUT_WR)
        raw.recv(4096)  # the server's end of the connection
    target = "/console/accounts/acme/status"
    expected = ("admin", "form_refused", target, "refused", "form cut short")
    deadline = time.monotonic() + 10
    while expected not in audit(daemon)[before:] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert audit(daemon)[before:] == [expected]
    assert status_of(daemon, "acme") == "active"


def test_the_audit_page_says_what_was_wrong(daemon, admin):
    token = csrf(admin, "/console/accounts/acme")
    admin.post(
        "/console/accounts/acme/upload",
        content=_multipart_cut(token),
        headers={"content-type": MULTIPART},
    )
    words = text_of(admin.get("/console/audit").text)
    assert "読めないフォーム" in words and "途中で切れたフォーム" in words


# -- in a browser: the overview refreshes itself ----------------------------------------


def test_a_send_appears_on_the_overview_without_a_reload(daemon, runs):
    from tests.console_support import PASSWORD, chromium_or_skip, launched

    chromium = chromium_or_skip()
    from playwright.sync_api import expect

    with launched(chromium) as browser:
        context = browser.new_context(locale="ja-JP", base_url=daemon.api)
        context.set_default_timeout(15_000)
        page = context.new_page()
        page.goto("/console/login")
        page.get_by_label("ユーザー名").fill("admin")
        page.get_by_label("パスワード").fill(PASSWORD)
        page.get_by_role("button", name="ログイン").click()
        expect(page.get_by_role("heading", name="最近の送信")).to_be_visible()
        page.evaluate("window.notReloaded = true")
        reply = httpx.post(f"{daemon.api}/api/v1/sends/partner", headers=ADMIN, timeout=30)
        run_id = reply.json()["id"]
        row = page.locator(f'table.sends tr[data-run="{run_id}"]')
        expect(row).to_contain_text("完了", timeout=WAIT)  # htmx refreshes every 5 s
        expect(row).to_contain_text("送信 2 件 / 全 2 件", timeout=WAIT)
        row.get_by_role("link", name="詳細").click()
        expect(page.get_by_role("heading", name=re.compile("詳細: 送信 partner"))).to_be_visible()
        context.close()
    assert daemon.run(run_id)["state"] == "completed"


def test_the_state_filter_names_what_aborted_holds(admin):
    """The filter's 中断(再実行待ち) listed sends that ended and never run again."""
    page = admin.get("/console/runs").text
    assert '<option value="aborted">中断(取込は再実行待ち・送信は強制終了)</option>' in page


def test_a_requests_own_trouble_is_said_in_the_pages_language(daemon, runs, admin):
    """A refused connection was shown in report.language (Japanese) on the English
    page too: the receiver's answers are its own, renkei's are catalog words."""
    page = f"/console/runs/{runs['nowhere']}"
    assert "送信先に接続できませんでした" in text_of(admin.get(page).text)
    admin.cookies.set("renkei_lang", "en", path="/console")
    try:
        words = text_of(admin.get(page).text)
    finally:
        admin.cookies.delete("renkei_lang", path="/console")
    assert "could not connect to the receiver" in words and "送信先" not in words
