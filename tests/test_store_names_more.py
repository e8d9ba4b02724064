"""Names the store holds that a layout's table or key index cannot take: a key index
whose name another table's index already holds was silently not made (keyed imports
then ran without it), and a layout named like the primary key of one of renkei's own
tables was refused with the advice to drop that key. Both are refused by `renkei
check` and by the import (the same start of the store as `renkei serve`), with the key,
what holds the name and a way out that harms nothing."""

from __future__ import annotations

import contextlib
import signal
import sqlite3
import subprocess
from pathlib import Path

import psycopg
import pytest

from tests.support import Daemon, account, csv_bytes, renkei, wait_for, write_config

# Layout `a` keyed on `b__key_c` and layout `a__key_b` keyed on `c` both want the index
# `a__key_b__key_c`.
FIRST = (
    '[layouts.a]\nkey = ["b__key_c"]\ncolumns = [{ name = "b__key_c", type = "int" },'
    ' { name = "v" }]\n'
)
SECOND = (
    '[layouts.a__key_b]\nkey = ["c"]\ncolumns = [{ name = "c", type = "int" }, { name = "v" }]\n'
)
INDEX_SAID = (
    "layouts.a__key_b.key: レイアウト a__key_b のキーの索引 a__key_b__key_c を作れません:"
    " テーブル a の索引が同じ名前です"
)


def keyed(name: str, layout: str) -> str:
    return account(name, layout=layout, mode="upsert", filename="any", report="never")


def config_of(folder: Path, *parts: str, store: str = "") -> Path:
    """A config with the default account and `parts` (layouts and accounts) beside it."""
    return write_config(folder, account("acme", report="never"), extra=store + "".join(parts))


def imported(config: Path, name: str, header: str) -> subprocess.CompletedProcess:
    source = config.parent / f"{name}.csv"
    source.write_text(f"{header},v\n1,x\n")
    return renkei("import", str(source), "--account", name, "--config", str(config))


def refused(result: subprocess.CompletedProcess, said: str) -> None:
    out = result.stdout + result.stderr
    assert result.returncode != 0, out
    assert "Traceback" not in out, out
    assert said in out, out


def test_two_layouts_whose_key_indexes_share_a_name_are_refused_at_check(tmp_path):
    """Neither table exists yet: the config alone says the second index would not be
    made."""
    config = config_of(tmp_path, FIRST, SECOND, keyed("one", "a"), keyed("two", "a__key_b"))
    checked = renkei("check", "--config", str(config))
    refused(checked, INDEX_SAID)
    assert "レイアウトかキーの列の名前を変えてください" in checked.stderr
    refused(imported(config, "two", "c"), INDEX_SAID)


def test_a_key_index_name_another_tables_index_holds_is_refused(tmp_path):
    """Layout `a` imported first; `a__key_b` added later: its CREATE INDEX IF NOT
    EXISTS did nothing, its upserts ran without an index and nothing said so."""
    config = config_of(tmp_path, FIRST, keyed("one", "a"))
    assert imported(config, "one", "b__key_c").returncode == 0
    config.write_text(config.read_text() + SECOND + keyed("two", "a__key_b"))
    refused(renkei("check", "--config", str(config)), INDEX_SAID)
    refused(imported(config, "two", "c"), INDEX_SAID)
    served = renkei("serve", "--config", str(config), timeout=60)
    refused(served, INDEX_SAID)
    with contextlib.closing(sqlite3.connect(tmp_path / "var" / "renkei.db")) as db:
        made = db.execute("SELECT name FROM sqlite_master WHERE name = 'a__key_b'").fetchall()
    assert made == []  # refused before its table was made


