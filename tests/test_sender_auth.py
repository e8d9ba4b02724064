"""Sender authentication at the mail door (handlers/mailauth.py), against the real daemon.

Offline: the daemon answers its DNS lookups from a stub zone (`RENKEI_DNS_STUB`) this
module writes, holding the public half of a DKIM key made here, DMARC policies and SPF
records. Each verdict and policy is one mail through a real SMTP session.
"""

from __future__ import annotations

import base64
import json
from email import policy

import dkim
import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support import Daemon, account, csv_bytes, mail, queued_ids, send, write_config

ADMIN = {"Authorization": "Bearer demo-admin"}
SELECTOR = b"sel"
CSV = [("20240516.csv", csv_bytes(["1,2024/05/16,1,x"]))]


def _account(name: str, **keys: object) -> str:
    mail_keys = {"address": f"{name}@in.example.jp", "allowed_senders": [f"export@{name}.example"]}
    mail_keys |= keys.pop("mail", {})  # type: ignore[arg-type]
    return account(name, mail=mail_keys, **keys)


ACCOUNTS = (
    _account("signed", sender_auth="require")  # DKIM key and DMARC p=reject
    + _account("spfok", sender_auth="require")  # SPF passes for 127.0.0.1, no DKIM
    + _account("spfbad", sender_auth="require")  # SPF fails, no DKIM
    + _account("flagged", sender_auth="flag")  # SPF fails, the default policy
    + _account("offacct", sender_auth="off")  # SPF fails, not evaluated
    + _account("slow", sender_auth="flag")  # its DNS times out
    + _account("pinned", mail={"allowed_networks": ["192.0.2.0/24"]})
    + _account("thirdparty", sender_auth="require")  # DMARC p=reject, SPF fails
    # A hyphen in its domain; SPF passes for a subdomain, DMARC asks strict alignment.
    + _account(
        "strict-co",
        sender_auth="require",
        mail={"allowed_senders": ["export@strict-co.example", "export@sub.strict-co.example"]},
    )
)


@pytest.fixture(scope="module")
def key() -> bytes:
    private = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    return private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


