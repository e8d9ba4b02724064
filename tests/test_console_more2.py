"""Still more of the console against the real daemon (httpx, and Chromium where only a
browser shows it): the run list's refresh keeps its horizontal scroll, a refusal of the
user's role is audited (and bounded), a refused 取り込む is audited as one, a long cell
value in the error table, a report still waiting, a run set aside as unreadable, an
expired session on a filtered list, and smaller things (a stopped account's actions,
the favicon, the export's dry-run column, a long relay answer on a phone, a hidden
character in a run id)."""

from __future__ import annotations

import csv
import io
import os
import re
import signal
import time
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from daemon.console.throttle import NOTED
from tests.console_support import (
    PASSWORD,
    chromium_or_skip,
    console_daemon,
    csrf,
    kept_folder,
    launched,
    logged_in,
    login,
)
from tests.support import (
    Daemon,
    account,
    csv_bytes,
    import_process,
    mail,
    pause,
    queued_ids,
    send,
)

ADMIN = {"Authorization": "Bearer demo-admin"}
USERS = {
    "admin": ("admin", []),
    "op": ("operator", ["acme", "halt"]),
    "view": ("viewer", ["acme"]),
}
SLOW = "slow@wait.example"  # the relay answers 451 for it: its report keeps waiting
LONG_ANSWER = "451 4.3.0 " + "busy_" * 80  # no place a line may break
ACCOUNTS = (
    account("acme", filename="any")
    + '[accounts.acme.api]\ntoken = "demo-acme-token"\n'
    + account("wait", success_report_to=[SLOW])
    + account("halt", status="stopped")
    + '[accounts.halt.api]\ntoken = "demo-halt-token"\n'
)
GOOD = csv_bytes(["1,2024/05/01,1,a"])
BAD = csv_bytes(["2,2024/05/02,x,a"])


@pytest.fixture(scope="module")
def daemon(tmp_path_factory, module_relay):
    module_relay.refuse[SLOW] = LONG_ANSWER
    folder = tmp_path_factory.mktemp("console-more2")
    yield from console_daemon(folder, ACCOUNTS, module_relay.port, USERS)


@pytest.fixture(scope="module")
def clients(daemon):
    yield from logged_in(daemon, USERS)


@pytest.fixture(scope="module")
def browser():
    with launched(chromium_or_skip()) as chromium:
        yield chromium


def mailed(d: Daemon, name: str, data: bytes, to: str = "acme") -> str:
    """A mailed file's run, once final and its file kept (a moment after)."""
    message = mail([(name, data)], to=f"{to}@in.example.jp", sender=f"export@{to}.example")
    rcpts = (f"{to}@in.example.jp",)
    _, _, reply = send(d.smtp_port, message, mail_from=f"export@{to}.example", rcpts=rcpts)
    run_id = d.wait_run(queued_ids(reply)[0])["id"]
    kept_folder(d, run_id)
    return run_id


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def audit_rows(d: Daemon) -> list[tuple]:
    return d.query("SELECT user, action, target, outcome, detail, address FROM audit_log")


def browser_as(browser, d: Daemon, client: httpx.Client, **options):
    """A browser context holding `client`'s session (under its own path, so that a
    login in the browser replaces it)."""
    context = browser.new_context(locale="ja-JP", base_url=d.api, **options)
    context.add_cookies(
        [
            {"name": c.name, "value": c.value, "domain": c.domain, "path": c.path}
            for c in client.cookies.jar
        ]
    )
    return context


# -- 1. the run list keeps its horizontal scroll ------------------------------------------


