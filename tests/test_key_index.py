"""A layout's key index follows its key: a key changed or removed in the config drops
the index the old key had (every import kept it up to date for nothing), and a layout
named like an index the database still holds is refused with its key and a way out,
by `renkei check` and by the import, where its table's CREATE was a traceback."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import psycopg
import pytest

from tests.support import account, cli_import, csv_bytes, renkei, write_config

KEYED = '[layouts.performance]\nkey = ["member_no"]'
KEYED_TWICE = '[layouts.performance]\nkey = ["member_no", "date"]'


def keyed_import(folder: Path, key: str, extra: str = "") -> Path:
    config = write_config(folder, account("acme", mode="upsert", report="never"), extra=extra)
    config.write_text(config.read_text().replace("[layouts.performance]", key))
    source = folder / "20240516.csv"
    source.write_bytes(csv_bytes(["1,2024/05/16,10,a"]))
    assert cli_import(config, source)["state"] == "completed"
    return config


def rekeyed(config: Path, old: str, new: str) -> Path:
    text = config.read_text()
    assert old in text
    config.write_text(text.replace(old, new))
    return config


def sqlite_indexes(folder: Path) -> list[str]:
    with contextlib.closing(sqlite3.connect(folder / "var" / "renkei.db")) as db:
        rows = db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'performance'"
        ).fetchall()
    return sorted(name for (name,) in rows)


def pg_indexes(url: str) -> list[str]:
    with psycopg.connect(url) as db:
        rows = db.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'performance'"
        ).fetchall()
    return sorted(name for (name,) in rows if "__key_" in name)


def test_a_changed_key_drops_the_old_keys_index(tmp_path):
    config = keyed_import(tmp_path, KEYED)
    assert sqlite_indexes(tmp_path) == ["performance__key_member_no"]
    rekeyed(config, KEYED, KEYED_TWICE)
    assert cli_import(config, tmp_path / "20240516.csv")["state"] == "completed"
    assert sqlite_indexes(tmp_path) == ["performance__key_member_no_date"]


def test_a_key_removed_drops_its_index(tmp_path):
    config = keyed_import(tmp_path, KEYED)
    rekeyed(config, KEYED, "[layouts.performance]")
    rekeyed(config, 'mode = "upsert"', 'mode = "replace_file"')
    assert cli_import(config, tmp_path / "20240516.csv")["state"] == "completed"
    assert sqlite_indexes(tmp_path) == []


def renamed_to_the_index(config: Path) -> Path:
    """The config with its layout named like the key index its old table still has."""
    rekeyed(config, KEYED, '[layouts."performance__key_member_no"]\nkey = ["member_no"]')
    return rekeyed(config, 'layout = "performance"', 'layout = "performance__key_member_no"')


def test_a_layout_named_like_an_index_in_the_database_is_refused_clearly(tmp_path):
    config = renamed_to_the_index(keyed_import(tmp_path, KEYED))
    checked = renkei("check", "--config", str(config), timeout=60)
    assert checked.returncode == 1, checked.stdout + checked.stderr
    said = checked.stdout + checked.stderr
    assert (
        "layouts.performance__key_member_no: レイアウト performance__key_member_no のテーブルを"
        "作れません: データベースに同じ名前の索引があります" in said
    )
    imported = renkei(
        "import", str(tmp_path / "20240516.csv"), "--account", "acme", "--config", str(config)
    )
    assert imported.returncode != 0
    assert "Traceback" not in imported.stderr
    assert "同じ名前の索引があります" in imported.stdout + imported.stderr


def test_the_refusal_is_said_in_english(tmp_path):
    config = renamed_to_the_index(keyed_import(tmp_path, KEYED, extra='language = "en"\n'))
    checked = renkei("check", "--config", str(config), timeout=60)
    assert checked.returncode == 1
    assert (
        "layout performance__key_member_no cannot have its table: the database has an object"
        " of that name (index; such as the key index of a layout removed from the config)"
        in checked.stderr
    )


@pytest.mark.slow
def test_a_changed_key_drops_the_old_index_on_postgresql(tmp_path, pg_url):
    config = keyed_import(tmp_path, KEYED, extra=f'[store]\nurl = "{pg_url}"\n')
    assert pg_indexes(pg_url) == ["performance__key_member_no"]
    rekeyed(config, KEYED, KEYED_TWICE)
    assert cli_import(config, tmp_path / "20240516.csv")["state"] == "completed"
    assert pg_indexes(pg_url) == ["performance__key_member_no_date"]
    rekeyed(config, KEYED_TWICE, KEYED)
    assert cli_import(config, tmp_path / "20240516.csv")["state"] == "completed"
    assert pg_indexes(pg_url) == ["performance__key_member_no"]
    checked = renkei("check", "--config", str(renamed_to_the_index(config)), timeout=60)
    assert checked.returncode == 1
    assert "データベースに同じ名前の索引があります" in checked.stderr


LONG = "y" * 59 + "a"  # 60 characters: its key index's name passes 63 bytes


def test_a_long_layouts_key_index_is_named_within_what_postgresql_keeps(tmp_path):
    """Cut at 63 bytes by PostgreSQL, a 63-character layout's index took its own
    table's name and was never made, and a layout named like a cut index passed
    check: the name is cut by renkei, told apart by a hash of the whole."""
    config = keyed_import(tmp_path, KEYED)
    text = config.read_text().replace(KEYED, f'[layouts.{LONG}]\nkey = ["member_no"]')
    config.write_text(text.replace('layout = "performance"', f'layout = "{LONG}"'))
    assert cli_import(config, tmp_path / "20240516.csv")["state"] == "completed"
    with contextlib.closing(sqlite3.connect(tmp_path / "var" / "renkei.db")) as db:
        [(name,)] = db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?", (LONG,)
        ).fetchall()
    assert len(name.encode()) <= 63 and name.startswith(LONG[:40] + "__key_"), name


def test_a_layout_name_over_63_characters_is_said_so(tmp_path):
    config = keyed_import(tmp_path, KEYED)
    name = "z" * 64
    config.write_text(config.read_text().replace("[layouts.performance]", f"[layouts.{name}]"))
    checked = renkei("check", "--config", str(config))
    assert checked.returncode == 1
    assert "英数字と _ で 63 文字までで書いてください" in checked.stderr


OTHER = '[layouts.performance__key_member_no]\ncolumns = [{ name = "x", type = "int" }]\n'


def test_a_key_whose_index_a_tables_name_holds_is_refused_clearly(tmp_path):
    """A layout `performance__key_member_no` once imported, then removed, and the key
    `member_no` given to `performance`: CREATE INDEX met the table, a traceback."""
    extra = OTHER + account("other", layout="performance__key_member_no", filename="any")
    config = write_config(tmp_path, account("acme", report="never"), extra=extra)
    source = tmp_path / "x.csv"
    source.write_text("x\n1\n")
    result = renkei("import", str(source), "--account", "other", "--config", str(config))
    assert result.returncode == 0, result.stderr
    text = config.read_text().replace(extra, "").replace("[layouts.performance]", KEYED)
    config.write_text(text.replace('report = "never"', 'report = "never"\nmode = "upsert"'))
    said = (
        "layouts.performance.key: レイアウト performance のキーの索引 performance__key_member_no"
        " を作れません: データベースに同じ名前のテーブルがあります"
    )
    checked = renkei("check", "--config", str(config))
    assert checked.returncode == 1 and said in checked.stderr, checked.stdout + checked.stderr
    source.write_bytes(csv_bytes(["1,2024/05/16,10,a"]))
    result = renkei("import", str(source), "--account", "acme", "--config", str(config))
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert said in result.stdout + result.stderr


@pytest.mark.slow
def test_a_layout_named_with_key_in_it_keeps_its_primary_key_on_postgresql(tmp_path, pg_url):
    """Every index with `__key_` in its name was taken for an old key index: the
    primary key of a layout `x__key_y` was dropped at start, a traceback."""
    extra = f'[store]\nurl = "{pg_url}"\n' + OTHER
    extra += account("other", layout="performance__key_member_no", filename="any")
    config = write_config(tmp_path, account("acme", report="never"), extra=extra)
    source = tmp_path / "x.csv"
    source.write_text("x\n1\n")
    for _ in range(2):
        result = renkei("import", str(source), "--account", "other", "--config", str(config))
        assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    with psycopg.connect(pg_url) as db:
        [(pkey,)] = db.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'performance__key_member_no'"
        ).fetchall()
    assert pkey == "performance__key_member_no_pkey"


def test_check_passes_a_layout_named_like_the_old_index_start_drops_first(tmp_path):
    """The key removed and a layout named like its old index in one edit: start drops
    the old index before it makes any table, but check refused the edit."""
    config = keyed_import(tmp_path, KEYED)
    rekeyed(config, KEYED, "[layouts.performance]")
    rekeyed(config, 'mode = "upsert"', 'mode = "replace_file"')
    config.write_text(config.read_text() + OTHER)
    checked = renkei("check", "--config", str(config))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert cli_import(config, tmp_path / "20240516.csv")["state"] == "completed"
