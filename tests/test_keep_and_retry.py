"""Keep what came in, and retry it: every accepted file is kept beside its run, served as
received, imported again as a new run on demand, and swept with its run once
`daemon.retention_days` pass — never while its work is unfinished."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import signal
import sqlite3
import threading
import time
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

import httpx
import pytest

from daemon.spool.queue import Spool
from tests.console_support import login, users_toml
from tests.support import (
    Daemon,
    account,
    active_items,
    csv_bytes,
    import_process,
    killed_in_attempt,
    mail,
    pause,
    queued_ids,
    send,
    send_as,
    write_config,
)
from tests.test_cli import renkei

TOKYO = ZoneInfo("Asia/Tokyo")  # daemon.timezone: the sweep says its moment in it

ADMIN = {"Authorization": "Bearer demo-admin"}
ACME = {"Authorization": "Bearer demo-acme-token"}
BETA = {"Authorization": "Bearer demo-beta-token"}
NAME = "売上_20240516.csv"
ACCOUNTS = (
    account("acme", filename=["売上_{YYYYMMDD}.csv", "{YYYYMMDD}.csv"])
    + '[accounts.acme.api]\ntoken = "demo-acme-token"\n'
    + account("beta")
    + '[accounts.beta.api]\ntoken = "demo-beta-token"\n'
)
NOTE_COLUMN = '{ name = "note",         type = "text", max_length = 3000 },'
REGION_COLUMN = NOTE_COLUMN + '\n  { name = "region", type = "text" },'


def config_for(folder: Path, relay_port: int = 1, retention_days: int | None = None) -> Path:
    config = write_config(folder, ACCOUNTS, relay_port=relay_port)
    if retention_days is not None:
        text = config.read_text(encoding="utf-8")
        text = text.replace(
            "min_free_bytes = 0", f"min_free_bytes = 0\nretention_days = {retention_days}"
        )
        config.write_text(text, encoding="utf-8")
    return config


def mailed(daemon: Daemon, name: str, data: bytes) -> str:
    """Mail one attachment to acme; the run id the 250 names."""
    _, code, reply = send(daemon.smtp_port, mail([(name, data)]))
    assert code == 250, reply
    [run_id] = queued_ids(reply)
    return run_id


PENDING_REPORTS = "SELECT count(*) FROM runs WHERE report_state = 'pending'"


def wait_for(condition, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@contextlib.contextmanager
def imports_paused(daemon: Daemon):
    """Stop the import process (SIGSTOP): what is spooled meanwhile stays queued.
    Not while it settles a run it committed (keeps the file, drops the spool item):
    stopped there, the run would be final with its file not yet kept."""
    pid = import_process(daemon)
    deadline = time.monotonic() + 10
    while True:
        active_items(daemon.data_dir)
        pause(pid)
        # Nor while it holds the database's write lock (the writes that follow a run's
        # commit): the daemon's own writes would wait for it until the busy timeout.
        if not write_locked(daemon) or time.monotonic() > deadline:
            break
        os.kill(pid, signal.SIGCONT)
        time.sleep(0.05)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def write_locked(daemon: Daemon) -> bool:
    with contextlib.closing(sqlite3.connect(daemon.db_path, timeout=0)) as db:
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            return True
        db.rollback()
        return False


def region_csv(rows: list[str]) -> bytes:
    lines = ["member_no,date,sales_amount,note,region", *rows]
    return ("\r\n".join(lines) + "\r\n").encode("cp932")


@pytest.fixture
def daemon(tmp_path):
    d = Daemon(config_for(tmp_path)).start()
    yield d
    if d.proc.returncode is None:
        d.terminate()


def test_a_mailed_file_is_kept_as_received_and_downloadable(daemon, tmp_path):
    data = csv_bytes(["1,2024/05/16,100,①㈱髙"])
    run_id = mailed(daemon, NAME, data)
    assert daemon.wait_run(run_id)["state"] == "completed"

    kept = daemon.data_dir / "files" / run_id / NAME
    assert active_items(daemon.data_dir) == []  # kept by then, too
    assert kept.read_bytes() == data
    assert not list((daemon.data_dir / "spool" / "incoming").iterdir())

    reply = httpx.get(f"{daemon.api}/api/v1/runs/{run_id}/file", headers=ADMIN)
    assert reply.status_code == 200 and reply.content == data
    assert f"filename*=utf-8''{quote(NAME)}" in reply.headers["content-disposition"]
    assert reply.headers["content-type"] == "text/csv; charset=windows-31j"
    own = httpx.get(f"{daemon.api}/api/v1/runs/{run_id}/file", headers=ACME)
    assert own.status_code == 200 and own.content == data
    other = httpx.get(f"{daemon.api}/api/v1/runs/{run_id}/file", headers=BETA)
    assert other.status_code == 404 and other.json()["error"] == "not_found"

    result = renkei(
        "show", run_id[-6:], "--save", str(tmp_path / "out"), "--config", str(daemon.config)
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / NAME).read_bytes() == data
    assert f"保存先: {kept}" in result.stdout.splitlines()
    assert f"{tmp_path / 'out' / NAME} に保存しました" in result.stderr


def test_a_run_without_a_file_says_so(daemon):
    _, code, reply = send(daemon.smtp_port, mail([]))  # no CSV attachment: a failed run
    [run_id] = queued_ids(reply)
    assert code == 250 and daemon.wait_run(run_id)["state"] == "failed"
    reply = httpx.get(f"{daemon.api}/api/v1/runs/{run_id}/file", headers=ADMIN)
    assert reply.status_code == 404
    assert reply.json()["error"] == "file_not_kept"
    assert f"実行 {run_id} の受信ファイルは保存されていません" in reply.json()["message"]
    english = {**ADMIN, "Accept-Language": "en"}
    retry = httpx.post(f"{daemon.api}/api/v1/runs/{run_id}/retry", headers=english)
    assert retry.status_code == 409 and retry.json()["error"] == "file_not_kept"
    assert retry.json()["message"].startswith(f"the file of run {run_id} is not kept")


def test_a_stopped_accounts_run_is_not_retried(tmp_path):
    config = write_config(tmp_path, account("acme", status="stopped"))
    daemon = Daemon(config).start()
    try:
        run_id = mailed(daemon, "20240516.csv", csv_bytes(["1,2024/05/16,1,a"]))
        assert daemon.wait_run(run_id)["state"] == "ignored"
        reply = httpx.post(f"{daemon.api}/api/v1/runs/{run_id}/retry", headers=ADMIN)
        assert reply.status_code == 409 and reply.json()["error"] == "account_stopped"
        assert reply.json()["message"] == "アカウント acme は連動稼働停止中です"
    finally:
        assert daemon.terminate() == 0


ROW = csv_bytes(["1,2024/05/16,1,a"])


def test_a_run_of_an_account_no_longer_configured_is_not_retried(tmp_path):
    """Retried, it would only fail saying the account is not configured: refused at once,
    by the API and by the console's button."""
    config = write_config(tmp_path, account("acme") + account("gone"))
    daemon = Daemon(config).start()
    try:
        _, code, reply = send_as(daemon.smtp_port, "gone", [("20240516.csv", ROW)])
        assert code == 250, reply
        [run_id] = queued_ids(reply)
        assert daemon.wait_run(run_id)["state"] == "completed"
        daemon.terminate()
        config.write_text(config.read_text().replace(account("gone"), ""))
        daemon.start()
        reply = httpx.post(f"{daemon.api}/api/v1/runs/{run_id}/retry", headers=ADMIN)
        assert reply.status_code == 409 and reply.json()["error"] == "account_unknown"
        assert reply.json()["message"] == "アカウント gone は設定にありません"
        assert daemon.query("SELECT count(*) FROM runs WHERE retry_of = ?", (run_id,)) == [(0,)]
    finally:
        assert daemon.terminate() == 0


