"""`renkei check` against the store: a layout column whose type the table does not
store is refused as start and reload refuse it; the store is only looked at (never
made, migrated or locked); a store it cannot look at is a warning. And a keyed layout
written by a mode that never matches keys is a warning."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import psycopg
import pytest

from tests.support import (
    Daemon,
    account,
    cli_import,
    csv_bytes,
    refused_port,
    renkei,
    write_config,
)

MEMBER_NO_INT = 'name = "member_no",    type = "int"'
MEMBER_NO_TEXT = 'name = "member_no",    type = "text"'
KEYED = '[layouts.performance]\nkey = ["member_no"]'


def imported(folder: Path, extra: str = "", **keys: str) -> Path:
    """A config whose store `renkei import` has made, with the layout's table in it."""
    config = write_config(folder, account("acme", report="never", **keys), extra=extra)
    source = folder / "20240516.csv"
    source.write_bytes(csv_bytes(["1,2024/05/16,10,a"]))
    assert cli_import(config, source)["state"] == "completed"
    return config


def retyped(config: Path) -> Path:
    """The config with member_no (an INTEGER column in the table) made a text column."""
    text = config.read_text(encoding="utf-8")
    assert MEMBER_NO_INT in text
    config.write_text(text.replace(MEMBER_NO_INT, MEMBER_NO_TEXT), encoding="utf-8")
    return config


def check(config: Path, **env: str) -> tuple[int, str]:
    result = renkei("check", "--config", str(config), env=env, timeout=60)
    assert "Traceback" not in result.stderr
    return result.returncode, result.stdout + result.stderr


def test_check_refuses_a_column_whose_type_the_table_does_not_store(tmp_path):
    config = retyped(imported(tmp_path))
    db = tmp_path / "var" / "renkei.db"
    before = db.read_bytes()
    code, said = check(config)
    assert code == 1, said
    assert "設定に 1 件の問題があります" in said
    assert (
        "layouts.performance.columns.0.type: 列 member_no を text にできません:"
        " テーブルの列は INTEGER で、TEXT の値を入れると" in said
    )
    assert "問題ありません" not in said
    # Only looked at: not written, and no WAL files left behind for a daemon to meet.
    assert db.read_bytes() == before
    assert sorted(p.name for p in db.parent.glob("renkei.db*")) == ["renkei.db"]


def test_check_says_the_type_change_in_english(tmp_path):
    config = retyped(imported(tmp_path, extra='language = "en"\n'))
    code, said = check(config)
    assert code == 1, said
    assert (
        "layouts.performance.columns.0.type: column member_no cannot become text:"
        " its table column is INTEGER, and TEXT values would sit beside the old ones" in said
    )


def test_check_beside_a_running_daemon_reads_its_store_without_waiting(tmp_path):
    config = imported(tmp_path)
    daemon = Daemon(config).start()
    try:
        assert check(config)[0] == 0
        code, said = check(retyped(config))
        assert code == 1, said
        assert "layouts.performance.columns.0.type" in said
    finally:
        assert daemon.terminate() == 0


def test_check_of_a_store_not_made_yet_compares_nothing_and_makes_nothing(tmp_path):
    config = retyped(write_config(tmp_path, account("acme")))
    code, said = check(config)
    assert code == 0, said
    assert "問題ありません" in said
    assert not (tmp_path / "var").exists()


def test_check_of_a_store_from_a_newer_renkei_warns_and_passes(tmp_path):
    config = retyped(imported(tmp_path))
    with contextlib.closing(sqlite3.connect(tmp_path / "var" / "renkei.db")) as db:
        db.execute("PRAGMA user_version = 999")
    code, said = check(config)
    assert code == 0, said
    assert (
        "daemon.data_dir: レイアウトの列の型をデータベースのテーブルと照合できませんでした" in said
    )
    assert "スキーマはバージョン 999" in said
    assert "問題ありません" in said


def test_check_warns_of_a_keyed_layout_written_by_replace_file(tmp_path):
    config = write_config(tmp_path, account("acme", mode="replace_file"))
    config.write_text(config.read_text().replace("[layouts.performance]", KEYED))
    code, said = check(config)
    assert code == 0, said
    assert "設定に 1 件の警告があります" in said
    assert (
        "accounts.acme.mode: アカウント acme はキー (member_no) のあるレイアウト performance に"
        " replace_file で書き込みます" in said
    )
    assert 'mode = "upsert" にしてください' in said
    assert "問題ありません" in said


def test_check_warns_of_a_request_parameter_that_inserts_into_a_keyed_layout(tmp_path):
    api = '[accounts.acme.api]\ntoken = "demo-acme-api"\nparams = { kind = { "1" = { mode = "insert" } } }\n'
    config = write_config(tmp_path, account("acme", mode="upsert") + api, extra='language = "en"\n')
    config.write_text(config.read_text().replace("[layouts.performance]", KEYED))
    code, said = check(config)
    assert code == 0, said
    assert (
        "accounts.acme.api.params.kind.1.mode: account acme writes layout performance,"
        " which has a key (member_no), in mode insert" in said
    )
    assert "accounts.acme.mode:" not in said  # upsert matches keys


