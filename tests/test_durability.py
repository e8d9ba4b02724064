"""Crashes and stops: nothing accepted is lost, nothing is imported twice."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from pathlib import Path

import httpx
import pytest

from daemon.spool.queue import Meta, Spool
from tests.support import (
    Daemon,
    account,
    active_items,
    csv_bytes,
    gone,
    import_process,
    killed_in_attempt,
    mail,
    pause,
    queued_ids,
    send,
    send_as,
    write_config,
)

BIG_LIMITS = """
[limits]
max_rows = 1000000
max_bytes = 104857600
"""


def big_config(tmp_path, relay_port=1):
    config = write_config(tmp_path, account("acme"), extra=BIG_LIMITS, relay_port=relay_port)
    text = config.read_text().replace("max_message_bytes = 200000", "max_message_bytes = 60000000")
    config.write_text(text)
    return config


def big_csv(rows: int) -> bytes:
    return csv_bytes([f'{i},2024/05/16,{i * 7},"備考 {i}, カンマ"' for i in range(rows)])


def wait_pending(pid: int, sig: int, timeout: float = 60) -> None:
    """Until `sig` waits to be delivered to the (stopped) process `pid`."""
    bit = 1 << (sig - 1)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = Path(f"/proc/{pid}/status").read_text()
        masks = [int(line.split()[1], 16) for line in status.splitlines()
                 if line.startswith(("SigPnd:", "ShdPnd:"))]  # fmt: skip
        if any(mask & bit for mask in masks):
            return
        time.sleep(0.02)
    raise AssertionError(f"signal {sig} never reached process {pid}")


def paused_running(daemon: Daemon, run_id: str) -> int:
    """Pause the import process once `run_id` is running: the stop or kill that follows
    lands mid-import whatever the timing (a file of 300,000 rows takes well under a
    second; a sleep before the kill let it commit first, or at the kill's moment). Its
    pid."""
    worker = import_process(daemon)
    daemon.wait_run(run_id, states=("running",), timeout=60)
    pause(worker)
    assert daemon.run(run_id)["state"] == "running"
    return worker


@pytest.mark.slow
def test_sigkill_mid_import_then_restart_commits_exactly_once(tmp_path):
    rows = 300_000
    daemon = Daemon(big_config(tmp_path)).start()
    _, code, reply = send(daemon.smtp_port, mail([("20240516.csv", big_csv(rows))]))
    assert code == 250
    [run_id] = queued_ids(reply)
    worker = paused_running(daemon, run_id)
    daemon.kill()  # the import process goes with it (PR_SET_PDEATHSIG), stopped or not
    gone(worker)
    assert daemon.run(run_id)["state"] == "running"
    assert daemon.query("SELECT count(*) FROM performance") == [(0,)]

    daemon = Daemon(daemon.config).start()
    try:
        run = daemon.wait_run(run_id, timeout=120)
        assert run["state"] == "completed" and run["rows_imported"] == rows
        assert run["attempts"] == 1
        assert daemon.query("SELECT count(*) FROM runs") == [(1,)]
        assert daemon.query(
            "SELECT count(*), count(DISTINCT member_no), sum(member_no) FROM performance"
        ) == [(rows, rows, rows * (rows - 1) // 2)]
        assert active_items(daemon.data_dir) == []
        assert not list((daemon.data_dir / "spool" / "incoming").iterdir())
    finally:
        daemon.terminate()


@pytest.mark.slow
def test_sigterm_mid_import_aborts_exits_0_and_retries_at_start(tmp_path):
    rows = 300_000
    daemon = Daemon(big_config(tmp_path)).start()
    try:
        step, code, reply = send(daemon.smtp_port, mail([("20240516.csv", big_csv(rows))]))
        assert code == 250, (step, code, reply)  # said, where a bare unpacking failed
        [run_id] = queued_ids(reply)
        worker = paused_running(daemon, run_id)
    except BaseException:
        daemon.terminate()  # never a daemon left behind to load the tests after
        raise
    try:
        daemon.proc.send_signal(signal.SIGTERM)
        wait_pending(worker, signal.SIGTERM)  # the master's stop has reached it
    finally:
        os.kill(worker, signal.SIGCONT)
    assert daemon.proc.wait(60) == 0
    daemon.notify.close()
    assert "STOPPING=1" in daemon.notify.received
    run = daemon.run(run_id)
    assert run["state"] == "aborted" and "ロールバック" in run["message"]
    assert daemon.query("SELECT count(*) FROM performance") == [(0,)]

    daemon = Daemon(daemon.config).start()
    try:
        run = daemon.wait_run(run_id, timeout=120)
        assert run["state"] == "completed" and run["rows_imported"] == rows
        assert run["attempts"] == 0  # a clean stop is not a failed attempt
        assert daemon.query("SELECT count(*) FROM performance") == [(rows,)]
    finally:
        daemon.terminate()


def test_report_waits_for_the_relay_and_arrives_once(tmp_path, relay):
    daemon = Daemon(write_config(tmp_path, account("acme"), relay_port=relay.port)).start()
    try:
        relay.stop()
        _, _, reply = send(
            daemon.smtp_port, mail([("20240516.csv", csv_bytes(["1,2024/05/16,1,a"]))])
        )
        run = daemon.wait_run(queued_ids(reply)[0])
        assert run["state"] == "completed"  # importing never waits for mail
        outbox = daemon.data_dir / "outbox"
        envelope = outbox / f"{run['id']}.json"
        deadline = time.monotonic() + 10
        # The report is queued just after the run's commit: its envelope may not be there yet.
        while not envelope.exists() or json.loads(envelope.read_text())["attempts"] < 2:
            assert time.monotonic() < deadline, "the reporter did not retry"
            time.sleep(0.1)
        # The outbox is durable: a restart while the relay is down loses nothing.
        assert daemon.terminate() == 0
        daemon = Daemon(daemon.config).start()
        relay.start()
        [report] = relay.for_recipient("sales@acme.example")
        assert run["id"] in report.get_body().get_content()
        time.sleep(2.5)  # several retry periods: no second copy
        assert len(relay.messages) == 1
        assert not list(outbox.glob("*.json"))
        assert daemon.run(run["id"])["report_state"] == "sent"
    finally:
        daemon.terminate()


def test_a_report_refused_for_good_is_kept_aside_not_retried(tmp_path, relay):
    relay.refuse["sales@acme.example"] = "550 5.1.1 no such user"
    daemon = Daemon(write_config(tmp_path, account("acme"), relay_port=relay.port)).start()
    try:
        _, _, reply = send(
            daemon.smtp_port, mail([("20240516.csv", csv_bytes(["1,2024/05/16,1,a"]))])
        )
        run_id = queued_ids(reply)[0]
        assert daemon.wait_run(run_id)["state"] == "completed"
        failed = daemon.data_dir / "outbox" / "failed"
        deadline = time.monotonic() + 10
        while daemon.run(run_id)["report_state"] != "failed":
            assert time.monotonic() < deadline, "the report was not given up"
            time.sleep(0.1)
        assert sorted(p.name for p in failed.iterdir()) == [f"{run_id}.eml", f"{run_id}.json"]
        assert not list((daemon.data_dir / "outbox").glob("*.json"))
        time.sleep(2)  # several retry periods: no second try
        assert relay.rcpt_attempts == ["sales@acme.example"]
        assert relay.messages == []
    finally:
        daemon.terminate()


def test_a_file_that_keeps_killing_the_worker_is_quarantined(tmp_path):
    config = write_config(tmp_path, account("acme"))
    spool = Spool(tmp_path / "var" / "spool")
    data = csv_bytes(["1,2024/05/16,1,a"])
    item_id = killed_in_attempt(spool.root, data, attempts=2)  # in its third attempt
    daemon = Daemon(config).start()
    try:
        run = daemon.wait_run(item_id)
        assert run["state"] == "failed" and "隔離" in run["message"]
        quarantined = spool.failed / item_id
        assert (quarantined / "data").read_bytes() == data
        assert daemon.query("SELECT count(*) FROM performance") == [(0,)]
    finally:
        daemon.terminate()


def test_files_spooled_while_down_are_imported_at_start(tmp_path):
    config = write_config(tmp_path, account("acme"))
    spool = Spool(tmp_path / "var" / "spool")
    item = spool.enqueue(
        Meta("acme", "mail", "export@acme.example", "20240520.csv"), csv_bytes(["9,2024/05/20,9,z"])
    )
    daemon = Daemon(config).start()
    try:
        assert daemon.wait_run(item.id)["state"] == "completed"
        assert daemon.query("SELECT member_no FROM performance") == [(9,)]
    finally:
        daemon.terminate()


def test_committed_but_not_yet_removed_item_is_not_imported_again(tmp_path):
    """A crash between the commit and the removal of the spooled copy."""
    config = write_config(tmp_path, account("acme"))
    daemon = Daemon(config).start()
    _, _, reply = send(daemon.smtp_port, mail([("20240516.csv", csv_bytes(["1,2024/05/16,1,a"]))]))
    run_id = queued_ids(reply)[0]
    daemon.wait_run(run_id)
    daemon.terminate()
    # Put the spooled copy back, as if the removal never happened.
    spool = Spool(daemon.data_dir / "spool")
    again = spool.enqueue(
        Meta("acme", "mail", "x", "20240516.csv"), csv_bytes(["1,2024/05/16,1,a"])
    )
    shutil.move(again.path, spool.incoming / run_id)
    daemon = Daemon(config).start()
    try:
        deadline = time.monotonic() + 10
        while (spool.incoming / run_id).exists():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert daemon.query("SELECT count(*) FROM performance") == [(1,)]
        assert daemon.query("SELECT count(*) FROM runs") == [(1,)]
    finally:
        daemon.terminate()


@pytest.mark.parametrize("copy", ["unpacked", "one file"])
def test_a_delivery_both_waiting_and_active_is_imported_once(tmp_path, copy):
    """Two copies under one id (a copy put back by hand): the daemon still starts."""
    config = write_config(tmp_path, account("acme"))
    spool = Spool(tmp_path / "var" / "spool")
    meta = Meta("acme", "mail", "export@acme.example", "20240516.csv")
    item = spool.enqueue(meta, csv_bytes(["1,2024/05/16,1,a"]))
    if copy == "one file":  # as it waits
        shutil.copy(item.path, spool.active / item.id)
    else:  # as a claim leaves it
        shutil.copytree(spool.incoming, tmp_path / "copy" / "incoming")
        claimed = Spool(tmp_path / "copy").claim(item.id)
        assert claimed is not None and claimed.lock_fd is not None
        os.close(claimed.lock_fd)
        os.rename(claimed.path, spool.active / item.id)
    daemon = Daemon(config).start()
    try:
        assert daemon.wait_run(item.id)["state"] == "completed"
        assert daemon.query("SELECT count(*) FROM performance") == [(1,)]
        # The run is committed a moment before its spool copy leaves (Spool.finish).
        deadline = time.monotonic() + 10
        while (spool.active / item.id).exists() or (spool.incoming / item.id).exists():
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        daemon.terminate()


def test_sighup_reloads_and_an_invalid_config_keeps_the_old(tmp_path):
    config = write_config(tmp_path, account("acme"))
    daemon = Daemon(config).start()
    try:
        text = config.read_text()
        config.write_text(text + account("gamma"))
        daemon.proc.send_signal(signal.SIGHUP)
        daemon.notify.wait_for("RELOADING=1")
        time.sleep(0.5)
        _, code, reply = send_as(
            daemon.smtp_port, "gamma", [("20240516.csv", csv_bytes(["1,2024/05/16,1,a"]))]
        )
        assert code == 250 and daemon.wait_run(queued_ids(reply)[0])["state"] == "completed"

        config.write_text(text + "[accounts.broken]\nlayout = 'nope'\n")
        daemon.notify.drain()
        daemon.notify.received.clear()
        daemon.proc.send_signal(signal.SIGHUP)
        daemon.notify.wait_for("RELOADING=1")
        daemon.notify.wait_for("READY=1")
        assert "reload refused: accounts.broken.layout" in daemon.log.read_text()
        _, code, _ = send_as(
            daemon.smtp_port, "gamma", [("20240516.csv", csv_bytes(["1,2024/05/16,1,a"]))]
        )
        assert code == 250  # the old config (with gamma) still serves
    finally:
        daemon.terminate()


def test_watchdog_is_pinged_from_the_loop(tmp_path):
    config = write_config(tmp_path, account("acme"))
    daemon = Daemon(config, env={"WATCHDOG_USEC": "200000"}).start()
    try:
        daemon.notify.wait_for("WATCHDOG=1", timeout=30)
    finally:
        daemon.terminate()


def test_a_manager_that_stops_reading_the_pings_never_blocks_the_daemon(tmp_path):
    """Its socket's queue of datagrams full, a blocking send froze the event loop: no
    answer at any door, and a SIGTERM that never ended the daemon."""
    config = write_config(tmp_path, account("acme"))
    daemon = Daemon(config, env={"WATCHDOG_USEC": "20000"}).start()  # a ping every 10 ms
    try:
        daemon.notify.wait_for("WATCHDOG=1", timeout=30)
        time.sleep(1)  # unread: a hundred pings, where the queue holds ten
        reply = httpx.get(f"{daemon.api}/healthz", timeout=10)
        assert reply.status_code == 200
        _, code, _ = send_as(
            daemon.smtp_port, "acme", [("20240516.csv", csv_bytes(["1,2024/05/16,1,a"]))]
        )
        assert code == 250
    finally:
        assert daemon.terminate(timeout=30) == 0
