"""The error CSV a partner fixes and sends back: their own header and cells for each
rejected record, then 行番号 and エラー内容, in the file's encoding; a corrected copy
imports with those two columns kept or removed."""

from __future__ import annotations

import asyncio
import csv
import io

import httpx
import pytest

from daemon.store.scratch import StagedTable
from daemon.store.sqlite import SqliteStore
from daemon.worker import staging
from daemon.worker.error_report import ErrorReport, escape_cell
from importers.errors import RowError
from importers.layouts import ColumnSpec
from importers.reader import CsvFile, ImportSpec
from tests.support import (
    Daemon,
    attachment,
    mail,
    queued_ids,
    renkei,
    send,
    send_as,
    toml_value,
    write_config,
)

ADMIN = {"Authorization": "Bearer demo-admin"}
SALES = """
[layouts.sales]
columns = [
  { name = "member_no",    type = "int",  required = true, label = "会員番号" },
  { name = "date",         type = "date", required = true, label = "日付" },
  { name = "sales_amount", type = "int",  label = "売上金額" },
  { name = "note",         type = "text", label = "備考" },
]
"""
HEADER = "会員番号,日付,売上金額,備考"
# Line 2 is good; 3 has a bad number and a formula-like note beside a negative amount;
# 4 has two bad cells; 5 lacks its last cell; 6 is empty cells, read past.
BAD = [
    "1,2024/05/16,-5,良い行",
    "x,2024/05/16,-5,=1+2",
    "y,2024/05/16,abc,㈱テスト",
    "4,2024/05/16,7",
    ",,,",
]


def sales_account(name: str, **keys: object) -> str:
    values = {
        "layout": "sales",
        "error_report_to": [f"ops@{name}.example"],
        "success_report_to": [f"sales@{name}.example"],
        **keys,
    }
    lines = [f"[accounts.{name}]"] + [f"{k} = {toml_value(v)}" for k, v in values.items()]
    lines += [
        f"[accounts.{name}.mail]",
        f'address = "{name}@in.example.jp"',
        f'allowed_senders = ["export@{name}.example"]',
        f"[accounts.{name}.api]",
        f'token = "demo-{name}"',
    ]
    return "\n".join(lines) + "\n"


def sjis(*lines: str, encoding: str = "cp932") -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory, module_relay):
    folder = tmp_path_factory.mktemp("errors")
    accounts = (
        sales_account("acme")
        + sales_account("lax", on_row_error="skip", mode="insert")
        + sales_account("fix", on_row_error="skip")
        + sales_account("wild", on_row_error="skip", excel=True, filename=["売上_{YYYYMMDD}_*.csv"])
        + sales_account("bare", header=False, encoding="cp932", mode="insert")
        + sales_account("idle", status="stopped")
        + sales_account("utf", encoding="utf-8")
        + sales_account("fix2", on_row_error="skip")
        + sales_account("bare2", header=False, encoding="cp932", on_row_error="skip")
        + sales_account("wild2", on_row_error="skip", filename=["売上_{YYYYMMDD}_*.csv"])
    )
    d = Daemon(write_config(folder, accounts, SALES, relay_port=module_relay.port)).start()
    yield d
    d.terminate()


def deliver(daemon, who: str, name: str, data: bytes) -> dict:
    _, code, reply = send_as(daemon.smtp_port, who, [(name, data)])
    assert code == 250, reply
    return daemon.wait_run(queued_ids(reply)[0])


def errors_csv(daemon, run_id: str) -> httpx.Response:
    reply = httpx.get(f"{daemon.api}/api/v1/runs/{run_id}/errors.csv", headers=ADMIN)
    assert reply.status_code == 200
    return reply


def expected_rows() -> list[str]:
    """The error CSV of BAD, line by line, as the partner receives it."""
    msg3 = "3行目 列「会員番号」の値「x」は整数ではありません"
    msg4a = "4行目 列「会員番号」の値「y」は整数ではありません"
    msg4b = "4行目 列「売上金額」の値「abc」は整数ではありません"
    msg5 = "5行目: 列の数が 4 ではなく 3 です"
    return [
        f"{HEADER},行番号,エラー内容",
        f"x,2024/05/16,-5,'=1+2,3,{msg3}",  # -5 stays a number; the formula is escaped
        f"y,2024/05/16,abc,㈱テスト,4,{msg4a} / {msg4b}",
        f"4,2024/05/16,7,,5,{msg5}",  # padded: the two columns stay under their heading
    ]


def corrected(data: bytes, keep_columns: bool, encoding: str = "cp932") -> bytes:
    """What the partner sends back: the cells fixed, our two columns kept or cut."""
    text = data.decode(encoding)
    fixed = text.replace("x,", "2,").replace("y,", "3,").replace(",abc,", ",300,")
    fixed = fixed.replace("'=1+2", "式ではない")
    rows = list(csv.reader(io.StringIO(fixed, newline="")))
    if not keep_columns:
        rows = [row[:-2] for row in rows]
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode(encoding)


