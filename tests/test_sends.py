"""Sends ([sends.NAME]) against real daemons and a real HTTP capture server: the wire
shape of each option, retries, a crash in the middle, splitting, triggers, report mail,
and round trips into renkei's own receiving examples."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import http.server
import io
import json
import os
import re
import signal
import threading
import time
import zoneinfo
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.capture import Capture
from tests.console_support import login, users_toml
from tests.support import (
    ROOT,
    Daemon,
    account,
    csv_bytes,
    env_set,
    free_port,
    import_process,
    pause,
    queued_ids,
    renkei,
    send_as,
    served,
    write_config,
)

ADMIN = {"Authorization": "Bearer demo-admin"}
ACME = {"Authorization": "Bearer demo-acme-token"}
SECRET = "s3cret-from-env"
RUN_ID = re.compile(r"\d{8}T\d+-[0-9a-f]{6}")
ACME_ROWS = ["1,2024/05/16,100,日本語の備考", "2,2024/05/16,200,keep", "3,2024/05/16,300,keep"]
FAST = "retry_seconds = 0.2\nmax_retry_seconds = 1\n"


ACME_ACCOUNT = account("acme") + '[accounts.acme.api]\ntoken = "demo-acme-token"\n'


def imported_by_acme(daemon, name: str = "20240516.csv", data: bytes | None = None) -> dict:
    """`data` (ACME_ROWS) imported over the API as acme; the finished run."""
    reply = httpx.post(
        f"{daemon.api}/api/v1/imports?wait=true",
        files={"file": (name, csv_bytes(ACME_ROWS) if data is None else data)},
        headers=ACME,
        timeout=60,
    )
    return reply.json()


def today() -> str:
    return dt.datetime.now(zoneinfo.ZoneInfo("Asia/Tokyo")).strftime("%Y%m%d")


def sends(url) -> str:
    """The module daemon's sends, each to its own path of the capture server."""
    closed_port = free_port()  # nothing listens there
    return f"""
[sends.form]
layout = "performance"
account = "acme"
url = "{url("/form")}"
headers = {{ "X-RS-apitoken" = "env:RENKEI_TEST_SEND_TOKEN", "X-Plain" = "plain" }}
params = {{ masterId = "0", who = "{{account}}" }}
file_field = "uploadFile"
filename = "sales_{{today}}.csv"
encoding = "cp932"
columns = ["sales_amount", "member_no", "note"]
labels = {{ member_no = "会員番号", sales_amount = "売上金額" }}
report = "never"
{FAST}
[sends.json]
layout = "performance"
account = "acme"
url = "{url("/json")}"
body = "json"
json_field = "settings"
params = {{ masterId = "0", who = "{{account}}" }}
header = false
encoding = "utf-8"
report = "never"
{FAST}
[sends.kept]
layout = "performance"
account = "acme"
where = {{ note = "keep" }}
url = "{url("/kept")}"
report = "never"
{FAST}
[sends.fwd]
layout = "performance"
after_import = ["fwd"]
rows = "run"
url = "{url("/fwd")}"
params = {{ acct = "{{account}}", src = "{{file}}", run = "{{run.id}}" }}
filename = "fwd_{{run.id}}.csv"
report = "never"
{FAST}
[sends.retry]
layout = "performance"
account = "acme"
url = "{url("/retry")}"
report = "never"
{FAST}
[sends.bad]
layout = "performance"
account = "acme"
url = "{url("/bad")}"
report = "never"
{FAST}
[sends.bulk]
layout = "performance"
account = "bulk"
url = "{url("/bulk")}"
filename = "bulk_{{part}}of{{parts}}.csv"
report = "never"
{FAST}
[sends.rep_always]
layout = "performance"
account = "acme"
url = "{url("/rep_always")}"
report = "always"
{FAST}
[sends.rep_errors]
layout = "performance"
account = "acme"
url = "{url("/rep_errors")}"
report = "errors"
{FAST}
[sends.rep_executor]
layout = "performance"
account = "acme"
url = "{url("/rep_executor")}"
report = "always"
report_to = "executor"
executor_to = ["boss@example.jp"]
{FAST}
[sends.put]
layout = "performance"
account = "acme"
method = "PUT"
url = "{url("/put")}"
report = "never"
{FAST}
[sends.exhaust]
layout = "performance"
account = "acme"
url = "{url("/exhaust")}"
report = "never"
max_attempts = 2
{FAST}
[sends.unreachable]
layout = "performance"
account = "acme"
url = "http://127.0.0.1:{closed_port}/nothing"
report = "never"
max_attempts = 2
timeout = 5
{FAST}
[sends.split]
layout = "performance"
account = "split"
url = "{url("/split")}"
max_bytes = 1024
report = "never"
{FAST}
[sends.split_fail]
layout = "performance"
account = "split"
url = "{url("/split_fail")}"
max_bytes = 1024
report = "never"
{FAST}
[sends.huge]
layout = "performance"
account = "huge"
url = "{url("/huge")}"
max_bytes = 1024
report = "never"
{FAST}
[sends.fwd_report]
layout = "performance"
after_import = ["fwdrep"]
rows = "run"
url = "{url("/fwd_report")}"
report = "always"
report_to = "executor"
{FAST}
[sends.sched]
layout = "performance"
account = "acme"
url = "{url("/sched")}"
report = "never"
schedule = {{ weekdays = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], window = "00:00-23:59", interval = "5m" }}
{FAST}
"""


