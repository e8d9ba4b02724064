"""Sends and calls where the request, the name or the limits go wrong: a request that
can never be sent fails at once, a name is one path segment, a send removed while it
retries is still reported, max_bytes bounds the whole request, a row too wide is named,
and a run's words fit what happened; a send counts its parts as they are answered, an
ended one is final in every view, an empty `where` value finds the empty cells, a
column given twice to `--where` is refused, and a connection reset is said in words.
Real daemons, a real HTTP capture server, a real relay, the real command line."""

from __future__ import annotations

import re
import signal
import socket
import struct
import threading
import time

import httpx
import pytest

from importers.messages import message
from tests.capture import Capture
from tests.console_support import login, users_toml
from tests.postgres import database_url
from tests.support import Daemon, account, csv_bytes, env_set, renkei, write_config

ADMIN = {"Authorization": "Bearer demo-admin"}
FAST = "retry_seconds = 0.2\nmax_retry_seconds = 0.5\n"
ROWS = ["1,2024/05/16,100,a", "2,2024/05/16,200,b", "3,2024/05/17,300,c"]


def token_account(name: str) -> str:
    return account(name) + f'[accounts.{name}.api]\ntoken = "demo-{name}-token"\n'


def sends(url) -> str:
    # A GET whose URL holds a 3,000-character cell 25 times: over httpx's URL limit.
    long_params = ", ".join(f'p{i} = "{{row.note}}"' for i in range(25))
    return f"""
[calls.long_get]
after_import = ["longget"]
per = "row"
method = "GET"
url = "{url("/long_get")}"
params = {{ {long_params} }}
max_attempts = 5
{FAST}
[sends.bad_header]
layout = "performance"
account = "acme"
url = "{url("/bad_header")}"
headers = {{ X-Token = "env:RENKEI_TEST_BAD_HEADER" }}
report = "errors"
max_attempts = 5
{FAST}
[sends.small]
layout = "performance"
account = "wide"
url = "{url("/small")}"
filename = "small_{{part}}of{{parts}}.csv"
max_bytes = 1024
params = {{ masterId = "0", note = "a fairly long parameter value {{run.id}} {{today}}" }}
report = "never"
{FAST}
[sends.too_wide]
layout = "performance"
account = "toowide"
url = "{url("/too_wide")}"
max_bytes = 1024
report = "always"
report_to = "admin"
{FAST}
[sends.parts]
layout = "performance"
account = "acme"
url = "{url("/parts")}"
max_rows = 1
report = "never"
{FAST}
[sends.dated]
layout = "performance"
account = "acme"
url = "{url("/dated")}"
report = "never"
{FAST}
[sends."月次?x=1"]
layout = "performance"
account = "acme"
url = "{url("/monthly")}"
report = "never"
{FAST}
"""


@pytest.fixture(scope="module", autouse=True)
def header_secret():
    """The sends' headers read env:RENKEI_TEST_BAD_HEADER: every command that loads the config needs it."""
    with env_set(RENKEI_TEST_BAD_HEADER="日本語のトークン"):
        yield


