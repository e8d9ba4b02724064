"""No report-mail loop: a bounce, a delivery or read report, an auto-reply (RFC 3834) is
taken at the door with a 250 but makes no run, so no report answers it; a partner's
mail that only went through a list is still imported. `renkei check` warns when
report.from is where the accounts' mail arrives."""

from __future__ import annotations

import time
from email import policy
from email.message import EmailMessage

import httpx
import pytest

from tests.support import Daemon, account, csv_bytes, mail, renkei, send, write_config

ADMIN = {"Authorization": "Bearer demo-admin"}
PARTNER = "export@acme.example"
ERRORS_TO = "ops@acme.example"
REPORT_CSV = csv_bytes(["1,2024-06-20,100,ok", "x,2024-06-20,1,bad"])


@pytest.fixture(scope="module")
def daemon(tmp_path_factory, module_relay):
    folder = tmp_path_factory.mktemp("automatic")
    acme = account(
        "acme",
        report="always",
        sender_auth="off",
        filename=["*.csv"],
        error_report_to=[ERRORS_TO, PARTNER],
        success_report_to=[PARTNER],
        mail={"address": "acme@in.example.jp", "allowed_senders": [PARTNER, "@acme.example"]},
    )
    d = Daemon(write_config(folder, acme, relay_port=module_relay.port)).start()
    yield d
    assert d.terminate() == 0


def out_of_office() -> EmailMessage:
    msg = mail(sender=PARTNER, subject="Re: [renkei] 取込エラー: acme bad.csv")
    msg["Auto-Submitted"] = "auto-replied"
    msg["X-Autoreply"] = "yes"
    msg["Precedence"] = "auto_reply"
    msg.set_content("ただいま休暇中です。6 月 30 日に戻ります。")
    return msg


def returned_report() -> EmailMessage:
    """The error report renkei sent, with its error CSV, as a bounce returns it."""
    report = EmailMessage()
    report["From"] = "renkei@example.jp"
    report["To"] = PARTNER
    report["Subject"] = "[renkei] 取込エラー: acme bad_20240620.csv"
    report["Auto-Submitted"] = "auto-generated"
    report["Message-ID"] = "<20240620T101500000000-1a2b3c.report@renkei>"
    report.set_content("2 行にエラーがあります")
    report.add_attachment(
        REPORT_CSV, maintype="text", subtype="csv", filename="bad_20240620.errors.csv"
    )
    return report


def bounce(returned: str = "message/rfc822") -> bytes:
    """A DSN (RFC 3464) in a multipart/report (RFC 6522), as a mailer writes it, its
    Auto-Submitted left off as many do: the report type alone must tell."""
    whole = returned_report().as_bytes(policy=policy.SMTP)
    if returned != "message/rfc822":
        returned, whole = "text/rfc822-headers", whole.split(b"\r\n\r\n", 1)[0] + b"\r\n"
    head = (
        "From: MAILER-DAEMON@acme.example\r\nTo: acme@in.example.jp\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        "メールボックスが一杯のため配送できませんでした。\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.acme.example\r\n\r\n"
        f"Final-Recipient: rfc822; {PARTNER}\r\nAction: failed\r\nStatus: 5.2.2\r\n"
        f"--B\r\nContent-Type: {returned}\r\n\r\n"
    )
    return head.encode() + whole + b"\r\n--B--\r\n"


def plain_bounce() -> bytes:
    """A bounce that is no delivery report (qmail's, a quarantine gateway's): a note
    and the returned report as a message/rfc822 part of a multipart/mixed, no mark of
    an automatic mail but its null sender."""
    whole = returned_report().as_bytes(policy=policy.SMTP)
    head = (
        "From: Mail Delivery Subsystem <MAILER-DAEMON@acme.example>\r\n"
        "To: acme@in.example.jp\r\nSubject: failure notice\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nSorry, I couldn't deliver it.\r\n"
        "--B\r\nContent-Type: message/rfc822\r\n\r\n"
    )
    return head.encode() + whole + b"\r\n--B--\r\n"


def marked(header: str, value: str, attachments=()) -> EmailMessage:
    msg = mail(list(attachments), sender=PARTNER)
    msg[header] = value
    return msg


def runs(daemon: Daemon) -> int:
    return daemon.query("SELECT count(*) FROM runs")[0][0]


def refusals(daemon: Daemon) -> list[dict]:
    reply = httpx.get(f"{daemon.api}/api/v1/refusals", headers=ADMIN, timeout=10)
    return reply.json()["refusals"]


def imported_with_report(daemon: Daemon, relay, name: str) -> None:
    """A partner's real mail after the automatic one: it is imported and its report is
    the only mail the relay got since `before`."""
    reply = send(daemon.smtp_port, mail([(name, csv_bytes(["7,2024-06-21,5,x"]))]))
    assert reply[:2] == ("DATA", 250), reply
    run_id = reply[2].split("queued as ")[1].split()[0]
    assert daemon.wait_run(run_id)["state"] == "completed"
    relay.for_recipient(PARTNER, about=name)