ACCOUNTS = (
    account("acme")
    + '[accounts.acme.api]\ntoken = "demo-acme-token"\n'
    + account("fwd")
    + account("bulk")
    + '[accounts.bulk.api]\ntoken = "demo-bulk-token"\n'
    + "[accounts.bulk.limits]\nmax_rows = 30000\nmax_bytes = 5000000\n"
    + "".join(
        account(name) + f'[accounts.{name}.api]\ntoken = "demo-{name}-token"\n'
        for name in ("split", "huge", "fwdrep")
    )
)


@pytest.fixture(scope="module", autouse=True)
def header_secret():
    """The sends' headers read env:RENKEI_TEST_SEND_TOKEN: every command that loads the config needs it."""
    with env_set(RENKEI_TEST_SEND_TOKEN=SECRET):
        yield


@pytest.fixture(scope="module")
def daemon(tmp_path_factory, capture, module_relay):
    folder = tmp_path_factory.mktemp("sends")
    extra = 'admin_to = ["admin@example.jp"]\n' + sends(capture.url)
    config = write_config(folder, ACCOUNTS, extra=extra, relay_port=module_relay.port)
    d = Daemon(config, env={"RENKEI_TEST_SEND_TOKEN": SECRET}).start()
    try:
        reply = httpx.post(
            f"{d.api}/api/v1/imports?wait=true",
            files={"file": ("20240516.csv", csv_bytes(ACME_ROWS))},
            headers=ACME,
            timeout=60,
        )
        assert reply.json()["state"] == "completed", reply.text
        yield d
    finally:
        d.terminate()


def api_import(daemon, who: str, rows: list[str], name: str = "20240516.csv") -> dict:
    reply = httpx.post(
        f"{daemon.api}/api/v1/imports?wait=true",
        files={"file": (name, csv_bytes(rows))},
        headers={"Authorization": f"Bearer demo-{who}-token"},
        timeout=120,
    )
    assert reply.json()["state"] == "completed", reply.text
    return reply.json()


def send_now(daemon, name: str, where: dict | None = None, headers=ADMIN) -> httpx.Response:
    body = {"where": where} if where is not None else None
    return httpx.post(f"{daemon.api}/api/v1/sends/{name}", json=body, headers=headers, timeout=30)


def sent(daemon, name: str, where: dict | None = None, headers=ADMIN) -> dict:
    """Send `name` by hand; its finished run with its requests."""
    reply = send_now(daemon, name, where, headers)
    assert reply.status_code == 202, reply.text
    run_id = reply.json()["id"]
    daemon.wait_run(run_id)
    return run_view(daemon, run_id, headers)


def run_view(daemon, run_id: str, headers=ADMIN) -> dict:
    """GET /api/v1/runs/{id}, once every request listed has its final state."""
    deadline = time.monotonic() + 15
    while True:
        body = httpx.get(f"{daemon.api}/api/v1/runs/{run_id}", headers=headers).json()
        if all(r["state"] != "waiting" for r in body["requests"]) or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


def of_run(capture, path: str, run_id: str) -> list:
    key = re.compile(rf"^{re.escape(run_id)}-\d+$")
    return [r for r in capture.to(path) if key.match(r.headers.get("idempotency-key", ""))]


def csv_lines(data: bytes, encoding: str) -> list[str]:
    text = data.decode(encoding)
    assert text.endswith("\r\n")
    return text[:-2].split("\r\n")


# -- the wire shape, one option at a time --------------------------------------------


def test_form_data_params_file_field_filename_cp932_header_columns_labels(daemon, capture):
    run = sent(daemon, "form")
    assert run["state"] == "completed" and run["direction"] == "send"
    assert (run["channel"], run["rows_total"], run["rows_imported"]) == ("send", 3, 3)
    (request,) = of_run(capture, "/form", run["id"])
    assert request.method == "POST"
    assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
    form = request.form()
    assert list(form) == ["masterId", "who", "uploadFile"]
    assert (form["masterId"].text, form["who"].text) == ("0", "acme")
    upload = form["uploadFile"]
    assert upload.filename == f"sales_{today()}.csv"
    assert re.fullmatch(r"sales_\d{8}\.csv", upload.filename)
    with pytest.raises(UnicodeDecodeError):
        upload.data.decode("utf-8")
    assert csv_lines(upload.data, "cp932") == [
        "売上金額,会員番号,note",  # the order of `columns`, the `labels`, else the name
        "100,1,日本語の備考",
        "200,2,keep",
        "300,3,keep",
    ]


def test_headers_env_resolved_and_idempotency_key(daemon, capture):
    run = sent(daemon, "form")
    (request,) = of_run(capture, "/form", run["id"])
    assert request.headers["x-rs-apitoken"] == SECRET  # env:NAME read from the environment
    assert request.headers["x-plain"] == "plain"
    assert request.headers["idempotency-key"] == f"{run['id']}-1"
    assert SECRET not in json.dumps(run)  # the secret is not logged with the request


