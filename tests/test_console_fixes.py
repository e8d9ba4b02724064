"""Console fixes against the real daemon, driven with httpx: the 取込待ち figures agree
with the list they link to, for an admin and a limited user, while files wait in the
spool; a run's page counts the rows with errors and says when its list is cut; an undo
run, or a mail without a CSV, says nothing of a received file or an error CSV; a monthly
expectation on the last day in words; long names wrap; and `..` is no run."""

from __future__ import annotations

import html
import os
import re
import signal
import time
from contextlib import contextmanager

import httpx
import pytest

from tests.console_support import USERS, console_daemon, csrf, logged_in
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
    send_as,
)

ACCOUNTS = (
    account("acme", filename="any")
    + account("beta")
    + account("gamma")
    + '[accounts.gamma.expect]\nday = "last"\nby = "00:01"\n'
)
GOOD = csv_bytes(["1,2024/05/01,1,a"])
LONG_NAME = "20240801" + "x" * 200 + ".csv"
LONG_USER = "u" * 200


@pytest.fixture(scope="module")
def daemon(tmp_path_factory, module_relay):
    folder = tmp_path_factory.mktemp("console-fixes")
    yield from console_daemon(folder, ACCOUNTS, module_relay.port)


@pytest.fixture(scope="module")
def clients(daemon):
    yield from logged_in(daemon, USERS)


