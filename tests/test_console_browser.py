"""The console in a real browser: Chromium driven by Playwright against the real daemon.

What a user does with the console — log in under each role, watch a mailed file appear,
filter and export, download a run's files, retry and undo, stop an account, upload with
a preview, log out — and what the page shows after, on a desktop and on a phone.
Without Chromium or Playwright the module skips, except in CI (CI=true), where it fails.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
from collections.abc import Iterator
from typing import Any

import pytest

from tests.console_support import PASSWORD, USERS, chromium_or_skip, launched, users_toml
from tests.support import Daemon, account, csv_bytes, mail, queued_ids, send, send_as, write_config

CHROMIUM = chromium_or_skip(module_level=True)
from playwright.sync_api import expect  # noqa: E402 - only once it is known to import

WAIT = 15_000  # ms: htmx refreshes the runs table every 2 s; imports take well under this
ACCOUNTS = account("acme") + '[accounts.acme.api]\ntoken = "demo-acme-token"\n' + account("beta")
GOOD = ["1,2024/05/01,100,a", "2,2024/05/01,200,b"]
BAD = ["1,2024/05/02,x,日本"]
NAV = ["概要", "状況確認", "連携設定"]


@pytest.fixture(scope="module")
def daemon(tmp_path_factory, module_relay):
    folder = tmp_path_factory.mktemp("console-browser")
    config = write_config(folder, ACCOUNTS, extra=users_toml(), relay_port=module_relay.port)
    d = Daemon(config).start()
    yield d
    d.terminate()


@pytest.fixture(scope="module")
def runs(daemon):
    """Mailed runs: acme's completed and failed ones, one to undo, and one of beta."""
    ids = {}
    for key, name, rows in [
        ("ok", "20240501.csv", GOOD),
        ("failed", "20240502.csv", BAD),
        ("undo", "20240503.csv", GOOD),
    ]:
        data = csv_bytes(rows)
        _, _, reply = send(daemon.smtp_port, mail([(name, data)]))
        ids[key] = daemon.wait_run(queued_ids(reply)[0])["id"]
        ids[f"{key}_name"], ids[f"{key}_data"] = name, data
    _, _, reply = send_as(daemon.smtp_port, "beta", [("20240504.csv", csv_bytes(GOOD))])
    ids["beta"] = daemon.wait_run(queued_ids(reply)[0])["id"]
    assert daemon.run(ids["ok"])["state"] == "completed"
    assert daemon.run(ids["failed"])["state"] == "failed"
    return ids


@pytest.fixture(scope="module")
def browser():
    with launched(CHROMIUM) as chromium:
        yield chromium


@pytest.fixture
def open_page(browser, daemon):
    """A fresh browser context (ja-JP) per call; `user` logs in first."""
    contexts = []

    def opened(user: str | None = None, **options):
        context = browser.new_context(locale="ja-JP", base_url=daemon.api, **options)
        context.set_default_timeout(WAIT)
        contexts.append(context)
        page = context.new_page()
        if user:
            log_in(page, user)
            expect(page).to_have_url(re.compile(r"/console/$"))
        return page

    yield opened
    for context in contexts:
        context.close()


def log_in(page, user: str, password: str = PASSWORD) -> None:
    page.goto("/console/login")
    page.get_by_label("ユーザー名").fill(user)
    page.get_by_label("パスワード").fill(password)
    page.get_by_role("button", name="ログイン").click()


def rows(page):
    return page.locator("#runs-table tr[data-run]")


@pytest.mark.parametrize(
    ("user", "nav", "seen"),
    [
        ("admin", [*NAV, "監査ログ"], ["acme", "beta"]),
        ("op", NAV, ["acme"]),
        ("view", NAV, ["acme"]),
        ("betaop", NAV, ["beta"]),
    ],
)
def test_each_role_sees_its_nav_and_accounts(open_page, runs, user, nav, seen):
    page = open_page(user)
    role = {"admin": "管理者", "operator": "運用者", "viewer": "閲覧者"}[USERS[user][0]]
    expect(page.locator("header .user")).to_contain_text(f"{user} ({role})")
    expect(page.locator("header nav a")).to_have_text(nav)
    page.get_by_role("link", name="連携設定").click()
    expect(page.locator("table.accounts tbody td:first-child a")).to_have_text(seen)
    page.get_by_role("link", name="状況確認").click()
    expect(rows(page).first).to_be_visible()
    # The runs list holds only the accounts the user may see.
    accounts = rows(page).locator("td:nth-child(2)").all_inner_texts()
    assert {text.split()[0] for text in accounts} == set(seen)
    if user != "admin":
        page.goto("/console/audit")
        expect(page.get_by_role("heading", name="この操作はできません")).to_be_visible()