@pytest.fixture(scope="module")
def resetting():
    """A receiver that reads the request and resets the connection (RST), answering
    nothing: what a crashed backend or a firewall does."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return  # closed: the module is done
            conn.recv(65536)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/reset"
    server.close()


@pytest.fixture(scope="module")
def daemon(tmp_path_factory, capture, module_relay):
    folder = tmp_path_factory.mktemp("sends_more")
    accounts = "".join(token_account(n) for n in ("acme", "longget", "wide", "toowide"))
    extra = 'admin_to = ["admin@example.jp"]\n' + sends(capture.url)
    config = write_config(folder, accounts, extra=extra, relay_port=module_relay.port)
    d = Daemon(config, env={"RENKEI_TEST_BAD_HEADER": "日本語のトークン"}).start()
    try:
        imported(d, "acme", ROWS)
        yield d
    finally:
        d.terminate()


def imported(daemon, who: str, rows: list[str]) -> dict:
    reply = httpx.post(
        f"{daemon.api}/api/v1/imports?wait=true",
        files={"file": ("20240516.csv", csv_bytes(rows))},
        headers={"Authorization": f"Bearer demo-{who}-token"},
        timeout=120,
    )
    assert reply.json()["state"] == "completed", reply.text
    return reply.json()


def run_view(daemon, run_id: str, count: int = 0) -> dict:
    """GET /api/v1/runs/{id}, once `count` requests (at least) are listed, none waiting."""
    deadline = time.monotonic() + 20
    while True:
        body = httpx.get(f"{daemon.api}/api/v1/runs/{run_id}", headers=ADMIN).json()
        requests = body["requests"]
        settled = len(requests) >= count and all(r["state"] != "waiting" for r in requests)
        if settled or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


def sent(daemon, name: str, where: dict | None = None) -> dict:
    reply = httpx.post(
        f"{daemon.api}/api/v1/sends/{name}",
        json={"where": where} if where is not None else None,
        headers=ADMIN,
        timeout=30,
    )
    assert reply.status_code == 202, reply.text
    daemon.wait_run(reply.json()["id"])
    return run_view(daemon, reply.json()["id"])


def send_runs(daemon) -> list[tuple]:
    return daemon.query("SELECT id, options FROM runs WHERE direction = 'send' ORDER BY id")


# -- a request that can never be sent (finding 1) ------------------------------------


def test_a_get_call_whose_url_is_too_long_fails_at_once_without_a_traceback(daemon, capture):
    run = imported(daemon, "longget", ["1,2024/05/16,1," + "n" * 3000, "2,2024/05/16,2,short"])
    requests = run_view(daemon, run["id"], count=2)["requests"]
    by_seq = {r["seq"]: r for r in requests}
    assert (by_seq[1]["state"], by_seq[1]["attempts"], by_seq[1]["status"]) == ("failed", 1, None)
    assert "このリクエストは送れないため、再試行せずに失敗としました" in by_seq[1]["answer"]
    assert "InvalidURL" in by_seq[1]["answer"]
    assert by_seq[2]["state"] == "done"  # the other row's request went
    assert len(capture.to("/long_get")) == 1
    time.sleep(1)  # a retry would be due every 0.5 s
    assert len(capture.to("/long_get")) == 1
    logged = daemon.log.read_text(errors="replace")
    assert "could not be delivered" not in logged and "Traceback" not in logged
    assert list((daemon.data_dir / "outward").iterdir()) == []  # nothing left to resume


def test_a_header_that_cannot_be_sent_fails_the_send_with_its_report(daemon, module_relay):
    run = sent(daemon, "bad_header")
    assert run["state"] == "failed"
    (request,) = run["requests"]
    assert (request["state"], request["attempts"]) == ("failed", 1)
    assert "1 件中 1 件目のリクエストが失敗しました" in run["message"]
    assert "再試行せずに失敗" in run["message"]
    (msg,) = module_relay.for_recipient("admin@example.jp", about="bad_header")
    assert "送信エラー" in msg["Subject"]
    assert "再試行せずに失敗" in msg.get_body().get_content()
    assert "Traceback" not in daemon.log.read_text(errors="replace")


# -- names (finding 2) ---------------------------------------------------------------


def test_the_command_line_keeps_a_send_name_one_path_segment(daemon):
    before = daemon.query("SELECT count(*) FROM runs")[0][0]
    for name in ("../runs/x/retry", "dated?x=1", "..", "dated/"):
        done = renkei("send", name, "--config", str(daemon.config), timeout=60)
        assert done.returncode == 1, (name, done.stdout)
        assert f"送信 {name} はありません" in done.stderr, done.stderr
        assert "取込パス" not in done.stderr
    assert daemon.query("SELECT count(*) FROM runs")[0][0] == before
    done = renkei("send", "月次?x=1", "--config", str(daemon.config), timeout=60)
    assert done.returncode == 0, done.stderr
    assert '"send": "月次?x=1"' in send_runs(daemon)[-1][1]


@pytest.mark.parametrize("section", ["sends", "calls"])
def test_check_refuses_a_send_or_call_name_no_url_can_hold(tmp_path, section):
    body = (
        '[sends."x/y?z"]\nlayout = "performance"\nurl = "http://127.0.0.1:9/x"\n'
        if section == "sends"
        else '[calls."../up"]\nafter_import = ["acme"]\nurl = "http://127.0.0.1:9/x"\n'
    )
    config = write_config(tmp_path, token_account("acme"), extra=body)
    done = renkei("check", "--config", str(config))
    assert done.returncode != 0
    name = "x/y?z" if section == "sends" else "../up"
    assert f"{section}.{name}: 名前 '{name}' は使えません" in done.stdout + done.stderr


# -- max_bytes is the request's (finding 4), a row too wide named (finding 5) --------


def test_max_bytes_bounds_the_whole_request(daemon, capture):
    imported(daemon, "wide", [f"{n},2024/05/16,{n},{'n' * 120}" for n in range(1, 11)])
    run = sent(daemon, "small")
    assert run["state"] == "completed" and run["rows_imported"] == 10
    assert len(run["requests"]) > 1
    assert all(r["bytes"] <= 1024 for r in run["requests"]), run["requests"]
    got = [r for r in capture.to("/small") if r.headers["idempotency-key"].startswith(run["id"])]
    assert len(got) == len(run["requests"])
    assert all(len(r.body) <= 1024 for r in got)


def test_a_row_wider_than_max_bytes_is_named_in_the_runs_words(daemon, capture, module_relay):
    imported(daemon, "toowide", ["7,2024/05/16,1,x", "99,2024/05/16,1," + "w" * 1100])
    run = sent(daemon, "too_wide")
    assert run["state"] == "failed" and run["requests"] == []
    text = run["message"]
    assert "2 件目の行(member_no=99)が 1118 バイトあり" in text, text
    assert "上限 1024 バイト" in text and "a row of" not in text
    assert (run["rows_total"], run["rows_imported"], run["rows_failed"]) == (2, 0, 2)
    assert capture.to("/too_wide") == []
    [mail] = module_relay.for_recipient("admin@example.jp", "too_wide")
    body = mail.get_body().get_content()
    assert "member_no=99" in body
    assert message("send.requests", "ja") not in body, body  # no heading over nothing
    # `renkei show` says its report mail as an import's: to whom, how many tries.
    shown = renkei("show", run["id"], "--config", str(daemon.config)).stdout
    assert f"{message('cli.show.report_to', 'ja')}: admin@example.jp" in shown, shown
    out = str(daemon.config.parent / "saved")
    saved = renkei("show", run["id"], "--save", out, "--config", str(daemon.config))
    assert message("cli.show.no_file", "ja") in saved.stderr, saved.stderr  # not "swept"


# -- the run's words (finding 6) -------------------------------------------------------


def test_a_finished_split_send_says_what_was_done(daemon):
    run = sent(daemon, "parts")
    assert run["state"] == "completed" and len(run["requests"]) == 3
    assert "3 回に分けて送信しました。" in run["message"], run["message"]
    assert "送ります" not in run["message"]


def test_a_failed_part_is_named_as_a_part_of_the_parts(daemon, capture):
    capture.answer("/parts", (200, {}, b"ok"), (422, {}, b"bad part"))
    run = sent(daemon, "parts")
    assert run["state"] == "failed"
    assert "3 件中 2 件目のリクエストが失敗しました(422)" in run["message"], run["message"]
    assert "3 回に分けて送信しようとしました。" in run["message"]
    assert "回目" not in run["message"]


def test_where_matches_a_date_as_stored_however_written(daemon, capture):
    run = sent(daemon, "dated", where={"date": "2024/05/16"})
    assert run["rows_total"] == 2, run["message"]
    done = renkei(
        "send", "dated", "--where", "date=2024/05/17", "--config", str(daemon.config), timeout=60
    )
    assert done.returncode == 0, done.stderr
    run_id = send_runs(daemon)[-1][0]
    assert daemon.wait_run(run_id)["rows_total"] == 1
    (got,) = [r for r in capture.to("/dated") if r.headers["idempotency-key"].startswith(run_id)]
    assert b"3,2024-05-17,300,c" in got.form()["file"].data


# -- a send removed while it retries is still reported (finding 3) --------------------


def test_a_send_removed_while_it_retries_is_still_reported(tmp_path, relay):
    capture = Capture(default=(503, {}, b"busy"))
    told = capture.retrying_send("told").replace(
        'report = "never"',
        'report = "always"\nreport_to = "both"\nexecutor_to = ["exec@example.jp"]',
    )
    quiet = capture.retrying_send("quiet")  # report = "never": the admins still hear
    extra = 'admin_to = ["admin@example.jp"]\n' + told + quiet
    config = write_config(tmp_path, token_account("acme"), extra=extra, relay_port=relay.port)
    daemon = Daemon(config).start()
    try:
        imported(daemon, "acme", ROWS)
        ids = {}
        for name in ("told", "quiet"):
            reply = httpx.post(f"{daemon.api}/api/v1/sends/{name}", headers=ADMIN, timeout=30)
            ids[name] = reply.json()["id"]
            capture.wait(f"/{name}", 2)
        config.write_text(config.read_text().replace(told, "").replace(quiet, ""))
        daemon.proc.send_signal(signal.SIGHUP)
        for run_id in ids.values():
            run = daemon.wait_run(run_id, timeout=15, states=("aborted",))
            assert (run["rows_imported"], run["rows_total"]) == (0, 3)
        for address in ("exec@example.jp", "admin@example.jp"):
            (msg,) = relay.for_recipient(address, about="told")
            assert "送信エラー" in msg["Subject"] and "強制終了" in msg.get_body().get_content()
        (msg,) = relay.for_recipient("admin@example.jp", about="quiet")
        assert "(0/3件)" in msg["Subject"] and msg["To"] == "admin@example.jp"
    finally:
        daemon.terminate()
        capture.close()


# -- a send counts its parts as they are answered ---------------------------------------


@pytest.fixture(scope="module")
def outward(tmp_path_factory, capture, module_relay, resetting):
    """A daemon of plain sends (none the config check could refuse), acme's rows in."""
    extra = f"""
[sends.progress]
layout = "performance"
account = "acme"
url = "{capture.url("/progress")}"
max_rows = 1
max_attempts = 1000
report = "never"
{FAST}
[sends.reset]
layout = "performance"
account = "acme"
url = "{resetting}"
max_attempts = 1
report = "never"

[sends.picked]
layout = "performance"
account = "acme"
url = "{capture.url("/picked")}"
report = "never"
"""
    folder = tmp_path_factory.mktemp("sends_outward")
    config = write_config(folder, token_account("acme"), extra=extra, relay_port=module_relay.port)
    d = Daemon(config).start()
    try:
        imported(d, "acme", ROWS)
        yield d
    finally:
        d.terminate()