def test_a_file_failed_for_a_missing_column_is_retried_after_the_config_is_fixed(daemon):
    data = region_csv(["1,2024/05/16,100,a,東京", "2,2024/05/16,200,b,大阪"])
    old = mailed(daemon, "20240516.csv", data)
    failed = daemon.wait_run(old)
    assert failed["state"] == "failed" and "region" in failed["message"]

    # An account's token may not retry; the admin may.
    refused = httpx.post(f"{daemon.api}/api/v1/runs/{old}/retry", headers=ACME)
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden"

    text = daemon.config.read_text(encoding="utf-8")
    daemon.config.write_text(text.replace(NOTE_COLUMN, REGION_COLUMN), encoding="utf-8")
    daemon.notify.received.clear()
    daemon.proc.send_signal(signal.SIGHUP)
    daemon.notify.wait_for("RELOADING=1")
    daemon.notify.wait_for("READY=1")

    result = renkei("retry", old[-6:], "--config", str(daemon.config))
    assert result.returncode == 0, result.stderr
    new = result.stdout.strip().rsplit(" ", 1)[-1]
    assert result.stdout.strip() == f"実行 {old} を再取込します: 新しい実行 {new}"
    run = daemon.wait_run(new)
    assert run["state"] == "completed" and run["rows_imported"] == 2
    assert (run["retry_of"], run["channel"], run["sender"]) == (old, "mail", failed["sender"])
    assert run["filename"] == "20240516.csv" and run["sha256"] == failed["sha256"]
    assert daemon.query("SELECT member_no, region, _run_id FROM performance ORDER BY 1") == [
        (1, "東京", new),
        (2, "大阪", new),
    ]
    shown = httpx.get(f"{daemon.api}/api/v1/runs/{new}", headers=ADMIN).json()
    assert shown["retry_of"] == old
    assert httpx.get(f"{daemon.api}/api/v1/runs/{old}", headers=ADMIN).json()["retry_of"] is None
    assert (daemon.data_dir / "files" / old / "20240516.csv").read_bytes() == data
    assert (daemon.data_dir / "files" / new / "20240516.csv").read_bytes() == data
    shown = renkei("show", new, "--config", str(daemon.config)).stdout.splitlines()
    assert f"再取込元: {old}" in shown


