"""The command line's own words from the catalog: `--help`, the usage line and
argparse's refusals in Japanese by default, in English for a config whose
report.language is "en" or, with no config to read, for an English locale; a usage
error still exits 2. `renkei show --save DIR` makes DIR, never a missing parent."""

from __future__ import annotations

import argparse
import gettext

import pytest
from rich.cells import cell_len

from importers.messages import message
from tests.support import account, csv_bytes, renkei, write_config

JAPANESE = {"LC_ALL": "", "LC_MESSAGES": "", "LANG": "C.UTF-8"}
ENGLISH = {"LC_ALL": "", "LC_MESSAGES": "", "LANG": "en_US.UTF-8"}
ARGPARSE_ENGLISH = ("usage:", "options:", "show this help message", "error:", "argument")

# Each usage error: its arguments, and what it says in Japanese and in English.
USAGE_ERRORS = [
    (
        ["nosuch"],
        "renkei: エラー: 引数 コマンド: 'nosuch' はありません('serve', 'check'",
        "renkei: error: argument COMMAND: invalid choice: 'nosuch' (choose from 'serve'",
    ),
    (
        ["show"],
        "renkei show: エラー: 次の引数を指定してください: 実行ID",
        "renkei show: error: the following arguments are required: RUN",
    ),
    (
        ["runs", "--bogus"],
        "renkei runs: エラー: 解釈できない引数があります: --bogus",
        "renkei runs: error: unrecognized arguments: --bogus",
    ),
    (
        ["runs", "--limit", "x"],
        "renkei runs: エラー: 引数 --limit: 'x' は整数ではありません",
        "renkei runs: error: argument --limit: invalid integer value: 'x'",
    ),
    (
        ["runs", "--since"],
        "renkei runs: エラー: 引数 --since: 値を 1 つ指定してください",
        "renkei runs: error: argument --since: expected one argument",
    ),
    (
        ["runs", "--s", "7d"],
        "renkei runs: エラー: --s は --state, --since のどれのことか決められません",
        "renkei runs: error: ambiguous option: --s could match --state, --since",
    ),
    (
        ["runs", "--json=yes"],
        "renkei runs: エラー: 引数 --json: このオプションは値をとりません: 'yes'",
        "renkei runs: error: argument --json: ignored explicit argument 'yes'",
    ),
    (
        [],
        "renkei: エラー: 次の引数を指定してください: コマンド",
        "renkei: error: the following arguments are required: COMMAND",
    ),
]


@pytest.fixture
def configs(tmp_path):
    """A config in each language (report.language), and a path where there is none."""
    found = {"none": tmp_path / "absent.toml"}
    for language in ("ja", "en"):
        folder = tmp_path / language
        folder.mkdir()
        config = write_config(folder, account("acme"))
        text = config.read_text(encoding="utf-8")
        text = text.replace("[report]\n", f'[report]\nlanguage = "{language}"\n')
        config.write_text(text, encoding="utf-8")
        found[language] = config
    return found


def no_config(configs, locale: dict[str, str]) -> dict[str, str]:
    return {**locale, "RENKEI_CONFIG": str(configs["none"])}


def test_help_is_japanese_by_default(configs):
    result = renkei("--help", env=no_config(configs, JAPANESE))
    assert result.returncode == 0, result.stderr
    said = result.stdout
    assert said.startswith("使い方: renkei [-h] [--version] [--config パス] コマンド ...")
    for words in ("CSV 連携デーモン", "引数:", "オプション:", "このヘルプを表示して終了します"):
        assert words in said, said
    assert "renkei のバージョンを表示して終了します" in said
    assert "デーモンをフォアグラウンドで動かします" in said
    for english in (*ARGPARSE_ENGLISH, "COMMAND", "CSV linkage daemon", "run the daemon"):
        assert english not in said, said


def test_a_commands_help_is_japanese_with_its_value_words(configs):
    result = renkei("runs", "--help", env=no_config(configs, JAPANESE))
    assert result.returncode == 0, result.stderr
    said = result.stdout
    assert said.startswith("使い方: renkei runs [-h] [--config パス] [--account 名前]")
    assert "--limit 件数" in said and "表示する件数(既定 20、最大 100,000)" in said
    assert "--since 日時" in said and "このヘルプを表示して終了します" in said
    for english in (*ARGPARSE_ENGLISH, "how many runs", "--config PATH", "--since WHEN"):
        assert english not in said, said


