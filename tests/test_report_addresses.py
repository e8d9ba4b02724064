"""Addresses renkei mails from and to: a Japanese domain is sent in its ASCII (IDNA)
form, which every relay takes; a Japanese local part, which a relay takes only with
SMTPUTF8, is refused by `renkei check` and at start. `renkei check` passed both, and
every report to such an address died with a traceback at each try, holding up the
report mails queued after it."""

from __future__ import annotations

import time

from tests.support import account, csv_bytes, renkei, write_config


def test_a_japanese_domain_is_mailed_in_its_ascii_form(tmp_path, relay):
    keys = {"error_report_to": ["ops@経理.example"], "report": "always"}
    config = write_config(tmp_path, account("acme", **keys), relay_port=relay.port)
    checked = renkei("check", "--config", str(config))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    source = tmp_path / "20240516.csv"
    source.write_bytes(csv_bytes(["1,2024/05/16,10,a", "x,2024/05/16,10,b"]))
    result = renkei("import", str(source), "--account", "acme", "--config", str(config))
    assert result.returncode in (0, 1), result.stderr
    assert "Traceback" not in result.stderr
    deadline = time.monotonic() + 20
    while not relay.for_recipient("ops@xn--8eyt1r.example"):
        assert time.monotonic() < deadline, relay.envelopes
        time.sleep(0.2)
    [report] = relay.for_recipient("ops@xn--8eyt1r.example")
    assert report["To"] == "ops@xn--8eyt1r.example"


def test_a_japanese_local_part_is_refused_with_its_key(tmp_path):
    keys = {"error_report_to": ["経理@keiri.example"]}
    config = write_config(tmp_path, account("acme", **keys))
    text = config.read_text()
    assert 'from = "renkei@example.jp"' in text
    config.write_text(text.replace('from = "renkei@example.jp"', 'from = "連携@example.jp"'))
    checked = renkei("check", "--config", str(config))
    said = checked.stdout + checked.stderr
    assert checked.returncode == 1, said
    assert "Traceback" not in said
    assert (
        "accounts.acme.error_report_to.0: '経理@keiri.example': renkei が送るメールのアドレスは"
        " @ の前を ASCII で書いてください" in said
    )
    assert "report.from: '連携@example.jp'" in said


def test_an_address_written_twice_in_two_forms_gets_one_mail(tmp_path, relay):
    twice = ["ops@経理.example", "ops@xn--8eyt1r.example", "ops@XN--8EYT1R.EXAMPLE"]
    keys = {"error_report_to": twice, "report": "always"}
    config = write_config(tmp_path, account("acme", **keys), relay_port=relay.port)
    source = tmp_path / "20240516.csv"
    source.write_bytes(csv_bytes(["1,2024/05/16,10,a", "x,2024/05/16,10,b"]))
    result = renkei("import", str(source), "--account", "acme", "--config", str(config))
    assert result.returncode in (0, 1), result.stderr
    [report] = relay.for_recipient("ops@xn--8eyt1r.example", timeout=20)
    assert report["To"] == "ops@xn--8eyt1r.example"
    assert relay.envelopes[-1][1] == ["ops@xn--8eyt1r.example"]
