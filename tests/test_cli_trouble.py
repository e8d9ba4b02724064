"""The `renkei` command meeting trouble outside its config: a damaged store, a file it
cannot read. Each is said in one line of the catalog's words and the command ends."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from tests.support import ROOT, account, csv_bytes, renkei, write_config

COMMANDS = {
    "runs": ["runs"],
    "show": ["show", "abc"],
    "import": ["import", "{file}", "--account", "acme"],
    "serve": ["serve"],
}


@pytest.fixture
def config(tmp_path):
    return write_config(tmp_path, account("acme"))


def data_file(tmp_path, name: str = "20240516.csv"):
    path = tmp_path / name
    path.write_bytes(csv_bytes(["1,2024/05/16,10,a"]))
    return path


def damage(store, how: str) -> None:
    store.parent.mkdir(parents=True)
    if how == "garbage":
        store.write_text("not a db\n")
    else:
        store.mkdir()


@pytest.mark.parametrize("how", ["garbage", "folder"])
@pytest.mark.parametrize("command", COMMANDS)
def test_a_damaged_store_is_said_in_one_line_and_the_command_ends(tmp_path, config, command, how):
    """A store SQLite cannot open printed a traceback, and its connection's thread kept
    the process alive until it was killed (serve too)."""
    store = tmp_path / "var" / "renkei.db"
    damage(store, how)
    args = [arg.format(file=data_file(tmp_path)) for arg in COMMANDS[command]]
    result = renkei(*args, "--config", str(config), timeout=60)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert "Event loop is closed" not in result.stderr
    why = (
        "データベースのファイルではないか、壊れています"
        if how == "garbage"
        else "ファイルではなくフォルダーです"
    )
    assert result.stderr.splitlines()[-1] == f"データベース {store} を読めません: {why}"


@pytest.mark.parametrize("how", ["garbage", "folder"])
def test_check_warns_of_a_damaged_store_without_a_traceback(tmp_path, how):
    # Its read-only look at the tables left aiosqlite's failed thread to report to a
    # closed loop: "RuntimeError: Event loop is closed", with a traceback. The README's
    # example config, whose check takes long enough after that look for it to show.
    example = (ROOT / "config" / "renkei.example.toml").read_text(encoding="utf-8")
    config = tmp_path / "renkei.toml"
    config.write_text(example.replace('"../var"', f'"{tmp_path / "var"}"'), encoding="utf-8")
    damage(tmp_path / "var" / "renkei.db", how)
    result = renkei("check", "--config", str(config), timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "Event loop is closed" not in result.stderr
    assert "を読めません" in result.stdout + result.stderr


def test_a_file_that_is_no_regular_file_is_not_said_to_be_missing(tmp_path, config):
    fifo = tmp_path / "20240530.csv"
    os.mkfifo(fifo)
    result = renkei("import", str(fifo), "--account", "acme", "--config", str(config))
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip() == (
        f"{fifo}: 通常のファイルではありません(名前付きパイプやデバイスなど)。"
        "取り込むファイルを指定してください"
    )


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv (util-linux) is missing")
def test_a_file_the_command_may_not_read_is_said_so(tmp_path, config):
    """Run without the capabilities that let root read any file, as a user would be."""
    locked = data_file(tmp_path)
    locked.chmod(0)
    as_a_user = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]
    cli = ["-m", "daemon.cli", "import", str(locked), "--account", "acme", "--config", str(config)]
    result = subprocess.run(
        [*as_a_user, sys.executable, *cli], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip() == f"{locked}: ファイルを読めません(権限がありません)"
