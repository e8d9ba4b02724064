"""The `renkei` command where its surroundings fail it: output that cannot be written
(stdout closed, a full disk), a terminal that is not UTF-8, a password that is no text,
a listen host that does not resolve, a store that cannot be opened. Each is said in the
catalog's words, without a traceback, and the exit says how the command itself went."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import (
    ROOT,
    account,
    csv_bytes,
    refused_port,
    renkei,
    unwritable,
    write_config,
)

LOST = "標準出力に書けませんでした"


@pytest.fixture
def config(tmp_path):
    return write_config(tmp_path, account("acme", filename="any"))


def data_file(folder: Path, name: str = "20240516.csv") -> Path:
    path = folder / name
    path.write_bytes(csv_bytes(["1,2024/05/16,10,a"]))
    return path


def run_with_stdout(args: list[str], how: str, **more) -> subprocess.CompletedProcess:
    """The command with its stdout closed (`>&-`) or on a full disk (`> /dev/full`)."""
    redirect = ">&-" if how == "closed" else "> /dev/full"
    command = [sys.executable, "-m", "daemon.cli", *args]
    return subprocess.run(
        ["sh", "-c", f'exec "$@" {redirect}', "sh", *command],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
        **more,
    )


# -- 1. output that cannot be written -----------------------------------------------------


@pytest.mark.parametrize("how", ["closed", "full"])
@pytest.mark.parametrize("args", [["check"], ["runs"]])
def test_output_that_cannot_be_written_is_said_and_the_command_fails(config, args, how):
    """`>&-` was an AttributeError ('NoneType' has no attribute 'flush'), /dev/full an
    OSError, each with a traceback."""
    result = run_with_stdout([*args, "--config", str(config)], how)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    why = "閉じられています" if how == "closed" else "ディスクに空きがありません"
    assert f"{LOST}({why})" in result.stderr, result.stderr


def test_help_into_a_full_disk_is_not_a_success(config):
    """`renkei --help > /dev/full` exited 0 and said nothing."""
    result = run_with_stdout(["--help"], "full")
    assert result.returncode == 1, result.stderr
    assert f"{LOST}(ディスクに空きがありません)" in result.stderr


@pytest.mark.parametrize("how", ["closed", "full"])
def test_an_import_whose_summary_is_lost_still_exits_0(tmp_path, config, how):
    """The import completed and its summary could not be printed: it exited 1, and a
    cron job that retries a failure imported the file twice."""
    args = ["import", str(data_file(tmp_path)), "--account", "acme", "--config", str(config)]
    result = run_with_stdout(args, how)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and LOST in result.stderr, result.stderr
    runs = json.loads(renkei("runs", "--json", "--config", str(config)).stdout)
    assert [(run["state"], run["rows_imported"]) for run in runs] == [("completed", 1)]


# -- 8. a terminal that is not UTF-8 --------------------------------------------------------


@pytest.mark.parametrize("encoding", ["euc_jp", "ascii"])
def test_runs_on_a_terminal_that_cannot_show_a_file_name(tmp_path, config, encoding):
    """㈱ and ① are not EUC-JP (nor ASCII): `renkei runs` died on them with a
    UnicodeEncodeError."""
    path = data_file(tmp_path, "㈱①_20240516.csv")
    imported = renkei("import", str(path), "--account", "acme", "--config", str(config))
    assert imported.returncode == 0, imported.stderr
    result = subprocess.run(
        [sys.executable, "-m", "daemon.cli", "runs", "--config", str(config)],
        cwd=ROOT,
        capture_output=True,
        timeout=60,
        env={**os.environ, "PYTHONIOENCODING": encoding},
    )
    assert result.returncode == 0, result.stderr.decode(encoding, "replace")
    assert b"Traceback" not in result.stderr
    assert "\\u3231\\u2460_20240516.csv" in result.stdout.decode(encoding)


# -- 7. a password that is not text ---------------------------------------------------------


@pytest.mark.parametrize("errors", ["surrogateescape", "strict"])
def test_a_password_of_bytes_not_in_the_terminals_encoding_is_refused(errors):
    """Read with surrogate escapes, hashing it was a UnicodeEncodeError; read strictly,
    a UnicodeDecodeError: a traceback either way."""
    result = subprocess.run(
        [sys.executable, "-m", "daemon.cli", "passwd", "--stdin"],
        cwd=ROOT,
        input=b"abc\xff\xfedefgh\n",
        capture_output=True,
        timeout=60,
        env={**os.environ, "PYTHONIOENCODING": f"utf-8:{errors}", "LANG": "C.UTF-8"},
    )
    said = result.stderr.decode()
    assert result.returncode == 1 and "Traceback" not in said, said
    assert result.stdout == b""
    assert said.strip() == (
        "パスワードが utf-8 の文字として読めません(不正なバイトがあります)。"
        "utf-8 の文字で入力してください"
    )


# -- 6. a listen host that does not resolve ----------------------------------------------


def test_a_listen_host_that_does_not_resolve_is_said_so(tmp_path):
    """getaddrinfo's EAI code was taken for an errno: 「システムのエラー -2: Unknown error -2」."""
    config = write_config(tmp_path, account("acme"))
    text = config.read_text().replace('listen = "127.0.0.1:', 'listen = "nosuch.invalid:', 1)
    config.write_text(text.replace('"demo-admin"', '"fx3-admin-token-not-demo"'))
    result = renkei("serve", "--config", str(config), timeout=60)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "-2" not in result.stderr, result.stderr
    port = text.split('listen = "nosuch.invalid:')[1].split('"')[0]
    # Said by the config check before anything binds (c19f9ce), in the same words.
    said = f"smtp.listen: 'nosuch.invalid:{port}' で待ち受けられません: そのホスト名は DNS で見つかりません"
    assert said in result.stderr, result.stderr


