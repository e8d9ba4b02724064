"""More of the console against the real daemon (httpx, and Chromium where only a browser
shows it): an action's answer leads back to a page, codes and roles in the page's words,
the received file of a run not yet final, a whole file's problem said once, one-time
notices, a double retry, and hidden characters in the audit log."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import threading
import time
from contextlib import closing, contextmanager

import httpx
import pytest

from tests.console_support import (
    USERS,
    chromium_or_skip,
    console_daemon,
    csrf,
    kept_folder,
    launched,
    logged_in,
    login_token,
)
from tests.support import (
    Daemon,
    account,
    active_items,
    csv_bytes,
    import_process,
    mail,
    pause,
    queued_ids,
    send,
)

ACCOUNTS = (
    account("acme", filename="any")
    + '[accounts.acme.api]\ntoken = "demo-acme-token"\n'
    + account("beta")
    + '[accounts.beta.api]\ntoken = "demo-beta-token"\n'
)
GOOD = csv_bytes(["1,2024/05/01,1,a"])
BAD = csv_bytes(["2,2024/05/02,x,a"])


@pytest.fixture(scope="module")
def daemon(tmp_path_factory, module_relay):
    folder = tmp_path_factory.mktemp("console-more")
    yield from console_daemon(folder, ACCOUNTS, module_relay.port)


@pytest.fixture(scope="module")
def clients(daemon):
    yield from logged_in(daemon, USERS)


def mailed(d: Daemon, name: str, data: bytes) -> str:
    """A mailed file's run, once final and its file kept (a moment after)."""
    _, _, reply = send(d.smtp_port, mail([(name, data)]))
    run_id = d.wait_run(queued_ids(reply)[0])["id"]
    kept_folder(d, run_id)
    return run_id


def language_link(page: str) -> str:
    return re.search(r'href="/console/lang/en\?next=([^"]*)"', page).group(1)


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def audit_rows(d: Daemon) -> list[tuple]:
    return d.query("SELECT user, action, target, outcome, detail FROM audit_log ORDER BY seq")


@contextmanager
def importer_paused(d: Daemon):
    """The import process stopped (SIGSTOP): what is spooled meanwhile stays queued.
    Stopped once idle (nothing claimed, every report handed on), never in the middle of
    a write to the store, which would hold up the daemon's own writes."""
    assert active_items(d.data_dir) == []
    deadline = time.monotonic() + 15
    pending = "SELECT count(*) FROM runs WHERE report_state = 'pending'"
    while d.query(pending) != [(0,)] and time.monotonic() < deadline:
        time.sleep(0.05)
    pid = import_process(d)
    pause(pid)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


# -- 1. an action's answer leads back to a page ------------------------------------------


def test_the_language_link_of_an_actions_answer_leads_to_its_page(daemon, clients):
    op, view = clients["op"], clients["view"]
    done = mailed(daemon, "20240601.csv", GOOD)
    failed = mailed(daemon, "20240602.csv", BAD)
    answers = [
        (
            "/console/accounts/acme",  # an upload's preview
            op.post(
                "/console/accounts/acme/upload",
                data={"csrf": csrf(op)},
                files={"file": ("20240603.csv", GOOD, "text/csv")},
            ),
        ),
        (
            f"/console/runs/{failed}",
            op.post(f"/console/runs/{failed}/undo", data={"csrf": csrf(op)}),
        ),
        (
            f"/console/runs/{done}",
            view.post(f"/console/runs/{done}/retry", data={"csrf": csrf(view)}),
        ),
        (
            "/console/accounts/acme",  # a stop the operator may not make
            op.post("/console/accounts/acme/status", data={"csrf": csrf(op), "status": "stopped"}),
        ),
    ]
    assert [r.status_code for _, r in answers] == [200, 409, 403, 403]
    for page, answer in answers:
        target = language_link(answer.text)
        assert target == page
        switched = op.get(f"/console/lang/en?next={target}")
        assert switched.status_code == 303 and switched.headers["location"] == page
        assert op.get(page).status_code == 200
    op.cookies.delete("renkei_lang")


@pytest.mark.parametrize(
    ("action", "page"),
    [
        ("/console/accounts/acme/upload", "/console/accounts/acme"),
        ("/console/accounts/acme/upload/confirm", "/console/accounts/acme"),
        ("/console/accounts/acme/status", "/console/accounts/acme"),
        ("/console/accounts/acme/poll", "/console/accounts/acme"),
        (
            "/console/runs/20240101T000000000000-abcdef/retry",
            "/console/runs/20240101T000000000000-abcdef",
        ),
        (
            "/console/runs/20240101T000000000000-abcdef/undo",
            "/console/runs/20240101T000000000000-abcdef",
        ),
    ],
)
def test_a_get_of_an_action_goes_to_its_page_not_a_405(daemon, clients, action, page):
    r = clients["op"].get(action)
    assert r.status_code == 303 and r.headers["location"] == page


