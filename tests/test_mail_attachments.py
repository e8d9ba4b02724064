"""What a mail carried, against the real daemon: CSV names as mailers write them are
taken, and a mail without a CSV fails saying what it held instead (handlers/attachments.py)."""

from __future__ import annotations

import io
import zipfile
from email.message import EmailMessage

import pytest

from tests.support import Daemon, account, csv_bytes, queued_ids, send, write_config

ACCOUNTS = account("acme") + account("anyname", filename="any")
ROWS = ["1,2024/06/01,100,a", "2,2024/06/01,200,b"]


@pytest.fixture(scope="module")
def daemon(tmp_path_factory, module_relay):
    folder = tmp_path_factory.mktemp("attachments")
    d = Daemon(write_config(folder, ACCOUNTS, relay_port=module_relay.port)).start()
    yield d
    assert d.terminate() == 0


def _mail(who: str, parts: list[tuple[str, str, bytes]], body: str = "送付します") -> EmailMessage:
    """A mail from `who`'s allowed sender, with parts (name, type, data)."""
    msg = EmailMessage()
    msg["From"] = f"export@{who}.example"
    msg["To"] = f"{who}@in.example.jp"
    msg["Subject"] = "6月分データ"
    msg.set_content(body)
    for name, kind, data in parts:
        maintype, subtype = kind.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name or None)
    return msg


def _run(daemon: Daemon, msg: EmailMessage, who: str = "acme") -> list[dict]:
    step, code, reply = send(
        daemon.smtp_port, msg, mail_from=f"export@{who}.example", rcpts=(f"{who}@in.example.jp",)
    )
    assert (step, code) == ("DATA", 250), reply
    return [daemon.wait_run(run_id) for run_id in queued_ids(reply)]


def _report_text(relay, run_id: str) -> str:
    [report] = relay.for_recipient("ops@acme.example", about=run_id)
    return report["Subject"] + "\n" + report.get_body().get_content()


def _zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("20240601.csv", csv_bytes(ROWS))
    return out.getvalue()


@pytest.mark.parametrize(
    "kind",
    ["application/zip", "application/x-zip-compressed"],  # the second as a PPAP mailer sends
)
def test_a_zip_fails_naming_it_and_asking_for_the_csv(daemon, module_relay, kind):
    [run] = _run(daemon, _mail("acme", [("20240601.zip", kind, _zip())]))
    assert run["state"] == "failed" and run["filename"] == "20240601.zip"
    assert "zip のため取り込めません" in run["message"]
    assert "CSV をそのまま添付してください" in run["message"]
    report = _report_text(module_relay, run["id"])
    assert "20240601.zip" in report and "zip のため取り込めません" in report


def test_the_password_mail_after_a_ppap_zip_says_it_has_no_csv(daemon, module_relay):
    [run] = _run(daemon, _mail("acme", [], body="パスワード: Xy7#kq2"))
    assert run["state"] == "failed" and run["filename"] == ""
    assert "CSV の添付ファイルがありません" in run["message"]


def test_winmail_dat_fails_saying_outlook_hid_the_attachment(daemon, module_relay):
    parts = [("winmail.dat", "application/ms-tnef", b"\x78\x9f\x3e\x22" + b"\0" * 60)]
    [run] = _run(daemon, _mail("acme", parts))
    assert run["state"] == "failed" and run["filename"] == "winmail.dat"
    assert "Outlook のリッチテキスト形式" in run["message"]
    report = _report_text(module_relay, run["id"])
    assert "winmail.dat" in report and "テキスト形式か HTML 形式のメール" in report


def test_a_csv_pasted_in_the_body_fails_asking_for_a_file(daemon, module_relay):
    body = "member_no,date,sales_amount,note\n" + "\n".join(ROWS) + "\n"
    [run] = _run(daemon, _mail("acme", [], body=body))
    assert run["state"] == "failed"
    assert "本文が CSV のようです" in run["message"]
    assert "ファイルとして添付してください" in _report_text(module_relay, run["id"])


def test_another_attachment_is_named_with_its_type(daemon, module_relay):
    [run] = _run(daemon, _mail("acme", [("uriage", "application/octet-stream", b"1,2\n")]))
    assert run["state"] == "failed"
    assert run["filename"] == "uriage (application/octet-stream)"
    assert "添付ファイルは CSV ではありません" in run["message"]
    assert "uriage (application/octet-stream)" in _report_text(module_relay, run["id"])


@pytest.mark.parametrize(
    ("who", "name", "kind", "kept"),
    [
        ("anyname", "売上データ．ｃｓｖ", "application/octet-stream", "売上データ.csv"),
        ("acme", "20240601.CSV ", "application/octet-stream", "20240601.CSV"),
        ("anyname", "", "text/comma-separated-values", "attachment.csv"),
        ("anyname", "", "application/csv", "attachment.csv"),
    ],
)
def test_a_csv_named_or_typed_as_mailers_write_it_is_imported(daemon, who, name, kind, kept):
    [run] = _run(daemon, _mail(who, [(name, kind, csv_bytes(ROWS))]), who=who)
    assert run["state"] == "completed", run
    assert (run["filename"], run["rows_imported"]) == (kept, 2)
    stored = daemon.query("SELECT count(*) FROM performance WHERE _run_id = ?", (run["id"],))
    assert stored == [(2,)]


def test_a_csv_beside_a_zip_is_imported(daemon):
    parts = [
        ("20240602.csv", "text/csv", csv_bytes(ROWS)),
        ("20240602.zip", "application/zip", _zip()),
    ]
    [run] = _run(daemon, _mail("acme", parts))
    assert run["state"] == "completed" and run["filename"] == "20240602.csv"
    assert run["rows_imported"] == 2
    # The zip is not taken, and the run says so.
    assert "ほかの添付ファイル 20240602.zip は CSV ではないため取り込んでいません" in run["message"]
