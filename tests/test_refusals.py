"""Refusals are visible: every delivery refused at the door — by mail, FTP or HTTP — is
logged with its fields, listed by `GET /api/v1/refusals` (the admin's only) and counted
by reason in /metrics; no password or token shows in the log or the list."""

from __future__ import annotations

import datetime as dt
import ftplib
import io
import re
import smtplib
import socket
import time

import httpx
import pytest

from tests.support import (
    Daemon,
    account,
    csv_bytes,
    ftp_served,
    mail,
    quiet_ftp_schedule,
    send,
    stor_reply,
    write_config,
)

ADMIN = {"Authorization": "Bearer demo-admin"}
ACME = {"Authorization": "Bearer demo-acme-token"}
BAD_PASSWORD = "demo-wrong-pass-7f3a"
BAD_TOKEN = "demo-unknown-token-9c1e"
SECRETS = (BAD_PASSWORD, BAD_TOKEN, "demo-acme-token", "demo-acme-ftp")


def start(folder, ftp: str = "") -> Daemon:
    """A daemon with every door open: mail, FTP and HTTP for account acme."""
    accounts = (
        account("acme")
        + '[accounts.acme.api]\ntoken = "demo-acme-token"\n'
        + '[accounts.acme.ftp]\nuser = "acme"\npassword = "demo-acme-ftp"\n'
        + quiet_ftp_schedule()
        + "[accounts.acme.limits]\nmax_bytes = 2000\n"
    )
    config = write_config(folder, accounts)
    port = ftp_served(config, ftp)
    d = Daemon(config).start()
    d.ftp_port = port
    return d


def stop(daemon: Daemon) -> None:
    assert daemon.terminate() == 0
    log = daemon.log.read_text()
    assert not [s for s in SECRETS if s in log], "a secret reached the log"


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    d = start(tmp_path_factory.mktemp("refusals"))
    yield d
    stop(d)


def refusals(daemon, **query) -> list[dict]:
    reply = httpx.get(f"{daemon.api}/api/v1/refusals", headers=ADMIN, params=query, timeout=10)
    assert reply.status_code == 200, reply.text
    return reply.json()["refusals"]


def wait_refusal(daemon, **fields) -> dict:
    """The newest listed refusal with these fields, once it is there."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for found in refusals(daemon):
            if all(found[k] == v for k, v in fields.items()):
                return found
        time.sleep(0.05)
    raise AssertionError(f"no refusal with {fields}: {refusals(daemon)}")


def wait_log(daemon, line: str) -> None:
    deadline = time.monotonic() + 10
    while line not in daemon.log.read_text():
        if time.monotonic() > deadline:
            raise AssertionError(f"not in the log: {line}")
        time.sleep(0.05)


def counted(daemon, channel: str, reason: str) -> float:
    text = httpx.get(f"{daemon.api}/metrics", timeout=10).text
    pattern = rf'^renkei_refused_total\{{channel="{channel}",reason="{reason}"\}} (\S+)$'
    found = re.search(pattern, text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def assert_visible(daemon, before: float, **fields) -> dict:
    """Listed with `fields`, logged with every one of them, counted once more."""
    found = wait_refusal(daemon, **fields)
    line = (
        f"WARNING daemon.spool.refusals: refused {found['channel']} from {found['peer']}"
        f" who={found['who']!r} what={found['what']!r}: {found['code']} {found['reason']}"
    )
    wait_log(daemon, line)
    assert counted(daemon, found["channel"], found["reason"]) == before + 1
    assert not [s for s in SECRETS if s in str(found)]
    return found


def own_address(sock: socket.socket) -> str:
    """A client socket's own address, as the daemon sees its peer."""
    return "{}:{}".format(*sock.getsockname()[:2])


def smtp_refused(daemon, mail_from: str, rcpt: str) -> tuple[int, str, str]:
    """A RCPT refused: its code, the text, and the client's own address as the daemon sees it."""
    with smtplib.SMTP("127.0.0.1", daemon.smtp_port, timeout=10) as s:
        peer = own_address(s.sock)
        s.ehlo()
        s.mail(mail_from)
        code, text = s.rcpt(rcpt)
    return code, text.decode(), peer


# -- mail ---------------------------------------------------------------------------


def test_smtp_unknown_recipient_is_logged_listed_and_counted(daemon):
    before = counted(daemon, "mail", "unknown_recipient")
    code, text, peer = smtp_refused(daemon, "export@acme.example", "nobody@in.example.jp")
    assert (code, text[:5]) == (550, "5.1.1")
    found = assert_visible(
        daemon, before, channel="mail", reason="unknown_recipient", what="nobody@in.example.jp"
    )
    assert found["code"] == "550 5.1.1"
    assert (found["peer"], found["who"]) == (peer, "export@acme.example")


