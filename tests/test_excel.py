"""Excel workbooks: one sheet read as the text Excel shows, then the CSV's own checks.

Workbooks are made here with openpyxl; the end-to-end tests send them to the real
daemon by mail (smtplib) and by `curl -F`.
"""

from __future__ import annotations

import codecs
import datetime as dt
import zipfile
from email.message import EmailMessage
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from openpyxl import Workbook
from openpyxl.styles import Font

from handlers import mime
from handlers.attachments import csv_attachments, for_account
from importers.errors import PermanentProblem
from importers.layouts import ColumnSpec
from importers.reader import CsvFile, ImportSpec
from importers.sheetcells import cell_text, column_letter
from importers.workbook import SheetRecords, is_workbook, read_sheet
from tests.support import (
    Daemon,
    account,
    curl,
    needs_curl,
    queued_ids,
    send,
    send_as,
    write_config,
)

HEADER = ["member_no", "date", "sales_amount", "note"]


def workbook(path: Path, sheets: dict[str, list[list[object]]]) -> Path:
    """A workbook of `sheets` (name → rows from A1; None leaves a cell empty), and
    below each table a row of formatted but empty cells, as sheets often have."""
    book = Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for r, row in enumerate(rows, start=1):
            for c, value in enumerate(row, start=1):
                if value is not None:
                    sheet.cell(r, c, value)
        for c in range(1, 6):
            sheet.cell(len(rows) + 2, c).font = Font(bold=True)
    book.save(path)
    return path


def test_cells_read_as_the_text_excel_shows(tmp_path):
    path = workbook(
        tmp_path / "20240516.xlsx",
        {
            "売上": [
                ["code", "whole", "half", "tenth", "date", "datetime", "flag", "time", "na"],
                [
                    "00123",
                    12,
                    12.5,
                    0.1,
                    dt.date(2024, 5, 16),
                    dt.datetime(2024, 5, 16, 9, 30),
                    True,
                    dt.time(9, 30),
                    "NA",
                ],
                [None, 12.0, -3, 1e20, dt.datetime(2024, 5, 16), None, False, None, "N/A"],
            ]
        },
    )
    sheet = read_sheet(path)
    assert sheet.name == "売上" and sheet.format == "xlsx"
    assert sheet.rows[1] == [
        "00123",
        "12",
        "12.5",
        "0.1",
        "2024-05-16",
        "2024-05-16 09:30:00",
        "TRUE",
        "09:30:00",
        "NA",
    ]
    assert sheet.rows[2] == [
        "",
        "12",
        "-3",
        "100000000000000000000",
        "2024-05-16",
        "",
        "FALSE",
        "",
        "N/A",
    ]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        (float("nan"), ""),
        (12, "12"),
        (12.0, "12"),
        (-0.0, "0"),
        (0.1 + 0.2, "0.3"),  # Excel's 15 digits
        (1e-05, "0.00001"),
        (12345678901234567890, "12345678901234600000"),
        (True, "TRUE"),
        (dt.datetime(2024, 5, 16, 9, 29, 59, 999_990), "2024-05-16 09:30:00"),
        (dt.timedelta(hours=30, minutes=5), "30:05:00"),
        (" 00123 ", " 00123 "),
    ],
)
def test_cell_text(value, text):
    assert cell_text(value) == text


def test_rows_keep_the_sheets_numbers_and_columns(tmp_path):
    # The table starts at B3 under a blank margin; a blank row in the middle, and
    # formatted but empty rows below it.
    path = workbook(
        tmp_path / "a.xlsx",
        {
            "Sheet1": [
                [],
                [],
                [None, *HEADER],
                [None, 1, "2024/05/16", 100, "a"],
                [],
                [None, 2, "2024/05/17", None, None],
            ]
        },
    )
    sheet = read_sheet(path)
    assert sheet.first_column == 1
    assert sheet.rows == [[], [], HEADER, ["1", "2024/05/16", "100", "a"], [], ["2", "2024/05/17"]]
    assert sheet.cell(6, 2) == "Sheet1!D6"
    records = SheetRecords(sheet, header=True, size=1000)
    seen = [(record, records.line_num) for record in records]
    assert seen == [
        (HEADER, 3),
        (["1", "2024/05/16", "100", "a"], 4),
        (["", "", "", ""], 5),
        (["2", "2024/05/17", "", ""], 6),
    ]
    assert records.records() == 3