def test_rejected_rows_come_back_in_the_partners_shape_and_encoding(daemon, module_relay):
    run = deliver(daemon, "acme", "20240516.csv", sjis(HEADER, *BAD))
    assert (run["state"], run["rows_failed"], run["rows_empty"]) == ("failed", 3, 1)
    expected = sjis(*expected_rows())
    reply = errors_csv(daemon, run["id"])
    assert "windows-31j" in reply.headers["content-type"]
    assert reply.content == expected
    [report] = module_relay.for_recipient("ops@acme.example", about="20240516.csv")
    assert attachment(report) == ("20240516.errors.csv", expected)
    # Named as Japanese mailers name CP932, so a mail client shows it right.
    [part] = list(report.iter_attachments())
    assert part.get_content_charset() == "shift_jis"


@pytest.mark.parametrize("keep_columns", [True, False])
def test_a_corrected_copy_of_a_rejected_file_imports(daemon, keep_columns):
    name = "20240601.csv" if keep_columns else "20240602.csv"
    run = deliver(daemon, "acme", name, sjis(HEADER, *BAD))
    copy = corrected(errors_csv(daemon, run["id"]).content, keep_columns)
    again = deliver(daemon, "acme", name.replace("06", "07"), copy)
    assert again["state"] == "completed", again["message"]
    assert (again["rows_total"], again["rows_imported"], again["rows_failed"]) == (3, 3, 0)
    rows = daemon.query(
        "SELECT member_no, date, sales_amount, note FROM sales WHERE _run_id = ? ORDER BY 1",
        (again["id"],),
    )
    assert rows == [
        (2, "2024-05-16", -5, "式ではない"),
        (3, "2024-05-16", 300, "㈱テスト"),
        (4, "2024-05-16", 7, ""),
    ]
    assert errors_csv(daemon, again["id"]).content == sjis(f"{HEADER},行番号,エラー内容")


def test_a_correction_of_a_file_rejected_whole_is_refused_saying_to_send_the_file(daemon):
    """Under on_row_error = reject nothing of the file was imported: sent back as
    `<file>.errors.csv`, its corrected rows alone imported, the run said it completed,
    and the file's good rows never came."""
    run = deliver(daemon, "acme", "20240603.csv", sjis(HEADER, *BAD))
    assert (run["state"], run["rows_imported"]) == ("failed", 0)
    copy = corrected(errors_csv(daemon, run["id"]).content, keep_columns=True)
    again = deliver(daemon, "acme", "20240603.errors.csv", copy)
    assert (again["state"], again["rows_imported"]) == ("failed", 0), again
    assert f"訂正元の実行 {run['id']} は 1 行も取り込んでいません" in again["message"]
    assert daemon.query("SELECT count(*) FROM sales WHERE _source_file LIKE '20240603%'") == [(0,)]


def test_a_correction_of_a_dry_runs_error_csv_is_refused(daemon):
    """The console's check offers a dry run's error CSV: sent back corrected, its rows
    alone were imported as the file, the file's good rows never."""
    reply = httpx.post(
        f"{daemon.api}/api/v1/imports?dry_run=true&wait=true",
        headers={"Authorization": "Bearer demo-fix"},
        files={"file": ("20241010.csv", sjis(HEADER, *BAD))},
        timeout=30,
    )
    run = reply.json()
    assert (run["state"], run["dry_run"], run["rows_failed"]) == ("completed", True, 3), run
    copy = corrected(errors_csv(daemon, run["id"]).content, keep_columns=True)
    again = deliver(daemon, "fix", "20241010.errors.csv", copy)
    assert (again["state"], again["rows_imported"]) == ("failed", 0), again
    assert f"訂正元の実行 {run['id']} は確認のみ(dry run)" in again["message"]
    assert daemon.query("SELECT count(*) FROM sales WHERE _source_file LIKE '20241010%'") == [(0,)]


def test_a_correction_of_an_older_version_or_an_undone_one_is_refused(daemon):
    """A newer version of a file replaced the rows of the one whose error CSV came back
    corrected, or that version was undone: its rows were added to the version in the
    table, mixing two versions of one file."""
    first = deliver(daemon, "fix2", "20241011.csv", sjis(HEADER, "1,2024/10/11,1,初版"))
    second = deliver(daemon, "fix2", "20241011.csv", sjis(HEADER, *BAD))
    assert (first["state"], second["state"]) == ("completed", "completed")
    copy = corrected(errors_csv(daemon, second["id"]).content, keep_columns=True)
    third = deliver(daemon, "fix2", "20241011.csv", sjis(HEADER, "7,2024/10/11,7,第三版"))
    refused = deliver(daemon, "fix2", "20241011.errors.csv", copy)
    assert refused["state"] == "failed", refused
    said = f"同じ名前で最後に取り込んだ実行 {third['id']} にはエラーの行がありません"
    assert said in refused["message"]
    undo = httpx.post(f"{daemon.api}/api/v1/runs/{third['id']}/undo", headers=ADMIN, timeout=60)
    assert undo.status_code == 201, undo.text
    # The version the copy corrects is back: the correction joins it.
    again = deliver(daemon, "fix2", "20241011.errors.csv", copy)
    assert (again["state"], again["rows_imported"]) == ("completed", 3), again
    members = daemon.query(
        "SELECT member_no FROM sales WHERE _account = 'fix2' AND _source_file LIKE '20241011%'"
    )
    assert sorted(members) == [(1,), (2,), (3,), (4,)]


