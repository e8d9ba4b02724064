"""Several instances behind load balancers: the PROXY protocol at the mail door
(`smtp.proxy_protocol`), X-Forwarded-For from trusted proxies at the HTTP door
(`api.forwarded_allow_ips`), and `renkei check` warning of FTP homes on a local disk
when the store is shared."""

from __future__ import annotations

import contextlib
import re
import smtplib
import socket
import struct
import time
import tomllib
from pathlib import Path

import httpx
import pytest

from daemon.settings import check_warnings, parse
from daemon.settings.checks import filesystem_type, is_shared_filesystem
from tests.support import (
    Daemon,
    account,
    csv_bytes,
    free_port,
    mail,
    queued_ids,
    renkei,
    write_config,
)

ADMIN = {"Authorization": "Bearer demo-admin"}
CLIENT = "203.0.113.9"  # the sender the load balancer saw
STORE_URL = "postgresql://renkei@db.example.jp/renkei"


def proxy_v1(source: str, port: int = 5555) -> bytes:
    return f"PROXY TCP4 {source} 127.0.0.1 {port} 2525\r\n".encode()


def proxy_v2(source: str, port: int = 5555) -> bytes:
    """A PROXY v2 header: PROXY command, TCP over IPv4."""
    addresses = socket.inet_aton(source) + socket.inet_aton("127.0.0.1")
    body = addresses + struct.pack("!HH", port, 2525)
    signature = b"\r\n\r\n\x00\r\nQUIT\n"
    return signature + bytes([0x21, 0x11]) + struct.pack("!H", len(body)) + body


class ProxiedSMTP(smtplib.SMTP):
    """smtplib, with a PROXY header sent first as a load balancer would."""

    def __init__(self, header: bytes, host: str, port: int) -> None:
        self.header = header
        super().__init__(host, port, timeout=10)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        sock = super()._get_socket(host, port, timeout)
        sock.sendall(self.header)
        return sock


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    folder = tmp_path_factory.mktemp("deployment")
    acme = {
        "address": "acme@in.example.jp",
        "allowed_senders": ["export@acme.example"],
        "allowed_networks": ["203.0.113.0/24"],
    }
    other = {
        "address": "other@in.example.jp",
        "allowed_senders": ["export@acme.example"],
        "allowed_networks": ["198.51.100.0/24"],
    }
    accounts = (
        account("acme", sender_auth="off", mail=acme)
        + '[accounts.acme.api]\ntoken = "demo-acme-token"\n'
        + account("other", sender_auth="off", mail=other)
    )
    config = write_config(folder, accounts)
    text = config.read_text()
    # (after `listen`, which Daemon reads the ports from)
    smtp = "max_connections_per_address = 2\nproxy_protocol = true"
    text = text.replace("max_connections_per_address = 3", smtp)
    api = 'admin_token = "demo-admin"\nforwarded_allow_ips = ["127.0.0.1"]'
    text = text.replace('admin_token = "demo-admin"', api)
    config.write_text(text)
    d = Daemon(config).start()
    yield d
    assert d.terminate() == 0


def refusals(daemon: Daemon, reason: str) -> list[dict]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        reply = httpx.get(f"{daemon.api}/api/v1/refusals", headers=ADMIN, timeout=10)
        assert reply.status_code == 200, reply.text
        found = [r for r in reply.json()["refusals"] if r["reason"] == reason]
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"no {reason} refusal listed")


# -- mail through a PROXY header --------------------------------------------------


def test_the_address_in_a_proxy_header_is_the_senders(daemon):
    with ProxiedSMTP(proxy_v1(CLIENT), "127.0.0.1", daemon.smtp_port) as smtp:
        smtp.ehlo()
        smtp.mail("export@acme.example")
        # acme takes 203.0.113.0/24: the header's address counts, not the loopback peer
        assert smtp.rcpt("acme@in.example.jp")[0] == 250
        assert smtp.rcpt("other@in.example.jp")[0] == 550  # other takes 198.51.100.0/24
    listed = refusals(daemon, "network_not_allowed")
    [refused] = [r for r in listed if r["peer"] == f"{CLIENT}:5555"]
    assert refused["what"] == "other@in.example.jp"
    assert refused["code"] == "550 5.7.1"