# -- 2. codes and roles in the page's words ----------------------------------------------


def test_the_audit_log_says_each_detail_in_the_pages_language(daemon, clients):
    op, admin = clients["op"], clients["admin"]
    done = mailed(daemon, "20240611.csv", csv_bytes(["611,2024/06/11,1,a"]))
    r = op.post(f"/console/runs/{done}/undo", data={"csrf": csrf(op)})
    undo = re.match(r"/console/runs/([^?]+)", r.headers["location"]).group(1)
    assert op.post(f"/console/runs/{done}/undo", data={"csrf": csrf(op)}).status_code == 409
    for status in ("stopped", "active"):
        admin.post("/console/accounts/beta/status", data={"csrf": csrf(admin), "status": status})
    with httpx.Client(base_url=daemon.api) as stranger:
        stranger.get("/console/login")
        stranger.post("/console/login", data={"user": "nobody", "password": "x", "token": "x"})
    # What is stored stays the stable text it was; an older row's free text still shows.
    stored = [e[4] for e in audit_rows(daemon)]
    assert f"undo run {undo}: 1 deleted, 0 restored" in stored
    assert "run_already_undone" in stored and "form token" in stored
    with closing(sqlite3.connect(daemon.db_path, timeout=30)) as db, db:
        db.execute(
            "INSERT INTO audit_log (at, user, address, action, target, outcome, detail)"
            " VALUES ('2024-01-01T00:00:00.000+00:00', 'old', '', 'retry', 'x', 'ok',"
            " 'said by an older renkei')"
        )
    page = text_of(admin.get("/console/audit").text)
    for words in [
        f"取消の実行 {undo}: 削除",
        "すでに取り消されています",
        "停止にしました",
        "稼働にしました",
        "ログイン画面のトークンがないか期限切れ",
        "said by an older renkei",
    ]:
        assert words in page, words
    for code in ["run_already_undone", f"undo run {undo}", "form token", " stopped ", " active "]:
        assert code not in page, code
    admin.get("/console/lang/en")
    english = text_of(admin.get("/console/audit").text)
    admin.cookies.delete("renkei_lang")
    assert "already undone" in english and f"undo run {undo}: " in english
    assert "login form token missing or expired" in english


def test_a_refused_page_names_the_role_and_the_state_in_words(daemon, clients):
    done = mailed(daemon, "20240621.csv", GOOD)
    failed = mailed(daemon, "20240622.csv", BAD)
    view, op = clients["view"], clients["op"]
    r = view.post(f"/console/runs/{done}/retry", data={"csrf": csrf(view)})
    assert r.status_code == 403 and "権限「閲覧者」" in r.text and "viewer" not in text_of(r.text)
    r = op.post("/console/accounts/acme/status", data={"csrf": csrf(op), "status": "stopped"})
    assert r.status_code == 403 and "権限「運用者」" in r.text and "operator" not in text_of(r.text)
    r = op.post(f"/console/runs/{failed}/undo", data={"csrf": csrf(op)})
    assert r.status_code == 409 and "(状態 失敗)" in r.text and "状態 failed" not in r.text


def test_the_overview_names_each_refusal_in_words_with_its_detail(daemon, clients):
    r = httpx.post(
        f"{daemon.api}/api/v1/imports",
        headers={"Authorization": "Bearer not-a-token"},
        files={"file": ("20240703.csv", GOOD, "text/csv")},
    )
    assert r.status_code == 401
    page = clients["admin"].get("/console/").text
    row = re.search(r'<table class="refusals">.*?</table>', page, re.DOTALL).group(0)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.DOTALL)
    reason = cells[5]
    assert (
        reason.startswith("トークンが違います<br><small>") and "token" in reason.split("<small>")[1]
    )


def test_the_layouts_column_types_are_words(daemon, clients):
    page = clients["view"].get("/console/accounts/acme").text
    columns = re.search(r'<table class="columns">.*?</table>', page, re.DOTALL).group(0)
    types = [
        cells[2] for cells in re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td>", columns)
    ]
    assert types == ["整数", "日付", "整数", "文字列"]


# -- 3. the received file of a run not yet final ------------------------------------------


def file_line(page: str) -> str:
    actions = re.search(r'<div class="actions">(.*?)</div>', page, re.DOTALL).group(1)
    return text_of(actions)


