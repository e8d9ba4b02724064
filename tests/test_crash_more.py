"""More crashes and server trouble against the real daemon: a kill while a finished
item leaves the spool, a second FTP upload of a waiting name, a check while the spool
cannot take files, a kill after the relay took a report, renkei's own folders it may
not write, and scratch databases of a killed import."""

from __future__ import annotations

import asyncio
import contextlib
import ftplib
import io
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import httpx
import pytest

from daemon.spool.queue import Meta, Spool
from tests.support import (
    ROOT,
    Daemon,
    Relay,
    account,
    csv_bytes,
    import_process,
    mail,
    pause,
    queued_ids,
    renkei,
    send,
    unwritable,
    wait_for,
    write_config,
)
from tests.test_durability import big_config, big_csv
from tests.test_ftp import ADMIN, ftp_config

pytestmark = pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux")


# -- a daemon that folder permissions apply to ------------------------------------------

_NO_OVERRIDE = "-dac_override,-dac_read_search,-fowner"


@pytest.fixture
def unprivileged(monkeypatch, tmp_path):
    """Daemons (and commands) started by this test run without the capabilities that
    let root write any folder, so a chmod of one of renkei's folders bites, as it does
    for the service's own user."""
    if os.geteuid() != 0:
        return
    if subprocess.run(["setpriv", "--version"], capture_output=True).returncode != 0:
        pytest.skip("no setpriv")
    wrapper = tmp_path / "python-unprivileged"
    wrapper.write_text(
        f'#!/bin/sh\nexec setpriv --bounding-set {_NO_OVERRIDE} {sys.executable} "$@"\n'
    )
    wrapper.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(wrapper))


@contextlib.contextmanager
def read_only(folder: Path):
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o555)
    try:
        yield
    finally:
        folder.chmod(0o755)


# -- 1. a kill while a finished item leaves the spool -----------------------------------


TWO_ROWS = csv_bytes(["1,2024/05/16,1,a", "2,2024/05/16,2,b"])


def completed_run(tmp_path, relay) -> tuple[Daemon, str]:
    config = write_config(tmp_path, account("acme"), relay_port=relay.port)
    daemon = Daemon(config).start()
    try:
        msg = mail([("20240516.csv", TWO_ROWS)])
        _, code, reply = send(daemon.smtp_port, msg)
        assert code == 250
        [run_id] = queued_ids(reply)
        assert daemon.wait_run(run_id)["state"] == "completed"
        relay.for_recipient("sales@acme.example")
        wait_for(lambda: not (daemon.data_dir / "spool" / "active" / run_id).exists())
    finally:
        assert daemon.terminate() == 0
    return daemon, run_id