def test_json_body_utf8_without_header(daemon, capture):
    run = sent(daemon, "json")
    assert run["state"] == "completed"
    (request,) = of_run(capture, "/json", run["id"])
    form = request.form()
    assert list(form) == ["settings", "file"]  # json_field, then the default file field
    assert json.loads(form["settings"].text) == {"masterId": "0", "who": "acme"}
    assert form["file"].filename == f"{today()}.csv"  # the default file name
    assert csv_lines(form["file"].data, "utf-8") == [
        "1,2024-05-16,100,日本語の備考",
        "2,2024-05-16,200,keep",
        "3,2024-05-16,300,keep",
    ]


def test_where_in_the_config_and_by_hand(daemon, capture):
    run = sent(daemon, "kept")
    (request,) = of_run(capture, "/kept", run["id"])
    lines = csv_lines(request.form()["file"].data, "utf-8")
    assert lines == [
        "member_no,date,sales_amount,note",
        "2,2024-05-16,200,keep",
        "3,2024-05-16,300,keep",
    ]
    assert run["rows_total"] == 2
    run = sent(daemon, "kept", where={"member_no": "3"})  # both filters apply
    (request,) = of_run(capture, "/kept", run["id"])
    assert csv_lines(request.form()["file"].data, "utf-8")[1:] == ["3,2024-05-16,300,keep"]


# -- retries and failures ----------------------------------------------------------


def test_503_with_retry_after_then_200(daemon, capture):
    capture.answer("/retry", (503, {"Retry-After": "1"}, b"busy"), (200, {}, b"taken"))
    run = sent(daemon, "retry")
    assert run["state"] == "completed"
    (request,) = run["requests"]
    assert (request["attempts"], request["status"], request["state"]) == (2, 200, "done")
    assert request["answer"] == "taken"
    got = of_run(capture, "/retry", run["id"])
    assert [r.status for r in got] == [503, 200]
    assert {r.headers["idempotency-key"] for r in got} == {f"{run['id']}-1"}
    assert got[0].body == got[1].body  # the spooled request, byte for byte


def test_400_fails_at_once_and_keeps_the_answer(daemon, capture):
    capture.answer("/bad", (400, {}, "列が不正です: masterId".encode()))
    run = sent(daemon, "bad")
    assert run["state"] == "failed"
    (request,) = run["requests"]
    assert (request["attempts"], request["status"], request["state"]) == (1, 400, "failed")
    assert request["answer"] == "列が不正です: masterId"
    assert "400" in run["message"] and "失敗" in run["message"]
    assert (run["rows_imported"], run["rows_failed"]) == (0, 3)
    assert len(of_run(capture, "/bad", run["id"])) == 1


def test_a_killed_daemon_resumes_the_send(tmp_path):
    capture = Capture(default=(503, {}, b"busy"))
    extra = capture.retrying_send("resume") + capture.retrying_send("halted", "max_rows = 2")
    accounts = ACME_ACCOUNT
    config = write_config(tmp_path, accounts, extra=extra)
    daemon = Daemon(config)
    try:
        daemon.start()
        assert imported_by_acme(daemon)["state"] == "completed"
        run_id = send_now(daemon, "resume").json()["id"]
        halted_id = send_now(daemon, "halted").json()["id"]
        capture.wait("/resume", 2)
        capture.wait("/halted", 1)
        daemon.kill()
        assert daemon.run(run_id)["state"] == "running"
        # The process died right after part 1 of `halted` was refused for good (its
        # state written), before the parts after it were marked skipped.
        spooled = tmp_path / "var" / "outward" / halted_id / "job.json"
        job = json.loads(spooled.read_text())
        assert [r["state"] for r in job["requests"]] == ["waiting", "waiting"]
        # Its progress is a log beside the job, each change a line (outward/jobs.py).
        refused = {"seq": job["requests"][0]["seq"], "state": "failed", "attempts": 1}
        refused |= {"next_try": 0, "status": 400, "answer": "bad"}
        with open(spooled.with_name("progress"), "a") as log:
            log.write(json.dumps(refused) + "\n")
        before = len(capture.to("/halted"))
        capture.default = (200, {}, b"ok")
        daemon.start()
        run = daemon.wait_run(run_id)
        assert (run["state"], run["rows_imported"]) == ("completed", 3)
        got = capture.to("/resume")
        assert [r.status for r in got].count(200) == 1
        assert {r.headers["idempotency-key"] for r in got} == {f"{run_id}-1"}
        halted = daemon.wait_run(halted_id)
        assert (halted["state"], halted["rows_imported"]) == ("failed", 0)
        assert len(capture.to("/halted")) == before  # part 2 never went after part 1 failed
        logged = run_view(daemon, halted_id)["requests"]
        assert [(r["state"], r["status"]) for r in logged] == [("failed", 400), ("skipped", None)]
        deadline = time.monotonic() + 15
        while list((tmp_path / "var" / "outward").iterdir()):  # the job is done with
            assert time.monotonic() < deadline, "the finished job stayed spooled"
            time.sleep(0.05)
    finally:
        if daemon.proc is not None and daemon.proc.poll() is None:
            daemon.terminate()
        capture.close()