def test_a_queued_runs_page_says_its_file_waits_and_refreshes_until_kept(daemon, clients):
    op = clients["op"]
    failed = mailed(daemon, "20240704.csv", BAD)
    with importer_paused(daemon):
        r = op.post(f"/console/runs/{failed}/retry", data={"csrf": csrf(op)})
        retry = re.match(r"/console/runs/([^?]+)", r.headers["location"]).group(1)
        assert daemon.run(retry)["state"] == "queued"
        page = op.get(f"/console/runs/{retry}").text
        assert "受信ファイルは取込待ちか取込中です" in file_line(page)
        assert "保存されていません" not in page and 'hx-trigger="every 2s"' in page
    run = daemon.wait_run(retry)
    kept = kept_folder(daemon, retry)
    page = op.get(f"/console/runs/{retry}").text
    assert "受信ファイルをダウンロード" in page and f'action="/console/runs/{retry}/retry"' in page
    assert 'hx-trigger="every 2s"' not in page
    # Just ended and its file not kept yet (as between the commit and the move): the page
    # says it is in the spool and looks again; long ended, that it is not kept.
    aside = kept.with_name(retry + ".aside")
    kept.rename(aside)
    try:
        page = op.get(f"/console/runs/{retry}").text
        assert "受信ファイルは取込待ちか取込中です" in file_line(page)
        assert 'hx-trigger="every 2s"' in page
        with closing(sqlite3.connect(daemon.db_path, timeout=30)) as db, db:
            db.execute(
                "UPDATE runs SET finished_at = ? WHERE id = ?",
                ("2024-01-01T00:00:00.000+00:00", retry),
            )
        page = op.get(f"/console/runs/{retry}").text
        assert "受信ファイルは保存されていません" in file_line(page)
        assert 'hx-trigger="every 2s"' not in page
    finally:
        aside.rename(kept)
        with closing(sqlite3.connect(daemon.db_path, timeout=30)) as db, db:
            db.execute("UPDATE runs SET finished_at = ? WHERE id = ?", (run["finished_at"], retry))


# -- 4. a whole file's problem said once -------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("20240705.csv", b""),
        ("20240706.xlsx", b"PK\x03\x04 not a workbook"),
        ("20240710" + "x" * 300 + ".csv", GOOD),
    ],
)
def test_a_whole_files_problem_is_shown_once_in_the_preview(daemon, clients, name, data):
    op = clients["op"]
    r = op.post(
        "/console/accounts/acme/upload",
        data={"csrf": csrf(op)},
        files={"file": (name, data, "application/octet-stream")},
    )
    assert r.status_code == 200
    [(said,)] = daemon.query("SELECT message FROM runs WHERE filename = ? AND dry_run = 1", (name,))
    assert said and r.text.count(said.splitlines()[0]) == 1, said


def test_a_preview_retried_says_it_checks_again_not_that_it_imports(daemon, clients):
    op = clients["op"]
    name = "20240711.csv"
    r = op.post(
        "/console/accounts/acme/upload",
        data={"csrf": csrf(op)},
        files={"file": (name, GOOD, "text/csv")},
    )
    assert r.status_code == 200
    [(preview,)] = daemon.query("SELECT id FROM runs WHERE filename = ? AND dry_run = 1", (name,))
    daemon.wait_run(preview)
    r = op.post(f"/console/runs/{preview}/retry", data={"csrf": csrf(op)})
    assert r.status_code == 303
    again = re.fullmatch(r"/console/runs/([^?]+)\?notice=retried_dry", r.headers["location"])
    assert again is not None, r.headers["location"]
    page = op.get(r.headers["location"]).text
    assert "再確認を受け付けました" in page and "この実行で取り込みます" not in page
    run = daemon.wait_run(again.group(1))
    assert (run["dry_run"], run["rows_imported"]) == (1, 1)
    assert daemon.query("SELECT count(*) FROM performance WHERE _source_file = ?", (name,)) == [
        (0,)
    ]


def test_a_whole_files_problem_is_listed_as_the_whole_files_not_as_line_0(daemon, clients):
    run = mailed(daemon, "20240712.csv", b"")
    assert daemon.wait_run(run)["state"] == "failed"
    page = clients["view"].get(f"/console/runs/{run}").text
    table = page.split('<table class="errors">')[1].split("</table>")[0]
    assert '<td class="num">ファイル全体</td>' in table
    assert '<td class="num">0</td>' not in table


# -- 5. one-time notices -----------------------------------------------------------------