def test_a_wrong_password_says_so(open_page, daemon):
    page = open_page()
    log_in(page, "admin", "not-the-password")
    expect(page.get_by_role("alert")).to_have_text("ユーザー名またはパスワードが違います")
    expect(page.get_by_role("heading", name="ログイン")).to_be_visible()
    expect(page.locator("header nav")).to_have_count(0)


def test_a_mailed_file_appears_without_a_reload(open_page, daemon, runs):
    page = open_page("admin")
    page.goto("/console/runs")
    expect(rows(page).first).to_be_visible()
    page.evaluate("window.notReloaded = true")
    send(daemon.smtp_port, mail([("20240505.csv", csv_bytes(GOOD))]))
    row = rows(page).filter(has_text="20240505.csv")
    expect(row).to_be_visible(timeout=WAIT)
    expect(row).to_contain_text("完了", timeout=WAIT)
    assert page.evaluate("window.notReloaded") is True


def test_filter_failed_and_export_utf8(open_page, runs):
    page = open_page("admin")
    page.goto("/console/runs")
    page.locator("form.filters select[name=state]").select_option(label="失敗")
    page.get_by_role("button", name="絞り込む").click()
    expect(page).to_have_url(re.compile(r"state=failed"))
    expect(rows(page).filter(has_text=runs["failed_name"])).to_be_visible()
    expect(page.locator("#runs-table tr[data-run]:not(.r-failed)")).to_have_count(0)
    with page.expect_download() as info:
        page.get_by_role("link", name="UTF-8(BOM付き)").click()
    download = info.value
    assert download.suggested_filename == "連携状況.csv"
    with open(download.path(), "rb") as f:
        data = f.read()
    assert data.startswith(b"\xef\xbb\xbf")
    text = data.decode("utf-8-sig")
    assert text.splitlines()[0].startswith("実行ID,実行日時,アカウント")
    assert runs["failed_name"] in text and runs["failed"] in text
    assert runs["ok"] not in text  # the filter holds for the export too


def test_run_page_downloads_both_files(open_page, runs):
    page = open_page("view")
    page.goto("/console/runs")
    rows(page).filter(has_text=runs["failed_name"]).last.get_by_role("link", name="詳細").click()
    expect(page).to_have_url(re.compile(f"/console/runs/{runs['failed']}$"))
    expect(page.locator(".banner")).to_have_text(
        "この実行は失敗しました。ファイルの行は 1 行も取り込んでいません。"
    )
    expect(page.locator("table.errors tbody tr")).to_have_count(1)
    # A viewer reads; retry and undo are not offered.
    expect(page.get_by_role("button", name="再取込")).to_have_count(0)
    with page.expect_download() as info:
        page.get_by_role("link", name="受信ファイルをダウンロード").click()
    assert info.value.suggested_filename == runs["failed_name"]
    with open(info.value.path(), "rb") as f:
        assert f.read() == runs["failed_data"]
    with page.expect_download() as info:
        page.get_by_role("link", name="エラーCSVをダウンロード").click()
    with open(info.value.path(), "rb") as f:
        # In the encoding the file came in (CP932 here), so the partner can fix and resend it.
        errors = f.read().decode("cp932")
    assert "日本" in errors and len(errors.strip().splitlines()) == 2  # header and the row


def test_operator_retries_a_failed_run(open_page, daemon, runs):
    page = open_page("op")
    page.goto(f"/console/runs/{runs['failed']}")
    page.get_by_role("button", name="再取込").click()
    expect(page).to_have_url(re.compile(r"/console/runs/[^/?]+\?notice=retried$"))
    new_id = re.search(r"/console/runs/([^/?]+)\?", page.url).group(1)
    assert new_id != runs["failed"]
    expect(page.get_by_role("status")).to_have_text(
        "再取込を受け付けました。この実行で取り込みます"
    )
    source = page.locator("table.fields tr", has=page.locator("th", has_text="再取込元"))
    expect(source.locator("a")).to_have_text(runs["failed"])
    expect(source.locator("a")).to_have_attribute("href", f"/console/runs/{runs['failed']}")
    assert daemon.query("SELECT retry_of FROM runs WHERE id = ?", (new_id,)) == [(runs["failed"],)]
    # The retried file is the same bad file: it fails again, and the page shows it.
    assert daemon.wait_run(new_id)["state"] == "failed"
    expect(page.locator(".banner")).to_contain_text("この実行は失敗しました", timeout=WAIT)