def test_a_proxy_v2_header_is_read_too(daemon):
    with ProxiedSMTP(proxy_v2("198.51.100.20", 6000), "127.0.0.1", daemon.smtp_port) as smtp:
        smtp.ehlo()
        smtp.mail("export@acme.example")
        assert smtp.rcpt("other@in.example.jp")[0] == 250
        assert smtp.rcpt("acme@in.example.jp")[0] == 550
    peers = [r["peer"] for r in refusals(daemon, "network_not_allowed")]
    assert "198.51.100.20:6000" in peers


def test_a_mail_accepted_through_the_header_is_imported(daemon):
    data = csv_bytes(["7,2024/05/17,300,b"])
    with ProxiedSMTP(proxy_v1(CLIENT, 5600), "127.0.0.1", daemon.smtp_port) as smtp:
        smtp.ehlo()
        msg = mail([("20240517.csv", data)])
        smtp.mail("export@acme.example")
        assert smtp.rcpt("acme@in.example.jp")[0] == 250
        code, reply = smtp.data(msg.as_bytes())
    assert code == 250
    [run_id] = queued_ids(reply)
    assert daemon.wait_run(run_id)["state"] == "completed"


def test_a_connection_without_the_header_is_closed_without_a_greeting(daemon):
    with socket.create_connection(("127.0.0.1", daemon.smtp_port), timeout=10) as sock:
        sock.sendall(b"EHLO client.example\r\n")
        assert sock.recv(1024) == b""  # closed: no 220, nothing
        port = sock.getsockname()[1]
    listed = refusals(daemon, "no_proxy_header")
    assert f"127.0.0.1:{port}" in [r["peer"] for r in listed]
    assert all(r["channel"] == "mail" and r["code"] == "" for r in listed)


def test_the_limit_per_address_counts_the_proxied_client(daemon):
    with contextlib.ExitStack() as open_sessions:
        for _ in range(2):  # max_connections_per_address = 2
            open_sessions.enter_context(
                ProxiedSMTP(proxy_v1("192.0.2.1"), "127.0.0.1", daemon.smtp_port)
            )
        with pytest.raises(smtplib.SMTPConnectError) as refused:
            ProxiedSMTP(proxy_v1("192.0.2.1"), "127.0.0.1", daemon.smtp_port)
        assert refused.value.smtp_code == 421
        # another client behind the same balancer is still served
        with ProxiedSMTP(proxy_v1("192.0.2.2"), "127.0.0.1", daemon.smtp_port) as smtp:
            assert smtp.noop()[0] == 250
    peers = [r["peer"] for r in refusals(daemon, "too_many_connections")]
    assert "192.0.2.1:5555" in peers


# -- HTTP behind a trusted proxy -----------------------------------------------------


def test_x_forwarded_for_from_a_trusted_proxy_names_the_client(daemon):
    headers = {"Authorization": "Bearer demo-no-such-token", "X-Forwarded-For": "198.51.100.7"}
    files = {"file": ("20240516.csv", b"x")}
    reply = httpx.post(f"{daemon.api}/api/v1/imports", headers=headers, files=files, timeout=10)
    assert reply.status_code == 401
    peers = [r["peer"] for r in refusals(daemon, "bad_token")]
    assert any(p.startswith("198.51.100.7:") for p in peers), peers


# -- renkei check: FTP homes with a shared store ------------------------------------------


def ftp_config(folder: Path, store: str = f'[store]\nurl = "{STORE_URL}"\n') -> Path:
    ftp = (
        '[accounts.acme.ftp]\nuser = "acme"\npassword = "demo-acme-ftp"\n'
        'weekdays = ["mon"]\nwindow = "09:00-10:00"\ninterval = "1h"\n'
    )
    config = write_config(folder, account("acme") + ftp, extra='language = "en"\n' + store)
    listen = f'[ftp]\nlisten = "127.0.0.1:{free_port()}"'
    config.write_text(config.read_text().replace("[ftp]\nenabled = false", listen))
    return config


