"""Mail door fixes, against the real daemon: a non-ASCII SMTP hostname and a `*` in
allowed_senders refused by `renkei check`; a partner's DKIM signature found below an
ESP's; a resend with its recipients in another order taken once per account; a mail
with bare LF line ends taken; the RFC 2231 file name preferred to its plain fallback.

Offline: sender authentication answers its lookups from a stub zone
(`RENKEI_DNS_STUB`) this module writes, with DKIM keys made here.
"""

from __future__ import annotations

import base64
import json
import smtplib
from email import policy
from email.message import EmailMessage
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

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

SELECTOR = b"sel"


def _mail_account(name: str, senders: list[str], **keys: object) -> str:
    return account(
        name, mail={"address": f"{name}@in.example.jp", "allowed_senders": senders}, **keys
    )


# acme, beta and gamma take the same partner's mail (insert: a second import of a file
# adds its rows again); corp authenticates its partner and refuses what fails.
ACCOUNTS = (
    _mail_account(
        "acme",
        ["export@acme.example"],
        mode="insert",
        report="never",
        sender_auth="off",
        filename=["{YYYYMMDD}.csv", "売上_{YYYYMMDD}.csv"],
    )
    + _mail_account("beta", ["export@acme.example"], mode="insert", report="never")
    + _mail_account("gamma", ["export@acme.example"], mode="insert", report="never")
    + _mail_account("corp", ["export@beta-corp.jp"], report="never", sender_auth="require")
)


def _private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)


def _pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def _dkim_record(key: rsa.RSAPrivateKey) -> str:
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"


@pytest.fixture(scope="module")
def keys() -> dict[str, bytes]:
    return {"beta-corp.jp": _pem(_private_key()), "evil.com": _pem(_private_key())}


@pytest.fixture(scope="module")
def daemon(tmp_path_factory, keys):
    folder = tmp_path_factory.mktemp("mail_fixes")
    zone = {
        f"sel._domainkey.{domain}": [_dkim_record(serialization.load_pem_private_key(pem, None))]
        for domain, pem in keys.items()
    }
    zone["_dmarc.beta-corp.jp"] = ["v=DMARC1; p=reject"]
    zone["beta-corp.jp"] = ["v=spf1 -all"]
    (folder / "zone.json").write_text(json.dumps(zone), encoding="utf-8")
    config = write_config(folder, ACCOUNTS)
    d = Daemon(config, env={"RENKEI_DNS_STUB": str(folder / "zone.json")}).start()
    yield d
    assert d.terminate() == 0


def _check(tmp_path, accounts: str, extra: str = "") -> tuple[int, str]:
    config = write_config(tmp_path, accounts, extra=extra)
    result = renkei("check", "--config", str(config))
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, result.stderr


# -- 1. a non-ASCII smtp.hostname --------------------------------------------------------


def _with_hostname(tmp_path: Path, hostname: str) -> Path:
    config = write_config(tmp_path, account("acme"))
    text = config.read_text(encoding="utf-8")
    said = text.replace("max_message_bytes", f'hostname = "{hostname}"\nmax_message_bytes', 1)
    config.write_text(said, encoding="utf-8")
    return config


def test_a_non_ascii_smtp_hostname_is_refused_with_its_idna_form(tmp_path):
    # aiosmtpd says the greeting in ASCII: the session died before it, and every
    # connection hung while `renkei check` had found nothing wrong.
    config = _with_hostname(tmp_path, "レンケイ")
    result = renkei("check", "--config", str(config))
    assert result.returncode == 1, result.stderr
    [line] = [line for line in result.stderr.splitlines() if "smtp.hostname" in line]
    assert line == (
        "smtp.hostname: 'レンケイ' は SMTP のあいさつに使えません(ASCII の名前だけが使えます)。"
        "日本語のドメイン名は IDNA(punycode)の形で書いてください: hostname = 'xn--eckza7n2a'"
    )


def test_the_idna_form_of_a_hostname_is_taken_and_greets(tmp_path):
    config = _with_hostname(tmp_path, "xn--eckza7n2a")
    assert renkei("check", "--config", str(config)).returncode == 0
    d = Daemon(config).start()
    try:
        with smtplib.SMTP("127.0.0.1", d.smtp_port, timeout=10) as client:
            code, greeting = client.ehlo()
        assert code == 250 and greeting.startswith(b"xn--eckza7n2a")
    finally:
        assert d.terminate() == 0