def test_a_cell_beside_the_table_makes_only_its_row_wider(tmp_path):
    path = workbook(tmp_path / "a.xlsx", {"s": [HEADER, [1, "2024/05/16", 1, "a", "memo"], [2]]})
    records = list(SheetRecords(read_sheet(path), header=True, size=1))
    assert [len(r) for r in records] == [4, 5, 4]


def test_the_sheet_named_by_sheet_is_read(tmp_path):
    path = workbook(tmp_path / "a.xlsx", {"表紙": [["cover"]], "売上": [["x"]]})
    assert read_sheet(path).rows == [["cover"]]
    assert read_sheet(path, "売上").rows == [["x"]]


def test_a_sheet_named_with_a_space_no_one_sees_is_still_found(tmp_path):
    """`sheet = "売上"` against a tab named `売上 `: refused as no such sheet, listing
    `売上 ` among those there are, the space unseen."""
    path = workbook(tmp_path / "a.xlsx", {"表紙": [["cover"]], "売上 ": [["x"]]})
    assert read_sheet(path, "売上").rows == [["x"]]


def test_an_unknown_sheet_names_the_sheets_there_are(tmp_path):
    path = workbook(tmp_path / "a.xlsx", {"表紙": [["cover"]], "売上": [["x"]]})
    with pytest.raises(PermanentProblem) as caught:
        read_sheet(path, "明細")
    assert caught.value.key == "workbook.no_sheet"
    assert caught.value.render("ja") == "ブックにシート「明細」がありません(あるシート: 表紙, 売上)"


@pytest.mark.parametrize(
    ("content", "key"),
    [
        (b"member_no,date\r\n1,2024/05/16\r\n", "workbook.not_workbook"),  # a CSV renamed
        # What web systems export as "Excel": an HTML table, an Excel 2003 XML file.
        (b'<html xmlns:x="urn:schemas-microsoft-com:office:excel"><table>', "workbook.is_html"),
        (b"<TABLE border=1><TR><TD>1</TD></TR></TABLE>", "workbook.is_html"),
        (
            b'<?xml version="1.0"?>\n<Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet">',
            "workbook.is_xml",
        ),
        (b"PK\x03\x04" + b"\x00" * 60, "workbook.unreadable"),  # a broken zip
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, "workbook.unreadable"),
    ],
)
def test_a_file_that_is_no_workbook_is_a_clear_problem(tmp_path, content, key):
    path = tmp_path / "20240516.xlsx"
    path.write_bytes(content)
    with pytest.raises(PermanentProblem) as caught:
        read_sheet(path)
    assert caught.value.key == key
    assert caught.value.render("en")


def test_a_cut_workbook_is_a_clear_problem(tmp_path):
    path = workbook(tmp_path / "a.xlsx", {"s": [HEADER, [1, "2024/05/16", 1, "a"]]})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(PermanentProblem) as caught:
        read_sheet(path)
    assert caught.value.key == "workbook.unreadable"


def test_a_workbook_that_inflates_too_far_is_refused_unread(tmp_path, monkeypatch):
    path = workbook(tmp_path / "a.xlsx", {"s": [HEADER]})
    with zipfile.ZipFile(path) as archive:
        expanded = sum(info.file_size for info in archive.infolist())
    monkeypatch.setattr("importers.workbook.MAX_EXPANDED", expanded - 1)
    with pytest.raises(PermanentProblem) as caught:
        read_sheet(path)
    assert caught.value.key == "workbook.expands"


