"""Sends where spooling, the rows to send, the headers or the run's words went wrong: a
run whose job was never spooled ends failed (at once, or at the next start after a
kill -9), `rows = "run"` with no import sends nothing, `renkei check` refuses headers
renkei sets itself, and a failed send's notes say what was tried. Real daemons, a real
HTTP capture server, the real command line."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import time

import httpx
import psycopg
import pytest

from importers.messages import words_of
from tests.capture import Capture
from tests.support import (
    Daemon,
    account,
    csv_bytes,
    free_port,
    renkei,
    wait_for,
    write_config,
)

ADMIN = {"Authorization": "Bearer demo-admin"}
FAST = "retry_seconds = 0.2\nmax_retry_seconds = 0.5\n"
ROWS = ["1,2024/05/16,100,a", "2,2024/05/16,200,b"]


def token_account(name: str) -> str:
    return account(name) + f'[accounts.{name}.api]\ntoken = "demo-{name}-token"\n'


@pytest.fixture(scope="module")
def capture():
    server = Capture()
    yield server
    server.close()


@pytest.fixture(scope="module")
def daemon(tmp_path_factory, capture):
    folder = tmp_path_factory.mktemp("sends_fixes")
    extra = f"""
[sends.plain]
layout = "performance"
account = "acme"
url = "{capture.url("/plain")}"
report = "never"
{FAST}
[sends.of_run]
layout = "performance"
after_import = ["follow"]
rows = "run"
url = "{capture.url("/of_run")}"
report = "never"
{FAST}
[sends.secret]
layout = "performance"
account = "acme"
url = "{capture.url("/secret").replace("http://", "http://user:s3cret@")}"
report = "never"
{FAST}
[sends.split_bad]
layout = "performance"
account = "acme"
url = "{capture.url("/split_bad")}"
encoding = "cp932"
max_rows = 1
where = {{ date = "2024-05-18" }}
report = "never"
{FAST}
"""
    accounts = token_account("acme") + token_account("follow")
    d = Daemon(write_config(folder, accounts, extra=extra)).start()
    try:
        imported(d, "acme", ROWS)
        yield d
    finally:
        d.terminate()


def imported(daemon: Daemon, who: str, rows: list[str], name: str = "20240516.csv") -> dict:
    reply = httpx.post(
        f"{daemon.api}/api/v1/imports?wait=true",
        files={"file": (name, csv_bytes(rows, encoding="utf-8"))},
        headers={"Authorization": f"Bearer demo-{who}-token"},
        timeout=120,
    )
    assert reply.json()["state"] == "completed", reply.text
    return reply.json()


def send_runs(daemon: Daemon) -> list[tuple]:
    return daemon.query("SELECT id, state, message FROM runs WHERE direction = 'send'")


def test_a_password_in_a_sends_url_is_not_shown_with_its_requests(daemon, capture):
    """It was, in the runs API, `renkei show`, the console and the executor's mail."""
    reply = httpx.post(f"{daemon.api}/api/v1/sends/secret", headers=ADMIN, timeout=30)
    assert reply.status_code == 202, reply.text
    run_id = reply.json()["id"]
    wait_for(lambda: daemon.run(run_id)["state"] == "completed")
    shown = httpx.get(f"{daemon.api}/api/v1/runs/{run_id}", headers=ADMIN).json()
    [request] = shown["requests"]
    assert request["url"].startswith("http://user:***@127.0.0.1:"), request
    assert "s3cret" not in renkei("show", run_id, "--config", str(daemon.config)).stdout
    [got] = capture.to("/secret")  # sent with its password all the same
    assert got.headers["authorization"] == "Basic dXNlcjpzM2NyZXQ="


# -- 1. a run whose job was never spooled ----------------------------------------------


def test_a_spool_that_cannot_be_written_fails_the_run_at_once_with_a_json_503(daemon, capture):
    spool = daemon.data_dir / "outward"
    shutil.rmtree(spool, ignore_errors=True)
    spool.write_bytes(b"")  # no folder can be made in it: ENOTDIR, as a disk gone wrong
    try:
        before = len(send_runs(daemon))
        reply = httpx.post(f"{daemon.api}/api/v1/sends/plain", headers=ADMIN, timeout=30)
        assert reply.status_code == 503, reply.text
        body = reply.json()
        assert body["error"] == "spool_unavailable"
        assert body["message"].startswith("送信を保存できないため、何も送信していません(")
        assert "失敗として記録しました" in body["message"]
        assert reply.headers["retry-after"] == "30"
        [(run_id, state, message)] = send_runs(daemon)[before:]
        assert state == "failed"
        assert message.startswith("送信するリクエストを保存できなかったため、何も送信していません(")
        assert daemon.run(run_id)["finished_at"]
        done = renkei("send", "plain", "--config", str(daemon.config), timeout=60)
        assert done.returncode != 0
        assert "plain: 送信を保存できないため、何も送信していません" in done.stderr
    finally:
        spool.unlink()
    assert capture.to("/plain") == []
    assert "Traceback" not in daemon.log.read_text(errors="replace")


