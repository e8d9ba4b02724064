"""Ctrl-C at the terminal, which signals the whole foreground process group: `renkei
import` cancels its run (failed, rolled back, its file kept, nothing left in the spool
for a daemon to import later) and says so in words; `renkei serve` stops as on SIGTERM.
Neither, nor any reader process under them, prints a KeyboardInterrupt traceback."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from daemon import graph
from daemon.spool.kept import kept_file
from daemon.spool.queue import Meta
from tests.support import (
    PERFORMANCE_LAYOUT,
    ROOT,
    Daemon,
    children,
    csv_bytes,
    in_process_settings,
    send,
    wait_for,
)
from tests.test_durability import big_config, big_csv
from tests.test_import_process import alive
from tests.test_mail_readers import large_mail
from tests.test_mail_readers import readers as mail_readers

pytestmark = pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")


def _group(pgid: int) -> list[int]:
    """The processes of the process group `pgid` still alive."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()  # past "pid (comm)": state, ppid, pgrp
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def _descendants(pid: int) -> list[int]:
    found = []
    for child in children(pid):
        found += [child, *_descendants(child)]
    return found


def _readers(pid: int) -> list[int]:
    return [
        p
        for p in _descendants(pid)
        if b"daemon.worker.partreader" in Path(f"/proc/{p}/cmdline").read_bytes()
    ]


def test_ctrl_c_during_renkei_import_cancels_the_run_and_leaves_nothing_to_import(tmp_path):
    proc, _, data_dir = _import_in_parts(tmp_path)
    path = tmp_path / "20240516.csv"
    try:
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert "取込を中断しました" in err and "行は取り込んでいません" in err, err
    with sqlite3.connect(data_dir / "renkei.db") as db:
        [(run_id, state, message, filename)] = db.execute(
            "SELECT id, state, message, filename FROM runs"
        ).fetchall()
        rows = db.execute("SELECT count(*) FROM performance").fetchone()[0]
    assert run_id in err
    assert state == "failed" and "取り消されました" in message, message
    assert rows == 0
    # Nothing waits for a daemon to import it under its own config; the file is kept
    # with its run, as any failed run's is.
    spool = data_dir / "spool"
    assert not list((spool / "incoming").iterdir()) and not list((spool / "active").iterdir())
    kept = kept_file(data_dir, run_id, filename)
    assert kept is not None and kept.read_bytes() == path.read_bytes()
    # The readers end with the command that started them.
    wait_for(lambda: not _group(proc.pid), timeout=30)


def test_ctrl_c_stops_renkei_serve_without_a_traceback_from_its_processes(tmp_path):
    config = big_config(tmp_path)
    daemon = Daemon(config, own_group=True).start()
    try:
        # The import process keeps readers warm for the first large file.
        wait_for(lambda: _readers(daemon.proc.pid), timeout=60)
        # A large mail starts a mail reader process (handlers/mailreaders.py).
        _, code, reply = send(daemon.smtp_port, large_mail())
        assert code == 250, reply
        left = wait_for(lambda: mail_readers(daemon))
        logged = daemon.log.stat().st_size
        os.killpg(daemon.proc.pid, signal.SIGINT)  # the terminal's Ctrl-C
        code = daemon.proc.wait(timeout=60)
    finally:
        if daemon.proc.poll() is None:
            daemon.kill()
        daemon.notify.close()
    wait_for(lambda: not any(alive(pid) for pid in left), timeout=30)
    time.sleep(0.5)  # readers orphaned by a faulty stop would still be writing
    said = daemon.log.read_bytes()[logged:].decode(errors="replace")
    assert code == 0, said
    assert "Traceback" not in said and "KeyboardInterrupt" not in said, said


