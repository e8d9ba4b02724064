"""PostgreSQL as SQLite: a file whose rows pass a limit of the server fails at once,
as SQLite's refusal of the same rows does, not retried for ever holding up its
account's later files; and same-name replace folds ASCII letters only, as file names
are compared everywhere else (`ｓａｌｅｓ.csv` replaced the rows of `ＳＡＬＥＳ.csv`)."""

from __future__ import annotations

import secrets

import httpx
import psycopg
import pytest

from tests.support import (
    Daemon,
    account,
    cli_import,
    csv_bytes,
    mail,
    queued_ids,
    renkei,
    send,
    write_config,
)

pytestmark = pytest.mark.slow

ADMIN = {"Authorization": "Bearer demo-admin"}
KEYED = '[layouts.performance]\nkey = ["note"]'


def pg_config(tmp_path, pg_url, **keys):
    config = write_config(
        tmp_path, account("acme", report="never", **keys), extra=f'[store]\nurl = "{pg_url}"\n'
    )
    return config


def imported(tmp_path, config, name: str, *lines: str) -> dict:
    path = tmp_path / name
    path.write_text("member_no,date,sales_amount,note\n" + "\n".join(lines) + "\n")
    return cli_import(config, path)


def test_a_key_past_the_servers_index_limit_fails_the_file_at_once(tmp_path, pg_url):
    config = pg_config(tmp_path, pg_url, mode="upsert")
    config.write_text(config.read_text().replace("[layouts.performance]", KEYED))
    long_key = secrets.token_hex(1450)  # 2,900 random bytes: compressed, it would fit
    run = imported(tmp_path, config, "20240516.csv", f"1,2024/05/16,1,{long_key}")
    assert run["state"] == "failed", run["message"]
    assert "データベースサーバー側の問題" not in run["message"], run
    assert "値が長すぎて、データベースの索引に入りません" in run["message"], run["message"]
    assert "renkei_keyed_chunk" not in run["message"]
    run = imported(tmp_path, config, "20240517.csv", "2,2024/05/17,1,short")
    assert run["state"] == "completed", run


def test_full_width_names_are_not_one_file_on_postgresql(tmp_path, pg_url):
    config = pg_config(tmp_path, pg_url, filename="any")
    for name, member in (("ＳＡＬＥＳ.csv", 1), ("ｓａｌｅｓ.csv", 2), ("SALES.csv", 3)):
        run = imported(tmp_path, config, name, f"{member},2024/05/16,1,x")
        assert run["state"] == "completed", run
    run = imported(tmp_path, config, "sales.csv", "4,2024/05/16,1,x")
    assert run["state"] == "completed", run
    with psycopg.connect(pg_url) as db:
        rows = db.execute(
            "SELECT member_no, _source_file FROM performance ORDER BY rowid"
        ).fetchall()
    assert rows == [(1, "ＳＡＬＥＳ.csv"), (2, "ｓａｌｅｓ.csv"), (4, "sales.csv")]


def test_a_value_postgresql_cannot_hold_in_a_request_is_a_422(tmp_path, pg_url):
    """A NUL (`%00`) in a query or a record's value, which PostgreSQL's text cannot
    hold, was a 500 with a traceback in the log."""

    config = pg_config(tmp_path, pg_url)
    imported(tmp_path, config, "20240516.csv", "1,2024/05/16,1,x")
    daemon = Daemon(config).start()
    try:
        admin = {"Authorization": "Bearer demo-admin"}
        for path in ("/api/v1/runs/a%00b", "/api/v1/runs?filename=a%00b"):
            r = httpx.get(daemon.api + path, headers=admin, timeout=30)
            assert r.status_code == 422, (path, r.text)
            assert r.json()["error"] == "value_refused"
            assert "NUL 文字(0x00、%00)はデータベースに入れられません" in r.json()["message"]
        assert httpx.get(daemon.api + "/api/v1/runs", headers=admin).status_code == 200
    finally:
        daemon.terminate()
    assert "Traceback" not in daemon.log.read_text(errors="replace")