def test_a_correction_of_a_run_undone_with_no_version_before_is_refused(daemon):
    run = deliver(daemon, "fix2", "20241012.csv", sjis(HEADER, *BAD))
    copy = corrected(errors_csv(daemon, run["id"]).content, keep_columns=True)
    undo = httpx.post(f"{daemon.api}/api/v1/runs/{run['id']}/undo", headers=ADMIN, timeout=60)
    assert undo.status_code == 201, undo.text
    refused = deliver(daemon, "fix2", "20241012.errors.csv", copy)
    assert refused["state"] == "failed", refused
    assert f"訂正元の実行 {run['id']} は取り消されています" in refused["message"]
    assert daemon.query("SELECT count(*) FROM sales WHERE _source_file LIKE '20241012%'") == [(0,)]


def test_the_same_error_csv_corrected_twice_is_refused_the_second_time(daemon):
    """Row x fixed in a first copy, x and y in a second: x was imported twice. What is
    still wrong after the first is in that run's own error CSV."""
    run = deliver(daemon, "fix2", "20241013.csv", sjis(HEADER, *BAD))
    data = errors_csv(daemon, run["id"]).content
    first = data.decode("cp932").replace("x,", "2,").encode("cp932")
    once = deliver(daemon, "fix2", "20241013.errors.csv", first)
    assert (once["state"], once["rows_imported"]) == ("completed", 2), once  # x and 4
    twice = deliver(daemon, "fix2", "20241013.errors.csv", corrected(data, keep_columns=True))
    assert (twice["state"], twice["rows_imported"]) == ("failed", 0), twice
    said = f"訂正元の実行 {run['id']} のエラーCSVは実行 {once['id']} で訂正済みです"
    assert said in twice["message"] and "20241013.errors.errors.csv" in twice["message"]
    members = daemon.query(
        "SELECT member_no FROM sales WHERE _account = 'fix2' AND _source_file LIKE '20241013%'"
    )
    assert sorted(members) == [(1,), (2,), (4,)]


def test_a_correction_after_a_copy_refused_whole_joins_the_version_in_the_table(daemon):
    """A later copy of the file, refused whole (UTF-16), left the earlier one's rows in
    the table: the earlier one's corrected error CSV was refused as of the later run."""
    run = deliver(daemon, "fix2", "20241014.csv", sjis(HEADER, *BAD))
    copy = corrected(errors_csv(daemon, run["id"]).content, keep_columns=True)
    broken = ("\ufeff" + f"{HEADER}\r\n1,2024/05/16,3,4\r\n").encode("utf-16-le")
    assert deliver(daemon, "fix2", "20241014.csv", broken)["state"] == "failed"
    again = deliver(daemon, "fix2", "20241014.errors.csv", copy)
    assert (again["state"], again["rows_imported"]) == ("completed", 3), again


def test_under_insert_a_correction_joins_whatever_came_under_the_name_since(daemon):
    """Under insert every delivery of a name stays: a later clean one made the
    correction of the first refused as of an older version, and "send the whole file"
    would have inserted its good rows twice."""
    run = deliver(daemon, "lax", "20241015.csv", sjis(HEADER, *BAD))
    copy = corrected(errors_csv(daemon, run["id"]).content, keep_columns=True)
    assert deliver(daemon, "lax", "20241015.csv", sjis(HEADER, BAD[0]))["state"] == "completed"
    again = deliver(daemon, "lax", "20241015.errors.csv", copy)
    assert (again["state"], again["rows_imported"]) == ("completed", 3), again


def test_a_correction_of_a_version_another_name_replaced_is_refused(daemon):
    """Under `売上_{YYYYMMDD}_*.csv` the day's file comes under several names: the
    error CSV of the 09:00 copy, corrected after the 10:00 copy replaced it, named the
    09:00 run, whose rows are gone."""
    run = deliver(daemon, "wild2", "売上_20241102_0900.csv", sjis(HEADER, *BAD))
    copy = corrected(errors_csv(daemon, run["id"]).content, keep_columns=True)
    newer = deliver(daemon, "wild2", "売上_20241102_1000.csv", sjis(HEADER, "8,2024/11/02,8,新"))
    assert (run["state"], newer["state"]) == ("completed", "completed")
    refused = deliver(daemon, "wild2", "売上_20241102_0900.errors.csv", copy)
    assert refused["state"] == "failed", refused
    said = f"訂正元の実行 {run['id']} の行は、その後の実行 {newer['id']} で"
    assert said in refused["message"], refused["message"]
    rows = daemon.query(
        "SELECT member_no FROM sales WHERE _account = 'wild2' AND date = '2024-11-02'"
    )
    assert rows == [(8,)]


def test_a_correction_of_a_copy_rejected_after_a_good_one_names_the_rejected_run(daemon):
    """Under on_row_error = reject a copy refused for its row errors is the run its
    error CSV lists, though an earlier copy of the name went in: the correction was
    refused as of the earlier, good one, "an older version"."""
    good = deliver(daemon, "acme", "20241018.csv", sjis(HEADER, BAD[0]))
    bad = deliver(daemon, "acme", "20241018.csv", sjis(HEADER, *BAD))
    assert (good["state"], bad["state"]) == ("completed", "failed")
    copy = corrected(errors_csv(daemon, bad["id"]).content, keep_columns=True)
    refused = deliver(daemon, "acme", "20241018.errors.csv", copy)
    assert refused["state"] == "failed", refused
    assert f"訂正元の実行 {bad['id']} は 1 行も取り込んでいません" in refused["message"]


