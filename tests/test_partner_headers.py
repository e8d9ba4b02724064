"""Files as partners send them: a Japanese header matched by label, Excel's empty lines
and compact dates, by a real mail and by `curl -F`; and the config checks of labels
and date formats."""

from __future__ import annotations

import pytest

from daemon.settings import ConfigError, parse
from importers.headers import match_header
from importers.layouts import ColumnSpec
from tests.support import Daemon, account, curl, needs_curl, queued_ids, send_as, write_config

LABELED = """
[layouts.sales]
columns = [
  { name = "member_no",    type = "int",  required = true, label = "会員番号" },
  { name = "date",         type = "date", required = true, label = "日付", aliases = ["売上日"] },
  { name = "sales_amount", type = "int",  label = "売上金額" },
  { name = "note",         type = "text", label = "備考" },
]
"""
TOKEN = "demo-headers-token"
COLUMNS = [
    ColumnSpec("member_no", "int", label="会員番号"),
    ColumnSpec("date", "date", label="日付", aliases=["売上日"]),
    ColumnSpec("note", "text", label="備考"),
]


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    folder = tmp_path_factory.mktemp("headers")
    accounts = account("shop", layout="sales") + f'[accounts.shop.api]\ntoken = "{TOKEN}"\n'
    d = Daemon(write_config(folder, accounts, extra=LABELED)).start()
    yield d
    d.terminate()


def rows(daemon: Daemon, run_id: str) -> list[tuple]:
    return daemon.query(
        "SELECT member_no, date, sales_amount, note FROM sales WHERE _run_id = ? ORDER BY rowid",
        (run_id,),
    )


def test_a_mailed_japanese_header_matches_by_label_in_any_order(daemon):
    data = (
        "日付 ,会員番号,備考,売上金額\r\n"  # a stray space, another order
        '2024/05/16,1,㈱山田商事,"1,200"\r\n'
        ",,,\r\n"  # Excel's empty line under a table
        "20240517,2,①番,300\r\n"
        ",,,\r\n"
    ).encode("cp932")
    _, code, reply = send_as(daemon.smtp_port, "shop", [("20240516.csv", data)])
    assert code == 250, reply
    run = daemon.wait_run(queued_ids(reply)[0])
    assert run["state"] == "completed", run
    assert (run["rows_total"], run["rows_imported"]) == (2, 2)
    assert rows(daemon, run["id"]) == [
        (1, "2024-05-16", 1200, "㈱山田商事"),
        (2, "2024-05-17", 300, "①番"),
    ]


def test_empty_columns_after_the_table_as_excel_saves_them_are_read_past(daemon):
    """Excel saves `備考,,` when the sheet's used range runs past the table; such a
    file was refused for unknown columns named by nothing."""
    data = (
        "会員番号,日付,売上金額,備考,,\r\n1,2024/05/16,100,a,,\r\n,,,,,\r\n2,2024/05/17,200,b,,\r\n"
    ).encode("cp932")
    _, code, reply = send_as(daemon.smtp_port, "shop", [("20240520.csv", data)])
    assert code == 250, reply
    run = daemon.wait_run(queued_ids(reply)[0])
    assert (run["state"], run["rows_imported"]) == ("completed", 2), run
    assert rows(daemon, run["id"]) == [(1, "2024-05-16", 100, "a"), (2, "2024-05-17", 200, "b")]


@needs_curl
def test_curl_with_an_alias_and_full_width_header(daemon, tmp_path):
    source = tmp_path / "20240518.csv"
    source.write_text(
        "ＭＥＭＢＥＲ＿ＮＯ,売上日,売上金額,備考\n3,令和6年5月18日,1,x\n", encoding="utf-8"
    )
    status, body = curl(
        f"{daemon.api}/api/v1/imports?wait=true",
        "-H", f"Authorization: Bearer {TOKEN}",
        "-F", f"file=@{source}",
    )  # fmt: skip
    # Era dates are only taken where a column says wareki = true.
    assert status == 422, body
    assert body["state"] == "failed"
    assert body["errors"][0]["column"] == "日付"
    assert "2行目 列「日付」の値「令和6年5月18日」は日付" in body["errors"][0]["message"]


@needs_curl
def test_a_header_that_lacks_a_column_is_named_by_its_label(daemon, tmp_path):
    source = tmp_path / "20240519.csv"
    source.write_text("会員番号,日付,メモ\n1,2024/05/19,x\n", encoding="utf-8")
    status, body = curl(
        f"{daemon.api}/api/v1/imports?wait=true",
        "-H", f"Authorization: Bearer {TOKEN}",
        "-F", f"file=@{source}",
    )  # fmt: skip
    assert status == 422, body
    assert body["state"] == "failed"
    assert "見出しに列がありません: 売上金額, 備考" in body["message"]
    assert "不明な列があります: メモ" in body["message"]


def test_match_header_by_name_label_and_alias():
    match = match_header(["備考", " 売上日 ", "会員番号"], COLUMNS)
    assert match.order == [2, 1, 0] and match.problems == []
    match = match_header(["member_no", "日付", "note", "行番号", "エラー内容"], COLUMNS)
    assert match.order == [0, 1, 2] and match.returned and match.problems == []
    match = match_header(["会員番号", "日付", "備考", "", " "], COLUMNS)
    assert match.order == [0, 1, 2] and match.blank_tail and match.problems == []
    match = match_header(["会員番号", "", "日付", "備考"], COLUMNS)  # not after the table
    assert not match.blank_tail and match.problems == [("header.unknown", [""])]
    match = match_header(["会員番号", "member_no", "日付"], COLUMNS)
    assert match.problems == [("header.duplicate", ["会員番号"]), ("header.missing", ["備考"])]


LAYOUT_BASE = {"columns": [{"name": "a", "type": "date"}, {"name": "b", "type": "int"}]}


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"name": "b", "type": "int", "format": "YYYYMMDD"}, "format is for date and datetime"),
        ({"name": "b", "type": "date", "format": "DD/MM"}, "it lacks YYYY"),
        ({"name": "b", "type": "text", "wareki": True}, "wareki is for date columns"),
        ({"name": "b", "type": "int", "label": "A"}, "would match both a and b"),
        ({"name": "会員番号", "type": "int"}, 'label = "会員番号"'),
    ],
)
def test_column_options_are_checked_with_their_key(change, words):
    raw = {
        "layouts": {"p": {"columns": [LAYOUT_BASE["columns"][0], change]}},
        "accounts": {"x": {"layout": "p"}},
    }
    with pytest.raises(ConfigError) as info:
        parse(raw)
    found = [str(p) for p in info.value.problems if words in str(p)]
    assert found and found[0].startswith("layouts.p"), info.value.problems
