"""FTP uploads cut off in ways a real client meets, against the real daemon: an FTPS data
connection reset or closed without close_notify, a client killed mid-upload, a transfer
after a failed active connection, an upload that never got its data connection, and a
passive range used up."""

from __future__ import annotations

import ftplib
import io
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import time

import pytest

from tests.support import Daemon, csv_bytes, refused_port, renkei
from tests.test_ftp import ftp_config, held_home, home, login, poll, self_signed


def rows(day: str, count: int) -> bytes:
    return csv_bytes([f"{i},2024/09/{day},{i},x" for i in range(1, count + 1)])


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    config, port = ftp_config(tmp_path_factory.mktemp("ftp_fixes"), passive_ports=1)
    d = Daemon(config).start()
    d.ftp_port = port
    yield d
    assert d.terminate() == 0


@pytest.fixture(scope="module")
def ftps(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ftp_fixes_tls")
    config, port = ftp_config(folder)
    cert, key = self_signed(folder)
    text = config.read_text().replace(
        "max_login_failures = 4", f'max_login_failures = 4\ntls_cert = "{cert}"\ntls_key = "{key}"'
    )
    config.write_text(text)
    d = Daemon(config).start()
    d.ftp_port = port
    yield d
    assert d.terminate() == 0


def tls_login(daemon) -> ftplib.FTP_TLS:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    ftp = ftplib.FTP_TLS(context=context)
    ftp.connect("127.0.0.1", daemon.ftp_port, timeout=10)
    ftp.login("acme", "demo-acme-ftp")
    ftp.prot_p()
    ftp.voidcmd("TYPE I")
    return ftp


def nothing_kept(daemon) -> None:
    """No file left in the home, none taken by a check."""
    deadline = time.monotonic() + 10
    while list(home(daemon).iterdir()):
        assert time.monotonic() < deadline, list(home(daemon).iterdir())
        time.sleep(0.05)
    assert poll(daemon).json()["runs"] == []


def imported(daemon, count: int) -> None:
    [run] = poll(daemon).json()["runs"]
    assert daemon.wait_run(run["id"])["rows_imported"] == count


# -- FTPS: a data connection that ends without a sender's end --------------------------


@pytest.mark.parametrize("how", ["reset", "no_close_notify"])
def test_an_ftps_upload_cut_off_gets_426_and_is_not_imported(ftps, how):
    data = rows("10", 5000)
    with tls_login(ftps) as ftp:
        conn = ftp.transfercmd("STOR 20240910.csv")
        conn.sendall(data[: len(data) * 2 // 5])
        if how == "reset":
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()  # Python's TLS socket closes without close_notify (no unwrap)
        ftp.sock.settimeout(10)
        with pytest.raises(ftplib.error_temp, match="^426 Connection reset during the upload"):
            ftp.voidresp()
        nothing_kept(ftps)
        # The session goes on; a whole upload (ftplib ends it with close_notify) is taken.
        assert ftp.storbinary("STOR 20240910.csv", io.BytesIO(data)).startswith("226")
    imported(ftps, 5000)


# -- a client killed mid-upload ------------------------------------------------------


def test_an_upload_whose_client_left_before_its_226_went_out_is_taken_back(daemon):
    # The client closes its data connection, then its control connection, a moment
    # apart, as a killed client's kernel does: the control connection's end comes while
    # the upload is being made durable (in the pool: another session is served, and
    # the home is held as another instance's check holds it). Its 226 never goes out.
    data = rows("11", 5000)
    with login(daemon, "small", "demo-small"):
        ftp = login(daemon)
        ftp.voidcmd("TYPE I")
        conn = ftp.transfercmd("STOR 20240911.csv")
        conn.sendall(data[: len(data) // 2])
        with held_home(daemon) as release:
            conn.close()
            time.sleep(0.3)  # its end read, the upload waits for the home
            ftp.file.close()
            ftp.sock.close()
            time.sleep(0.3)
            release()
        nothing_kept(daemon)
    assert "acme left before the 226; 20240911.csv discarded" in daemon.log.read_text()
    with login(daemon) as ftp:
        assert ftp.storbinary("STOR 20240911.csv", io.BytesIO(data)).startswith("226")
    imported(daemon, 5000)


@pytest.mark.skipif(not shutil.which("curl"), reason="curl is not installed")
def test_an_upload_whose_curl_is_killed_is_never_kept(daemon, tmp_path):
    for _ in range(6):
        curl = subprocess.Popen(
            ["curl", "-s", "-T", "-", "--limit-rate", "50k", "--user", "acme:demo-acme-ftp",
             f"ftp://127.0.0.1:{daemon.ftp_port}/20240912.csv"],
            stdin=subprocess.PIPE,
        )  # fmt: skip
        curl.stdin.write(rows("12", 3000))
        curl.stdin.flush()
        time.sleep(0.4)
        curl.send_signal(signal.SIGKILL)
        curl.wait(10)
        curl.stdin.close()
    nothing_kept(daemon)


# -- no data connection open or coming -----------------------------------------------


def test_a_transfer_after_a_failed_active_connection_gets_425(daemon):
    with login(daemon) as ftp:
        ftp.voidcmd("TYPE I")
        ftp.sock.settimeout(5)
        with refused_port() as port, pytest.raises(ftplib.error_temp, match="^425 Can't"):
            ftp.sendcmd(f"PORT 127,0,0,1,{port // 256},{port % 256}")
        with pytest.raises(ftplib.error_temp, match="^425 No data connection"):
            ftp.sendcmd("STOR 20240913.csv")
        with pytest.raises(ftplib.error_temp, match="^425 No data connection"):
            ftp.sendcmd("LIST")
        assert list(home(daemon).iterdir()) == []
        data = rows("13", 10)
        assert ftp.storbinary("STOR 20240913.csv", io.BytesIO(data)).startswith("226")
        # An active connection made and used is no longer one on its way.
        with pytest.raises(ftplib.error_temp, match="^425 No data connection"):
            ftp.sendcmd("STOR 20240914.csv")
    imported(daemon, 10)


def test_an_upload_whose_session_quits_before_its_data_connection_leaves_nothing(daemon):
    ftp = login(daemon)
    ftp.makepasv()
    assert ftp.sendcmd("STOR 20240915.csv").startswith("150")
    assert [p.name for p in home(daemon).iterdir() if p.name.endswith(".part")]
    assert ftp.quit().startswith("221")
    nothing_kept(daemon)
    # A session dropped meanwhile, the same.
    ftp = login(daemon)
    ftp.makepasv()
    assert ftp.sendcmd("STOR 20240915.csv").startswith("150")
    ftp.file.close()
    ftp.sock.close()
    nothing_kept(daemon)


@pytest.mark.slow
def test_an_upload_whose_passive_port_times_out_leaves_nothing(daemon):
    with login(daemon) as ftp:
        ftp.makepasv()
        assert ftp.sendcmd("STOR 20240916.csv").startswith("150")
        ftp.sock.settimeout(40)  # pyftpdlib's PassiveDTP.timeout: 30 seconds
        with pytest.raises(ftplib.error_temp, match="^421 Passive data channel timed out"):
            ftp.getresp()
        assert list(home(daemon).iterdir()) == []


# -- the passive range used up -------------------------------------------------------


def test_a_passive_range_used_up_gets_425_never_a_port_outside_it(daemon):
    with login(daemon) as first, login(daemon) as second:
        host, port = first.makepasv()  # the range's one port, held
        text = daemon.config.read_text()
        low, high = (int(p) for p in text.split('passive_ports = "')[1].split('"')[0].split("-"))
        assert low <= port <= high
        with pytest.raises(ftplib.error_temp, match="^425 Every data connection port is in use"):
            second.sendcmd("PASV")
        with pytest.raises(ftplib.error_temp, match="^425 Every data connection port is in use"):
            second.sendcmd("EPSV")
        second.sendcmd("OPTS UTF8 ON")
        with pytest.raises(ftplib.error_temp, match="^425 データ接続用のポートがすべて使用中"):
            second.sendcmd("PASV")
        data = rows("17", 10)
        assert first.storbinary("STOR 20240917.csv", io.BytesIO(data)).startswith("226")
        # Free again once the first session's transfer took it.
        assert second.storbinary("STOR 20240918.csv", io.BytesIO(data)).startswith("226")
    assert "Can't find a valid passive port" not in daemon.log.read_text()
    runs = poll(daemon).json()["runs"]
    assert len(runs) == 2
    # `renkei check` says the range holds fewer ports than sessions may be open.
    said = renkei("check", "--config", str(daemon.config), timeout=60).stderr
    assert (
        f"ftp.passive_ports: '{low}-{high}' のポートは 1 個で、ftp.max_connections(50)より少なく"
    ) in said, said