def test_a_record_too_long_keeps_the_two_columns_under_their_heading(daemon):
    """The cells past the header's come after 行番号 and エラー内容, so the two stay
    under their heading; the partner removes the stray cell and sends the copy back."""
    run = deliver(daemon, "acme", "20240801.csv", sjis(HEADER, "6,2024/05/16,7,備考,余分"))
    assert run["state"] == "failed"
    msg = "2行目: 列の数が 4 ではなく 5 です"
    content = errors_csv(daemon, run["id"]).content
    assert content == sjis(f"{HEADER},行番号,エラー内容", f"6,2024/05/16,7,備考,2,{msg},余分")
    copy = content.replace(",余分".encode("cp932"), b"")
    again = deliver(daemon, "acme", "20240802.csv", copy)
    assert (again["state"], again["rows_imported"]) == ("completed", 1), again["message"]


@pytest.mark.parametrize("keep_columns", [True, False])
def test_skipped_rows_fixed_and_sent_back_join_the_good_ones(daemon, keep_columns):
    name = "20240801.csv" if keep_columns else "20240802.csv"
    run = deliver(daemon, "lax", name, sjis(HEADER, *BAD))
    assert (run["state"], run["rows_imported"], run["rows_failed"]) == ("completed", 1, 3)
    data = errors_csv(daemon, run["id"]).content
    assert data == sjis(*expected_rows())
    again = deliver(daemon, "lax", name.replace("08", "09"), corrected(data, keep_columns))
    assert (again["state"], again["rows_imported"]) == ("completed", 3)
    members = daemon.query("SELECT member_no FROM sales WHERE _account = 'lax' ORDER BY 1")
    assert {m for (m,) in members} == {1, 2, 3, 4}


def test_sent_back_under_its_own_name_it_adds_to_the_file_it_corrects(daemon):
    """Under replace_file a file's rows replace the earlier ones of its name: the
    corrected rows, sent back as `<file>.errors.csv`, join the file's good rows instead
    of wiping them, and the next full copy of the file replaces them all."""
    run = deliver(daemon, "fix", "20241001.csv", sjis(HEADER, *BAD))
    assert (run["state"], run["rows_imported"]) == ("completed", 1)
    name, data = "20241001.errors.csv", errors_csv(daemon, run["id"]).content
    again = deliver(daemon, "fix", name, corrected(data, keep_columns=True))
    assert (again["state"], again["rows_imported"]) == ("completed", 3), again["message"]
    members = daemon.query("SELECT member_no FROM sales WHERE _account = 'fix' ORDER BY 1")
    assert members == [(1,), (2,), (3,), (4,)]
    # Said as what it did: its rows added, not the file's rows replaced.
    shown = renkei("show", again["id"], "--config", str(daemon.config)).stdout
    assert "取込方法: 追加(エラーCSVの訂正: 訂正した行をファイルの行に加える)" in shown, shown
    whole = sjis(HEADER, "5,2024/10/01,1,a", "6,2024/10/01,2,b")
    last = deliver(daemon, "fix", "20241001.csv", whole)
    assert last["state"] == "completed"
    members = daemon.query("SELECT member_no FROM sales WHERE _account = 'fix' ORDER BY 1")
    assert members == [(5,), (6,)]


def test_a_correction_saved_again_or_renamed_never_replaces_the_files_good_rows(daemon):
    """Under `売上_{YYYYMMDD}_*.csv` a corrected copy named as a browser saves a second
    download (`….errors (1).csv`), saved as a workbook or renamed past its `.errors`,
    was taken for a full copy of its day: its rows replaced the file's good ones. The
    first adds to the file; the others are refused, naming the name to send it under."""
    run = deliver(daemon, "wild", "売上_20241101_0900.csv", sjis(HEADER, *BAD))
    assert (run["state"], run["rows_imported"]) == ("completed", 1)
    data = corrected(errors_csv(daemon, run["id"]).content, keep_columns=True)
    for name in ("売上_20241101_0900.errors_fixed.csv", "売上_20241101_0900.errors.xlsx"):
        refused = deliver(daemon, "wild", name, data)
        assert refused["state"] == "failed", refused
        assert "「売上_20241101_0900.errors.csv」の名前のまま" in refused["message"], refused
    again = deliver(daemon, "wild", "売上_20241101_0900.errors (1).csv", data)
    assert (again["state"], again["rows_imported"]) == ("completed", 3), again["message"]
    members = daemon.query("SELECT member_no FROM sales WHERE _account = 'wild' ORDER BY 1")
    assert members == [(1,), (2,), (3,), (4,)]


