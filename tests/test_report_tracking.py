"""What a run's page shows of its report mail: to whom, when it was queued, when the
relay took it, how many tries, and the relay's last answer. A real daemon mails a real
relay (aiosmtpd); the record is read back through the store the web console uses."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from daemon.store.sqlite import SqliteStore
from tests.support import (
    Daemon,
    account,
    csv_bytes,
    mail,
    queued_ids,
    renkei,
    send,
    write_config,
)

ADMIN = "admin@example.jp"


def deliver(daemon: Daemon) -> str:
    """Mail acme a good file: its report goes to sales@acme.example."""
    _, code, reply = send(
        daemon.smtp_port, mail([("20240516.csv", csv_bytes(["1,2024/05/16,1,a"]))])
    )
    assert code == 250
    [run_id] = queued_ids(reply)
    daemon.wait_run(run_id)
    return run_id


async def report_once(
    store: SqliteStore, run_id: str, done: Callable[[dict[str, Any]], bool], timeout: float = 15
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        report = await store.run_report(run_id)
        if report is not None and done(report):
            return report
        assert time.monotonic() < deadline, f"report of {run_id} is still {report}"
        await asyncio.sleep(0.05)


async def test_a_sent_report_records_whom_when_and_one_try(tmp_path, relay):
    daemon = Daemon(write_config(tmp_path, account("acme"), relay_port=relay.port)).start()
    store = await SqliteStore.open(daemon.db_path)
    try:
        run_id = deliver(daemon)
        relay.for_recipient("sales@acme.example")
        report = await report_once(store, run_id, lambda r: r["sent_at"] is not None)
        assert report["recipients"] == ["sales@acme.example"]
        assert report["attempts"] == 1
        assert report["last_answer"] == "OK"  # the relay's reply to the mail's data
        # Same UTC format as the runs' own times, so they compare as text.
        run = daemon.run(run_id)
        assert run["received_at"] <= report["queued_at"] <= report["sent_at"]
        assert report["sent_at"].endswith("+00:00")
    finally:
        await store.close()
        daemon.terminate()


async def test_with_the_relay_down_tries_grow_and_say_why(tmp_path):
    daemon = Daemon(write_config(tmp_path, account("acme"), relay_port=1)).start()
    store = await SqliteStore.open(daemon.db_path)
    try:
        run_id = deliver(daemon)
        report = await report_once(store, run_id, lambda r: r["attempts"] >= 2)
        assert report["sent_at"] is None
        assert report["recipients"] == ["sales@acme.example"]
        assert report["queued_at"] is not None
        assert "127.0.0.1 on port 1" in report["last_answer"]  # aiosmtplib's words
        later = await report_once(store, run_id, lambda r: r["attempts"] > report["attempts"])
        assert later["sent_at"] is None and later["last_answer"]
        # Said in the catalog's words where aiosmtplib's are English.
        shown = renkei("show", run_id, "--config", str(daemon.config), timeout=60)
        assert "接続を拒否されました" in shown.stdout and "Connect call" not in shown.stdout
        as_json = renkei("show", run_id, "--json", "--config", str(daemon.config), timeout=60)
        kept = json.loads(as_json.stdout)["report"]
        assert "127.0.0.1 on port 1" in kept["last_answer"] and "said" not in kept
    finally:
        await store.close()
        daemon.terminate()


async def test_a_550_refusal_is_kept_and_nothing_counts_as_sent(tmp_path, relay):
    relay.refuse["sales@acme.example"] = "550 5.1.1 no such user"
    config = write_config(
        tmp_path, account("acme"), extra=f'admin_to = ["{ADMIN}"]\n', relay_port=relay.port
    )
    daemon = Daemon(config).start()
    store = await SqliteStore.open(daemon.db_path)
    try:
        run_id = deliver(daemon)
        # The refusal's admin alert goes out; being no run's report, it is not recorded.
        relay.for_recipient(ADMIN)
        report = await report_once(store, run_id, lambda r: r["last_answer"] is not None)
        assert report["last_answer"] == "sales@acme.example: 550 5.1.1 no such user"
        assert report["sent_at"] is None and report["attempts"] == 1
        assert daemon.run(run_id)["report_state"] == "failed"
        assert daemon.query("SELECT run_id FROM run_reports") == [(run_id,)]
    finally:
        await store.close()
        daemon.terminate()


async def test_a_record_that_cannot_be_written_does_not_hold_the_mail_back(tmp_path, relay):
    daemon = Daemon(write_config(tmp_path, account("acme"), relay_port=relay.port)).start()
    try:
        daemon.query("DROP TABLE run_reports")  # every record now fails
        run_id = deliver(daemon)
        [report] = relay.for_recipient("sales@acme.example")
        assert run_id in report.get_body().get_content()
        deadline = time.monotonic() + 15
        while daemon.run(run_id)["report_state"] != "sent":
            assert time.monotonic() < deadline, daemon.run(run_id)
            time.sleep(0.05)
        assert f"report {run_id}: could not record" in daemon.log.read_text()
    finally:
        daemon.terminate()
