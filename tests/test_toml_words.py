"""A config TOML's parser cannot read is said in the catalog's words, with its line and
column, in Japanese by default: tomllib's own messages are English only."""

from __future__ import annotations

import re
import tomllib

import pytest

from daemon.settings.tomlwords import TomlTrouble
from tests.support import renkei

# Each of the errors tomllib raises (Python 3.11's parser), by a config that makes it.
BROKEN = [
    ("[daemon\n", "1 行 8 列目: […] の終わりの「]」がありません"),
    ("[[accounts]\n", "1 行 11 列目: [[…]] の終わりの「]]」がありません"),
    ("a = \n", "1 行 5 列目: 値として読めません"),
    ("a = 1\na = 2\n", "2 行 6 列目: 同じ値を二度設定しています"),
    ('p = "C:\\data"\n', "1 行 10 列目: 文字列の中の「\\」の後ろが使えない文字です"),
    ("a = [1, 2\n", "ファイルの終わり: 配列を閉じる「]」がありません"),
    ("a = {b = 1, b = 2}\n", "1 行 18 列目: { … } の中にキー 'b' が二度あります"),
    ("a = {b = 1\n", "1 行 11 列目: { … } を閉じる「}」がありません"),
    ("[accounts.acme]\n[accounts.acme]\n", "2 行 15 列目: accounts.acme が二度あります"),
    ("x y\n", "1 行 3 列目: キーの後に「=」がありません"),
    ("=1\n", "1 行 1 列目: 「キー = 値」でも「[表]」でもない行です"),
    ('a = "abc\n', "1 行 9 列目: 使えない文字 '\\n' があります"),
    ("a = 1 b\n", "1 行 7 列目: 値の後ろに続きがあります"),
    ("a = 2024-02-30\n", "1 行 5 列目: 日付・日時として読めません"),
    ('a = "\\uZZZZ"\n', "1 行 8 列目: \\u・\\U の後ろの16進数が正しくありません"),
    ('a = "\\uD800"\n', "1 行 12 列目: エスケープした文字が Unicode の文字ではありません"),
    ("a.b = 1\na = 2\n", "2 行 6 列目: 同じ値を二度設定しています"),
    ("a = {b = 1}\na.c = 2\n", "2 行 8 列目: a は既に書き終えた表か配列なので"),
    ("[a]\nb = 1\n[a.b]\n", "3 行 5 列目: 同じ値を二度設定しています"),
    ("[[a]]\n[a]\n", "2 行 3 列目: a が二度あります"),
    ('a = """x', "ファイルの終わり: 文字列を閉じる引用符がありません"),
    ("a = 'x\x01'\n", "1 行 7 列目: 使えない文字 '\\x01' があります"),
    ("a. = 1\n", "1 行 4 列目: キーの始まりに使えない文字です"),
    ("a.'b\n", 'ファイルの終わり: ここには "\'" が必要です'),
    ("[a.b]\nc = 1\n[a]\nb.d = 2\n", "4 行 8 列目: a.b を定義し直しています"),
]


def trouble(text: str) -> TomlTrouble:
    with pytest.raises(tomllib.TOMLDecodeError) as caught:
        tomllib.loads(text)
    return TomlTrouble(caught.value)


@pytest.mark.parametrize(("text", "said"), BROKEN)
def test_each_toml_error_is_said_in_japanese_with_its_place(text, said):
    japanese = trouble(text).render("ja")
    assert japanese.startswith(said), japanese
    # None of tomllib's English is left: no word of two Latin letters or more, but a
    # key or character it names.
    assert not re.search(r"\b(?!(?:accounts|acme|Unicode|Windows)\b)[A-Za-z]{2,}\b", japanese), (
        japanese
    )


@pytest.mark.parametrize(("text", "said"), BROKEN)
def test_each_toml_error_has_english_words_of_the_catalog_too(text, said):
    english = trouble(text).render("en")
    assert re.match(r"(line \d+, column \d+|at the end of the file): \S", english), english
    assert "(at line" not in english and "end of document" not in english


def test_a_message_renkei_does_not_know_keeps_the_parsers_words():
    assert TomlTrouble(ValueError("Something new (at line 3, column 1)")).render("ja") == (
        "Something new (at line 3, column 1)"
    )


def test_renkei_check_says_where_the_config_is_not_toml(tmp_path):
    config = tmp_path / "renkei.toml"
    config.write_text('[daemon]\ndata_dir = "C:\\data"\n', encoding="utf-8")
    result = renkei("check", "--config", str(config))
    assert result.returncode == 1
    assert (
        f"{config}: TOML として読めません: 2 行 17 列目: 文字列の中の「\\」の後ろが使えない文字です"
        in result.stderr
    ), result.stderr