@pytest.mark.parametrize("command", ["runs", "show", "import", "passwd"])
def test_japanese_help_fits_80_columns_with_its_help_in_one_column(configs, command):
    """A Japanese character takes two columns where argparse counts one."""
    env = {**no_config(configs, JAPANESE), "COLUMNS": "80"}
    result = renkei(command, "--help", env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(map(cell_len, lines)) <= 78, result.stdout
    options = [line for line in lines if line.startswith("  -")]
    starts = {cell_len(line) - cell_len(line[2:].split("  ", 1)[1].lstrip()) for line in options}
    assert len(starts) == 1, result.stdout


def test_a_config_in_english_gives_english_help_whatever_the_locale(configs):
    config = str(configs["en"])
    for args in (["runs", "--help", "--config", config], ["runs", f"--config={config}", "-h"]):
        result = renkei(*args, env=JAPANESE)
        assert result.returncode == 0, result.stderr
        said = result.stdout
        assert said.startswith("usage: renkei runs [-h] [--config PATH] [--account NAME]")
        assert "options:" in said and "show this help message and exit" in said
        assert "--limit N" in said and "how many runs (default 20, at most 100,000)" in said
        assert "使い方" not in said and "オプション" not in said


def test_a_config_in_japanese_outweighs_an_english_locale(configs):
    result = renkei("show", "--help", "--config", str(configs["ja"]), env=ENGLISH)
    assert result.returncode == 0 and "使い方: renkei show" in result.stdout
    assert "実行ID" in result.stdout and "usage:" not in result.stdout


def test_a_config_without_a_language_speaks_japanese_in_an_english_locale(tmp_path):
    # The daemon speaks Japanese by such a config: its help and refusals do too.
    config = write_config(tmp_path, account("acme"))
    assert "language" not in config.read_text(encoding="utf-8")
    result = renkei("runs", "--help", "--config", str(config), env=ENGLISH)
    assert result.returncode == 0 and "使い方: renkei runs" in result.stdout
    result = renkei("runs", "--bogus", "--config", str(config), env=ENGLISH)
    assert result.returncode == 2
    assert "解釈できない引数があります: --bogus" in result.stderr, result.stderr
    # with the usage of the command it was given to, not the top level's
    assert "使い方: renkei runs" in result.stderr and "renkei runs: エラー" in result.stderr


def test_an_english_locale_without_a_config_gives_english_help(configs):
    result = renkei("--help", env=no_config(configs, ENGLISH))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: renkei [-h] [--version] [--config PATH] COMMAND ...")
    assert "CSV linkage daemon" in result.stdout
    assert "run the daemon in the foreground" in result.stdout
    assert "使い方" not in result.stdout


@pytest.mark.parametrize(("args", "japanese", "english"), USAGE_ERRORS)
def test_a_usage_error_exits_2_in_japanese_by_default(configs, args, japanese, english):
    result = renkei(*args, env=no_config(configs, JAPANESE))
    assert result.returncode == 2 and not result.stdout
    assert result.stderr.startswith("使い方: renkei"), result.stderr
    assert japanese in result.stderr, result.stderr
    for words in (*ARGPARSE_ENGLISH, "Traceback"):
        assert words not in result.stderr, result.stderr


@pytest.mark.parametrize(("args", "japanese", "english"), USAGE_ERRORS)
def test_a_usage_error_exits_2_in_the_configs_english(configs, args, japanese, english):
    # Named by --config wherever it stands; by RENKEI_CONFIG when no command takes it.
    named = ["--config", str(configs["en"])] if args else []
    env = {**JAPANESE, "RENKEI_CONFIG": str(configs["none" if args else "en"])}
    result = renkei(*args, *named, env=env)
    assert result.returncode == 2 and not result.stdout
    assert result.stderr.startswith("usage: renkei"), result.stderr
    assert english in result.stderr, result.stderr
    assert "エラー" not in result.stderr and "使い方" not in result.stderr


def test_a_usage_error_is_english_in_an_english_locale_without_a_config(configs):
    result = renkei("show", env=no_config(configs, ENGLISH))
    assert result.returncode == 2 and not result.stdout
    assert "renkei show: error: the following arguments are required: RUN" in result.stderr


def test_version_stays_as_it_was(configs):
    result = renkei("--version", env=no_config(configs, JAPANESE))
    assert result.returncode == 0 and result.stdout.startswith("renkei ")
    assert len(result.stdout.split()) == 2 and not result.stderr


def test_argparse_speaks_english_again_after_a_command_in_this_process(configs, monkeypatch):
    """`main()` called in a process of others' (a test, a wrapper): argparse's words are
    ours only while our parser speaks."""
    from daemon import cli

    monkeypatch.setenv("RENKEI_CONFIG", str(configs["none"]))
    for name, value in JAPANESE.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as ended:
        cli.main(["nosuch"])
    assert ended.value.code == 2
    assert argparse._ is gettext.gettext  # type: ignore[attr-defined]
    with pytest.raises(SystemExit):
        argparse.ArgumentParser(prog="other").parse_args(["--nope"])


# -- renkei show --save ---------------------------------------------------------------


@pytest.fixture
def kept_run(configs, tmp_path):
    """A completed run whose file is kept, imported with `renkei import`."""
    path = tmp_path / "20240516.csv"
    path.write_bytes(csv_bytes(["1,2024/05/16,10,a"]))
    result = renkei(
        "import", str(path), "--account", "acme", "--json", "--config", str(configs["ja"])
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split('"id": "', 1)[1].split('"', 1)[0]


@pytest.mark.parametrize(
    ("language", "said"),
    [
        ("ja", "--save: フォルダ {parent} がありません(作るのは {path} の最後のフォルダだけです)"),
        ("en", "--save: there is no folder {parent} (only the last folder of {path} is made)"),
    ],
)
def test_show_save_into_a_missing_parent_is_refused_and_makes_nothing(
    configs, kept_run, tmp_path, language, said
):
    config = configs[language]
    if language == "en":  # the same data_dir, so the same run, said in English
        english = configs["ja"].with_name("renkei.en.toml")
        english.write_text(configs["ja"].read_text().replace('"ja"', '"en"'))
        config = english
    out = tmp_path / "exports" / "2024" / "05"
    result = renkei("show", kept_run, "--save", str(out), "--config", str(config))
    assert result.returncode == 2 and not result.stdout
    assert said.format(parent=out.parent, path=out) in result.stderr, result.stderr
    assert not (tmp_path / "exports").exists()


def test_show_save_makes_the_last_folder_only(configs, kept_run, tmp_path):
    out = tmp_path / "exports"
    result = renkei("show", kept_run, "--save", str(out), "--config", str(configs["ja"]))
    assert result.returncode == 0, result.stderr
    assert (out / "20240516.csv").read_bytes() == (tmp_path / "20240516.csv").read_bytes()


def test_a_dry_runs_message_that_says_so_is_not_led_by_it_again():
    """`(試行のみ) 試行のみ(dry run):検証しただけで…` in `renkei runs`."""
    from daemon.runview import _note

    said = message("run.dry_run", "ja") + "。1 行はエラーのため取り込みません"
    assert _note({"dry_run": 1, "message": said, "said": None}, "ja") == said
    other = _note({"dry_run": 1, "message": "ほか", "said": None}, "ja")
    assert other == f"{message('cli.dry_run', 'ja').strip()} ほか"


def test_an_ambiguous_short_id_says_when_more_runs_fit_than_it_names(capsys):
    """Ten of 35 were named, nothing saying the list was cut."""
    from daemon.cli import _not_one_run
    from daemon.oneshot import CANDIDATES, Found

    ids = [f"2026{i:02d}" for i in range(CANDIDATES)]
    assert _not_one_run(Found(candidates=ids, more=True), "2026", "en") == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines[-1] == "  … and more (give more of the id)" and len(lines) == CANDIDATES + 2
    _not_one_run(Found(candidates=ids[:3]), "2026", "en")
    assert "and more" not in capsys.readouterr().err


def test_words_that_said_one_row_as_many_and_promised_a_note_never_sent():
    """ "the 1 row … were removed"; the miss alert promised a note "as soon as it
    arrives", which comes only for a file of that same day."""
    said = message("run.replaced_by_none", "en", replaced=1)
    assert said == "the file has no rows: removed the 1 row the same file name imported before"
    params = {"account": "acme", "day": "2024-05-16", "by": "10:00", "timezone": "Asia/Tokyo"}
    assert "その日のうちに届いて取り込まれれば" in message("expect.missing.body", "ja", **params)
    assert "that same day" in message("expect.missing.body", "en", **params)