def test_a_forwarded_send_that_could_not_be_spooled_is_not_sent_again_at_the_next_start(
    tmp_path, capture
):
    """Recorded failed, it left its import's sends and calls to the next start, which
    sent every one of them again, those that had gone included."""
    extra = f"""
[sends.went]
layout = "performance"
after_import = ["follow"]
rows = "run"
url = "{capture.url("/went")}"
report = "never"
{FAST}
[calls.told]
after_import = ["follow"]
per = "run"
url = "{capture.url("/told")}"
"""
    daemon = Daemon(write_config(tmp_path, token_account("follow"), extra=extra)).start()
    spool = daemon.data_dir / "outward"
    try:
        shutil.rmtree(spool, ignore_errors=True)
        spool.write_bytes(b"")  # no job can be spooled: as a disk gone wrong
        run = imported(daemon, "follow", ROWS)
        wait_for(lambda: [state for _, state, _ in send_runs(daemon)] == ["failed"])
        wait_for(lambda: daemon.run(run["id"])["forward_state"] == "done")
        shown = httpx.get(f"{daemon.api}/api/v1/runs/{run['id']}", headers=ADMIN).json()
        [call] = shown["requests"]
        # The disk's trouble, not the config's.
        assert call["answer"].startswith("この呼び出しはリクエストを保存できなかったため"), call
        daemon.terminate()
        spool.unlink()
        daemon.start()
        imported(daemon, "follow", ROWS, name="20240517.csv")  # forwarded once spooled
        wait_for(lambda: len(capture.to("/went")) == 1)
        assert [state for _, state, _ in send_runs(daemon)][0] == "failed"
        assert len(send_runs(daemon)) == 2
    finally:
        daemon.terminate()


def test_a_send_cut_off_before_its_job_was_spooled_fails_at_the_next_start(tmp_path):
    """A kill -9 between the run's record and its job.json left the run `running` for
    good; the half-written folder was removed at the start and nothing ended the run."""
    closed = free_port()  # nothing listens: the send waits between retries
    extra = f"""
[sends.away]
layout = "performance"
account = "acme"
url = "http://127.0.0.1:{closed}/in"
retry_seconds = 600
report = "never"
"""
    daemon = Daemon(write_config(tmp_path, token_account("acme"), extra=extra)).start()
    try:
        imported(daemon, "acme", ROWS)
        reply = httpx.post(f"{daemon.api}/api/v1/sends/away", headers=ADMIN, timeout=30)
        run_id = reply.json()["id"]
        job = daemon.data_dir / "outward" / run_id
        assert (job / "job.json").is_file()
        daemon.kill()
        # As the crash left it when it came before job.json: its bodies, no job.json.
        (job / "job.json").unlink()
        assert daemon.run(run_id)["state"] == "running"
        daemon.start()
        run = daemon.wait_run(run_id, timeout=30)
        assert run["state"] == "failed"
        assert run["message"] == (
            "送信の準備中に renkei が停止したため、何も送信していません。"
            "送るには送信をもう一度実行してください。"
        )
        assert (run["rows_imported"], run["rows_failed"]) == (0, 2)
        assert not job.exists()
    finally:
        daemon.terminate()


# -- 3. rows = "run" with no import --------------------------------------------------


def test_a_send_of_an_imports_rows_started_by_hand_is_refused_and_sends_nothing(daemon, capture):
    imported(daemon, "follow", ["7,2024/05/16,700,f"])  # forwarded: its one row
    capture.wait("/of_run", 1)
    before = len(send_runs(daemon))
    reply = httpx.post(f"{daemon.api}/api/v1/sends/of_run", headers=ADMIN, timeout=30)
    assert reply.status_code == 422, reply.text
    assert reply.json()["error"] == "send_needs_run"
    assert "取込がないため、送る行はありません" in reply.json()["message"]
    done = renkei("send", "of_run", "--config", str(daemon.config), timeout=60)
    assert done.returncode != 0
    assert 'of_run: 送信 of_run は取込のあとに、その取込の行を送る設定です(rows = "run")' in (
        done.stderr
    )
    time.sleep(0.5)
    assert len(send_runs(daemon)) == before
    assert len(capture.to("/of_run")) == 1  # the forwarded one alone, never every row