def test_a_running_send_counts_the_parts_answered_and_what_is_still_to_go(outward, capture):
    # Part 1 is taken, part 2 answered 503 until the script is cleared: a send retrying.
    capture.answer("/progress", (200, {}, b"ok"), *[(503, {}, b"busy")] * 1000)
    reply = httpx.post(f"{outward.api}/api/v1/sends/progress", headers=ADMIN, timeout=30)
    run_id = reply.json()["id"]
    try:
        capture.wait("/progress", 3)  # part 1 answered 200, part 2 tried again
        run = httpx.get(f"{outward.api}/api/v1/runs/{run_id}", headers=ADMIN).json()
        assert run["state"] == "running"
        assert (run["rows_imported"], run["rows_failed"], run["rows_total"]) == (1, 2, 3)
        shown = renkei("show", run_id, "--config", str(outward.config), timeout=60)
        assert "送信 1 件 / 全 3 件" in shown.stdout, shown.stdout
    finally:
        capture.answer("/progress")  # the rest is answered 200
    run = outward.wait_run(run_id)
    assert (run["state"], run["rows_imported"], run["rows_failed"]) == ("completed", 3, 0)


# -- a connection reset said in words ----------------------------------------------------


def test_a_connection_reset_is_said_in_words_not_as_an_empty_read_error(outward):
    run = sent(outward, "reset")
    assert run["state"] == "failed"
    (request,) = run["requests"]
    assert request["status"] is None
    answer = request["answer"]
    assert "送信先の応答を待つ間に接続が切れました(接続が切られました)" in answer, answer
    assert "ReadError" not in answer and "通信のエラー" not in answer
    assert "送信先の応答を待つ間に接続が切れました" in run["message"]


