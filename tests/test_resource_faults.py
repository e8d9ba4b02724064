"""Resource faults never leave work stuck: a full disk, a database held by another
writer, a slow or idle SMTP peer, a file name the file system cannot hold. Each is
answered (or recorded) once, leaves nothing behind, and the daemon keeps serving."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ftplib
import io
import os
import signal
import socket
import sqlite3
import subprocess
import time
from email import policy
from pathlib import Path

import httpx
import pytest

from daemon.store.schema import JOURNAL_SIZE_LIMIT
from daemon.store.sqlite import SqliteStore
from daemon.worker import process
from daemon.worker.pipeline import Pipeline
from importers.messages import words_json, words_of
from tests.support import (
    Daemon,
    account,
    active_items,
    csv_bytes,
    ftp_served,
    import_process,
    mail,
    pause,
    queued_ids,
    quiet_ftp_schedule,
    renkei,
    send,
    write_config,
)

ADMIN = {"Authorization": "Bearer demo-admin"}


ADMIN_TO = "admin@example.jp"
ALERTS = f'admin_to = ["{ADMIN_TO}"]\n'


# -- a small file system to fill ------------------------------------------------------


@pytest.fixture
def tmpfs(tmp_path):
    """A 4 MB tmpfs, unmounted afterwards; a test that uses it kills its daemon first."""
    mount = tmp_path / "small"
    mount.mkdir()
    problem = None
    if os.geteuid() != 0:
        problem = "mounting a tmpfs needs root"
    else:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            problem = f"mount -t tmpfs failed: {done.stderr.strip()}"
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(problem)
        pytest.skip(problem)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(folder: Path, leave: int) -> Path:
    """A filler file that leaves about `leave` bytes free in `folder`'s file system."""
    filler = folder / "filler"
    st = os.statvfs(folder)
    size = max(st.f_bavail * st.f_frsize - leave, 0)
    with open(filler, "wb", buffering=0) as f:
        while size > 0:
            try:
                size -= f.write(b"\0" * min(size, 1 << 20))
            except OSError as exc:
                # The daemon wrote meanwhile (a claim unpacks its file): the disk is
                # as full as asked already.
                if exc.errno != errno.ENOSPC:
                    raise
                break
    return filler


def on_tmpfs(config: Path, mount: Path) -> Daemon:
    text = config.read_text().replace('data_dir = "var"', f'data_dir = "{mount}"')
    text = text.replace("max_message_bytes = 200000", "max_message_bytes = 2000000")
    config.write_text(text)
    return Daemon(config, data_dir=mount)


def big_rows(count: int, start: int = 1) -> bytes:
    rows = [f"{start + i},2024/05/16,{i},{'x' * 60}" for i in range(count)]
    return csv_bytes(rows)


def stopped(daemon: Daemon) -> None:
    """Stop the daemon, however it is doing: the tmpfs must be unmountable after."""
    if daemon.proc is None or daemon.proc.poll() is not None:
        return
    with contextlib.suppress(subprocess.TimeoutExpired):
        daemon.terminate()


def test_disk_full_while_spooling_a_mail_leaves_nothing_in_tmp(tmp_path, tmpfs):
    daemon = on_tmpfs(write_config(tmp_path, account("acme")), tmpfs).start()
    try:
        filler = fill(tmpfs, 200_000)
        msg = mail([("20240516.csv", big_rows(6000))])  # ~450 KB, more than the room
        step, code, reply = send(daemon.smtp_port, msg)
        assert (step, code) == ("DATA", 451), reply
        assert list((tmpfs / "spool" / "tmp").iterdir()) == []

        filler.unlink()
        _, code, reply = send(daemon.smtp_port, msg)
        assert code == 250, reply
        assert daemon.wait_run(queued_ids(reply)[0])["state"] == "completed"
    finally:
        stopped(daemon)


# -- FTP ----------------------------------------------------------------------------


def ftp_daemon(tmp_path: Path, mount: Path) -> Daemon:
    accounts = account("acme") + (
        '[accounts.acme.ftp]\nuser = "acme"\npassword = "demo-acme-ftp"\n' + quiet_ftp_schedule()
    )
    config = write_config(tmp_path, accounts)
    port = ftp_served(config)
    daemon = on_tmpfs(config, mount)
    daemon.ftp_port = port
    return daemon