def test_a_crash_between_an_imports_commit_and_its_forwarding_forwards_at_the_start(
    tmp_path,
):
    """The import process commits; the daemon dies before it has spooled the sends and
    calls that follow the import. They were lost for good; now the run says they are
    pending, and the next start sends them, once."""
    capture = Capture()
    extra = f"""
[sends.after]
layout = "performance"
after_import = ["acme"]
rows = "run"
url = "{capture.url("/after")}"
params = {{ run = "{{run.id}}" }}
report = "never"
{FAST}"""
    daemon = Daemon(write_config(tmp_path, account("acme"), extra=extra))
    try:
        daemon.start()
        worker = import_process(daemon)
        pause(worker)
        _, code, reply = send_as(daemon.smtp_port, "acme", [("20240516.csv", csv_bytes(ACME_ROWS))])
        assert code == 250, reply
        [run_id] = queued_ids(reply)
        pause(daemon.proc.pid)  # the daemon hears nothing of what the worker does now
        os.kill(worker, signal.SIGCONT)
        run = daemon.wait_run(run_id)
        assert (run["state"], run["forward_state"]) == ("completed", "pending")
        daemon.kill()
        assert capture.to("/after") == []
        daemon.start()
        [got] = capture.wait("/after", 1)
        assert got.form()["run"].text == run_id
        deadline = time.monotonic() + 15
        while daemon.run(run_id)["forward_state"] != "done":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(1)  # a second start of the same send would have sent by now
        assert len(capture.to("/after")) == 1
        sends = daemon.query("SELECT count(*) FROM runs WHERE direction = 'send'")
        assert sends == [(1,)]
    finally:
        if daemon.proc is not None and daemon.proc.poll() is None:
            daemon.terminate()
        capture.close()


class _Trickle(http.server.BaseHTTPRequestHandler):
    """Answers 200 and then a body that never ends, a little at a time."""

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        with contextlib.suppress(OSError):
            for _ in range(150):  # a byte at a time: each read of httpx gets one in time
                self.wfile.write(b"1\r\nx\r\n")
                self.wfile.flush()
                time.sleep(0.2)

    def log_message(self, *args: object) -> None:
        pass


def test_an_answer_without_end_stops_at_the_timeout_and_one_in_shift_jis_reads(tmp_path):
    """The timeout bounds the whole answer (httpx's bounds each read: a body trickling
    in held the send for as long as it came, read whole into memory), and an answer's
    charset is honoured (Shift_JIS was read as UTF-8). The receiver said 200 before its
    body trickled: the rows are in, the request is done by that status, never resent."""
    trickle = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Trickle)
    threading.Thread(target=trickle.serve_forever, daemon=True).start()
    capture = Capture()
    capture.answer("/sjis", (400, {"Content-Type": "text/plain; charset=Shift_JIS"},
                             "エラー: 行2 不正".encode("cp932")))  # fmt: skip
    extra = f"""
[sends.trickle]
layout = "performance"
url = "http://127.0.0.1:{trickle.server_address[1]}/in"
timeout = 1
max_attempts = 1
report = "never"
[sends.closed]
layout = "performance"
url = "http://127.0.0.1:{free_port()}/in"
max_attempts = 1
report = "never"
[sends.sjis]
layout = "performance"
url = "{capture.url("/sjis")}"
report = "never"
[sends.cp932]
layout = "performance"
url = "{capture.url("/cp932")}"
encoding = "cp932"
where = {{ member_no = "4" }}
report = "never"
"""
    accounts = ACME_ACCOUNT
    daemon = Daemon(write_config(tmp_path, accounts, extra=extra)).start()
    try:
        assert imported_by_acme(daemon)["state"] == "completed"
        started = time.monotonic()
        run = sent(daemon, "trickle")
        assert time.monotonic() - started < 15  # its first KB would have taken 200 s
        assert run["state"] == "completed"
        [request] = run_view(daemon, run["id"])["requests"]
        assert request["status"] == 200 and request["attempts"] == 1, request
        assert set(request["answer"]) == {"x"}  # what came of the body within the second
        # No one listening: said in words, not as httpx's ConnectError.
        [request] = run_view(daemon, sent(daemon, "closed")["id"])["requests"]
        assert request["answer"].startswith("送信先に接続できませんでした(接続を拒否されました")
        run = sent(daemon, "sjis")
        [request] = run_view(daemon, run["id"])["requests"]
        assert (request["status"], request["answer"]) == (400, "エラー: 行2 不正")
        # A character CP932 cannot hold goes as "?", and the run says so.
        utf8 = "member_no,date,sales_amount,note\r\n4,2024/05/16,1,𠮷野家?\r\n".encode()
        assert imported_by_acme(daemon, "20240517.csv", utf8)["state"] == "completed"
        run = sent(daemon, "cp932")
        assert run["state"] == "completed"
        # Said when it has gone as what was done.
        assert "CP932 にない文字 1 個を「?」にして送りました(𠮷)。" in run["message"]
        [got] = capture.wait("/cp932", 1)
        assert "?野家?" in got.form()["file"].data.decode("cp932")
    finally:
        daemon.terminate()
        trickle.shutdown()
        capture.close()