def test_check_refuses_rows_run_without_after_import(tmp_path):
    extra = '[sends.lone]\nlayout = "performance"\nrows = "run"\nurl = "http://127.0.0.1:9/x"\n'
    done = renkei("check", "--config", str(write_config(tmp_path, account("acme"), extra=extra)))
    assert done.returncode != 0
    assert 'sends.lone.rows: rows = "run" は取込のあとに、その取込の行を送ります。' in (
        done.stdout + done.stderr
    )


# -- 6. headers renkei sets itself, header names no request can carry ----------------


@pytest.mark.parametrize("section", ["sends", "calls"])
def test_check_refuses_renkeis_own_headers_in_any_case_and_names_that_are_no_token(
    tmp_path, section
):
    headers = (
        'headers = { "idempotency-key" = "mine", "CONTENT-TYPE" = "text/plain",'
        ' "Bad Header" = "x", "X-Fine" = "ok" }'
    )
    where = 'layout = "performance"' if section == "sends" else 'after_import = ["acme"]'
    extra = f'[{section}.out]\n{where}\nurl = "http://127.0.0.1:9/x"\n{headers}\n'
    done = renkei("check", "--config", str(write_config(tmp_path, account("acme"), extra=extra)))
    said = done.stdout + done.stderr
    assert done.returncode != 0
    assert f"{section}.out.headers.idempotency-key: ヘッダー idempotency-key は renkei が" in said
    assert f"{section}.out.headers.CONTENT-TYPE: ヘッダー CONTENT-TYPE は renkei が" in said
    assert (
        f"{section}.out.headers.Bad Header: 'Bad Header' は HTTP ヘッダーの名前ではありません"
        in (said)
    )
    assert "X-Fine" not in said


# -- 7. a failed send's notes say what it tried --------------------------------------


def test_a_failed_sends_notes_say_what_was_tried_not_what_was_sent(daemon, capture):
    utf8 = "member_no,date,sales_amount,note\r\n8,2024/05/18,1,𠮷\r\n9,2024/05/18,2,z\r\n"
    reply = httpx.post(
        f"{daemon.api}/api/v1/imports?wait=true",
        files={"file": ("20240518.csv", utf8.encode())},
        headers={"Authorization": "Bearer demo-acme-token"},
        timeout=120,
    )
    assert reply.json()["state"] == "completed", reply.text
    capture.delays["/split_bad"] = 2
    capture.answer("/split_bad", (400, {}, b"no"))
    reply = httpx.post(f"{daemon.api}/api/v1/sends/split_bad", headers=ADMIN, timeout=30)
    run_id = reply.json()["id"]
    running = words_of(daemon.run(run_id)["said"])
    assert running is not None
    said = running.say("en")  # while it runs, as what is to be done
    assert "Over one request's limits (1 row, 3,145,728 bytes): to be sent in 2 requests." in said
    assert "'?' goes in place of 1 character CP932 cannot hold (𠮷)." in said
    run = daemon.wait_run(run_id)
    capture.delays["/split_bad"] = 0
    assert run["state"] == "failed"
    assert "CP932 にない文字 1 個を「?」にして送ろうとしました(𠮷)。" in run["message"]
    assert "送りました" not in run["message"]
    ended = words_of(run["said"])
    assert ended is not None
    assert "'?' was to go in place of 1 character CP932 cannot hold (𠮷)." in ended.say("en")


# -- a send after an import, across a stop --------------------------------------------


def _sqlite_set(daemon: Daemon, sql: str, params: tuple) -> None:
    with contextlib.closing(sqlite3.connect(daemon.db_path)) as db, db:
        db.execute(sql, params)