def test_the_error_csv_of_a_correction_sent_back_corrects_the_same_file(daemon):
    """A correction still wrong has its own error CSV, `<file>.errors.errors.csv`: sent
    back under that name it was refused by the name rule, though the mail said to."""
    run = deliver(daemon, "fix", "20241003.csv", sjis(HEADER, *BAD))
    half = errors_csv(daemon, run["id"]).content.decode("cp932").replace("x,", "2,")
    again = deliver(daemon, "fix", "20241003.errors.csv", half.encode("cp932"))
    assert again["state"] == "completed" and again["rows_failed"] > 0, again
    data = errors_csv(daemon, again["id"])
    assert "20241003.errors.errors.csv" in data.headers["content-disposition"]
    last = deliver(daemon, "fix", "20241003.errors.errors.csv", corrected(data.content, True))
    assert (last["state"], last["rows_failed"]) == ("completed", 0), last["message"]
    members = daemon.query(
        "SELECT member_no FROM sales WHERE _account = 'fix' AND member_no <= 4 ORDER BY 1"
    )
    assert members == [(1,), (2,), (3,), (4,)]


def test_a_copy_sent_back_still_wrong_gets_the_two_columns_once(daemon):
    run = deliver(daemon, "acme", "20240901.csv", sjis(HEADER, *BAD))
    half = errors_csv(daemon, run["id"]).content.decode("cp932").replace("x,", "2,")
    again = deliver(daemon, "acme", "20240902.csv", half.encode("cp932"))
    assert (again["state"], again["rows_failed"]) == ("failed", 1)
    assert errors_csv(daemon, again["id"]).content == sjis(
        f"{HEADER},行番号,エラー内容",  # not a second 行番号,エラー内容
        "y,2024/05/16,abc,㈱テスト,3,3行目 列「会員番号」の値「y」は整数ではありません"
        " / 3行目 列「売上金額」の値「abc」は整数ではありません",
    )


def test_a_layout_column_named_like_ours_stays_the_partners(tmp_path):
    columns = [ColumnSpec("code", "text"), ColumnSpec("error", "text")]
    header = ["code", "error", "行番号", "エラー内容"]
    report = ErrorReport(tmp_path / "x.errors.csv", "utf-8", "ja", lambda: header, columns)
    report.add([RowError(2, "code", "", "bad", ["", "E1", "9", "old"])])
    assert report.close().read_bytes() == sjis(
        "code,error,行番号,エラー内容", ",E1,2,bad", encoding="utf-8"
    )


def test_without_a_header_row_the_error_csv_has_none(daemon):
    run = deliver(daemon, "bare", "20241001.csv", sjis(*BAD))
    data = errors_csv(daemon, run["id"]).content
    assert data == sjis(*bare_rows())
    again = deliver(daemon, "bare", "20241002.csv", corrected(data, keep_columns=False))
    assert (again["state"], again["rows_imported"]) == ("completed", 3), again["message"]


def test_without_a_header_row_a_correction_comes_back_with_the_two_columns_kept(daemon):
    """As a file with a header does: each row failed as two cells too wide."""
    run = deliver(daemon, "bare2", "20241001.csv", sjis(*BAD))
    assert (run["state"], run["rows_imported"]) == ("completed", 1), run
    data = errors_csv(daemon, run["id"]).content
    kept = deliver(daemon, "bare2", "20241001.errors.csv", corrected(data, keep_columns=True))
    assert (kept["state"], kept["rows_imported"]) == ("completed", 3), kept["message"]
    members = daemon.query("SELECT member_no FROM sales WHERE _account = 'bare2' ORDER BY 1")
    assert members == [(1,), (2,), (3,), (4,)]


def bare_rows() -> list[str]:
    """BAD's error rows without a header: every line one less."""
    return [
        "x,2024/05/16,-5,'=1+2,2,2行目 列「会員番号」の値「x」は整数ではありません",
        "y,2024/05/16,abc,㈱テスト,3,3行目 列「会員番号」の値「y」は整数ではありません"
        " / 3行目 列「売上金額」の値「abc」は整数ではありません",
        "4,2024/05/16,7,,4,4行目: 列の数が 4 ではなく 3 です",
    ]


def test_a_run_without_row_errors_has_the_partners_header_alone(daemon):
    reply = httpx.post(
        f"{daemon.api}/api/v1/imports",
        headers={"Authorization": "Bearer demo-acme"},
        files={"file": ("20241101.csv", sjis(HEADER, "1,2024/11/01,5,ok"), "text/csv")},
        params={"wait": "true"},
        timeout=60,
    )
    run = reply.json()
    assert run["state"] == "completed", run
    data = errors_csv(daemon, run["id"]).content
    assert data == sjis(f"{HEADER},行番号,エラー内容")


def test_a_run_that_read_no_file_has_the_two_columns_alone(daemon):
    run = deliver(daemon, "idle", "20241102.csv", sjis(HEADER, *BAD))
    assert run["state"] == "ignored"
    assert errors_csv(daemon, run["id"]).content == sjis("行番号,エラー内容")


def test_a_whole_file_problem_is_one_row_under_the_layouts_names(daemon):
    run = deliver(daemon, "acme", "20241201.csv", b"1,2024\x82\x20,3,4\r\n")
    assert run["state"] == "failed"
    rows = errors_csv(daemon, run["id"]).content.decode("cp932").splitlines()
    assert rows[0] == f"{HEADER},行番号,エラー内容"
    assert rows[1].startswith(",,,,1,1行目: Shift_JIS(CP932) として読めないバイト"), rows