@pytest.mark.parametrize("retry_after", [None, "600"], ids=["backoff", "retry-after"])
def test_a_send_removed_from_the_config_mid_retry_ends_as_forced(tmp_path, retry_after):
    """強制終了: its [sends.NAME] gone at a reload, a send stops trying and says why;
    at once, even while it waits out a Retry-After of ten minutes."""
    headers = {"Retry-After": retry_after} if retry_after else {}
    capture = Capture(default=(503, headers, b"busy"))
    extra = capture.retrying_send("gone")
    accounts = ACME_ACCOUNT
    config = write_config(tmp_path, accounts, extra=extra + users_toml({"admin": ("admin", [])}))
    daemon = Daemon(config).start()
    try:
        api_import(daemon, "acme", ACME_ROWS)
        run_id = send_now(daemon, "gone").json()["id"]
        capture.wait("/gone", 1 if retry_after else 2)
        config.write_text(config.read_text().replace(extra, ""))
        daemon.proc.send_signal(signal.SIGHUP)
        run = daemon.wait_run(run_id, timeout=15, states=("aborted",))
        assert run["rows_imported"] == 0 and "強制終了" in run["message"]
        logged = run_view(daemon, run_id)["requests"]
        assert [r["state"] for r in logged] == ["skipped"]
        # On its page: not sent for the send's end, not for an earlier failure.
        admin = login(daemon.api, "admin")
        try:
            page = admin.get(f"/console/runs/{run_id}").text
        finally:
            admin.close()
        assert "未送信(強制終了のため)" in page and "前の失敗のため" not in page
        tried = len(capture.to("/gone"))
        time.sleep(1)  # a retry would be due every 0.3 s
        assert len(capture.to("/gone")) == tried
        # The console's CSV export says its state as the runs page does: it ended, and
        # will not run again as an aborted import would.
        web = login(daemon.api, "admin")
        try:
            export = web.get("/console/runs/export.csv", params={"state": "aborted"})
        finally:
            web.close()
        [header, row] = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))
        assert row[0] == run_id and row[header.index("状況")] == "強制終了", row
    finally:
        daemon.terminate()
        capture.close()


def test_a_reload_gives_a_request_being_retried_its_new_retry_rules(tmp_path):
    """The README: a reload reaches a request already being tried in its retry rules
    and timeout. It kept those of its first try: 1000 attempts went on after a reload
    that allowed three."""
    capture = Capture(default=(503, {}, b"busy"))
    extra = capture.retrying_send("rules")
    config = write_config(
        tmp_path, ACME_ACCOUNT, extra=extra + users_toml({"admin": ("admin", [])})
    )
    daemon = Daemon(config).start()
    try:
        api_import(daemon, "acme", ACME_ROWS)
        run_id = send_now(daemon, "rules").json()["id"]
        capture.wait("/rules", 1)
        config.write_text(config.read_text().replace("max_attempts = 1000", "max_attempts = 3"))
        daemon.proc.send_signal(signal.SIGHUP)
        assert daemon.wait_run(run_id, timeout=15, states=("failed",))["state"] == "failed"
        [request] = run_view(daemon, run_id)["requests"]
        assert request["state"] == "failed" and request["attempts"] >= 3, request
        tried = len(capture.to("/rules"))
        time.sleep(1)  # a retry would be due every 0.3 s
        assert len(capture.to("/rules")) == tried
    finally:
        daemon.terminate()
        capture.close()


# -- many rows ---------------------------------------------------------------------


def test_25000_rows_go_as_three_requests(daemon, capture):
    rows = [f"{n},2024/05/16,{n},bulk" for n in range(1, 25001)]
    reply = httpx.post(
        f"{daemon.api}/api/v1/imports?wait=true",
        files={"file": ("20240516.csv", csv_bytes(rows))},
        headers={"Authorization": "Bearer demo-bulk-token"},
        timeout=120,
    )
    assert reply.json()["rows_imported"] == 25000, reply.text
    run = sent(daemon, "bulk")
    assert run["state"] == "completed"
    assert (run["rows_total"], run["rows_imported"]) == (25000, 25000)
    assert "3 回に分けて" in run["message"]
    assert [r["rows"] for r in run["requests"]] == [10000, 10000, 5000]
    got = sorted(of_run(capture, "/bulk", run["id"]), key=lambda r: r.headers["idempotency-key"])
    assert len(got) == 3
    numbers = []
    for request in got:
        lines = csv_lines(request.form()["file"].data, "utf-8")
        assert lines[0] == "member_no,date,sales_amount,note"
        numbers.append([int(line.split(",")[0]) for line in lines[1:]])
    assert [len(n) for n in numbers] == [10000, 10000, 5000]
    assert sum(numbers, []) == list(range(1, 25001))
    filenames = [request.form()["file"].filename for request in got]
    assert filenames == ["bulk_1of3.csv", "bulk_2of3.csv", "bulk_3of3.csv"]
    assert run["filename"] == "bulk_1of3.csv … bulk_3of3.csv"  # once bulk_1of1.csv
    again = httpx.post(f"{daemon.api}/api/v1/runs/{run['id']}/retry", headers=ADMIN)
    assert again.status_code == 409 and again.json()["error"] == "run_is_send"
    shown = renkei("show", run["id"], "--config", str(daemon.config)).stdout
    assert "送信 25,000 件 / 全 25,000 件" in shown and "取込方法" not in shown


SPLIT_ROWS = [f"{n},2024/05/16,{n},{'x' * 40}" for n in range(1, 61)]


