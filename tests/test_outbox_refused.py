"""Report mail the relay cannot take for some: a recipient refused for good while the
others took the mail is said to the admin (it went unsaid, and never reached that
address again); a mail the client cannot send at all is set aside, not tried first at
every pass, crashing the reporter and holding up every report after it."""

from __future__ import annotations

import json

from tests.support import Daemon, account, csv_bytes, renkei, write_config
from tests.test_outbox import ADMIN, alert, reporter_of


def test_a_recipient_refused_for_good_beside_others_is_said_to_the_admin(tmp_path, relay):
    relay.refuse["boss@acme.example"] = "550 5.1.1 no such user"
    keys = {"error_report_to": ["ops@acme.example", "boss@acme.example"], "report": "errors"}
    extra = 'admin_to = ["admin@example.jp"]\n'
    config = write_config(tmp_path, account("acme", **keys), extra=extra, relay_port=relay.port)
    source = tmp_path / "20240516.csv"
    source.write_bytes(csv_bytes(["1,2024/05/16,10,a", "x,2024/05/16,10,b"]))
    daemon = Daemon(config).start()  # sends the alert `renkei import` queues
    try:
        result = renkei("import", str(source), "--account", "acme", "--config", str(config))
        assert result.returncode in (0, 1), result.stderr
        [said] = relay.for_recipient("admin@example.jp", timeout=30)
    finally:
        daemon.terminate()
    assert relay.for_recipient("ops@acme.example")
    assert "一部の宛先に送信できませんでした" in said["Subject"]
    body = said.get_body().get_content()
    assert "ほかの宛先には送りました" in body
    assert "boss@acme.example" in body and "550" in body
    assert "ops@acme.example" not in body.split("ほかの宛先には送りました")[1]


async def test_a_mail_that_cannot_be_sent_is_set_aside_and_the_next_goes(tmp_path, relay):
    async with reporter_of(tmp_path, relay.port) as reporter:
        # As an older config could leave it: a local part no relay takes without
        # SMTPUTF8, which the client cannot even write.
        await reporter.queue_mail("alert-0", alert(0), ["経理@keiri.example"])
        await reporter.queue_mail("alert-1", alert(1), [ADMIN])
        for _ in range(3):
            await reporter.flush()
        assert (reporter.outbox / "failed" / "alert-0.eml").exists()
        assert not (reporter.outbox / "alert-1.json").exists()
    assert [m["Subject"] for m in relay.for_recipient(ADMIN)] == ["alert 1"]


def test_a_partial_refusal_counts_one_try_and_an_unsendable_mail_is_said_so(tmp_path, relay):
    """A report refused for one recipient counted two tries for one transaction; a
    mail the relay was never asked about was alerted as one it refused, its
    exception as the relay's reply."""
    relay.refuse["boss@acme.example"] = "550 5.1.1 no such user"
    keys = {"error_report_to": ["ops@acme.example", "boss@acme.example"], "report": "errors"}
    extra = 'admin_to = ["admin@example.jp"]\n'
    config = write_config(tmp_path, account("acme", **keys), extra=extra, relay_port=relay.port)
    outbox = tmp_path / "var" / "outbox"
    outbox.mkdir(parents=True)
    (outbox / "stuck-report.eml").write_bytes(b"Subject: stuck\r\n\r\nbody\r\n")
    stuck = {"recipients": ["日本@example.jp"], "attempts": 1, "next_try": 0.0}
    (outbox / "stuck-report.json").write_text(json.dumps(stuck))
    daemon = Daemon(config).start()
    try:
        [alert] = relay.for_recipient("admin@example.jp", about="stuck-report", timeout=30)
        assert "レポートメールを送れないため退避しました" in alert["Subject"]
        body = alert.get_body().get_content()
        assert "中継サーバーの応答" not in body and "理由: UnicodeEncodeError" in body
        source = tmp_path / "20240516.csv"
        source.write_bytes(csv_bytes(["1,2024/05/16,10,a", "x,2024/05/16,10,b"]))
        result = renkei("import", str(source), "--account", "acme", "--config", str(config))
        run_id = json.loads(
            renkei("runs", "--json", "--limit", "1", "--config", str(config)).stdout
        )[0]["id"]
        relay.for_recipient("admin@example.jp", about="boss@acme.example", timeout=30)
        shown = renkei("show", run_id, "--config", str(config)).stdout
        assert "報告メールの送信試行(回): 1" in shown, shown
        assert result.returncode in (0, 1)
    finally:
        daemon.terminate()
    assert "Traceback" not in daemon.log.read_text()


def test_a_recipient_refused_for_now_is_said_as_the_relay_answered():
    """SMTPRecipientsRefused was said as 'error talking to the relay: [SMTPRecipient
    Refused(450, …)]', a Python repr, on every surface, where the relay had answered."""
    import aiosmtplib

    from daemon.report.outbox import relay_trouble_words

    refused = aiosmtplib.SMTPRecipientRefused(450, "4.2.0 greylisted", "grey@grey.example")
    assert relay_trouble_words(aiosmtplib.SMTPRecipientsRefused([refused])) is None
