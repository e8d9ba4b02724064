"""Drop folder against the real daemon: complete files only, each exactly once."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import Daemon, account, csv_bytes, write_config


def dropdir_config(tmp_path, settle: float, **keys):
    accounts = account("acme", **keys)
    accounts += f'[accounts.acme.dropdir]\npath = "drop"\nsettle = {settle}\n'
    return write_config(tmp_path, accounts)


def put_whole(drop: Path, name: str, data: bytes) -> None:
    """`data` into the drop folder as `name`, whole when it appears: written in place, a
    folder that does not wait for files to settle (settle = 0) may take it half-written."""
    outside = drop.parent / f"{name}.part"
    outside.write_bytes(data)
    outside.rename(drop / name)


def runs_of(daemon) -> list[tuple]:
    return daemon.query(
        "SELECT id, filename, state FROM runs WHERE channel = 'dropdir' ORDER BY id"
    )


def logged(daemon, text: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while text not in daemon.log.read_text(errors="replace"):
        assert time.monotonic() < deadline, f"never logged: {text}"
        time.sleep(0.1)


def wait_for_runs(daemon, count: int, timeout: float = 60) -> list[tuple]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = runs_of(daemon)
        if len(runs) >= count and all(r[2] in ("completed", "failed") for r in runs):
            return runs
        time.sleep(0.1)
    raise AssertionError(f"{len(runs_of(daemon))} runs, wanted {count}")


@pytest.mark.parametrize("unfinished", ["20240516.csv.part", ".20240516.csv", "export.tmp"])
def test_a_file_renamed_into_place_is_taken_at_once(tmp_path, unfinished):
    daemon = Daemon(dropdir_config(tmp_path, settle=300)).start()
    try:
        drop = tmp_path / "drop"
        part = drop / unfinished
        part.write_bytes(csv_bytes(["1,2024/05/16,1,renamed"]))
        time.sleep(1)
        assert runs_of(daemon) == []  # a name marked unfinished is never taken
        os.rename(part, drop / "20240516.csv")
        [(run_id, name, state)] = wait_for_runs(daemon, 1, timeout=10)
        assert (name, state) == ("20240516.csv", "completed")
        assert daemon.run(run_id)["sender"] == str(drop / "20240516.csv")
        assert not list(drop.iterdir())
    finally:
        daemon.terminate()


def test_a_file_renamed_from_an_ordinary_name_is_taken_only_once_it_settles(tmp_path):
    """`export.tmp.csv` ends in .csv: no name of an unfinished file. Renamed into place,
    it was taken at once, and the row its writer wrote on through its handle was lost."""
    daemon = Daemon(dropdir_config(tmp_path, settle=3)).start()
    try:
        drop = tmp_path / "drop"
        with open(drop / "export.tmp.csv", "wb") as f:
            f.write(csv_bytes(["1,2024/12/30,1,first"]))
            f.flush()
            os.rename(drop / "export.tmp.csv", drop / "20241230.csv")
            time.sleep(1.5)
            f.write(csv_bytes(["2,2024/12/30,2,second"], header=False))
        time.sleep(1.5)
        assert runs_of(daemon) == []  # unchanged for less than `settle` since written
        [(_, name, state)] = wait_for_runs(daemon, 1, timeout=20)
        assert (name, state) == ("20241230.csv", "completed")
        notes = daemon.query("SELECT note FROM performance ORDER BY member_no")
        assert notes == [("first",), ("second",)]
    finally:
        daemon.terminate()


WRITER = """
import sys, time
with open(sys.argv[1], "wb") as f:
    f.write(b"member_no,date,sales_amount,note\\r\\n1,2024/05/17,1,half\\r\\n2,2024/0")
    f.flush()
    time.sleep(60)