def upload(daemon: Daemon, name: str, data: bytes) -> str:
    ftp = ftplib.FTP()
    ftp.connect("127.0.0.1", daemon.ftp_port, timeout=10)
    try:
        ftp.login("acme", "demo-acme-ftp")
        return ftp.storbinary(f"STOR {name}", io.BytesIO(data), blocksize=1024)
    finally:
        with contextlib.suppress(OSError, ftplib.Error):
            ftp.quit()


def refused_upload(daemon: Daemon, name: str, data: bytes) -> str:
    """The control connection's reply to an upload the server gives up on. The server
    may close the data connection while the client still sends (a reset there, as any
    client may see); the answer that counts comes on the control connection."""
    ftp = ftplib.FTP()
    ftp.connect("127.0.0.1", daemon.ftp_port, timeout=10)
    try:
        ftp.login("acme", "demo-acme-ftp")
        conn = ftp.transfercmd(f"STOR {name}")
        try:
            for start in range(0, len(data), 1024):
                conn.sendall(data[start : start + 1024])
        except OSError:
            pass
        finally:
            conn.close()
        try:
            return ftp.voidresp()
        except ftplib.Error as exc:
            return str(exc)
    finally:
        with contextlib.suppress(OSError, ftplib.Error):
            ftp.quit()


def test_disk_full_during_an_ftp_upload_gets_452_and_no_part_file(tmp_path, tmpfs):
    daemon = ftp_daemon(tmp_path, tmpfs).start()
    try:
        home = tmpfs / "ftp" / "acme"
        filler = fill(tmpfs, 100_000)
        reply = refused_upload(daemon, "20240516.csv", big_rows(6000))
        # The disk's ENOSPC, wrapped by pyftpdlib without its errno, was a 451
        # write_failed: a client may give up on it, where a 452 says try later.
        assert reply.startswith("452"), reply
        refusals = httpx.get(
            f"{daemon.api}/api/v1/refusals?channel=ftp", headers=ADMIN, timeout=10
        ).json()["refusals"]
        assert [r["reason"] for r in refusals] == ["low_space"], refusals
        assert [p.name for p in home.iterdir()] == []
        log = daemon.log.read_text()
        assert "CRITICAL" not in log and "Traceback" not in log, log[-3000:]

        filler.unlink()
        assert upload(daemon, "20240516.csv", big_rows(50)).startswith("226")
        reply = httpx.post(f"{daemon.api}/api/v1/accounts/acme/poll", headers=ADMIN, timeout=30)
        (run,) = reply.json()["runs"]
        assert daemon.wait_run(run["id"])["state"] == "completed"
    finally:
        stopped(daemon)


@pytest.mark.parametrize("others", [0, 1], ids=["alone", "beside-another-session"])
def test_a_full_disk_at_an_uploads_last_flush_gets_452_and_no_file(tmp_path, tmpfs, others):
    """A small upload waits in the writer's buffer until it is made durable, and a full
    disk fails it there: on the server's I/O thread while its session is alone, in the
    pool while another session is served. Either way a 452, nothing left in the home,
    and the other session still answered."""
    daemon = ftp_daemon(tmp_path, tmpfs).start()
    idle: list[ftplib.FTP] = []
    try:
        for _ in range(others):
            ftp = ftplib.FTP()
            ftp.connect("127.0.0.1", daemon.ftp_port, timeout=10)
            ftp.login("acme", "demo-acme-ftp")
            idle.append(ftp)
        home = tmpfs / "ftp" / "acme"
        filler = fill(tmpfs, 0)
        reply = refused_upload(daemon, "20240516.csv", csv_bytes(["1,2024/05/16,1,x"]))
        assert reply.startswith("452"), reply
        assert [p.name for p in home.iterdir()] == []
        for ftp in idle:
            assert ftp.voidcmd("NOOP").startswith("200")
        log = daemon.log.read_text()
        assert "Traceback" not in log, log[-3000:]

        filler.unlink()
        assert upload(daemon, "20240516.csv", big_rows(50)).startswith("226")
    finally:
        for ftp in idle:
            with contextlib.suppress(OSError, ftplib.Error):
                ftp.quit()
        stopped(daemon)


