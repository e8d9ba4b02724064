"""Expected files: a file missing at its `by` is alerted once (未着のお知らせ) to the
account's error addresses and `report.admin_to`, listed by the account API, and closed
with a 届きました note when it comes. The clock is injected with
`renkei expect-check --now`, the daemon's own check as of another moment."""

from __future__ import annotations

import datetime as dt
import json
import time
import urllib.request
import zoneinfo

import pytest

from daemon.poll.expected import due_on
from daemon.settings import ConfigError
from daemon.settings.loading import parse
from daemon.settings.model import WEEKDAYS, Expect
from tests.support import (
    Daemon,
    account,
    csv_bytes,
    queued_ids,
    renkei,
    send_as,
    write_config,
)

ZONE = zoneinfo.ZoneInfo("Asia/Tokyo")
ADMIN = 'admin_to = ["admin@example.jp"]'


def today() -> dt.date:
    return dt.datetime.now(ZONE).date()


@pytest.fixture(autouse=True)
def a_day_that_lasts():
    """These tests read "today" in Tokyo and expect files by 23:59 of it, while the
    daemon checks by the real clock: begun in the day's last minutes, today's 23:59
    had passed for the daemon (or passed during the test). Such a test waits for the
    next day to begin instead, which takes at most three minutes, once a day."""
    now = dt.datetime.now(ZONE)
    left = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(), ZONE) - now
    if left < dt.timedelta(minutes=3):
        time.sleep(left.total_seconds() + 1)


def expecting(name: str, **expect: str | list[str] | int) -> str:
    lines = [f"[accounts.{name}.expect]"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in expect.items()]
    return account(name) + "\n".join(lines) + "\n"


