"""A digest day: with `report = "digest"` an account gets no mail per run, and at its
`digest_at` one mail lists the runs (time, file, state, counts) with the error CSVs
attached; nothing more on a second check, nothing on a day without runs. With
`digest+errors` a failed run's report still goes at once. The clock is injected with
`renkei digest --now`, the daemon's own step as of another moment."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import zoneinfo

import pytest

from daemon.settings import ConfigError, load
from daemon.settings.loading import parse
from daemon.spool.queue import Meta
from daemon.store.open import open_store
from importers.messages import message
from tests.support import (
    Daemon,
    account,
    cli_import,
    csv_bytes,
    queued_ids,
    renkei,
    send_as,
    write_config,
)

ZONE = zoneinfo.ZoneInfo("Asia/Tokyo")
GOOD = ["1,2024/05/16,100,a", "2,2024/05/16,200,b"]
ONE_BAD = ["3,2024/05/16,300,c", "x,2024/05/16,1,d"]


def next_digest(after: dt.datetime) -> dt.datetime:
    """One minute past the first 18:00 (Asia/Tokyo) after `after`: that digest lists it."""
    local = after.astimezone(ZONE)
    at = dt.datetime.combine(local.date(), dt.time(18, 1), ZONE)
    return at if local < at.replace(minute=0) else at + dt.timedelta(days=1)


def digest(config, now: dt.datetime, *extra: str) -> str:
    when = now.strftime("%Y-%m-%dT%H:%M")
    result = renkei("digest", "--now", when, "--config", str(config), *extra, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def deliver(daemon: Daemon, name: str, rows: list[str]) -> dict:
    _, code, reply = send_as(daemon.smtp_port, "acme", [(name, csv_bytes(rows))])
    assert code == 250
    return daemon.wait_run(queued_ids(reply)[0])


@pytest.fixture
def digest_daemon(tmp_path, relay, request):
    accounts = account("acme", **request.param)
    config = write_config(tmp_path, accounts, relay_port=relay.port)
    daemon = Daemon(config).start()
    yield daemon, config
    daemon.terminate()


@pytest.mark.parametrize(
    "digest_daemon", [{"report": "digest", "on_row_error": "skip"}], indirect=True
)
def test_a_digest_day(digest_daemon, relay, tmp_path):
    daemon, config = digest_daemon
    good = deliver(daemon, "20240516.csv", GOOD)
    partial = deliver(daemon, "20240517.csv", ONE_BAD)
    assert (good["state"], partial["rows_failed"]) == ("completed", 1)
    # No report per run: none marked for the outbox, none in it, none at the relay.
    assert {good["report_state"], daemon.run(partial["id"])["report_state"]} == {"none"}
    time.sleep(1)
    assert relay.messages == []
    assert not list((tmp_path / "var" / "outbox").glob("*.json"))

    when = next_digest(dt.datetime.now(dt.UTC))
    assert "1 通" in digest(config, when)
    [mail] = relay.wait(1)
    day = when.date().isoformat()
    assert mail["Subject"] == f"[renkei] 取込のまとめ: acme {day} (2件、エラー 1件)"
    assert relay.envelopes[0] == ("renkei@example.jp", ["sales@acme.example", "ops@acme.example"])
    body = mail.get_body().get_content()
    assert "20240516.csv  取込完了" in body and "20240517.csv  一部取込" in body
    assert "全 2 行 / 取込 2 行 / エラー 0 行" in body
    assert "全 2 行 / 取込 1 行 / エラー 1 行" in body
    assert "  2 件を新規登録。" in body and "1 件はエラーのため取り込みませんでした" in body
    assert good["id"] in body and partial["id"] in body
    # A completed run's message too, as its report says it (a sender not authenticated).
    assert f"  {good['message']}" in body, body
    assert body.index("20240516.csv") < body.index("20240517.csv")
    [csv] = list(mail.iter_attachments())
    assert csv.get_filename() == "20240517.errors.csv"
    assert "添付の 20240517.errors.csv" in body
    kept = tmp_path / "var" / daemon.run(partial["id"])["error_report"]
    assert csv.get_payload(decode=True) == kept.read_bytes()

    # The same digest again (by hand or by the daemon's job): recorded, not sent twice.
    assert "0 通" in digest(config, when + dt.timedelta(minutes=30))
    # The next day had no runs: nothing.
    assert "0 通" in digest(config, when + dt.timedelta(days=1))
    time.sleep(1)
    assert len(relay.messages) == 1


@pytest.mark.parametrize("digest_daemon", [{"report": "digest+errors"}], indirect=True)
def test_digest_plus_errors_mails_the_failed_run_at_once(digest_daemon, relay):
    daemon, config = digest_daemon
    deliver(daemon, "20240516.csv", GOOD)
    failed = deliver(daemon, "20240518.csv", ONE_BAD)  # on_row_error = reject
    assert failed["state"] == "failed"
    [report] = relay.for_recipient("ops@acme.example", "取込エラー")
    assert report["Subject"] == "[renkei] 取込エラー: acme 20240518.csv"
    assert len(relay.messages) == 1  # the good run waits for the digest

    assert "1 通" in digest(config, next_digest(dt.datetime.now(dt.UTC)), "--account", "acme")
    mails = relay.wait(2)
    body = mails[1].get_body().get_content()
    assert "20240516.csv  取込完了" in body and "20240518.csv  取込エラー" in body
    assert "(2件、エラー 1件)" in mails[1]["Subject"]


def test_report_digest_is_quiet_per_run_and_digest_at_is_validated():
    base = {"layouts": {"p": {"columns": [{"name": "a"}]}}}
    ok = parse({**base, "accounts": {"a": {"layout": "p", "report": "digest"}}})
    assert ok.accounts["a"].digest_at == "18:00"
    with pytest.raises(ConfigError) as caught:
        parse({**base, "accounts": {"a": {"layout": "p", "digest_at": "25:00"}}})
    assert "accounts.a.digest_at: '25:00' is not a time like 10:00" in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        parse({**base, "accounts": {"a": {"layout": "p", "report": "daily"}}})
    assert "accounts.a.report: 'daily'" in str(caught.value) and "digest+errors" in str(
        caught.value
    )


@pytest.mark.parametrize(
    ("now", "day"),
    [
        ("2024-05-16T17:59", "2024-05-15"),  # before digest_at: yesterday's is the latest
        ("2024-05-16T18:00", "2024-05-16"),
        ("2024-05-16T23:30", "2024-05-16"),
    ],
)
def test_the_due_digest_covers_the_day_before_digest_at(now, day):
    from daemon.poll.digest import due_day
    from daemon.settings.model import Account

    moment = dt.datetime.fromisoformat(now).replace(tzinfo=ZONE)
    due = due_day("acme", Account(layout="p", digest_at="18:00"), moment, ZONE)
    assert due.day.isoformat() == day
    assert (due.end - due.start, due.end.strftime("%H:%M")) == (dt.timedelta(days=1), "18:00")


def test_error_csvs_past_the_bound_are_named_by_their_url(tmp_path, monkeypatch):
    from daemon.report import digest as digest_mail

    monkeypatch.setattr(digest_mail, "MAX_ATTACHED", 1)
    runs = []
    for n in (1, 2):
        (tmp_path / f"r{n}.errors.csv").write_bytes(b"a,line,error\r\n")
        runs.append(
            {
                "id": f"run{n}",
                "filename": "same.csv",
                "state": "completed",
                "rows_total": 2,
                "rows_imported": 1,
                "rows_failed": 1,
                "rows_inserted": 1,
                **dict.fromkeys(("rows_updated", "rows_deleted", "rows_skipped"), 0),
                **dict.fromkeys(("rows_not_found", "rows_empty", "dry_run"), 0),
                "message": "",
                "finished_at": "2024-05-16T01:00:00.000+00:00",
                "error_report": f"r{n}.errors.csv",
            }
        )
    start = dt.datetime(2024, 5, 15, 18, tzinfo=ZONE)
    day = digest_mail.Day("acme", start.date(), start, start + dt.timedelta(days=1), ZONE)
    msg = digest_mail.build("d", day, runs, tmp_path, ["a@example.jp"], "r@example.jp", "en")
    body = msg.get_body().get_content()
    assert [p.get_filename() for p in msg.iter_attachments()] == ["r1.errors.csv"]
    assert "attached r1.errors.csv" in body
    assert "GET /api/v1/runs/run2/errors.csv" in body
    assert msg["Subject"] == "[renkei] daily digest: acme 2024-05-15 (2 runs, 2 with errors)"


def test_two_accounts_named_in_japanese_each_get_their_digest(tmp_path, relay):
    """Their outbox items were both `alert-digest-__-DAY`: the second overwrote the
    first, and 営業's digest was lost though recorded as sent."""
    accounts = "".join(
        f'[accounts."{name}"]\nlayout = "performance"\nreport = "digest"\n'
        f'success_report_to = ["{to}@example.jp"]\n'
        for name, to in (("営業", "eigyo"), ("経理", "keiri"))
    )
    config = write_config(tmp_path, accounts, relay_port=relay.port)
    started = dt.datetime.now(dt.UTC)
    for name in ("営業", "経理"):
        path = tmp_path / "20240516.csv"
        path.write_bytes(csv_bytes(GOOD))
        result = renkei("import", str(path), "--account", name, "--config", str(config))
        assert result.returncode == 0, result.stderr
    assert "2 通" in digest(config, next_digest(started))
    mails = relay.wait(2)
    assert sorted(to for _, [to] in relay.envelopes) == ["eigyo@example.jp", "keiri@example.jp"]
    assert {m["Subject"].split(": ")[1].split()[0] for m in mails} == {"営業", "経理"}