def test_a_stray_value_far_from_the_table_is_refused_before_it_is_loaded(tmp_path):
    """One space left in XFD2000 made a 5 KB workbook a rectangle of 33 million cells:
    1.9 GB and 24 s in calamine, and with less memory "damaged". A cell that only
    carries a format (a sheet formatted to its last row) is not counted."""
    path = workbook(tmp_path / "a.xlsx", {"売上": [HEADER, [1, "2024/05/16", 1, "a"]]})
    far = Workbook()
    far.active.title = "売上"
    for row in (HEADER, [1, "2024/05/16", 1, "a"]):
        far.active.append(row)
    far.active["XFD1048576"].font = Font(bold=True)
    far.save(path)
    assert len(read_sheet(path).rows) == 2
    far.active["XFD2000"] = " "
    far.save(path)
    with pytest.raises(PermanentProblem) as caught:
        read_sheet(path)
    assert caught.value.key == "workbook.too_large"
    assert caught.value.render("ja") == (
        "シート「売上」の使用範囲 A1:XFD2000 は 32,768,000 セルあり、大きすぎて読めません"
        "(上限 4,000,000 セル)。表から離れたセル(XFD2000 など)に値が残っていないか確かめ、"
        "消してから送ってください"
    )


def with_sheet_xml(path: Path, rows: str, prefix: str = "") -> Path:
    """The workbook at `path` with its one sheet's XML made of `rows`, as a program
    other than Excel may write it (a namespace prefix on every tag, cells without `r`)."""
    ns = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    declared = f' xmlns:{prefix[:-1]}="{ns}"' if prefix else f' xmlns="{ns}"'
    xml = (
        f'<?xml version="1.0"?><{prefix}worksheet{declared}><{prefix}sheetData>{rows}'
        f"</{prefix}sheetData></{prefix}worksheet>"
    )
    with zipfile.ZipFile(path) as archive:
        parts = {info: archive.read(info.filename) for info in archive.infolist()}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for info, data in parts.items():
            sheet = info.filename == "xl/worksheets/sheet1.xml"
            archive.writestr(info, xml.encode() if sheet else data)
    return path


def _cell(ref: str | None, value: str, prefix: str = "") -> str:
    at = f' r="{ref}"' if ref else ""
    p = prefix
    return f'<{p}c{at} t="inlineStr"><{p}is><{p}t>{value}</{p}t></{p}is></{p}c>'


@pytest.mark.parametrize(
    "how", ["no_references", "prefixed", "single_quotes", "line_break", "lower_case"]
)
def test_a_far_value_written_otherwise_than_excel_writes_it_is_still_seen(tmp_path, how):
    """The used range was read from cells written `<c r="…">` only: a far cell without
    its `r`, or every tag with a namespace prefix, passed unseen and calamine loaded the
    whole rectangle. An empty cell that is not self-closing is no value."""
    path = workbook(tmp_path / "a.xlsx", {"Sheet1": [HEADER]})
    p = "x:" if how == "prefixed" else ""
    head = "".join(_cell(f"{c}1", n, p) for c, n in zip("ABCD", HEADER, strict=True))
    far = _cell(None if how == "no_references" else "XFD2000", " ", p)
    # Legal XML an exporter may write, which the pattern for Excel's form did not see.
    far = {
        "single_quotes": far.replace('r="XFD2000"', "r='XFD2000'"),
        "line_break": far.replace(' r="XFD2000"', '\nr="XFD2000"'),
        "lower_case": far.replace('r="XFD2000"', 'r="xfd2000"'),
    }.get(how, far)
    rows = f'<{p}row r="1">{head}</{p}row><{p}row r="2000">{far}'
    if how == "no_references":
        rows += "".join(_cell(None, "", p) for _ in range(16383))
        rows = rows.replace(far, "", 1) + far
    rows += f"</{p}row>"
    with_sheet_xml(path, rows, p)
    with pytest.raises(PermanentProblem) as caught:
        read_sheet(path)
    assert caught.value.key == "workbook.too_large"
    assert caught.value.params["last"] == "XFD2000"
    empty = '<row r="1048576"><c r="XFD1048576" s="0"></c></row>'
    with_sheet_xml(path, f'<row r="1">{_cell("A1", "member_no")}</row>{empty}')
    assert read_sheet(path).rows == [["member_no"]]