def test_a_utf16_file_by_mail_is_refused_as_such(daemon):
    """Excel's "Unicode text" is UTF-16: refused with what to send instead, not read
    as CP932 bytes with a NUL in every other one."""
    data = "\ufeff" + f"{HEADER}\r\n1,2024/05/16,3,4\r\n"
    run = deliver(daemon, "acme", "20241203.csv", data.encode("utf-16-le"))
    assert run["state"] == "failed" and run["rows_imported"] == 0
    assert "UTF-16 のファイルは読めません" in run["message"], run["message"]
    rows = errors_csv(daemon, run["id"]).content.decode("cp932").splitlines()
    assert rows[1].startswith(",,,,,UTF-16 のファイルは読めません"), rows


def test_a_file_failed_before_reading_is_served_in_its_accounts_encoding(daemon):
    """The error CSV of a file refused before its encoding was read is written in
    the account's: it was served as Shift_JIS, its Japanese then garbled."""
    data = "\ufeff" + f"{HEADER}\r\n1,2024/05/16,3,4\r\n"
    run = deliver(daemon, "utf", "20241203.csv", data.encode("utf-16-le"))
    assert (run["state"], run["encoding"]) == ("failed", "")
    reply = errors_csv(daemon, run["id"])
    assert reply.headers["content-type"] == "text/csv; charset=utf-8"
    rows = reply.content.decode("utf-8").splitlines()
    assert rows[0] == f"{HEADER},行番号,エラー内容"


def test_a_nul_byte_is_refused_with_its_line(daemon):
    data = sjis(HEADER, "1,2024/05/16,3,正常", "2,2024/05/16,3,途中に\x00あり")
    run = deliver(daemon, "acme", "20241204.csv", data)
    assert run["state"] == "failed" and run["rows_imported"] == 0
    assert "3行目: NUL 文字(バイト 0x00)があります" in run["message"], run["message"]
    rows = errors_csv(daemon, run["id"]).content.decode("cp932").splitlines()
    assert rows[1].startswith(",,,,3,3行目: NUL 文字"), rows


def test_a_nul_byte_in_a_utf8_file_gets_its_error_csv_in_utf8(daemon):
    data = sjis(HEADER, "1,2024/05/16,3,途中に\x00あり", encoding="utf-8")
    run = deliver(daemon, "acme", "20241205.csv", data)
    assert (run["state"], run["encoding"]) == ("failed", "utf-8")
    rows = errors_csv(daemon, run["id"]).content.decode("utf-8").splitlines()
    assert rows[1].startswith(",,,,2,2行目: NUL 文字"), rows


def test_english_error_csv_of_a_utf8_file(tmp_path, relay):
    config = write_config(tmp_path, sales_account("acme"), SALES, relay_port=relay.port)
    text = config.read_text().replace("[report]\n", '[report]\nlanguage = "en"\n')
    config.write_text(text)
    d = Daemon(config).start()
    try:
        data = sjis("member_no,date,sales_amount,note", "1,2024/05/16,x,@SUM(A1)", encoding="utf-8")
        run = deliver(d, "acme", "20240516.csv", data)
        assert errors_csv(d, run["id"]).content == sjis(
            "member_no,date,sales_amount,note,line,error",
            "1,2024/05/16,x,'@SUM(A1),2,\"line 2, column '売上金額', value 'x' is not a whole number\"",
            encoding="utf-8",
        )
    finally:
        d.terminate()


@pytest.mark.parametrize(
    ("cell", "escaped"),
    [
        ("-5", "-5"),
        ("+1,200", "+1,200"),
        ("-0.5", "-0.5"),
        ("-", "'-"),
        ("-5+3", "'-5+3"),
        ("+81-3-1234", "'+81-3-1234"),
        ('=HYPERLINK("x")', '\'=HYPERLINK("x")'),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t1", "'\t1"),
        ("5-", "5-"),
    ],
)
def test_only_cells_a_spreadsheet_would_run_are_escaped(cell, escaped):
    assert escape_cell(cell) == escaped


def test_records_of_a_large_file_come_back_through_its_parts(tmp_path):
    """Read in parts, a rejected record's cells reach the error CSV through the
    scratch databases exactly as one pass gives them."""
    columns = [ColumnSpec("member_no", "int", required=True), ColumnSpec("note", "text")]
    lines = ["member_no,note"]
    for i in range(1, 3001):
        lines.append(f'x{i},"複数行\r\n{i}"' if i % 97 == 0 else f"{i},備考{i}")
    path = tmp_path / "20240516.csv"
    path.write_bytes(sjis(*lines))
    spec = ImportSpec(columns, "cp932", True, 100000, 1 << 30, "ja")

    def report(name: str) -> ErrorReport:
        return ErrorReport(tmp_path / name, "cp932", "ja", lambda: ["member_no", "note"], columns)

    whole = CsvFile(path, spec)
    whole.open()
    one_pass = report("one.errors.csv")
    for chunk in whole.chunks(size=101):
        one_pass.add(chunk.errors)

    async def in_parts() -> ErrorReport:
        csv_file = CsvFile(path, spec)
        csv_file.open()
        table = StagedTable(["member_no", "note"], "(?, ?)", ["member_no", "note"])
        parts = await staging.stage(csv_file, table, tmp_path / "staging", None, parts=3)
        assert len(parts) == 3
        store = await SqliteStore.open(tmp_path / "renkei.db")
        staged = report("parts.errors.csv")
        try:
            async with store.transaction(staged=[p.path for p in parts]) as db:
                for index in range(len(parts)):
                    async for errors in store.staged_errors(db, index, batch=7):
                        staged.add(errors)
        finally:
            await store.close()
        return staged

    parts = asyncio.run(in_parts())
    assert one_pass.count == parts.count == 30
    assert parts.close().read_bytes() == one_pass.close().read_bytes()
    assert '"複数行\r\n97"' in (tmp_path / "parts.errors.csv").read_bytes().decode("cp932")


