"""Files as partners really send them, through `renkei import`: a corrected error CSV
with formula-like cells, Excel date cells, a header lower down or beside a hidden or
empty sheet, blank lines above a CSV's header, a workbook named .csv, UTF-16 without
a BOM, a damaged workbook and a value typed beside a sheet's table."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from openpyxl import Workbook

from tests.support import account, renkei, write_config

EXCEL = Path(__file__).parent / "excel"
LAYOUTS = """
[limits]
max_rows = 2000000
max_bytes = 67108864

[layouts.sales]
columns = [
  { name = "member_no", type = "int",  required = true, label = "会員番号" },
  { name = "day",       type = "date", required = true, label = "日付" },
  { name = "amount",    type = "int",  label = "売上金額" },
  { name = "at",        type = "datetime", label = "登録日時" },
  { name = "note",      type = "text", label = "備考" },
]

[layouts.house]
columns = [
  { name = "member_no", type = "int",  required = true, label = "会員番号" },
  { name = "day",       type = "date", required = true, label = "日付", format = "YYYY/MM/DD" },
  { name = "at",        type = "datetime", label = "登録日時", format = "YYYY/MM/DD HH:mm" },
]
"""
HEADER = ["会員番号", "日付", "売上金額", "登録日時", "備考"]
ACCOUNTS = (
    account("acme", layout="sales", excel=True, on_row_error="skip")
    + account("house", layout="house", excel=True, on_row_error="skip")
    + account("ledger", layout="sales", excel=True, sheet="売上")
)


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> Path:
    return write_config(tmp_path_factory.mktemp("partner"), ACCOUNTS, extra=LAYOUTS)


def run_import(config: Path, path: Path, who: str = "acme") -> dict:
    """`renkei import`: the run, with its errors (`renkei show`) and its rows."""
    args = ("import", str(path), "--account", who, "--json", "--config", str(config))
    done = renkei(*args, timeout=300)
    assert done.returncode in (0, 1), done.stderr
    assert done.stdout.startswith("{"), (done.stdout, done.stderr)
    run = json.loads(done.stdout)
    shown = renkei("show", run["id"], "--json", "--config", str(config))
    run["shown"] = json.loads(shown.stdout)
    db = sqlite3.connect(config.parent / "var" / "renkei.db")
    try:
        table = run["layout"]
        names = [r[1] for r in db.execute(f'pragma table_info("{table}")') if r[1][0] != "_"]
        query = f'select {", ".join(names)} from "{table}" where _run_id = ? order by rowid'
        run["rows"] = [
            dict(zip(names, row, strict=True)) for row in db.execute(query, (run["id"],))
        ]
    finally:
        db.close()
    return run


def error_texts(run: dict) -> list[str]:
    return [e["message"] for e in run["shown"]["errors"]]


def csv_file(folder: Path, name: str, *lines: str, encoding: str = "cp932") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


def workbook(path: Path, sheets: dict[str, list[list[object]]], hidden: tuple = ()) -> Path:
    """A workbook of `sheets` (rows from A1; None leaves a cell empty)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    book = Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        if name in hidden:
            sheet.sheet_state = "hidden"
        for r, row in enumerate(rows, start=1):
            for c, value in enumerate(row, start=1):
                if value is not None:
                    sheet.cell(r, c, value)
    book.save(path)
    return path


# -- 1. a corrected error CSV keeps no escape ------------------------------------------


def test_a_corrected_error_csv_imports_formula_like_cells_as_the_partner_wrote_them(
    config, tmp_path
):
    first = run_import(
        config,
        csv_file(
            tmp_path / "in",
            "20240517.csv",
            ",".join(HEADER),
            "1,2024/5/16,x,,=SUM(A1)",
            "2,2024/5/16,y,,'=1+2",
            "3,2024/5/16,z,,+81-3-1234",
        ),
    )
    assert first["rows_failed"] == 3
    report = Path(first["shown"]["error_csv"]).read_bytes().decode("cp932")
    assert "'=SUM(A1)" in report and "''=1+2" in report and "'+81-3-1234" in report
    corrected = report.replace(",x,", ",7,").replace(",y,", ",8,").replace(",z,", ",9,")
    back = tmp_path / "back" / "20240517.errors.csv"
    back.parent.mkdir()
    back.write_bytes(corrected.encode("cp932"))
    run = run_import(config, back)
    assert run["rows_imported"] == 3, error_texts(run)
    assert [row["note"] for row in run["rows"]] == ["=SUM(A1)", "'=1+2", "+81-3-1234"]


