"""FTP sessions driven on the wire, against the real daemon: a data connection reset
before the server took it, and commands a client sends at once (pipelined) while its
DELE or RNTO is answered in the server's pool."""

from __future__ import annotations

import contextlib
import ftplib
import io
import os
import signal
import socket
import struct
import time
from collections.abc import Iterator

import pytest

from tests.support import Daemon, csv_bytes, pause
from tests.test_ftp import ftp_config, held_home, home, login, poll


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    config, port = ftp_config(tmp_path_factory.mktemp("ftp_wire"), passive_ports=4)
    d = Daemon(config).start()
    d.ftp_port = port
    yield d
    assert d.terminate() == 0


@contextlib.contextmanager
def stopped(daemon) -> Iterator[None]:
    """The daemon held still: what the client does meanwhile, it finds all at once."""
    pause(daemon.proc.pid)
    try:
        yield
    finally:
        os.kill(daemon.proc.pid, signal.SIGCONT)


def reset(conn: socket.socket) -> None:
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def replies(ftp: ftplib.FTP, count: int) -> list[str]:
    """The next `count` replies, whatever their codes."""
    return [ftp.getmultiline() for _ in range(count)]


def upload(ftp: ftplib.FTP, name: str, day: str) -> bytes:
    data = csv_bytes([f"1,2024/{day},10,x"])
    assert ftp.storbinary(f"STOR {name}", io.BytesIO(data)).startswith("226")
    return data


def imported(daemon, count: int) -> None:
    runs = poll(daemon).json()["runs"]
    assert len(runs) == count
    for run in runs:
        assert daemon.wait_run(run["id"])["rows_imported"] == 1


def test_a_stor_whose_data_connection_was_reset_before_it_was_taken_gets_426(daemon):
    # The STOR came first (150); the reset comes before the server accepts the data
    # connection, so that it takes a dead one.
    with login(daemon) as ftp:
        ftp.voidcmd("TYPE I")
        host, port = ftp.makepasv()
        assert ftp.sendcmd("STOR 20240605.csv").startswith("150")
        with stopped(daemon):
            reset(socket.create_connection((host, port), timeout=10))
        ftp.sock.settimeout(5)
        with pytest.raises(ftplib.error_temp, match="^426 Connection reset during the upload"):
            ftp.getresp()
        assert list(home(daemon).iterdir()) == []  # its temporary file removed
        assert ftp.voidcmd("NOOP").startswith("200")
        data = upload(ftp, "20240605.csv", "06/05")
    assert [p.name for p in home(daemon).iterdir()] == ["20240605.csv"]
    assert (home(daemon) / "20240605.csv").read_bytes() == data
    imported(daemon, 1)


def test_a_transfer_after_its_data_connection_was_reset_gets_425(daemon):
    # The reset comes before the server accepts the data connection, and the STOR
    # after that: nothing would ever come to it.
    with login(daemon) as ftp:
        ftp.voidcmd("TYPE I")
        host, port = ftp.makepasv()
        with stopped(daemon):
            reset(socket.create_connection((host, port), timeout=10))
        assert ftp.voidcmd("NOOP").startswith("200")  # the accept came first
        ftp.sock.settimeout(5)
        with pytest.raises(ftplib.error_temp, match="^425 No data connection"):
            ftp.sendcmd("STOR 20240606.csv")
        with pytest.raises(ftplib.error_temp, match="^425 No data connection"):
            ftp.sendcmd("LIST")
        ftp.sendcmd("OPTS UTF8 ON")
        with pytest.raises(ftplib.error_temp, match="^425 データ接続がありません"):
            ftp.sendcmd("STOR 20240606.csv")
        assert list(home(daemon).iterdir()) == []
        data = upload(ftp, "20240606.csv", "06/06")
    assert (home(daemon) / "20240606.csv").read_bytes() == data
    imported(daemon, 1)


def test_pipelined_commands_are_answered_and_done_in_order_beside_another_session(daemon):
    # With another session on the I/O thread, DELE and RNTO change the home in the
    # server's pool; the home held (as another instance's check holds it) keeps them
    # there while the commands sent with them wait their turn.
    with login(daemon) as ftp, login(daemon, "small", "demo-small"):
        for name in ("20241205.csv", "20241206.csv"):
            upload(ftp, name, "12/05")
        size = (home(daemon) / "20241206.csv").stat().st_size
        with held_home(daemon) as release:
            ftp.sock.sendall(b"DELE 20241205.csv\r\nNOOP\r\n")
            time.sleep(0.3)
            release()
        assert [r[:3] for r in replies(ftp, 2)] == ["250", "200"]
        with held_home(daemon) as release:
            ftp.sock.sendall(b"RNFR 20241206.csv\r\nRNTO 20241207.csv\r\nSIZE 20241207.csv\r\n")
            time.sleep(0.3)
            release()
        assert replies(ftp, 3) == [
            "350 Ready for destination name.",
            "250 Renaming ok.",
            f"213 {size}",
        ]
        # One sent with it answered in the pool in its turn holds the rest again.
        ftp.sock.sendall(b"DELE 20241207.csv\r\nDELE 20241207.csv\r\nNOOP\r\nPWD\r\n")
        assert [r[:3] for r in replies(ftp, 4)] == ["250", "550", "200", "257"]
        assert ftp.voidcmd("NOOP").startswith("200")
    assert list(home(daemon).iterdir()) == []


def test_an_upload_sent_at_once_behind_a_dele_is_taken_whole(daemon):
    # The client sends DELE and STOR together and its data at once, without waiting for
    # a reply: the data is in while the STOR waits for the DELE, answered in the pool.
    with login(daemon) as ftp, login(daemon, "small", "demo-small"):
        upload(ftp, "20241208.csv", "12/08")
        data = csv_bytes([f"{i},2024/12/09,10,x" for i in range(1, 3)])
        conn = socket.create_connection(ftp.makepasv(), timeout=10)
        with held_home(daemon) as release:
            ftp.sock.sendall(b"DELE 20241208.csv\r\nSTOR 20241209.csv\r\n")
            conn.sendall(data)
            conn.close()
            time.sleep(0.3)
            release()
        assert [r[:3] for r in replies(ftp, 3)] == ["250", "125", "226"]
    assert [p.name for p in home(daemon).iterdir()] == ["20241209.csv"]
    assert (home(daemon) / "20241209.csv").read_bytes() == data
