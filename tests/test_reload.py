"""Live reload: a change of the config file takes effect without a restart."""

from __future__ import annotations

import ftplib
import io
import json
import smtplib
import sqlite3
import time

import httpx

from tests.support import (
    Daemon,
    account,
    csv_bytes,
    free_port,
    import_process,
    mail,
    pause,
    queued_ids,
    renkei,
    send_as,
    write_config,
)
from tests.test_ftp import ADMIN, ftp_config, ftp_section


def wait_for(condition, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_editing_the_config_adds_ftp_and_mail_accounts_and_drops_removed_ones(tmp_path):
    config, port = ftp_config(tmp_path)
    daemon = Daemon(config).start()
    held = ftplib.FTP()
    try:
        held.connect("127.0.0.1", port, timeout=10)
        held.login("acme", "demo-acme-ftp")  # a session in progress across the reloads
        original = config.read_text()
        config.write_text(original + account("delta") + ftp_section("delta", "demo-delta"))
        daemon.notify.wait_for("RELOADING=1")

        def delta_logs_in() -> bool:
            try:
                with ftplib.FTP() as ftp:
                    ftp.connect("127.0.0.1", port, timeout=5)
                    ftp.login("delta", "demo-delta")
                    ftp.storbinary("STOR 20240516.csv", io.BytesIO(csv_bytes(["1,2024/05/16,1,a"])))
                return True
            except ftplib.error_perm:
                return False

        wait_for(delta_logs_in)
        reply = httpx.post(f"{daemon.api}/api/v1/accounts/delta/poll", headers=ADMIN, timeout=30)
        [run] = reply.json()["runs"]
        assert daemon.wait_run(run["id"])["state"] == "completed"
        checks = httpx.get(f"{daemon.api}/api/v1/accounts/delta", headers=ADMIN).json()
        assert len(checks["next_checks"]) == 5

        _, code, reply_text = send_as(
            daemon.smtp_port, "delta", [("20240517.csv", csv_bytes(["2,2024/05/17,2,b"]))]
        )
        assert code == 250 and daemon.wait_run(queued_ids(reply_text)[0])["state"] == "completed"

        daemon.notify.drain()
        daemon.notify.received.clear()
        config.write_text(original)  # delta removed again
        daemon.notify.wait_for("RELOADING=1")
        daemon.notify.wait_for("READY=1")
        with ftplib.FTP() as ftp:
            ftp.connect("127.0.0.1", port, timeout=5)
            try:
                ftp.login("delta", "demo-delta")
                raise AssertionError("a removed account still logs in")
            except ftplib.error_perm:
                pass
        _, code, _ = send_as(
            daemon.smtp_port, "delta", [("20240517.csv", csv_bytes(["2,2024/05/17,2,b"]))]
        )
        assert code == 550
        assert httpx.get(f"{daemon.api}/api/v1/accounts/delta", headers=ADMIN).status_code == 404
        data = io.BytesIO(csv_bytes(["3,2024/05/18,3,c"]))
        assert held.storbinary("STOR 20240518.csv", data).startswith("226")
        held.quit()
    finally:
        daemon.terminate()


def test_a_config_replaced_by_rename_is_reloaded_and_other_files_beside_it_are_not(tmp_path):
    # As `sed -i` and many editors save: a new file renamed over the old one. Files
    # written beside the config (a log, say) reload nothing.
    config, port = ftp_config(tmp_path)
    daemon = Daemon(config).start()
    try:
        daemon.notify.drain()
        daemon.notify.received.clear()
        beside = config.with_name("notes.txt")
        with beside.open("w") as notes:
            for line in range(50):
                notes.write(f"line {line}\n")
                notes.flush()
        time.sleep(1.5)  # past the reload's settling delay
        assert not any("RELOADING" in m for m in daemon.notify.received)
        fresh = config.with_name(".renkei.toml.new")
        fresh.write_text(config.read_text() + account("delta") + ftp_section("delta", "demo-delta"))
        fresh.replace(config)
        daemon.notify.wait_for("RELOADING=1")
        daemon.notify.wait_for("READY=1")
        with ftplib.FTP() as ftp:
            ftp.connect("127.0.0.1", port, timeout=5)
            assert ftp.login("delta", "demo-delta").startswith("230")
    finally:
        daemon.terminate()


def test_editing_the_file_a_linked_config_points_to_reloads_it(tmp_path):
    """A config kept elsewhere and linked (as configuration management does): only the
    link's folder was watched, so an edit of the file reloaded nothing."""
    (tmp_path / "etc").mkdir()
    real = write_config(tmp_path / "etc", account("acme"))
    link = tmp_path / "renkei.toml"
    link.symlink_to(real)
    daemon = Daemon(link, data_dir=tmp_path / "etc" / "var").start()
    try:
        daemon.notify.drain()
        daemon.notify.received.clear()
        real.write_text(real.read_text() + account("delta"))
        daemon.notify.wait_for("RELOADING=1", timeout=15)
        daemon.notify.wait_for("READY=1")
        accounts = httpx.get(f"{daemon.api}/api/v1/accounts", headers=ADMIN).json()
        assert "delta" in json.dumps(accounts), accounts
    finally:
        daemon.terminate()


def test_a_column_whose_type_changed_is_refused_at_reload_and_at_start(tmp_path):
    """The table is never migrated: a decimal stored in the INTEGER column was rounded,
    a number stored as text in a text column was found by no range. Refused with its
    key, as any config problem; the old config goes on serving."""
    config = write_config(tmp_path, account("acme"))
    daemon = Daemon(config).start()
    try:
        _, code, reply = send_as(
            daemon.smtp_port, "acme", [("20240516.csv", csv_bytes(["1,2024/05/16,12,a"]))]
        )
        assert daemon.wait_run(queued_ids(reply)[0])["state"] == "completed"
        original = config.read_text()
        changed = original.replace(
            '{ name = "sales_amount", type = "int",  max_digits = 13 }',
            '{ name = "sales_amount", type = "decimal" }',
        )
        assert changed != original
        config.write_text(changed)
        wait_for(lambda: "reload refused" in daemon.log.read_text())
        assert (
            "reload refused: layouts.performance.columns.2.type: column sales_amount cannot"
            " become decimal: its table column is INTEGER, and TEXT values would sit beside"
            " the old ones" in daemon.log.read_text()
        )
        _, code, reply = send_as(
            daemon.smtp_port, "acme", [("20240517.csv", csv_bytes(["2,2024/05/17,3,b"]))]
        )
        assert daemon.wait_run(queued_ids(reply)[0])["state"] == "completed"
        assert daemon.query("SELECT typeof(sales_amount) FROM performance") == [("integer",)] * 2
    finally:
        daemon.terminate()
    started = renkei("serve", "--config", str(config), timeout=60)
    assert started.returncode == 1
    assert "列 sales_amount を decimal にできません: テーブルの列は INTEGER" in started.stderr


def test_a_config_switched_by_its_link_is_reloaded_through_the_link(tmp_path):
    """`renkei serve --config live.toml` with live.toml a link (a ConfigMap's, or one
    switched with `ln -sfn`): a reload read the old target again and said so, and
    switching the link was not seen at all."""
    first = write_config(tmp_path, account("acme"))
    versions = tmp_path / "v2"
    versions.mkdir()
    second = versions / "renkei.toml"
    # The same folder's paths (data_dir "var" is read beside the config's target).
    second.write_text(
        first.read_text().replace('data_dir = "var"', f'data_dir = "{tmp_path}/var"')
        + account("delta")
    )
    live = tmp_path / "live.toml"
    live.symlink_to(first)
    daemon = Daemon(live).start()
    try:
        daemon.notify.drain()
        daemon.notify.received.clear()  # the start's READY=1 is not the reload's
        switched = tmp_path / "live.toml.new"
        switched.symlink_to(second)
        switched.rename(live)  # as `ln -sfn` does it
        daemon.notify.wait_for("RELOADING=1")
        daemon.notify.wait_for("READY=1")
        _, code, reply = send_as(
            daemon.smtp_port, "delta", [("20240517.csv", csv_bytes(["2,2024/05/17,2,b"]))]
        )
        assert code == 250, reply
        assert f"config reloaded from {live}" in daemon.log.read_text()
    finally:
        daemon.terminate()


def test_a_recipient_removed_by_a_reload_mid_session_is_refused_at_data(tmp_path):
    """RCPT took acme's address, a reload removed acme, and the final dot was answered
    with an empty line: no code, no log line, no refusal record."""
    config = write_config(tmp_path, account("acme") + account("beta"))
    daemon = Daemon(config).start()
    try:
        with smtplib.SMTP("127.0.0.1", daemon.smtp_port, timeout=30) as smtp:
            smtp.ehlo()
            assert smtp.mail("export@acme.example")[0] == 250
            assert smtp.rcpt("acme@in.example.jp")[0] == 250
            daemon.notify.drain()
            daemon.notify.received.clear()
            config.write_text(config.read_text().replace(account("acme"), ""))
            daemon.notify.wait_for("RELOADING=1")
            daemon.notify.wait_for("READY=1")
            message = mail([("20240516.csv", csv_bytes(["1,2024/05/16,1,a"]))])
            code, reply = smtp.data(message.as_bytes())
        assert (code, reply.decode()) == (550, "5.1.1 No such recipient here")
        refusals = httpx.get(
            f"{daemon.api}/api/v1/refusals?channel=mail",
            headers={"Authorization": "Bearer demo-admin"},
            timeout=10,
        ).json()["refusals"]
        assert [r["reason"] for r in refusals] == ["unknown_recipient"]
        assert "since the config was reloaded" in refusals[0]["detail"]
    finally:
        daemon.terminate()


def stored_across_reload(daemon: Daemon, config, port: int, edit) -> None:
    """An upload by a session logged in before a reload that `edit`s the config took
    its account from it: refused with a 421."""
    with ftplib.FTP() as ftp:
        ftp.connect("127.0.0.1", port, timeout=10)
        ftp.login("acme", "demo-acme-ftp")
        daemon.notify.drain()
        daemon.notify.received.clear()
        config.write_text(edit(config.read_text()))
        daemon.notify.wait_for("RELOADING=1")
        daemon.notify.wait_for("READY=1")
        data = io.BytesIO(csv_bytes(["1,2024/05/16,1,a"]))
        try:
            ftp.storbinary("STOR 20240516.csv", data)
            raise AssertionError("the session still uploads")
        except ftplib.error_temp as exc:
            assert str(exc).startswith("421 This user's account was removed"), exc


def test_an_ftp_session_whose_account_a_reload_removed_is_closed_with_a_421(tmp_path):
    """Its next command met an authorizer without the user: a KeyError traceback in the
    log, and the connection dropped without a reply."""
    config, port = ftp_config(tmp_path)
    daemon = Daemon(config).start()
    try:
        section = ftp_section("acme", "demo-acme-ftp")
        stored_across_reload(daemon, config, port, lambda text: text.replace(section, ""))
        said = daemon.log.read_text()
        assert "Traceback" not in said and "KeyError" not in said
        refusals = httpx.get(
            f"{daemon.api}/api/v1/refusals?channel=ftp", headers=ADMIN, timeout=10
        ).json()["refusals"]
        assert [(r["code"], r["reason"], r["who"]) for r in refusals] == [
            ("421", "account_removed", "acme")
        ]
    finally:
        daemon.terminate()


def test_an_ftp_session_whose_account_a_reload_renamed_is_closed_with_a_421(tmp_path):
    """The FTP user kept, the account renamed: the session's upload got its 226 in the
    old account's home, which nothing checks, and was never imported."""
    config, port = ftp_config(tmp_path)
    daemon = Daemon(config).start()
    try:
        renamed = "accounts.acme_sales"
        stored_across_reload(
            daemon, config, port, lambda text: text.replace("accounts.acme", renamed)
        )
        assert not (daemon.data_dir / "ftp" / "acme" / "20240516.csv").exists()
        with ftplib.FTP() as ftp:  # logged in again, to the account's new home
            ftp.connect("127.0.0.1", port, timeout=10)
            ftp.login("acme", "demo-acme-ftp")
            ftp.storbinary("STOR 20240516.csv", io.BytesIO(csv_bytes(["1,2024/05/16,1,a"])))
        home = daemon.data_dir / "ftp" / "acme_sales"
        wait_for(
            lambda: (
                (home / "20240516.csv").exists()
                or ("acme_sales",) in daemon.query("SELECT account FROM runs")
            )
        )
    finally:
        daemon.terminate()


def test_a_reload_is_checked_as_it_would_be_served_with_the_keys_it_keeps(tmp_path):
    """data_dir needs a restart, so a reload keeps the old one: a new config whose drop
    folder lies outside its own data_dir passed, while the daemon went on serving the
    old data_dir with that drop folder inside it (renkei taking its own spool)."""
    config = write_config(tmp_path, account("acme"))
    original = config.read_text()
    daemon = Daemon(config).start()
    try:
        moved = original.replace('data_dir = "var"', 'data_dir = "var2"')
        drop = '[accounts.acme.dropdir]\npath = "var/spool/incoming"\n'
        config.write_text(moved + drop)
        wait_for(lambda: "reload refused" in daemon.log.read_text())
        said = daemon.log.read_text()
        assert (
            "accounts.acme.dropdir.path: 'var/spool/incoming' is a folder of renkei's own" in said
        )
        assert not (tmp_path / "var2").exists()
    finally:
        daemon.terminate()


def test_a_column_renamed_only_in_case_is_refused_with_its_key_not_a_traceback(tmp_path):
    """`sales_amount` → `SALES_AMOUNT` passed check; a reload was refused with SQLite's
    raw 'duplicate column name', and serve printed a traceback and exited (under the
    shipped unit, a restart loop)."""
    config = write_config(tmp_path, account("acme"))
    assert renkei("import", *_one_file(tmp_path), "--config", str(config)).returncode == 0
    original = config.read_text()
    config.write_text(original.replace('name = "sales_amount"', 'name = "SALES_AMOUNT"'))
    for command in ("check", "serve"):
        result = renkei(command, "--config", str(config), timeout=60)
        assert result.returncode == 1, result.stderr
        assert "Traceback" not in result.stderr
        assert (
            "layouts.performance.columns.2.name: テーブルの列は sales_amount です。"
            "大文字・小文字だけが違う名前は別の列にできません: sales_amount と書いてください"
        ) in result.stderr, result.stderr


def test_a_table_moved_by_hand_with_int_columns_is_taken_as_it_stores(tmp_path):
    """`CREATE TABLE … AS SELECT` declares INT where renkei writes INTEGER: the same
    storage, refused as a changed type."""
    config = write_config(tmp_path, account("acme"))
    assert renkei("import", *_one_file(tmp_path), "--config", str(config)).returncode == 0
    with sqlite3.connect(tmp_path / "var" / "renkei.db") as db:
        db.executescript(
            "ALTER TABLE performance RENAME TO performance_old;"
            "CREATE TABLE performance AS SELECT CAST(member_no AS INT) AS member_no, date,"
            " CAST(sales_amount AS INT) AS sales_amount, note, _account, _source_file,"
            " _run_id FROM performance_old;"
        )
    result = renkei("check", "--config", str(config), timeout=60)
    assert result.returncode == 0, result.stderr
    assert (
        renkei("import", *_one_file(tmp_path, "20240517"), "--config", str(config)).returncode == 0
    )


def _one_file(folder, day: str = "20240516") -> list[str]:
    path = folder / f"{day}.csv"
    path.write_bytes(csv_bytes(["1,2024/05/16,12,a"]))
    return [str(path), "--account", "acme"]


def test_a_reload_the_store_was_too_busy_for_is_tried_again_by_itself(tmp_path, relay):
    """Another writer held the store past the busy timeout: the reload was refused and
    the valid config never applied until an admin reloaded once more. The admins are
    told it waits, not that the config file has problems."""
    config = write_config(tmp_path, account("acme"), relay_port=relay.port)
    config.write_text(
        config.read_text().replace(
            "timeout = 5\n", 'timeout = 5\nadmin_to = ["admin@example.jp"]\n', 1
        )
    )
    daemon = Daemon(config, env={"RENKEI_BUSY_TIMEOUT_MS": "300"}).start()
    try:
        holder = sqlite3.connect(tmp_path / "var" / "renkei.db", isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")  # another writer holds the store
        try:
            config.write_text(config.read_text() + account("beta"))
            wait_for(lambda: "reload: trying again in 5s" in daemon.log.read_text())
            assert "reload refused" in daemon.log.read_text()
            [alert] = relay.for_recipient("admin@example.jp", about="再読み込み")
            assert alert["Subject"] == "[renkei] 設定の再読み込みを待っています"
            body = alert.get_body().get_content()
            assert "自動でもう一度試します" in body and "に問題があるため" not in body
            # Said in a line, not with the traceback of a config that failed to apply.
            assert "reload failed while applying" not in daemon.log.read_text()
        finally:
            holder.execute("ROLLBACK")
            holder.close()

        def beta_there() -> bool:
            reply = httpx.get(f"{daemon.api}/api/v1/accounts/beta", headers=ADMIN, timeout=10)
            return reply.status_code == 200

        wait_for(beta_there, timeout=30)
    finally:
        daemon.terminate()


def test_a_relay_fixed_by_a_reload_takes_the_waiting_reports_at_once(tmp_path, relay):
    """They waited out the old pause (a minute here) for the relay that was wrong."""
    wrong = free_port()  # nothing listens
    config = write_config(tmp_path, account("acme", report="always"), relay_port=wrong)
    config.write_text(config.read_text().replace("retry_seconds = 0.5", "retry_seconds = 60"))
    daemon = Daemon(config).start()
    try:
        _, code, reply = send_as(
            daemon.smtp_port, "acme", [("20240516.csv", csv_bytes(["1,2024/05/16,1,a"]))]
        )
        assert code == 250
        run_id = queued_ids(reply)[0]
        wait_for(lambda: "cannot take mail now" in daemon.log.read_text())
        config.write_text(config.read_text().replace(f":{wrong}", f":{relay.port}"))
        # Well before the minute's pause is over.
        assert relay.for_recipient("sales@acme.example", about=run_id, timeout=20)
    finally:
        daemon.terminate()


def test_a_file_whose_account_a_new_config_took_away_is_told_to_the_admins(tmp_path, relay):
    """Accepted for acme, then acme renamed before its import (here across a restart,
    the file waiting in the spool): its run failed, and no report or alert told anyone."""
    config = write_config(tmp_path, account("acme", report="always"), relay_port=relay.port)
    text = config.read_text().replace(
        "timeout = 5\n", 'timeout = 5\nadmin_to = ["admin@example.jp"]\n', 1
    )
    config.write_text(text)
    daemon = Daemon(config).start()
    try:
        pause(import_process(daemon))  # the file waits in the spool
        rows = [("20240516.csv", csv_bytes(["1,2024/05/16,1,a"]))]
        _, code, reply = send_as(daemon.smtp_port, "acme", rows)
        assert code == 250
        [run_id] = queued_ids(reply)
        daemon.kill()
        config.write_text(text.replace("[accounts.acme", "[accounts.acme2"))
        daemon.start()
        assert daemon.wait_run(run_id)["state"] == "failed"
        [alert] = relay.for_recipient("admin@example.jp", about=run_id)
        assert "設定にないアカウントのファイルを取り込めませんでした" in alert["Subject"]
        assert f"renkei show {run_id} --save" in alert.get_body().get_content()
    finally:
        daemon.terminate()