def test_the_error_csv_of_a_sheet_whose_table_starts_in_b_comes_back_corrected(config, tmp_path):
    """The error CSV starts with the sheet's empty column A, as its header does: sent
    back, the header's leading empty cell refused the whole copy."""
    path = workbook(
        tmp_path / "20240606.xlsx",
        {
            "売上": [
                [None, *HEADER],
                [None, 1, dt.date(2024, 5, 16), 12, None, "a"],
                [None, 2, dt.date(2024, 5, 16), "abc", None, "b"],
                ["※注意: 税込"],
            ]
        },
    )
    first = run_import(config, path)
    assert (first["rows_imported"], first["rows_failed"]) == (1, 2), error_texts(first)
    report = Path(first["shown"]["error_csv"]).read_bytes().decode("utf-8-sig")
    assert report.startswith(",会員番号,"), report
    lines = [line for line in report.splitlines() if "税込" not in line]
    back = tmp_path / "back" / "20240606.errors.csv"
    back.parent.mkdir()
    back.write_bytes("\r\n".join(lines).replace(",abc,", ",13,").encode("utf-8-sig") + b"\r\n")
    run = run_import(config, back)
    assert (run["state"], run["rows_imported"]) == ("completed", 1), error_texts(run)
    assert [(row["member_no"], row["amount"]) for row in run["rows"]] == [(2, 13)]


def test_a_file_that_is_no_error_csv_keeps_its_apostrophes(config, tmp_path):
    path = csv_file(tmp_path, "20240518.csv", ",".join(HEADER), "1,2024/5/16,1,,'=SUM(A1)")
    run = run_import(config, path)
    assert [row["note"] for row in run["rows"]] == ["'=SUM(A1)"]


# -- 2. Excel date cells ---------------------------------------------------------------


def test_date_cells_are_dates_whatever_their_time_or_display(config, tmp_path):
    path = workbook(
        tmp_path / "20240516.xlsx",
        {
            "売上": [
                HEADER,
                [1, dt.date(2024, 5, 16), 1, dt.datetime(2024, 5, 16), "midnight"],
                [
                    2,
                    dt.datetime(2024, 5, 16, 9, 30),
                    1,
                    dt.datetime(2024, 5, 16, 23, 59, 59, 600000),
                ],
                [3, "2024/5/16", 1, "2024/05/16 08:00", "text cells"],
            ]
        },
    )
    run = run_import(config, path)
    assert run["rows_imported"] == 3, error_texts(run)
    assert [(r["day"], r["at"]) for r in run["rows"]] == [
        ("2024-05-16", "2024-05-16T00:00:00"),
        # Rounded to the second Excel shows, but never into the next day.
        ("2024-05-16", "2024-05-16T23:59:59"),
        ("2024-05-16", "2024-05-16T08:00:00"),
    ]


def test_a_date_shown_without_its_time_is_taken_by_a_date_column(config, tmp_path):
    book = Workbook()
    sheet = book.active
    sheet.append(HEADER)
    sheet.append([1, dt.datetime(2024, 5, 16, 14, 3, 27), 1])
    sheet["B2"].number_format = "yyyy/m/d"  # a pasted NOW(), shown as a date
    path = tmp_path / "20240516.xlsx"
    book.save(path)
    run = run_import(config, path)
    assert run["rows_imported"] == 1, error_texts(run)
    assert run["rows"][0]["day"] == "2024-05-16"


def test_a_house_format_narrows_text_cells_only(config, tmp_path):
    path = workbook(
        tmp_path / "20240516.xlsx",
        {
            "売上": [
                ["会員番号", "日付", "登録日時"],
                [1, dt.date(2024, 5, 16), dt.datetime(2024, 5, 16, 9, 30)],
                [2, "2024/05/16", "2024/05/16 10:00"],
                [3, "2024-05-16", None],
            ]
        },
    )
    run = run_import(config, path, "house")
    assert [(r["member_no"], r["day"], r["at"]) for r in run["rows"]] == [
        (1, "2024-05-16", "2024-05-16T09:30:00"),
        (2, "2024-05-16", "2024-05-16T10:00:00"),
    ]
    assert error_texts(run) == [
        "売上!B4 列「日付」の値「2024-05-16」は決められた形式 YYYY/MM/DD ではありません"
    ]