# -- the database held by another writer --------------------------------------------


@pytest.mark.slow
def test_database_busy_past_its_timeout_is_retried_not_a_crash(tmp_path):
    env = {"RENKEI_BUSY_TIMEOUT_MS": "300"}
    daemon = Daemon(write_config(tmp_path, account("acme")), env=env).start()
    try:
        other = sqlite3.connect(daemon.db_path, timeout=30, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        try:
            msg = mail([("20240516.csv", csv_bytes(["1,2024/05/16,1,x"]))])
            _, code, reply = send(daemon.smtp_port, msg)
            assert code == 250, reply
            (run_id,) = queued_ids(reply)
            # The worker tries, finds the database busy and puts the file back.
            incoming = daemon.data_dir / "spool" / "incoming" / run_id
            deadline = time.monotonic() + 10
            tried = False
            while time.monotonic() < deadline:
                tried = tried or "put back to try again later" in daemon.log.read_text()
                if tried and incoming.exists():
                    break
                time.sleep(0.05)
            assert tried and incoming.exists(), daemon.log.read_text()[-3000:]
            time.sleep(1.5)  # another attempt or two while it is held
            assert "crashed" not in daemon.log.read_text()
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert daemon.wait_run(run_id, timeout=30)["state"] == "completed"
        _, code, reply = send(
            daemon.smtp_port, mail([("20240517.csv", csv_bytes(["2,2024/05/17,1,y"]))])
        )
        assert daemon.wait_run(queued_ids(reply)[0])["state"] == "completed"
        assert "crashed" not in daemon.log.read_text()
        assert active_items(daemon.data_dir) == []
    finally:
        stopped(daemon)


def test_busy_timeout_is_shortened_only_by_its_environment_variable(monkeypatch, tmp_path):
    from daemon.store import schema

    async def timeout() -> int:
        db = await schema.connect(tmp_path / "x.db")
        try:
            async with db.execute("PRAGMA busy_timeout") as cur:
                return (await cur.fetchone())[0]
        finally:
            await db.close()

    monkeypatch.delenv("RENKEI_BUSY_TIMEOUT_MS", raising=False)
    assert asyncio.run(timeout()) == 30000
    monkeypatch.setenv("RENKEI_BUSY_TIMEOUT_MS", "250")
    assert asyncio.run(timeout()) == 250


def test_a_worker_that_keeps_crashing_is_restarted_with_growing_pauses(monkeypatch):
    pauses: list[float] = []

    class Crashing:
        async def serve(self) -> None:
            raise OSError(28, "No space left on device")

    class Parts:
        worker = Crashing()

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)
        if len(pauses) >= 8:
            raise asyncio.CancelledError

    async def run() -> None:
        importer = process.ImportProcess.__new__(process.ImportProcess)
        monkeypatch.setattr(process.asyncio, "sleep", sleep)
        with contextlib.suppress(asyncio.CancelledError):
            await importer._work(Parts())

    asyncio.run(run())
    assert pauses[0] <= 1 and pauses == sorted(pauses) and pauses[-1] >= 30
    assert max(pauses) <= 60


def test_a_run_waiting_for_the_system_is_said_in_words_in_either_language():
    """A full disk puts the file back; its run says why, kept as words for the
    console to say in its viewer's language (the system's own text only for an errno
    the catalog has no words for)."""
    full = Pipeline._cause(OSError(errno.ENOSPC, "No space left on device", "/var/x"))
    assert words_of(words_json(full)) == full
    assert (
        full.say("ja")
        == "システムのエラーのため、後で取り込み直します: /var/x: ディスクに空きがありません"
    )
    assert (
        full.say("en")
        == "to be imported later, for a system error: /var/x: no space left on the disk"
    )
    odd = Pipeline._cause(OSError(errno.ENOTTY, "Inappropriate ioctl", "/var/x"))
    assert odd.say("en").endswith("/var/x: system error ENOTTY: Inappropriate ioctl")
    assert words_of(words_json(odd)) == odd
    assert Pipeline._cause(RuntimeError("no words")) is None
    # A write that filled the disk names no file; SQLite says its disk is full in English.
    unnamed = Pipeline._cause(OSError(errno.ENOSPC, "No space left on device"))
    assert (
        unnamed.say("ja")
        == "システムのエラーのため、後で取り込み直します: ディスクに空きがありません"
    )
    disk_full = sqlite3.OperationalError("database or disk is full")
    disk_full.sqlite_errorcode = 13  # SQLITE_FULL, as SQLite raises it
    store_full = Pipeline._cause(disk_full)
    assert store_full.say("ja") == unnamed.say("ja")