def test_a_one_time_notice_is_left_behind_by_pager_and_filter_links(daemon, clients):
    rows = [f"{n},2024/07/07,x,a" for n in range(1, 61)]
    run = mailed(daemon, "20240707.csv", csv_bytes(rows))
    web = clients["admin"]
    page = web.get(f"/console/runs/{run}?notice=retried&taken=3").text
    assert "再取込を受け付けました" in page
    pager = re.search(r'<nav class="pager">.*?</nav>', page, re.DOTALL).group(0)
    assert 'href="?errors=50"' in pager
    runs = web.get("/console/runs?state=failed&notice=retried").text
    links = re.findall(r'(?:href|hx-get)="([^"]*export\.csv[^"]*|/console/runs/table[^"]*)"', runs)
    assert len(links) == 3 and all("notice" not in link for link in links), links
    assert all("state=failed" in link for link in links)


# -- 6. a double retry -------------------------------------------------------------------


def test_a_double_submitted_retry_is_audited_once_as_a_retry_then_as_a_replay(daemon, clients):
    op = clients["op"]
    failed = mailed(daemon, "20240708.csv", BAD)
    token = csrf(op)
    answers = []

    def click() -> None:
        answers.append(op.post(f"/console/runs/{failed}/retry", data={"csrf": token}))

    with importer_paused(daemon):
        clicks = [threading.Thread(target=click) for _ in range(2)]
        for thread in clicks:
            thread.start()
        for thread in clicks:
            thread.join()
    made = daemon.query("SELECT id FROM runs WHERE retry_of = ?", (failed,))
    assert len(made) == 1
    [(new,)] = made
    locations = sorted(r.headers["location"] for r in answers)
    assert locations == [
        f"/console/runs/{new}?notice=retried",
        f"/console/runs/{new}?notice=retry_replayed",
    ]
    entries = sorted((e[3], e[4]) for e in audit_rows(daemon) if e[1] == "retry" and e[2] == failed)
    assert entries == [("ok", f"new run {new}"), ("replayed", f"replayed run {new}")]
    page = text_of(clients["admin"].get("/console/audit").text)
    assert f"再取込済み: 受付中の実行 {new} を返しました" in page and "受付済み(再送)" in page
    notice = op.get(f"/console/runs/{new}?notice=retry_replayed").text
    assert "この実行はすでに再取込を受け付けています" in notice
    daemon.wait_run(new)


# -- 7. hidden characters ----------------------------------------------------------------


def test_a_control_character_in_a_login_name_is_shown_not_hidden(daemon, clients):
    with httpx.Client(base_url=daemon.api) as web:
        r = web.post(
            "/console/login",
            data={"user": "admin\x00", "password": "wrong", "token": login_token(web)},
        )
    assert r.status_code == 401
    typed = re.search(r'name="user" value="([^"]*)"', r.text).group(1)
    assert typed == ""  # not "admin", nor a NUL the field would hide
    assert ("admin\x00", "login", "", "failed", "") in audit_rows(daemon)
    page = clients["admin"].get("/console/audit").text
    assert '<td>admin<span class="ctl">U+0000</span></td>' in page
    assert "\x00" not in page
    # A name without one is echoed as before.
    with httpx.Client(base_url=daemon.api) as web:
        r = web.post(
            "/console/login", data={"user": "admin", "password": "wrong", "token": login_token(web)}
        )
    assert 'name="user" value="admin"' in r.text


def test_chromium_shows_the_retry_button_once_the_run_and_its_file_settle(daemon, clients, browser):
    failed = mailed(daemon, "20240709.csv", BAD)
    op = clients["op"]
    with importer_paused(daemon):
        r = op.post(f"/console/runs/{failed}/retry", data={"csrf": csrf(op)})
        retry = re.match(r"/console/runs/([^?]+)", r.headers["location"]).group(1)
        context = browser.new_context(locale="ja-JP", base_url=daemon.api)
        context.add_cookies(
            [{"name": c.name, "value": c.value, "url": daemon.api} for c in op.cookies.jar]
        )
        page = context.new_page()
        page.goto(f"/console/runs/{retry}")
        actions = page.locator("#run-state .actions")
        assert "受信ファイルは取込待ちか取込中です" in actions.inner_text()
        page.evaluate("window.notReloaded = true")
    try:
        from playwright.sync_api import expect

        expect(actions.get_by_role("link", name="受信ファイルをダウンロード")).to_be_visible(
            timeout=20_000
        )
        expect(actions.get_by_role("button", name="再取込")).to_be_visible()
        expect(page.locator("#run-state[hx-get]")).to_have_count(0, timeout=10_000)
        assert "保存されていません" not in actions.inner_text()
        assert page.evaluate("window.notReloaded") is True
    finally:
        context.close()


@pytest.fixture(scope="module")
def browser():
    with launched(chromium_or_skip()) as chromium:
        yield chromium
