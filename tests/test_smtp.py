"""Mail intake against the real daemon: every reply code of DESIGN's table, and the runs."""

from __future__ import annotations

import smtplib
import socket
import time
from email import policy
from email.parser import BytesParser

import pytest

from tests.support import (
    Daemon,
    account,
    attachment,
    csv_bytes,
    mail,
    queued_ids,
    send,
    send_as,
    write_config,
)

ACCOUNTS = (
    account("acme")
    + account("skipper", on_row_error="skip")
    + account("halted", status="stopped")
    + account("quiet", report="never")
)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory, module_relay):
    folder = tmp_path_factory.mktemp("smtp")
    d = Daemon(write_config(folder, ACCOUNTS, relay_port=module_relay.port)).start()
    yield d
    assert d.terminate() == 0


def test_mail_with_cp932_csv_is_imported_and_reported(daemon, module_relay):
    rows = ['1,2024/05/16,"1,234",㈱髙橋①～', "2,2024-05-16,５００,", "3,2024/5/16,-7,001"]
    step, code, reply = send(daemon.smtp_port, mail([("20240516.csv", csv_bytes(rows))]))
    assert (step, code) == ("DATA", 250) and reply.startswith("2.0.0 Ok: queued as ")
    [run_id] = queued_ids(reply)
    run = daemon.wait_run(run_id)
    assert run["state"] == "completed", run
    assert (run["rows_total"], run["rows_imported"], run["rows_failed"]) == (3, 3, 0)
    assert run["encoding"] == "cp932" and run["channel"] == "mail"
    assert run["sender"] == "export@acme.example"
    stored = daemon.query(
        "SELECT member_no, date, sales_amount, note, _account, _source_file FROM performance"
        " WHERE _run_id = ? ORDER BY member_no",
        (run_id,),
    )
    assert stored == [
        (1, "2024-05-16", 1234, "㈱髙橋①～", "acme", "20240516.csv"),
        (2, "2024-05-16", 500, "", "acme", "20240516.csv"),
        (3, "2024-05-16", -7, "001", "acme", "20240516.csv"),
    ]
    [report] = module_relay.for_recipient("sales@acme.example", about=run_id)
    assert "取込完了" in report["Subject"] and "20240516.csv" in report["Subject"]
    body = report.get_body().get_content()
    assert "全 3 行 / 取込 3 行 / エラー 0 行" in body and "経路: メール" in body
    assert "取込方法: 置換(同じ名前のファイルが前に取り込んだ行を入れ替え)" in body
    assert "結果: 3 件を新規登録。" in body
    assert attachment(report) is None  # nothing to fix: the header-only CSV stays home


def test_unknown_recipient_gets_550_511_at_rcpt(daemon):
    step, code, reply = send(daemon.smtp_port, mail(), rcpts=("nobody@in.example.jp",))
    assert (step, code) == ("RCPT", 550) and reply.startswith("5.1.1")


def test_envelope_sender_not_allowed_gets_550_571(daemon):
    step, code, reply = send(daemon.smtp_port, mail(), mail_from="spam@evil.example")
    assert (step, code) == ("RCPT", 550) and reply.startswith("5.7.1")


def test_header_from_not_allowed_gets_550_571_and_no_run(daemon):
    before = daemon.query("SELECT count(*) FROM runs")
    msg = mail([("20240516.csv", csv_bytes(["1,2024/05/16,1,x"]))], sender="boss@evil.example")
    step, code, reply = send(daemon.smtp_port, msg)
    assert (step, code) == ("DATA", 550) and reply.startswith("5.7.1")
    assert daemon.query("SELECT count(*) FROM runs") == before


def test_null_envelope_sender_still_checks_header_from(daemon):
    msg = mail([("20240516.csv", csv_bytes(["1,2024/05/16,1,x"]))], sender="boss@evil.example")
    step, code, _ = send(daemon.smtp_port, msg, mail_from="")
    assert (step, code) == ("DATA", 550)