# A process that settles the item as the importer does (Spool.finish) and is killed
# (SIGKILL, by itself) the moment the item's meta.json is gone: where a kill inside the
# removal of a finished item lands worst.
_DIES_IN_DROP = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from daemon.spool.queue import Spool
    spool = Spool(Path(sys.argv[1]))
    item = spool.load(spool.active / sys.argv[2])
    real_unlink = os.unlink
    def unlink(path, *args, **kwargs):
        real_unlink(path, *args, **kwargs)
        if os.fsdecode(path).endswith("meta.json"):
            os.kill(os.getpid(), signal.SIGKILL)
    os.unlink = unlink
    spool.finish(item)
    """
)


def test_a_kill_while_a_finished_item_is_removed_leaves_no_item_without_its_meta(tmp_path, relay):
    daemon, run_id = completed_run(tmp_path, relay)
    spool = Spool(daemon.data_dir / "spool")
    # The item as it was just before its run committed, claimed in `active/`.
    meta = Meta("acme", "mail", "export@acme.example", "20240516.csv")
    spool.enqueue_many([(meta, TWO_ROWS, run_id)])
    claimed = spool.claim(run_id)
    os.close(claimed.lock_fd)
    dying = subprocess.run(
        [sys.executable, "-c", _DIES_IN_DROP, str(spool.root), run_id], cwd=ROOT, timeout=60
    )
    assert dying.returncode == -signal.SIGKILL
    # Nothing in `active/` a start could take for a damaged item.
    assert list(spool.active.iterdir()) == []

    daemon = Daemon(daemon.config).start()
    try:
        time.sleep(2)
        run = daemon.run(run_id)
        assert (run["state"], run["rows_imported"]) == ("completed", 2)
        assert list(spool.tmp.iterdir()) == []  # what the kill left is gone
    finally:
        daemon.terminate()


def test_a_completed_run_whose_spool_folder_a_crash_emptied_stays_completed(tmp_path, relay):
    daemon, run_id = completed_run(tmp_path, relay)
    spool = daemon.data_dir / "spool"
    before = daemon.run(run_id)
    (spool / "active" / run_id).mkdir()  # what a kill inside the old removal left
    daemon = Daemon(daemon.config).start()
    try:
        wait_for(lambda: not (spool / "active" / run_id).exists())
        time.sleep(1)  # the start's recovery has recorded what it found
        run = daemon.run(run_id)
        assert (run["state"], run["rows_imported"]) == ("completed", 2)
        assert (run["message"], run["finished_at"]) == (before["message"], before["finished_at"])
        assert "removed what was left of its spool copy" in daemon.log.read_text()
        assert list((spool / "failed").iterdir()) == []
        assert list((spool / "active").iterdir()) == []
        time.sleep(1)
        assert [m["Subject"] for m in relay.messages if "ops@acme.example" in str(m["To"])] == []
    finally:
        daemon.terminate()


# -- 2. and 3. FTP: a second upload of a waiting name; the spool unavailable ---------------


def ftp_daemon(tmp_path) -> Daemon:
    config, port = ftp_config(tmp_path)
    daemon = Daemon(config).start()
    daemon.ftp_port = port
    return daemon


def upload(daemon: Daemon, name: str, data: bytes) -> str:
    with ftplib.FTP() as ftp:
        ftp.connect("127.0.0.1", daemon.ftp_port, timeout=10)
        ftp.login("acme", "demo-acme-ftp")
        return ftp.storbinary(f"STOR {name}", io.BytesIO(data))


def poll(daemon: Daemon) -> httpx.Response:
    return httpx.post(f"{daemon.api}/api/v1/accounts/acme/poll", headers=ADMIN, timeout=30)


def one_row(note: str) -> bytes:
    return csv_bytes([f"1,2024/05/16,1,{note}"])


def imported_in_order(daemon: Daemon, ids: list[str], notes: list[str]) -> None:
    """Each upload its own run under the name it was sent as, in the order they came:
    the file's rows are those of the last (replace_file), each run said its own."""
    assert ids == sorted(ids)
    for run_id in ids:
        run = daemon.wait_run(run_id)
        assert (run["state"], run["filename"]) == ("completed", "20240516.csv"), run
    assert daemon.query("SELECT note FROM performance") == [(notes[-1],)]
    assert len(ids) == len(notes)


def test_a_second_upload_of_a_waiting_name_keeps_both_in_order(tmp_path):
    daemon = ftp_daemon(tmp_path)
    try:
        for note in ("first", "second", "third"):
            assert upload(daemon, "20240516.csv", one_row(note)).startswith("226")
        time.sleep(0.5)
        # Taken only at a check, as ever.
        assert daemon.query("SELECT count(*) FROM runs WHERE channel = 'ftp'") == [(0,)]
        reply = poll(daemon)
        assert reply.status_code == 200
        ids = [run["id"] for run in reply.json()["runs"]]
        imported_in_order(daemon, ids, ["first", "second", "third"])
        home = daemon.data_dir / "ftp" / "acme"
        assert list(home.iterdir()) == []
        assert poll(daemon).json()["runs"] == []
    finally:
        daemon.terminate()


def test_a_poll_while_the_spool_cannot_take_files_gets_503_and_the_files_wait(
    tmp_path, unprivileged
):
    daemon = ftp_daemon(tmp_path)
    try:
        assert upload(daemon, "20240516.csv", one_row("first")).startswith("226")
        assert upload(daemon, "20240516.csv", one_row("second")).startswith("226")
        with read_only(daemon.data_dir / "spool" / "incoming"):
            reply = poll(daemon)
            assert reply.status_code == 503, reply.text
            assert reply.json()["error"] == "spool_unavailable"
            assert reply.headers["Retry-After"] == "30"
            assert "次の確認" in reply.json()["message"]
            said = renkei("poll", "acme", "--config", str(daemon.config), timeout=60)
            assert said.returncode == 1
            assert "acme: いまはスプールにファイルを取り込めません" in said.stderr
            assert upload(daemon, "20240516.csv", one_row("third")).startswith("226")
        assert "Traceback" not in daemon.log.read_text()
        reply = poll(daemon)
        assert reply.status_code == 200
        ids = [run["id"] for run in reply.json()["runs"]]
        imported_in_order(daemon, ids, ["first", "second", "third"])
    finally:
        daemon.terminate()