def test_a_run_another_instance_imported_says_where_its_files_are(tmp_path, pg_url):
    """Asked of instance A, a run instance B imported was "not kept (retention
    ended, or no file came)": in `renkei show`, the API's file and errors.csv, and
    the console, which also offered its error CSV as a link that then 404'd."""
    configs = {}
    for name in ("PA", "PB"):
        folder = tmp_path / name
        folder.mkdir()
        extra = f'[store]\nurl = "{pg_url}"\ninstance = "{name}"\n'
        configs[name] = write_config(folder, account("acme", report="never"), extra=extra)
    run = imported(tmp_path / "PB", configs["PB"], "20240516.csv", "x,2024/05/16,1,bad")
    assert run["state"] == "failed", run
    shown = renkei("show", run["id"], "--config", str(configs["PA"]))
    assert "受信したファイルはインスタンス PB が保存しています" in shown.stdout, shown.stdout
    saved = renkei(
        "show", run["id"], "--save", str(tmp_path / "out"), "--config", str(configs["PA"])
    )
    assert saved.returncode == 1
    assert "インスタンス PB が保存しています" in saved.stderr
    daemon = Daemon(configs["PA"]).start()
    try:
        admin = {"Authorization": "Bearer demo-admin"}
        for tail, code in (("file", "file_not_kept"), ("errors.csv", "error_report_not_kept")):
            r = httpx.get(f"{daemon.api}/api/v1/runs/{run['id']}/{tail}", headers=admin)
            assert r.status_code == 404 and r.json()["error"] == code, r.text
            assert "インスタンス PB が保存しています" in r.json()["message"]
        # Its retry too: "not kept (past retention)" sent the admin looking for nothing.
        r = httpx.post(f"{daemon.api}/api/v1/runs/{run['id']}/retry", headers=admin)
        assert r.status_code == 409 and r.json()["error"] == "file_not_kept", r.text
        assert "PB が保存しています。そのインスタンスから再取込してください" in r.json()["message"]
    finally:
        daemon.terminate()
    shown = renkei("show", run["id"], "--config", str(configs["PB"]))
    assert "インスタンス" not in shown.stdout and "保存先" in shown.stdout, shown.stdout
    # A run that received no file (an undo) has none anywhere: no instance to name.
    done = imported(tmp_path / "PB", configs["PB"], "20240517.csv", "1,2024/05/17,1,ok")
    undone = renkei("undo", done["id"], "--config", str(configs["PB"]))
    assert undone.returncode == 0, undone.stdout + undone.stderr
    [undo_id] = [r for r in run_ids(pg_url) if r not in (run["id"], done["id"])]
    shown = renkei("show", undo_id, "--config", str(configs["PA"]))
    assert "インスタンス PB" not in shown.stdout, shown.stdout


def run_ids(pg_url: str) -> list[str]:
    with psycopg.connect(pg_url) as db:
        return [r for (r,) in db.execute("SELECT id FROM runs").fetchall()]


def test_a_layout_renamed_in_case_alone_is_refused_on_postgresql(tmp_path, pg_url):
    """`Sales` renamed `sales` got a new empty table on PostgreSQL (quoted names keep
    their case): the rows stayed in the old one, an upsert of a key there inserted."""
    config = pg_config(tmp_path, pg_url)
    text = config.read_text().replace("[layouts.performance]", "[layouts.Sales]")
    config.write_text(text.replace('layout = "performance"', 'layout = "Sales"'))
    assert imported(tmp_path, config, "20240516.csv", "1,2024/05/16,1,x")["state"] == "completed"
    config.write_text(config.read_text().replace("Sales", "sales"))
    checked = renkei("check", "--config", str(config))
    assert checked.returncode == 1, checked.stdout + checked.stderr
    said = "layouts.sales: レイアウト sales のテーブルはデータベースでは Sales です"
    assert said in checked.stderr
    path = tmp_path / "20240517.csv"
    path.write_text("member_no,date,sales_amount,note\n2,2024/05/17,1,y\n")
    result = renkei("import", str(path), "--account", "acme", "--config", str(config))
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert said in result.stdout + result.stderr
    with psycopg.connect(pg_url) as db:
        tables = db.execute(
            "SELECT relname FROM pg_class WHERE lower(relname) = 'sales' AND relkind = 'r'"
        ).fetchall()
    assert tables == [("Sales",)]