def test_operator_undoes_a_completed_run(open_page, daemon, runs):
    page = open_page("op")
    page.goto(f"/console/runs/{runs['undo']}")
    # It asks first (one click took back every row of a large import): dismissed,
    # nothing is taken back.
    asked: list[str] = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.get_by_role("button", name="取込取消").click()
    expect(page).to_have_url(re.compile(rf"/console/runs/{runs['undo']}$"))
    assert asked and f"実行 {runs['undo']} の取込を取り消します" in asked[0], asked
    assert daemon.run(runs["undo"])["undone_by"] is None
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="取込取消").click()
    expect(page).to_have_url(re.compile(r"/console/runs/[^/?]+\?notice=undone$"))
    undo_id = re.search(r"/console/runs/([^/?]+)\?", page.url).group(1)
    expect(page.get_by_role("status")).to_have_text("取込を取り消しました")
    target = page.locator("table.fields tr", has=page.locator("th", has_text="取消対象"))
    expect(target.locator("a")).to_have_text(runs["undo"])
    assert daemon.query("SELECT undo_of FROM runs WHERE id = ?", (undo_id,)) == [(runs["undo"],)]
    assert daemon.run(runs["undo"])["undone_by"] == undo_id
    # Undone once, the old run offers 取込取消 no more.
    page.goto(f"/console/runs/{runs['undo']}")
    expect(page.get_by_role("heading", name=re.compile("詳細"))).to_be_visible()
    expect(page.get_by_role("button", name="取込取消")).to_have_count(0)


def test_a_stopped_account_ignores_mail(open_page, daemon, runs):
    page = open_page("admin")
    page.goto("/console/accounts/beta")
    try:
        page.get_by_role("button", name="停止する").click()
        expect(page.get_by_role("status")).to_contain_text("アカウントを停止しました")
        expect(page.locator("table.fields .state").first).to_have_text("停止")
        send_as(daemon.smtp_port, "beta", [("20240706.csv", csv_bytes(GOOD))])
        page.goto("/console/runs?account=beta")
        row = rows(page).filter(has_text="20240706.csv")
        expect(row).to_contain_text("取込せず", timeout=WAIT)
        [(state,)] = daemon.query("SELECT state FROM runs WHERE filename = '20240706.csv'")
        assert state == "ignored"
    finally:
        page.goto("/console/accounts/beta")
        page.get_by_role("button", name="稼働する").click()
        expect(page.get_by_role("status")).to_have_text("アカウントを稼働にしました")
    expect(page.get_by_role("button", name="停止する")).to_be_visible()


def test_upload_with_preview_then_confirm(open_page, daemon, runs):
    page = open_page("op")
    page.goto("/console/accounts/acme")
    data = csv_bytes(["7,2024/07/10,700,up", "8,2024/07/10,800,load", "9,2024/07/10,900,ok"])
    page.locator("input[name=file]").set_input_files(
        {"name": "20240710.csv", "mimeType": "text/csv", "buffer": data}
    )
    page.get_by_role("button", name="内容を確認").click()
    preview = page.locator("section.preview")
    expect(preview).to_contain_text("20240710.csv の確認結果(まだ取り込んでいません)")
    expect(preview).to_contain_text("全 3 行のうち 取込可 3 行 / エラー 0 行")
    preview.get_by_role("button", name="取り込む").click()
    expect(page).to_have_url(re.compile(r"/console/runs/[^/?]+\?notice=uploaded$"))
    run_id = re.search(r"/console/runs/([^/?]+)\?", page.url).group(1)
    expect(page.get_by_role("status")).to_have_text("アップロードしたファイルを受け付けました")
    # The page refreshes itself while the run is queued or running.
    state = page.locator("table.fields tr", has=page.locator("th", has_text="状況"))
    expect(state).to_contain_text("完了", timeout=WAIT)
    run = daemon.wait_run(run_id)
    assert (run["state"], run["dry_run"], run["channel"], run["sender"]) == (
        "completed",
        0,
        "api",
        "op",
    )
    assert run["rows_imported"] == 3