def test_a_send_that_went_before_a_stop_is_not_sent_again_after_it(tmp_path):
    """An import's forward state turns done once every send and call of it is spooled:
    a stop before that (SIGTERM under load met it, kill -9 too) left it pending, and
    the next start sent its sends again as new runs, under new Idempotency-Keys, the
    receiver unable to tell. The daemon is killed and the import left as such a stop
    leaves it; its send goes once."""
    capture = Capture()
    extra = f"""
[sends.after]
layout = "performance"
after_import = ["acme"]
rows = "run"
url = "{capture.url("/after")}"
report = "never"
{FAST}"""
    daemon = Daemon(write_config(tmp_path, token_account("acme"), extra=extra)).start()
    try:
        run = imported(daemon, "acme", ROWS)
        capture.wait("/after", 1)
        wait_for(lambda: [state for _, state, _ in send_runs(daemon)] == ["completed"])
        daemon.kill()
        _sqlite_set(daemon, "UPDATE runs SET forward_state = 'pending' WHERE id = ?", (run["id"],))
        daemon.start()
        wait_for(lambda: daemon.run(run["id"])["forward_state"] == "done")
        time.sleep(1)  # a second start of the send would have sent by now
        assert len(capture.to("/after")) == 1
        assert len(send_runs(daemon)) == 1
    finally:
        daemon.terminate()
        capture.close()


def test_a_send_after_an_import_cut_off_before_its_spooling_goes_once_at_the_start(tmp_path):
    """Recorded and never spooled, it sent nothing: the start sends it again, as a new
    run, and the old run says so instead of telling the admin to start it again (which
    sent the rows twice)."""
    closed = free_port()  # nothing listens: the send waits between retries
    extra = f"""
[sends.away]
layout = "performance"
after_import = ["acme"]
rows = "run"
url = "http://127.0.0.1:{closed}/in"
retry_seconds = 600
report = "never"
"""
    daemon = Daemon(write_config(tmp_path, token_account("acme"), extra=extra)).start()
    try:
        run = imported(daemon, "acme", ROWS)
        wait_for(lambda: len(send_runs(daemon)) == 1)
        [(first, _, _)] = send_runs(daemon)
        job = daemon.data_dir / "outward" / first
        wait_for(lambda: (job / "job.json").is_file())
        daemon.kill()
        # As a crash between the send's record and its job.json leaves it.
        (job / "job.json").unlink()
        _sqlite_set(daemon, "UPDATE runs SET forward_state = 'pending' WHERE id = ?", (run["id"],))
        daemon.start()
        wait_for(lambda: len(send_runs(daemon)) == 2)
        runs = dict((run_id, (state, message)) for run_id, state, message in send_runs(daemon))
        state, message = runs.pop(first)
        assert state == "failed" and "次の起動で新しい実行として送り直しています" in message
        assert "もう一度実行してください" not in message
        [(state, _)] = runs.values()
        assert state == "running"  # retrying the closed port, once
    finally:
        daemon.terminate()


@pytest.mark.slow
def test_a_call_kept_before_a_stop_is_not_spooled_again_over_itself(tmp_path, pg_url):
    """A start that finds an import's forwarding pending started its calls again: on
    PostgreSQL the second writing of the job kept already failed, and its failure
    removed the job, its requests still to go never sent (on SQLite it was written
    over)."""
    capture = Capture()
    capture.delays["/ping"] = 1.5  # the first request is in flight at the kill
    extra = f"""
[calls.ping]
after_import = ["acme"]
per = "row"
url = "{capture.url("/ping")}"
params = {{ no = "{{row.member_no}}" }}
concurrency = 1
{FAST}"""
    rows = [f"{n},2024/05/16,{n},r" for n in range(1, 5)]
    extra += f'[store]\nurl = "{pg_url}"\n'
    daemon = Daemon(write_config(tmp_path, token_account("acme"), extra=extra)).start()
    try:
        run = imported(daemon, "acme", rows)
        wait_for(lambda: capture.in_flight.get("/ping"))
        daemon.kill()
        with psycopg.connect(pg_url) as db:
            db.execute("UPDATE runs SET forward_state = 'pending' WHERE id = %s", (run["id"],))
        capture.delays["/ping"] = 0
        daemon.start()
        keys = [f"{run['id']}-call-ping-{n}" for n in range(1, 5)]
        wait_for(lambda: {r.headers["idempotency-key"] for r in capture.to("/ping")} >= set(keys))
        time.sleep(1)  # a second delivery of the job would have sent by now
        sent = [r.headers["idempotency-key"] for r in capture.to("/ping")]
        # The one in flight at the kill may go twice, under its key; no other does.
        assert sorted(set(sent)) == keys and all(sent.count(k) == 1 for k in keys[1:]), sent
    finally:
        daemon.terminate()
        capture.close()