def test_a_table_made_by_hand_under_a_layouts_name_is_refused_by_check_and_start(tmp_path):
    """It passed both; every file then failed on the columns renkei keeps beside the
    rows, three tracebacks each, and was quarantined saying nothing of why."""
    config = write_config(tmp_path, account("acme", report="never"))
    (tmp_path / "var").mkdir()
    with contextlib.closing(sqlite3.connect(tmp_path / "var" / "renkei.db")) as db:
        db.execute("CREATE TABLE performance (member_no INTEGER PRIMARY KEY, date TEXT)")
    code, said = check(config)
    assert code == 1, said
    assert (
        "layouts.performance: レイアウト performance のテーブルは renkei が作ったものでは"
        "ありません(renkei の列 _account, _source_file, _run_id がありません)" in said
    )
    served = renkei("serve", "--config", str(config), timeout=60)
    assert served.returncode == 1 and "Traceback" not in served.stderr, served.stderr
    assert "renkei が作ったものではありません" in served.stderr


# -- PostgreSQL (tests/postgres.py: skipped without a server, except in CI) -------------


@pytest.mark.slow
def test_check_refuses_a_type_change_against_postgresql(tmp_path, pg_url):
    config = retyped(imported(tmp_path, extra=f'[store]\nurl = "{pg_url}"\n'))
    code, said = check(config)
    assert code == 1, said
    assert (
        "layouts.performance.columns.0.type: 列 member_no を text にできません:"
        " テーブルの列は BIGINT で、TEXT の値を入れると" in said
    )


@pytest.mark.slow
def test_a_role_granted_the_rows_but_not_owning_the_tables_imports(tmp_path, pg_url):
    """CREATE INDEX IF NOT EXISTS needs the table's owner, even with the index there:
    such a role could not start renkei or import, a traceback each time."""
    assert keyed_import(tmp_path / "owner", pg_url, "2,2024/05/17,20,b")["state"] == "completed"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("DROP ROLE IF EXISTS renkei_rows")
        conn.execute("CREATE ROLE renkei_rows LOGIN")
        conn.execute("GRANT ALL ON ALL TABLES IN SCHEMA public TO renkei_rows")
        conn.execute("GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO renkei_rows")
        conn.execute("GRANT CREATE ON SCHEMA public TO renkei_rows")
    rows_url = "postgresql://renkei_rows@" + pg_url.split("://", 1)[1].split("@", 1)[1]
    run = keyed_import(tmp_path / "rows", rows_url, "3,2024/05/18,30,c")
    assert (run["state"], run["rows_inserted"]) == ("completed", 1), run["message"]


def keyed_import(folder: Path, url: str, row: str) -> dict:
    """`row` upserted by `renkei import` into the keyed layout on the store at `url`."""
    folder.mkdir()
    config = write_config(
        folder, account("acme", report="never", mode="upsert"), extra=f'[store]\nurl = "{url}"\n'
    )
    text = config.read_text(encoding="utf-8").replace("[layouts.performance]", KEYED)
    config.write_text(text, encoding="utf-8")
    source = folder / "20240518.csv"
    source.write_bytes(csv_bytes([row]))
    return cli_import(config, source)


def test_check_of_an_unreachable_postgresql_warns_without_a_traceback(tmp_path):
    with refused_port() as port:
        url = f"postgresql://renkei:secret-pass@127.0.0.1:{port}/renkei"
        config = write_config(tmp_path, account("acme"), extra=f'[store]\nurl = "{url}"\n')
        code, said = check(config)
    assert code == 0, said
    assert "store.url: レイアウトの列の型をデータベースのテーブルと照合できませんでした" in said
    assert f"データベース postgresql://renkei:***@127.0.0.1:{port}/renkei に接続できません" in said
    assert "secret-pass" not in said
    assert "問題ありません" in said


def test_runs_are_read_from_a_postgresql_server_that_is_read_only(tmp_path, pg_url):
    """A server made read-only (a replica promoted, a failover under way): every command,
    `renkei runs` too, said it could not connect, for the CREATE TABLE IF NOT EXISTS
    each open ran on schema already there."""
    config = imported(tmp_path, extra=f'[store]\nurl = "{pg_url}"\n')
    database = pg_url.rsplit("/", 1)[1]
    with psycopg.connect(pg_url, autocommit=True) as db:
        db.execute(f'ALTER DATABASE "{database}" SET default_transaction_read_only = on')
    try:
        result = renkei("runs", "--config", str(config))
        assert result.returncode == 0, result.stderr
        assert "20240516.csv" in result.stdout and "完了" in result.stdout
    finally:
        with psycopg.connect(pg_url, autocommit=True) as db:
            db.execute("SET default_transaction_read_only = off")
            db.execute(f'ALTER DATABASE "{database}" SET default_transaction_read_only = off')