def test_rows_a_table_constraint_refuses_fail_the_run_at_once_and_retry_once_fixed(daemon):
    """A UNIQUE index an admin added: the same rows would be refused at every attempt,
    so the run fails at once saying why (it was tried twice more, then quarantined)."""
    first = daemon.wait_run(mailed(daemon, "20240515.csv", csv_bytes(["1,2024/05/15,1,a"])))
    assert first["state"] == "completed"
    with contextlib.closing(sqlite3.connect(daemon.db_path)) as db:
        db.execute("CREATE UNIQUE INDEX one_member ON performance (member_no)")
        db.commit()
    data = csv_bytes(["2,2024/05/16,1,b", "2,2024/05/16,2,c"])
    run = daemon.wait_run(mailed(daemon, "20240516.csv", data))
    assert (run["state"], run["attempts"]) == ("failed", 0), run
    assert "データベースがこのファイルの行を受け付けませんでした: UNIQUE" in run["message"]
    assert not list((daemon.data_dir / "spool" / "failed").iterdir())
    # Kept once the run is final: the spool hands its copy over just after the commit.
    kept = daemon.data_dir / "files" / run["id"] / "20240516.csv"
    deadline = time.monotonic() + 10
    while not kept.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert kept.read_bytes() == data

    with contextlib.closing(sqlite3.connect(daemon.db_path)) as db:
        db.execute("DROP INDEX one_member")
        db.commit()
    retried = httpx.post(f"{daemon.api}/api/v1/runs/{run['id']}/retry", headers=ADMIN)
    assert retried.status_code == 202
    again = daemon.wait_run(retried.json()["id"])
    assert (again["state"], again["rows_imported"]) == ("completed", 2)


def test_the_daily_sweep_follows_a_time_zone_changed_by_reload(daemon):
    """daemon.timezone needs no restart, and the expected-file and digest jobs follow
    a change; the sweep stayed at 03:30 in the old zone."""
    text = daemon.config.read_text(encoding="utf-8")  # the default zone, Asia/Tokyo
    zone = '[daemon]\ntimezone = "America/New_York"\n'
    daemon.config.write_text(text.replace("[daemon]\n", zone, 1), encoding="utf-8")
    daemon.notify.received.clear()
    daemon.proc.send_signal(signal.SIGHUP)
    daemon.notify.wait_for("RELOADING=1")
    daemon.notify.wait_for("READY=1")
    wait_for(lambda: "sweeping daily at 03:30 America/New_York" in daemon.log.read_text())