def test_size_parameter_over_limit_gets_552_534(daemon):
    step, code, reply = send(daemon.smtp_port, mail(), size=10_000_000)
    assert (step, code) == ("MAIL", 552) and reply.startswith("5.3.4")


def test_oversized_data_gets_552_534(daemon):
    big = csv_bytes([f"{i},2024/05/16,{i},{'x' * 200}" for i in range(2000)])
    step, code, reply = send(daemon.smtp_port, mail([("20240516.csv", big)]))
    assert (step, code) == ("DATA", 552) and reply.startswith("5.3.4")


def test_connections_over_the_per_address_limit_get_421(daemon):
    held = [smtplib.SMTP("127.0.0.1", daemon.smtp_port, timeout=10) for _ in range(3)]
    try:
        with socket.create_connection(("127.0.0.1", daemon.smtp_port), timeout=10) as sock:
            greeting = sock.recv(1024).decode()
        assert greeting.startswith("421 4.7.0")
    finally:
        for s in held:
            s.quit()
    # Once they are gone, a new session is served again.
    step, code, _ = send(daemon.smtp_port, mail(), rcpts=("nobody@in.example.jp",))
    assert code == 550


def test_stopped_account_gets_250_and_an_ignored_run(daemon, module_relay):
    step, code, reply = send_as(
        daemon.smtp_port, "halted", [("20240516.csv", csv_bytes(["1,2024/05/16,1,x"]))]
    )
    assert (step, code) == ("DATA", 250)
    [run_id] = queued_ids(reply)
    run = daemon.wait_run(run_id)
    assert run["state"] == "ignored" and run["rows_imported"] == 0
    assert daemon.query("SELECT count(*) FROM performance WHERE _account = 'halted'") == [(0,)]
    assert not list((daemon.data_dir / "spool" / "incoming").iterdir())


def test_mail_without_csv_fails_with_an_error_report(daemon, module_relay):
    step, code, reply = send(daemon.smtp_port, mail(subject="no attachment"))
    assert (step, code) == ("DATA", 250)
    [run_id] = queued_ids(reply)
    run = daemon.wait_run(run_id)
    assert run["state"] == "failed"
    assert "CSV の添付ファイルがありません" in run["message"]
    [report] = module_relay.for_recipient("ops@acme.example", about=run_id)
    assert "取込エラー" in report["Subject"]
    # No file was read: no mode, encoding or start to tell of (it said 取込方法:
    # 置き換え and 開始日時: -).
    body = report.get_body(("plain",)).get_content()
    assert "受付日時" in body and "取込方法" not in body and "開始日時" not in body, body


def test_row_errors_reject_the_file_and_report_line_column_value(daemon, module_relay):
    rows = ["1,2024/05/16,100,備考", "x2,2024/05/16,100,ok", "3,2023/02/29,=1+1,ok"]
    step, code, reply = send(daemon.smtp_port, mail([("20240601.csv", csv_bytes(rows))]))
    [run_id] = queued_ids(reply)
    run = daemon.wait_run(run_id)
    assert run["state"] == "failed" and run["rows_imported"] == 0 and run["rows_failed"] == 2
    assert daemon.query("SELECT count(*) FROM performance WHERE _run_id = ?", (run_id,)) == [(0,)]
    errors = daemon.query(
        'SELECT line, "column", value FROM run_errors WHERE run_id = ?', (run_id,)
    )
    assert errors == [
        (3, "member_no", "x2"),
        (4, "date", "2023/02/29"),
        (4, "sales_amount", "=1+1"),
    ]
    [report] = module_relay.for_recipient("ops@acme.example", about="20240601.csv")
    body = report.get_body().get_content()
    assert "3行目 列「member_no」の値「x2」は整数ではありません" in body
    name, data = attachment(report)
    assert name == "20240601.errors.csv"
    text = data.decode("cp932")
    sql = "SELECT message FROM run_errors WHERE run_id = ? AND line = 4 ORDER BY rowid"
    date_error = daemon.query(sql, (run_id,))[0][0]
    assert text.splitlines() == [
        "member_no,date,sales_amount,note,行番号,エラー内容",
        "x2,2024/05/16,100,ok,3,3行目 列「member_no」の値「x2」は整数ではありません",
        # a formula is escaped, never run; the row's two errors share its line
        f"3,2023/02/29,'=1+1,ok,4,{date_error} / 4行目 列「sales_amount」の値「=1+1」"
        "は整数ではありません",
    ]


