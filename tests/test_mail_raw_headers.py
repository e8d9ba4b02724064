"""Mail as legacy Japanese mailers and forwarding clients write it: a sender's name in
raw Shift_JIS whose bytes hold an `@` (法, 機, a full-width space), a Subject or file
name that mixes an encoded word with raw 8-bit text, an RFC 2231 name of no charset,
and a forwarded message sent in base64."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from daemon.spool.refusals import RefusalLog
from handlers.base import Refusal
from tests.support import Daemon, account, csv_bytes, mail, queued_ids, send, write_config

ADMIN = {"Authorization": "Bearer demo-admin"}
CSV = csv_bytes(["1,2024/06/04,100,あ"])


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    folder = tmp_path_factory.mktemp("raw_headers")
    d = Daemon(write_config(folder, account("acme", report="never", filename="any"))).start()
    yield d
    assert d.terminate() == 0


def raw_mail(from_: bytes, subject: bytes, body: bytes) -> bytes:
    return (
        b"From: " + from_ + b"\r\nTo: acme@in.example.jp\r\nSubject: " + subject + b"\r\n"
        b"MIME-Version: 1.0\r\n" + body
    )


def with_csv(name_params: bytes) -> bytes:
    """A multipart body: a note and CSV attached under the Content-Disposition
    parameters given."""
    return (
        b'Content-Type: multipart/mixed; boundary="B"\r\n\r\n'
        b"--B\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
        b"--B\r\nContent-Type: text/csv\r\nContent-Disposition: attachment; "
        + name_params
        + b"\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(CSV) + b"\r\n--B--\r\n"
    )


def imported(daemon: Daemon, raw: bytes) -> dict:
    _, code, reply = send(daemon.smtp_port, raw)
    assert code == 250, reply
    return daemon.wait_run(queued_ids(reply)[0])


@pytest.mark.parametrize("name", ["法務部", "山田機械", "山田\u3000太郎"])
def test_a_raw_shift_jis_name_whose_bytes_hold_an_at_is_an_allowed_sender(daemon, name):
    """Its second byte 0x40 read as `@`: the name was taken for a second address, not
    allowed, and the partner's mail refused with 550."""
    from_ = name.encode("cp932") + b" <export@acme.example>"
    run = imported(daemon, raw_mail(from_, b"data", with_csv(b'filename="20240604.csv"')))
    assert (run["state"], run["rows_imported"]) == ("completed", 1), run


def test_a_refused_sender_with_a_raw_shift_jis_name_is_listed_by_its_address(daemon):
    from_ = "法務部".encode("cp932") + b" <evil@other.example>"
    step, code, _ = send(daemon.smtp_port, raw_mail(from_, b"data", with_csv(b'filename="x.csv"')))
    assert (step, code) == ("DATA", 550)
    reply = httpx.get(f"{daemon.api}/api/v1/refusals", headers=ADMIN, timeout=10)
    assert reply.status_code == 200, reply.text
    assert reply.json()["refusals"][0]["who"] == "evil@other.example"


def test_the_refusal_list_keeps_bytes_a_door_read_as_text():
    """A door's text with bytes read as lone surrogates made every later
    `GET /api/v1/refusals` a 500 until the daemon restarted."""
    log = RefusalLog()
    who = "法務部".encode("cp932").decode("utf-8", "surrogateescape")
    log.add(Refusal("mail", "127.0.0.1", "550 5.7.1", "sender_not_allowed", who, "acme", ""))
    [kept] = log.recent()
    assert json.loads(json.dumps(kept.as_json()))["who"] == "法務部"


@pytest.mark.parametrize("encoding", ["utf-8", "cp932"])
def test_a_subject_of_an_encoded_word_and_raw_text_reads_whole(daemon, encoding):
    subject = (
        b"=?UTF-8?B?" + base64.b64encode("売上".encode()) + b"?= " + "データ送付".encode(encoding)
    )
    body = b"Content-Type: text/plain; charset=utf-8\r\n\r\nno file today\r\n"
    run = imported(daemon, raw_mail(b"export@acme.example", subject, body))
    assert run["state"] == "failed", run
    assert "「売上 データ送付」" in run["message"], run["message"]


def test_an_rfc2231_name_of_no_charset_is_read_as_8_bit_bytes(daemon):
    quoted = "".join(f"%{b:02X}" for b in "売上".encode())
    params = b"filename*=''" + quoted.encode() + b"_20240604.csv"
    run = imported(daemon, raw_mail(b"export@acme.example", b"data", with_csv(params)))
    assert (run["filename"], run["state"]) == ("売上_20240604.csv", "completed"), run


def test_a_forwarded_message_sent_in_base64_has_its_csv_imported(daemon):
    """RFC 2046 allows no base64 on message/rfc822, but some mailers write it: the CSV
    inside was missed and the run said the mail had none."""
    inner = mail([("20240605.csv", csv_bytes(["5,2024/06/05,500,転送"]))]).as_bytes()
    body = (
        b'Content-Type: multipart/mixed; boundary="B"\r\n\r\n'
        b"--B\r\nContent-Type: text/plain\r\n\r\nFYI\r\n"
        b'--B\r\nContent-Type: message/rfc822; name="orig.eml"\r\n'
        b'Content-Disposition: attachment; filename="orig.eml"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(inner) + b"\r\n--B--\r\n"
    )
    run = imported(daemon, raw_mail(b"export@acme.example", b"Fw: data", body))
    assert (run["filename"], run["state"], run["rows_imported"]) == ("20240605.csv", "completed", 1)