def test_a_retry_asked_as_its_run_ends_waits_for_the_file_to_be_kept(daemon):
    """The import process keeps a run's file right after its commit: a retry asked in
    between (a click as the page said it ended) was refused as not kept. The run is
    put back in that moment here: its file in the spool, not yet among the kept."""
    run = mailed(daemon, "20240519.csv", csv_bytes(["1,2024/05/19,100,a"]))
    assert daemon.wait_run(run)["state"] == "completed"
    kept = daemon.data_dir / "files" / run
    item = daemon.data_dir / "spool" / "active" / run
    # Settled first (the moment this test stands in for is over): kept, out of the spool.
    wait_for(lambda: kept.is_dir() and not item.exists())
    aside = daemon.data_dir / "aside"
    kept.rename(aside)
    item.mkdir()

    def kept_now() -> None:
        time.sleep(0.5)
        aside.rename(kept)
        item.rmdir()

    keeper = threading.Thread(target=kept_now)
    keeper.start()
    try:
        reply = httpx.post(f"{daemon.api}/api/v1/runs/{run}/retry", headers=ADMIN, timeout=30)
    finally:
        keeper.join()
    assert reply.status_code == 202, reply.text
    assert daemon.wait_run(reply.json()["id"])["state"] == "completed"


def test_show_and_undo_of_a_file_still_waiting_say_what_it_is(daemon):
    """A file waiting in the spool (SQLite records its run once the importer takes
    it): `renkei show` gave it no layout and the schema's default mode, and `renkei
    undo` said its rows were not kept, where the API says it has not completed."""
    with imports_paused(daemon):
        run_id = mailed(daemon, "20240520.csv", csv_bytes(["1,2024/05/20,100,a"]))
        shown = json.loads(renkei("show", run_id, "--json", "--config", str(daemon.config)).stdout)
        assert (shown["state"], shown["layout"]) == ("queued", "performance"), shown
        api = httpx.get(f"{daemon.api}/api/v1/runs/{run_id}", headers=ADMIN).json()
        assert (shown["mode"], shown["layout"]) == (api["mode"], api["layout"])
        undo = renkei("undo", run_id, "--config", str(daemon.config))
        assert undo.returncode == 1
        assert f"実行 {run_id} は取込完了ではないため" in undo.stderr, undo.stderr
    assert daemon.wait_run(run_id)["state"] == "completed"


def test_a_second_retry_while_the_first_waits_is_answered_with_it(daemon):
    old = mailed(daemon, "20240516.csv", csv_bytes(["1,2024/05/16,100,a"]))
    assert daemon.wait_run(old)["state"] == "completed"
    url = f"{daemon.api}/api/v1/runs/{old}/retry"
    with imports_paused(daemon):
        first = httpx.post(url, headers=ADMIN)
        assert first.status_code == 202, first.text
        new = first.json()["id"]
        assert first.json() == {
            "id": new,
            "url": f"{daemon.api}/api/v1/runs/{new}",
            "retry_of": old,
        }
        again = httpx.post(url, headers=ADMIN)
        assert again.status_code == 200 and again.json()["id"] == new
        assert again.headers["idempotent-replayed"] == "true"
        cli = renkei("retry", old, "--config", str(daemon.config))
        assert cli.returncode == 0
        assert cli.stdout.strip() == f"実行 {old} の再取込はすでに待っています: 実行 {new}"
        assert daemon.run(new)["state"] == "queued"
        # The waiting retry itself is not final: it cannot be retried yet.
        busy = httpx.post(f"{daemon.api}/api/v1/runs/{new}/retry", headers=ADMIN)
        assert busy.status_code == 409 and busy.json()["error"] == "run_not_final"
        assert "待機中" in busy.json()["message"]  # in words, not the code
    assert daemon.wait_run(new)["state"] == "completed"
    assert daemon.query("SELECT count(*) FROM runs WHERE retry_of = ?", (old,)) == [(1,)]
    # Once it has run, a retry is a new run again.
    later = httpx.post(url, headers=ADMIN)
    assert later.status_code == 202 and later.json()["id"] != new
    assert daemon.wait_run(later.json()["id"])["state"] == "completed"
    assert daemon.query("SELECT count(*) FROM performance") == [(1,)]