def test_a_house_format_drops_no_part_of_a_date_cells_time(config, tmp_path):
    """A NOW() pasted in a workbook holds its seconds, which `YYYY/MM/DD HH:mm` does
    not write: they were dropped, without a row error. A text cell still keeps to the
    format."""
    path = workbook(
        tmp_path / "20240516.xlsx",
        {
            "売上": [
                ["会員番号", "日付", "登録日時"],
                [1, dt.date(2024, 5, 16), dt.datetime(2024, 5, 16, 9, 30, 45)],
                [2, dt.date(2024, 5, 16), "2024/05/16 09:30:45"],
            ]
        },
    )
    run = run_import(config, path, "house")
    assert [(r["member_no"], r["at"]) for r in run["rows"]] == [(1, "2024-05-16T09:30:45")]
    assert error_texts(run) == [
        "売上!C3 列「登録日時」の値「2024/05/16 09:30:45」は決められた形式"
        " YYYY/MM/DD HH:mm ではありません"
    ]


# -- 3. where the header is, and which sheet is read -----------------------------------


def test_a_header_problem_names_the_sheet_and_its_row(config, tmp_path):
    path = workbook(
        tmp_path / "20240516.xlsx",
        {"売上": [[], [], ["会員番号", "日付", "売上金額", "登録日時", "メモ欄"]]},
    )
    run = run_import(config, path)
    assert run["state"] == "failed"
    assert run["message"] == (
        "売上!3: 見出しに列がありません: 備考 / 売上!3: 見出しに不明な列があります: メモ欄"
    )


def test_the_first_visible_sheet_that_holds_anything_is_read(config, tmp_path):
    data = [HEADER, [1, "2024/05/16", 5]]
    hidden = workbook(
        tmp_path / "h" / "20240516.xlsx",
        {"マスタ": [["コード", "名前"]], "売上": data},
        hidden=("マスタ",),
    )
    assert run_import(config, hidden)["rows_imported"] == 1
    cover = workbook(tmp_path / "c" / "20240516.xlsx", {"表紙": [], "売上": data})
    assert run_import(config, cover)["rows_imported"] == 1


def test_empty_sheets_are_said_by_name(config, tmp_path):
    path = workbook(tmp_path / "20240516.xlsx", {"表紙": [], "売上": []})
    run = run_import(config, path)
    assert run["message"] == "ブックの表示されているシート(表紙, 売上)はどれも空です"
    assert run["encoding"] == "xlsx"
    run = run_import(config, path, "ledger")
    assert run["message"] == "シート「売上」は空です"


# -- 4. an empty header cell among named ones ------------------------------------------


def test_an_empty_header_cell_is_named_by_its_position(config, tmp_path):
    path = csv_file(
        tmp_path, "20240516.csv", "会員番号,日付,,売上金額,登録日時,備考", "1,2024/5/16,,1,,a"
    )
    run = run_import(config, path)
    assert run["message"] == (
        "1行目: 見出しの 3列目が空です(列ごとに見出しを付けるか、空の列を削除してください)"
    )
    sheet = workbook(
        tmp_path / "20240517.xlsx", {"売上": [[], ["会員番号", "日付", None, *HEADER[2:]]]}
    )
    assert run_import(config, sheet)["message"].startswith("売上!2: 見出しの C列目が空です")


# -- 5. blank lines above a CSV's header -----------------------------------------------


def test_blank_lines_above_the_header_are_read_past(config, tmp_path):
    path = csv_file(
        tmp_path, "20240516.csv", "", ",,,,", ",".join(HEADER), "1,2024/5/16,5,,a", "2,x,6,,b"
    )
    run = run_import(config, path)
    assert (run["rows_imported"], run["rows_failed"], run["rows_empty"]) == (1, 1, 2)
    assert error_texts(run) == [
        "5行目 列「日付」の値「x」は日付(YYYY/MM/DD、YYYY-MM-DD、YYYYMMDD、YYYY年M月D日)ではありません"
    ]
    bad = csv_file(tmp_path / "bad", "20240516.csv", "", "会員番号,日付")
    assert run_import(config, bad)["message"].startswith("2行目: 見出しに列がありません")