def test_a_cancel_before_the_run_was_recorded_leaves_it_failed_not_spooled(tmp_path):
    """Ctrl-C may meet `renkei import` between its claim of the file and the run's
    first record: the cancelled item is settled all the same (Pipeline.abandon)."""
    settings = in_process_settings(
        tmp_path / "var",
        {"performance": PERFORMANCE_LAYOUT},
        {"acme": {"layout": "performance", "report": "never"}},
    )
    path = tmp_path / "20240516.csv"
    path.write_bytes(csv_bytes(["1,2024/05/16,1,a"]))

    async def cancelled_at_once() -> str:
        parts = await graph.build(lambda: settings)
        parts.pipeline.cancel_ends_run = True
        try:
            meta = Meta("acme", "cli", str(path), path.name)
            item = parts.spool.enqueue(meta, path, claim=True)
            assert await parts.store.run_state(item.id) is None
            await parts.pipeline.abandon(item)
            await parts.pipeline.abandon(item)  # twice: the second finds it settled
            return item.id
        finally:
            await parts.close()

    run_id = asyncio.run(cancelled_at_once())
    data_dir = tmp_path / "var"
    with sqlite3.connect(data_dir / "renkei.db") as db:
        [(state, message)] = db.execute(
            "SELECT state, message FROM runs WHERE id = ?", (run_id,)
        ).fetchall()
    assert state == "failed" and "取り消されました" in message
    spool = data_dir / "spool"
    assert not list((spool / "incoming").iterdir()) and not list((spool / "active").iterdir())
    assert kept_file(data_dir, run_id, "20240516.csv") is not None


def _import_in_parts(tmp_path: Path) -> tuple[subprocess.Popen, Path, Path]:
    """`renkei import` of a large file, started in a group of its own, and waited for
    until its readers write their parts."""
    config = big_config(tmp_path)
    path = tmp_path / "20240516.csv"
    path.write_bytes(big_csv(600_000))
    command = [sys.executable, "-m", "daemon.cli", "import", str(path), "--account", "acme"]
    proc = subprocess.Popen(
        [*command, "--config", str(config)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    data_dir = tmp_path / "var"
    wait_for(lambda: list((data_dir / "staging").glob("*/part*.db")), timeout=60, step=0.01)
    return proc, config, data_dir


def _runs(data_dir: Path) -> list[tuple]:
    with sqlite3.connect(data_dir / "renkei.db") as db:
        return db.execute("SELECT state, message, rows_imported FROM runs").fetchall()


def test_sigterm_ends_renkei_import_as_ctrl_c_does(tmp_path):
    """`timeout`, cron and systemd end a command with SIGTERM: it killed `renkei import`
    outright, its run stayed `running`, and its file waited in the spool to be imported
    at the daemon's next start, over whatever came for its name since."""
    proc, _, data_dir = _import_in_parts(tmp_path)
    try:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "Traceback" not in err and "取込を中断しました" in err, err
    [(state, message, rows)] = _runs(data_dir)
    assert (state, rows) == ("failed", 0)
    assert (
        message == "取込の途中で SIGTERM により終了しました。ロールバックし、行は取り込んでいません"
    )
    spool = data_dir / "spool"
    assert not list((spool / "incoming").iterdir()) and not list((spool / "active").iterdir())
    wait_for(lambda: not _group(proc.pid), timeout=30)


def test_a_killed_renkei_import_is_ended_failed_never_imported_by_the_daemon(tmp_path):
    """kill -9 (or the OOM killer) cannot be caught: the daemon's next start imported
    the killed command's file as if it waited, replacing a newer file of its name."""
    proc, config, data_dir = _import_in_parts(tmp_path)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    [(state, _, _)] = _runs(data_dir)
    assert state == "running"
    daemon = Daemon(config).start()
    try:
        wait_for(lambda: _runs(data_dir)[0][0] == "failed", timeout=60)
        [(state, message, rows)] = _runs(data_dir)
        assert rows == 0 and "強制終了されました" in message, message
        with sqlite3.connect(data_dir / "renkei.db") as db:
            assert db.execute("SELECT count(*) FROM performance").fetchone()[0] == 0
        spool = data_dir / "spool"
        assert not list((spool / "incoming").iterdir())
        assert not list((spool / "active").iterdir())
        assert not list((data_dir / "staging").iterdir())
        assert "recovered" not in daemon.log.read_text()
    finally:
        daemon.terminate()
