"""A command's own mail, said in the catalog's words: `renkei import` tells whether its
run's report went, waits in the outbox (and why) or was refused for good, and
`renkei expect-check` the same of its alerts, instead of the outbox's English log line;
`renkei show` says how the report stands in the console's words, to whom it went, how
many tries it took and what the relay last said."""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo

from daemon.settings.model import WEEKDAYS
from tests.support import account, csv_bytes, free_port, renkei, write_config

ZONE = zoneinfo.ZoneInfo("Asia/Tokyo")
# The daemon's English log lines, which a one-shot command must not print.
LOG_WORDS = ("relay refused or unreachable", "refused it for good", "retry in", "expected file of")


def imported(tmp_path, config, *extra: str):
    path = tmp_path / "20240516.csv"
    path.write_bytes(csv_bytes(["1,2024/05/16,10,a"]))
    return renkei("import", str(path), "--account", "acme", "--config", str(config), *extra)


def shown(config, run_id: str) -> str:
    result = renkei("show", run_id, "--config", str(config))
    assert result.returncode == 0, result.stderr
    return result.stdout


def run_id(result) -> str:
    return result.stdout.split()[1].rstrip(":")


def test_a_report_the_relay_took_is_said_sent(tmp_path, relay):
    config = write_config(tmp_path, account("acme"), relay_port=relay.port)
    result = imported(tmp_path, config)
    assert result.returncode == 0, result.stderr
    assert "報告メールを送りました(宛先: sales@acme.example)" in result.stdout
    assert relay.for_recipient("sales@acme.example")
    show = shown(config, run_id(result))
    assert "報告メール: 送信済み" in show and "報告メールの宛先: sales@acme.example" in show
    assert "報告メールの送信試行(回): 1" in show and "リレーの最後の応答: OK" in show


def test_a_report_with_no_relay_is_said_to_wait_for_the_daemon(tmp_path):
    port = free_port()  # nothing listens there
    config = write_config(tmp_path, account("acme"), relay_port=port)
    result = imported(tmp_path, config)
    assert result.returncode == 0, result.stderr
    # The system's reason in the catalog's words, not aiosmtplib's English.
    said = f"報告メールは今は送れません(リレー 127.0.0.1:{port}: 接続を拒否されました"
    assert said in result.stderr
    assert "送信待ちとして残し、renkei serve が再送します" in result.stderr
    assert not any(words in result.stderr for words in LOG_WORDS), result.stderr
    assert list((tmp_path / "var" / "outbox").glob("*.json"))
    show = shown(config, run_id(result))
    assert "報告メール: 送信待ち" in show and "報告メールの送信試行(回): 1" in show
    # Said in the catalog's words there too; --json keeps what was stored.
    assert "リレーの最後の応答: 接続を拒否されました" in show and "Error connecting" not in show
    as_json = renkei("show", run_id(result), "--json", "--config", str(config))
    report = json.loads(as_json.stdout)["report"]
    assert (report["recipients"], report["attempts"], report["sent_at"]) == (
        ["sales@acme.example"],
        1,
        None,
    )
    assert f"Error connecting to 127.0.0.1 on port {port}" in report["last_answer"]


def test_a_report_refused_for_good_is_said_kept(tmp_path, relay):
    relay.refuse["sales@acme.example"] = "550 5.1.1 no such user"
    config = write_config(tmp_path, account("acme"), relay_port=relay.port)
    result = imported(tmp_path, config)
    assert result.returncode == 0, result.stderr
    failed = tmp_path / "var" / "outbox" / "failed"
    said = "報告メールはリレーに拒否されました(sales@acme.example: 550 5.1.1 no such user)。"
    assert f"{said}{failed} に保存しました" in result.stderr
    assert list(failed.glob("*.eml"))
    assert not any(words in result.stderr for words in LOG_WORDS), result.stderr
    assert "報告メール: 送信できず" in shown(config, run_id(result))


def test_a_report_some_recipients_refused_names_them(tmp_path, relay):
    relay.refuse["boss@acme.example"] = "550 5.1.1 no such user"
    accounts = account("acme", success_report_to=["sales@acme.example", "boss@acme.example"])
    config = write_config(tmp_path, accounts, relay_port=relay.port)
    result = imported(tmp_path, config)
    assert result.returncode == 0, result.stderr
    said = (
        "報告メールを送りました(宛先: sales@acme.example)。リレーが受け取らなかった宛先:"
        " boss@acme.example: 550 5.1.1 no such user"
    )
    assert said in result.stderr
    assert relay.envelopes == [("renkei@example.jp", ["sales@acme.example"])]


def test_english_and_json_say_it_their_way(tmp_path):
    port = free_port()
    config = write_config(tmp_path, account("acme"), extra='language = "en"', relay_port=port)
    result = imported(tmp_path, config)
    assert f"report mail not sent yet (relay 127.0.0.1:{port}: connection refused" in result.stderr
    assert "it waits in the outbox and renkei serve retries it" in result.stderr
    as_json = imported(tmp_path, config, "--json")
    assert json.loads(as_json.stdout)["report_state"] == "queued"
    assert "report mail" not in as_json.stderr and "retry in" not in as_json.stderr


def test_no_report_no_words(tmp_path):
    config = write_config(tmp_path, account("acme", report="never"), relay_port=free_port())
    result = imported(tmp_path, config)
    assert result.returncode == 0, result.stderr
    assert "報告メール" not in result.stdout + result.stderr
    show = shown(config, run_id(result))
    assert "報告メール: 送信なし" in show and "報告メールの宛先" not in show


def test_expect_check_says_its_alerts_wait_or_went(tmp_path, relay):
    day = dt.datetime.now(ZONE).date()
    expect = f'[accounts.acme.expect]\nweekdays = ["{WEEKDAYS[day.weekday()]}"]\nby = "23:59"\n'
    admin = 'admin_to = ["admin@example.jp"]'
    down = write_config(tmp_path, account("acme") + expect, extra=admin, relay_port=free_port())
    result = renkei("expect-check", "--now", f"{day}T23:59:30", "--config", str(down))
    assert result.returncode == 0, result.stderr
    assert "未着 1 件" in result.stdout
    assert "通知メールは今は送れません(リレー 127.0.0.1:" in result.stderr
    assert not any(words in result.stderr for words in LOG_WORDS), result.stderr

    other = tmp_path / "up"
    other.mkdir()
    up = write_config(other, account("acme") + expect, extra=admin, relay_port=relay.port)
    result = renkei("expect-check", "--now", f"{day}T23:59:30", "--config", str(up), cwd=other)
    assert result.returncode == 0, result.stderr
    sent = "通知メールを送りました(宛先: ops@acme.example, admin@example.jp)"
    assert sent in result.stdout, result.stdout + result.stderr
