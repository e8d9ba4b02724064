"""A scheduled FTP check, taken at a real tick of the real daemon's scheduler.

No clock is injected and no poll is called: the account's window opens at the next
minute boundary, and the test waits for the daemon's own APScheduler job to take the file.
"""

from __future__ import annotations

import datetime as dt
import ftplib
import io
import time
import zoneinfo

import pytest

from tests.support import Daemon, account, csv_bytes, free_port, toml_value, write_config

ZONE = "Asia/Tokyo"
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
LEAD_SECONDS = 15  # the daemon starts and the file is uploaded before the window opens


def next_boundary(zone: zoneinfo.ZoneInfo) -> dt.datetime:
    """The first minute boundary at least LEAD_SECONDS from now, in `zone`."""
    now = dt.datetime.now(zone)
    boundary = now.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    if (boundary - now).total_seconds() < LEAD_SECONDS:
        boundary += dt.timedelta(minutes=1)
    return boundary


def scheduled_config(folder, boundary: dt.datetime) -> tuple:
    ftp_port, passive = free_port(), free_port()
    end = boundary + dt.timedelta(minutes=10)  # may cross midnight: allowed
    ftp = {
        "user": "tick",
        "password": "demo-tick-ftp",
        "weekdays": WEEKDAYS,
        "window": f"{boundary:%H:%M}-{end:%H:%M}",
        "interval": "5m",
        "delay": "0m",
    }
    section = account("tick") + "[accounts.tick.ftp]\n"
    section += "".join(f"{k} = {toml_value(v)}\n" for k, v in ftp.items())
    config = write_config(folder, section)
    text = config.read_text()
    text = text.replace("[daemon]\n", f'[daemon]\ntimezone = "{ZONE}"\n', 1)
    text = text.replace(
        "[ftp]\nenabled = false",
        f'[ftp]\nlisten = "127.0.0.1:{ftp_port}"\npassive_ports = "{passive}-{passive}"',
    )
    config.write_text(text)
    return config, ftp_port


def tick_runs(daemon: Daemon) -> list[tuple]:
    return daemon.query("SELECT id, state, channel FROM runs WHERE account = 'tick'")


@pytest.mark.slow
def test_a_live_tick_takes_the_uploaded_file_without_any_poll(tmp_path):
    zone = zoneinfo.ZoneInfo(ZONE)
    boundary = next_boundary(zone)
    config, ftp_port = scheduled_config(tmp_path, boundary)
    data = csv_bytes(["1,2024/05/16,10,tick", "2,2024/05/16,20,tock"])
    daemon = Daemon(config).start()
    try:
        with ftplib.FTP() as ftp:
            ftp.connect("127.0.0.1", ftp_port, timeout=10)
            ftp.login("tick", "demo-tick-ftp")
            assert ftp.storbinary("STOR 20240516.csv", io.BytesIO(data)).startswith("226")
        home = daemon.data_dir / "ftp" / "tick"
        assert (home / "20240516.csv").read_bytes() == data
        time.sleep(0.5)
        assert tick_runs(daemon) == []  # nothing takes the file before the tick
        assert dt.datetime.now(zone) < boundary - dt.timedelta(seconds=1), (
            "the daemon start and the upload ran past the window's opening"
        )

        deadline = boundary + dt.timedelta(seconds=30)
        while not tick_runs(daemon) and dt.datetime.now(zone) < deadline:
            time.sleep(0.2)
        runs = tick_runs(daemon)
        assert len(runs) == 1, (
            f"the tick at {boundary:%H:%M} {ZONE} took no file; daemon log:\n"
            + daemon.log.read_text(errors="replace")[-3000:]
        )
        [(run_id, _, _)] = runs
        done = daemon.wait_run(run_id)
        assert (done["state"], done["channel"], done["rows_imported"]) == ("completed", "ftp", 2)
        rows = daemon.query(
            "SELECT member_no, note FROM performance WHERE _run_id = ? ORDER BY member_no",
            (run_id,),
        )
        assert rows == [(1, "tick"), (2, "tock")]
        assert not list(home.iterdir())

        time.sleep(5)
        assert [r[0] for r in tick_runs(daemon)] == [run_id]  # the file was taken once
    finally:
        code = daemon.terminate()
    assert code == 0
    log = daemon.log.read_text(errors="replace")
    assert "Traceback" not in log and "RuntimeError" not in log, log[-3000:]