def test_smtp_sender_not_allowed_is_logged_listed_and_counted(daemon):
    before = counted(daemon, "mail", "sender_not_allowed")
    code, text, peer = smtp_refused(daemon, "intruder@evil.example", "acme@in.example.jp")
    assert (code, text[:5]) == (550, "5.7.1")
    found = assert_visible(
        daemon, before, channel="mail", reason="sender_not_allowed", who="intruder@evil.example"
    )
    assert (found["code"], found["peer"]) == ("550 5.7.1", peer)
    assert found["what"] == "acme@in.example.jp"
    assert "allowed_senders" in found["detail"]


def test_a_header_from_not_allowed_names_the_attachments(daemon):
    before = counted(daemon, "mail", "sender_not_allowed")
    msg = mail([("20240516.csv", csv_bytes(["1,2024/05/16,1,x"]))], sender="boss@evil.example")
    with (
        smtplib.SMTP("127.0.0.1", daemon.smtp_port, timeout=10) as s,
        pytest.raises(smtplib.SMTPDataError) as refused,
    ):
        s.sendmail("export@acme.example", ["acme@in.example.jp"], msg.as_bytes())
    assert refused.value.smtp_code == 550
    found = assert_visible(
        daemon, before, channel="mail", reason="sender_not_allowed", who="boss@evil.example"
    )
    assert "20240516.csv" in found["detail"]


# -- FTP ----------------------------------------------------------------------------


def test_ftp_bad_login_is_logged_listed_and_counted_without_the_password(daemon):
    before = counted(daemon, "ftp", "login_failed")
    ftp = ftplib.FTP()
    ftp.connect("127.0.0.1", daemon.ftp_port, timeout=10)
    peer = own_address(ftp.sock)
    with pytest.raises(ftplib.error_perm, match="^530"):
        ftp.login("acme", BAD_PASSWORD)
    ftp.close()
    found = assert_visible(daemon, before, channel="ftp", reason="login_failed", peer=peer)
    assert (found["code"], found["who"], found["detail"]) == ("530", "acme", "wrong password")


def test_an_ftp_ban_is_logged_listed_and_counted_at_each_knock(tmp_path):
    daemon = start(tmp_path, "max_login_failures = 2\nban_minutes = 1")
    try:
        for _ in range(2):
            with ftplib.FTP() as ftp, pytest.raises(ftplib.error_perm, match="^530"):
                ftp.connect("127.0.0.1", daemon.ftp_port, timeout=10)
                ftp.login("nobody", BAD_PASSWORD)
        found = wait_refusal(daemon, reason="login_failed", who="nobody")
        assert found["detail"] == "no such user; address banned for 60s"
        with ftplib.FTP() as ftp, pytest.raises((ftplib.error_temp, EOFError, ConnectionError)):
            ftp.connect("127.0.0.1", daemon.ftp_port, timeout=10)
            ftp.login("acme", "demo-acme-ftp")
        found = wait_refusal(daemon, channel="ftp", reason="banned")
        assert (found["code"], found["who"]) == ("421", "")
        # A ban's knocks repeat what its start said: INFO, not WARNING.
        wait_log(daemon, f"INFO daemon.spool.refusals: refused ftp from {found['peer']} ")
        assert counted(daemon, "ftp", "banned") == 1
        assert counted(daemon, "ftp", "login_failed") == 2
    finally:
        stop(daemon)


def test_ftp_bad_file_name_is_logged_listed_and_counted(daemon):
    before = counted(daemon, "ftp", "bad_filename")
    with ftplib.FTP() as ftp:
        ftp.connect("127.0.0.1", daemon.ftp_port, timeout=10)
        peer = own_address(ftp.sock)
        ftp.login("acme", "demo-acme-ftp")
        with pytest.raises(ftplib.error_perm, match="^553"):
            ftp.storbinary("STOR sales-may.csv", io.BytesIO(b"a\r\n"))
    found = assert_visible(daemon, before, channel="ftp", reason="bad_filename", peer=peer)
    assert (found["code"], found["who"], found["what"]) == ("553", "acme", "sales-may.csv")
    assert "YYYYMMDD.csv" in found["detail"]


# -- HTTP ---------------------------------------------------------------------------


def push(daemon, headers: dict, **fields) -> httpx.Response:
    files = {"file": ("20240516.csv", csv_bytes(["1,2024/05/16,1,x"]), "text/csv")}
    url = f"{daemon.api}/api/v1/imports"
    return httpx.post(url, headers=headers, files=files, data=fields, timeout=30)


def test_api_bad_token_is_logged_listed_and_counted_without_the_token(daemon):
    before = counted(daemon, "api", "bad_token")
    reply = push(daemon, {"Authorization": f"Bearer {BAD_TOKEN}"})
    assert reply.status_code == 401
    found = assert_visible(daemon, before, channel="api", reason="bad_token")
    assert (found["code"], found["who"], found["what"]) == ("401", "", "/api/v1/imports")
    assert found["peer"].startswith("127.0.0.1:")