# -- `--where` naming a column twice -------------------------------------------------------


def test_where_naming_a_column_twice_is_a_usage_error_naming_it(outward):
    before = outward.query("SELECT count(*) FROM runs")[0][0]
    done = renkei(
        "send", "picked", "--where", "member_no=1", "--where", " member_no=2",
        "--config", str(outward.config), timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "--where member_no が2回以上指定されています" in done.stderr, done.stderr
    assert outward.query("SELECT count(*) FROM runs")[0][0] == before
    config = outward.config.read_text().replace(
        'from = "renkei@example.jp"', 'from = "renkei@example.jp"\nlanguage = "en"'
    )
    english = outward.config.parent / "english.toml"
    english.write_text(config, encoding="utf-8")
    done = renkei(
        "send", "picked", "--where", "date=2024/05/16", "--where", "date=2024/05/17",
        "--config", str(english), timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "--where date was given more than once; give it once" in done.stderr, done.stderr


# -- an empty `where` value finds the empty cells --------------------------------------


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def empties(request, tmp_path_factory, capture, module_relay):
    folder = tmp_path_factory.mktemp(f"sends_empty_{request.param}")
    extra = f"""
[sends.empties]
layout = "performance"
account = "acme"
url = "{capture.url("/empties")}"
report = "never"
{FAST}"""
    urls = None
    if request.param == "postgresql":
        urls = database_url(request.getfixturevalue("postgresql_proc"))
        extra = f'[store]\nurl = "{next(urls)}"\n' + extra
    config = write_config(folder, token_account("acme"), extra=extra, relay_port=module_relay.port)
    d = Daemon(config).start()
    try:
        rows = [*ROWS, "4,2024/05/18,,d", "5,2024/05/18,500,", "6,2024/05/18,,"]
        imported(d, "acme", rows)
        yield d
    finally:
        d.terminate()
        if urls is not None:
            urls.close()


def ended_run(daemon, run_id: str) -> dict:
    """The run over the API (a PostgreSQL store is not the data_dir's file), once ended."""
    deadline = time.monotonic() + 30
    while True:
        run = httpx.get(f"{daemon.api}/api/v1/runs/{run_id}", headers=ADMIN).json()
        if run["state"] not in ("queued", "running") or time.monotonic() > deadline:
            return run
        time.sleep(0.05)


def sent_members(capture, run_id: str) -> list[str]:
    got = [r for r in capture.to("/empties") if r.headers["idempotency-key"].startswith(run_id)]
    lines = b"".join(r.form()["file"].data for r in got).decode("cp932").splitlines()
    return [line.split(",")[0] for line in lines[1:]]


@pytest.mark.parametrize(
    ("column", "members"), [("sales_amount", ["4", "6"]), ("note", ["5", "6"])]
)
def test_an_empty_where_value_finds_the_rows_whose_cell_is_empty(empties, capture, column, members):
    reply = httpx.post(
        f"{empties.api}/api/v1/sends/empties",
        json={"where": {column: ""}},
        headers=ADMIN,
        timeout=30,
    )
    assert reply.status_code == 202, reply.text
    run = ended_run(empties, reply.json()["id"])
    assert (run["state"], run["rows_total"], run["rows_imported"]) == ("completed", 2, 2), run
    assert sent_members(capture, run["id"]) == members


def test_an_empty_where_value_on_the_command_line_finds_the_empty_cells(empties, capture):
    done = renkei(
        "send", "empties", "--where", "sales_amount=", "--where", "note=",
        "--config", str(empties.config), timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    run_id = re.search(r"実行ID (\S+?)\)", done.stdout).group(1)
    run = ended_run(empties, run_id)
    assert (run["state"], run["rows_total"]) == ("completed", 1), run
    assert sent_members(capture, run_id) == ["6"]


# -- an ended send is final in every view ----------------------------------------------


def test_an_aborted_send_is_final_in_every_view(tmp_path, relay):
    capture = Capture(default=(503, {}, b"busy"))
    gone = capture.retrying_send("gone", 'account = "acme"')
    extra = users_toml({"admin": ("admin", [])}) + gone
    config = write_config(tmp_path, token_account("acme"), extra=extra, relay_port=relay.port)
    daemon = Daemon(config).start()
    try:
        imported(daemon, "acme", ROWS)
        reply = httpx.post(f"{daemon.api}/api/v1/sends/gone", headers=ADMIN, timeout=30)
        run_id = reply.json()["id"]
        capture.wait("/gone", 2)
        config.write_text(config.read_text().replace(gone, ""))
        daemon.proc.send_signal(signal.SIGHUP)
        daemon.wait_run(run_id, timeout=15, states=("aborted",))
        base = f"{daemon.api}/api/v1/runs/{run_id}"
        errors = httpx.get(f"{base}/errors.csv", headers=ADMIN)  # a send has none
        assert (errors.status_code, errors.json()["error"]) == (404, "run_is_send"), errors.text
        file = httpx.get(f"{base}/file", headers=ADMIN)
        assert (file.status_code, file.json()["error"]) == (404, "file_not_kept"), file.text
        shown = renkei("show", run_id, "--save", str(tmp_path / "saved"), "--config", str(config))
        assert "取込待ち" not in shown.stderr and "スプール" not in shown.stderr, shown.stderr
        assert "この実行はファイルを受け取っていません(送信か取消の実行です)" in shown.stderr, (
            shown.stderr
        )
        console = login(daemon.api, "admin")
        home = console.get("/console/").text
        console.close()
        # Today's table: the account, a column per state, the next check.
        head = home.split('class="today"')[1].split("</thead>")[0]
        states = re.findall(r"<th>([^<]*)</th>", head)[1:-1]
        row = home.split('href="/console/accounts/acme"')[1].split("</tr>")[0]
        cells = dict(zip(states, re.findall(r'<td class="num">(.*?)</td>', row), strict=True))
        assert cells["中断(再実行待ち)"] == "0", cells
        assert ">1</a>" in cells["強制終了"], cells
        assert "state=aborted&amp;channel=send" in cells["強制終了"]
    finally:
        daemon.terminate()
        capture.close()
