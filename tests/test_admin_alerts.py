"""Admin alerts: each reaches `report.admin_to` through the real relay, once per cause."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import time

import httpx

from daemon.spool.queue import Meta, Spool
from tests.console_support import login, users_toml
from tests.support import (
    Daemon,
    account,
    csv_bytes,
    import_process,
    killed_in_attempt,
    mail,
    pause,
    queued_ids,
    renkei,
    send,
    write_config,
)

ADMIN = "admin@example.jp"
ALERTS = f'admin_to = ["{ADMIN}"]\n'
BROKEN = "[accounts.broken]\nlayout = 'nope'\n"


def alerts_config(tmp_path, relay, extra: str = ""):
    return write_config(tmp_path, account("acme"), extra=ALERTS + extra, relay_port=relay.port)


def to_admin(relay) -> list:
    return [m for m, (_, to) in zip(relay.messages, relay.envelopes, strict=True) if ADMIN in to]


def reload(daemon: Daemon) -> None:
    """SIGHUP, and wait until the daemon is done with it (an alert is queued by then)."""
    daemon.notify.drain()
    daemon.notify.received.clear()
    daemon.proc.send_signal(signal.SIGHUP)
    daemon.notify.wait_for("RELOADING=1")
    daemon.notify.wait_for("READY=1")


def outbox_empty(daemon: Daemon, timeout: float = 10) -> None:
    """Every queued mail has gone to the relay (or been given up)."""
    deadline = time.monotonic() + timeout
    while list((daemon.data_dir / "outbox").glob("*.json")):
        assert time.monotonic() < deadline, "mail still waits in the outbox"
        time.sleep(0.05)


def test_a_refused_reload_alerts_once_until_a_good_reload(tmp_path, relay):
    config = alerts_config(tmp_path, relay, 'language = "en"\n')
    good = config.read_text()
    daemon = Daemon(config).start()
    try:
        config.write_text(good + BROKEN)
        reload(daemon)
        [alert] = relay.for_recipient(ADMIN)
        assert alert["Subject"] == "[renkei] config reload refused"
        body = alert.get_body().get_content()
        assert "accounts.broken.layout" in body and "previous config" in body

        reload(daemon)  # the same problems: the same cause, still raised
        outbox_empty(daemon)
        assert len(to_admin(relay)) == 1

        config.write_text(good)
        reload(daemon)  # accepted: the cause clears…
        assert json.loads((daemon.data_dir / "alerts.json").read_text()) == {}
        config.write_text(good + BROKEN)
        reload(daemon)  # …so the same problems are news again
        relay.wait(2)
        assert [m["Subject"] for m in to_admin(relay)] == ["[renkei] config reload refused"] * 2
    finally:
        daemon.terminate()


def test_disk_under_min_free_bytes_alerts_once_across_a_restart_until_it_clears(tmp_path, relay):
    config = alerts_config(tmp_path, relay)
    low = config.read_text().replace("min_free_bytes = 0", f"min_free_bytes = {2**62}")
    config.write_text(low)
    daemon = Daemon(config).start()
    try:
        [alert] = relay.for_recipient(ADMIN)
        assert alert["Subject"] == "[renkei] ディスクの空きが不足しています"
        assert "daemon.min_free_bytes" in alert.get_body().get_content()
    finally:
        daemon.terminate()
    daemon = Daemon(config).start()  # still low: already said
    try:
        time.sleep(1)
        outbox_empty(daemon)
        assert len(to_admin(relay)) == 1

        config.write_text(low.replace(f"min_free_bytes = {2**62}", "min_free_bytes = 0"))
        reload(daemon)
        assert json.loads((daemon.data_dir / "alerts.json").read_text()) == {}
        config.write_text(low)
        reload(daemon)
        relay.wait(2)
        assert len(to_admin(relay)) == 2
    finally:
        daemon.terminate()


def test_a_quarantined_file_alerts_naming_its_run_and_file(tmp_path, relay):
    config = alerts_config(tmp_path, relay)
    spool = Spool(tmp_path / "var" / "spool")
    data = csv_bytes(["1,2024/05/16,1,a"])
    item_id = killed_in_attempt(spool.root, data, attempts=2)  # in its third attempt
    daemon = Daemon(config).start()
    try:
        assert daemon.wait_run(item_id)["state"] == "failed"
        alerts = relay.for_recipient(ADMIN)
        assert len(alerts) == 1, [(m["Subject"], m["Message-ID"]) for m in alerts]
        [alert] = alerts
        assert alert["Subject"] == "[renkei] ファイルを隔離しました: acme 20240516.csv"
        body = alert.get_body().get_content()
        assert item_id in body and f"spool/failed/{item_id}" in body
        outbox_empty(daemon)
        sent = to_admin(relay)
        assert len(sent) == 1, [(m["Subject"], m["Message-ID"]) for m in sent]
        # Not the partner: three crashed attempts say nothing of the file, which a
        # retry may well import; its failure report told the partner to do what?
        partner = [to for _, to in relay.envelopes if "ops@acme.example" in to]
        assert partner == []
        assert daemon.wait_run(item_id)["report_state"] == "none"
    finally:
        daemon.terminate()


def damage_footer(path) -> None:
    with open(path, "r+b") as f:
        f.seek(-8, os.SEEK_END)
        f.write(b"\xff" * 8)


def test_a_spooled_file_that_cannot_be_read_is_set_aside_and_the_rest_imported(tmp_path, relay):
    """Found at start: a waiting file whose description is damaged goes to
    spool/failed/ with an alert; the file beside it is imported, and so is the next."""
    config = alerts_config(tmp_path, relay)
    spool = Spool(tmp_path / "var" / "spool")
    data = csv_bytes(["1,2024/05/16,1,a"])
    meta = Meta("acme", "mail", "export@acme.example", "20240516.csv")
    bad, good = spool.enqueue(meta, data), spool.enqueue(meta, data)
    damage_footer(spool.incoming / bad.id)
    daemon = Daemon(config).start()
    try:
        assert daemon.wait_run(good.id)["state"] == "completed"
        [alert] = relay.for_recipient(ADMIN)
        assert alert["Subject"] == f"[renkei] 読めないファイルを退避しました: {bad.id}"
        body = alert.get_body().get_content()
        assert f"spool/failed/{bad.id}" in body and "footer" in body
        assert (spool.failed / bad.id).read_bytes().startswith(data)
        _, code, reply = send(daemon.smtp_port, mail([("20240517.csv", data)]))
        assert code == 250, reply
        (run_id,) = queued_ids(reply)
        assert daemon.wait_run(run_id)["state"] == "completed"
        assert "crashed" not in daemon.log.read_text()
        assert daemon.run(bad.id)["state"] == "failed"
        # Its retry said 「アカウント  は設定にありません」, naming no account.
        admin = {"Authorization": "Bearer demo-admin"}
        retried = httpx.post(f"{daemon.api}/api/v1/runs/{bad.id}/retry", headers=admin)
        assert retried.status_code == 409 and retried.json()["error"] == "account_unknown"
        assert "説明を読めずに脇に置かれたため" in retried.json()["message"], retried.text
        # An item of the same id, damaged too, is set aside beside the first, under
        # another name. Damaged in a spool of its own, then moved in whole.
        aside = Spool(tmp_path / "aside")
        [again] = aside.enqueue_many([(meta, data, bad.id)])
        damage_footer(aside.incoming / again.id)
        os.rename(aside.incoming / again.id, spool.incoming / again.id)
        deadline = time.monotonic() + 15
        while len(list(spool.failed.iterdir())) < 2:
            assert time.monotonic() < deadline, "the second damaged item was not set aside"
            time.sleep(0.1)
        [other] = [p for p in spool.failed.iterdir() if p.name != bad.id]
        assert other.name.startswith(f"{bad.id}.") and other.read_bytes().startswith(data)
        # Past retention, the run goes, and both files set aside with it.
        later = (dt.datetime.now(dt.UTC) + dt.timedelta(days=91)).isoformat()
        result = renkei("sweep", "--now", later, "--config", str(config))
        assert result.returncode == 0, result.stderr
        assert daemon.run(bad.id) == {} and list(spool.failed.iterdir()) == []
    finally:
        daemon.terminate()


def test_a_delivery_damaged_while_it_waits_fails_its_run_and_alerts(tmp_path, relay):
    """The sender was given the run's id: the run is there, failed, saying why, on the
    console too, though who sent it was in the description that cannot be read."""
    config = alerts_config(
        tmp_path, relay, 'language = "en"\n' + users_toml({"admin": ("admin", [])})
    )
    daemon = Daemon(config).start()
    try:
        importer = import_process(daemon)
        pause(importer)  # the file must wait while it is damaged
        try:
            _, code, reply = send(
                daemon.smtp_port, mail([("20240516.csv", csv_bytes(["1,2024/05/16,1,a"]))])
            )
            assert code == 250, reply
            (run_id,) = queued_ids(reply)
            damage_footer(daemon.data_dir / "spool" / "incoming" / run_id)
        finally:
            os.kill(importer, signal.SIGCONT)
        run = daemon.wait_run(run_id)
        assert run["state"] == "failed"
        assert run["message"].startswith("the received file's description cannot be read")
        assert f"spool/failed/{run_id}" in run["message"]
        [alert] = relay.for_recipient(ADMIN)
        assert alert["Subject"] == f"[renkei] unreadable file set aside: {run_id}"
        assert (daemon.data_dir / "spool" / "failed" / run_id).is_file()
        console = login(daemon.api, "admin")
        try:
            page = console.get(f"/console/runs/{run_id}")
            assert page.status_code == 200
            assert "the received file&#39;s description cannot be read" in page.text
            listing = console.get("/console/runs?state=failed")
            assert listing.status_code == 200 and run_id in listing.text
        finally:
            console.close()
        assert "crashed" not in daemon.log.read_text()
    finally:
        daemon.terminate()


def test_a_report_refused_for_good_alerts_the_admin(tmp_path, relay):
    relay.refuse["sales@acme.example"] = "550 5.1.1 no such user"
    daemon = Daemon(alerts_config(tmp_path, relay)).start()
    try:
        _, _, reply = send(
            daemon.smtp_port, mail([("20240516.csv", csv_bytes(["1,2024/05/16,1,a"]))])
        )
        [run_id] = queued_ids(reply)
        [alert] = relay.for_recipient(ADMIN)
        assert run_id in alert["Subject"]
        body = alert.get_body().get_content()
        assert "sales@acme.example: 550 5.1.1 no such user" in body
        assert f"outbox/failed/{run_id}.eml" in body
        assert daemon.run(run_id)["report_state"] == "failed"
    finally:
        daemon.terminate()


def test_a_waiting_report_whose_files_are_damaged_alerts_the_admin(tmp_path, relay):
    relay.refuse["sales@acme.example"] = "451 4.3.0 try again later"
    daemon = Daemon(alerts_config(tmp_path, relay)).start()
    try:
        _, _, reply = send(
            daemon.smtp_port, mail([("20240516.csv", csv_bytes(["1,2024/05/16,1,a"]))])
        )
        [run_id] = queued_ids(reply)
        envelope = daemon.data_dir / "outbox" / f"{run_id}.json"
        deadline = time.monotonic() + 15
        while not (envelope.exists() and json.loads(envelope.read_bytes())["attempts"] >= 1):
            assert time.monotonic() < deadline, "the report was not tried"
            time.sleep(0.05)
        # Its mail lost (the envelope is rewritten after each try; the mail never is).
        envelope.with_suffix(".eml").unlink()
        [alert] = relay.for_recipient(ADMIN)
        assert alert["Subject"] == f"[renkei] 送れないレポートメールを退避しました: {run_id}"
        body = alert.get_body().get_content()
        assert f"outbox/failed/{run_id}.json" in body and "理由: its mail (.eml) is missing" in body
        assert (daemon.data_dir / "outbox" / "failed" / f"{run_id}.json").is_file()
        assert not envelope.exists()
        assert daemon.run(run_id)["report_state"] == "failed"
        assert "crashed" not in daemon.log.read_text()
    finally:
        daemon.terminate()


def test_an_alert_the_relay_refuses_raises_no_alert_about_itself(tmp_path, relay):
    relay.refuse["sales@acme.example"] = "550 5.1.1 no such user"
    relay.refuse[ADMIN] = "550 5.1.1 no such user"
    daemon = Daemon(alerts_config(tmp_path, relay)).start()
    try:
        _, _, reply = send(
            daemon.smtp_port, mail([("20240516.csv", csv_bytes(["1,2024/05/16,1,a"]))])
        )
        [run_id] = queued_ids(reply)
        failed = daemon.data_dir / "outbox" / "failed"
        deadline = time.monotonic() + 15
        while len(list(failed.glob("alert-*.json"))) < 1:
            assert time.monotonic() < deadline, "the alert was not given up"
            time.sleep(0.1)
        time.sleep(2)  # several retry periods: nothing more is tried
        outbox_empty(daemon)
        assert relay.rcpt_attempts == ["sales@acme.example", ADMIN]
        assert len(list(failed.glob("*.json"))) == 2 and relay.messages == []
    finally:
        daemon.terminate()