def test_an_admins_own_index_of_the_key_index_name_is_refused_in_english(tmp_path):
    config = config_of(
        tmp_path,
        FIRST.replace("[layouts.a]", "[layouts.a_b]"),
        keyed("one", "a_b"),
        store='language = "en"\n',
    )
    assert imported(config, "one", "b__key_c").returncode == 0
    with contextlib.closing(sqlite3.connect(tmp_path / "var" / "renkei.db")) as db:
        db.execute('CREATE INDEX "a__key_b__key_c" ON a_b (v)')
        db.commit()
    config.write_text(config.read_text() + SECOND + keyed("two", "a__key_b"))
    said = (
        "layouts.a__key_b.key: layout a__key_b's key index a__key_b__key_c cannot be made:"
        " an index of table a_b has that name (keyed imports would run without their"
        " index); rename a layout or a key column"
    )
    refused(renkei("check", "--config", str(config)), said)
    refused(imported(config, "two", "c"), said)


def test_a_reload_adding_a_layout_whose_key_index_name_is_held_is_refused(tmp_path):
    config = config_of(tmp_path, FIRST, keyed("one", "a"), store='language = "en"\n')
    daemon = Daemon(config).start()
    try:
        daemon.notify.drain()
        daemon.notify.received.clear()
        config.write_text(config.read_text() + SECOND + keyed("two", "a__key_b"))
        daemon.proc.send_signal(signal.SIGHUP)
        daemon.notify.wait_for("RELOADING=1")
        daemon.notify.wait_for("READY=1")
        wait_for(lambda: "reload refused" in daemon.log.read_text())
        said = (
            "reload refused: layouts.a__key_b.key: layout a__key_b's key index"
            " a__key_b__key_c cannot be made: an index of table a has that name"
        )
        assert said in daemon.log.read_text()
        assert daemon.query("SELECT name FROM sqlite_master WHERE name = 'a__key_b'") == []
    finally:
        daemon.terminate()


def test_a_layouts_own_key_index_still_passes(tmp_path):
    config = config_of(tmp_path, FIRST, keyed("one", "a"))
    for _ in range(2):
        assert imported(config, "one", "b__key_c").returncode == 0
    checked = renkei("check", "--config", str(config))
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.slow
def test_a_key_index_name_another_tables_index_holds_is_refused_on_postgresql(tmp_path, pg_url):
    store = f'[store]\nurl = "{pg_url}"\n'
    config = config_of(tmp_path, FIRST, keyed("one", "a"), store=store)
    assert imported(config, "one", "b__key_c").returncode == 0
    config.write_text(config.read_text() + SECOND + keyed("two", "a__key_b"))
    refused(renkei("check", "--config", str(config)), INDEX_SAID)
    refused(imported(config, "two", "c"), INDEX_SAID)


@pytest.mark.slow
def test_an_admins_own_index_of_the_key_index_name_is_refused_on_postgresql(tmp_path, pg_url):
    store = f'[store]\nurl = "{pg_url}"\n'
    config = config_of(tmp_path, FIRST.replace("[layouts.a]", "[layouts.a_b]"), store=store)
    config.write_text(config.read_text() + keyed("one", "a_b"))
    assert imported(config, "one", "b__key_c").returncode == 0
    with psycopg.connect(pg_url) as db:
        db.execute('CREATE INDEX "a__key_b__key_c" ON a_b (v)')
    config.write_text(config.read_text() + SECOND + keyed("two", "a__key_b"))
    said = INDEX_SAID.replace("テーブル a の", "テーブル a_b の")
    refused(renkei("check", "--config", str(config)), said)
    refused(imported(config, "two", "c"), said)


# -- a layout named like a key of renkei's own tables ------------------------------------

RUNS_PKEY = '[layouts.runs_pkey]\ncolumns = [{ name = "c" }, { name = "v" }]\n'
KEPT_SAID = (
    "layouts.runs_pkey: runs_pkey は renkei 自身のテーブル runs のキーか行番号に PostgreSQL"
    " が付ける名前です。レイアウトを別の名前にしてください"
)
PLAIN = account("two", layout="runs_pkey", filename="any", report="never")