def test_a_line_break_in_a_quoted_value_is_marked_in_a_cp932_error_csv(daemon):
    """Messages mark a line break of a quoted value by ↵, which CP932 cannot encode:
    the partner's error CSV said `値「12\\u21b534」`. It says ↓ there; UTF-8 keeps ↵."""
    lines = [HEADER, '"12\r\n34",2024/05/16,1,a']
    run = deliver(daemon, "lax", "20240526.csv", sjis(*lines))
    text = errors_csv(daemon, run["id"]).content.decode("cp932")
    assert "列「会員番号」の値「12↓34」は整数ではありません" in text
    assert "\\u21b5" not in text
    run = deliver(daemon, "lax", "20240527.csv", sjis(*lines, encoding="utf-8"))
    text = errors_csv(daemon, run["id"]).content.decode("utf-8-sig")
    assert "列「会員番号」の値「12↵34」は整数ではありません" in text


def test_the_same_corrected_copy_mailed_twice_adds_its_rows_once(daemon):
    """A correction adds its rows (it replaces nothing): a partner who got no answer
    and mailed the same copy again, under a new Message-ID, had them twice."""
    run = deliver(daemon, "fix", "20241005.csv", sjis(HEADER, *BAD))
    copy = corrected(errors_csv(daemon, run["id"]).content, keep_columns=True)
    first = deliver(daemon, "fix", "20241005.errors.csv", copy)
    assert first["rows_imported"] == 3
    msg = mail([("20241005.errors.csv", copy)], "export@fix.example", "fix@in.example.jp")
    msg["Message-ID"] = "<again-20241005@fix.example>"
    step, code, reply = send(
        daemon.smtp_port, msg, mail_from="export@fix.example", rcpts=("fix@in.example.jp",)
    )
    assert (step, code) == ("DATA", 250) and queued_ids(reply) == [first["id"]], reply
    members = "SELECT member_no FROM sales WHERE _source_file LIKE '20241005.%'"
    assert sorted(daemon.query(members)) == [(1,), (2,), (3,), (4,)]


def test_a_corrected_copy_whose_rows_are_in_is_not_retried_into_twice(daemon):
    """A retry of a correction added its rows a second time (a full file's retry only
    replaces them). Taken back first, it may be retried."""
    run = deliver(daemon, "fix", "20241007.csv", sjis(HEADER, *BAD))
    copy = corrected(errors_csv(daemon, run["id"]).content, keep_columns=True)
    fixed = deliver(daemon, "fix", "20241007.errors.csv", copy)
    assert fixed["rows_imported"] == 3
    url = f"{daemon.api}/api/v1/runs/{fixed['id']}"
    refused = httpx.post(f"{url}/retry", headers=ADMIN)
    assert refused.status_code == 409 and refused.json()["error"] == "correction_imported"
    assert f"renkei undo {fixed['id']}" in refused.json()["message"]
    members = "SELECT member_no FROM sales WHERE _source_file LIKE '20241007.%'"
    assert sorted(daemon.query(members)) == [(1,), (2,), (3,), (4,)]
    assert httpx.post(f"{url}/undo", headers=ADMIN).status_code == 201
    retried = httpx.post(f"{url}/retry", headers=ADMIN)
    assert retried.status_code == 202, retried.text
    assert daemon.wait_run(retried.json()["id"])["rows_imported"] == 3
    assert sorted(daemon.query(members)) == [(1,), (2,), (3,), (4,)]
    # Its rows are in again, by its retry: retried once more, they were there twice.
    again = httpx.post(f"{url}/retry", headers=ADMIN)
    assert again.status_code == 409 and again.json()["error"] == "correction_imported"
    # The run to undo first is the retry that holds the rows: the correction itself
    # is undone already (renkei undo of it would only be refused).
    holder = retried.json()["id"]
    assert f"renkei undo {holder}" in again.json()["message"], again.json()
    assert f"renkei undo {fixed['id']}" not in again.json()["message"]
    assert sorted(daemon.query(members)) == [(1,), (2,), (3,), (4,)]


def test_a_corrected_copy_that_imported_no_row_may_be_retried(daemon):
    """Sent back unchanged, its rows all failed again: its retry (once the layout is
    fixed) was refused as if its rows were in, naming an undo that changes nothing."""
    run = deliver(daemon, "fix2", "20241016.csv", sjis(HEADER, *BAD[1:3]))
    copy = errors_csv(daemon, run["id"]).content
    unchanged = deliver(daemon, "fix2", "20241016.errors.csv", copy)
    assert (unchanged["state"], unchanged["rows_imported"]) == ("completed", 0), unchanged
    retried = httpx.post(f"{daemon.api}/api/v1/runs/{unchanged['id']}/retry", headers=ADMIN)
    assert retried.status_code == 202, retried.text