def test_skip_mode_imports_the_valid_rows_and_reports_partly(daemon, module_relay):
    rows = ["1,2024/05/16,100,a", "2,2024/13/01,100,b", "3,2024/05/16,100,c"]
    _, code, reply = send_as(daemon.smtp_port, "skipper", [("20240602.csv", csv_bytes(rows))])
    run = daemon.wait_run(queued_ids(reply)[0])
    assert run["state"] == "completed" and (run["rows_imported"], run["rows_failed"]) == (2, 1)
    report = module_relay.for_recipient("ops@skipper.example")[0]
    assert "一部取込" in report["Subject"]


def test_each_csv_attachment_is_its_own_run(daemon):
    msg = mail(
        [
            ("20240603.csv", csv_bytes(["1,2024/06/03,1,a"])),
            ("20240604.CSV", csv_bytes(["2,2024/06/04,2,b"], encoding="utf-8")),
        ]
    )
    _, code, reply = send(daemon.smtp_port, msg)
    ids = queued_ids(reply)
    assert code == 250 and len(ids) == 2
    runs = [daemon.wait_run(i) for i in ids]
    assert [r["filename"] for r in runs] == ["20240603.csv", "20240604.CSV"]
    assert [r["state"] for r in runs] == ["completed", "completed"]
    assert runs[1]["encoding"] == "utf-8"


def test_same_name_replaces_and_a_failed_file_keeps_the_old_rows(daemon):
    def deliver(rows):
        _, _, reply = send(daemon.smtp_port, mail([("20240610.csv", csv_bytes(rows))]))
        return daemon.wait_run(queued_ids(reply)[0])

    deliver(["1,2024/06/10,1,first", "2,2024/06/10,2,first"])
    second = deliver(["7,2024/06/10,7,second"])
    third = deliver(["8,2024/06/10,bad,third"])
    assert third["state"] == "failed"
    rows = daemon.query(
        "SELECT member_no, note, _run_id FROM performance WHERE _source_file = '20240610.csv'"
    )
    assert rows == [(7, "second", second["id"])]


def test_replacing_one_file_leaves_the_rows_of_files_imported_between(daemon):
    def deliver(name, rows):
        _, _, reply = send(daemon.smtp_port, mail([(name, csv_bytes(rows))]))
        return daemon.wait_run(queued_ids(reply)[0])

    deliver("20240611.csv", ["11,2024/06/11,1,a1", "12,2024/06/11,1,a2"])
    middle = deliver("20240612.csv", ["21,2024/06/12,1,b"])
    deliver("20240611.csv", ["13,2024/06/11,1,a3"])
    rows = daemon.query(
        "SELECT member_no, _source_file, _run_id FROM performance "
        "WHERE _source_file IN ('20240611.csv', '20240612.csv') ORDER BY member_no"
    )
    assert [r[:2] for r in rows] == [(13, "20240611.csv"), (21, "20240612.csv")]
    assert rows[1][2] == middle["id"]


def raw_mail(part_headers: str, body: str, from_="export@acme.example") -> bytes:
    return (
        f"From: {from_}\r\nTo: acme@in.example.jp\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
        f"--B\r\n{part_headers}\r\n\r\n{body}\r\n--B--\r\n"
    ).encode()


CSV_LINE = "member_no,date,sales_amount,note\r\n1,2024/07/01,5,x\r\n"