# -- 6. a * in allowed_senders -----------------------------------------------------------


def test_a_star_in_allowed_senders_is_refused_with_the_domain_form(tmp_path):
    # "*@acme.example" is a valid address, so it passed; no mail comes from it, and the
    # account took nothing.
    senders = ["export@acme.example", "*@acme.example"]
    code, said = _check(tmp_path, _mail_account("acme", senders), extra='language = "en"')
    assert code == 1, said
    assert (
        "accounts.acme.mail.allowed_senders.1: '*@acme.example': a * is no wildcard here and"
        " matches no sender; for every address of a domain write '@acme.example'"
    ) in said.splitlines()


def test_a_domain_entry_is_still_taken(tmp_path):
    code, said = _check(tmp_path, _mail_account("acme", ["@acme.example"]))
    assert code == 0, said


# -- 2. an ESP's DKIM signature above the partner's ---------------------------------------


def _signed(raw: bytes, domain: str, keys: dict[str, bytes]) -> bytes:
    headers = [b"from", b"to", b"subject"]
    return dkim.sign(raw, SELECTOR, domain.encode(), keys[domain], include_headers=headers) + raw


def _corp_mail(note: str) -> bytes:
    files = [("20240516.csv", csv_bytes([f"1,2024/05/16,1,{note}"]))]
    msg = mail(files, sender="export@beta-corp.jp", to="corp@in.example.jp")
    return msg.as_bytes(policy=policy.SMTP)


def _send_corp(daemon: Daemon, raw: bytes):
    return send(
        daemon.smtp_port, raw, mail_from="export@beta-corp.jp", rcpts=("corp@in.example.jp",)
    )


def test_an_aligned_signature_below_another_domains_passes_dmarc(daemon, keys):
    # The ESP signs last, so its signature comes first: it passed, and DMARC was given
    # it alone, unaligned with beta-corp.jp: the partner's genuine mail got 550 5.7.26.
    raw = _signed(_signed(_corp_mail("esp"), "beta-corp.jp", keys), "evil.com", keys)
    assert raw.index(b"d=evil.com") < raw.index(b"d=beta-corp.jp")
    step, code, reply = _send_corp(daemon, raw)
    assert (step, code) == ("DATA", 250), reply
    run = daemon.wait_run(queued_ids(reply)[0])
    assert (run["state"], run["rows_imported"]) == ("completed", 1), run
    results = run["authentication_results"]
    assert "dkim=pass" in results and "header.d=beta-corp.jp" in results, results
    assert "header.d=evil.com" not in results and "dmarc=pass" in results, results


def test_another_domains_signature_alone_still_fails_dmarc(daemon, keys):
    step, code, reply = _send_corp(daemon, _signed(_corp_mail("alone"), "evil.com", keys))
    assert (step, code) == ("DATA", 550) and reply.startswith("5.7.26"), reply


# -- 3. a resend with its recipients in another order ---------------------------------------


def _runs(daemon: Daemon, name: str) -> list[str]:
    return [r for (r,) in daemon.query("SELECT id FROM runs WHERE account = ?", (name,))]


def _rows(daemon: Daemon, name: str) -> int:
    return daemon.query("SELECT count(*) FROM performance WHERE _account = ?", (name,))[0][0]


def test_a_resend_in_another_recipient_order_or_to_one_more_is_taken_once_each(daemon):
    files = [(f"2024060{d}.csv", csv_bytes([f"{d},2024/06/0{d},{d},r"])) for d in (1, 2)]
    msg = mail(files)
    msg["Message-ID"] = "<resend-order@acme.example>"
    first = ("acme@in.example.jp", "beta@in.example.jp")
    _, code, reply = send(daemon.smtp_port, msg, rcpts=first)
    assert code == 250, reply
    ids = queued_ids(reply)
    assert len(ids) == 4
    for run_id in ids:
        assert daemon.wait_run(run_id)["state"] == "completed"
    taken = {name: sorted(_runs(daemon, name)) for name in ("acme", "beta")}

    # The same mail again, its RCPTs the other way round: the first runs, nothing new.
    again = ("beta@in.example.jp", "acme@in.example.jp")
    _, code, reply = send(daemon.smtp_port, msg, rcpts=again)
    assert code == 250, reply
    assert sorted(queued_ids(reply)) == sorted(ids)

    # And with a recipient added: only gamma's deliveries are new.
    more = ("beta@in.example.jp", "gamma@in.example.jp", "acme@in.example.jp")
    _, code, reply = send(daemon.smtp_port, msg, rcpts=more)
    assert code == 250, reply
    answered = queued_ids(reply)
    assert len(answered) == 6 and set(ids) < set(answered), (ids, answered)
    for run_id in set(answered) - set(ids):
        assert daemon.wait_run(run_id)["state"] == "completed"
    assert sorted(_runs(daemon, "gamma")) == sorted(set(answered) - set(ids))
    assert {name: sorted(_runs(daemon, name)) for name in ("acme", "beta")} == taken
    assert [_rows(daemon, name) for name in ("acme", "beta", "gamma")] == [2, 2, 2]