@pytest.mark.parametrize(("index", "letters"), [(0, "A"), (3, "D"), (25, "Z"), (26, "AA")])
def test_column_letters(index, letters):
    assert column_letter(index) == letters


def test_workbooks_are_told_by_their_extension():
    assert is_workbook("20240516.XLSX") and is_workbook("a.xls")
    assert not is_workbook("20240516.csv") and not is_workbook("xlsx")


# -- the reader: a sheet through the CSV's own checks -----------------------------------

COLUMNS = [
    ColumnSpec("member_no", "int", required=True),
    ColumnSpec("date", "date", required=True),
    ColumnSpec("sales_amount", "int", max_digits=13),
    ColumnSpec("note", "text", max_length=3000),
]


def opened(path: Path, **spec: object) -> CsvFile:
    settings = {"max_rows": 10, "max_bytes": 1 << 20, "language": "ja", "workbook": True}
    csv_file = CsvFile(path, ImportSpec(COLUMNS, **{**settings, **spec}))
    csv_file.open()
    return csv_file


def test_the_reader_converts_a_sheet_and_names_each_bad_cell(tmp_path):
    path = workbook(
        tmp_path / "a.xlsx",
        {
            "売上": [
                [],
                [None, *HEADER],
                [None, 1, dt.date(2024, 5, 16), 12, "00123"],
                [],
                [None, "x", "2024/05/17", 1.5, None],
                [None, 3, "2024/05/18", 3, "a", "beside"],
            ]
        },
    )
    csv_file = opened(path)
    assert csv_file.encoding == "xlsx"
    [chunk] = list(csv_file.chunks())
    assert chunk.rows == [[1, "2024-05-16", 12, "00123"]] and chunk.lines == [3]
    assert (chunk.records, chunk.empty) == (3, 1)
    assert [(e.line, e.column) for e in chunk.errors] == [
        (5, "member_no"),
        (5, "sales_amount"),
        (6, ""),
    ]
    assert chunk.errors[0].message == "売上!B5 列「member_no」の値「x」は整数ではありません"
    assert chunk.errors[1].message.startswith("売上!D5 列「sales_amount」の値「1.5」は")
    assert chunk.errors[2].message == (
        "売上!F6: 表の外(見出しのない列)に値「beside」があります。見出しのない列の値は取り込めません"
    )
    assert chunk.errors[2].record == ["3", "2024/05/18", "3", "a", "beside"]


def test_a_note_left_of_the_table_makes_only_its_row_an_error(tmp_path):
    """A note typed in column A below a table that starts in B (作成者, ※税込) made A
    a column of the sheet: the header's empty A failed the whole file, as a header
    to fix, where a note on the right makes only its row an error."""
    path = workbook(
        tmp_path / "a.xlsx",
        {
            "売上": [
                [None, *HEADER],
                [None, 1, dt.date(2024, 5, 16), 12, "a"],
                ["作成者: 山田"],
                [None, 2, dt.date(2024, 5, 16), 13, "b"],
            ]
        },
    )
    [chunk] = list(opened(path).chunks())
    assert [row[0] for row in chunk.rows] == [1, 2] and chunk.lines == [2, 4]
    [error] = chunk.errors
    assert (error.line, error.value) == (3, "作成者: 山田")
    assert error.message.startswith("売上!3: A列目に値「作成者: 山田」があります"), error.message


