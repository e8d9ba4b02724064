"""Headers of the mails renkei writes, as a reader decodes them: a Subject naming a file
keeps every space of its name (no space between two encoded words, which RFC 2047 has
decoders drop), and a digest's error CSV says its charset as a run's report does."""

from __future__ import annotations

import datetime as dt
import email
import zoneinfo
from email import policy
from email.message import EmailMessage

import pytest

from daemon.report.subject import set_subject
from tests.support import Daemon, account, csv_bytes, queued_ids, renkei, send_as, write_config

ZONE = zoneinfo.ZoneInfo("Asia/Tokyo")
SPACED = "営業 報告 (5月).csv"
SPACED_MORE = "取引先 一覧 最新.csv"
GOOD = ["1,2024/05/16,100,a", "2,2024/05/16,200,b"]
# A Japanese note makes the error CSV (written in the file's CP932) no valid UTF-8.
ONE_BAD = ["3,2024/05/16,300,東京", "x,2024/05/16,1,大阪"]


def deliver(daemon: Daemon, who: str, name: str, rows: list[str]) -> dict:
    _, code, reply = send_as(daemon.smtp_port, who, [(name, csv_bytes(rows))])
    assert code == 250, reply
    return daemon.wait_run(queued_ids(reply)[0])


def decoded_subject(raw: bytes) -> str:
    return email.message_from_bytes(raw, policy=policy.default)["Subject"]


def raw_about(relay, run_id: str) -> bytes:
    """The bytes the relay got of the report that names `run_id` in its body."""
    [report] = relay.for_recipient("ops@acme.example", about=run_id)
    return relay.raw[relay.messages.index(report)]


@pytest.fixture
def daemon(tmp_path, relay):
    accounts = account("acme", filename=["any"])
    accounts += account("beta", filename=["any"], on_row_error="skip")
    accounts += account("digested", filename=["any"], report="digest", on_row_error="skip")
    config = write_config(tmp_path, accounts, relay_port=relay.port)
    daemon = Daemon(config).start()
    yield daemon
    daemon.terminate()


def test_a_report_subject_keeps_every_space_of_the_file_name(daemon, relay):
    """Needs daemon/report/message.py to set its Subject with set_subject."""
    good = deliver(daemon, "acme", SPACED_MORE, GOOD)
    failed = deliver(daemon, "acme", SPACED, ONE_BAD)  # on_row_error = reject
    assert (good["state"], failed["state"]) == ("completed", "failed")
    [done] = relay.for_recipient("sales@acme.example", about=good["id"])
    raw = relay.raw[relay.messages.index(done)]
    assert decoded_subject(raw) == f"[renkei] 取込完了: acme {SPACED_MORE} (2件)"
    raw = raw_about(relay, failed["id"])
    assert decoded_subject(raw) == f"[renkei] 取込エラー: acme {SPACED}"


def test_a_digest_attachment_says_the_charset_a_report_gives(daemon, relay, tmp_path):
    reported = deliver(daemon, "beta", SPACED_MORE, ONE_BAD)
    digested = deliver(daemon, "digested", SPACED_MORE, ONE_BAD)
    assert reported["rows_failed"] == digested["rows_failed"] == 1
    [report] = relay.for_recipient("ops@beta.example", about=reported["id"])
    [reports_csv] = list(report.iter_attachments())
    assert reports_csv.get_content_charset() == "shift_jis"

    # One minute past the next 18:00 in Tokyo (digest_at): that digest lists the run.
    local = dt.datetime.now(ZONE)
    when = dt.datetime.combine(local.date(), dt.time(18, 1), ZONE)
    if local >= when.replace(minute=0):
        when += dt.timedelta(days=1)
    config = daemon.config
    result = renkei("digest", "--now", when.strftime("%Y-%m-%dT%H:%M"), "--config", str(config))
    assert result.returncode == 0, result.stderr
    [digest] = relay.for_recipient("ops@digested.example", about=digested["id"])
    [digests_csv] = list(digest.iter_attachments())
    assert digests_csv.get_content_charset() == reports_csv.get_content_charset()
    kept = tmp_path / "var" / daemon.run(digested["id"])["error_report"]
    assert digests_csv.get_content() == kept.read_bytes().decode("cp932")
    day = when.date().isoformat()
    raw = relay.raw[relay.messages.index(digest)]
    assert decoded_subject(raw) == f"[renkei] 取込のまとめ: digested {day} (1件、エラー 1件)"


@pytest.mark.parametrize(
    "subject",
    [
        f"[renkei] 取込完了: acme {SPACED_MORE} (2件)",
        f"[renkei] 取込エラー: acme {SPACED}",
        f"[renkei] 送信エラー: {'取引先 一覧 ' * 12}(0/3件)",
        "[renkei] imported: acme two  spaces and a " + "very-long-name-" * 6 + ".csv",
        "[renkei] 取込完了: acme =?utf-8?b?PT8=?= 🎉 絵文字 🎉.csv",
    ],
)
def test_a_subject_decodes_back_exactly_in_lines_a_relay_takes(subject):
    msg = EmailMessage()
    set_subject(msg, subject)
    msg.set_content("-")
    raw = msg.as_bytes(policy=policy.SMTP)
    head = raw.split(b"\r\n\r\n")[0]
    assert all(len(line) <= 78 for line in head.split(b"\r\n"))
    assert head.isascii()
    assert decoded_subject(raw) == subject
    assert msg["Subject"] == subject