@pytest.mark.parametrize(
    ("headers", "body", "expected"),
    [
        # RFC 2231, UTF-8
        (
            "Content-Type: application/octet-stream\r\nContent-Disposition: attachment;"
            " filename*=UTF-8''%E5%A3%B2%E4%B8%8A.csv",
            "bWVtYmVy",
            "売上.csv",
        ),
        # RFC 2047, ISO-2022-JP (what Japanese mail clients send)
        (
            "Content-Type: application/octet-stream\r\nContent-Disposition: attachment;"
            ' filename="=?ISO-2022-JP?B?GyRCR2QbKEI=?=.csv"',
            "bWVtYmVy",
            "売.csv",
        ),
        # RFC 2047, UTF-8
        (
            "Content-Type: text/plain\r\nContent-Disposition: attachment;"
            ' filename="=?UTF-8?B?5aOy5LiK?=.csv"',
            "x",
            "売上.csv",
        ),
        # a path from a Windows client, and a climbing path
        ('Content-Type: text/csv; name="C:\\\\x\\\\20240701.csv"', CSV_LINE, "20240701.csv"),
        (
            'Content-Type: text/csv\r\nContent-Disposition: attachment; filename="../../20240702.csv"',
            CSV_LINE.replace("07/01", "07/02"),
            "20240702.csv",
        ),
    ],
)
def test_attachment_names_are_decoded_and_reduced(daemon, headers, body, expected):
    _, code, reply = send(daemon.smtp_port, raw_mail(headers, body))
    assert code == 250
    run = daemon.wait_run(queued_ids(reply)[0])
    assert run["filename"] == expected
    if expected.startswith("2024"):
        assert run["state"] == "completed", run
    else:
        assert run["state"] == "failed" and "YYYYMMDD.csv" in run["message"]


def test_base64_quoted_printable_and_forwarded_csvs_are_found(daemon):
    qp = (
        "Content-Type: text/csv; charset=shift_jis; name=20240703.csv\r\n"
        "Content-Transfer-Encoding: quoted-printable"
    )
    body = "member_no,date,sales_amount,note\r\n1,2024/07/03,1,=8A=94\r\n"
    _, code, reply = send(daemon.smtp_port, raw_mail(qp, body))
    run = daemon.wait_run(queued_ids(reply)[0])
    assert run["state"] == "completed"
    assert daemon.query("SELECT note FROM performance WHERE _run_id = ?", (run["id"],)) == [("株",)]

    inner = mail(
        [("20240704.csv", csv_bytes(["4,2024/07/04,4,fwd"]))], sender="someone@else.example"
    )
    outer = mail(subject="Fwd: data")
    outer.add_attachment(inner)  # message/rfc822, its CSV base64-encoded inside
    _, code, reply = send(daemon.smtp_port, outer)
    run = daemon.wait_run(queued_ids(reply)[0])
    assert run["filename"] == "20240704.csv" and run["state"] == "completed"


def test_malformed_mail_gets_an_answer_and_the_daemon_keeps_serving(daemon):
    garbage = b"\x00\xff\xfe not a mail at all\r\n\r\n\xff"
    _, code, _ = send(daemon.smtp_port, garbage)
    assert code == 550  # no From header: the sender cannot be checked
    _, code, _ = send(daemon.smtp_port, mail(), rcpts=("nobody@in.example.jp",))
    assert code == 550
    time.sleep(0.1)
    assert daemon.proc.poll() is None


def test_parsed_report_headers_carry_no_injected_lines(daemon, module_relay):
    headers = (
        "Content-Type: text/csv\r\nContent-Disposition: attachment;"
        ' filename="=?UTF-8?B?MjAyNDA3MDUuY3N2DQpCY2M6IGV2aWxAeC5leGFtcGxl?="'
    )
    _, code, reply = send(daemon.smtp_port, raw_mail(headers, CSV_LINE))
    run = daemon.wait_run(queued_ids(reply)[0])
    assert "\n" not in run["filename"] and "\r" not in run["filename"]
    [report] = module_relay.for_recipient("ops@acme.example", about=run["id"])
    assert report["Bcc"] is None
    raw = BytesParser(policy=policy.default).parsebytes(report.as_bytes())
    assert "evil@x.example" not in str(raw.get_all("To"))