def test_a_time_in_a_days_last_half_second_keeps_its_day(tmp_path):
    """calamine's microseconds were rounded to the second Excel shows: a pasted NOW()
    of 23:59:59.6 became the next day's date, in a date column too."""
    path = workbook(
        tmp_path / "a.xlsx",
        {
            "売上": [
                HEADER,
                [1, dt.datetime(2024, 5, 31, 23, 59, 59, 600000), 1, "a"],
                [2, dt.datetime(2024, 12, 31, 23, 59, 59, 700000), 1, "b"],
                [3, dt.datetime(2024, 6, 1, 9, 29, 59, 999800), 1, "c"],
            ]
        },
    )
    [chunk] = list(opened(path).chunks())
    assert [row[1] for row in chunk.rows] == ["2024-05-31", "2024-12-31", "2024-06-01"]
    assert cell_text(dt.datetime(2024, 5, 31, 23, 59, 59, 600000)) == "2024-05-31 23:59:59"
    assert cell_text(dt.datetime(2024, 6, 1, 9, 29, 59, 999800)) == "2024-06-01 09:30:00"


def test_the_reader_counts_a_sheets_rows_against_max_rows(tmp_path):
    rows = [[i, "2024/05/16", i, ""] for i in range(11)]
    path = workbook(tmp_path / "a.xlsx", {"s": [HEADER, *rows, [], []]})
    with pytest.raises(PermanentProblem) as caught:
        opened(path)
    assert caught.value.key == "file.too_many_rows"
    assert len(list(opened(path, max_rows=11).chunks())[0].rows) == 11


def test_the_reader_reads_a_sheet_without_a_header(tmp_path):
    path = workbook(tmp_path / "a.xlsx", {"s": [[1, "2024/05/16", 2, "a"], [2, "2024/05/17"]]})
    [chunk] = list(opened(path, header=False).chunks())
    assert chunk.rows == [[1, "2024-05-16", 2, "a"], [2, "2024-05-17", None, ""]]


# -- mail: which parts are workbooks ----------------------------------------------------


def test_mail_takes_workbooks_by_name_and_by_type_and_gives_them_to_excel_accounts():
    msg = EmailMessage()
    msg.set_content("see attached")
    msg.add_attachment(b"a,b\r\n", maintype="text", subtype="csv", filename="20240516.csv")
    msg.add_attachment(b"PK\x03\x04", maintype="application", subtype="zip", filename="b.XLSX")
    msg.add_attachment(b"\xd0\xcf", maintype="application", subtype="vnd.ms-excel")
    msg.add_attachment(b"%PDF", maintype="application", subtype="pdf", filename="c.pdf")
    raw = msg.as_bytes()
    fast = mime.leaf_parts(raw)
    assert fast is not None
    found = list(csv_attachments(fast[1]))
    assert found == list(csv_attachments(mime.library_parts(raw)[1]))
    assert [name for name, _ in found] == ["20240516.csv", "b.XLSX", "attachment.xls"]
    assert found[1][1] == b"PK\x03\x04"  # a binary part arrives byte for byte
    assert for_account(SimpleNamespace(excel=True), found) == found
    assert for_account(SimpleNamespace(excel=False), found) == found[:1]
    assert for_account(SimpleNamespace(excel=False), found[1:]) == found[1:]


# -- the real daemon: a workbook by mail and by curl -F ---------------------------------

ACCOUNTS = (
    account("acme", excel=True)
    + '[accounts.acme.api]\ntoken = "demo-acme-token"\n'
    + account("ledger", excel=True, sheet="売上", on_row_error="skip")
    + '[accounts.ledger.api]\ntoken = "demo-ledger-token"\n'
    + account("plain")
    + '[accounts.plain.api]\ntoken = "demo-plain-token"\n'
    + account("anyname", excel=True, filename="any", on_row_error="skip")
    + account("sjis", excel=True, encoding="cp932", on_row_error="skip")
)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture(scope="module")
def daemon(tmp_path_factory, module_relay):
    folder = tmp_path_factory.mktemp("excel")
    d = Daemon(write_config(folder, ACCOUNTS, relay_port=module_relay.port)).start()
    yield d
    assert d.terminate() == 0


