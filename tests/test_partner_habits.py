"""What partner systems write that is no mistake: a line ending in a comma, a header
that ends in empty cells over records that stop before them, a DOS end-of-file mark,
fields padded with spaces. And a 行番号 column of the partner's own in the middle of
its header, which is no error CSV's returned column and was dropped without a word."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from importers.errors import CellError
from importers.layouts import ColumnSpec, converter
from importers.messages import message
from tests.support import account, cli_import, renkei, write_config

PEOPLE = """
[layouts.people]
key = ["code"]
columns = [
  { name = "code", type = "text", label = "コード", required = true },
  { name = "qty",  type = "int", label = "数量" },
  { name = "rate", type = "decimal", label = "率" },
  { name = "day",  type = "date", label = "日付" },
  { name = "ok",   type = "bool", label = "可否" },
  { name = "name", type = "text", required = true, label = "氏名" },
  { name = "memo", type = "text", label = "メモ" },
]
"""


def imported(tmp_path: Path, text: str, written_in: str = "cp932", **keys) -> tuple[dict, list]:
    """`renkei import` of `text` for acme (layout people): its run and the rows it left."""
    path = tmp_path / "20240516.csv"
    path.write_bytes(text.encode(written_in) if isinstance(text, str) else text)
    base = {"layout": "people", "report": "never", "on_row_error": "skip", **keys}
    config = tmp_path / "renkei.toml"
    if not config.exists():
        write_config(tmp_path, account("acme", **base), extra=PEOPLE)
    run = cli_import(config, path)
    with sqlite3.connect(tmp_path / "var" / "renkei.db") as db:
        rows = db.execute(
            "SELECT code, qty, rate, day, ok, name, memo FROM people ORDER BY rowid"
        ).fetchall()
        errors = db.execute(
            'SELECT line, "column", message FROM run_errors WHERE run_id = ? ORDER BY line',
            (run["id"],),
        ).fetchall()
    return run, rows, errors


HEADER = "コード,数量,率,日付,可否,氏名,メモ"


def test_every_line_ending_in_a_comma_imports(tmp_path):
    """Some systems end every record with a comma: one empty cell more than the header.
    Every row failed as '7 columns, not 8'."""
    text = f"{HEADER}\r\nA1,1,0.5,2024/5/16,1,山田,x,\r\nA2,2,,2024/5/17,0,佐藤,,\r\n"
    run, rows, _ = imported(tmp_path, text)
    assert (run["state"], run["rows_imported"], run["rows_failed"]) == ("completed", 2, 0), run
    assert rows == [
        ("A1", 1, "0.5", "2024-05-16", 1, "山田", "x"),
        ("A2", 2, None, "2024-05-17", 0, "佐藤", ""),
    ]
    # Some lines with the comma and some without, and a row error among them.
    text += "A3,3,1,2024/5/18,1,鈴木,z\r\nA4,x,1,2024/5/18,1,田中,,\r\n"
    run, rows, errors = imported(tmp_path, text)
    assert (run["rows_imported"], run["rows_failed"]) == (3, 1), run
    assert [row[0] for row in rows] == ["A1", "A2", "A3"]
    assert [(line, column) for line, column, _ in errors] == [(5, "数量")]


def test_a_value_past_the_header_is_still_a_row_error(tmp_path):
    run, rows, errors = imported(tmp_path, f"{HEADER}\r\nA1,1,0.5,2024/5/16,1,山田,x,zzz\r\n")
    assert (run["rows_imported"], run["rows_failed"]) == (0, 1), run
    assert errors == [(2, "", "2行目: 列の数が 7 ではなく 8 です")]


def test_records_that_stop_before_the_headers_empty_cells_import(tmp_path):
    """A header saved past its table (`メモ,,`) over records without those cells: every
    row failed as '9 columns, not 7'."""
    text = f"{HEADER},,\r\nA1,1,0.5,2024/5/16,1,山田,x\r\nA2,2,1,2024/5/17,0,佐藤,y,,\r\n"
    run, rows, _ = imported(tmp_path, text)
    assert (run["state"], run["rows_imported"], run["rows_failed"]) == ("completed", 2, 0), run
    assert [row[0] for row in rows] == ["A1", "A2"]
    # Fewer cells than the table's own columns is still the record's error.
    run, _, errors = imported(tmp_path, f"{HEADER},,\r\nA3,1,0.5,2024/5/16,1,山田\r\n")
    assert (run["rows_imported"], run["rows_failed"]) == (0, 1), run
    assert errors == [(2, "", "2行目: 列の数が 9 ではなく 6 です")]


def test_a_dos_end_of_file_mark_is_read_past(tmp_path):
    """Ctrl-Z (0x1A) after the last line, as legacy accounting tools end a file: the
    whole file failed as cut off, and a partner sending it again failed the same way."""
    text = f"{HEADER}\r\nA1,1,0.5,2024/5/16,1,山田,x\r\n".encode("cp932") + b"\x1a"
    run, rows, _ = imported(tmp_path, text)
    assert (run["state"], run["rows_imported"]) == ("completed", 1), run
    assert rows == [("A1", 1, "0.5", "2024-05-16", 1, "山田", "x")]
    # After a last line without its line break, and as CP/M padded a block, too.
    text = f"{HEADER}\r\nA2,2,1,2024/5/17,0,佐藤,y".encode("cp932") + b"\x1a" * 5
    run, rows, _ = imported(tmp_path, text)
    assert (run["state"], run["rows_imported"]) == ("completed", 1), run
    assert rows[-1] == ("A2", 2, "1", "2024-05-17", 0, "佐藤", "y")


def test_a_file_cut_short_before_its_end_mark_is_still_cut_short(tmp_path):
    text = f'{HEADER}\r\nA1,1,0.5,2024/5/16,1,"山田'.encode("cp932") + b"\x1a"
    run, _, _ = imported(tmp_path, text)
    assert run["state"] == "failed", run
    assert "途中で切れています" in run["message"], run


def test_fields_padded_with_spaces_are_values_or_missing(tmp_path):
    """A fixed-width export pads its fields: ` 12` is 12, and a required field of spaces
    is the missing value it is. Spaces around a number were refused, and a required
    name of spaces imported. A number of spaces alone is still no number."""
    text = (
        f"{HEADER}\r\n"
        "A1,  12 ,　0.5　, 2024/5/16 , 1 ,山田,\r\n"
        "A2,,,,,佐藤,  \r\n"
        "A3,1,1,2024/5/16,1,　　,x\r\n"
        "A4,1,1,2024/5/16,1,   ,x\r\n"
        "A5,  ,1,2024/5/16,1,鈴木,x\r\n"
    )
    run, rows, errors = imported(tmp_path, text)
    assert (run["rows_imported"], run["rows_failed"]) == (2, 3), run
    # A text column keeps what was sent, spaces too.
    assert rows == [
        ("A1", 12, "0.5", "2024-05-16", 1, "山田", ""),
        ("A2", None, None, None, None, "佐藤", "  "),
    ]
    assert [(line, column) for line, column, _ in errors] == [(4, "氏名"), (5, "氏名"), (6, "数量")]
    assert "必須項目が空です" in errors[0][2] and "整数ではありません" in errors[2][2]


def test_blank_keep_keeps_the_old_value_for_a_cell_of_spaces(tmp_path):
    """With blank = keep, `A1,, ` kept the old memo for the empty cell but overwrote it
    with the spaces of a padded one."""
    keys = {"mode": "upsert", "on_duplicate": "update", "blank": "keep"}
    imported(tmp_path, f"{HEADER}\r\nA1,1,0.5,2024/5/16,1,山田,元のメモ\r\n", **keys)
    run, rows, _ = imported(tmp_path, f"{HEADER}\r\nA1,2,,,,山田,　 \r\n", **keys)
    assert (run["state"], run["rows_updated"]) == ("completed", 1), run
    assert rows == [("A1", 2, "0.5", "2024-05-16", 1, "山田", "元のメモ")]


def test_a_line_number_column_of_the_partners_own_is_unknown_not_dropped(tmp_path):
    """行番号 in the middle of a header is a column of the partner's (a slip's line
    number), not the error CSV's, which come last: it was read past without a word
    and its values lost."""
    text = "コード,行番号,数量,率,日付,可否,氏名,メモ\r\nA1,99,1,0.5,2024/5/16,1,山田,x\r\n"
    run, rows, _ = imported(tmp_path, text)
    assert (run["state"], rows) == ("failed", []), run
    assert "不明な列があります: 行番号" in run["message"], run
    # The error CSV's two columns at the end are still read past.
    text = f"{HEADER},行番号,エラー内容\r\nA1,1,0.5,2024/5/16,1,山田,x,2,直した\r\n"
    run, rows, _ = imported(tmp_path, text)
    assert (run["state"], run["rows_imported"]) == ("completed", 1), run


MEMBERS = """
[layouts.members]
key = ["member_no"]
columns = [
  { name = "member_no", type = "int", required = true, label = "会員番号" },
  { name = "name",      type = "text" },
]
[layouts.orders]
columns = [
  { name = "member", type = "int", required = true, reference = "members", label = "会員" },
  { name = "item",   type = "text", label = "品目" },
]
"""


def test_a_missing_reference_is_named_by_labels_and_the_cell_as_written(tmp_path):
    """The partner was told 「124」はmembers の member_no にありません for a cell written
    ０１２４: neither the value nor the column could be found in the file."""
    accounts = account("master", layout="members", report="never")
    accounts += account("acme", layout="orders", report="never", on_row_error="skip")
    config = write_config(tmp_path, accounts, extra=MEMBERS)
    members = tmp_path / "20240501.csv"
    members.write_bytes("member_no,name\r\n123,山田\r\n".encode("cp932"))
    result = renkei("import", str(members), "--account", "master", "--config", str(config))
    assert result.returncode == 0, result.stderr
    orders = tmp_path / "20240516.csv"
    # Every line ending in a comma, as some systems write them.
    orders.write_bytes("品目,会員\r\nりんご,０１２３,\r\nみかん,０１２４,\r\n".encode("cp932"))
    run = cli_import(config, orders)
    assert (run["rows_imported"], run["rows_failed"]) == (1, 1), run
    with sqlite3.connect(tmp_path / "var" / "renkei.db") as db:
        [(line, value, message)] = db.execute(
            "SELECT line, value, message FROM run_errors WHERE run_id = ?", (run["id"],)
        ).fetchall()
    assert (line, value) == (3, "０１２４")
    assert (
        message
        == "3行目 列「会員」の値「０１２４」はレイアウト「members」の「会員番号」にありません"
    )


def test_a_number_out_of_range_and_a_long_text_are_said_as_they_are():
    """`-99…9` was 'too large'; a length was written `10 文字を超えています(5000 文字)`."""
    text = converter(ColumnSpec("note", "text", max_length=3000))
    with pytest.raises(CellError) as caught:
        text("x" * 5000)
    said = message(caught.value.key, "ja", **caught.value.params)
    assert said == "3,000文字を超えています(全5,000文字)"
    assert message(caught.value.key, "en", **caught.value.params) == (
        "is longer than 3,000 characters (5,000)"
    )
    number = converter(ColumnSpec("qty", "int"))
    with pytest.raises(CellError) as caught:
        number("-" + "9" * 30)
    assert message(caught.value.key, "ja") == (
        "整数として扱える範囲を超えています(±9223372036854775807 まで)"
    )


def test_a_day_written_in_an_era_it_is_not_in_is_said_so():
    """Many systems went on printing 平成31年 after 2019-04-30: the day exists, and
    'no such date' sent the partner looking for a typo."""
    day = converter(ColumnSpec("day", "date", wareki=True))
    assert day("R1.5.1") == "2019-05-01" and day("H31.4.30") == "2019-04-30"
    for cell, said in [
        ("平成31年5月1日", "平成の最終日(2019-04-30)より後の日付です"),
        ("H31.5.1", "平成の最終日(2019-04-30)より後の日付です"),
        ("R1.4.30", "令和の初日(2019-05-01)より前の日付です"),
    ]:
        with pytest.raises(CellError) as caught:
            day(cell)
        assert message(caught.value.key, "ja", **caught.value.params) == said
    with pytest.raises(CellError) as caught:
        day("R1.2.30")
    assert caught.value.key == "cell.date_unreal"


def test_a_date_with_circled_or_superscript_digits_is_no_date():
    """NFKC makes ① and ¹ digits: `5/1①` (a day's first batch) was stored as the 11th,
    where the same characters are refused in a number column."""
    day = converter(ColumnSpec("day", "date", wareki=True))
    for cell in ["2024/5/1¹", "R6.5.1①", "②⓪②④/⑤/①⑥", "令和⑥年⑤月⑯日"]:
        with pytest.raises(CellError):
            day(cell)
    # Full-width digits are digits; an era date takes a midnight and spaces as a
    # Western one does.
    assert day("２０２４／５／１６") == "2024-05-16"
    assert day("R6.5.16 0:00") == day("令和 6年 5月16日") == "2024-05-16"


def test_negative_numbers_and_yen_as_japanese_accounts_write_them(tmp_path):
    """▲ and △ are the minus signs of Japanese accounts, and Excel saves a currency
    cell with its yen sign (in Shift_JIS, the backslash's byte): all were refused."""
    text = (
        f"{HEADER}\r\n"
        "A1,▲100,△0.5,2024/5/16,1,山田,\r\n"
        'A2,"¥1,234",￥-2.5,2024/5/16,1,佐藤,\r\n'
        'A3,"\\1,000",−3,2024/5/16,1,鈴木,\r\n'
        "A4,▲-5,1,2024/5/16,1,田中,\r\n"
    )
    run, rows, errors = imported(tmp_path, text, written_in="utf-8")
    assert (run["rows_imported"], run["rows_failed"]) == (3, 1), run
    assert [row[1:3] for row in rows] == [(-100, "-0.5"), (1234, "-2.5"), (1000, "-3")]
    # In Shift_JIS, Excel's ¥ is the byte 0x5C, read as a backslash.
    run, rows, _ = imported(tmp_path, f'{HEADER}\r\nA5,"\\2,000",￥1,2024/5/16,1,山田,\r\n')
    assert (run["state"], rows[-1][1:3]) == ("completed", (2000, "1")), run
    assert [(line, column) for line, column, _ in errors] == [(5, "数量")]


def test_a_shift_jis_file_sent_as_utf8_is_said_to_be_shift_jis(tmp_path):
    """An account set to UTF-8 got 'bytes that are not valid UTF-8 (83)' for a whole
    Shift_JIS file, where the other way round says what the file is."""
    text = f"{HEADER}\r\nA1,1,0.5,2024/5/16,1,山田,x\r\n"
    run, _, _ = imported(tmp_path, text, encoding="utf-8")
    assert run["state"] == "failed", run
    assert run["message"].endswith(
        "1行目: UTF-8 として読めないバイトがあります(83)。"
        "ファイルは Shift_JIS(CP932)のようです(アカウントの encoding を確かめてください)"
    ), run
    # UTF-8 text with one bad byte after it is UTF-8 with a fault, said by its line.
    data = text.encode("utf-8") + "A2,2,1,2024/5/17,0,佐藤,".encode() + b"\x83\r\n"
    run, _, _ = imported(tmp_path, data)
    assert run["state"] == "failed", run
    assert run["message"].endswith("3行目: UTF-8 として読めないバイトがあります(83)"), run


def test_values_as_japanese_forms_and_exports_write_them(tmp_path):
    """〇 and × (はい/いいえ, 有/無, full-width ＴＲＵＥ) for a flag, 1,234円 for an
    amount, 2024.5.16 and Excel's `2024/05/16 0:00` for a date, and a header label
    with a full-width space to line it up: each was refused."""
    text = (
        "コード,数　量,率,日付,可否,氏名,メモ\r\n"
        'A1,"1,234円",1,2024.5.16,〇,山田,\r\n'
        "A2,2,1,2024/05/16 0:00,×,佐藤,\r\n"
        "A3,3,1,2024/5/17,ＴＲＵＥ,鈴木,\r\n"
        "A4,4,1,2024/5/17 13:00,いいえ,田中,\r\n"
    )
    run, rows, errors = imported(tmp_path, text)
    assert (run["rows_imported"], run["rows_failed"]) == (3, 1), run
    assert [row[:5] for row in rows] == [
        ("A1", 1234, "1", "2024-05-16", 1),
        ("A2", 2, "1", "2024-05-16", 0),
        ("A3", 3, "1", "2024-05-17", 1),
    ]
    # A time other than midnight in a date column is refused, not dropped.
    assert [(line, column) for line, column, _ in errors] == [(5, "日付")]


def test_a_utf8_file_with_one_shift_jis_line_fails_naming_that_line(tmp_path):
    """Without a Japanese header its UTF-8 rows were imported as mojibake (東京 as
    譚ｱ莠ｬ), the file taken for CP932 because one line was; with one, it failed on the
    header's line, whose bytes were good UTF-8."""
    rows = [("A1", "東京", "utf-8"), ("A2", "山田", "utf-8"), ("A3", "株式会社", "utf-8")]
    rows += [("A4", "髙橋", "cp932"), ("A5", "佐藤", "utf-8")]
    data = b"code,qty,rate,day,ok,name,memo\r\n"
    for code, name, encoding in rows:
        data += f"{code},1,1,2024/5/16,1,{name},\r\n".encode(encoding)
    run, table, _ = imported(tmp_path, data)
    assert run["state"] == "failed", run
    assert run["message"].endswith("5行目: UTF-8 として読めないバイトがあります(ee)"), run
    assert table == []
    run, table, _ = imported(tmp_path, HEADER.encode() + data[data.index(b"\r\n") :])
    assert run["message"].endswith("5行目: UTF-8 として読めないバイトがあります(ee)"), run
    # A CP932 file whose first Japanese happens to read as UTF-8 stays CP932.
    run, table, _ = imported(tmp_path, f"{HEADER}\r\nA1,1,1,2024/5/16,1,ﾃｽﾄ,\r\n")
    assert (run["state"], run["encoding"], table[-1][5]) == ("completed", "cp932", "ﾃｽﾄ"), run


def test_a_whole_file_problem_of_a_file_with_cr_line_ends_names_its_line(tmp_path):
    """Lines were counted by LF only: in a file ending its lines with CR (old Mac
    exports) every bad byte and NUL was said to be on line 1."""
    lines = [HEADER] + [f"A{i},1,1,2024/5/16,1,山田,x" for i in range(1, 6)]
    data = "\r".join(lines).encode("cp932") + b"\r"
    run, _, _ = imported(tmp_path, data.replace(b"A4,", b"A4,\x85 ", 1))
    assert run["message"].endswith("5行目: Shift_JIS(CP932) として読めないバイトがあります(85)"), (
        run
    )
    run, _, _ = imported(tmp_path, data.replace(b"A4,", b"A4,\x00", 1))
    assert run["state"] == "failed" and "5行目" in run["message"], run


def test_an_end_of_file_mark_with_a_line_break_after_it_is_read_past(tmp_path):
    """`…\\r\\n\\x1a\\r\\n`: the mark made a record of its own, a row error (one column,
    not seven), which under on_row_error = "reject" failed the whole file."""
    text = f"{HEADER}\r\nA1,1,0.5,2024/5/16,1,山田,x\r\n".encode("cp932") + b"\x1a\r\n"
    run, rows, _ = imported(tmp_path, text, on_row_error="reject")
    assert (run["state"], run["rows_imported"], run["rows_failed"]) == ("completed", 1, 0), run
    assert rows == [("A1", 1, "0.5", "2024-05-16", 1, "山田", "x")]


def test_a_file_in_iso_2022_jp_is_refused_saying_so(tmp_path):
    """JIS text is 7-bit: it passed as UTF-8 and its Japanese was imported as escape
    codes and letters (`\\x1b$BEl5~ET\\x1b(B` for 東京都)."""
    text = f"{HEADER}\r\nA1,1,0.5,2024/5/16,1,東京都,x\r\n".encode("iso2022_jp")
    run, rows, _ = imported(tmp_path, text)
    assert run["state"] == "failed", run
    assert "ISO-2022-JP(JIS)のファイルのようです" in run["message"], run
    assert rows == []


@pytest.mark.parametrize(
    "note",
    ["テスト・カード", "東京都千代田区"],
    ids=["kana", "kanji"],
)
def test_a_file_in_euc_jp_is_refused_saying_so(tmp_path, note):
    """EUC-JP's bytes are CP932's too: its kana were imported as half-width katakana
    (テスト as ･ﾆ･ｹ･ﾈ), its kanji as other kanji, and the run said it completed."""
    text = f"{HEADER}\r\nA1,1,0.5,2024/5/16,1,{note},x\r\n".encode("euc_jp")
    run, rows, _ = imported(tmp_path, text)
    assert run["state"] == "failed", run
    assert "EUC-JP のファイルのようです" in run["message"], run
    assert rows == []


def test_half_width_katakana_in_shift_jis_is_not_taken_for_euc_jp(tmp_path):
    """Old systems write names in half-width katakana alone, no byte of CP932's kanji:
    those bytes read as EUC-JP too, and the file must still be taken as Shift_JIS."""
    text = f"{HEADER}\r\nA1,1,0.5,2024/5/16,1,ﾔﾏﾀﾞ･ﾀﾛｳ,ｶｰﾄﾞ\r\nA2,1,0.5,2024/5/16,1,ｽｽﾞｷ,x\r\n"
    run, rows, _ = imported(tmp_path, text)
    assert run["state"] == "completed", run
    assert [(r[5], r[6]) for r in rows] == [("ﾔﾏﾀﾞ･ﾀﾛｳ", "ｶｰﾄﾞ"), ("ｽｽﾞｷ", "x")]


def test_a_label_and_choices_written_in_jis_match_what_shift_jis_decodes_to(tmp_path):
    """Shift_JIS's 0x8160 is 〜 (U+301C) as a Mac or JIS writes the config, ～ (U+FF5E)
    as CP932 decodes a file: the header `期間～コード` was refused beside the label
    `期間〜コード` as two names that look the same, and `A－1` as no value of `A−1`."""
    layout = (
        "[layouts.wave]\ncolumns = [\n"
        '  { name = "code", type = "text", label = "期間〜コード" },\n'
        '  { name = "kind", type = "choice", values = ["A−1", "B—2"] },\n]\n'
    )
    write_config(tmp_path, account("acme", layout="wave", report="never"), extra=layout)
    path = tmp_path / "20240516.csv"
    path.write_bytes("期間～コード,kind\r\nx1,A－1\r\nx2,B―2\r\n".encode("cp932"))
    run = cli_import(tmp_path / "renkei.toml", path)
    assert (run["state"], run["rows_imported"]) == ("completed", 2), run
    with sqlite3.connect(tmp_path / "var" / "renkei.db") as db:
        rows = db.execute("SELECT code, kind FROM wave ORDER BY rowid").fetchall()
    assert rows == [("x1", "A−1"), ("x2", "B—2")]  # as the config lists them


def test_half_width_katakana_that_read_as_utf8_too_are_shift_jis(tmp_path):
    """ﾅｶ and ﾄｳ in Shift_JIS are C5 B6 and C4 B3, which UTF-8 reads as Ŷ and ĳ: a
    file of kana names and ASCII alone was taken for UTF-8 and stored so."""
    # The header by the columns' names: nothing but the kana beyond ASCII.
    text = "code,qty,rate,day,ok,name,memo\r\nA1,1,0.5,2024/5/16,1,ﾅｶ ﾏｻ,ﾄｳ\r\n"
    run, rows, _ = imported(tmp_path, text)
    assert (run["state"], run["encoding"]) == ("completed", "cp932"), run
    assert [(r[5], r[6]) for r in rows] == [("ﾅｶ ﾏｻ", "ﾄｳ")]


@pytest.mark.parametrize("note", ["café", "Müller", "±5", "25°C"])
def test_utf8_letters_beside_ascii_stay_utf8(tmp_path, note):
    """The other way round: UTF-8's accented letters sit inside words, its signs beside
    numbers, where Shift_JIS's kana stand as a cell's text of their own."""
    text = f"code,qty,rate,day,ok,name,memo\r\nA1,1,0.5,2024/5/16,1,{note},x\r\n".encode()
    run, rows, _ = imported(tmp_path, text)
    assert (run["state"], run["encoding"]) == ("completed", "utf-8"), run
    assert rows[0][5] == note


def test_invisible_characters_in_a_header_are_no_part_of_its_names(tmp_path):
    """A second BOM a tool wrote, a zero-width space pasted from a web page: the header
    was refused naming コード as missing and コード (with it) as unknown."""
    header = HEADER.replace("数量", "数\u200b量")
    text = "\ufeff\ufeff" + f"{header}\r\nA1,1,0.5,2024/5/16,1,山田,x\r\n"
    run, rows, _ = imported(tmp_path, text.encode("utf-8"))
    assert (run["state"], run["rows_imported"]) == ("completed", 1), run
    assert rows[0][:2] == ("A1", 1)


def test_a_tab_separated_file_is_said_to_be_one(tmp_path):
    """Saved as Excel's "Text (Tab delimited)" under a .csv name: every column was said
    to be missing, and the whole header line one unknown column."""
    text = HEADER.replace(",", "\t") + "\r\nA1\t1\t0.5\t2024/5/16\t1\t山田\tx\r\n"
    run, rows, _ = imported(tmp_path, text)
    assert run["state"] == "failed" and rows == []
    assert run["message"].startswith("1行目: 見出しがタブで区切られています"), run["message"]


def test_a_csv_header_that_starts_with_an_empty_cell_is_refused_whole(tmp_path):
    """As pandas writes its unnamed index: a value under the empty cell in every row.
    A sheet's leading empty header cells are read past (a note in column A below its
    table); a CSV's stay the header's problem, said once, not once a row."""
    text = f",{HEADER}\r\n0,A1,1,0.5,2024/5/16,1,山田,x\r\n1,A2,1,0.5,2024/5/16,1,鈴木,y\r\n"
    run, rows, errors = imported(tmp_path, text)
    assert run["state"] == "failed" and rows == [], run
    assert "見出しの 1列目が空です" in run["message"], run["message"]
    assert len(errors) == 1