def test_api_unmapped_parameter_is_logged_listed_and_counted(daemon):
    before = counted(daemon, "api", "unknown_parameter")
    reply = push(daemon, ACME, foo="bar")
    assert reply.status_code == 422 and reply.json()["error"] == "unknown_parameter"
    found = assert_visible(daemon, before, channel="api", reason="unknown_parameter")
    assert (found["code"], found["who"], found["what"]) == ("422", "acme", "20240516.csv")
    assert "foo" in found["detail"]


def test_too_large_is_refused_as_too_large_by_every_door(daemon):
    before = {c: counted(daemon, c, "too_large") for c in ("mail", "ftp", "api")}
    step, code, _ = send(daemon.smtp_port, mail(), size=10**6)
    assert (step, code) == ("MAIL", 552)
    found = wait_refusal(daemon, channel="mail", reason="too_large")
    assert found["code"] == "552 5.3.4" and "200000" in found["detail"]
    with ftplib.FTP() as ftp:
        ftp.connect("127.0.0.1", daemon.ftp_port, timeout=10)
        ftp.login("acme", "demo-acme-ftp")
        assert stor_reply(ftp, "20240517.csv", b"x" * 100_000).startswith("552")
    found = wait_refusal(daemon, channel="ftp", reason="too_large")
    assert (found["code"], found["who"], found["what"]) == ("552", "acme", "20240517.csv")
    files = {"file": ("20240518.csv", b"x" * 5000, "text/csv")}
    reply = httpx.post(f"{daemon.api}/api/v1/imports", headers=ACME, files=files, timeout=30)
    assert reply.status_code == 413
    found = wait_refusal(daemon, channel="api", reason="too_large")
    assert (found["code"], found["who"], found["what"]) == ("413", "acme", "20240518.csv")
    for channel, count in before.items():
        assert counted(daemon, channel, "too_large") == count + 1


# -- the list -----------------------------------------------------------------------


def test_only_the_admin_may_list_refusals(daemon):
    url = f"{daemon.api}/api/v1/refusals"
    assert httpx.get(url, timeout=10).status_code == 401
    assert httpx.get(url, headers={"Authorization": "Bearer nope"}, timeout=10).status_code == 401
    reply = httpx.get(url, headers=ACME, timeout=10)
    assert reply.status_code == 403 and reply.json()["error"] == "forbidden"


def test_the_list_is_newest_first_and_filters_by_channel_since_and_limit(daemon):
    start = dt.datetime.now(dt.UTC)
    smtp_refused(daemon, "export@acme.example", "first@in.example.jp")
    smtp_refused(daemon, "export@acme.example", "second@in.example.jp")
    push(daemon, {"Authorization": f"Bearer {BAD_TOKEN}"})
    wait_refusal(daemon, channel="api", reason="bad_token")
    recent = refusals(daemon, since=start.isoformat())
    assert [r["what"] for r in recent] == [
        "/api/v1/imports",
        "second@in.example.jp",
        "first@in.example.jp",
    ]
    stamps = [r["at"] for r in recent]
    assert stamps == sorted(stamps, reverse=True)
    mails = refusals(daemon, channel="mail", since=start.isoformat(), limit=1)
    assert [r["what"] for r in mails] == ["second@in.example.jp"]
    assert (
        refusals(daemon, since=(dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()) == []
    )
    reply = httpx.get(f"{daemon.api}/api/v1/refusals?limit=1001", headers=ADMIN, timeout=10)
    assert reply.status_code == 422
    # A channel no door has finds nothing, which would read as "none refused": said.
    reply = httpx.get(f"{daemon.api}/api/v1/refusals?channel=fax", headers=ADMIN, timeout=10)
    assert reply.status_code == 422 and reply.json()["error"] == "bad_query", reply.text
    assert "mail, ftp, api, dropdir" in reply.json()["message"]
    assert "'fax'" in reply.json()["message"]
    # A long one is quoted by its start and its length, not whole.
    url = f"{daemon.api}/api/v1/refusals?channel={'f' * 3000}"
    said = httpx.get(url, headers=ADMIN, timeout=10).json()["message"]
    assert "f" * 40 + "…(全3,000文字)" in said and len(said) < 300, said
    reply = httpx.get(f"{daemon.api}/api/v1/refusals?since=garbage", headers=ADMIN, timeout=10)
    assert reply.status_code == 422 and reply.json()["message"] == (
        "リクエストが正しくありません: query.since: 'garbage' は日付か日時"
        "(2024-05-16、2024-05-16T09:00:00+09:00)ではありません"
    )