def sales(path: Path, rows: list[list[object]], **more: list[list[object]]) -> Path:
    """A workbook whose sheet 売上 holds the header and `rows`, then any `more` sheets."""
    return workbook(path, {"売上": [HEADER, *rows], **more})


def mail_workbook(daemon, who: str, name: str, data: bytes) -> str:
    msg = EmailMessage()
    msg["From"] = f"export@{who}.example"
    msg["To"] = f"{who}@in.example.jp"
    msg["Subject"] = "売上"
    msg.set_content("添付のとおり")
    maintype, subtype = XLSX.split("/")
    msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    step, code, reply = send(
        daemon.smtp_port, msg, mail_from=f"export@{who}.example", rcpts=(f"{who}@in.example.jp",)
    )
    assert (step, code) == ("DATA", 250), reply
    [run_id] = queued_ids(reply)
    return run_id


def curl_workbook(daemon, who: str, path: Path) -> tuple[int, dict]:
    return curl(
        f"{daemon.api}/api/v1/imports?wait=true",
        "-H", f"Authorization: Bearer demo-{who}-token", "-F", f"file=@{path};type={XLSX}",
    )  # fmt: skip


def stored(daemon, run_id: str) -> list[tuple]:
    return daemon.query(
        "SELECT member_no, date, sales_amount, note FROM performance WHERE _run_id = ?"
        " ORDER BY member_no",
        (run_id,),
    )


def test_a_workbook_by_mail_is_imported_as_excel_shows_it(daemon, tmp_path):
    path = sales(
        tmp_path / "20240516.xlsx",
        [
            [1, dt.date(2024, 5, 16), 12, "00123"],
            [2, dt.datetime(2024, 5, 17), 12.0, "note"],
            [None, None, None, None],
            [3, "2024/05/18", "1,234", None],
        ],
        メモ=[["not", "read"]],
    )
    run_id = mail_workbook(daemon, "acme", "20240516.xlsx", path.read_bytes())
    run = daemon.wait_run(run_id)
    assert run["state"] == "completed", run
    assert (run["rows_total"], run["rows_imported"], run["encoding"]) == (3, 3, "xlsx")
    assert run["channel"] == "mail" and run["filename"] == "20240516.xlsx"
    assert stored(daemon, run_id) == [
        (1, "2024-05-16", 12, "00123"),
        (2, "2024-05-17", 12, "note"),
        (3, "2024-05-18", 1234, ""),
    ]


@needs_curl
def test_a_workbook_by_curl_reads_the_sheet_the_account_names(daemon, tmp_path):
    path = workbook(
        tmp_path / "20240520.xlsx",
        {
            "表紙": [["月次売上"]],
            "売上": [HEADER, [7, dt.date(2024, 5, 20), 12.5, "0042"], [8, "2024-05-20", 3, "x"]],
        },
    )
    status, body = curl_workbook(daemon, "ledger", path)
    # 12.5 is no whole number: with on_row_error = skip the other row is imported.
    assert status == 200 and body["state"] == "completed", body
    assert (body["rows_imported"], body["rows_failed"], body["encoding"]) == (1, 1, "xlsx")
    assert stored(daemon, body["id"]) == [(8, "2024-05-20", 3, "x")]
    [error] = body["errors"]
    assert error["line"] == 2 and "売上!C2" in error["message"] and "12.5" in error["message"]


