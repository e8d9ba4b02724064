"""Replies and mail without a CSV: a person's answer to a report mail, with no CSV, is
taken (250) with no run and no report and listed among the refusals; the corrected file
sent as a reply is imported; a mail with no CSV that makes a run names its Subject in the
run's message, its error report and `renkei show`."""

from __future__ import annotations

import base64
import json
import time
from email import policy
from email.message import EmailMessage

import httpx
import pytest

from daemon.spool.queue import Meta, Spool
from tests.support import (
    Daemon,
    account,
    csv_bytes,
    mail,
    queued_ids,
    renkei,
    send,
    write_config,
)

ADMIN = {"Authorization": "Bearer demo-admin"}
PARTNER = "export@acme.example"
ADDRESS = "acme@in.example.jp"
BAD_CSV = csv_bytes(["x,2024-06-20,1,bad"])
ZIP = b"PK\x03\x04" + bytes(40)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory, module_relay):
    folder = tmp_path_factory.mktemp("replies")
    acme = account(
        "acme",
        report="always",
        sender_auth="off",
        filename=["*.csv"],
        error_report_to=["ops@acme.example", PARTNER],
        success_report_to=[PARTNER],
        mail={"address": ADDRESS, "allowed_senders": [PARTNER]},
    )
    d = Daemon(write_config(folder, acme, relay_port=module_relay.port)).start()
    yield d
    assert d.terminate() == 0


def run_ids(daemon: Daemon) -> list[str]:
    result = renkei("runs", "--json", "--limit", "1000", "--config", str(daemon.config))
    assert result.returncode == 0, result.stderr
    return [run["id"] for run in json.loads(result.stdout)]


def refusals(daemon: Daemon) -> list[dict]:
    reply = httpx.get(f"{daemon.api}/api/v1/refusals", headers=ADMIN, timeout=10)
    return reply.json()["refusals"]


def received_report(daemon: Daemon, relay, name: str) -> EmailMessage:
    """The report of a bad CSV `name`, as the partner finds it in their mailbox."""
    reply = send(daemon.smtp_port, mail([(name, BAD_CSV)], sender=PARTNER))
    assert reply[:2] == ("DATA", 250), reply
    daemon.wait_run(queued_ids(reply[2])[0])
    [report] = relay.for_recipient(PARTNER, about=name)
    assert report["Message-ID"].endswith("@renkei>"), report["Message-ID"]
    return report


def answer(report: EmailMessage, threading: str, attachments=()) -> EmailMessage:
    """A person's reply to `report`, threaded as mailers do: both headers, or only
    References with the thread's earlier mail first (In-Reply-To dropped)."""
    msg = mail(list(attachments), sender=PARTNER, subject=f"Re: {report['Subject']}")
    if threading == "in_reply_to":
        msg["In-Reply-To"] = report["Message-ID"]
        msg["References"] = report["Message-ID"]
    else:
        msg["References"] = f"<first.1234@mail.acme.example> {report['Message-ID']}"
    return msg


@pytest.mark.parametrize("threading", ["in_reply_to", "references_only"])
def test_a_reply_to_a_report_without_a_csv_makes_no_run_and_no_report(
    daemon, module_relay, threading
):
    report = received_report(daemon, module_relay, f"bad_{threading}.csv")
    before_runs, before_mail = run_ids(daemon), len(module_relay.messages)
    msg = answer(report, threading)
    msg.set_content("ご連絡ありがとうございます。修正して再送します。")
    reply = send(daemon.smtp_port, msg, mail_from=PARTNER)
    assert reply == ("DATA", 250, "2.0.0 Ok: reply to a report, not imported")
    [found] = [r for r in refusals(daemon)[:1] if r["reason"] == "reply_to_report"]
    assert found["code"] == "250 2.0.0"
    assert found["who"] == PARTNER and found["what"] == ADDRESS
    assert report["Message-ID"] in found["detail"]
    assert f"Re: {report['Subject']}" in found["detail"]
    time.sleep(1)  # a run and its report, had one been made, would be out by now
    assert run_ids(daemon) == before_runs
    assert module_relay.messages[before_mail:] == []


def test_a_reply_carrying_the_corrected_csv_is_imported(daemon, module_relay):
    report = received_report(daemon, module_relay, "bad_corrected.csv")
    fixed = ("fixed_20240620.csv", csv_bytes(["41,2024-06-20,1,fixed"]))
    reply = send(daemon.smtp_port, answer(report, "in_reply_to", [fixed]), mail_from=PARTNER)
    assert reply[:2] == ("DATA", 250) and "queued as" in reply[2], reply
    run = daemon.wait_run(queued_ids(reply[2])[0])
    assert run["state"] == "completed" and run["filename"] == "fixed_20240620.csv"
    assert daemon.query("SELECT note FROM performance WHERE member_no = 41") == [("fixed",)]
    assert module_relay.for_recipient(PARTNER, about="fixed_20240620.csv")