def test_chromium_keeps_the_run_lists_horizontal_scroll_across_a_refresh(daemon, clients, browser):
    mailed(daemon, "20240801.csv", GOOD)
    context = browser_as(browser, daemon, clients["admin"], viewport={"width": 820, "height": 700})
    try:
        page = context.new_page()
        page.goto("/console/runs")
        box = page.locator("#runs-table .scroll")
        assert box.evaluate("b => b.scrollWidth > b.clientWidth + 100")
        box.evaluate("b => { b.scrollLeft = 120; }")
        page.evaluate("window.notReloaded = true")
        # Nothing changed: two refreshes go by and a selection in the table stays.
        page.evaluate(
            """() => {
              const cell = document.querySelector('#runs-table tbody td.file');
              const range = document.createRange();
              range.selectNodeContents(cell);
              getSelection().removeAllRanges();
              getSelection().addRange(range);
            }"""
        )
        page.wait_for_timeout(4500)
        assert page.evaluate("getSelection().toString()") == "20240801.csv"
        assert box.evaluate("b => b.scrollLeft") == 120
        # A new run arrives: the table is swapped, the box keeps its place.
        new = mailed(daemon, "20240802.csv", GOOD)
        page.locator(f'tr[data-run="{new}"]').wait_for(timeout=15_000)
        page.wait_for_timeout(300)
        assert page.locator("#runs-table .scroll").evaluate("b => b.scrollLeft") == 120
        assert page.evaluate("window.notReloaded") is True
    finally:
        context.close()


# -- 2. an action refused for the user's role is audited ----------------------------------


def test_an_action_refused_for_the_users_role_is_audited(daemon, clients):
    view, op = clients["view"], clients["op"]
    done = mailed(daemon, "20240803.csv", GOOD)
    token = csrf(view)
    answers = {
        ("retry", done): view.post(f"/console/runs/{done}/retry", data={"csrf": token}),
        ("undo", done): view.post(f"/console/runs/{done}/undo", data={"csrf": token}),
        ("status", "acme"): view.post(
            "/console/accounts/acme/status", data={"csrf": token, "status": "stopped"}
        ),
        ("poll", "acme"): view.post("/console/accounts/acme/poll", data={"csrf": token}),
        ("upload_preview", "acme"): view.post(
            "/console/accounts/acme/upload",
            data={"csrf": token},
            files={"file": ("20240804.csv", GOOD, "text/csv")},
        ),
        ("audit", ""): view.get("/console/audit"),
    }
    stop = op.post("/console/accounts/acme/status", data={"csrf": csrf(op), "status": "stopped"})
    assert {key: r.status_code for key, r in answers.items()} == dict.fromkeys(answers, 403)
    assert stop.status_code == 403
    rows = audit_rows(daemon)
    for action, target in answers:
        assert ("view", action, target, "refused", "role viewer", "127.0.0.1") in rows, action
    assert ("op", "status", "acme", "refused", "role operator", "127.0.0.1") in rows
    assert daemon.query("SELECT count(*) FROM runs WHERE filename = '20240804.csv'") == [(0,)]
    page = text_of(clients["admin"].get("/console/audit").text)
    assert "権限「閲覧者」では許されない操作" in page and "監査ログの表示" in page
    assert "role viewer" not in page


def test_refusals_of_a_role_are_audited_a_bounded_number_of_times(daemon, clients):
    view = clients["view"]
    for _ in range(NOTED + 10):
        assert view.get("/console/audit").status_code == 403
    [(count,)] = daemon.query(
        "SELECT count(*) FROM audit_log WHERE outcome = 'refused' AND detail LIKE 'role %'"
    )
    assert count == NOTED
    assert "not audited again" in daemon.log.read_text()


# -- 3. a refused 取り込む is audited as one -----------------------------------------------


def test_a_refused_confirm_is_audited_as_the_import_not_the_check(daemon, clients):
    op = clients["op"]
    r = op.post(
        "/console/accounts/acme/upload",
        data={"csrf": csrf(op)},
        files={"file": ("20240805.csv", BAD, "text/csv")},
    )
    assert r.status_code == 200
    [(preview,)] = daemon.query("SELECT id FROM runs WHERE filename = '20240805.csv'")
    daemon.wait_run(preview)
    token = csrf(op)
    r = op.post("/console/accounts/acme/upload/confirm", data={"csrf": token, "preview": preview})
    assert r.status_code == 409
    r = op.post("/console/accounts/acme/upload/confirm", data={"csrf": token, "preview": "nope"})
    assert r.status_code == 404
    mine = [row[1:5] for row in audit_rows(daemon) if row[0] == "op" and row[3] == "refused"]
    assert ("upload", "acme", "refused", "console.upload.not_importable") in mine
    assert ("upload", "acme", "refused", "no preview nope") in mine
    assert ("upload_preview", "acme", "refused", "console.upload.not_importable") not in mine
    page = text_of(clients["admin"].get("/console/audit").text)
    assert "確認の実行 nope が見つかりません" in page