def test_more_bytes_than_max_bytes_are_split(daemon, capture):
    api_import(daemon, "split", SPLIT_ROWS)
    run = sent(daemon, "split")
    assert run["state"] == "completed" and run["rows_imported"] == 60
    got = sorted(of_run(capture, "/split", run["id"]), key=lambda r: r.headers["idempotency-key"])
    assert len(got) == len(run["requests"]) > 1
    assert "回に分けて" in run["message"]
    numbers = []
    for request in got:
        data = request.form()["file"].data
        assert len(data) <= 1024
        lines = csv_lines(data, "utf-8")
        assert lines[0] == "member_no,date,sales_amount,note"
        numbers += [int(line.split(",")[0]) for line in lines[1:]]
    assert numbers == list(range(1, 61))


def test_a_failed_part_stops_the_rest(daemon, capture):
    capture.answer("/split_fail", (200, {}, b"ok"), (400, {}, b"bad part"))
    run = sent(daemon, "split_fail")
    assert run["state"] == "failed"
    states = [(r["state"], r["status"]) for r in run["requests"]]
    assert states[:2] == [("done", 200), ("failed", 400)]
    assert states[2:] and all(s == ("skipped", None) for s in states[2:])
    first = run["requests"][0]["rows"]
    assert (run["rows_imported"], run["rows_failed"]) == (first, 60 - first)
    assert len(of_run(capture, "/split_fail", run["id"])) == 2


def test_a_row_over_max_bytes_fails_the_send_unsent(daemon, capture):
    api_import(daemon, "huge", [f"1,2024/05/16,1,{'y' * 2000}"])
    run = sent(daemon, "huge")
    assert run["state"] == "failed" and run["requests"] == []
    assert "作れません" in run["message"]
    assert of_run(capture, "/huge", run["id"]) == []


def test_put(daemon, capture):
    run = sent(daemon, "put")
    (request,) = of_run(capture, "/put", run["id"])
    assert request.method == "PUT" and run["requests"][0]["method"] == "PUT"


def test_429_and_5xx_are_retried_up_to_max_attempts(daemon, capture):
    capture.answer("/exhaust", (429, {"Retry-After": "0"}, b"slow down"), (502, {}, b"gateway"))
    run = sent(daemon, "exhaust")
    assert run["state"] == "failed"
    (request,) = run["requests"]
    assert (request["attempts"], request["status"], request["state"]) == (2, 502, "failed")
    assert [r.status for r in of_run(capture, "/exhaust", run["id"])] == [429, 502]


def test_network_errors_are_retried_then_fail(daemon):
    run = sent(daemon, "unreachable")
    assert run["state"] == "failed"
    (request,) = run["requests"]
    assert (request["attempts"], request["status"], request["state"]) == (2, None, "failed")
    assert request["answer"].startswith("送信先に接続できませんでした")


def test_no_matching_rows_completes_without_a_request(daemon, capture):
    run = sent(daemon, "kept", where={"member_no": "999"})
    assert (run["state"], run["rows_total"], run["requests"]) == ("completed", 0, [])
    assert "送る行がない" in run["message"]


# -- what starts a send ------------------------------------------------------------


def test_by_hand_over_the_api(daemon):
    assert send_now(daemon, "kept").status_code == 202
    assert send_now(daemon, "nosuch").status_code == 404
    assert send_now(daemon, "kept", headers=ACME).status_code == 403
    reply = send_now(daemon, "kept", where={"colour": "red"})
    assert reply.status_code == 422 and "colour" in reply.text


def test_by_hand_on_the_command_line(daemon, capture):
    done = renkei(
        "send", "json", "--where", "note=keep", "--config", str(daemon.config), timeout=60
    )
    assert done.returncode == 0, done.stderr
    (run_id,) = RUN_ID.findall(done.stdout)
    run = daemon.wait_run(run_id)
    assert (run["state"], run["sender"], run["rows_imported"]) == ("completed", "admin", 2)
    (request,) = of_run(capture, "/json", run_id)
    assert [line.split(",")[0] for line in csv_lines(request.form()["file"].data, "utf-8")] == [
        "2",
        "3",
    ]


def test_a_one_shot_import_says_its_forwarding_did_not_run(daemon, capture, tmp_path):
    path = tmp_path / "20240701.csv"
    path.write_bytes(csv_bytes(["71,2024/07/01,7,one-shot"]))
    done = renkei("import", "--account", "fwd", str(path), "--config", str(daemon.config))
    assert done.returncode == 0, done.stderr
    assert "sends.fwd" in done.stderr and "renkei send NAME" in done.stderr
    assert "デーモンが取り込んだ後にだけ動きます" in done.stderr
    (run_id,) = RUN_ID.findall(done.stdout)
    time.sleep(1)  # a forward, were one started, would have reached the capture by now
    assert of_run(capture, "/fwd", run_id) == []
    # A dry run would forward nothing anyway: no note.
    args = ("import", "--dry-run", "--account", "fwd", str(path), "--config", str(daemon.config))
    done = renkei(*args)
    assert done.returncode == 0 and "renkei send" not in done.stderr, done.stderr