def test_a_claim_a_crash_left_goes_back_behind_a_later_upload_of_its_name(tmp_path):
    """Killed mid-check, after the claim and before the spool: the claimed upload is
    given back at the start without replacing the one uploaded under its name since."""
    config, port = ftp_config(tmp_path)
    home = tmp_path / "var" / "ftp" / "acme"
    home.mkdir(parents=True)
    (home / ".claimed-20240516T000000000000-abcdef-20240516.csv").write_bytes(one_row("first"))
    (home / "20240516.csv").write_bytes(one_row("second"))
    daemon = Daemon(config).start()
    daemon.ftp_port = port
    try:
        reply = poll(daemon)
        ids = [run["id"] for run in reply.json()["runs"]]
        imported_in_order(daemon, ids, ["first", "second"])
    finally:
        daemon.terminate()


# -- 4. a kill after the relay took a report ----------------------------------------------


class HeldRelay(Relay):
    """A relay that holds each message's 250 until the test lets it go."""

    def __init__(self) -> None:
        super().__init__()
        self.got = threading.Event()
        self.answer = threading.Event()

    async def handle_DATA(self, server, session, envelope) -> str:
        self.got.set()
        await asyncio.to_thread(self.answer.wait, 30)
        return await super().handle_DATA(server, session, envelope)


def test_a_report_the_relay_took_is_not_sent_again_after_a_kill(tmp_path):
    relay = HeldRelay()
    relay.start()
    daemon = Daemon(write_config(tmp_path, account("acme"), relay_port=relay.port)).start()
    try:
        _, _, reply = send(daemon.smtp_port, mail([("20240516.csv", one_row("a"))]))
        [run_id] = queued_ids(reply)
        assert relay.got.wait(30)
        # An import's write lock, as a large one holds it: the report's record waits.
        db = sqlite3.connect(daemon.db_path, isolation_level=None, timeout=30)
        db.execute("BEGIN IMMEDIATE")
        relay.answer.set()
        relay.wait(1)
        time.sleep(1)
        daemon.kill()
        db.execute("ROLLBACK")
        db.close()
        daemon = Daemon(daemon.config).start()
        wait_for(lambda: daemon.run(run_id)["report_state"] == "sent", timeout=20)
        time.sleep(2)  # several retry periods
        assert len(relay.messages) == 1
        assert list((daemon.data_dir / "outbox").glob("*.eml")) == []
    finally:
        daemon.terminate()
        relay.stop()


# -- 5. renkei's own folders it may not write ----------------------------------------------


def test_a_report_folder_renkei_may_not_write_puts_runs_back_uncounted(
    tmp_path, relay, unprivileged
):
    config = write_config(tmp_path, account("acme"), relay_port=relay.port)
    daemon = Daemon(config).start()
    reports = daemon.data_dir / "reports"
    try:
        with read_only(reports):
            _, code, reply = send(daemon.smtp_port, mail([("20240516.csv", one_row("a"))]))
            assert code == 250
            [run_id] = queued_ids(reply)
            time.sleep(10)  # three counted attempts would have quarantined it by now
            run = daemon.run(run_id)
            assert (run["state"], run["attempts"]) == ("queued", 0), run
            assert "権限がありません" in run["message"], run["message"]
            assert str(reports) in run["message"] and "Errno" not in run["message"]
            assert list((daemon.data_dir / "spool" / "failed").iterdir()) == []
            assert relay.messages == []
        run = daemon.wait_run(run_id, timeout=60)
        assert (run["state"], run["rows_imported"]) == ("completed", 1)
        [report] = relay.for_recipient("sales@acme.example")
        assert "取込エラー" not in report["Subject"]
        assert "Permission denied" in daemon.log.read_text()
    finally:
        daemon.terminate()


@contextlib.contextmanager
def immutable(*paths: Path):
    """Files no process may write, root too, through the handles it holds (chattr +i),
    as a read-only remount or a failing disk leaves them to SQLite."""
    chattr = shutil.which("chattr")
    if os.geteuid() != 0 or chattr is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chattr +i needs root and chattr")
        pytest.skip("chattr +i needs root and chattr")
    made = []
    try:
        for path in paths:
            if subprocess.run([chattr, "+i", str(path)]).returncode:
                pytest.skip(f"no chattr +i on {path}'s file system")
            made.append(path)
        yield
    finally:
        for path in made:
            subprocess.run([chattr, "-i", str(path)], check=True)