# -- 11. a store that cannot be opened, in the catalog's words --------------------------


def test_a_store_that_is_not_a_database_is_said_in_the_catalogs_words(tmp_path, config):
    store = tmp_path / "var" / "renkei.db"
    store.parent.mkdir()
    store.write_text("not a db\n" * 20)
    result = renkei("runs", "--config", str(config), timeout=60)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip() == (
        f"データベース {store} を読めません: データベースのファイルではないか、壊れています"
    )
    logged = renkei("runs", "--config", str(config), env={"RENKEI_LOG_LEVEL": "WARNING"})
    assert "file is not a database" in logged.stderr  # SQLite's own words: in the log only


def test_a_store_in_a_folder_it_may_not_write_is_said_so(tmp_path, config):
    """SQLite makes its -wal and -shm files beside the store: 「unable to open database
    file」 said nothing of why."""
    made = renkei("import", str(data_file(tmp_path)), "--account", "acme", "--config", str(config))
    assert made.returncode == 0, made.stderr
    data_dir = tmp_path / "var"
    for extra in ("renkei.db-wal", "renkei.db-shm"):
        (data_dir / extra).unlink(missing_ok=True)
    with unwritable(data_dir):
        result = renkei("runs", "--config", str(config), timeout=60)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip() == (
        f"データベース {data_dir / 'renkei.db'} を読めません:"
        f" フォルダー {data_dir} に書き込めません(権限がありません)"
    )


@pytest.mark.parametrize("host", ["refused", "unknown"])
def test_a_postgresql_server_not_reached_is_said_in_the_catalogs_words(tmp_path, host):
    with refused_port() as port:
        where = f"127.0.0.1:{port}" if host == "refused" else "nosuch.invalid"
        url = f"postgresql://renkei:secret-pass@{where}/renkei"
        config = write_config(tmp_path, account("acme"), extra=f'[store]\nurl = "{url}"\n')
        result = renkei("runs", "--config", str(config), timeout=60)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    why = "接続を拒否されました" if host == "refused" else "そのホスト名は DNS で見つかりません"
    assert f"データベース postgresql://renkei:***@{where}/renkei に接続できません: {why}" in (
        result.stderr
    )
    assert "Connection refused" not in result.stderr and "resolve" not in result.stderr


# -- 5. the admin token's words ------------------------------------------------------------


@pytest.mark.parametrize("command", ["poll", "retry"])
def test_the_admin_token_is_named_with_a_space_before_the_japanese(tmp_path, command):
    """「RENKEI_ADMIN_TOKENを設定」: a space was missing between the name and を."""
    config = write_config(tmp_path, account("acme"))
    config.write_text(config.read_text().replace('admin_token = "demo-admin"', ""))
    args = ["poll", "acme"]
    if command == "retry":
        path = str(data_file(tmp_path))
        made = renkei("import", path, "--account", "acme", "--json", "--config", str(config))
        args = ["retry", json.loads(made.stdout)["id"]]
    result = renkei(*args, "--config", str(config), env={"RENKEI_ADMIN_TOKEN": ""})
    assert result.returncode == 2, result.stderr
    assert "管理トークンが必要です: RENKEI_ADMIN_TOKEN を設定するか" in result.stderr