def test_forwarded_after_a_mailed_import_sends_that_imports_rows(daemon, capture):
    imports = []
    for name, rows in (
        ("20240601.csv", ["11,2024/06/01,1,a", "12,2024/06/01,2,b"]),
        ("20240602.csv", ["13,2024/06/02,3,c"]),
    ):
        where, code, reply = send_as(daemon.smtp_port, "fwd", [(name, csv_bytes(rows))])
        assert code == 250, reply
        imports.append(daemon.wait_run(queued_ids(reply)[0]))
    assert [r["state"] for r in imports] == ["completed", "completed"]
    got = capture.wait("/fwd", 2)
    by_run = {r.form()["run"].text: r for r in got}
    for run, numbers in zip(imports, (["11", "12"], ["13"]), strict=True):
        form = by_run[run["id"]].form()
        assert (form["acct"].text, form["src"].text) == ("fwd", run["filename"])
        assert form["file"].filename == f"fwd_{run['id']}.csv"
        lines = csv_lines(form["file"].data, "utf-8")
        assert [line.split(",")[0] for line in lines[1:]] == numbers
    forwarded = [
        daemon.wait_run(run_id)
        for (run_id,) in daemon.query(
            "SELECT id FROM runs WHERE direction = 'send'"
            ' AND options LIKE \'%"send": "fwd"%\' ORDER BY id'
        )
    ]
    assert [(r["state"], r["rows_imported"], r["sender"]) for r in forwarded] == [
        ("completed", 2, "forward"),
        ("completed", 1, "forward"),
    ]


def test_the_command_line_refuses_an_unknown_column(daemon):
    done = renkei(
        "send", "json", "--where", "colour=red", "--config", str(daemon.config), timeout=60
    )
    assert done.returncode != 0 and "colour" in done.stderr