def test_a_post_without_the_csrf_token_is_refused(open_page, daemon, runs):
    page = open_page("op")
    page.goto(f"/console/runs/{runs['failed']}")
    before = daemon.query("SELECT count(*) FROM runs WHERE retry_of = ?", (runs["failed"],))
    status, body = page.evaluate(
        """async (url) => {
            const answer = await fetch(url, {method: "POST", body: new URLSearchParams({a: "1"})});
            return [answer.status, await answer.text()];
        }""",
        f"/console/runs/{runs['failed']}/retry",
    )
    # 403, not a redirect to the login page: the session cookie went, the token did not.
    assert status == 403
    assert "フォームの確認用トークンがないか、正しくありません" in body
    after = daemon.query("SELECT count(*) FROM runs WHERE retry_of = ?", (runs["failed"],))
    assert after == before


def test_logout_ends_the_session(open_page):
    page = open_page("view")
    page.get_by_role("button", name="ログアウト").click()
    expect(page).to_have_url(re.compile(r"/console/login$"))
    expect(page.get_by_role("heading", name="ログイン")).to_be_visible()
    page.goto("/console/runs")
    expect(page).to_have_url(re.compile(r"/console/login\?next=/console/runs$"))
    expect(page.get_by_label("パスワード")).to_be_visible()


def test_runs_fit_a_phone(open_page, runs):
    page = open_page("admin", viewport={"width": 390, "height": 844})
    page.goto("/console/runs")
    expect(rows(page).first).to_be_visible()
    expect(page.locator("header nav")).to_be_visible()
    expect(page.get_by_role("link", name="状況確認")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1
    # Each run a card: its file and state are on the screen, each beside its label,
    # with nothing to scroll sideways to.
    wrapper = page.locator("#runs-table .scroll")
    assert wrapper.evaluate("e => e.scrollWidth <= e.clientWidth")
    failed = page.locator(f"tr[data-run='{runs['failed']}']")
    for cell, label, shown in [
        ("td.file >> nth=0", "ファイル", runs["failed_name"]),
        ("td:has(.state)", "状況", "失敗"),
    ]:
        found = failed.locator(cell)
        expect(found).to_contain_text(shown)
        box = found.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
        said = found.evaluate("e => getComputedStyle(e, '::before').content")
        assert said == f'"{label}"'


@contextlib.contextmanager
def live_run_list(browser, tmp_path, relay) -> Iterator[tuple[Daemon, Any]]:
    """A daemon of its own, and the live-trouble notice of its run list, open in a
    browser logged in as admin, the notice hidden."""
    config = write_config(tmp_path, ACCOUNTS, extra=users_toml(), relay_port=relay.port)
    d = Daemon(config).start()
    context = browser.new_context(locale="ja-JP", base_url=d.api)
    context.set_default_timeout(WAIT)
    try:
        page = context.new_page()
        log_in(page, "admin")
        page.goto("/console/runs")
        trouble = page.locator("#live-trouble")
        expect(trouble).to_be_hidden()
        yield d, trouble
    finally:
        context.close()
        d.terminate()


def test_a_page_that_cannot_refresh_itself_says_so(browser, tmp_path, module_relay):
    """htmx swaps no error answer and says nothing of a lost connection: with the
    daemon gone, the run list went on showing its rows as if it were live."""
    with live_run_list(browser, tmp_path, module_relay) as (d, trouble):
        d.terminate()
        expect(trouble).to_be_visible()
        expect(trouble).to_contain_text("この画面を更新できません(デーモンに接続できません)")
        d.start()
        expect(trouble).to_be_hidden()  # the next refresh that succeeds clears it


def test_a_daemon_that_takes_the_refresh_and_never_answers_is_said(browser, tmp_path, module_relay):
    """A stopped daemon (SIGSTOP, a stuck process) still takes the connection: the
    refresh waited forever, no other was sent, and the page looked live."""
    with live_run_list(browser, tmp_path, module_relay) as (d, trouble):
        os.kill(d.proc.pid, signal.SIGSTOP)
        try:
            expect(trouble).to_contain_text("デーモンが応答しません", timeout=WAIT + 8_000)
        finally:
            os.kill(d.proc.pid, signal.SIGCONT)
        expect(trouble).to_be_hidden()