@needs_curl
def test_a_bad_cell_is_named_by_its_sheet_and_cell(daemon, tmp_path):
    # The table starts at B1, so sales_amount is column D; row 14 holds the bad cell.
    rows = [[None, i, "2024/05/21", i, "ok"] for i in range(1, 13)]
    rows.append([None, 13, "2024/05/21", "abc", "bad"])
    path = workbook(tmp_path / "20240521.xlsx", {"売上": [[None, *HEADER], *rows]})
    status, body = curl_workbook(daemon, "acme", path)
    assert status == 422 and body["state"] == "failed", body
    [error] = body["errors"]
    assert error["line"] == 14 and error["column"] == "sales_amount"
    assert error["message"].startswith("売上!D14 列「sales_amount」の値「abc」は")
    reply = httpx.get(
        f"{daemon.api}/api/v1/runs/{body['id']}/errors.csv",
        headers={"Authorization": "Bearer demo-acme-token"},
    )
    # UTF-8 with a BOM, which Excel opens as it is.
    assert reply.content.startswith(b"\xef\xbb\xbf" + ",".join(HEADER).encode())
    assert "売上!D14" in reply.content.decode("utf-8-sig")


@needs_curl
def test_an_account_without_excel_refuses_a_workbook_saying_what_to_set(daemon, tmp_path):
    path = sales(tmp_path / "20240522.xlsx", [[1, "2024/05/22", 1, "a"]])
    status, body = curl_workbook(daemon, "plain", path)
    assert status == 422 and body["state"] == "failed"
    assert "excel = true" in body["message"]
    run_id = mail_workbook(daemon, "plain", "20240522.xlsx", path.read_bytes())
    run = daemon.wait_run(run_id)
    assert run["state"] == "failed" and "excel = true" in run["message"]


@needs_curl
def test_a_csv_named_xlsx_and_an_unknown_sheet_fail_clearly(daemon, tmp_path):
    renamed = tmp_path / "20240523.xlsx"
    renamed.write_bytes(b"member_no,date,sales_amount,note\r\n1,2024/05/23,1,a\r\n")
    status, body = curl_workbook(daemon, "acme", renamed)
    assert status == 422 and body["message"].startswith("Excel ブック(.xlsx・.xls)ではありません")
    # Its error CSV is a workbook's, UTF-8 with a BOM, and served as such, though the
    # file was never read far enough to have a format.
    reply = httpx.get(
        f"{daemon.api}/api/v1/runs/{body['id']}/errors.csv",
        headers={"Authorization": "Bearer demo-acme-token"},
    )
    assert reply.headers["content-type"] == "text/csv; charset=utf-8", reply.headers
    assert reply.content.startswith(b"\xef\xbb\xbf")
    other = workbook(tmp_path / "20240524.xlsx", {"Sheet1": [HEADER]})
    status, body = curl_workbook(daemon, "ledger", other)
    assert status == 422 and body["message"] == (
        "ブックにシート「売上」がありません(あるシート: Sheet1)"
    )


# -- .xls: two files kept beside this test (openpyxl writes no .xls) --------------------

EXCEL = Path(__file__).parent / "excel"


def test_an_xls_workbook_reads_as_an_xlsx_does():
    """sales.xls was written by xlwt: sheets 売上 and two; on 売上, B3:D4."""
    sheet = read_sheet(EXCEL / "sales.xls")
    assert (sheet.name, sheet.format, sheet.first_column) == ("売上", "xls", 1)
    assert sheet.rows == [[], [], ["00123", "12", "12.5"], ["2024-05-16", "TRUE", "NA"]]
    assert read_sheet(EXCEL / "sales.xls", "two").rows == [["x"]]


def test_an_xls_that_crashes_the_reader_is_a_clear_problem():
    """damaged.xls is sales.xls with bytes flipped, on which calamine asks for 171 GB
    and aborts its process: the child's, not ours."""
    with pytest.raises(PermanentProblem) as caught:
        read_sheet(EXCEL / "damaged.xls")
    assert caught.value.key == "workbook.unreadable"