def test_the_same_message_sent_again_is_taken_once(tmp_path):
    """A sender that lost our 250 sends the message again, under its Message-ID: it gets
    the same answer and no second run, also after a restart."""
    config = write_config(tmp_path, account("acme", report="never", mode="insert"))
    msg = mail([("20240516.csv", csv_bytes(["1,2024/05/16,1,a"]))])
    msg["Message-ID"] = "<resend-1@acme.example>"
    other = mail([("20240516.csv", csv_bytes(["1,2024/05/16,1,a"]))])
    other["Message-ID"] = "<resend-2@acme.example>"
    daemon = Daemon(config).start()
    try:
        _, code, first = send(daemon.smtp_port, msg)
        _, again_code, again = send(daemon.smtp_port, msg)  # before its run has a row
        assert code == again_code == 250
        assert queued_ids(again) == queued_ids(first)
        daemon.wait_run(queued_ids(first)[0])
        assert daemon.terminate() == 0
        daemon = Daemon(config).start()
        _, code, later = send(daemon.smtp_port, msg)  # found in the run history
        assert code == 250 and queued_ids(later) == queued_ids(first)
        _, code, new = send(daemon.smtp_port, other)  # another message: another run
        assert code == 250 and queued_ids(new) != queued_ids(first)
        daemon.wait_run(queued_ids(new)[0])
        assert daemon.query("SELECT count(*) FROM runs") == [(2,)]
        assert daemon.query("SELECT count(*) FROM performance") == [(2,)]
    finally:
        daemon.terminate()


def test_a_mail_of_many_csvs_names_every_run_in_lines_a_client_reads(daemon):
    # One line naming 40 runs would pass RFC 5321's 512 octets; past a few hundred a
    # client takes the accepted mail for failed ("line too long").
    names = [f"202405{d:02}.csv" for d in range(1, 32)] + [
        f"202406{d:02}.csv" for d in range(1, 10)
    ]
    files = [(name, csv_bytes([f"{i},2024/05/16,{i},n"])) for i, name in enumerate(names)]
    step, code, reply = send(daemon.smtp_port, mail(files))
    assert (step, code) == ("DATA", 250), reply
    lines = reply.splitlines()
    assert len(lines) > 1 and all(len(f"250-{line}\r\n") <= 512 for line in lines), lines
    assert all(line.startswith("2.0.0 Ok: queued as ") for line in lines)
    ids = queued_ids(reply)
    assert len(ids) == len(set(ids)) == 40
    done = [daemon.wait_run(run_id) for run_id in ids]
    assert sorted(run["filename"] for run in done) == sorted(names)
    assert {run["state"] for run in done} == {"completed"}


def test_broken_base64_in_the_subject_or_a_name_gets_an_answer_not_a_451(daemon):
    """An RFC 2047 word whose base64 is cut (a mailer's, or a relay's that folded it
    badly) failed the session with 451, which a sender retries for days."""
    broken = raw_mail(
        'Content-Type: text/csv; name="20240705.csv"',
        CSV_LINE.replace("07/01", "07/05"),
    ).replace(b"Subject: x", b"Subject: =?UTF-8?B?44GC44GE44GGX?= data")
    _, code, reply = send(daemon.smtp_port, broken)
    assert code == 250, reply
    run = daemon.wait_run(queued_ids(reply)[0])
    assert (run["filename"], run["state"]) == ("20240705.csv", "completed"), run
    named = raw_mail(
        'Content-Type: text/csv; name="=?UTF-8?B?5aOy5LiKX?=.csv"',
        CSV_LINE.replace("07/01", "07/06"),
    )
    _, code, reply = send(daemon.smtp_port, named)
    assert code == 250, reply
    run = daemon.wait_run(queued_ids(reply)[0])
    # The name unread, as one in an unknown charset: the file is refused by its name,
    # said in the run and its report.
    assert (run["filename"], run["state"], run["problem"]) == (
        "attachment.csv",
        "failed",
        "filename.rule",
    ), run
    assert daemon.proc.poll() is None