def test_blank_lines_above_the_header_of_a_large_file_read_in_parts(config, tmp_path):
    rows = [f"{i},2024/5/16,{i},2024/5/16 9:00,備考{i}" for i in range(1, 400001)]
    rows[199999] = "200000,x,1,,bad"
    path = csv_file(tmp_path, "20240516.csv", "", "", ",".join(HEADER), *rows)
    assert path.stat().st_size > 16 * 1024 * 1024  # staging.LARGE_FILE: read in parts
    run = run_import(config, path)
    assert (run["rows_imported"], run["rows_failed"], run["rows_empty"]) == (399999, 1, 2)
    assert error_texts(run)[0].startswith("200003行目 列「日付」の値「x」は")


# -- 6. a file no CSV can be -----------------------------------------------------------


def test_a_workbook_named_csv_is_said_to_be_one(config, tmp_path):
    xlsx = workbook(tmp_path / "book.xlsx", {"売上": [HEADER]})
    for fmt, source in (("xlsx", xlsx), ("xls", EXCEL / "sales.xls")):
        path = tmp_path / fmt / "20240516.csv"
        path.parent.mkdir()
        shutil.copy(source, path)
        run = run_import(config, path)
        assert run["state"] == "failed"
        assert run["message"].startswith(f"CSV ではなく Excel ブック({fmt})です。"), run["message"]
        assert "NUL" not in run["message"]


def test_utf16_without_a_bom_is_said_to_be_utf16(config, tmp_path):
    path = csv_file(
        tmp_path, "20240516.csv", ",".join(HEADER), "1,2024/5/16,1,,a", encoding="utf-16-le"
    )
    run = run_import(config, path)
    assert run["message"].startswith("UTF-16 のファイルのようです"), run["message"]


# -- 7. a damaged workbook, in the catalog's words -------------------------------------


def test_a_damaged_workbook_is_said_without_the_librarys_english(config, tmp_path):
    whole = workbook(tmp_path / "whole.xlsx", {"売上": [HEADER, [1, "2024/5/16"]]}).read_bytes()
    cut = tmp_path / "cut" / "20240516.xlsx"
    cut.parent.mkdir()
    cut.write_bytes(whole[: len(whole) // 2])
    broken = tmp_path / "ole" / "20240516.xls"
    broken.parent.mkdir()
    broken.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600)
    for path, fmt in ((cut, "xlsx"), (broken, "xls")):
        run = run_import(config, path)
        assert run["message"] == (
            "Excel ブックとして読めません。壊れているか、パスワードで保護されています"
            "(ファイルの中身が壊れているか、途中で切れています)"
        )
        assert run["encoding"] == fmt


# -- 8. a value typed beside a sheet's table -------------------------------------------


def test_a_value_beside_the_table_is_named_by_its_cell(config, tmp_path):
    path = workbook(
        tmp_path / "20240516.xlsx",
        {
            "売上": [
                HEADER,
                [1, "2024/5/16", 1, None, "a"],
                [2, "2024/5/16", 1, None, "b", None, "はみ出し"],
            ]
        },
    )
    run = run_import(config, path)
    assert run["rows_imported"] == 1
    assert error_texts(run) == [
        "売上!G3: 表の外(見出しのない列)に値「はみ出し」があります。見出しのない列の値は取り込めません"
    ]


MEMO = """
[layouts.memo]
columns = [
  { name = "code", type = "text", label = "コード" },
  { name = "name", type = "text", label = "名称" },
  { name = "memo", type = "text", label = "メモ" },
]
"""


def test_the_header_repeated_mid_file_is_no_data(tmp_path):
    """Pages of one export pasted together repeat the header: under a layout of text
    columns it was imported as a row of コード, 名称, メモ."""
    config = write_config(tmp_path, account("memo", layout="memo", on_row_error="skip"), extra=MEMO)
    path = csv_file(
        tmp_path / "in",
        "20240601.csv",
        "コード,名称,メモ",
        "001,山田,a",
        "",
        "コード,名称,メモ",
        "003,佐藤,c",
    )
    run = run_import(config, path, "memo")
    assert [row["code"] for row in run["rows"]] == ["001", "003"], run["rows"]
    assert error_texts(run) == [
        "4行目: 見出しと同じ行です(ページを貼り合わせたファイルの見出しの繰り返し?)。"
        "データとしては取り込みません"
    ]