def text_of(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def mailed(d: Daemon, name: str, data: bytes) -> str:
    _, _, reply = send(d.smtp_port, mail([(name, data)]))
    return d.wait_run(queued_ids(reply)[0])["id"]


@contextmanager
def importer_paused(d: Daemon):
    """The import process stopped (SIGSTOP) once idle: what is spooled meanwhile waits
    in the spool, its run not recorded yet (SQLite records it when the file is taken)."""
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


def waiting_card(page: str) -> int:
    found = re.search(r'href="/console/runs\?state=queued"><span class="n">(\d+)</span>', page)
    assert found is not None, page
    return int(found.group(1))


def queued_cell(page: str, name: str) -> str:
    """The 待機中 cell of the account's row of 今日の実行 (the first state column)."""
    row = re.search(
        rf'<tr><td><a href="/console/accounts/{name}">{name}</a></td>(.*?)</tr>', page, re.DOTALL
    )
    assert row is not None, page
    return text_of(re.findall(r"<td[^>]*>(.*?)</td>", row.group(1))[0]).strip()


def listed(client: httpx.Client, query: str) -> tuple[int, set[str]]:
    page = client.get(f"/console/runs?{query}").text
    total = int(re.search(r'<p class="count">(\d+) 件</p>', page).group(1))
    return total, set(re.findall(r'<tr data-run="([^"]+)"', page))


# -- 1. the 取込待ち figures agree with the list they link to ---------------------------


def test_files_waiting_in_the_spool_are_counted_and_listed_alike(daemon, clients):
    op, admin = clients["op"], clients["admin"]
    with importer_paused(daemon):
        acme = []
        for n in range(3):
            _, _, reply = send(daemon.smtp_port, mail([(f"2024090{n + 1}.csv", GOOD)]))
            acme += queued_ids(reply)
        _, _, reply = send_as(daemon.smtp_port, "beta", [("20240904.csv", GOOD)])
        beta = queued_ids(reply)
        # Not recorded yet: on SQLite the importer records a run when it takes its file.
        assert daemon.query("SELECT count(*) FROM runs WHERE state = 'queued'") == [(0,)]

        home = op.get("/console/").text
        assert waiting_card(home) == 3
        assert queued_cell(home, "acme") == "3"
        assert listed(op, "state=queued") == (3, set(acme))
        day = re.search(r"state=queued&amp;since=([0-9-]+)", home).group(1)
        assert listed(op, f"account=acme&state=queued&since={day}&until={day}") == (3, set(acme))
        assert listed(op, "")[1] >= set(acme)
        assert listed(op, "state=completed")[1].isdisjoint(acme)
        assert listed(op, "filename=20240902")[1] == {acme[1]}

        home = admin.get("/console/").text
        assert waiting_card(home) == 4
        assert queued_cell(home, "beta") == "1"
        assert listed(admin, "state=queued") == (4, set(acme + beta))
        assert listed(clients["betaop"], "state=queued") == (1, set(beta))
    for run_id in acme + beta:
        daemon.wait_run(run_id)
    assert waiting_card(op.get("/console/").text) == 0
    assert listed(op, "state=queued") == (0, set())


# -- 2. the rows with errors, and the list cut at the first 1,000 -----------------------


def test_a_runs_page_counts_its_failed_rows_and_says_the_list_is_cut(daemon, clients):
    rows = [f"{n},2024/05/01,x,a" for n in range(1, 5001)]
    run_id = mailed(daemon, "20240810.csv", csv_bytes(rows))
    assert daemon.run(run_id)["rows_failed"] == 5000
    view = clients["view"]
    page = text_of(view.get(f"/console/runs/{run_id}").text)
    assert "エラーの行(5000 件)" in page and "エラーの行(1000 件)" not in page
    assert "先頭の 1000 件のエラーを表示しています。すべてのエラーはエラーCSVにあります" in page
    view.get("/console/lang/en")
    try:
        english = text_of(view.get(f"/console/runs/{run_id}").text)
    finally:
        view.cookies.delete("renkei_lang")
    assert "Row errors (5000)" in english
    assert "The first 1000 errors are shown; the error CSV holds them all" in english

    few = mailed(daemon, "20240811.csv", csv_bytes(["1,2024/05/01,x,a", "2,2024/05/01,1,a"]))
    page = text_of(view.get(f"/console/runs/{few}").text)
    assert "エラーの行(1 件)" in page and "先頭の" not in page


# -- 3. no received file, nor error CSV, for a run that never had them ------------------


def actions(page: str) -> str:
    return re.search(r'<div class="actions">(.*?)</div>', page, re.DOTALL).group(1)


def test_an_undo_run_says_nothing_of_a_received_file(daemon, clients):
    op = clients["op"]
    done = mailed(daemon, "20240820.csv", csv_bytes(["820,2024/08/20,1,a"]))
    r = op.post(f"/console/runs/{done}/undo", data={"csrf": csrf(op)})
    assert r.status_code == 303, r.text
    undo = re.match(r"/console/runs/([^?]+)", r.headers["location"]).group(1)
    assert daemon.run(undo)["undo_of"] == done and not daemon.run(undo)["error_report"]
    page = op.get(f"/console/runs/{undo}").text
    assert "受信ファイル" not in text_of(actions(page)), actions(page)
    assert "errors.csv" not in page and 'hx-trigger="every 2s"' not in page
    # The undone run still offers its own.
    page = op.get(f"/console/runs/{done}").text
    assert f'href="/console/runs/{done}/errors.csv"' in page


def test_a_mail_without_a_csv_says_nothing_of_a_received_file(daemon, clients):
    _, _, reply = send(daemon.smtp_port, mail([]))
    run = daemon.wait_run(queued_ids(reply)[0])
    assert not run["error_report"] and not run["sha256"]
    page = clients["op"].get(f"/console/runs/{run['id']}").text
    assert "受信ファイル" not in text_of(actions(page)), actions(page)
    assert "errors.csv" not in page and 'hx-trigger="every 2s"' not in page


# -- 4. a monthly expectation on the last day -------------------------------------------


def test_an_expectation_on_the_last_day_is_said_in_words(daemon, clients):
    admin = clients["admin"]
    page = text_of(admin.get("/console/accounts/gamma").text)
    assert "毎月末日 00:01 まで" in page and "last" not in page
    admin.get("/console/lang/en")
    try:
        english = text_of(admin.get("/console/accounts/gamma").text)
    finally:
        admin.cookies.delete("renkei_lang")
    assert "on the last day of each month by 00:01" in english and "day last" not in english


# -- 5. long names wrap --------------------------------------------------------------


def test_long_names_wrap_on_the_run_page_and_in_the_audit_log(daemon, clients):
    css = httpx.get(f"{daemon.api}/console/static/console.css").text
    assert re.search(r"\.wrap \{ overflow-wrap: anywhere; \}", css)
    run_id = mailed(daemon, LONG_NAME, GOOD)
    page = clients["view"].get(f"/console/runs/{run_id}").text
    assert re.search(rf'<h1 class="wrap">[^<]*{LONG_NAME}</h1>', page)
    assert re.search(rf'<table class="fields wrap">.*?<td>{LONG_NAME}</td>', page, re.DOTALL)
    with httpx.Client(base_url=daemon.api) as stranger:
        token = re.search(r'name="token" value="([^"]+)"', stranger.get("/console/login").text)
        form = {"user": LONG_USER, "password": "x", "token": token.group(1)}
        assert stranger.post("/console/login", data=form).status_code == 401
    audit = clients["admin"].get("/console/audit").text
    assert re.search(rf'<table class="audit wrap">.*?<td>{LONG_USER}</td>', audit, re.DOTALL)


# -- 6. `..` is no run ----------------------------------------------------------------


@pytest.mark.parametrize("name", ["%2e%2e", "%2e", "20240101T000000000000-abcdeg"])
def test_a_name_that_is_no_run_id_is_a_404(daemon, clients, name):
    op = clients["op"]
    url = httpx.URL(daemon.api).copy_with(raw_path=f"/console/runs/{name}".encode())
    r = op.get(url)
    assert r.status_code == 404, r.text
    assert "取込の開始を待っています" not in r.text


def test_a_waiting_runs_page_is_shown_to_whom_may_see_its_account_alone(daemon, clients):
    """Its "waiting to be imported" page was shown to a viewer of another account,
    before the check the run's own page makes (404)."""
    with importer_paused(daemon):
        _, _, reply = send_as(daemon.smtp_port, "beta", [("20240905.csv", GOOD)])
        [beta] = queued_ids(reply)
        for name in ("view", "op"):
            assert clients[name].get(f"/console/runs/{beta}").status_code == 404, name
        for name in ("admin", "betaop"):
            waiting = clients[name].get(f"/console/runs/{beta}")
            assert waiting.status_code == 200 and beta in waiting.text, name
    daemon.wait_run(beta)