def test_a_from_or_message_id_the_mail_library_cannot_parse_is_read_as_written(daemon):
    """Python's email package raises IndexError or AttributeError on some malformed
    address lists and message IDs: the session failed with 451. Read as written, the
    header's addresses are still checked."""
    mail_bytes = raw_mail(
        'Content-Type: text/csv; name="20240707.csv"', CSV_LINE.replace("07/01", "07/07")
    )
    odd = mail_bytes.replace(
        b"From: export@acme.example", b"From: export@acme.example, :;\r\nMessage-ID: <"
    )
    _, code, reply = send(daemon.smtp_port, odd)
    assert code == 250, reply
    run = daemon.wait_run(queued_ids(reply)[0])
    assert (run["filename"], run["state"]) == ("20240707.csv", "completed"), run
    stranger = mail_bytes.replace(
        b"From: export@acme.example", b"From: Export <export@acme.example>, g: ;x@other.example"
    )
    _, code, reply = send(daemon.smtp_port, stranger)
    assert code == 550 and "5.7.1" in reply, reply


def test_a_header_from_whose_display_name_is_an_allowed_address_is_refused(daemon):
    """`From: export@acme.example <evil@attacker.example>`: mail clients show the
    attacker's address, the mail library's reading kept only the allowed one."""
    msg = mail([("20240516.csv", csv_bytes(["1,2024/05/16,1,x"]))])
    msg.replace_header("From", "export@acme.example <evil@attacker.example>")
    before = daemon.query("SELECT count(*) FROM runs")
    step, code, reply = send(daemon.smtp_port, msg)
    assert (step, code) == ("DATA", 550) and reply.startswith("5.7.1"), reply
    assert daemon.query("SELECT count(*) FROM runs") == before
    # A display name is read as one still, encoded as Japanese mailers write it.
    msg = mail([("20240517.csv", csv_bytes(["2,2024/05/17,2,y"]))])
    msg.replace_header("From", "=?UTF-8?B?5bGx55Sw?= <export@acme.example>")
    step, code, reply = send(daemon.smtp_port, msg)
    assert (step, code) == ("DATA", 250), reply


def test_the_greeting_says_esmtp_after_the_host_name(daemon):
    """`220 renkei renkei`: RFC 5321's greeting is the host's name, then text; ESMTP
    there is what clients and monitoring checks look for."""
    with socket.create_connection(("127.0.0.1", daemon.smtp_port), timeout=10) as sock:
        greeting = sock.recv(1024).decode()
    assert greeting.startswith("220 renkei ESMTP renkei"), greeting


def test_another_file_under_a_message_id_seen_before_is_imported(tmp_path):
    """A mailer that stamps its Message-IDs by the second sent two files under one:
    the second was answered with the first's run and its rows were never imported.
    Each, sent again, is still answered with its own run, also after a restart."""
    config = write_config(tmp_path, account("acme", report="never"))
    same_id = "<20240701120000.export@acme.example>"
    first_mail = mail([("20240701.csv", csv_bytes(["1,2024/07/01,1,a"]))])
    second_mail = mail([("20240702.csv", csv_bytes(["2,2024/07/02,2,b"]))])
    for msg in (first_mail, second_mail):
        msg["Message-ID"] = same_id
    daemon = Daemon(config).start()
    try:
        _, code, first = send(daemon.smtp_port, first_mail)
        _, second_code, second = send(daemon.smtp_port, second_mail)
        assert code == second_code == 250
        assert queued_ids(second) != queued_ids(first)
        for reply in (first, second):
            assert daemon.wait_run(queued_ids(reply)[0])["state"] == "completed"
        _, code, again = send(daemon.smtp_port, second_mail)
        assert code == 250 and queued_ids(again) == queued_ids(second)
        assert daemon.terminate() == 0
        daemon = Daemon(config).start()
        for msg, reply in ((first_mail, first), (second_mail, second)):
            _, code, later = send(daemon.smtp_port, msg)
            assert code == 250 and queued_ids(later) == queued_ids(reply)
        assert daemon.query("SELECT count(*) FROM runs") == [(2,)]
        rows = daemon.query("SELECT member_no FROM performance ORDER BY 1")
        assert rows == [(1,), (2,)]
    finally:
        daemon.terminate()
