"""What the system refused, in the catalog's words: a config that cannot be read, a
daemon that does not answer `renkei poll`, a `renkei show --save` that cannot write.
The operating system's own text is English whatever the config's language."""

from __future__ import annotations

import json

import pytest

from tests.support import account, csv_bytes, renkei, write_config

WORDS = {
    "not_folder": {
        "ja": "途中にフォルダーでないものがあります",
        "en": "a part of the path is not a folder",
    },
    "refused": {"ja": "接続を拒否されました", "en": "connection refused"},
}


def configured(tmp_path, language: str):
    config = write_config(tmp_path, account("acme"))
    text = config.read_text(encoding="utf-8")
    text = text.replace("[report]\n", f'[report]\nlanguage = "{language}"\n')
    config.write_text(text, encoding="utf-8")
    return config


def test_a_config_under_a_file_is_unreadable_in_words(tmp_path):
    (tmp_path / "etc").write_text("a file, not the config's folder")
    result = renkei("check", "--config", str(tmp_path / "etc" / "renkei.toml"))
    assert result.returncode == 1
    said = result.stdout + result.stderr
    assert f"設定ファイルを読めません: {WORDS['not_folder']['ja']}" in said, said
    assert "Not a directory" not in said


@pytest.mark.parametrize("language", ["ja", "en"])
def test_poll_without_a_daemon_says_the_connection_was_refused(tmp_path, language):
    # The config's API port is a free one, where no daemon listens.
    config = configured(tmp_path, language)
    result = renkei("poll", "acme", "--config", str(config))
    assert result.returncode == 1, result.stderr
    assert WORDS["refused"][language] in result.stderr, result.stderr
    assert "Errno" not in result.stderr and "Connection refused" not in result.stderr


def test_show_save_that_cannot_write_says_why_in_words(tmp_path):
    config = configured(tmp_path, "ja")
    source = tmp_path / "20240516.csv"
    source.write_bytes(csv_bytes(["1,2024/05/16,10,a"]))
    result = renkei("import", str(source), "--account", "acme", "--json", "--config", str(config))
    assert result.returncode == 0, result.stderr
    run_id = json.loads(result.stdout)["id"]
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "plain").write_text("a file")
    # The copy's own name leads through a file: the system refuses to write it.
    (out / "20240516.csv").symlink_to(tmp_path / "plain" / "20240516.csv")
    result = renkei("show", run_id, "--save", str(out), "--config", str(config))
    assert result.returncode == 1, result.stderr
    said = f"--save: {out} に保存できません: {WORDS['not_folder']['ja']}"
    assert said in result.stderr, result.stderr
    assert "Not a directory" not in result.stderr