def expect_check(config, now: str) -> str:
    result = renkei("expect-check", "--now", now, "--config", str(config), timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def account_json(daemon: Daemon, name: str) -> dict:
    request = urllib.request.Request(
        f"{daemon.api}/api/v1/accounts/{name}", headers={"Authorization": "Bearer demo-admin"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.load(answer)


def subjects(relay) -> list[str]:
    return [m["Subject"] for m in relay.messages]


def test_missing_file_alerted_once_then_closed_by_the_late_file(tmp_path, relay):
    day = today()
    weekday = WEEKDAYS[day.weekday()]
    accounts = expecting("acme", weekdays=[weekday], by="23:59")
    config = write_config(tmp_path, accounts, extra=ADMIN, relay_port=relay.port)
    daemon = Daemon(config).start()
    try:
        assert account_json(daemon, "acme")["missing"] == []
        out = expect_check(config, f"{day}T23:59:30")
        assert "未着 1 件" in out
        [alert] = relay.for_recipient("admin@example.jp", "未着のお知らせ")
        assert alert["Subject"] == f"[renkei] 未着のお知らせ: acme {day}"
        assert "23:59(Asia/Tokyo)" in alert.get_body().get_content()
        assert relay.envelopes[0] == ("renkei@example.jp", ["ops@acme.example", "admin@example.jp"])
        # A second check, by hand or by the daemon: the day was alerted already.
        assert "未着 0 件" in expect_check(config, f"{day}T23:59:45")
        view = account_json(daemon, "acme")
        assert view["expected"] == {"weekdays": [weekday], "by": "23:59"}
        assert view["missing"] == [day.isoformat()]

        name = f"{day:%Y%m%d}.csv"
        rows = [f"1,{day:%Y/%m/%d},100,late"]
        _, code, reply = send_as(daemon.smtp_port, "acme", [(name, csv_bytes(rows))])
        assert code == 250
        run = daemon.wait_run(queued_ids(reply)[0])
        assert run["state"] == "completed"
        relay.for_recipient("ops@acme.example", "届きました: ")
        [note] = [m for m in relay.messages if "届きました" in m["Subject"]]
        assert note["Subject"] == f"[renkei] 届きました: acme {day}"
        assert name in note.get_body().get_content() and run["id"] in note.get_body().get_content()
        # Its counts, not "imported" of a file whose every row failed.
        assert "1 行を取り込みました(エラー 0 行、" in note.get_body().get_content()
        assert account_json(daemon, "acme")["missing"] == []
        assert "未着 0 件を通知、到着 0 件" in expect_check(config, f"{day}T23:59:50")
        time.sleep(1)
        assert sum("未着" in s for s in subjects(relay)) == 1
        assert sum("届きました" in s for s in subjects(relay)) == 1
    finally:
        daemon.terminate()


def test_daemon_started_after_by_notices_the_miss(tmp_path, relay):
    accounts = expecting("acme", weekdays=list(WEEKDAYS), by="00:00")
    config = write_config(tmp_path, accounts, extra=ADMIN, relay_port=relay.port)
    daemon = Daemon(config).start()
    try:
        [alert] = relay.for_recipient("admin@example.jp", "未着のお知らせ")
        assert alert["Subject"] == f"[renkei] 未着のお知らせ: acme {today()}"
    finally:
        daemon.terminate()


def test_only_due_days_are_alerted_weekly_and_monthly(tmp_path, relay):
    day = today()
    other_weekday = WEEKDAYS[(day.weekday() + 1) % 7]
    other_day = day.day % 28 + 1
    accounts = (
        expecting("weekly", weekdays=[other_weekday], by="10:00")
        + expecting("monthly", day=day.day, by="10:00")
        + expecting("notyet", day=day.day, by="23:00")
        + expecting("otherday", day=other_day, by="10:00")
    )
    config = write_config(tmp_path, accounts, relay_port=relay.port)
    assert "未着 1 件" in expect_check(config, f"{day}T22:00")
    [alert] = relay.wait(1)
    assert alert["Subject"] == f"[renkei] 未着のお知らせ: monthly {day}"
    assert relay.envelopes == [("renkei@example.jp", ["ops@monthly.example"])]


def test_an_account_the_console_stopped_is_not_alerted(tmp_path, relay):
    """As one stopped in its config: renkei expect-check once read the config alone."""
    day = today()
    accounts = expecting("halted", day=day.day, by="10:00") + expecting(
        "running", day=day.day, by="10:00"
    )
    config = write_config(tmp_path, accounts, relay_port=relay.port)
    switches = tmp_path / "var" / "switches.json"
    switches.parent.mkdir(parents=True, exist_ok=True)
    switches.write_text(json.dumps({"halted": {"status": "stopped", "by": "admin", "at": "x"}}))
    assert "未着 1 件" in expect_check(config, f"{day}T22:00")
    [alert] = relay.wait(1)
    assert alert["Subject"] == f"[renkei] 未着のお知らせ: running {day}"


def test_monthly_day_past_the_month_end_is_its_last_day():
    last = Expect(day="last", by="10:00")
    thirty_first = Expect(day=31, by="10:00")
    for expect in (last, thirty_first):
        assert due_on(expect, dt.date(2025, 2, 28)) and due_on(expect, dt.date(2024, 2, 29))
        assert not due_on(expect, dt.date(2024, 2, 28))
        assert due_on(expect, dt.date(2026, 12, 31)) and not due_on(expect, dt.date(2026, 12, 30))
    assert due_on(Expect(day=1, by="10:00"), dt.date(2026, 12, 1))
    assert due_on(Expect(weekdays=["tue"], by="10:00"), dt.date(2026, 12, 1))
    assert not due_on(Expect(weekdays=["mon"], by="10:00"), dt.date(2026, 12, 1))


@pytest.mark.parametrize(
    ("expect", "expected"),
    [
        (
            {"weekdays": ["mun"], "by": "10:00"},
            "accounts.a.expect.weekdays: 'mun' is not one of mon, tue, wed, thu, fri, sat, sun",
        ),
        (
            {"weekdays": ["mon"], "by": "24:00"},
            "accounts.a.expect.by: '24:00' is not a time like 10:00 (00:00 to 23:59)",
        ),
        (
            {"day": 32, "by": "10:00"},
            'accounts.a.expect.day: 32 is not a day of the month (1 to 31) nor "last"',
        ),
        (
            {"day": "first", "by": "10:00"},
            "accounts.a.expect.day: 'first' is not a day of the month (1 to 31) nor \"last\"",
        ),
        (
            {"weekdays": ["mon"], "day": 1, "by": "10:00"},
            "accounts.a.expect: write either weekdays (daily) or day (monthly),"
            " not both and not neither",
        ),
    ],
)
def test_bad_expect_values_are_named_with_their_key(expect, expected):
    raw = {"layouts": {"p": {"columns": [{"name": "a"}]}}, "accounts": {"a": {"layout": "p"}}}
    raw["accounts"]["a"]["expect"] = expect
    with pytest.raises(ConfigError) as info:
        parse(raw)
    assert [str(p) for p in info.value.problems] == [expected]


def test_an_expect_added_by_reload_is_checked_at_once(tmp_path, relay):
    config = write_config(tmp_path, account("acme"), extra=ADMIN, relay_port=relay.port)
    daemon = Daemon(config).start()
    try:
        assert account_json(daemon, "acme")["expected"] is None
        expect = f'[accounts.acme.expect]\nday = {today().day}\nby = "00:00"\n'
        config.write_text(config.read_text() + expect)
        daemon.notify.wait_for("RELOADING=1")
        daemon.notify.wait_for("READY=1")
        [alert] = relay.for_recipient("ops@acme.example", "未着のお知らせ")
        assert alert["Subject"] == f"[renkei] 未着のお知らせ: acme {today()}"
        assert account_json(daemon, "acme")["missing"] == [today().isoformat()]
    finally:
        daemon.terminate()


def test_days_missed_while_down_are_alerted_at_the_next_check(tmp_path, relay):
    """Checked at 09:00 three days ago, before that day's 10:00, then two days ago, and
    today at 09:00: each due day whose 10:00 passed between two checks is alerted at
    the second, today's not yet; none while the account was stopped at a check."""
    day = today()
    accounts = expecting("acme", weekdays=list(WEEKDAYS), by="10:00") + expecting(
        "halted", weekdays=list(WEEKDAYS), by="10:00"
    )
    config = write_config(tmp_path, accounts, relay_port=relay.port)

    def ago(days: int) -> dt.date:
        return day - dt.timedelta(days=days)

    assert "未着 0 件" in expect_check(config, f"{ago(3)}T09:00")
    switches = tmp_path / "var" / "switches.json"
    switches.write_text(json.dumps({"halted": {"status": "stopped", "by": "admin", "at": "x"}}))
    assert "未着 1 件" in expect_check(config, f"{ago(2)}T09:00")
    switches.write_text("{}")
    assert "未着 4 件" in expect_check(config, f"{day}T09:00")
    alerted = sorted(m["Subject"] for m in relay.wait(5))
    assert alerted == sorted(
        [f"[renkei] 未着のお知らせ: acme {ago(n)}" for n in (3, 2, 1)]
        + [f"[renkei] 未着のお知らせ: halted {ago(n)}" for n in (2, 1)]
    )
    assert "未着 0 件" in expect_check(config, f"{day}T09:30")


def test_an_expect_checked_for_the_first_time_alerts_only_today(tmp_path, relay):
    """A day before the account expected anything (or before renkei was installed) is
    never alerted: the first check with `expect` starts with today."""
    day = today()
    config = write_config(tmp_path, account("acme"), relay_port=relay.port)
    assert "未着 0 件" in expect_check(config, f"{day - dt.timedelta(days=3)}T09:00")
    config.write_text(
        config.read_text() + '[accounts.acme.expect]\nweekdays = ["mon", "tue", "wed",'
        ' "thu", "fri", "sat", "sun"]\nby = "10:00"\n'
    )
    assert "未着 1 件" in expect_check(config, f"{day}T11:00")
    [alert] = relay.wait(1)
    assert alert["Subject"] == f"[renkei] 未着のお知らせ: acme {day}"


def test_a_miss_while_stopped_is_not_alerted_once_started_again_the_same_day(tmp_path, relay):
    """Stopped over today's 10:00, started again at noon: the next check alerted today
    as missed, where a stopped account's days are never alerted (and the partner's
    file waited in its FTP home, untouched because the account was stopped)."""
    day = today()
    config = write_config(
        tmp_path, expecting("acme", day=day.day, by="10:00"), relay_port=relay.port
    )
    assert "未着 0 件" in expect_check(config, f"{day}T09:00")
    switches = tmp_path / "var" / "switches.json"
    switches.write_text(json.dumps({"acme": {"status": "stopped", "by": "admin", "at": "x"}}))
    assert "未着 0 件" in expect_check(config, f"{day}T10:01")
    switches.write_text("{}")  # started again
    assert "未着 0 件" in expect_check(config, f"{day}T12:00")
    assert relay.messages == []


def test_a_miss_alert_says_when_files_wait_for_the_ftp_check(tmp_path, relay):
    """A file uploaded before `by` waits for the FTP check time, which may come after
    it: the alert said the file had not arrived, of a file renkei held."""
    day = today()
    ftp = '[accounts.acme.ftp]\nuser = "acme"\npassword = "demo-acme-ftp"\nweekdays = []\n'
    accounts = expecting("acme", day=day.day, by="10:00") + ftp
    config = write_config(tmp_path, accounts, relay_port=relay.port)
    home = tmp_path / "var" / "ftp" / "acme"
    home.mkdir(parents=True)
    (home / f"{day:%Y%m%d}.csv").write_text("member_no\n1\n")
    (home / ".upload.part").write_text("")  # one being written: not a file yet
    # An earlier upload of the name, moved aside for the later: both are imported.
    (home / f"..held-20240516T000000-{day:%Y%m%d}.csv").write_text("member_no\n1\n")
    assert "未着 1 件" in expect_check(config, f"{day}T10:01")
    [alert] = relay.wait(1)
    body = alert.get_body().get_content()
    assert "までに届いていません" in body
    assert (
        "なお、acme には取込待ちのファイルが 2 件あります(FTP の確認時刻を待っているか、取込中)"
        in body
    )