@pytest.fixture(scope="module")
def daemon(tmp_path_factory, module_relay, key):
    folder = tmp_path_factory.mktemp("sender_auth")
    public = serialization.load_pem_private_key(key, None).public_key()
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    zone = {
        "sel._domainkey.signed.example": [f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"],
        "_dmarc.signed.example": ["v=DMARC1; p=reject"],
        "signed.example": ["v=spf1 -all"],
        "spfok.example": ["v=spf1 ip4:127.0.0.1 -all"],
        "spfbad.example": ["v=spf1 ip4:192.0.2.1 -all"],
        "flagged.example": ["v=spf1 ip4:192.0.2.1 -all"],
        "offacct.example": ["v=spf1 ip4:192.0.2.1 -all"],
        "slow.example": "timeout",
        "sub.strict-co.example": ["v=spf1 ip4:127.0.0.1 -all"],
        "_dmarc.strict-co.example": ["v=DMARC1; p=reject; aspf=s"],
        "_dmarc.thirdparty.example": ["v=DMARC1; p=reject"],
        "thirdparty.example": ["v=spf1 ip4:192.0.2.1 -all"],
    }
    (folder / "zone.json").write_text(json.dumps(zone), encoding="utf-8")
    config = write_config(folder, ACCOUNTS, relay_port=module_relay.port)
    d = Daemon(config, env={"RENKEI_DNS_STUB": str(folder / "zone.json")}).start()
    yield d
    assert d.terminate() == 0


def _raw(who: str) -> bytes:
    msg = mail(CSV, sender=f"export@{who}.example", to=f"{who}@in.example.jp")
    return msg.as_bytes(policy=policy.SMTP)


def _signed(raw: bytes, key: bytes) -> bytes:
    headers = [b"from", b"to", b"subject"]
    return dkim.sign(raw, SELECTOR, b"signed.example", key, include_headers=headers) + raw


def _send(daemon: Daemon, who: str, raw: bytes):
    frm, to = f"export@{who}.example", (f"{who}@in.example.jp",)
    return send(daemon.smtp_port, raw, mail_from=frm, rcpts=to)


def _runs(daemon: Daemon, who: str) -> int:
    return daemon.query("SELECT count(*) FROM runs WHERE account = ?", (who,))[0][0]


def test_dkim_and_dmarc_pass_is_imported_and_shown_by_the_api(daemon, key):
    step, code, reply = _send(daemon, "signed", _signed(_raw("signed"), key))
    assert (step, code) == ("DATA", 250), reply
    [run_id] = queued_ids(reply)
    run = daemon.wait_run(run_id)
    assert run["state"] == "completed", run
    results = run["authentication_results"]
    assert "dkim=pass" in results and "header.d=signed.example" in results
    assert "dmarc=pass" in results and "spf=fail" in results
    assert "認証" not in run["message"]
    shown = httpx.get(f"{daemon.api}/api/v1/runs/{run_id}", headers=ADMIN).json()
    assert shown["authentication_results"] == results


def test_bad_signature_with_require_gets_550_5726_and_no_run(daemon, key):
    raw = _signed(_raw("signed"), key).replace(b"see attached", b"see attachex")
    step, code, reply = _send(daemon, "signed", raw)
    assert (step, code) == ("DATA", 550) and reply.startswith("5.7.26"), reply
    assert _runs(daemon, "signed") <= 1  # the passing mail's run only
    refusals = httpx.get(f"{daemon.api}/api/v1/refusals", headers=ADMIN).json()
    assert "sender_not_authenticated" in json.dumps(refusals)


def test_the_dmarc_policy_of_a_domain_with_a_hyphen_is_the_one_applied(daemon):
    # authheaders read the From domain up to its first hyphen: strict-co.example was
    # looked up as "strict", found no policy, and the relaxed alignment let SPF's
    # pass for a subdomain through.
    msg = mail(CSV, sender="export@strict-co.example", to="strict-co@in.example.jp")
    raw = msg.as_bytes(policy=policy.SMTP)
    rcpts = ("strict-co@in.example.jp",)
    step, code, reply = send(
        daemon.smtp_port, raw, mail_from="export@sub.strict-co.example", rcpts=rcpts
    )
    assert (step, code) == ("DATA", 550) and reply.startswith("5.7.26"), reply
    refusals = httpx.get(f"{daemon.api}/api/v1/refusals", headers=ADMIN).json()["refusals"]
    [refused] = [r for r in refusals if r["who"] == "export@sub.strict-co.example"]
    assert (
        "dmarc=fail" in refused["detail"] and "header.from=strict-co.example" in refused["detail"]
    )


def test_spf_pass_from_the_allowed_address_is_imported(daemon):
    step, code, reply = _send(daemon, "spfok", _raw("spfok"))
    assert (step, code) == ("DATA", 250), reply
    run = daemon.wait_run(queued_ids(reply)[0])
    assert run["state"] == "completed", run
    assert "spf=pass smtp.mailfrom=export@spfok.example" in run["authentication_results"]
    assert "dkim=none" in run["authentication_results"]


def test_spf_fail_without_dkim_with_require_gets_550_5723(daemon):
    step, code, reply = _send(daemon, "spfbad", _raw("spfbad"))
    assert (step, code) == ("DATA", 550) and reply.startswith("5.7.23"), reply
    assert _runs(daemon, "spfbad") == 0


def test_flag_imports_a_failing_mail_and_says_so(daemon, module_relay):
    step, code, reply = _send(daemon, "flagged", _raw("flagged"))
    assert (step, code) == ("DATA", 250), reply
    [run_id] = queued_ids(reply)
    run = daemon.wait_run(run_id)
    assert (run["state"], run["rows_imported"]) == ("completed", 1), run
    assert "spf=fail" in run["authentication_results"]
    assert run["message"].startswith("送信元を認証できませんでした"), run["message"]
    [report] = module_relay.for_recipient("sales@flagged.example", about=run_id)
    assert "送信元を認証できませんでした" in report.get_body().get_content()


def test_off_is_not_evaluated(daemon):
    step, code, reply = _send(daemon, "offacct", _raw("offacct"))
    assert (step, code) == ("DATA", 250), reply
    run = daemon.wait_run(queued_ids(reply)[0])
    assert run["state"] == "completed" and run["authentication_results"] == "", run
    assert run["message"] == ""


def test_dns_timeout_gets_451_and_no_run(daemon):
    step, code, reply = _send(daemon, "slow", _raw("slow"))
    assert (step, code) == ("DATA", 451) and reply.startswith("4.7.0"), reply
    assert _runs(daemon, "slow") == 0


def test_a_network_outside_allowed_networks_gets_550_571_at_rcpt(daemon):
    step, code, reply = _send(daemon, "pinned", _raw("pinned"))
    assert (step, code) == ("RCPT", 550) and reply.startswith("5.7.1"), reply
    assert "network" in reply


def test_a_signature_of_another_domain_under_the_same_tld_is_not_aligned(daemon, key):
    """The public suffix list lacks `.example` (as it lacks `.local` or a new gTLD):
    every domain under it was one organization, so a mail From thirdparty.example
    signed by signed.example (an ESP's, anyone's) passed DMARC's relaxed alignment."""
    step, code, reply = _send(daemon, "thirdparty", _signed(_raw("thirdparty"), key))
    assert (step, code) == ("DATA", 550) and reply.startswith("5.7.26"), reply
    assert _runs(daemon, "thirdparty") == 0
    refusals = httpx.get(f"{daemon.api}/api/v1/refusals", headers=ADMIN).json()["refusals"]
    [refused] = [r for r in refusals if r["who"] == "export@thirdparty.example"]
    assert "dkim=pass" in refused["detail"] and "dmarc=fail" in refused["detail"], refused
