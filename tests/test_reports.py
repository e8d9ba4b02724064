"""Report mail as a Japanese (or English) mail client receives it."""

from __future__ import annotations

import base64
from urllib.parse import quote

import pytest

from daemon.report import message as report_mail
from tests.support import (
    Daemon,
    account,
    attachment,
    csv_bytes,
    queued_ids,
    send,
    send_as,
    write_config,
)


@pytest.fixture
def english(tmp_path, relay):
    accounts = account("acme") + account("errs", report="errors") + account("never", report="never")
    config = write_config(tmp_path, accounts, relay_port=relay.port)
    config.write_text(
        config.read_text().replace(
            'from = "renkei@example.jp"', 'from = "renkei@example.jp"\nlanguage = "en"'
        )
    )
    d = Daemon(config).start()
    yield d
    d.terminate()


def deliver(daemon, name, rows, who="acme"):
    _, code, reply = send_as(daemon.smtp_port, who, [(name, csv_bytes(rows, encoding="utf-8"))])
    assert code == 250
    return daemon.wait_run(queued_ids(reply)[0])


def test_english_report_with_headers_a_plain_relay_can_carry(english, relay):
    run = deliver(english, "20240516.csv", ["1,2024/05/16,1,a", "x,2024/05/16,1,b"])
    [report] = relay.for_recipient("ops@acme.example")
    assert report["Subject"] == "[renkei] import failed: acme 20240516.csv"
    body = report.get_body().get_content()
    assert "line 3, column 'member_no', value 'x' is not a whole number" in body
    assert "1 row with errors: no row was imported" in body and run["id"] in body
    name, data = attachment(report)
    assert name == "20240516.errors.csv"
    [part] = [p for p in report.iter_attachments()]
    assert part.get_content_charset() == "utf-8"
    assert data.decode("utf-8").startswith("member_no,date,sales_amount,note,line,error\r\n")
    raw_headers = relay.raw[0].split(b"\r\n\r\n", 1)[0]
    assert raw_headers.isascii()


def test_japanese_subject_is_rfc2047_encoded(tmp_path, relay):
    d = Daemon(write_config(tmp_path, account("acme"), relay_port=relay.port)).start()
    try:
        deliver(d, "20240516.csv", ["1,2024/05/16,1,日本"])
        [report] = relay.for_recipient("sales@acme.example")
        assert report["Subject"] == "[renkei] 取込完了: acme 20240516.csv (1件)"
        headers = relay.raw[0].split(b"\r\n\r\n", 1)[0]
        assert headers.isascii() and b"=?utf-8?" in headers
        assert relay.envelopes[0] == ("renkei@example.jp", ["sales@acme.example"])
    finally:
        d.terminate()


def test_report_policy_errors_and_never(english, relay):
    deliver(english, "20240517.csv", ["1,2024/05/17,1,ok"], who="errs")
    deliver(english, "20240518.csv", ["bad,2024/05/18,1,no"], who="never")
    failed = deliver(english, "20240519.csv", ["bad,2024/05/19,1,no"], who="errs")
    [report] = relay.for_recipient("ops@errs.example")
    assert failed["id"] in report.get_body().get_content()
    assert [to for _, to in relay.envelopes] == [["ops@errs.example"]]


def test_a_line_separator_in_an_attachment_name_breaks_no_report(tmp_path, relay):
    """U+2028 ends a line for the email package: in a report's Subject it once made
    the importer crash, and the start after it fail, on that run's report."""
    encoded = base64.b64encode("20240701\u2028x.csv".encode()).decode()
    data = base64.encodebytes(csv_bytes(["1,2024/07/01,1,a"])).decode()
    raw = (
        "From: export@acme.example\r\nTo: acme@in.example.jp\r\nSubject: t\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"
        "--B\r\nContent-Type: text/plain\r\n\r\nhi\r\n--B\r\nContent-Type: text/csv\r\n"
        f'Content-Disposition: attachment; filename="=?UTF-8?B?{encoded}?="\r\n'
        f"Content-Transfer-Encoding: base64\r\n\r\n{data}--B--\r\n"
    )
    d = Daemon(write_config(tmp_path, account("acme"), relay_port=relay.port)).start()
    try:
        _, code, reply = send(d.smtp_port, raw.encode())
        assert code == 250
        run = d.wait_run(queued_ids(reply)[0])
        assert run["filename"] == "20240701x.csv" and run["state"] == "failed"
        [report] = relay.for_recipient("ops@acme.example")
        assert report["Subject"] == "[renkei] 取込エラー: acme 20240701x.csv"
    finally:
        d.terminate()


def test_header_text_of_an_older_run_loses_its_line_separators():
    """A run an older renkei recorded under such a name still gets its report."""
    assert report_mail.clean("20240701\u2028x\u2029.csv") == "20240701 x .csv"


