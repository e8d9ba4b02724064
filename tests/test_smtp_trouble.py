"""Our own trouble at the SMTP edge is always a 4xx, so the sender retries."""

from __future__ import annotations

import asyncio
import ftplib
import io
import shutil
import smtplib
import time
from collections.abc import Sequence

import httpx
import pytest

from daemon.settings import parse
from handlers.base import Delivery, Refusal
from handlers.smtp import MailIntake
from tests.support import (
    Daemon,
    account,
    csv_bytes,
    free_port,
    mail,
    queued_ids,
    send,
    write_config,
)
from tests.test_ftp import ftp_config
from tests.test_mail_readers import nested_mail


def test_spool_failure_gets_451_and_the_retry_is_accepted(tmp_path):
    daemon = Daemon(write_config(tmp_path, account("acme"))).start()
    try:
        incoming = daemon.data_dir / "spool" / "incoming"
        shutil.rmtree(incoming)
        incoming.write_text("not a folder")  # every rename into it now fails
        msg = mail([("20240516.csv", csv_bytes(["1,2024/05/16,1,x"]))])
        step, code, reply = send(daemon.smtp_port, msg)
        assert (step, code) == ("DATA", 451) and reply.startswith("4.3.0")
        assert daemon.query("SELECT count(*) FROM runs") == [(0,)]
        assert not list((daemon.data_dir / "spool" / "tmp").iterdir())

        incoming.unlink()
        incoming.mkdir()
        _, code, reply = send(daemon.smtp_port, msg)
        assert code == 250
        assert daemon.wait_run(queued_ids(reply)[0])["state"] == "completed"
    finally:
        assert daemon.terminate() == 0


def test_low_disk_space_is_refused_at_every_door(tmp_path):
    """Mail got 452 under daemon.min_free_bytes; HTTP, FTP and the drop folder took the
    file all the same."""
    extra = '[accounts.dropper]\nlayout = "performance"\n[accounts.dropper.dropdir]\n'
    extra += 'path = "drop"\nsettle = 0\n[accounts.pusher]\nlayout = "performance"\n'
    extra += '[accounts.pusher.api]\ntoken = "demo-pusher-token"\n'
    config, ftp_port = ftp_config(tmp_path, extra)
    text = config.read_text().replace("min_free_bytes = 0", f"min_free_bytes = {10**18}")
    config.write_text(text)
    daemon = Daemon(config).start()
    try:
        step, code, reply = send(daemon.smtp_port, mail())
        assert (step, code) == ("MAIL", 452) and reply.startswith("4.3.1")
        answer = httpx.post(
            f"{daemon.api}/api/v1/imports",
            files={"file": ("20240516.csv", csv_bytes(["1,2024/05/16,1,a"]))},
            headers={"Authorization": "Bearer demo-pusher-token"},
        )
        assert answer.status_code == 503 and answer.headers["Retry-After"] == "30"
        assert "ディスクの空きが少ない" in answer.json()["message"]
        with ftplib.FTP() as ftp:
            ftp.connect("127.0.0.1", ftp_port, timeout=10)
            ftp.login("acme", "demo-acme-ftp")
            with pytest.raises(ftplib.error_temp, match="^452"):
                ftp.storbinary("STOR 20240516.csv", io.BytesIO(b"1,2024/05/16,1,a\r\n"))
        dropped = tmp_path / "drop" / "20240516.csv"
        dropped.write_bytes(csv_bytes(["1,2024/05/16,1,a"]))
        time.sleep(2)
        assert dropped.exists() and daemon.query("SELECT count(*) FROM runs") == [(0,)]
    finally:
        daemon.terminate()


def _noop(port: int) -> int:
    with smtplib.SMTP("127.0.0.1", port, timeout=5) as s:
        return s.noop()[0]


class ExplodingSink:
    """A sink with a bug in it: the SMTP edge must still answer 451, not 500."""

    async def spool(self, deliveries: Sequence[Delivery]) -> list[str]:
        raise RuntimeError("unexpected")

    def has_room(self) -> bool:
        return True

    def refused(self, refusal: Refusal) -> None:
        pass


async def test_unexpected_exception_gets_451_never_500():
    port = free_port()
    settings = parse(
        {
            "smtp": {"listen": f"127.0.0.1:{port}"},
            "layouts": {"p": {"columns": [{"name": "a"}]}},
            "accounts": {
                "acme": {
                    "layout": "p",
                    "mail": {
                        "address": "acme@in.example.jp",
                        "allowed_senders": ["export@acme.example"],
                    },
                }
            },
        }
    )
    intake = MailIntake(lambda: settings, ExplodingSink())
    await intake.start()
    try:
        msg = mail([("20240516.csv", b"a\r\n1\r\n")])
        step, code, reply = await asyncio.to_thread(send, port, msg)
        assert (step, code) == ("DATA", 451) and reply.startswith("4.3.0")
        assert await asyncio.to_thread(_noop, port) == 250  # still serving
    finally:
        await intake.stop()


def test_mime_nested_past_the_parser_gets_554_and_the_daemon_serves_on(tmp_path):
    """A 4xx would have the sender retry for days a mail that can never be read."""
    raw = nested_mail(csv_bytes(["1,2024/12/10,1,deep"]))
    daemon = Daemon(write_config(tmp_path, account("acme"))).start()
    try:
        _, code, reply = send(daemon.smtp_port, raw)
        assert (code, reply) == (554, "5.6.0 Message parts nested too deeply to read")
        good = mail([("20241211.csv", csv_bytes(["1,2024/12/11,1,a"]))])
        _, code, reply = send(daemon.smtp_port, good)
        assert code == 250 and daemon.wait_run(queued_ids(reply)[0])["state"] == "completed"
        assert daemon.query("SELECT count(*) FROM runs") == [(1,)]
    finally:
        daemon.terminate()


def test_a_mail_of_thousands_of_parts_gets_554_before_it_is_parsed(tmp_path):
    """50,000 tiny parts once held a core for 23 s while the parser walked them."""
    parts = "".join(f"--b\r\n\r\n{i}\r\n" for i in range(2100))  # past the 2,000 read
    raw = (
        "From: export@acme.example\r\nTo: acme@in.example.jp\r\nSubject: many\r\n"
        'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
        f"{parts}--b--\r\n"
    )
    daemon = Daemon(write_config(tmp_path, account("acme"))).start()
    try:
        _, code, reply = send(daemon.smtp_port, raw.encode())
        assert (code, reply) == (554, "5.6.0 Too many message parts to read")
        refusals = httpx.get(
            f"{daemon.api}/api/v1/refusals", headers={"Authorization": "Bearer demo-admin"}
        ).json()["refusals"]
        assert refusals[0]["reason"] == "too_many_parts", refusals[0]
        good = mail([("20241211.csv", csv_bytes(["1,2024/12/11,1,a"]))])
        _, code, reply = send(daemon.smtp_port, good)
        assert code == 250 and daemon.wait_run(queued_ids(reply)[0])["state"] == "completed"

        # Lines that start with `--` but delimit no part are no parts: a text body of
        # thousands of them (a report ruled with dashes) is read.
        ruled = mail([("20241212.csv", csv_bytes(["1,2024/12/12,1,a"]))])
        ruled.get_body(("plain",)).set_content(
            "".join(f"----------\n{i}\n" for i in range(2100)), cte="7bit"
        )
        _, code, reply = send(daemon.smtp_port, ruled)
        assert code == 250, reply
        assert daemon.wait_run(queued_ids(reply)[0])["state"] == "completed"
    finally:
        daemon.terminate()