# -- 4. bare LF line ends ------------------------------------------------------------------


def _lf_mail(rows: list[str]) -> bytes:
    msg = EmailMessage()  # as_bytes() writes the policy's "\n" line ends
    msg["From"] = "export@acme.example"
    msg["To"] = "acme@in.example.jp"
    msg["Subject"] = "LF"
    msg.set_content("see attached\n" * 40)
    data = csv_bytes(rows, encoding="utf-8").replace(b"\r\n", b"\n")
    msg.add_attachment(data, maintype="text", subtype="csv", filename="20240701.csv")
    raw = msg.as_bytes()
    assert b"\r\n" not in raw
    return raw


def test_a_mail_with_bare_lf_line_ends_over_a_kilobyte_is_imported(daemon):
    # smtplib sends bytes as they are: each LF ends a line, none is near 998 bytes, and
    # the mail was refused as one line too long.
    # send() hands smtplib the bytes as smtplib.sendmail(…, msg.as_bytes()) does.
    rows = [f"{n},2024/07/01,{n * 10},メモ{n}" for n in range(1, 41)]
    raw = _lf_mail(rows)
    assert len(raw) > 2048
    step, code, reply = send(daemon.smtp_port, raw)
    assert (step, code) == ("DATA", 250), reply
    [run_id] = queued_ids(reply)
    run = daemon.wait_run(run_id)
    assert run["filename"] == "20240701.csv"
    assert (run["state"], run["rows_total"], run["rows_imported"]) == ("completed", 40, 40), run
    stored = daemon.query(
        "SELECT member_no, sales_amount, note FROM performance WHERE _run_id = ?"
        " ORDER BY member_no",
        (run_id,),
    )
    assert stored == [(n, n * 10, f"メモ{n}") for n in range(1, 41)]


def test_a_line_too_long_between_bare_lfs_is_still_refused(daemon):
    raw = _lf_mail(["1,2024/07/01,1,x"]).replace(b"see attached\n", b"y" * 1000 + b"\n", 1)
    step, code, reply = send(daemon.smtp_port, raw)
    assert (step, code) == ("DATA", 500) and reply.startswith("5.5.2"), reply


# -- 5. filename* beside a plain filename --------------------------------------------------


def _named_mail(part_headers: str, day: int) -> bytes:
    body = f"member_no,date,sales_amount,note\r\n1,2024/08/{day:02},5,x\r\n"
    return (
        "From: export@acme.example\r\nTo: acme@in.example.jp\r\nSubject: x\r\n"
        'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
        f"--B\r\n{part_headers}\r\n\r\n{body}\r\n--B--\r\n"
    ).encode()


@pytest.mark.parametrize(
    ("headers", "day"),
    [
        (
            "Content-Type: text/csv\r\nContent-Disposition: attachment;"
            ' filename="fallback.csv";\r\n'
            " filename*=UTF-8''%E5%A3%B2%E4%B8%8A_20240801.csv",
            1,
        ),
        (
            "Content-Type: text/csv; name=\"fallback.csv\"; name*=UTF-8''%E5%A3%B2%E4%B8%8A_"
            "20240802.csv\r\nContent-Disposition: attachment",
            2,
        ),
    ],
)
def test_the_rfc_2231_name_is_taken_before_its_plain_fallback(daemon, headers, day):
    # A mailer writes both for readers that know no RFC 2231 (RFC 6266 4.3); the plain
    # one, first, named the run, which the file-name rule then refused.
    _, code, reply = send(daemon.smtp_port, _named_mail(headers, day))
    assert code == 250, reply
    run = daemon.wait_run(queued_ids(reply)[0])
    assert (run["filename"], run["state"]) == (f"売上_202408{day:02}.csv", "completed"), run
    assert run["rows_imported"] == 1