def test_a_digest_the_relay_refuses_for_good_alerts_the_admin(tmp_path, relay):
    """Recorded once queued, a digest is never sent again: refused for good, it was
    set aside in silence, as an alert about an alert would be."""
    for address in ("sales@acme.example", "ops@acme.example"):
        relay.refuse[address] = "554 5.7.1 no thanks"
    accounts = account("acme", report="digest")
    config = write_config(
        tmp_path, accounts, extra='admin_to = ["admin@example.jp"]\n', relay_port=relay.port
    )
    daemon = Daemon(config).start()
    try:
        started = dt.datetime.now(dt.UTC)
        deliver(daemon, "20240516.csv", GOOD)
        digest(config, next_digest(started))  # the daemon's reporter sends its alert
        [alert] = relay.for_recipient("admin@example.jp")
        body = alert.get_body().get_content()
        assert "554 5.7.1 no thanks" in body and "outbox/failed/alert-digest-acme-" in body
    finally:
        daemon.terminate()


def test_a_digest_after_days_down_lists_the_runs_of_the_days_missed(tmp_path, relay):
    """Down over 05-17's digest_at, the daemon's next digest (05-18's) lists 05-17's
    run too: it reaches back to where the last digest ended, so no run goes unlisted."""
    config = write_config(tmp_path, account("acme", report="digest"), relay_port=relay.port)
    settings = load(config)

    async def record() -> None:
        store = await open_store(settings)
        try:
            for day in (16, 17, 18):
                run_id = f"202405{day}T010000000000-aaaaaa"
                meta = Meta("acme", "mail", "export@acme.example", f"202405{day}.csv")
                await store.add_run(run_id, meta)
                finished = dt.datetime(2024, 5, day, 1, 0, tzinfo=dt.UTC)  # 10:00 JST
                await store.update_run(
                    run_id,
                    state="completed",
                    finished_at=finished.isoformat(timespec="milliseconds"),
                    rows_total=1,
                    rows_imported=1,
                )
        finally:
            await store.close()

    asyncio.run(record())
    assert "1 通" in digest(config, dt.datetime(2024, 5, 16, 18, 1, tzinfo=ZONE))
    assert "1 通" in digest(config, dt.datetime(2024, 5, 18, 18, 1, tzinfo=ZONE))
    first, second = relay.wait(2)
    assert "20240516.csv" in first.get_body().get_content()
    body = second.get_body().get_content()
    assert "20240517.csv" in body and "20240518.csv" in body and "20240516.csv" not in body