def test_a_where_value_its_column_cannot_hold_is_refused_not_sent_as_nothing(daemon):
    done = renkei(
        "send", "json", "--where", "date=notadate", "--config", str(daemon.config), timeout=60
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "where[date]: 'notadate' は使えません" in done.stderr, done.stderr
    before = daemon.query("SELECT count(*) FROM runs WHERE direction = 'send'")
    r = httpx.post(
        f"{daemon.api}/api/v1/sends/json",
        headers=ADMIN,
        json={"where": {"sales_amount": "many"}},
        timeout=30,
    )
    assert r.status_code == 422 and r.json()["error"] == "invalid_search", r.text
    # A long value is quoted by its start and its length, as a row error quotes a cell.
    r = httpx.post(
        f"{daemon.api}/api/v1/sends/json",
        headers=ADMIN,
        json={"where": {"sales_amount": "9" * 5000 + "x"}},
        timeout=30,
    )
    said = r.json()["message"]
    assert r.status_code == 422 and "9" * 40 + "…(全5,001文字)" in said and len(said) < 200, said
    assert daemon.query("SELECT count(*) FROM runs WHERE direction = 'send'") == before


def test_a_scheduled_send_is_a_scheduler_job(daemon):
    log = daemon.log.read_text()
    assert re.search(r'Added job "send sched"', log), log[-3000:]
    assert "send sched could not be started" not in log
    assert "Traceback" not in log


# -- report mail -------------------------------------------------------------------


def mails_about(relay, name: str) -> list:
    return [m for m in relay.messages if f": {name} (" in m["Subject"]]


def test_report_always_to_the_admins(daemon, module_relay):
    run = sent(daemon, "rep_always")
    assert run["state"] == "completed"
    (msg,) = module_relay.for_recipient("admin@example.jp", about="rep_always")
    assert "送信完了" in msg["Subject"] and "(3/3件)" in msg["Subject"]
    body = msg.get_body().get_content()
    assert "送信 3 件 / 全 3 件" in body and run["id"] in body


def test_report_on_errors_only(daemon, capture, module_relay):
    run = sent(daemon, "rep_errors")
    assert run["state"] == "completed"
    capture.answer("/rep_errors", (400, {}, b"no such master"))
    failed = sent(daemon, "rep_errors")
    assert failed["state"] == "failed"
    (msg,) = module_relay.for_recipient("admin@example.jp", about="rep_errors")
    assert "送信エラー" in msg["Subject"] and "(0/3件)" in msg["Subject"]
    assert "no such master" in msg.get_body().get_content()
    time.sleep(1)  # the completed send's mail, had it been due, came before this one
    assert len(mails_about(module_relay, "rep_errors")) == 1


def test_report_to_the_executor(daemon, module_relay):
    run = sent(daemon, "rep_executor")
    assert run["state"] == "completed"
    (msg,) = module_relay.for_recipient("boss@example.jp", about="rep_executor")
    assert "送信完了" in msg["Subject"]
    envelopes = [
        to
        for m, (_, to) in zip(module_relay.messages, module_relay.envelopes, strict=True)
        if "rep_executor" in m["Subject"]
    ]
    assert envelopes == [["boss@example.jp"]]


def test_a_forwarded_sends_report_goes_to_the_importing_accounts_error_report_to(
    daemon, module_relay
):
    imported = api_import(daemon, "fwdrep", ["21,2024/05/16,1,r"])
    (msg,) = module_relay.for_recipient("ops@fwdrep.example", about="fwd_report")
    assert "送信完了" in msg["Subject"] and "(1/1件)" in msg["Subject"]
    (run_id,) = daemon.query(
        "SELECT id FROM runs WHERE direction = 'send' AND options LIKE '%fwd_report%'"
    )[0]
    assert daemon.run(run_id)["sender"] == "forward"
    assert imported["id"] != run_id


def test_the_daemon_logged_no_failure(daemon):
    log = daemon.log.read_text()
    assert "could not be delivered" not in log and "could not be started" not in log


# -- round trips into renkei's receiving examples ----------------------------------


def example_pair(tmp_path_factory, example: str, send: str):
    """(A, B): B serves `example` as shipped; A serves it too, with `send` to B."""
    b_config = served(example, tmp_path_factory.mktemp("b"))
    b = Daemon(b_config)
    a_config = served(example, tmp_path_factory.mktemp("a"))
    a_config.write_text(a_config.read_text() + send.format(b=b.api), encoding="utf-8")
    return Daemon(a_config), b


EXPENSE_SEND = """
[sends.to_b]
layout = "employees"
url = "{b}/api/v1/csvimport"
headers = {{ "X-RS-apitoken" = "demo-expense-token" }}
body = "json"
json_field = "json"
params = {{ masterId = "0", duplicateKey = "1" }}
file_field = "uploadFile"
filename = "employees_{{today}}.csv"
header = true
encoding = "cp932"
report = "never"
retry_seconds = 0.2
"""

DELIVERY_SEND = """
[sends.to_b]
layout = "customers"
url = "{b}/api/v1/custcsv/import"
headers = {{ "X-HM-apitoken" = "demo-delivery-token" }}
body = "json"
json_field = "import_settings"
params = {{ login_id = "renkei", import_type = "0", is_overwrite = "1", report_option = "0" }}
file_field = "customer_list"
filename = "customer_list_{{today}}.csv"
header = true
encoding = "cp932"
report = "never"
retry_seconds = 0.2
"""


@pytest.mark.parametrize(
    ("example", "send", "post", "table"),
    [
        (
            "expense.example.toml",
            EXPENSE_SEND,
            {
                "path": "/api/v1/csvimport",
                "headers": {"X-RS-apitoken": "demo-expense-token"},
                "files": {"uploadFile": ("employees.csv", "expense/employees.csv")},
                "data": {"json": '{"masterId": "0", "duplicateKey": "1"}'},
            },
            "employees",
        ),
        (
            "mail-delivery.example.toml",
            DELIVERY_SEND,
            {
                "path": "/api/v1/custcsv/import",
                "headers": {"X-HM-apitoken": "demo-delivery-token"},
                "files": {
                    "customer_list": (
                        "customer_list_20240516153012.csv",
                        "mail-delivery/customer_list_20240516153012.csv",
                    )
                },
                "data": {
                    "import_settings": '{"import_type": "0", "is_overwrite": "1",'
                    ' "report_option": "0"}'
                },
            },
            "customers",
        ),
    ],
    ids=["expense", "mail-delivery"],
)
def test_round_trip_into_a_receiving_renkei(tmp_path_factory, example, send, post, table):
    a, b = example_pair(tmp_path_factory, example, send)
    try:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(Daemon.start, (a, b)))
        files = {
            field: (name, (ROOT / "config" / "sample" / sample).read_bytes())
            for field, (name, sample) in post["files"].items()
        }
        reply = httpx.post(
            f"{a.api}{post['path']}?wait=true",
            headers=post["headers"],
            files=files,
            data=post["data"],
            timeout=60,
        )
        assert reply.json()["state"] == "completed", reply.text
        assert reply.json()["rows_imported"] > 0
        admin = re.search(r'admin_token = "([^"]+)"', a.config.read_text()).group(1)
        run = sent(a, "to_b", headers={"Authorization": f"Bearer {admin}"})
        assert run["state"] == "completed", run
        (request,) = run["requests"]
        assert request["status"] == 200 or request["status"] == 202, request
        columns = ", ".join(f'"{c}"' for c in columns_of(a, table))
        sql = f'SELECT {columns} FROM "{table}" ORDER BY 1'
        deadline = time.monotonic() + 30
        while b.query(f'SELECT count(*) FROM "{table}"')[0][0] < len(a.query(sql)):
            assert time.monotonic() < deadline, "B did not import what A sent"
            time.sleep(0.1)
        assert b.query(sql) == a.query(sql)
    finally:
        for d in (a, b):
            if d.proc is not None and d.proc.poll() is None:
                d.terminate()


def columns_of(daemon, table: str) -> list[str]:
    names = [row[1] for row in daemon.query(f'PRAGMA table_info("{table}")')]
    return [n for n in names if not n.startswith("_")]


def test_a_send_is_refused_an_undo_saying_it_is_a_send(daemon, capture):
    """An undo of a send answered undo_not_kept, "the rows it changed were not kept",
    as if an older renkei had run it: its rows are the receiver's."""
    run = sent(daemon, "json")
    assert run["state"] == "completed"
    reply = httpx.post(f"{daemon.api}/api/v1/runs/{run['id']}/undo", headers=ADMIN)
    assert reply.status_code == 409, reply.text
    assert reply.json() == {
        "error": "send_not_undoable",
        "message": f"実行 {run['id']} は送信です。送った行は送信先にあり、renkei からは取り消せません",
    }
