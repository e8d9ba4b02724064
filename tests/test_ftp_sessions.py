"""FTP sessions that meet, break off or ask for what the door does not do, against the
real daemon: two uploads of one name at once, the temporary names, a control connection
lost before the 226, REST, STOU and APPE, and a banned address knocking."""

from __future__ import annotations

import ftplib
import io
import os
import signal
import socket
import struct
import time

import httpx
import pytest

from tests.support import csv_bytes, pause
from tests.test_ftp import ADMIN, ftp_daemon, home, login, poll


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    yield from ftp_daemon(tmp_path_factory.mktemp("ftp_sessions"))


def rows(day: str, note: str, count: int) -> bytes:
    return csv_bytes([f"{i},2024/09/{day},{i},{note}" for i in range(1, count + 1)])


def refusals(daemon, reason: str) -> list[dict]:
    reply = httpx.get(f"{daemon.api}/api/v1/refusals", headers=ADMIN, timeout=10)
    return [r for r in reply.json()["refusals"] if r["reason"] == reason]


def notes(daemon, name: str) -> list[tuple]:
    sql = "SELECT note, count(*) FROM performance WHERE _source_file = ? GROUP BY note"
    return daemon.query(sql, (name,))


def logged(daemon, *lines: str) -> str:
    """The first of `lines` the daemon's log holds, once it holds one."""
    deadline = time.monotonic() + 10
    while True:
        text = daemon.log.read_text()
        for line in lines:
            if line in text:
                return line
        assert time.monotonic() < deadline, text[-2000:]
        time.sleep(0.05)


def hard_close(ftp: ftplib.FTP) -> None:
    """Reset the control connection (ftplib's reader holds the socket open too)."""
    ftp.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    ftp.file.close()
    ftp.sock.close()