def test_an_encoded_word_in_a_file_name_writes_no_header_of_its_own(tmp_path, relay):
    """A name that is an RFC 2047 encoded word of line breaks and headers: the email
    package would decode it as it stores the Subject and the attachment's name, and
    the partner would write the report's headers (Reply-To) or its whole body."""
    injected = b"x\r\nReply-To: attacker@evil.example\r\nX-Injected: yes"
    name = f"=?UTF-8?B?{base64.b64encode(injected).decode()}?=.csv"
    data = base64.encodebytes(csv_bytes(["1,2024/07/01,1,a", "x,2024/07/01,1,b"])).decode()
    raw = (
        "From: export@acme.example\r\nTo: acme@in.example.jp\r\nSubject: t\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"
        "--B\r\nContent-Type: text/plain\r\n\r\nhi\r\n--B\r\nContent-Type: text/csv\r\n"
        f"Content-Disposition: attachment; filename*=utf-8''{quote(name, safe='')}\r\n"
        f"Content-Transfer-Encoding: base64\r\n\r\n{data}--B--\r\n"
    )
    config = write_config(tmp_path, account("acme", filename=["*.csv"]), relay_port=relay.port)
    d = Daemon(config).start()
    try:
        _, code, reply = send(d.smtp_port, raw.encode())
        assert code == 250
        run = d.wait_run(queued_ids(reply)[0])
        assert run["filename"] == name and run["state"] == "failed"
        [report] = relay.for_recipient("ops@acme.example")
        assert report["Reply-To"] is None and report["X-Injected"] is None
        parted = name.replace("=?", "=\u00a0?")
        assert report["Subject"] == f"[renkei] 取込エラー: acme {name}"
        assert attachment(report)[0] == parted.removesuffix(".csv") + ".errors.csv"
        raw_headers = relay.raw[0].split(b"\r\n\r\n", 1)[0]
        assert b"\r\nReply-To:" not in raw_headers and b"\r\nX-Injected:" not in raw_headers
    finally:
        d.terminate()


def test_an_error_csv_too_large_for_a_relay_is_linked_not_attached(tmp_path, relay):
    """A file of 2,400 long records, each refused: its error CSV is over 6 MB, which
    base64 would make a mail most relays refuse (the partner would get no report)."""
    note = "備考" * 500
    rows = [f"x{i},2024/05/16,1,{note}" for i in range(2400)]
    limits = "[limits]\nmax_bytes = 33554432\n"
    config = write_config(tmp_path, account("acme"), relay_port=relay.port, extra=limits)
    larger = config.read_text().replace(
        "max_message_bytes = 200000", "max_message_bytes = 16000000"
    )
    config.write_text(larger)
    d = Daemon(config).start()
    try:
        run = deliver(d, "20240516.csv", rows)
        assert run["state"] == "failed" and run["rows_failed"] == 2400
        [report] = relay.for_recipient("ops@acme.example")
        assert list(report.iter_attachments()) == []
        body = report.get_body().get_content()
        assert "エラーCSV 20240516.errors.csv(" in body and "MB)はメールに添付できる" in body
        assert f"renkei の管理者に実行 {run['id']} のエラーCSVを依頼してください" in body
        assert f"GET /api/v1/runs/{run['id']}/errors.csv で取得できます" in body
        assert len(relay.raw[0]) < 1024 * 1024
    finally:
        d.terminate()


def test_a_file_of_no_rows_says_it_removed_the_rows_of_its_name(tmp_path, relay):
    """Under replace_file a header-only file removes what the same name imported
    before: "no rows to import" alone hid that a partner's empty export emptied the
    table. A replace that keeps rows says what it replaced, beside the skipped ones."""
    accounts = account("acme", on_row_error="skip")
    d = Daemon(write_config(tmp_path, accounts, relay_port=relay.port)).start()
    try:
        deliver(d, "20240516.csv", ["1,2024/05/16,1,a", "2,2024/05/16,2,b"])
        run = deliver(d, "20240516.csv", ["3,2024/05/16,3,c", "x,2024/05/16,4,d"])
        assert run["message"].endswith(
            "1 行はエラーのため取り込まず、1 行を取り込みました"
            "(同じ名前のファイルが前に取り込んだ 2 行と入れ替え)"
        )
        run = deliver(d, "20240516.csv", [])
        assert run["state"] == "completed" and run["rows_imported"] == 0
        removed = "ファイルに行がないため、同じ名前のファイルが前に取り込んだ 1 行を削除しました"
        assert run["message"].endswith(removed)
        [report] = relay.for_recipient("sales@acme.example", about=run["id"])
        body = report.get_body().get_content()
        assert "取り込む行はありませんでした。" in body and removed in body
        assert d.query("SELECT count(*) FROM performance") == [(0,)]
        run = deliver(d, "20240516.csv", ["5,2024/05/16,5,e"])
        assert "同じ名前" not in run["message"]  # nothing was there to replace
    finally:
        d.terminate()
