"""A store's schema version against this renkei's migrations: a store newer than this
renkei is refused by every opener; one behind it is upgraded by `renkei serve` and by a
command with no daemon beside it, never by a command under a running daemon (SQLite)
nor by any command (PostgreSQL, whose instances on other hosts cannot be seen).

Real commands (`renkei runs`, `renkei import`, `renkei serve`) in processes of their own.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from pathlib import Path

import psycopg

from daemon.store.schema import MIGRATIONS
from importers.messages import message
from tests.support import Daemon, account, renkei, write_config

KNOWN = len(MIGRATIONS)


def _config(tmp_path: Path, extra: str = "") -> Path:
    return write_config(tmp_path, account("acme", report="never"), extra=extra)


def _version(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("PRAGMA user_version").fetchone()[0]


def _set_version(db: Path, version: int) -> None:
    conn = sqlite3.connect(db)
    try:
        conn.execute(f"PRAGMA user_version = {version}")
    finally:
        conn.close()


def _store_one_behind(db: Path) -> None:
    """The store an older renkei left: the migrations but the last, as migrate runs them."""
    db.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        for number, script in enumerate(MIGRATIONS[:-1], start=1):
            for statement in filter(str.strip, script.split(";")):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number}")
    finally:
        conn.close()


def _hold_serve_lock(data_dir: Path) -> int:
    """The lock a running `renkei serve` keeps on data_dir (daemon/serving.py hold)."""
    fd = os.open(data_dir / "serve.lock", os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _runs(config: Path) -> list[tuple]:
    with sqlite3.connect(config.parent / "var" / "renkei.db") as conn:
        return conn.execute("SELECT id FROM runs").fetchall()


def test_a_store_newer_than_this_renkei_is_refused_by_every_command_and_serve(tmp_path):
    config = _config(tmp_path)
    db = tmp_path / "var" / "renkei.db"
    assert renkei("runs", "--config", str(config)).returncode == 0
    assert not db.exists()  # no store yet: `runs` does not make one
    csv = tmp_path / "20240516.csv"
    csv.write_text("member_no,date,sales_amount,note\n1,2024/05/16,1,x\n", encoding="utf-8")
    first = renkei("import", str(csv), "--account", "acme", "--config", str(config))
    assert first.returncode == 0, first.stderr
    assert _version(db) == KNOWN
    _set_version(db, KNOWN + 1)
    said = message("store.schema_newer", "ja", where=db, version=KNOWN + 1, known=KNOWN)

    runs = renkei("runs", "--config", str(config))
    assert runs.returncode == 3  # systemd/renkei.service: RestartPreventExitStatus=3
    assert said in runs.stderr and "Traceback" not in runs.stderr
    assert f"バージョン {KNOWN + 1}" in runs.stderr and "より新しい renkei" in runs.stderr

    again = renkei("import", str(csv), "--account", "acme", "--config", str(config))
    assert again.returncode == 3
    assert said in again.stderr
    assert len(_runs(config)) == 1  # nothing written

    served = renkei("serve", "--config", str(config), timeout=90)
    assert served.returncode == 3
    assert said in served.stderr and "Traceback" not in served.stderr
    assert _version(db) == KNOWN + 1 and len(_runs(config)) == 1

    english = config.read_text().replace("[report]\n", '[report]\nlanguage = "en"\n')
    config.write_text(english)
    runs = renkei("runs", "--config", str(config))
    assert runs.returncode == 3
    assert f"schema version {KNOWN + 1}" in runs.stderr and "use a newer renkei" in runs.stderr


def test_a_command_does_not_upgrade_a_store_a_running_daemon_uses(tmp_path):
    config = _config(tmp_path)
    data_dir = tmp_path / "var"
    db = data_dir / "renkei.db"
    _store_one_behind(db)
    fd = _hold_serve_lock(data_dir)
    try:
        refused = renkei("runs", "--limit", "1", "--config", str(config))
    finally:
        os.close(fd)
    assert refused.returncode == 1
    said = message("store.schema_behind", "ja", where=db, version=KNOWN - 1, known=KNOWN)
    assert said in refused.stderr and "Traceback" not in refused.stderr
    assert "systemctl restart renkei" in refused.stderr
    assert _version(db) == KNOWN - 1

    # No daemon: the admin's command after an upgrade with the service stopped upgrades.
    upgraded = renkei("runs", "--limit", "1", "--config", str(config))
    assert upgraded.returncode == 0, upgraded.stderr
    assert _version(db) == KNOWN


def test_the_daemon_upgrades_the_store_it_holds(tmp_path):
    config = _config(tmp_path)
    db = tmp_path / "var" / "renkei.db"
    _store_one_behind(db)
    daemon = Daemon(config).start()
    try:
        assert _version(db) == KNOWN
    finally:
        daemon.terminate()


def _pg_version(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT version FROM renkei_schema").fetchone()[0]


def _set_pg_version(url: str, version: int) -> None:
    with psycopg.connect(url) as conn:
        conn.execute("UPDATE renkei_schema SET version = %s", (version,))


def test_postgresql_schema_newer_or_behind_is_refused_by_a_command(tmp_path, pg_url):
    config = _config(tmp_path, extra=f'[store]\nurl = "{pg_url}"\n')
    fresh = renkei("runs", "--config", str(config))
    assert fresh.returncode == 0, fresh.stderr  # an empty database: any opener builds it
    assert _pg_version(pg_url) == KNOWN

    _set_pg_version(pg_url, KNOWN + 1)
    newer = renkei("runs", "--config", str(config))
    assert newer.returncode == 3
    assert f"バージョン {KNOWN + 1}" in newer.stderr and "より新しい renkei" in newer.stderr
    served = renkei("serve", "--config", str(config), timeout=90)
    assert served.returncode == 3
    assert "より新しい renkei" in served.stderr and "Traceback" not in served.stderr
    assert _pg_version(pg_url) == KNOWN + 1

    _set_pg_version(pg_url, KNOWN - 1)
    behind = renkei("runs", "--config", str(config))
    assert behind.returncode == 1
    assert "systemctl restart renkei" in behind.stderr
    assert f"バージョン {KNOWN - 1}" in behind.stderr
    assert _pg_version(pg_url) == KNOWN - 1


def test_rows_a_first_version_store_holds_are_replaced_by_the_same_file_after_upgrade(tmp_path):
    """The first renkei replaced a file's rows by (_account, _source_file); `sources`,
    which every later one finds them by, was made empty: a file sent again after the
    upgrade added its rows beside the old ones (3 rows where 1 was sent)."""
    config = _config(tmp_path)
    db = tmp_path / "var" / "renkei.db"
    db.parent.mkdir()
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        for statement in filter(str.strip, MIGRATIONS[0].split(";")):
            conn.execute(statement)
        conn.execute("PRAGMA user_version = 1")
        conn.execute(
            "CREATE TABLE performance (member_no INTEGER, date TEXT, sales_amount INTEGER,"
            " note TEXT, _account TEXT NOT NULL, _source_file TEXT NOT NULL,"
            " _run_id TEXT NOT NULL)"
        )
        for run, name, rows in (("old-1", "20240516.csv", 2), ("old-2", "20240517.csv", 1)):
            conn.execute(
                "INSERT INTO runs (id, account, channel, filename, layout, state,"
                " rows_total, rows_imported, received_at) VALUES"
                " (?, 'acme', 'mail', ?, 'performance', 'completed', ?, ?, '2024-05-16T09:00')",
                (run, name, rows, rows),
            )
            for i in range(rows):
                conn.execute(
                    "INSERT INTO performance VALUES (?, '2024-05-16', 1, 'old', 'acme', ?, ?)",
                    (i + 1, name, run),
                )
    finally:
        conn.close()
    csv = tmp_path / "20240516.csv"
    csv.write_text("member_no,date,sales_amount,note\n9,2024/05/16,1,new\n", encoding="utf-8")
    result = renkei("import", str(csv), "--account", "acme", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert _version(db) == KNOWN
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT member_no, note, _source_file FROM performance ORDER BY rowid"
        ).fetchall()
    assert rows == [(1, "old", "20240517.csv"), (9, "new", "20240516.csv")]
