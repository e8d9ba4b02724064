"""Imports run in a process of their own beside the doors: it is started with the
daemon, started again when it dies, and dies with the daemon. Killed mid-import, it
loses nothing and imports nothing twice."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.support import Daemon, import_process, mail, queued_ids, send, wait_for
from tests.test_durability import big_config, big_csv


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:  # gone before the look, or reaped between its open and its read (ESRCH)
        return False
    return state != "Z"


pytestmark = pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")


def test_files_are_imported_by_a_process_of_their_own(tmp_path):
    daemon = Daemon(big_config(tmp_path)).start()
    try:
        child = import_process(daemon)
        assert child != daemon.proc.pid
        _, code, reply = send(daemon.smtp_port, mail([("20240516.csv", big_csv(3))]))
        assert code == 250
        run = daemon.wait_run(queued_ids(reply)[0])
        assert (run["state"], run["rows_imported"]) == ("completed", 3)
    finally:
        assert daemon.terminate() == 0
    assert not alive(child)


@pytest.mark.slow
def test_a_killed_import_process_is_started_again_and_imports_exactly_once(tmp_path):
    rows = 200_000
    daemon = Daemon(big_config(tmp_path)).start()
    try:
        first = import_process(daemon)
        _, code, reply = send(daemon.smtp_port, mail([("20240516.csv", big_csv(rows))]))
        assert code == 250
        [run_id] = queued_ids(reply)
        # Mid-read (its parts' scratch databases are there), frozen before it can commit:
        # 200,000 rows are read in a fraction of a second, less than a poll of the run.
        scratch = daemon.data_dir / "staging" / run_id
        wait_for(lambda: list(scratch.glob("part*.db")), timeout=60, step=0.005)
        os.kill(first, signal.SIGSTOP)
        assert daemon.run(run_id)["state"] == "running"
        os.kill(first, signal.SIGKILL)
        run = daemon.wait_run(run_id, timeout=120, states=("completed", "failed"))
        assert run["state"] == "completed" and run["rows_imported"] == rows
        assert run["attempts"] == 1  # the killed attempt counted, as after a crash
        assert daemon.query("SELECT count(*), count(DISTINCT member_no) FROM performance") == [
            (rows, rows)
        ]
        assert import_process(daemon) != first
        # The doors kept serving through it.
        _, code, reply = send(daemon.smtp_port, mail([("20240517.csv", big_csv(2))]))
        assert code == 250
        assert daemon.wait_run(queued_ids(reply)[0])["state"] == "completed"
    finally:
        assert daemon.terminate() == 0
    assert "import process ended" in daemon.log.read_text()


def test_a_daemon_killed_outright_takes_its_import_process_with_it(tmp_path):
    daemon = Daemon(big_config(tmp_path)).start()
    child = import_process(daemon)
    daemon.kill()
    deadline = time.monotonic() + 10
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(child), "the import process outlived the daemon"