# -- 4. a long cell value in the error table ----------------------------------------------


def test_a_long_value_is_shortened_in_the_error_table_and_its_length_said_once(daemon, clients):
    value = "あ" * 5000
    run_id = mailed(daemon, "20240806.csv", csv_bytes([f"3,2024/05/03,1,{value}"]))
    [(said,)] = daemon.query("SELECT message FROM run_errors WHERE run_id = ?", (run_id,))
    assert said.count("全5,000文字") == 1, said
    assert said.endswith("3,000文字を超えています"), said
    page = clients["view"].get(f"/console/runs/{run_id}").text
    table = page.split('<table class="errors">')[1].split("</table>")[0]
    cells = re.findall(r"<td([^>]*)>(.*?)</td>", table, re.DOTALL)
    attributes, shown = cells[2]
    assert shown == "あ" * 40 + "…(全5,000文字)"
    assert f'title="{value}"' in attributes
    assert table.count(value) == 1  # the title alone


def test_chromium_keeps_the_error_tables_columns_readable_beside_a_long_value(
    daemon, clients, browser
):
    run_id = mailed(daemon, "20240807.csv", csv_bytes([f"4,2024/05/04,1,{'い' * 5000}"]))
    context = browser_as(browser, daemon, clients["view"], viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        page.goto(f"/console/runs/{run_id}")
        problem = page.locator("table.errors tbody td").nth(3)
        assert problem.evaluate("td => td.getBoundingClientRect().width") > 150
    finally:
        context.close()


# -- 5. a report still waiting ------------------------------------------------------------


def waiting_report(d: Daemon) -> str:
    run_id = mailed(d, "20240808.csv", GOOD, to="wait")
    deadline = time.monotonic() + 15
    while not d.query(
        "SELECT 1 FROM run_reports WHERE run_id = ? AND attempts > 0 AND last_answer != ''",
        (run_id,),
    ):
        assert time.monotonic() < deadline, "the report was never tried"
        time.sleep(0.1)
    return run_id


def test_a_report_still_waiting_is_not_shown_as_failed(daemon, clients):
    run_id = waiting_report(daemon)
    assert daemon.run(run_id)["report_state"] == "queued"
    page = clients["admin"].get(f"/console/runs/{run_id}").text
    row = re.search(r"<tr><th>送信</th><td>(.*?)</td></tr>", page, re.DOTALL).group(1)
    assert "送信待ち" in row and "s-failed" not in row and 'class="state s-waiting"' in row


def test_chromium_wraps_a_long_relay_answer_on_a_phone(daemon, clients, browser):
    run_id = waiting_report(daemon)
    context = browser_as(browser, daemon, clients["admin"], viewport={"width": 390, "height": 800})
    try:
        page = context.new_page()
        page.goto(f"/console/runs/{run_id}")
        assert "busy_busy" in page.locator("main").inner_text()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, width
    finally:
        context.close()


# -- 6. a run set aside as unreadable ------------------------------------------------------


def test_a_run_set_aside_as_unreadable_offers_no_retry_and_no_file_named_data(daemon, clients):
    importer = import_process(daemon)
    pause(importer)  # the file must wait while its description is damaged
    try:
        _, code, reply = send(daemon.smtp_port, mail([("20240809.csv", GOOD)]))
        assert code == 250, reply
        (run_id,) = queued_ids(reply)
        item = daemon.data_dir / "spool" / "incoming" / run_id
        with open(item, "r+b") as f:
            f.seek(-8, os.SEEK_END)
            f.write(b"\xff" * 8)
    finally:
        os.kill(importer, signal.SIGCONT)
    assert daemon.wait_run(run_id)["account"] == ""
    aside = daemon.data_dir / "spool" / "failed" / run_id
    # As a claimed item is set aside: a folder holding its data.
    data = aside.read_bytes()
    aside.unlink()
    aside.mkdir()
    (aside / "data").write_bytes(data)
    admin = clients["admin"]
    page = admin.get(f"/console/runs/{run_id}").text
    assert f"/console/runs/{run_id}/retry" not in page
    assert f"/console/runs/{run_id}/file" not in page
    r = admin.post(f"/console/runs/{run_id}/retry", data={"csrf": csrf(admin)})
    assert r.status_code == 409  # what the button would only have got


# -- 7. an expired session on a filtered list ---------------------------------------------


def test_an_expired_session_on_a_filtered_list_comes_back_to_it_after_login(daemon, browser):
    r = httpx.get(
        f"{daemon.api}/console/runs/table?state=failed&channel=mail", headers={"HX-Request": "true"}
    )
    assert r.status_code == 204
    target = parse_qs(urlsplit(r.headers["hx-redirect"]).query)["next"]
    assert target == ["/console/runs?state=failed&channel=mail"]
    mine = login(daemon.api, "view")
    context = browser_as(browser, daemon, mine)
    try:
        page = context.new_page()
        page.goto("/console/runs?state=failed&channel=mail")
        mine.post("/console/logout", data={"csrf": csrf(mine)})  # the session ends
        page.wait_for_url(re.compile(r"/console/login\?next="), timeout=15_000)
        page.fill('input[name="user"]', "view")
        page.fill('input[name="password"]', PASSWORD)
        page.get_by_role("button", name="ログイン").click()
        page.wait_for_url(re.compile(r"/console/runs\?"), timeout=15_000)
        assert parse_qs(urlsplit(page.url).query) == {"state": ["failed"], "channel": ["mail"]}
    finally:
        context.close()
        mine.close()


# -- 8. smaller ----------------------------------------------------------------------------


def test_a_stopped_accounts_page_offers_no_upload_and_says_why(daemon, clients):
    op = clients["op"]
    page = op.get("/console/accounts/halt").text
    assert 'action="/console/accounts/halt/upload"' not in page
    assert "停止中のため、今すぐチェックとアップロードはできません" in text_of(page)
    active = op.get("/console/accounts/acme").text
    assert 'action="/console/accounts/acme/upload"' in active
    assert "停止中のため" not in active


def test_chromium_asks_for_no_missing_favicon(daemon, clients, browser):
    assert httpx.get(f"{daemon.api}/favicon.ico").status_code in (200, 204)
    context = browser_as(browser, daemon, clients["view"])
    missing: list[str] = []
    try:
        page = context.new_page()
        page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
        page.goto("/console/")
        page.wait_for_timeout(1500)
    finally:
        context.close()
    assert missing == []


def test_the_runs_export_says_which_runs_were_dry_runs(daemon, clients):
    op = clients["op"]
    r = op.post(
        "/console/accounts/acme/upload",
        data={"csrf": csrf(op)},
        files={"file": ("20240810.csv", GOOD, "text/csv")},
    )
    assert r.status_code == 200
    mailed(daemon, "20240811.csv", GOOD)
    export = op.get("/console/runs/export.csv?filename=2024081")
    rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))
    column = rows[0].index("試行のみ")
    by_file = {row[rows[0].index("ファイル")]: row[column] for row in rows[1:]}
    assert by_file == {"20240810.csv": "はい", "20240811.csv": "いいえ"}


def test_a_hidden_character_in_a_run_id_is_shown_by_its_code_point(daemon, clients):
    r = clients["view"].get("/console/runs/abc%E2%80%AEdef")
    assert r.status_code == 404
    assert "\u202e" not in r.text
    assert 'abc<span class="ctl">U+202E</span>def' in r.text


def test_an_undone_run_is_marked_in_the_list_and_the_export(daemon, clients):
    """It still read 完了 3 / 3, with nothing to tell its rows were taken back."""
    run_id = mailed(daemon, "20240812.csv", GOOD)
    undone = httpx.post(f"{daemon.api}/api/v1/runs/{run_id}/undo", headers=ADMIN, timeout=60)
    assert undone.status_code == 201, undone.text
    op = clients["op"]
    listed = op.get("/console/runs?filename=20240812").text
    [row] = [tr for tr in listed.split("</tr>") if f"/console/runs/{run_id}" in tr]
    assert '<span class="tag">取消済み</span>' in row
    export = op.get("/console/runs/export.csv?filename=20240812")
    rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))
    column = rows[0].index("取消した実行")
    by_id = {row[0]: row[column] for row in rows[1:]}
    assert by_id[run_id] == undone.json()["id"]