def test_a_retry_of_an_undone_correction_sent_again_since_imports_nothing_twice(daemon):
    """Undone, then sent again by the partner, a correction's first run retried put
    its rows in a second time."""
    run = deliver(daemon, "fix2", "20241017.csv", sjis(HEADER, *BAD))
    copy = corrected(errors_csv(daemon, run["id"]).content, keep_columns=True)
    first = deliver(daemon, "fix2", "20241017.errors.csv", copy)
    undo = httpx.post(f"{daemon.api}/api/v1/runs/{first['id']}/undo", headers=ADMIN, timeout=60)
    assert undo.status_code == 201, undo.text
    again = deliver(daemon, "fix2", "20241017.errors.csv", copy)  # a new mail: imported
    assert (again["state"], again["rows_imported"]) == ("completed", 3), again
    retried = httpx.post(f"{daemon.api}/api/v1/runs/{first['id']}/retry", headers=ADMIN)
    assert retried.status_code == 202, retried.text
    done = daemon.wait_run(retried.json()["id"])
    assert (done["state"], done["rows_imported"]) == ("failed", 0), done
    assert f"実行 {again['id']} で訂正済みです" in done["message"]
    members = daemon.query(
        "SELECT member_no FROM sales WHERE _account = 'fix2' AND _source_file LIKE '20241017%'"
    )
    assert sorted(members) == [(1,), (2,), (3,), (4,)]


def test_a_correction_of_an_older_version_both_with_errors_is_refused_by_its_lines(daemon):
    """Both versions of a file had row errors: the older one's error CSV, corrected,
    was taken for the newer's by its name and its rows joined the newer version."""
    older = deliver(daemon, "fix2", "20241019.csv", sjis(HEADER, *BAD))
    copy = corrected(errors_csv(daemon, older["id"]).content, keep_columns=True)
    newer_rows = [f"{n},2024/10/19,{n},第二版" for n in range(1, 5)] + ["z,2024/10/19,5,誤り"]
    newer = deliver(daemon, "fix2", "20241019.csv", sjis(HEADER, *newer_rows))
    assert (newer["state"], newer["rows_failed"]) == ("completed", 1), newer
    refused = deliver(daemon, "fix2", "20241019.errors.csv", copy)
    assert (refused["state"], refused["rows_imported"]) == ("failed", 0), refused
    said = f"行番号は実行 {older['id']} のエラーCSVのもので、同じ名前で取り込まれている実行 {newer['id']}"
    assert said in refused["message"], refused["message"]
    notes = daemon.query(
        "SELECT DISTINCT note FROM sales WHERE _account = 'fix2' AND date = '2024-10-19'"
    )
    assert notes == [("第二版",)]
    # The newer version's own error CSV, corrected, joins it.
    fixed = errors_csv(daemon, newer["id"]).content.decode("cp932").replace("z,", "5,")
    joined = deliver(daemon, "fix2", "20241019.errors.csv", fixed.encode("cp932"))
    assert (joined["state"], joined["rows_imported"]) == ("completed", 1), joined


def test_without_a_header_row_an_older_versions_correction_is_refused_by_its_lines(daemon):
    older = deliver(daemon, "bare2", "20241020.csv", sjis(*BAD))
    copy = corrected(errors_csv(daemon, older["id"]).content, keep_columns=True)
    newer = deliver(daemon, "bare2", "20241020.csv", sjis("7,2024/10/20,7,新", "q,2024/10/20,8,誤"))
    assert (newer["state"], newer["rows_failed"]) == ("completed", 1), newer
    refused = deliver(daemon, "bare2", "20241020.errors.csv", copy)
    assert refused["state"] == "failed", refused
    assert f"行番号は実行 {older['id']} のエラーCSVのもの" in refused["message"]
    members = daemon.query(
        "SELECT member_no FROM sales WHERE _account = 'bare2' AND date = '2024-10-20'"
    )
    assert members == [(7,)]


def test_a_correction_whose_rows_a_newer_file_replaced_is_not_refused_as_imported(daemon):
    """Its retry was refused "its rows are in, undo it first" after a newer full file
    of its name had replaced them: now the import says why it cannot go in."""
    run = deliver(daemon, "fix", "20241022.csv", sjis(HEADER, *BAD))
    copy = corrected(errors_csv(daemon, run["id"]).content, keep_columns=True)
    fixed = deliver(daemon, "fix", "20241022.errors.csv", copy)
    assert fixed["rows_imported"] == 3
    newer = deliver(daemon, "fix", "20241022.csv", sjis(HEADER, "9,2024/10/22,9,新版"))
    assert newer["state"] == "completed"
    retried = httpx.post(f"{daemon.api}/api/v1/runs/{fixed['id']}/retry", headers=ADMIN)
    assert retried.status_code == 202, retried.text
    done = daemon.wait_run(retried.json()["id"])
    assert (done["state"], done["rows_imported"]) == ("failed", 0), done
    assert (
        f"同じ名前で最後に取り込んだ実行 {newer['id']} にはエラーの行がありません"
        in done["message"]
    )
    members = "SELECT member_no FROM sales WHERE _source_file LIKE '20241022.%'"
    assert daemon.query(members) == [(9,)]