def test_a_database_renkei_may_not_write_puts_runs_back_uncounted(tmp_path, relay):
    """SQLite's disk I/O or read-only error was taken for the file's failure: three
    tries in six seconds and the partner's file was quarantined, for the server's
    trouble of the moment."""
    config = write_config(tmp_path, account("acme"), relay_port=relay.port)
    daemon = Daemon(config).start()
    try:
        _, _, reply = send(daemon.smtp_port, mail([("20240515.csv", one_row("a"))]))
        daemon.wait_run(queued_ids(reply)[0])
        database = daemon.db_path
        with immutable(database, database.with_name(database.name + "-wal")):
            _, code, reply = send(daemon.smtp_port, mail([("20240516.csv", one_row("b"))]))
            assert code == 250
            [run_id] = queued_ids(reply)
            time.sleep(10)  # three counted attempts would have quarantined it by now
            assert list((daemon.data_dir / "spool" / "failed").iterdir()) == []
        run = daemon.wait_run(run_id, timeout=60)
        assert (run["state"], run["rows_imported"]) == ("completed", 1), run
        assert "quarantined" not in daemon.log.read_text()
    finally:
        daemon.terminate()


def test_a_files_folder_renkei_may_not_write_keeps_the_file_in_the_spool(tmp_path):
    """The run completed and its file, which data_dir/files could not take, was deleted:
    no download, no retry."""
    daemon = Daemon(write_config(tmp_path, account("acme"))).start()
    try:
        with unwritable(daemon.data_dir / "files"):
            data = one_row("kept")
            _, code, reply = send(daemon.smtp_port, mail([("20240516.csv", data)]))
            assert code == 250
            [run_id] = queued_ids(reply)
            assert daemon.wait_run(run_id)["state"] == "completed"
            url = f"{daemon.api}/api/v1/runs/{run_id}/file"
            wait_for(lambda: httpx.get(url, headers=ADMIN).status_code == 200)
        assert httpx.get(url, headers=ADMIN).content == data
        retried = httpx.post(f"{daemon.api}/api/v1/runs/{run_id}/retry", headers=ADMIN)
        assert retried.status_code == 202, retried.text
        assert daemon.wait_run(retried.json()["id"])["state"] == "completed"
    finally:
        daemon.terminate()


# -- 6. scratch databases of a killed import ------------------------------------------------


def test_scratch_databases_of_a_killed_import_go_when_its_run_ends(tmp_path):
    config = big_config(tmp_path)
    config.write_text(
        config.read_text().replace("min_free_bytes = 0", "min_free_bytes = 0\nmax_attempts = 1")
    )
    spool = Spool(tmp_path / "var" / "spool")
    meta = Meta("acme", "mail", "export@acme.example", "20240516.csv")
    item = spool.enqueue(meta, big_csv(600_000))  # over LARGE_FILE: read in parts
    daemon = Daemon(config).start()
    try:
        scratch = daemon.data_dir / "staging" / item.id
        wait_for(lambda: list(scratch.glob("part*.db")), timeout=60, step=0.01)
        os.kill(import_process(daemon), signal.SIGKILL)
        # Its one attempt spent: the file is quarantined, not read (or staged) again.
        run = daemon.wait_run(item.id, timeout=60)
        assert run["state"] == "failed" and "隔離" in run["message"]
        wait_for(lambda: not scratch.exists(), timeout=10)
        # Its part readers found nobody to answer: they end without a traceback.
        time.sleep(1)
        assert "BrokenPipeError" not in daemon.log.read_text()
    finally:
        daemon.terminate()


def test_a_poll_asked_while_the_daemon_starts_waits_for_its_checks(tmp_path):
    """The API opens before the FTP checks are made (they wait for the import process
    to be ready): a poll then was a 500 with a traceback (no poller yet), not JSON.
    The import process is held at its start to keep the daemon there."""
    config, _ = ftp_config(tmp_path)
    daemon = Daemon(config)
    starting = threading.Thread(target=daemon.start)
    starting.start()
    url = f"{daemon.api}/api/v1/accounts/acme/poll"
    try:
        wait_for(lambda: daemon.proc is not None)
        importer = import_process(daemon)
        pause(importer)
        wait_for(lambda: _listening(daemon.api_port))

        def resume() -> None:
            time.sleep(2)
            os.kill(importer, signal.SIGCONT)

        threading.Thread(target=resume).start()
        answer = httpx.post(url, headers=ADMIN, timeout=60)
        assert answer.status_code == 200, answer.text
    finally:
        starting.join()
        daemon.terminate()
    assert "Traceback" not in daemon.log.read_text()


def _listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
        return True
    return False