def test_a_workbooks_corrected_copy_under_any_name_goes_with_the_next_full_copy(daemon, tmp_path):
    """Under filename = "any" a file is its own name: `shop.xlsx`'s error CSV,
    `shop.errors.csv`, was taken as correcting a `shop.csv`, so its rows stayed beside
    the next full copy of the workbook (member 2 twice)."""
    bad = sales(tmp_path / "shop.xlsx", [[1, "2024/05/16", 1, "a"], ["x", "2024/05/16", 2, "b"]])
    run = daemon.wait_run(mail_workbook(daemon, "anyname", "shop.xlsx", bad.read_bytes()))
    assert (run["rows_imported"], run["rows_failed"]) == (1, 1)
    # Corrected, with a row still wrong: its own error CSV, corrected in turn, must
    # go with the workbook too (it went with a `shop.csv`: the first hop's name).
    fixed = b"member_no,date,sales_amount,note\r\n2,2024/05/16,2,b\r\ny,2024/05/16,3,c\r\n"
    _, code, reply = send_as(daemon.smtp_port, "anyname", [("shop.errors.csv", fixed)])
    assert code == 250 and daemon.wait_run(queued_ids(reply)[0])["rows_imported"] == 1
    again = b"member_no,date,sales_amount,note\r\n3,2024/05/16,3,c\r\n"
    _, code, reply = send_as(daemon.smtp_port, "anyname", [("shop.errors.errors.csv", again)])
    assert code == 250 and daemon.wait_run(queued_ids(reply)[0])["rows_imported"] == 1
    rows = [[1, "2024/05/16", 1, "a"], [2, "2024/05/16", 2, "b"], [3, "2024/05/16", 3, "c"]]
    whole = sales(tmp_path / "shop.xlsx", rows)
    run = daemon.wait_run(mail_workbook(daemon, "anyname", "shop.xlsx", whole.read_bytes()))
    assert run["rows_imported"] == 3
    members = "SELECT member_no FROM performance WHERE _account = 'anyname' ORDER BY 1"
    assert daemon.query(members) == [(1,), (2,), (3,)]


def test_a_workbooks_corrected_copy_comes_back_to_an_account_of_shift_jis(daemon, tmp_path):
    """A workbook's error CSV is UTF-8 with a BOM: sent back corrected to an account of
    `encoding = "cp932"`, it was refused as UTF-8, not Shift_JIS."""
    bad = sales(
        tmp_path / "20240510.xlsx", [[1, "2024/05/10", 1, "東京"], ["x", "2024/05/10", 2, "大阪"]]
    )
    run = daemon.wait_run(mail_workbook(daemon, "sjis", "20240510.xlsx", bad.read_bytes()))
    assert (run["rows_imported"], run["rows_failed"]) == (1, 1), run
    errors = httpx.get(
        f"{daemon.api}/api/v1/runs/{run['id']}/errors.csv",
        headers={"Authorization": "Bearer demo-admin"},
    ).content
    assert errors.startswith(codecs.BOM_UTF8)
    fixed = errors.decode("utf-8-sig").replace("x,", "2,").encode("utf-8-sig")
    _, code, reply = send_as(daemon.smtp_port, "sjis", [("20240510.errors.csv", fixed)])
    assert code == 250
    again = daemon.wait_run(queued_ids(reply)[0])
    assert (again["state"], again["rows_imported"]) == ("completed", 1), again["message"]
    members = "SELECT member_no, note FROM performance WHERE _account = 'sjis' ORDER BY 1"
    assert daemon.query(members) == [(1, "東京"), (2, "大阪")]
    # A full file in UTF-8 is still refused as no Shift_JIS, as the account says.
    csv_text = "member_no,date,sales_amount,note\r\n3,2024/05/11,3,名古屋\r\n"
    _, code, reply = send_as(
        daemon.smtp_port, "sjis", [("20240511.csv", codecs.BOM_UTF8 + csv_text.encode())]
    )
    refused = daemon.wait_run(queued_ids(reply)[0])
    assert refused["state"] == "failed" and "UTF-8" in refused["message"], refused
