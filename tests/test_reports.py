"""Report mail as a Japanese (or English) mail client receives it."""

from __future__ import annotations

import pytest

from tests.support import Daemon, account, attachment, csv_bytes, queued_ids, send_as, write_config


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
    assert "1 rows have errors, so no row was imported" in body and run["id"] in body
    name, data = attachment(report)
    assert name == "20240516.errors.csv"
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
