"""Broken records name the line they start on: a quote never closed, and a record of
several lines cut by the end of the file. Imported through the real pipeline, both as
a small file (`renkei import`, one pass) and as a large one (read in parts by reader
processes, staging.py)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from daemon.oneshot import import_file
from daemon.worker import staging
from importers.messages import message
from tests import support
from tests.support import PERFORMANCE_LAYOUT, account, in_process_settings, write_config

HEADER = "member_no,date,sales_amount,note"


def rows(*lines: str) -> list[str]:
    return [HEADER, *lines]


def write(path: Path, lines: list[str], encoding: str, newline_at_end: bool = True) -> Path:
    text = "\r\n".join(lines) + ("\r\n" if newline_at_end else "")
    path.write_bytes(text.encode(encoding))
    return path


def cli_import(tmp_path: Path, path: Path) -> tuple[dict, list[tuple]]:
    """`renkei import FILE --account acme`: the run, and its errors as stored."""
    config = tmp_path / "renkei.toml"
    if not config.exists():
        write_config(tmp_path, account("acme", report="never"))
    run = support.cli_import(config, path, timeout=120)
    with sqlite3.connect(tmp_path / "var" / "renkei.db") as db:
        errors = db.execute(
            'SELECT line, "column", message FROM run_errors WHERE run_id = ? ORDER BY rowid',
            (run["id"],),
        ).fetchall()
    return run, errors


SEVEN_LINES = rows(
    "1,2024/05/16,100,東京",
    "2,2024/05/16,200,大阪",
    '3,2024/05/16,300,"名古屋の備考',  # line 4: the quote is never closed
    "4,2024/05/16,400,札幌",
    "5,2024/05/16,500,福岡",
    "6,2024/05/16,600,仙台",
)


@pytest.mark.parametrize("encoding", ["cp932", "utf-8"])
def test_a_quote_never_closed_names_the_line_its_record_starts_on(tmp_path, encoding):
    assert len(SEVEN_LINES) == 7
    path = write(tmp_path / "20240516.csv", SEVEN_LINES, encoding)
    run, errors = cli_import(tmp_path, path)
    assert run["state"] == "failed" and run["rows_imported"] == 0
    assert run["message"] == '4行目から始まるレコードの引用符(")が閉じられていません'
    assert errors == [(4, "", run["message"])]  # the error CSV's 行番号 is the same line


@pytest.mark.parametrize("encoding", ["cp932", "utf-8"])
def test_a_record_of_several_lines_cut_by_the_end_names_its_first_line(tmp_path, encoding):
    lines = rows(
        "1,2024/05/16,100,東京",
        "2,2024/05/16,200,大阪",
        "3,2024/05/16,300,名古屋",
        '4,2024/05/16,400,"札幌の',  # line 5: a cell of several lines, cut off
        "備考は",
        "途中まで",
    )
    path = write(tmp_path / "20240516.csv", lines, encoding, newline_at_end=False)
    run, errors = cli_import(tmp_path, path)
    assert run["state"] == "failed"
    assert run["message"] == "5行目から始まるレコードでファイルが途中で切れています"
    assert [line for line, *_ in errors] == [5]


def test_a_quote_never_closed_before_another_quoted_cell_names_its_line(tmp_path):
    lines = list(SEVEN_LINES)
    lines[5] = '5,2024/05/16,500,"福岡"'  # its opening quote closes line 4's cell
    path = write(tmp_path / "20240516.csv", lines, "cp932")
    run, errors = cli_import(tmp_path, path)
    assert run["state"] == "failed"
    assert run["message"].startswith("4行目から始まるレコードが 6行目で CSV として読めません")
    assert [line for line, *_ in errors] == [4]


def test_a_stray_quote_in_one_line_is_named_by_its_line(tmp_path):
    lines = list(SEVEN_LINES)
    lines[3] = '3,2024/05/16,300,"名古屋"の備考'
    path = write(tmp_path / "20240516.csv", lines, "cp932")
    run, errors = cli_import(tmp_path, path)
    assert run["message"].startswith("4行目: CSV として読めません")
    assert [line for line, *_ in errors] == [4]


def test_the_same_record_ending_in_a_line_break_is_a_quote_never_closed(tmp_path):
    lines = rows(
        "1,2024/05/16,100,東京",
        "2,2024/05/16,200,大阪",
        "3,2024/05/16,300,名古屋",
        '4,2024/05/16,400,"札幌の',
        "備考",
    )
    path = write(tmp_path / "20240516.csv", lines, "cp932")
    run, errors = cli_import(tmp_path, path)
    assert run["message"] == '5行目から始まるレコードの引用符(")が閉じられていません'
    assert [line for line, *_ in errors] == [5]


def test_a_record_cut_inside_a_character_names_its_first_line(tmp_path):
    lines = rows("1,2024/05/16,100,東京", '2,2024/05/16,200,"大阪の', "備考")
    data = ("\r\n".join(lines)).encode("cp932")[:-1]  # half of 考
    (path := tmp_path / "20240516.csv").write_bytes(data)
    run, errors = cli_import(tmp_path, path)
    assert run["message"] == "3行目から始まるレコードでファイルが途中で切れています"
    assert [line for line, *_ in errors] == [3]


@pytest.mark.parametrize(
    ("lines", "line"),
    [
        (rows("1,2024/05/16,100,東京", "2,2024/05/16,200,大阪の備考"), 3),
        (rows("1,2024/05/16,100,東京", '2,2024/05/16,200,"大阪の', "備考"), 3),
        (rows("1,2024/05/16,100,x", "2,2024/05/16,200,y", "3,2024/05/16,1,テストあ"), 4),
    ],
)
def test_utf8_cut_inside_its_last_character_is_truncated(tmp_path, lines, line):
    # Not UTF-8 to the last byte, it was read as CP932 and failed on a byte of its
    # first Japanese word, or imported mojibake.
    data = "\r\n".join(lines).encode("utf-8")[:-1]
    (path := tmp_path / "20240516.csv").write_bytes(data)
    run, errors = cli_import(tmp_path, path)
    assert (run["state"], run["rows_imported"]) == ("failed", 0), run
    assert run["encoding"] == "utf-8"
    assert run["message"] == f"{line}行目から始まるレコードでファイルが途中で切れています"
    assert [at for at, *_ in errors] == [line]


def test_a_short_last_record_of_several_lines_names_its_first_line(tmp_path):
    # Its quote is closed, but the record has three fields of four and no line break.
    lines = rows("1,2024/05/16,100,東京", '2,2024/05/16,"2', '00"')
    path = write(tmp_path / "20240516.csv", lines, "utf-8", newline_at_end=False)
    run, errors = cli_import(tmp_path, path)
    assert run["message"] == "3行目から始まるレコードでファイルが途中で切れています"
    assert [line for line, *_ in errors] == [3]


def test_a_correct_record_of_several_lines_still_imports(tmp_path):
    lines = rows(
        "1,2024/05/16,100,東京",
        '2,2024/05/16,200,"大阪の備考、',  # lines 3-5: one record
        '""引用""を含む',
        '三行目"',
        "3,2024/05/16,300,名古屋",
        "x,2024/05/16,400,札幌",  # line 7: a row error, counted from the physical lines
    )
    path = write(tmp_path / "20240516.csv", lines, "cp932")
    write_config(tmp_path, account("acme", report="never", on_row_error="skip"))
    run, errors = cli_import(tmp_path, path)
    assert run["state"] == "completed", run
    assert (run["rows_imported"], run["rows_failed"]) == (3, 1)
    assert [line for line, *_ in errors] == [7]
    with sqlite3.connect(tmp_path / "var" / "renkei.db") as db:
        notes = [n for (n,) in db.execute("SELECT note FROM performance ORDER BY rowid")]
    assert notes == ["東京", '大阪の備考、\r\n"引用"を含む\r\n三行目', "名古屋"]


def test_the_messages_in_english():
    assert (
        message("file.unclosed_quote", "en", line=4)
        == 'the record starting on line 4 has a quote (") that is never closed'
    )
    assert (
        message("file.truncated", "en", line=5)
        == "the file is cut off in the record starting on line 5"
    )


# -- the large-file path: parts read by other processes --------------------------------

LAYOUT = PERFORMANCE_LAYOUT


def many(count: int) -> list[str]:
    """`count` records, every tenth of two lines: line numbers are not record numbers."""
    out = []
    for i in range(1, count + 1):
        note = f'"備考 {i} の\r\n二行目"' if i % 10 == 0 else f"備考{i}"
        out.append(f"{i},2024/05/16,{i},{note}")
    return out


def import_in_parts(tmp_path: Path, monkeypatch, path: Path) -> tuple[dict, list, list]:
    """Import through the pipeline `renkei import` uses, with every file "large" and
    three reader processes; the parts the file was read in."""
    monkeypatch.setattr(staging, "LARGE_FILE", 0)
    monkeypatch.setattr(staging, "cores", lambda: 3)
    seen: list = []
    real = staging._stage_parts

    async def spy(csv_file, table, folder, parts, *rest):
        seen.append(parts)
        return await real(csv_file, table, folder, parts, *rest)

    monkeypatch.setattr(staging, "_stage_parts", spy)
    settings = in_process_settings(
        tmp_path / "var",
        {"performance": LAYOUT},
        {"acme": {"layout": "performance", "report": "never"}},
        limits={"max_rows": 100000, "max_bytes": 100000000},
    )
    run, _ = asyncio.run(import_file(settings, path, "acme"))
    with sqlite3.connect(tmp_path / "var" / "renkei.db") as db:
        errors = db.execute(
            "SELECT line FROM run_errors WHERE run_id = ? ORDER BY rowid", (run["id"],)
        ).fetchall()
    return run, [line for (line,) in errors], seen


def physical_line(lines: list[str], index: int) -> int:
    """The physical line `lines[index]` starts on (records of two lines before it)."""
    return 1 + sum(1 + text.count("\r\n") for text in lines[:index])


@pytest.mark.parametrize("encoding", ["cp932", "utf-8"])
def test_large_a_quote_never_closed_near_the_start_names_its_line(tmp_path, monkeypatch, encoding):
    lines = rows(*many(3000))
    lines[3] = '3,2024/05/16,3,"開いたまま'  # line 4: its cell runs to the next quote
    path = write(tmp_path / "20240516.csv", lines, encoding)
    run, errors, seen = import_in_parts(tmp_path, monkeypatch, path)
    assert run["message"].startswith("4行目から始まるレコードが 11行目で CSV として読めません")
    assert errors == [4]
    assert len(seen) == 1 and len(seen[0]) == 3  # found in the first of three parts


@pytest.mark.parametrize("encoding", ["cp932", "utf-8"])
def test_large_a_quote_never_closed_in_the_last_part_names_its_line(
    tmp_path, monkeypatch, encoding
):
    lines = rows(*many(3000))
    lines[2990] = '2990,2024/05/16,1,"開いたまま'
    lines[2991:] = [f"{i},2024/05/16,{i},備考" for i in range(2991, 3001)]
    path = write(tmp_path / "20240516.csv", lines, encoding)
    run, errors, seen = import_in_parts(tmp_path, monkeypatch, path)
    line = physical_line(lines, 2990)
    assert line > 3000  # counted across the parts, with the records of two lines
    assert run["message"] == f'{line}行目から始まるレコードの引用符(")が閉じられていません'
    assert errors == [line]
    assert len(seen) == 1 and len(seen[0]) == 3 and seen[0][-1].first_line > 0


def test_large_a_record_of_several_lines_cut_by_the_end_names_its_first_line(tmp_path, monkeypatch):
    lines = rows(*many(3000), '3001,2024/05/16,1,"最後の', "備考は途中")
    path = write(tmp_path / "20240516.csv", lines, "cp932", newline_at_end=False)
    run, errors, seen = import_in_parts(tmp_path, monkeypatch, path)
    line = physical_line(lines, 3001)
    assert run["message"] == f"{line}行目から始まるレコードでファイルが途中で切れています"
    assert errors == [line]
    assert len(seen) == 1 and len(seen[0]) == 3


def test_large_correct_records_of_several_lines_import_in_parts(tmp_path, monkeypatch):
    lines = rows(*many(3000))
    lines[2500] = "x,2024/05/16,1,bad"  # a row error in the last part
    path = write(tmp_path / "20240516.csv", lines, "cp932")
    (tmp_path / "var").mkdir()
    run, errors, seen = import_in_parts(tmp_path, monkeypatch, path)
    assert len(seen) == 1 and len(seen[0]) == 3
    assert run["state"] == "failed"  # on_row_error = reject: the row error rejects the file
    assert errors == [physical_line(lines, 2500)]
    assert run["rows_total"] == 3000