def test_a_reply_with_a_logo_is_a_reply_and_one_with_a_zip_is_answered(daemon, module_relay):
    """A signature's picture does not make a reply a delivery; a zip does: the partner
    meant to send the file, and is told why it was not taken."""
    report = received_report(daemon, module_relay, "bad_logo.csv")
    msg = answer(report, "in_reply_to")
    msg.add_attachment(b"\x89PNG\r\n\x1a\n" + bytes(30), maintype="image", subtype="png")
    reply = send(daemon.smtp_port, msg, mail_from=PARTNER)
    assert reply == ("DATA", 250, "2.0.0 Ok: reply to a report, not imported")
    report = received_report(daemon, module_relay, "bad_zip.csv")
    msg = answer(report, "in_reply_to", [])
    msg.add_attachment(ZIP, maintype="application", subtype="zip", filename="fixed.zip")
    reply = send(daemon.smtp_port, msg, mail_from=PARTNER)
    assert reply[:2] == ("DATA", 250) and "queued as" in reply[2], reply
    run = daemon.wait_run(queued_ids(reply[2])[0])
    assert run["state"] == "failed" and "fixed.zip" in run["filename"], run
    assert module_relay.for_recipient(PARTNER, about="fixed.zip")


def encoded_word(text: str, charset: str, codec: str) -> str:
    return f"=?{charset}?B?{base64.b64encode(text.encode(codec)).decode()}?="


# The Subject as the mail writes it, and as the run shows it.
LONG = "売上\x07データ" + "あ" * 200
SUBJECTS = {
    "iso_2022_jp": (
        "Re: " + encoded_word("6月分 売上データの件", "ISO-2022-JP", "iso2022_jp"),
        "Re: 6月分 売上データの件",
    ),
    # Japanese mailers label CP932 text Shift_JIS: ① and 髙 must survive.
    "shift_jis_as_cp932": (
        encoded_word("①髙橋商事 売上", "Shift_JIS", "cp932"),
        "①髙橋商事 売上",
    ),
    # Folded over lines, a control character inside, far too long: one bounded line.
    "folded_long_with_control": (
        "\r\n ".join(encoded_word(LONG[i : i + 20], "UTF-8", "utf-8") for i in range(0, 206, 20)),
        "売上データ" + "あ" * 114 + "…",
    ),
}


@pytest.mark.parametrize("kind", list(SUBJECTS))
def test_a_mail_without_a_csv_names_its_subject_in_the_run_and_report(daemon, module_relay, kind):
    written, shown = SUBJECTS[kind]
    msg = mail(sender=PARTNER)
    msg.add_attachment(ZIP, maintype="application", subtype="zip", filename=f"{kind}.zip")
    raw = msg.as_bytes(policy=policy.SMTP).replace(
        b"Subject: data\r\n", f"Subject: {written}\r\n".encode("ascii"), 1
    )
    reply = send(daemon.smtp_port, raw, mail_from=PARTNER)
    assert reply[:2] == ("DATA", 250), reply
    run_id = queued_ids(reply[2])[0]
    run = daemon.wait_run(run_id)
    assert run["state"] == "failed" and run["filename"] == f"{kind}.zip"
    assert f"メールの件名: 「{shown}」" in run["message"], run["message"]
    assert "zip" in run["message"] and "\x07" not in run["message"]
    [report] = module_relay.for_recipient(PARTNER, about=f"{kind}.zip")
    assert f"「{shown}」" in report.get_body().get_content()
    show = renkei("show", run_id, "--config", str(daemon.config))
    assert show.returncode == 0 and f"「{shown}」" in show.stdout, show.stderr


def test_a_csv_mail_says_nothing_of_its_subject(daemon, module_relay):
    msg = mail([("plain_20240621.csv", csv_bytes(["42,2024-06-21,1,x"]))], sender=PARTNER)
    msg.replace_header("Subject", "6月分 売上データ")
    reply = send(daemon.smtp_port, msg, mail_from=PARTNER)
    run = daemon.wait_run(queued_ids(reply[2])[0])
    assert run["state"] == "completed" and "件名" not in (run["message"] or "")


def test_a_spooled_mail_without_the_subject_field_still_runs(tmp_path):
    """An item an older renkei spooled, its meta.json without `subject`, waiting for
    the new daemon: it loads, and its run says what it always said."""
    config = write_config(tmp_path, account("acme"))
    spool = Spool(tmp_path / "var" / "spool")
    meta = Meta("acme", "mail", PARTNER, "old.zip", problem="zip_attachment")
    item = spool.enqueue(meta, None)  # no file: a folder of its meta.json alone
    written = item.path / "meta.json"
    fields = json.loads(written.read_bytes())
    del fields["subject"]
    written.write_text(json.dumps(fields), encoding="utf-8")
    daemon = Daemon(config).start()
    try:
        run = daemon.wait_run(item.id)
        assert run["state"] == "failed" and run["message"].startswith("添付ファイルは zip")
        assert "件名" not in run["message"]
    finally:
        assert daemon.terminate() == 0