"""


def test_a_writer_killed_mid_file_is_taken_only_once_it_settles(tmp_path):
    daemon = Daemon(dropdir_config(tmp_path, settle=2)).start()
    try:
        target = tmp_path / "drop" / "20240517.csv"
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(target)])
        time.sleep(0.5)
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        time.sleep(0.8)
        assert runs_of(daemon) == []  # unchanged for less than `settle`
        [(_, name, state)] = wait_for_runs(daemon, 1, timeout=15)
        assert (name, state) == ("20240517.csv", "failed")
        failed = daemon.query("SELECT message FROM runs WHERE channel = 'dropdir'")[0][0]
        assert "途中で切れています" in failed
    finally:
        daemon.terminate()


def test_files_dropped_while_stopped_are_taken_at_start(tmp_path):
    config = dropdir_config(tmp_path, settle=1)
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "20240518.csv").write_bytes(csv_bytes(["8,2024/05/18,8,early"]))
    old = time.time() - 60
    os.utime(drop / "20240518.csv", (old, old))
    daemon = Daemon(config).start()
    try:
        [(_, name, state)] = wait_for_runs(daemon, 1, timeout=10)
        assert (name, state) == ("20240518.csv", "completed")
    finally:
        daemon.terminate()


@pytest.mark.slow
def test_a_thousand_files_at_once_are_each_imported_once(tmp_path):
    # No report mail: with the tests' relay down and its retry of a second, a thousand
    # reports retried over and over took more than half of the test's time.
    config = dropdir_config(tmp_path, settle=1, error_report_to=[], success_report_to=[])
    daemon = Daemon(config).start()
    try:
        drop = tmp_path / "drop"
        staging = tmp_path / "staging"
        staging.mkdir()
        first = dt.date(2020, 1, 1)
        names = []
        for i in range(1000):
            name = f"{first + dt.timedelta(days=i):%Y%m%d}.csv"
            (staging / name).write_bytes(csv_bytes([f"{i},2024/05/16,{i},n"]))
            names.append(name)
        for name in names:  # all at once, as a job that writes elsewhere then moves
            os.rename(staging / name, drop / name)
        runs = wait_for_runs(daemon, 1000, timeout=300)
        assert len(runs) == 1000 and sorted(r[1] for r in runs) == sorted(names)
        assert {r[2] for r in runs} == {"completed"}
        assert daemon.query("SELECT count(*), count(DISTINCT member_no) FROM performance") == [
            (1000, 1000)
        ]
        time.sleep(1.5)
        assert len(runs_of(daemon)) == 1000
    finally:
        daemon.terminate()


def test_a_name_in_cp932_bytes_is_read_as_cp932(tmp_path):
    """As a Windows share writes it. Such a name once could not be spooled: the scan
    tried it again and again, logging each time, and no run was made."""
    config = dropdir_config(tmp_path, settle=0, filename="売上{YYYYMMDD}.csv")
    daemon = Daemon(config).start()
    try:
        drop = os.fsencode(tmp_path / "drop")
        name = "売上20240601.csv".encode("cp932")
        outside = tmp_path / "share.part"
        outside.write_bytes(csv_bytes(["1,2024/06/01,1,share"]))
        os.rename(outside, os.path.join(drop, name))  # whole when it appears: settle = 0
        [(run_id, filename, state)] = wait_for_runs(daemon, 1, timeout=20)
        assert (filename, state) == ("売上20240601.csv", "completed")
        assert daemon.run(run_id)["sender"].endswith("/drop/売上20240601.csv")
        assert os.listdir(drop) == []
    finally:
        daemon.terminate()


def test_a_stopped_account_leaves_its_files_in_the_folder(tmp_path):
    daemon = Daemon(dropdir_config(tmp_path, settle=0, status="stopped")).start()
    try:
        dropped = tmp_path / "drop" / "20240602.csv"
        dropped.write_bytes(csv_bytes(["1,2024/06/02,1,stopped"]))
        time.sleep(2)  # four rescans
        assert runs_of(daemon) == [] and dropped.exists()
    finally:
        daemon.terminate()


def test_an_office_lock_file_beside_a_workbook_is_left_alone(tmp_path):
    """Excel keeps `~$<name>` beside a workbook a partner opened on the share: it was
    claimed, removed from the folder and reported as a failed run."""
    daemon = Daemon(dropdir_config(tmp_path, settle=0, excel=True)).start()
    try:
        drop = tmp_path / "drop"
        lock = drop / "~$20240603.xlsx"
        lock.write_bytes(b"\x08partner" + b"\x00" * 150)
        put_whole(drop, "20240603.csv", csv_bytes(["1,2024/06/03,1,taken"]))
        [(_, name, state)] = wait_for_runs(daemon, 1, timeout=10)
        time.sleep(1.5)  # three rescans more
        assert runs_of(daemon)[0][1:] == ("20240603.csv", "completed") == (name, state)
        assert lock.exists()
    finally:
        daemon.terminate()


def test_a_name_too_long_to_claim_beside_its_id_is_taken_and_blocks_nothing(tmp_path):
    """A claim adds 38 bytes to a name (handlers/claims.py): one of 240 bytes could not
    be claimed, and the scan failed on it twice a second, taking no file after it."""
    config = dropdir_config(tmp_path, settle=0, filename=["*.csv"])
    drop = tmp_path / "drop"
    drop.mkdir()
    long = "a" * 236 + ".csv"
    (drop / long).write_bytes(csv_bytes(["1,2024/06/01,1,long"]))
    (drop / "zzz.csv").write_bytes(csv_bytes(["2,2024/06/01,2,after"]))
    # What a daemon killed mid-claim leaves of another such name: given back at start.
    left = drop / ".claimed-20240601T000000000000-abcdef"
    left.mkdir()
    (left / ("b" * 236 + ".csv")).write_bytes(csv_bytes(["3,2024/06/01,3,left"]))
    daemon = Daemon(config).start()
    try:
        runs = wait_for_runs(daemon, 3, timeout=30)
        assert sorted((name, state) for _, name, state in runs) == [
            (long, "completed"),
            ("b" * 236 + ".csv", "completed"),
            ("zzz.csv", "completed"),
        ]
        assert not list(drop.iterdir())
        assert "scan failed" not in daemon.log.read_text()
    finally:
        daemon.terminate()


def test_a_correction_dropped_again_is_logged_as_the_run_it_was_answered_with(tmp_path):
    """Answered as a resend, the second copy was logged as taken under a run id that
    never came to exist (the claim's own)."""
    daemon = Daemon(dropdir_config(tmp_path, settle=0, on_row_error="skip")).start()
    try:
        drop = tmp_path / "drop"
        put_whole(drop, "20240601.csv", csv_bytes(["1,2024/06/01,1,a", "x,2024/06/01,2,b"]))
        wait_for_runs(daemon, 1)
        fixed = csv_bytes(["2,2024/06/01,2,b"])
        put_whole(drop, "20240601.errors.csv", fixed)
        [_, (first, _, _)] = wait_for_runs(daemon, 2)
        put_whole(drop, "20240601.errors.csv", fixed)
        deadline = time.monotonic() + 10
        while (drop / "20240601.errors.csv").exists():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        while daemon.log.read_text().count("20240601.errors.csv' as") < 2:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert daemon.log.read_text().count(f"20240601.errors.csv' as {first}") == 2
        assert len(runs_of(daemon)) == 2
    finally:
        daemon.terminate()


def test_a_file_renamed_in_waits_for_an_older_one_still_settling(tmp_path):
    """A file renamed into place is complete at once, one written in place only once it
    settles: the newer, renamed in, was taken first, and the older then replaced its
    rows (employees_2.csv over employees_10.csv, where the README says the last one's
    rows stand)."""
    config = dropdir_config(tmp_path, settle=2, filename=["employees_*.csv"])
    daemon = Daemon(config).start()
    try:
        drop = tmp_path / "drop"
        (drop / "employees_2.csv").write_bytes(csv_bytes(["2,2024/05/16,1,older"]))
        time.sleep(0.5)
        part = drop / ".employees_10.csv"
        part.write_bytes(csv_bytes(["10,2024/05/16,1,newer"]))
        os.rename(part, drop / "employees_10.csv")
        runs = wait_for_runs(daemon, 2, timeout=30)
        assert [name for _, name, _ in runs] == ["employees_2.csv", "employees_10.csv"]
        assert daemon.query("SELECT member_no, note FROM performance") == [(10, "newer")]
    finally:
        daemon.terminate()


def test_a_folder_removed_and_made_again_takes_a_renamed_in_file_at_once(tmp_path):
    """Its watch went with the folder: a file renamed in was seen only by the next
    rescan, once `settle` had passed."""
    daemon = Daemon(dropdir_config(tmp_path, settle=300)).start()
    try:
        drop = tmp_path / "drop"
        drop.rmdir()
        logged(daemon, "cannot be read")
        drop.mkdir()
        logged(daemon, "can be read again")
        # Watched again before that is logged; the watch's thread takes a moment to
        # start on a busy machine, and a rename before it would wait out `settle`.
        time.sleep(1)
        part = drop / ".20240516.csv"
        part.write_bytes(csv_bytes(["1,2024/05/16,1,again"]))
        os.rename(part, drop / "20240516.csv")
        [(_, name, state)] = wait_for_runs(daemon, 1, timeout=10)
        assert (name, state) == ("20240516.csv", "completed")
    finally:
        daemon.terminate()


def test_a_user_defined_character_in_a_name_keeps_the_file_apart(tmp_path):
    """CP932's user-defined characters (外字) decode to private use: dropped from the
    name, `顧客.csv` and `顧客<外字>.csv` were one file, the second's rows replacing
    the first's."""
    daemon = Daemon(dropdir_config(tmp_path, settle=0, filename="any")).start()
    try:
        drop = tmp_path / "drop"
        plain, other = "顧客.csv".encode("cp932"), "顧客".encode("cp932") + b"\xf0\x40.csv"
        for name, member in ((plain, 1), (other, 2)):
            outside = os.path.join(os.fsencode(tmp_path), b"part")
            with open(outside, "wb") as f:
                f.write(csv_bytes([f"{member},2024/05/16,1,x"]))
            os.rename(outside, os.path.join(os.fsencode(drop), name))
            wait_for_runs(daemon, member)
        runs = runs_of(daemon)
        assert [name for _, name, _ in runs] == ["顧客.csv", "顧客\ue000.csv"]
        assert sorted(daemon.query("SELECT member_no FROM performance")) == [(1,), (2,)]
    finally:
        daemon.terminate()


@pytest.mark.slow
def test_a_spool_short_of_space_is_said_once_and_its_files_wait(tmp_path):
    """Under daemon.min_free_bytes the drop folder's files wait: said every 5 s, for
    as long as it lasted, in the log."""
    config = dropdir_config(tmp_path, settle=0)
    config.write_text(
        config.read_text().replace("min_free_bytes = 0", "min_free_bytes = 1000000000000000000")
    )
    daemon = Daemon(config).start()
    try:
        put_whole(tmp_path / "drop", "20240516.csv", csv_bytes(["1,2024/05/16,1,x"]))
        time.sleep(12)  # two retries past the first
        said = daemon.log.read_text().count("spool space under daemon.min_free_bytes")
        assert said == 1, said
        assert runs_of(daemon) == [] and (tmp_path / "drop" / "20240516.csv").exists()
    finally:
        daemon.terminate()