# -- SMTP: slow, steady and idle peers -----------------------------------------------


@pytest.fixture(scope="module")
def smtp_daemon(tmp_path_factory):
    folder = tmp_path_factory.mktemp("slow")
    config = write_config(folder, account("acme"))
    text = config.read_text().replace(
        "max_connections = 5\n", "max_connections = 5\ntimeout = 2\nmin_data_rate = 2000\n"
    )
    config.write_text(text)
    daemon = Daemon(config).start()
    yield daemon
    stopped(daemon)


class Peer:
    """A raw SMTP client that sends what it is told, when it is told."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buffer = b""

    def reply(self) -> str:
        """The next whole reply (the last line of a multi-line one)."""
        while True:
            lines = self.buffer.split(b"\r\n")
            for index, line in enumerate(lines[:-1]):
                if line[3:4] == b" ":
                    self.buffer = b"\r\n".join(lines[index + 1 :])
                    return line.decode()
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError(f"closed; had {self.buffer!r}")
            self.buffer += chunk

    def command(self, line: str) -> str:
        self.sock.sendall(line.encode() + b"\r\n")
        return self.reply()

    def envelope(self) -> None:
        assert self.reply().startswith("220")
        assert self.command("EHLO peer.example").startswith("250")
        assert self.command("MAIL FROM:<export@acme.example>").startswith("250")
        assert self.command("RCPT TO:<acme@in.example.jp>").startswith("250")
        assert self.command("DATA").startswith("354")

    def drip(self, data: bytes, rate: float, step: float = 0.25) -> None:
        """Send `data` at `rate` bytes a second, a piece every `step` seconds."""
        piece = max(int(rate * step), 1)
        for start in range(0, len(data), piece):
            self.sock.sendall(data[start : start + piece])
            time.sleep(step)

    def close(self) -> None:
        self.sock.close()


def body(msg) -> bytes:
    data = msg.as_bytes(policy=policy.SMTP)
    lines = [b"." + line if line.startswith(b".") else line for line in data.split(b"\r\n")]
    return b"\r\n".join(lines).rstrip(b"\r\n") + b"\r\n.\r\n"


@pytest.mark.slow
def test_a_slow_but_steady_sender_is_not_cut_off(smtp_daemon):
    data = body(mail([("20240516.csv", big_rows(560))]))
    assert 55_000 < len(data) < 65_000
    peer = Peer(smtp_daemon.smtp_port)
    try:
        peer.envelope()
        started = time.monotonic()
        peer.drip(data, 7500)
        reply = peer.reply()
        assert reply.startswith("250"), reply
        assert time.monotonic() - started > 6  # well past smtp.timeout
        peer.command("QUIT")
    finally:
        peer.close()
    assert smtp_daemon.wait_run(queued_ids(reply)[0])["state"] == "completed"


def test_a_sender_under_min_data_rate_is_cut_off_with_421(smtp_daemon):
    data = body(mail([("20240516.csv", big_rows(100))]))
    peer = Peer(smtp_daemon.smtp_port)
    try:
        peer.envelope()
        started = time.monotonic()
        with contextlib.suppress(OSError):  # the server closes while we still send
            peer.drip(data[:3000], 200, step=0.1)
        reply = peer.reply()
        assert reply.startswith("421 4.4.2"), reply
        assert time.monotonic() - started < 14
    finally:
        peer.close()
    # Still serving.
    _, code, reply = send(smtp_daemon.smtp_port, mail([("20240517.csv", big_rows(3))]))
    assert code == 250
    assert smtp_daemon.wait_run(queued_ids(reply)[0])["state"] == "completed"


def test_an_idle_session_gets_421_before_it_is_closed(smtp_daemon):
    peer = Peer(smtp_daemon.smtp_port)
    try:
        assert peer.reply().startswith("220")
        assert peer.command("EHLO peer.example").startswith("250")
        started = time.monotonic()
        reply = peer.reply()  # nothing sent: the server speaks first, after smtp.timeout
        assert reply.startswith("421 4.4.2") and "timeout" in reply.lower(), reply
        assert 1.5 < time.monotonic() - started < 6
        assert peer.sock.recv(100) == b""  # and then it closes
    finally:
        peer.close()


# -- a name the file system cannot hold ------------------------------------------------


def test_a_file_name_too_long_for_the_file_system_fails_the_run_once(tmp_path):
    config = write_config(tmp_path, account("acme", filename=["*.csv"]))
    daemon = Daemon(config).start()
    try:
        name = "売" * 1000 + ".csv"
        _, code, reply = send(daemon.smtp_port, mail([(name, big_rows(2))]))
        assert code == 250, reply
        (run_id,) = queued_ids(reply)
        run = daemon.wait_run(run_id)
        assert run["state"] == "failed", run
        assert "ファイル名が長すぎます" in run["message"] and "255" in run["message"], run
        assert run["attempts"] == 0
        assert daemon.query("SELECT count(*) FROM runs") == [(1,)]
        assert list((daemon.data_dir / "spool" / "failed").iterdir()) == []
        assert "attempt 1 failed" not in daemon.log.read_text()

        _, code, reply = send(daemon.smtp_port, mail([("20240516.csv", big_rows(2))]))
        assert daemon.wait_run(queued_ids(reply)[0])["state"] == "completed"
    finally:
        stopped(daemon)


def spooled_then_full(daemon: Daemon, mount: Path) -> tuple[str, Path]:
    """A mail of 3,000 rows spooled, then the disk filled: its run id and the filler."""
    _, code, reply = send(daemon.smtp_port, mail([("20240516.csv", big_rows(3000))]))
    assert code == 250, reply
    (run_id,) = queued_ids(reply)
    return run_id, fill(mount, 0)


@pytest.mark.slow
def test_a_full_disk_when_a_file_is_claimed_leaves_it_waiting(tmp_path, tmpfs):
    """The worker unpacks a claimed file into a folder (its meta.json written anew):
    with no room for that, the file waits and is tried again, the worker does not crash."""
    config = write_config(tmp_path, account("acme"))
    daemon = on_tmpfs(config, tmpfs)
    daemon.start()
    try:
        importer = import_process(daemon)
        pause(importer)  # the claim must come after the disk is full
        try:
            run_id, filler = spooled_then_full(daemon, tmpfs)
        finally:
            os.kill(importer, signal.SIGCONT)
        deadline = time.monotonic() + 10
        while "could not be claimed" not in daemon.log.read_text():
            assert time.monotonic() < deadline, daemon.log.read_text()[-3000:]
            time.sleep(0.1)
        log = daemon.log.read_text()
        assert "No space left on device" in log and "crashed" not in log, log[-3000:]
        assert [p.name for p in (tmpfs / "spool" / "incoming").iterdir()] == [run_id]
        assert list((tmpfs / "spool" / "active").iterdir()) == []
        filler.unlink()
        assert daemon.wait_run(run_id, timeout=60)["state"] == "completed"
        assert daemon.query("SELECT count(*) FROM performance") == [(3000,)]
        assert "crashed" not in daemon.log.read_text()
    finally:
        stopped(daemon)


@pytest.mark.slow
def test_a_full_disk_while_importing_is_retried_with_backoff(tmp_path, tmpfs):
    config = write_config(tmp_path, account("acme"))
    daemon = on_tmpfs(config, tmpfs)
    daemon.env = {"RENKEI_BUSY_TIMEOUT_MS": "300"}
    daemon.start()
    try:
        other = sqlite3.connect(daemon.db_path, timeout=30, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")  # hold the worker off while the disk fills
        try:
            run_id, filler = spooled_then_full(daemon, tmpfs)
        finally:
            other.execute("ROLLBACK")
            other.close()
        time.sleep(6)
        log = daemon.log.read_text()
        assert "crashed" not in log, log[-3000:]
        assert daemon.run(run_id).get("state") not in ("completed", "failed"), log[-3000:]
        assert list((tmpfs / "spool" / "active").iterdir()) == []
        filler.unlink()
        assert daemon.wait_run(run_id, timeout=60)["state"] == "completed"
        assert "crashed" not in daemon.log.read_text()
    finally:
        stopped(daemon)


@pytest.mark.slow
def test_a_full_disk_in_a_part_reader_is_not_counted_as_an_attempt(tmp_path, tmpfs):
    """A file read in parts: its reader processes write scratch databases. The disk
    they write on full, the run is put back without counting an attempt (as a full
    disk in the writer is), and imported once there is room."""
    config = write_config(tmp_path, account("acme"))
    text = config.read_text().replace("max_message_bytes = 200000", "max_message_bytes = 2000000")
    config.write_text(text)
    data_dir = tmp_path / "var"
    data_dir.mkdir()
    (tmpfs / "staging").mkdir()
    (data_dir / "staging").symlink_to(tmpfs / "staging")  # only the scratch on the small disk
    filler = fill(tmpfs, 0)
    daemon = Daemon(config).start()
    try:
        rows = big_rows(6000)
        assert len(rows) > 256 * 1024  # read in parts by the warm readers
        _, code, reply = send(daemon.smtp_port, mail([("20240516.csv", rows)]))
        assert code == 250, reply
        (run_id,) = queued_ids(reply)
        deadline = time.monotonic() + 30
        while "put back to try again later" not in daemon.log.read_text():
            assert time.monotonic() < deadline, daemon.log.read_text()[-3000:]
            time.sleep(0.1)
        log = daemon.log.read_text()
        assert "full" in log and "attempt 1 failed" not in log, log[-3000:]
        filler.unlink()
        run = daemon.wait_run(run_id, timeout=60)
        assert run["state"] == "completed" and run["attempts"] == 0, run
        assert daemon.query("SELECT count(*) FROM performance") == [(6000,)]
    finally:
        stopped(daemon)


def test_no_inode_left_for_an_upload_gets_452_not_a_final_550(tmp_path, tmpfs):
    """The upload's file could not be created (no inode left): pyftpdlib answered its
    own 550, which FTP clients take as final, with no refusal recorded."""
    daemon = ftp_daemon(tmp_path, tmpfs).start()
    try:
        st = os.statvfs(tmpfs)
        used = st.f_files - st.f_ffree
        subprocess.run(["mount", "-o", f"remount,nr_inodes={used + 1}", str(tmpfs)], check=True)
        filler = tmpfs / "filler"
        filler.write_bytes(b"")  # the last inode
        with ftplib.FTP() as ftp:
            ftp.connect("127.0.0.1", daemon.ftp_port, timeout=10)
            ftp.login("acme", "demo-acme-ftp")
            with pytest.raises(ftplib.error_temp) as refused:
                ftp.storbinary("STOR 20240516.csv", io.BytesIO(big_rows(10)))
        assert str(refused.value).startswith("452"), refused.value
        refusals = httpx.get(
            f"{daemon.api}/api/v1/refusals?channel=ftp", headers=ADMIN, timeout=10
        ).json()["refusals"]
        assert [(r["code"], r["reason"]) for r in refusals] == [("452", "low_space")]
        subprocess.run(["mount", "-o", "remount,nr_inodes=100000", str(tmpfs)], check=True)
        assert upload(daemon, "20240516.csv", big_rows(10)).startswith("226")
    finally:
        stopped(daemon)


def test_renkei_import_on_a_full_disk_says_so_without_a_traceback(tmp_path, tmpfs):
    config = write_config(tmp_path, account("acme"))
    text = config.read_text().replace('data_dir = "var"', f'data_dir = "{tmpfs}"')
    config.write_text(text)
    first = tmp_path / "20240515.csv"
    first.write_bytes(big_rows(1))
    made = renkei("import", str(first), "--account", "acme", "--config", str(config))
    assert made.returncode == 0, made.stderr  # the store is there: the spool meets the full disk
    path = tmp_path / "20240516.csv"
    path.write_bytes(big_rows(20000))  # more than the room left
    filler = fill(tmpfs, 100_000)
    result = renkei("import", str(path), "--account", "acme", "--config", str(config))
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip() == (
        "取り込めませんでした(システムのエラー: ディスクに空きがありません)。行は取り込んでいません"
    )
    assert list((tmpfs / "spool" / "tmp").iterdir()) == []
    filler.unlink()


def test_a_store_on_a_full_disk_is_said_to_be_on_a_full_disk(tmp_path, tmpfs):
    """SQLite needs room for its -wal and -shm files to open the store: on a full disk
    it says 'disk I/O error', which `runs` and `serve` repeated (an admin reads a
    damaged disk, and serve restart-looped)."""
    config = write_config(tmp_path, account("acme"))
    config.write_text(config.read_text().replace('data_dir = "var"', f'data_dir = "{tmpfs}"'))
    first = tmp_path / "20240515.csv"
    first.write_bytes(big_rows(1))
    made = renkei("import", str(first), "--account", "acme", "--config", str(config))
    assert made.returncode == 0, made.stderr
    filler = fill(tmpfs, 0)
    try:
        result = renkei("runs", "--config", str(config))
        assert result.returncode == 1, result.stderr
        assert result.stderr.strip() == (
            f"データベース {tmpfs / 'renkei.db'} を読めません: ディスクに空きがありません"
        ), result.stderr
    finally:
        filler.unlink()


async def test_the_log_of_a_large_import_does_not_keep_its_size(tmp_path):
    """SQLite's WAL kept the size of the largest transaction (120 MB and more after a
    large import) until the last connection closed, which in a daemon is never."""
    store = await SqliteStore.open(tmp_path / "renkei.db")
    try:
        async with store.transaction() as db:
            await db.execute("CREATE TABLE big (x BLOB)")
            rows = [(os.urandom(1000),) for _ in range(JOURNAL_SIZE_LIMIT // 1000 + 5000)]
            await db.executemany("INSERT INTO big VALUES (?)", rows)
        wal = tmp_path / "renkei.db-wal"
        assert wal.stat().st_size > JOURNAL_SIZE_LIMIT
        await store.writer.execute("PRAGMA wal_checkpoint(PASSIVE)")  # as after a large run
        async with store.transaction() as db:
            await db.execute("INSERT INTO big VALUES (x'00')")
        assert wal.stat().st_size <= JOURNAL_SIZE_LIMIT
    finally:
        await store.close()


def test_a_low_disk_alert_that_could_not_be_queued_goes_once_the_disk_has_room(
    tmp_path, tmpfs, relay
):
    """The disk was full when the check first saw it: the alert could not be written
    to the outbox, an ERROR every 30 s, and once space came back the cause counted as
    cleared: the admin never heard of it."""
    config = write_config(tmp_path, account("acme"), extra=ALERTS, relay_port=relay.port)
    daemon = on_tmpfs(config, tmpfs)
    text = config.read_text()
    filler = None
    try:
        daemon.start()
        filler = fill(tmpfs, 0)  # nothing can be queued now, the alert neither
        config.write_text(text.replace("min_free_bytes = 0", f"min_free_bytes = {2**40}"))
        reload_and_wait(daemon)
        time.sleep(1)
        assert not any(ADMIN_TO in to for _, to in relay.envelopes)
        filler.unlink()
        filler = None
        config.write_text(
            config.read_text().replace(f"min_free_bytes = {2**40}", "min_free_bytes = 0")
        )
        reload_and_wait(daemon)  # the cause clears: the alert goes now, saying so
        [alert] = relay.wait(1)
        assert alert["Subject"] == "[renkei] ディスクの空きが不足しています"
        assert "原因が解消した今送っています" in alert.get_body().get_content()
    finally:
        if filler is not None:
            filler.unlink()
        stopped(daemon)


def reload_and_wait(daemon: Daemon) -> None:
    daemon.notify.drain()
    daemon.notify.received.clear()
    daemon.proc.send_signal(signal.SIGHUP)
    daemon.notify.wait_for("RELOADING=1")
    daemon.notify.wait_for("READY=1")
