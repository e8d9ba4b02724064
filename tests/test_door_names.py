"""One rule for file names at every door, against the real daemon: FTP refuses a name
with control or format characters (553) and answers a NUL in a path without dying;
the drop folder names its run as mail and the API do (handlers/base.bare_name), and no
file name splits a log line."""

from __future__ import annotations

import ftplib
import io
import os
import socket
import time
from pathlib import Path

import httpx
import pytest

from tests.support import Daemon, account, csv_bytes, ftp_served, quiet_ftp_schedule, write_config

ADMIN = {"Authorization": "Bearer demo-admin"}
DATA = csv_bytes(["1,2024/05/16,1,named"])


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    folder = tmp_path_factory.mktemp("door_names")
    accounts = (
        account("acme", filename=["*.csv"])
        + '[accounts.acme.ftp]\nuser = "acme"\npassword = "demo-acme-ftp"\n'
        + quiet_ftp_schedule()
        + '[accounts.acme.dropdir]\npath = "drop"\nsettle = 0.3\n'
    )
    config = write_config(folder, accounts)
    port = ftp_served(config)
    d = Daemon(config).start()
    d.ftp_port = port
    yield d
    assert d.terminate() == 0


class Control:
    """A raw FTP control connection: ftplib refuses to send a CR or LF in a command."""

    def __init__(self, daemon: Daemon) -> None:
        self.sock = socket.create_connection(("127.0.0.1", daemon.ftp_port), timeout=10)
        self.file = self.sock.makefile("rb")
        assert self.reply().startswith("220")
        assert self.send(b"USER acme").startswith("331")
        assert self.send(b"PASS demo-acme-ftp").startswith("230")

    def reply(self) -> str:
        line = self.file.readline().decode("utf-8", "replace")
        assert line, "the server closed the session"
        while line[3:4] == "-":  # a multi-line reply: up to "NNN " again
            line = self.file.readline().decode("utf-8", "replace")
            assert line, "the server closed the session"
        return line

    def send(self, command: bytes) -> str:
        self.sock.sendall(command + b"\r\n")
        return self.reply()

    def listed(self) -> list[str]:
        """NLST, as the client sees the home."""
        reply = self.send(b"PASV")
        numbers = reply[reply.index("(") + 1 : reply.index(")")].split(",")
        port = int(numbers[4]) * 256 + int(numbers[5])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as data:
            assert self.send(b"NLST").startswith(("125", "150"))
            names = b"".join(iter(lambda: data.recv(4096), b"")).decode().split("\r\n")
        assert self.reply().startswith("226")
        return [name for name in names if name]

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def refusals(daemon: Daemon) -> list[dict]:
    reply = httpx.get(f"{daemon.api}/api/v1/refusals", headers=ADMIN, timeout=10)
    assert reply.status_code == 200, reply.text
    return reply.json()["refusals"]


def refusal_of(daemon: Daemon, what: str) -> dict:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for found in refusals(daemon):
            if found["what"] == what:
                return found
        time.sleep(0.05)
    raise AssertionError(f"no refusal of {what!r}: {refusals(daemon)}")


@pytest.mark.parametrize(
    ("name", "shown"),
    [("tab\there.csv", "U+0009"), ("r\u202egnp.csv", "U+202E"), ("nl\nname.csv", "U+000A")],
)
def test_ftp_stor_of_a_name_with_control_or_format_characters_gets_553(daemon, name, shown):
    ftp = Control(daemon)
    try:
        reply = ftp.send(b"STOR " + name.encode())
        assert reply.startswith("553 "), reply
        assert shown in reply  # the client is told which character
        assert name not in ftp.listed()
        assert ftp.send(b"NOOP").startswith("200")
    finally:
        ftp.close()
    found = refusal_of(daemon, name)
    assert (found["code"], found["reason"]) == ("553", "bad_filename")
    assert shown in found["detail"]
    assert not any(name in p.name for p in (daemon.data_dir / "ftp" / "acme").iterdir())