def never_says_drop(result: subprocess.CompletedProcess) -> None:
    out = result.stdout + result.stderr
    assert "削除" not in out and "drop" not in out.lower(), out


def test_a_layout_named_like_renkeis_primary_key_is_refused(tmp_path):
    """On SQLite no object holds `runs_pkey`, but the config would break on PostgreSQL:
    it is refused on both alike."""
    config = config_of(tmp_path, RUNS_PKEY, PLAIN)
    checked = renkei("check", "--config", str(config))
    refused(checked, KEPT_SAID)
    never_says_drop(checked)
    result = imported(config, "two", "c")
    refused(result, KEPT_SAID)
    never_says_drop(result)


def test_the_kept_name_is_said_in_english(tmp_path):
    config = config_of(tmp_path, RUNS_PKEY, PLAIN, store='language = "en"\n')
    said = (
        "layouts.run_undo_run_id_key: run_undo_run_id_key is the name PostgreSQL gives a key"
        " or the row id of renkei's own table run_undo; name the layout otherwise"
    )
    text = config.read_text().replace("runs_pkey", "run_undo_run_id_key")
    config.write_text(text)
    refused(renkei("check", "--config", str(config)), said)


@pytest.mark.slow
def test_a_layout_named_like_renkeis_primary_key_is_refused_on_postgresql(tmp_path, pg_url):
    """The index `runs_pkey` exists there: the refusal advised to drop it, that is to
    drop renkei's own primary key."""
    store = f'[store]\nurl = "{pg_url}"\n'
    config = config_of(tmp_path, store=store)
    source = tmp_path / "20240516.csv"
    source.write_bytes(csv_bytes(["1,2024/05/16,10,a"]))
    assert (
        renkei("import", str(source), "--account", "acme", "--config", str(config)).returncode == 0
    )
    config.write_text(config.read_text() + RUNS_PKEY + PLAIN)
    for result in (renkei("check", "--config", str(config)), imported(config, "two", "c")):
        refused(result, KEPT_SAID)
        never_says_drop(result)


@pytest.mark.slow
def test_a_layout_named_like_another_layouts_primary_key_is_refused_on_postgresql(tmp_path, pg_url):
    """`performance_pkey` is the primary key PostgreSQL gives layout performance's
    table: dropping it, as the refusal advised, breaks that table."""
    store = f'[store]\nurl = "{pg_url}"\n'
    layout = RUNS_PKEY.replace("runs_pkey", "performance_pkey")
    config = config_of(
        tmp_path, layout, PLAIN.replace("runs_pkey", "performance_pkey"), store=store
    )
    said = (
        "layouts.performance_pkey: performance_pkey はテーブル performance のキーか行番号に"
        " PostgreSQL が付ける名前です"
    )
    checked = renkei("check", "--config", str(config))
    refused(checked, said)
    never_says_drop(checked)


@pytest.mark.slow
def test_every_key_postgresql_names_for_renkeis_tables_is_kept(tmp_path, pg_url):
    """The names kept_for() knows are written out: checked against a fresh store's."""
    from daemon.settings.model import RESERVED_TABLES
    from daemon.store.objects import kept_for

    config = config_of(tmp_path, store=f'[store]\nurl = "{pg_url}"\n')
    source = tmp_path / "20240516.csv"
    source.write_bytes(csv_bytes(["1,2024/05/16,10,a"]))
    assert (
        renkei("import", str(source), "--account", "acme", "--config", str(config)).returncode == 0
    )
    with psycopg.connect(pg_url) as db:
        rows = db.execute(
            "SELECT relname FROM pg_class WHERE relnamespace = current_schema()::regnamespace"
            " AND relkind NOT IN ('r', 'p') AND relname NOT LIKE 'performance%'"
        ).fetchall()
    names = {name for (name,) in rows}
    assert "runs_pkey" in names
    assert sorted(n for n in names if n not in RESERVED_TABLES and not kept_for(n)) == []