def quarantined_card(daemon: Daemon) -> str:
    """The overview's 隔離 card, as the console's admin sees it."""
    web = login(daemon.api, "admin")
    try:
        page = web.get("/console/").text
    finally:
        web.close()
    return re.search(r'<div class="card[^"]*"><span class="n">\d+</span>隔離', page).group(0)


def test_a_quarantined_item_is_retried_from_failed_and_swept_with_its_run(tmp_path):
    config = config_for(tmp_path)
    config.write_text(config.read_text(encoding="utf-8") + users_toml(), encoding="utf-8")
    spool = Spool(tmp_path / "var" / "spool")
    data = csv_bytes(["7,2024/05/16,1,q"])
    item_id = killed_in_attempt(spool.root, data, attempts=2)  # in its third attempt
    daemon = Daemon(config).start()
    try:
        assert daemon.wait_run(item_id)["state"] == "failed"
        assert quarantined_card(daemon) == '<div class="card bad"><span class="n">1</span>隔離'
        file = httpx.get(f"{daemon.api}/api/v1/runs/{item_id}/file", headers=ADMIN)
        assert file.status_code == 200 and file.content == data
        assert 'filename="20240516.csv"' in file.headers["content-disposition"]
        reply = httpx.post(f"{daemon.api}/api/v1/runs/{item_id}/retry", headers=ADMIN)
        assert reply.status_code == 202
        run = daemon.wait_run(reply.json()["id"])
        assert run["state"] == "completed" and run["retry_of"] == item_id
        assert daemon.query("SELECT member_no FROM performance") == [(7,)]
        # Quarantine is never emptied by hand: the item stays until its run is swept,
        # but its trouble is over: the card no longer counts it (it stayed red).
        assert (spool.failed / item_id / "data").read_bytes() == data
        assert quarantined_card(daemon) == '<div class="card"><span class="n">0</span>隔離'
        # A run whose report is still to be queued is not swept: let both be queued.
        wait_for(lambda: daemon.query(PENDING_REPORTS) == [(0,)])
    finally:
        assert daemon.terminate() == 0
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=91)
    result = renkei("sweep", "--now", later.isoformat(), "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert not (spool.failed / item_id).exists()
    assert daemon.query("SELECT count(*) FROM runs") == [(0,)]


def test_the_sweep_removes_old_final_runs_and_never_unfinished_work(tmp_path, relay):
    relay.refuse["sales@acme.example"] = "550 5.1.1 no such user"  # success reports fail
    config = config_for(tmp_path, relay.port, retention_days=1)
    daemon = Daemon(config).start()
    data = daemon.data_dir
    try:
        assert (
            "retention: sweeping at start and daily at 03:30 Asia/Tokyo" in daemon.log.read_text()
        )
        good = mailed(daemon, "20240516.csv", csv_bytes(["1,2024/05/16,1,a"]))
        bad = mailed(daemon, "20240517.csv", csv_bytes(["x,2024/05/17,1,b"]))
        for run_id, report in ((good, "failed"), (bad, "sent")):
            wait_for(lambda r=run_id, s=report: daemon.run(r).get("report_state") == s)
        assert (data / "outbox" / "failed" / f"{good}.eml").exists()
        assert daemon.query("SELECT count(*) FROM run_errors WHERE run_id = ?", (bad,)) == [(1,)]
        time.sleep(0.05)
        middle = dt.datetime.now(dt.UTC)
        time.sleep(0.05)
        recent = mailed(daemon, "20240518.csv", csv_bytes(["3,2024/05/18,3,c"]))
        wait_for(lambda: daemon.run(recent).get("report_state") == "failed")

        with imports_paused(daemon):
            waiting = mailed(daemon, "20240519.csv", csv_bytes(["4,2024/05/19,4,d"]))
            retry = httpx.post(f"{daemon.api}/api/v1/runs/{good}/retry", headers=ADMIN).json()
            # One day later than `middle`: what finished before it is past retention.
            now = (middle + dt.timedelta(days=1)).isoformat()
            result = renkei("sweep", "--now", now, "--config", str(config))
            assert result.returncode == 0, result.stderr
            assert result.stdout.strip() == (
                f"{middle.astimezone(TOKYO).isoformat(timespec='seconds')} より前に終わった実行 2 件"
                "(受信ファイル 2 件)と、送れなかった報告メール 1 件を削除しました(保存期間 1 日)"
            )
            for run_id in (good, bad):
                assert daemon.run(run_id) == {}
                assert not (data / "files" / run_id).exists()
                assert not (data / "reports" / run_id).exists()
            assert daemon.query("SELECT count(*) FROM run_errors WHERE run_id = ?", (bad,)) == [
                (0,)
            ]
            assert not (data / "outbox" / "failed" / f"{good}.eml").exists()
            assert not (data / "outbox" / "failed" / f"{good}.json").exists()
            # Newer than the retention: untouched.
            assert daemon.run(recent)["state"] == "completed"
            assert (data / "files" / recent / "20240518.csv").exists()
            assert (data / "outbox" / "failed" / f"{recent}.eml").exists()
            # Unfinished work: untouched, even a retry of a run the sweep removed.
            assert daemon.run(retry["id"])["state"] == "queued"
            incoming = {p.name for p in (data / "spool" / "incoming").iterdir()}
            assert {waiting, retry["id"]} <= incoming
        assert daemon.wait_run(waiting)["state"] == "completed"
        assert daemon.wait_run(retry["id"])["state"] == "completed"
        assert daemon.query("SELECT member_no FROM performance ORDER BY 1") == [(1,), (3,), (4,)]
    finally:
        assert daemon.terminate() == 0

    # The daemon sweeps at start too: make the recent run two days old, and start it.
    two_days_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    with contextlib.closing(sqlite3.connect(daemon.db_path)) as db, db:
        stamp = two_days_ago.isoformat(timespec="milliseconds")
        db.execute("UPDATE runs SET finished_at = ? WHERE id = ?", (stamp, recent))
    daemon = Daemon(config).start()
    try:
        wait_for(lambda: daemon.run(recent) == {})
        wait_for(lambda: not (data / "files" / recent).exists())
        assert daemon.run(waiting)["state"] == "completed"
        # Said once the sweep is through, after the run and its files went.
        wait_for(lambda: "retention: removed 1 runs" in daemon.log.read_text())
    finally:
        assert daemon.terminate() == 0


def test_a_partners_file_is_not_for_others_to_read(tmp_path):
    """Under a umask of 022 (a shell's), the data_dir renkei makes is not others' to
    enter, so the files kept there (readable by the umask) are not others' to read."""
    config = write_config(tmp_path, account("acme", report="never"))
    source = tmp_path / "20240516.csv"
    source.write_bytes(csv_bytes(["1,2024/05/16,10,a"]))
    old = os.umask(0o022)
    try:
        result = renkei("import", str(source), "--account", "acme", "--config", str(config))
    finally:
        os.umask(old)
    assert result.returncode == 0, result.stderr
    data_dir = tmp_path / "var"
    assert data_dir.stat().st_mode & 0o777 == 0o750
    assert list((data_dir / "files").glob("*/20240516.csv"))


def test_the_data_dir_serve_makes_is_not_for_others_either(tmp_path):
    config = write_config(tmp_path, account("acme", report="never"))
    old = os.umask(0o022)
    try:
        daemon = Daemon(config).start()
    finally:
        os.umask(old)
    try:
        assert daemon.data_dir.stat().st_mode & 0o777 == 0o750
    finally:
        daemon.terminate()


def test_show_names_a_file_still_waiting_as_the_queued_run_it_is(daemon):
    """The id a door's answer named was "no such run" to renkei show until the importer
    took the file (SQLite records it then), while the API showed it queued."""
    with imports_paused(daemon):
        waiting = mailed(daemon, "20240520.csv", csv_bytes(["5,2024/05/20,1,w"]))
        shown = renkei("show", waiting, "--config", str(daemon.config))
        assert shown.returncode == 0, shown.stderr
        assert "状態: 待機中" in shown.stdout
        assert "受信したファイルは取込待ちか取込中です" in shown.stdout
    assert daemon.wait_run(waiting)["state"] == "completed"