def test_two_uploads_of_one_name_at_once_each_stay_whole(daemon):
    first, second = rows("10", "AAAAAAAA", 10000), rows("10", "BBBB", 10000)
    with login(daemon) as slow, login(daemon) as quick:
        slow.voidcmd("TYPE I")
        conn = slow.transfercmd("STOR 20240910.csv")
        conn.sendall(first[: len(first) // 2])
        time.sleep(0.3)
        assert quick.storbinary("STOR 20240910.csv", io.BytesIO(second)).startswith("226")
        assert (home(daemon) / "20240910.csv").read_bytes() == second
        [run] = poll(daemon).json()["runs"]
        assert daemon.wait_run(run["id"])["rows_imported"] == 10000
        assert notes(daemon, "20240910.csv") == [("BBBB", 10000)]
        # The slow one ends as a second upload of the name would: it replaces the first.
        conn.sendall(first[len(first) // 2 :])
        conn.close()
        assert slow.voidresp().startswith("226")
    assert [p.name for p in home(daemon).iterdir()] == ["20240910.csv"]
    assert (home(daemon) / "20240910.csv").read_bytes() == first
    [run] = poll(daemon).json()["runs"]
    assert daemon.wait_run(run["id"])["rows_imported"] == 10000
    assert notes(daemon, "20240910.csv") == [("AAAAAAAA", 10000)]


def test_an_upload_in_progress_is_neither_listed_nor_named_by_another_session(daemon):
    data = rows("05", "whole", 20000)
    with login(daemon) as uploader, login(daemon) as other:
        uploader.voidcmd("TYPE I")
        conn = uploader.transfercmd("STOR 20240905.csv")
        conn.sendall(data[: len(data) // 2])
        time.sleep(0.3)
        [part] = [p.name for p in home(daemon).iterdir()]
        assert part.startswith(".20240905.csv.") and part.endswith(".part")
        assert other.nlst() == []
        listing: list[str] = []
        other.retrlines("LIST -a", listing.append)
        assert listing == []
        for command in (f"RNFR {part}", f"DELE {part}", f"SIZE {part}", f"MDTM {part}"):
            with pytest.raises(ftplib.error_perm, match="^550"):
                other.sendcmd(command)
        with pytest.raises(ftplib.error_perm, match="^550"):
            other.retrbinary(f"RETR {part}", lambda _: None)
        with pytest.raises(ftplib.error_perm, match="^553"):
            other.storbinary(f"STOR {part}", io.BytesIO(b"x\r\n"))
        other.storbinary("STOR 20240906.csv", io.BytesIO(rows("06", "other", 1)))
        other.sendcmd("RNFR 20240906.csv")
        with pytest.raises(ftplib.error_perm, match="^553"):
            other.sendcmd("RNTO .20240906.csv")
        conn.sendall(data[len(data) // 2 :])
        conn.close()
        assert uploader.voidresp().startswith("226")
    assert sorted(p.name for p in home(daemon).iterdir()) == ["20240905.csv", "20240906.csv"]
    assert (home(daemon) / "20240905.csv").read_bytes() == data
    assert len(poll(daemon).json()["runs"]) == 2
    refused = refusals(daemon, "bad_filename")
    assert refused and refused[0]["what"] == part and refused[0]["code"] == "553"


def test_an_upload_whose_control_connection_is_reset_before_the_226_is_discarded(daemon):
    # The client sends a third of the file, closes the data connection at a row's end
    # and resets the control connection: it never reads a 226. The daemon is held
    # still meanwhile, so that it finds the data connection's end first.
    data = rows("07", "ctrl-drop", 15000)
    ftp = login(daemon)
    ftp.voidcmd("TYPE I")
    conn = ftp.transfercmd("STOR 20240907.csv")
    conn.sendall(data[: data.index(b"5001,")])
    time.sleep(0.3)
    pause(daemon.proc.pid)
    try:
        conn.close()
        hard_close(ftp)
    finally:
        os.kill(daemon.proc.pid, signal.SIGCONT)
    discarded = "acme left before the 226; 20240907.csv discarded"
    assert logged(daemon, "acme uploaded 20240907.csv", discarded) == discarded
    # Logged as it is discarded: the part written goes a moment after the line.
    deadline = time.monotonic() + 10
    while list(home(daemon).iterdir()):
        assert time.monotonic() < deadline, list(home(daemon).iterdir())
        time.sleep(0.05)
    assert poll(daemon).json()["runs"] == []


def test_a_refused_restart_does_not_stay_pending(daemon):
    data = rows("11", "rest", 1)
    with login(daemon) as ftp:
        ftp.voidcmd("TYPE I")
        with pytest.raises(ftplib.error_perm, match="^553 Append and restart"):
            ftp.storbinary("STOR 20240911.csv", io.BytesIO(data), rest=5)
        assert ftp.storbinary("STOR 20240911.csv", io.BytesIO(data)).startswith("226")
        ftp.sendcmd("REST 5")
        with pytest.raises(ftplib.error_perm, match="^553"):
            ftp.storbinary("STOR 2023-bad.csv", io.BytesIO(data))
        ftp.sendcmd("REST 5")
        with pytest.raises(ftplib.error_perm, match="^553 Append and restart"):
            ftp.storbinary("APPE 20240912.csv", io.BytesIO(data))
        assert ftp.storbinary("STOR 20240912.csv", io.BytesIO(data)).startswith("226")
    assert sorted(p.name for p in home(daemon).iterdir()) == ["20240911.csv", "20240912.csv"]
    assert len(poll(daemon).json()["runs"]) == 2


def test_stou_and_appe_are_refused_and_counted(daemon):
    data = rows("22", "stou", 1)
    with login(daemon) as ftp:
        ftp.voidcmd("TYPE I")
        for command in ("STOU", "STOU 20240422.csv"):
            with pytest.raises(ftplib.error_perm, match="^502 STOU is not supported"):
                ftp.storbinary(command, io.BytesIO(data))
        with pytest.raises(ftplib.error_perm, match="^553 Append and restart"):
            ftp.storbinary("APPE 20240422.csv", io.BytesIO(data))
        ftp.sendcmd("OPTS UTF8 ON")
        with pytest.raises(ftplib.error_perm, match="^502 STOU"):
            ftp.storbinary("STOU", io.BytesIO(data))
    assert list(home(daemon).iterdir()) == []
    stou = refusals(daemon, "no_stou")  # newest first
    assert [(r["code"], r["what"]) for r in stou] == [
        ("502", ""),
        ("502", "20240422.csv"),
        ("502", ""),
    ]
    appe = [r for r in refusals(daemon, "no_append") if r["what"] == "20240422.csv"]
    assert [(r["code"], r["who"]) for r in appe] == [("553", "acme")]


def test_a_banned_address_gets_421_and_one_log_line_without_a_traceback(daemon):
    source = ("127.0.0.3", 0)  # banned alone: the other tests connect from 127.0.0.1
    for _ in range(4):
        with ftplib.FTP(source_address=source) as ftp, pytest.raises(ftplib.error_perm):
            ftp.connect("127.0.0.1", daemon.ftp_port, timeout=10)
            ftp.login("acme", "wrong")
    for _ in range(3):
        with (
            ftplib.FTP(source_address=source) as ftp,
            pytest.raises(ftplib.error_temp, match="^421"),
        ):
            ftp.connect("127.0.0.1", daemon.ftp_port, timeout=10)
    time.sleep(0.5)
    log = daemon.log.read_text()
    knocks = [line for line in log.splitlines() if ": 421 banned" in line]
    assert len(knocks) == 3 and all("127.0.0.3:" in line for line in knocks), knocks
    assert "Traceback" not in log and "Exception in thread" not in log, log[-3000:]


def test_a_ban_turns_away_the_sessions_its_address_opened_before_it(daemon):
    """A ban holds for every session of the address: those opened before it are told
    421 and closed at their next USER or PASS, the right password too, and the session
    whose failure banned it is closed after its 530."""
    source = ("127.0.0.6", 0)  # banned alone: the other tests connect from 127.0.0.1
    early = [ftplib.FTP(source_address=source) for _ in range(2)]
    for ftp in early:
        ftp.connect("127.0.0.1", daemon.ftp_port, timeout=10)
    assert early[1].sendcmd("USER acme").startswith("331")
    for _ in range(4):
        last = ftplib.FTP(source_address=source)
        last.connect("127.0.0.1", daemon.ftp_port, timeout=10)
        with pytest.raises(ftplib.error_perm, match="^530"):
            last.login("acme", "wrong")
    with pytest.raises((EOFError, ConnectionError)):  # the banning one: closed after its 530
        last.voidcmd("NOOP")
    with pytest.raises(ftplib.error_temp, match="^421"):
        early[0].login("acme", "demo-acme-ftp")
    with pytest.raises(ftplib.error_temp, match="^421"):
        early[1].sendcmd("PASS demo-acme-ftp")
    for ftp in early:
        with pytest.raises((EOFError, ConnectionError)):  # closed after its 421
            ftp.voidcmd("NOOP")
        ftp.close()
    last.close()
    turned = [r for r in refusals(daemon, "banned") if r["peer"].startswith("127.0.0.6:")]
    assert [(r["code"], r["who"]) for r in turned] == [("421", "acme")] * 2


def test_an_upload_left_unfinished_an_hour_ago_is_removed_at_the_check(daemon):
    """Each upload's temporary name is its own, so no later upload writes over one a
    killed daemon left: the check removes it once no session can still be writing it."""
    folder = home(daemon, "acme")
    old = folder / ".20240920.csv.0123456789abcdef.part"
    young = folder / ".20240921.csv.fedcba9876543210.part"
    for path in (old, young):
        path.write_bytes(rows("20", "left", 3))
    hour_ago = time.time() - 3700
    os.utime(old, (hour_ago, hour_ago))
    poll(daemon, "acme")
    assert not old.exists() and young.exists()
    young.unlink()