AUTOMATIC = {
    "out_of_office": (out_of_office, PARTNER, "Auto-Submitted: auto-replied"),
    "out_of_office_null_sender": (out_of_office, "<>", "Auto-Submitted"),
    "bounce_returning_the_error_csv": (bounce, "<>", "multipart/report"),
    "bounce_with_headers_only": (lambda: bounce("headers"), "<>", "report-type=delivery"),
    "bounce_not_a_report": (plain_bounce, "<>", "null sender (MAIL FROM:<>) returning renkei"),
    "null_sender_without_csv": (lambda: mail(sender=PARTNER), "<>", "null sender"),
    "bulk_without_csv": (lambda: marked("Precedence", "bulk"), PARTNER, "Precedence: bulk"),
    "x_autoreply": (lambda: marked("X-Autoreply", "yes"), PARTNER, "X-Autoreply: yes"),
    "our_report_redirected_back": (returned_report, PARTNER, "Auto-Submitted: auto-generated"),
    "auto_generated_without_csv": (
        lambda: marked("Auto-Submitted", "auto-generated"),
        PARTNER,
        "Auto-Submitted: auto-generated (RFC 3834) and no CSV",
    ),
}


@pytest.mark.parametrize("kind", list(AUTOMATIC))
def test_automatic_mail_is_taken_without_a_run_or_a_report(daemon, module_relay, kind):
    build, mail_from, why = AUTOMATIC[kind]
    before_runs, before_mail = runs(daemon), len(module_relay.messages)
    code = send(daemon.smtp_port, build(), mail_from=mail_from)
    assert code == ("DATA", 250, "2.0.0 Ok: automatic mail, not imported")
    [found] = [r for r in refusals(daemon)[:1] if r["reason"] == "automatic_mail"]
    assert found["code"] == "250 2.0.0" and why in found["detail"]
    assert found["what"] == "acme@in.example.jp"
    assert runs(daemon) == before_runs
    imported_with_report(daemon, module_relay, f"after_{kind}.csv")
    time.sleep(0.5)  # a report of the automatic mail, had one been made, would be out
    new = module_relay.messages[before_mail:]
    assert [m["Subject"] for m in new if f"after_{kind}" not in m["Subject"]] == []
    assert runs(daemon) == before_runs + 1


@pytest.mark.parametrize(
    "header, value",
    [
        ("Precedence", "list"),
        ("Precedence", "bulk"),
        ("Auto-Submitted", "no"),
        # A partner's scheduled export (cron, an ERP's job) marks itself so: it is no
        # answer to anything (RFC 3834 5.1), and its CSV was dropped with a 250.
        ("Auto-Submitted", "auto-generated"),
    ],
)
def test_a_partner_mail_with_a_csv_through_a_list_is_imported(daemon, module_relay, header, value):
    name = f"list_{value}.csv"
    msg = marked(header, value, [(name, csv_bytes(["8,2024-06-22,9,y"]))])
    msg["List-Id"] = "<partners.acme.example>"
    reply = send(daemon.smtp_port, msg)
    assert reply[:2] == ("DATA", 250) and "queued as" in reply[2], reply
    run_id = reply[2].split("queued as ")[1].split()[0]
    assert daemon.wait_run(run_id)["state"] == "completed"
    assert module_relay.for_recipient(PARTNER, about=name)


@pytest.mark.parametrize(
    "report_from, key",
    [
        ("acme@in.example.jp", "is account acme's own address"),
        ("renkei@in.example.jp", "is in the domain of account acme's address"),
    ],
)
def test_renkei_check_warns_of_a_report_from_where_the_accounts_mail_arrives(
    tmp_path, report_from, key
):
    config = write_config(tmp_path, account("acme"), extra='language = "en"')
    text = config.read_text().replace('from = "renkei@example.jp"', f'from = "{report_from}"')
    config.write_text(text, encoding="utf-8")
    result = renkei("check", "--config", str(config))
    assert result.returncode == 0, result.stderr
    warning = result.stderr.splitlines()[1]
    assert warning.startswith(f"report.from: {report_from} {key}"), result.stderr
    assert "a person reads" in warning


def test_renkei_check_warns_in_japanese_by_default(tmp_path):
    config = write_config(tmp_path, account("acme"))
    text = config.read_text().replace('from = "renkei@example.jp"', 'from = "acme@in.example.jp"')
    config.write_text(text, encoding="utf-8")
    result = renkei("check", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert "アカウント acme の受信アドレスです" in result.stderr


def test_renkei_check_is_quiet_for_a_report_from_elsewhere(tmp_path):
    result = renkei("check", "--config", str(write_config(tmp_path, account("acme"))))
    assert result.returncode == 0 and "report.from" not in result.stderr, result.stderr