def test_ftp_rnto_to_a_name_with_a_format_character_gets_553_and_the_upload_stays(daemon):
    with ftplib.FTP() as ftp:
        ftp.connect("127.0.0.1", daemon.ftp_port, timeout=10)
        ftp.login("acme", "demo-acme-ftp")
        assert ftp.storbinary("STOR kept.csv", io.BytesIO(DATA)).startswith("226")
        assert ftp.sendcmd("RNFR kept.csv").startswith("350")
        with pytest.raises(ftplib.error_perm, match="^553 .*U\\+202E"):
            ftp.sendcmd("RNTO invoice\u202evsc.csv")
        assert ftp.nlst() == ["kept.csv"]
        ftp.delete("kept.csv")
    found = refusal_of(daemon, "invoice\u202evsc.csv")
    assert (found["code"], found["reason"]) == ("553", "bad_filename")


def test_ftp_nul_in_a_path_is_answered_and_the_session_goes_on(daemon):
    ftp = Control(daemon)
    try:
        assert ftp.send(b"STOR a\x00b.csv").startswith("553 ")
        assert ftp.send(b"RNFR a\x00b.csv").startswith("501 ")
        assert ftp.send(b"DELE a\x00b.csv").startswith("501 ")
        assert ftp.send(b"CWD a\x00b").startswith("501 ")
        assert ftp.send(b"NOOP").startswith("200")
    finally:
        ftp.close()
    found = refusal_of(daemon, "a\x00b.csv")
    assert found["reason"] == "bad_filename"
    assert "U+0000" in found["detail"]
    assert "unhandled exception" not in daemon.log.read_text()


def drop(daemon: Daemon, name: bytes) -> None:
    """Write a file under a name given as bytes, renamed into place (taken at once)."""
    folder = os.fsencode(daemon.config.parent / "drop")
    part = folder + b"/.writing"
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(DATA)
    os.rename(part, folder + b"/" + name)


def dropped_run(daemon: Daemon, name: str) -> dict:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        rows = daemon.query(
            "SELECT id FROM runs WHERE channel = 'dropdir' AND sender LIKE ?", (f"%{name}",)
        )
        if rows:
            return daemon.wait_run(rows[0][0])
        time.sleep(0.1)
    raise AssertionError(f"no run of {name!r}")


@pytest.mark.parametrize(
    ("name", "reduced"),
    [
        (b"nl\nname.csv", "nlname.csv"),
        (b"\xff\xfebad.csv", "bad.csv"),
        ("rtl\u202egnp.csv".encode(), "rtlgnp.csv"),
    ],
)
def test_a_dropped_file_runs_under_its_name_as_mail_and_the_api_reduce_it(daemon, name, reduced):
    drop(daemon, name)
    run = dropped_run(daemon, reduced)
    assert (run["filename"], run["state"]) == (reduced, "completed")
    assert run["sender"] == str(daemon.config.parent / "drop" / reduced)
    reply = httpx.get(f"{daemon.api}/api/v1/runs/{run['id']}/file", headers=ADMIN, timeout=10)
    assert reply.status_code == 200
    assert reply.content == DATA
    disposition = reply.headers["content-disposition"]
    assert reduced in disposition and "%" not in disposition, disposition
    kept = daemon.data_dir / "files" / run["id"]
    assert [p.name for p in kept.iterdir()] == [reduced]
    # Every line of the log is a line of the daemon's own: none starts with a piece of
    # a name a newline split off.
    lines = daemon.log.read_text(errors="replace").splitlines()
    assert not [line for line in lines if line.startswith("name.csv")]
    took = [line for line in lines if f"as {run['id']}" in line and "dropdir: took" in line]
    assert len(took) == 1, took


def test_no_log_line_is_split_by_a_file_name(daemon):
    """After the tests above: no piece of a name a newline split off starts a line."""
    lines = Path(daemon.log).read_text(errors="replace").splitlines()
    assert not [line for line in lines if line.startswith(("name.csv", "here.csv"))]