def test_renkei_check_warns_of_ftp_homes_on_a_local_disk(tmp_path):
    kind = filesystem_type(tmp_path)
    if kind is None or is_shared_filesystem(kind):
        pytest.skip(f"the test folder is not on a local file system Linux names ({kind})")
    # A server that does not answer: its tables are not compared, which is said too.
    unreachable = f"postgresql://renkei@127.0.0.1:{free_port()}/renkei"
    config = ftp_config(tmp_path, store=f'[store]\nurl = "{unreachable}"\n')
    result = renkei("check", "--config", str(config), timeout=60)
    assert result.returncode == 0, result.stderr  # a warning, not a refusal
    home = tmp_path / "var" / "ftp"
    said = result.stderr.splitlines()
    assert said[:2] == [
        f"{config}: the config has 2 warnings:",
        f"daemon.data_dir: the FTP homes {home} are on a local file system ({kind});"
        " with store.url shared by several instances, every instance's check must see the"
        " same files: put them on shared storage (NFS, CIFS, …)",
    ], result.stderr
    assert said[2].startswith("store.url: the layouts' column types were not compared"), said
    settings = parse(tomllib.loads(config.read_text()), source=config)
    [warning] = check_warnings(settings)
    assert warning.render("ja").startswith(f"daemon.data_dir: FTP ホーム {home} はこのホストの")


def test_no_warning_without_a_shared_store_or_without_ftp(tmp_path):
    config = ftp_config(tmp_path, store="")
    assert check_warnings(parse(tomllib.loads(config.read_text()), source=config)) == []
    config = ftp_config(tmp_path)
    text = re.sub(r'\[ftp\]\nlisten = "[^"]*"', "[ftp]\nenabled = false", config.read_text())
    # Only that the accounts' homes are never checked, nothing of where they are.
    warned = check_warnings(parse(tomllib.loads(text), source=config))
    assert warned and {w.key for w in warned} == {"config.ftp_off"}


MOUNTINFO = """\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 253:0 / / rw,relatime - ext4 /dev/vda rw
40 27 0:45 / /srv/renkei rw,relatime - xfs /dev/vdb rw
41 40 0:46 / /srv/renkei/ftp rw,relatime - nfs4 nas:/export/ftp rw,vers=4.2
42 27 0:47 / /mnt/my\\040share rw,relatime - fuse.sshfs host:/x rw
"""


@pytest.mark.parametrize(
    ("path", "kind", "shared"),
    [
        ("/srv/renkei/ftp/acme", "nfs4", True),
        ("/srv/renkei/ftp", "nfs4", True),
        ("/srv/renkei/ftpx", "xfs", False),
        ("/srv/renkei/spool", "xfs", False),
        ("/mnt/my share/ftp", "fuse.sshfs", True),
        ("/var/lib/renkei/ftp", "ext4", False),
    ],
)
def test_the_file_system_of_a_path_is_its_deepest_mount(path, kind, shared):
    assert filesystem_type(Path(path), MOUNTINFO) == kind
    assert is_shared_filesystem(kind) is shared


def test_a_store_that_cannot_be_reached_is_said_in_one_line(tmp_path):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    port = closed.getsockname()[1]
    try:
        url = f"postgresql://renkei:secret-pass@127.0.0.1:{port}/renkei"
        config = write_config(tmp_path, account("acme"), extra=f'[store]\nurl = "{url}"\n')
        for args in (("runs",), ("serve",)):
            result = renkei(*args, "--config", str(config), timeout=60)
            assert result.returncode == 1, result.stderr
            assert "Traceback" not in result.stderr
            assert (
                f"データベース postgresql://renkei:***@127.0.0.1:{port}/renkei に接続できません"
                in (result.stderr)
            )
            assert "secret-pass" not in result.stderr
    finally:
        closed.close()


def test_a_store_url_from_an_unset_variable_is_a_config_problem(tmp_path, monkeypatch):
    monkeypatch.delenv("RENKEI_NO_SUCH_URL", raising=False)
    extra = '[store]\nurl = "env:RENKEI_NO_SUCH_URL"\n'
    config = write_config(tmp_path, account("acme"), extra=extra)
    result = renkei("check", "--config", str(config), timeout=60)
    assert result.returncode != 0
    assert "store.url: 環境変数 RENKEI_NO_SUCH_URL が設定されていません" in result.stderr