def test_a_change_of_digest_at_neither_loses_a_run_nor_lists_one_twice(tmp_path, relay):
    """Each window was rebuilt from the current digest_at: moved from 18:00 to 20:00, a
    run that finished at 19:00 fell between two digests and was in none; moved back to
    09:00, the runs of the evening before were listed a second time."""
    config = write_config(tmp_path, account("acme", report="digest"), relay_port=relay.port)
    settings = load(config)

    async def record() -> None:
        store = await open_store(settings)
        try:
            for name, day, hour in (("a", 3, 12), ("b", 3, 19), ("c", 4, 10), ("d", 4, 21)):
                run_id = f"2024120{day}T{hour:02d}0000000000-{name * 6}"
                meta = Meta("acme", "mail", "export@acme.example", f"{name}.csv")
                await store.add_run(run_id, meta)
                finished = dt.datetime(2024, 12, day, hour, 0, tzinfo=ZONE)
                await store.update_run(
                    run_id,
                    state="completed",
                    finished_at=finished.astimezone(dt.UTC).isoformat(timespec="milliseconds"),
                    rows_total=1,
                    rows_imported=1,
                )
        finally:
            await store.close()

    asyncio.run(record())
    digest(config, dt.datetime(2024, 12, 3, 18, 30, tzinfo=ZONE))  # 18:00: a
    text = config.read_text()
    config.write_text(text.replace('report = "digest"', 'report = "digest"\ndigest_at = "20:00"'))
    digest(config, dt.datetime(2024, 12, 4, 20, 30, tzinfo=ZONE))  # 20:00: b, c
    text = config.read_text()
    config.write_text(text.replace('digest_at = "20:00"', 'digest_at = "09:00"'))
    digest(config, dt.datetime(2024, 12, 5, 9, 30, tzinfo=ZONE))  # 09:00: d
    listed = [
        sorted(n for n in "abcd" if f"{n}.csv" in mail.get_body().get_content())
        for mail in relay.wait(3)
    ]
    assert listed == [["a"], ["b", "c"], ["d"]]


