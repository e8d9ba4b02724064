"""How far a digest reaches back: an account whose first digest_at was missed (no
earlier digest to end at) still gets its runs in the next digest, up to seven days
back, but not the runs whose own report went before it switched to a digest. A digest
over several days dates each run. Driven by `renkei import` and `renkei digest --now`,
in daemon.timezone America/New_York."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sqlite3
import zoneinfo
from pathlib import Path

from daemon.settings import load
from daemon.spool.queue import Meta
from daemon.store.open import open_store
from tests.support import account, csv_bytes, renkei, write_config

ZONE = zoneinfo.ZoneInfo("America/New_York")
ROWS = ["1,2024/05/16,100,a", "2,2024/05/16,200,b"]


def nyc_config(folder: Path, relay_port: int, report: str) -> Path:
    config = write_config(
        folder, account("dig", report=report, digest_at="02:30"), relay_port=relay_port
    )
    text = config.read_text(encoding="utf-8")
    zone = 'min_free_bytes = 0\ntimezone = "America/New_York"'
    config.write_text(text.replace("min_free_bytes = 0", zone), encoding="utf-8")
    return config


def switch_report(config: Path, old: str, new: str) -> None:
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace(f'report = "{old}"', f'report = "{new}"'), encoding="utf-8")


def import_file(config: Path, folder: Path, name: str) -> dict:
    path = folder / name
    path.write_bytes(csv_bytes(ROWS))
    args = ("import", str(path), "--account", "dig", "--json", "--config", str(config))
    result = renkei(*args, timeout=120)
    assert result.returncode in (0, 1), result.stderr  # 1: the file failed
    return json.loads(result.stdout)


def digest(config: Path, now: dt.datetime) -> str:
    when = now.astimezone(ZONE).strftime("%Y-%m-%dT%H:%M")
    result = renkei("digest", "--now", when, "--config", str(config), timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def days_later(days: int) -> dt.datetime:
    """03:00 in New York, `days` after today there: past that day's digest_at (02:30)."""
    today = dt.datetime.now(ZONE).date()
    return dt.datetime.combine(today + dt.timedelta(days=days), dt.time(3, 0), ZONE)


def local_stamp(run: dict) -> str:
    finished = dt.datetime.fromisoformat(run["finished_at"]).astimezone(ZONE)
    return finished.strftime("%Y-%m-%d %H:%M:%S")


def digests(config: Path) -> list[tuple]:
    with sqlite3.connect(config.parent / "var" / "renkei.db") as db:
        return db.execute("SELECT account, day, runs FROM digests ORDER BY day").fetchall()


def test_a_missed_first_digest_reaches_back_and_dates_each_run(tmp_path, relay):
    """No earlier digest and the daemon down over the next digest_at: the runs were
    listed only by the digest of the very next day, and that one missed, never."""
    config = nyc_config(tmp_path, relay.port, "digest")
    first = import_file(config, tmp_path, "a1.csv")  # fails: not a dated name
    assert first["state"] == "failed"
    second = import_file(config, tmp_path, "20241202.csv")

    out = digest(config, days_later(2))
    assert "1 通を送信待ちにしました" in out, out
    [mail] = relay.wait(1)
    body = mail.get_body().get_content()
    # The window spans a week: each run says its day, in daemon.timezone.
    assert f"{local_stamp(first)}  a1.csv  取込エラー" in body
    assert f"{local_stamp(second)}  20241202.csv  取込完了" in body
    assert digests(config) == [("dig", days_later(2).date().isoformat(), 2)]

    # Neither a later day nor an earlier one lists them again.
    assert "0 通" in digest(config, days_later(3))
    assert "0 通" in digest(config, days_later(1))
    assert len(relay.messages) == 1


def test_a_first_digest_leaves_out_runs_reported_before_the_switch(tmp_path, relay):
    """An `always` account turned `digest`: the run whose report already went is not
    mailed again in the first digest; the run since is."""
    config = nyc_config(tmp_path, relay.port, "always")
    reported = import_file(config, tmp_path, "20241201.csv")
    [report] = relay.wait(1)
    assert "20241201.csv" in report["Subject"]
    switch_report(config, "always", "digest")
    import_file(config, tmp_path, "20241202.csv")

    assert "1 通" in digest(config, days_later(2))
    _, mail = relay.wait(2)
    body = mail.get_body().get_content()
    assert "20241202.csv  取込完了" in body
    assert "20241201.csv" not in body and reported["id"] not in body
    assert "(1件、エラー 0件)" in mail["Subject"]


def record_runs(config: Path, finished: dict[str, dt.datetime]) -> None:
    """Runs of `dig` finished at the given moments, as the pipeline records them."""

    async def record() -> None:
        store = await open_store(load(config))
        try:
            for n, (name, moment) in enumerate(finished.items()):
                run_id = f"20241130T000000000000-00000{n}"
                await store.add_run(run_id, Meta("dig", "mail", "export@dig.example", name))
                stamp = moment.astimezone(dt.UTC).isoformat(timespec="milliseconds")
                await store.update_run(
                    run_id, state="completed", finished_at=stamp, rows_total=1, rows_imported=1
                )
        finally:
            await store.close()

    asyncio.run(record())


def test_a_digest_of_one_day_gives_times_and_one_of_several_days_dates(tmp_path, relay):
    config = nyc_config(tmp_path, relay.port, "digest")
    at = {
        "20241130.csv": dt.datetime(2024, 11, 30, 20, 0, tzinfo=ZONE),
        "20241201.csv": dt.datetime(2024, 12, 1, 15, 0, tzinfo=ZONE),
        "20241202.csv": dt.datetime(2024, 12, 2, 15, 0, tzinfo=ZONE),
    }
    record_runs(config, at)
    # The first digest (12-01's) reaches back a week: dated.
    assert "1 通" in digest(config, dt.datetime(2024, 12, 1, 3, 0, tzinfo=ZONE))
    # 12-02's covers one day: times alone. Down over 12-03's, 12-04's spans two: dated.
    assert "1 通" in digest(config, dt.datetime(2024, 12, 2, 3, 0, tzinfo=ZONE))
    assert "1 通" in digest(config, dt.datetime(2024, 12, 4, 3, 0, tzinfo=ZONE))
    first, one_day, two_days = (m.get_body().get_content() for m in relay.wait(3))
    assert "2024-11-30 20:00:00  20241130.csv  取込完了" in first
    assert "\n15:00:00  20241201.csv  取込完了" in one_day
    assert "2024-12-02 15:00:00  20241202.csv  取込完了" in two_days
    assert "2024-12-02 02:30 から 2024-12-04 02:30 まで" in two_days