def test_a_record_key_past_the_index_limit_is_said_in_words(tmp_path, pg_url):
    """The Records API's 422 carried psycopg's English and renkei's index name."""
    config = pg_config(tmp_path, pg_url, mode="upsert")
    config.write_text(config.read_text().replace("[layouts.performance]", KEYED))
    imported(tmp_path, config, "20240516.csv", "1,2024/05/16,1,short")
    daemon = Daemon(config).start()
    try:
        record = {"member_no": 2, "date": "2024-05-16", "note": secrets.token_hex(1450)}
        r = httpx.post(
            f"{daemon.api}/api/v1/records/performance",
            headers={"Authorization": "Bearer demo-admin"},
            json=record | {"_account": "acme"},
            timeout=30,
        )
        assert r.status_code == 422 and r.json()["error"] == "value_refused", r.text
        assert "値が長すぎて、データベースの索引に入りません" in r.json()["message"]
        assert "btree" not in r.json()["message"]
    finally:
        daemon.terminate()


def test_an_older_versions_corrected_error_csv_is_told_by_its_lines(tmp_path, pg_url):
    """The run a corrected copy corrects is found by the line numbers it carries, on
    PostgreSQL as on SQLite (store.error_csv_runs_on)."""
    config = pg_config(tmp_path, pg_url, on_row_error="skip")
    older = imported(tmp_path, config, "20240516.csv", "1,2024/05/16,1,a", "z,2024/05/16,1,b")
    newer = imported(tmp_path, config, "20240516.csv", "1,2024/05/16,1,c", "2,2024/05/16,1,d", "y")
    assert (older["rows_failed"], newer["rows_failed"]) == (1, 1), (older, newer)
    copy = tmp_path / "20240516.errors.csv"
    copy.write_text("member_no,date,sales_amount,note,行番号,エラー内容\n9,2024/05/16,1,b,3,誤り\n")
    refused = cli_import(config, copy)
    assert (refused["state"], refused["rows_imported"]) == ("failed", 0), refused
    assert f"行番号は実行 {older['id']} のエラーCSVのもの" in refused["message"], refused
    copy.write_text("member_no,date,sales_amount,note,行番号,エラー内容\n3,2024/05/16,1,e,4,誤り\n")
    joined = cli_import(config, copy)
    assert (joined["state"], joined["rows_imported"]) == ("completed", 1), joined


def test_a_nul_in_a_message_id_or_a_login_name_is_no_trouble_of_the_store(tmp_path, pg_url):
    """PostgreSQL's text holds no NUL: a mail whose Message-ID had one got `451` at
    every try (the resend check refused by the server, said as the spool down), and a
    console login typed with one an error page and no line in the audit log."""
    from tests.console_support import login_token, users_toml

    config = write_config(
        tmp_path,
        account("acme", report="never"),
        extra=f'[store]\nurl = "{pg_url}"\n' + users_toml({"admin": ("admin", [])}),
    )
    daemon = Daemon(config).start()
    try:
        msg = mail([("20240516.csv", csv_bytes(["1,2024/05/16,1,a"]))])
        msg["Message-ID"] = "<a\x00b@acme.example>"
        taken = []
        for _ in range(2):  # sent again: the first run again
            _, code, reply = send(daemon.smtp_port, msg.as_bytes())
            assert code == 250, reply
            taken += queued_ids(reply)
        assert taken[0] == taken[1]
        run = httpx.get(f"{daemon.api}/api/v1/runs/{taken[0]}?wait=true", headers=ADMIN).json()
        with psycopg.connect(pg_url) as db:
            assert db.execute("SELECT count(*) FROM runs").fetchone() == (1,), run
        with httpx.Client(base_url=daemon.api, timeout=30) as client:
            form = {"user": "adm\x00in", "password": "x", "token": login_token(client)}
            answer = client.post("/console/login", data=form)
        assert answer.status_code == 401, answer.text
        with psycopg.connect(pg_url) as db:
            sql = "SELECT \"user\", outcome FROM audit_log WHERE action = 'login'"
            assert db.execute(sql).fetchall() == [("admU+0000in", "failed")]
    finally:
        daemon.terminate()