def test_an_undo_is_listed_as_an_undo_of_its_run(tmp_path, relay):
    """The digest listed an admin's undo as an import of 0 rows of the file's name."""
    config = write_config(tmp_path, account("acme", report="digest"), relay_port=relay.port)
    path = tmp_path / "20240516.csv"
    path.write_bytes(csv_bytes(GOOD))
    imported = cli_import(config, path)
    assert imported["state"] == "completed", imported
    assert renkei("undo", imported["id"], "--config", str(config)).returncode == 0
    digest(config, next_digest(dt.datetime.now(dt.UTC)))
    [mail] = relay.wait(1)
    body = mail.get_body().get_content()
    assert f"取込取消(実行 {imported['id']} を取り消し)" in body, body
    assert body.count("取込完了") == 1  # the import itself
    # What it deleted and restored, not "0 rows" and "newly registered" of its own.
    assert "を取り消しました: 削除 2 行、復元 0 行" in body, body
    assert body.count("件を新規登録") == 1, body  # the import's, not the undo's
    assert "全 0 行" not in body, body


def test_the_english_intro_counts_one_import_as_one():
    """ "The 1 imports of acme that finished …"."""
    said = {"account": "acme", "start": "a", "end": "b", "timezone": "Asia/Tokyo"}
    assert message("digest.intro", "en", runs=1, **said).startswith("1 import of acme finished")
    assert message("digest.intro", "en", runs=2, **said).startswith("2 imports of acme finished")


def test_a_digest_asked_of_an_account_that_takes_none_says_so(tmp_path):
    """It answered "0 digests queued", exit 0, and nothing of why."""
    config = write_config(tmp_path, account("beta", report="always"))
    result = renkei("digest", "--account", "beta", "--config", str(config), timeout=60)
    assert result.returncode == 2, result.stdout
    assert 'アカウント beta はまとめメールを受け取りません(report = "always")' in result.stderr
