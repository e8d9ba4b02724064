"""File-name rules per account: the matcher and its logical names, then the real daemon
taking (and refusing) pattern names by mail, curl -F and FTP, and `renkei check`."""

from __future__ import annotations

import contextlib
import datetime as dt
import ftplib
import io
import sqlite3
import unicodedata

import httpx
import pytest

from daemon.settings import ConfigError, parse
from daemon.settings.model import DEFAULT_FILENAMES
from importers.filenames import (
    DEFAULT_PATTERNS,
    FilenameProblem,
    PatternError,
    compile_pattern,
    correction_name,
    filename_rule,
)
from tests.support import (
    Daemon,
    account,
    csv_bytes,
    curl,
    ftp_served,
    needs_curl,
    queued_ids,
    quiet_ftp_schedule,
    renkei,
    send_as,
    write_config,
)

ADMIN = {"Authorization": "Bearer demo-admin"}

# -- the matcher ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "logical"),
    [
        ("20240516.csv", "20240516.csv"),
        ("20240229.csv", "20240229.csv"),  # a leap day
        ("20230229.csv", None),  # not a date
        ("20241301.csv", None),
        ("20240500.csv", "20240500.csv"),  # monthly
        ("20241300.csv", None),
        ("00000100.csv", None),  # no year 0
        ("20240516.CSV", "20240516.csv"),  # the extension in any case, the same file
        ("2024051.csv", None),
        ("20240516.txt", None),
        ("x20240516.csv", None),
        ("20240516.xlsx", None),  # a workbook only with excel = true
    ],
)
def test_default_rule_is_todays_daily_and_monthly(name, logical):
    assert filename_rule().match(name) == logical


def test_default_patterns_are_the_models():
    assert tuple(DEFAULT_FILENAMES) == DEFAULT_PATTERNS


def test_legacy_spelling_without_braces_is_the_default():
    legacy = filename_rule(["YYYYMMDD.csv", "YYYYMM00.csv"])
    assert legacy.is_default
    assert legacy.match("20240516.csv") == "20240516.csv"
    assert legacy.match("20230229.csv") is None
    assert legacy.match("YYYYMMDD.csv") is None


@pytest.mark.parametrize(
    ("pattern", "name", "logical"),
    [
        ("売上データ_{YYYYMMDD}.csv", "売上データ_20240516.csv", "売上データ_20240516.csv"),
        ("売上データ_{YYYYMMDD}.csv", "売上データ_20240516.CSV", "売上データ_20240516.csv"),
        ("売上データ_{YYYYMMDD}.csv", "売上データ_20230229.csv", None),
        ("売上データ_{YYYYMMDD}.csv", "売上_20240516.csv", None),
        ("{YYYYMMDD}_sales.csv", "20240516_sales.csv", "20240516_sales.csv"),
        ("sales_{YYYYMM}.csv", "sales_202405.csv", "sales_202405.csv"),
        ("sales_{YYYYMM}.csv", "sales_202413.csv", None),
        ("sales_{YYYYMM00}.csv", "sales_20240500.csv", "sales_20240500.csv"),
        ("sales_{YYYYMM00}.csv", "sales_20240516.csv", None),
        ("employees*.csv", "employees_0501.csv", "employees*.csv"),
        ("employees*.csv", "employees.csv", "employees*.csv"),
        ("employees*.csv", "EMPLOYEES_0601.CSV", "employees*.csv"),
        ("employees*.csv", "staff_0501.csv", None),
        ("branch_?.csv", "branch_A.csv", "branch_?.csv"),
        ("branch_?.csv", "branch_AB.csv", None),
        ("売上_{YYYYMMDD}_*.csv", "売上_20240516_1530.csv", "売上_20240516_*.csv"),
        ("売上_{YYYYMMDD}_*.csv", "売上_20240516_0900.csv", "売上_20240516_*.csv"),
        ("売上_{YYYYMMDD}_*.csv", "売上_20240231_0900.csv", None),
        ("any", "whatever.csv", "whatever.csv"),
        ("any", "顧客リスト.txt", "顧客リスト.txt"),
    ],
)
def test_patterns_and_the_logical_file_they_name(pattern, name, logical):
    assert filename_rule([pattern]).match(name) == logical


def _is_date(year: int, month: int, day: int) -> bool:
    try:
        dt.date(year, month, day)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("year", [0, 1, 4, 100, 400, 1900, 1996, 2000, 2023, 2024, 2100, 9999])
def test_date_parts_take_exactly_the_real_dates(year):
    daily, monthly, month = (
        filename_rule([p]) for p in ("d{YYYYMMDD}.csv", "m{YYYYMM00}.csv", "y{YYYYMM}.csv")
    )
    for mm in range(14):
        real_month = year >= 1 and 1 <= mm <= 12
        assert (month.match(f"y{year:04}{mm:02}.csv") is not None) == real_month
        assert (monthly.match(f"m{year:04}{mm:02}00.csv") is not None) == real_month
        for dd in range(33):
            taken = daily.match(f"d{year:04}{mm:02}{dd:02}.csv") is not None
            assert taken == (year >= 1 and _is_date(year, mm, dd)), (year, mm, dd)


def test_wildcards_round_a_date_find_the_real_one():
    rule = filename_rule(["*{YYYYMMDD}*.csv"])
    assert rule.match("customer_list_20240701153012.csv") == "*20240701*.csv"
    assert rule.match("20240701.csv") == "*20240701*.csv"
    assert rule.match("customer_list_99999999.csv") is None


def test_names_are_compared_after_nfc():
    decomposed = unicodedata.normalize("NFD", "データ_20240516.csv")  # as macOS writes it
    assert decomposed != "データ_20240516.csv"
    assert filename_rule(["データ_{YYYYMMDD}.csv"]).match(decomposed) == "データ_20240516.csv"


def test_excel_takes_workbooks_of_the_same_name_as_the_same_file():
    rule = filename_rule(["売上データ_{YYYYMMDD}.csv", "employees*.csv"], excel=True)
    assert rule.match("売上データ_20240516.xlsx") == "売上データ_20240516.csv"
    assert rule.match("売上データ_20240516.XLS") == "売上データ_20240516.csv"
    assert rule.match("employees_0601.xlsx") == "employees*.csv"
    assert rule.match("売上データ_20240516.ods") is None
    assert filename_rule(excel=True).match("20240516.xlsx") == "20240516.csv"
    assert filename_rule(["any"], excel=True).match("book.xlsm") == "book.xlsm"
    assert filename_rule(["売上データ_{YYYYMMDD}.csv"]).match("売上データ_20240516.xlsx") is None


def test_the_first_pattern_that_takes_a_name_names_its_file():
    rule = filename_rule(["{YYYYMMDD}.csv", "any"])
    assert rule.match("20240516.csv") == "20240516.csv"
    assert rule.match("other.csv") == "other.csv"


def test_a_refusal_under_the_default_rule_keeps_todays_words():
    problem = filename_rule().refusal("x.csv")
    assert problem.key == "filename.rule"
    assert problem.render("en") == (
        "file name 'x.csv' breaks the rule: daily files are YYYYMMDD.csv "
        "(a real calendar date), monthly files are YYYYMM00.csv"
    )
    assert problem.render("ja") == (
        "ファイル名「x.csv」は規則に合いません。日次は YYYYMMDD.csv"
        "(実在する日付)、月次は YYYYMM00.csv です"
    )


def test_a_refusal_under_own_patterns_lists_them():
    rule = filename_rule(["売上データ_{YYYYMMDD}.csv", "employees*.csv"], excel=True)
    with pytest.raises(FilenameProblem) as info:
        rule.check("売上.csv")
    assert info.value.key == "filename.rule"
    for language in ("ja", "en"):
        text = info.value.render(language)
        assert "売上.csv" in text
        assert "売上データ_{YYYYMMDD}.csv, employees*.csv" in text
        assert ".xlsx" in text
    assert "names must match" in info.value.render("en")


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        ("{YYYY-MM-DD}.csv", "unknown date part {YYYY-MM-DD}: write {YYYYMMDD}"),
        ("{YYYY-MM-DD}.csv", "did you mean '{YYYYMMDD}.csv'?"),
        ("{DATE}.csv", "unknown date part {DATE}"),
        ("売上_{YYYYMMDD.csv", "unbalanced braces"),
        ("売上_YYYYMMDD}.csv", "unbalanced braces"),
        ("in/{YYYYMMDD}.csv", "path separator '/'"),
        ("in\\{YYYYMMDD}.csv", "path separator '\\\\'"),
        ("", "is empty"),
        ("  ", "is empty"),
        ("{YYYYMMDD}_{YYYYMM}.csv", "2 date parts"),
        ("売上_YYYYMMDD.csv", "write the date part in braces, '売上_{YYYYMMDD}.csv'"),
    ],
)
def test_a_bad_pattern_says_why_and_what_to_write(pattern, why):
    with pytest.raises(PatternError) as info:
        compile_pattern(pattern)
    assert why in str(info.value)


def test_config_check_names_the_key_the_value_and_why():
    raw = {
        "layouts": {"p": {"columns": [{"name": "a"}]}},
        "accounts": {
            "ok": {"layout": "p", "filename": ["売上_{YYYYMMDD}.csv", "any"]},
            "bad": {"layout": "p", "filename": ["{YYYYMMDD}.csv", "{DATE}.csv"]},
            "none": {"layout": "p", "filename": []},
        },
    }
    with pytest.raises(ConfigError) as info:
        parse(raw)
    found = [str(problem) for problem in info.value.problems]
    assert len(found) == 2, found
    assert found[0].startswith("accounts.bad.filename: '{DATE}.csv' has an unknown date part")
    assert found[1].startswith("accounts.none.filename: [] takes no file")
    raw["accounts"] = {"one": {"layout": "p", "filename": "employees*.csv"}}
    assert parse(raw).accounts["one"].filename == ["employees*.csv"]


# -- the real daemon ----------------------------------------------------------------


def rows_of(*members: int, day: str = "2024/05/16") -> bytes:
    return csv_bytes([f"{m},{day},{m * 10},n{m}" for m in members])


def _ftp(name: str, password: str) -> str:
    return (
        f'[accounts.{name}.ftp]\nuser = "{name}"\npassword = "{password}"\n' + quiet_ftp_schedule()
    )


ACCOUNTS = (
    account("uriage", filename="売上データ_{YYYYMMDD}.csv")
    + '[accounts.uriage.api]\ntoken = "demo-uriage-token"\n'
    + _ftp("uriage", "demo-uriage-ftp")
    + account("loose", filename="any")
    + '[accounts.loose.api]\ntoken = "demo-loose-token"\n'
)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    config = write_config(tmp_path_factory.mktemp("filenames"), ACCOUNTS)
    port = ftp_served(config)
    d = Daemon(config).start()
    d.ftp_port = port
    yield d
    assert d.terminate() == 0


def mailed(daemon, who: str, name: str, data: bytes) -> dict:
    _, code, reply = send_as(daemon.smtp_port, who, [(name, data)])
    assert code == 250, reply
    [run_id] = queued_ids(reply)
    return daemon.wait_run(run_id)


def test_a_mail_with_a_date_in_name_file_is_imported(daemon):
    run = mailed(daemon, "uriage", "売上データ_20240516.csv", rows_of(1, 2))
    assert (run["state"], run["rows_imported"]) == ("completed", 2), run["message"]
    assert run["filename"] == "売上データ_20240516.csv"
    sql = "SELECT member_no, _source_file FROM performance WHERE _run_id = ? ORDER BY 1"
    assert daemon.query(sql, (run["id"],)) == [
        (1, "売上データ_20240516.csv"),
        (2, "売上データ_20240516.csv"),
    ]


def test_a_mail_with_a_name_off_the_pattern_fails_naming_the_pattern(daemon):
    run = mailed(daemon, "uriage", "20240516.csv", rows_of(3))
    assert run["state"] == "failed" and run["problem"] == "filename.rule"
    assert "「20240516.csv」" in run["message"]
    assert "売上データ_{YYYYMMDD}.csv" in run["message"]
    run = mailed(daemon, "uriage", "売上データ_20230229.csv", rows_of(3))
    assert run["state"] == "failed" and "売上データ_{YYYYMMDD}.csv" in run["message"]


@needs_curl
def test_curl_form_upload_of_a_date_in_name_file(daemon, tmp_path):
    token = ("-H", "Authorization: Bearer demo-uriage-token")
    good = tmp_path / "売上データ_20240517.csv"
    good.write_bytes(rows_of(4, day="2024/05/17"))
    status, body = curl(f"{daemon.api}/api/v1/imports?wait=true", *token, "-F", f"file=@{good}")
    assert status == 200, body
    assert (body["state"], body["filename"], body["rows_imported"]) == (
        "completed",
        "売上データ_20240517.csv",
        1,
    )
    bad = tmp_path / "uriage.csv"
    bad.write_bytes(rows_of(5))
    status, body = curl(f"{daemon.api}/api/v1/imports?wait=true", *token, "-F", f"file=@{bad}")
    assert status == 422 and body["state"] == "failed"
    assert "売上データ_{YYYYMMDD}.csv" in body["message"]


@needs_curl
def test_any_takes_whatever_name_by_mail_and_by_curl(daemon, tmp_path):
    run = mailed(daemon, "loose", "whatever.csv", rows_of(6))
    assert (run["state"], run["rows_imported"]) == ("completed", 1), run["message"]
    source = tmp_path / "今月の実績.csv"
    source.write_bytes(rows_of(7))
    status, body = curl(
        f"{daemon.api}/api/v1/imports?wait=true",
        "-H", "Authorization: Bearer demo-loose-token", "-F", f"file=@{source}",
    )  # fmt: skip
    assert status == 200 and body["state"] == "completed", body
    assert body["filename"] == "今月の実績.csv"


def test_ftp_stor_of_a_name_off_the_pattern_gets_553_with_the_pattern(daemon):
    with ftplib.FTP() as ftp:
        ftp.connect("127.0.0.1", daemon.ftp_port, timeout=10)
        ftp.login("uriage", "demo-uriage-ftp")
        ftp.sendcmd("OPTS UTF8 ON")  # the pattern is Japanese: let the reply say it
        with pytest.raises(ftplib.error_perm) as info:
            ftp.storbinary("STOR 20240518.csv", io.BytesIO(rows_of(8)))
        assert str(info.value).startswith("553")
        assert "売上データ_{YYYYMMDD}.csv" in str(info.value)
        reply = ftp.storbinary("STOR 売上データ_20240518.csv", io.BytesIO(rows_of(8)))
        assert reply.startswith("226")
    home = daemon.data_dir / "ftp" / "uriage"
    assert [p.name for p in home.iterdir()] == ["売上データ_20240518.csv"]
    polled = httpx.post(f"{daemon.api}/api/v1/accounts/uriage/poll", headers=ADMIN, timeout=30)
    [run] = polled.json()["runs"]
    done = daemon.wait_run(run["id"])
    assert (done["state"], done["channel"], done["rows_imported"]) == ("completed", "ftp", 1)


def test_a_glob_file_replaces_the_previous_one_across_a_restart(tmp_path):
    accounts = account("staff", filename="employees*.csv") + account("acme")
    config = write_config(tmp_path, accounts)
    daemon = Daemon(config).start()
    try:
        first = mailed(daemon, "staff", "employees_0501.csv", rows_of(1, 2))
        second = mailed(daemon, "staff", "employees_0601.csv", rows_of(3, 4, 5))
        assert (first["state"], second["state"]) == ("completed", "completed")
        sql = "SELECT member_no, _source_file FROM performance WHERE _account = 'staff' ORDER BY 1"
        assert daemon.query(sql) == [(m, "employees_0601.csv") for m in (3, 4, 5)]
        assert daemon.query("SELECT source_file FROM sources WHERE account = 'staff'") == [
            ("employees*.csv",)
        ]
        # Another account's default rule: each date its own file, as ever.
        mailed(daemon, "acme", "20240516.csv", rows_of(10))
        mailed(daemon, "acme", "20240517.csv", rows_of(11))
    finally:
        assert daemon.terminate() == 0
    # An older renkei recorded the name as received, in the case it came in.
    with contextlib.closing(sqlite3.connect(daemon.db_path)) as db, db:
        db.execute(
            "UPDATE sources SET source_file = '20240516.CSV'"
            " WHERE account = 'acme' AND source_file = '20240516.csv'"
        )
    daemon = Daemon(config).start()
    try:
        third = mailed(daemon, "staff", "Employees-0701.CSV", rows_of(6))
        assert third["state"] == "completed", third["message"]
        sql = "SELECT member_no, _source_file FROM performance WHERE _account = 'staff'"
        assert daemon.query(sql) == [(6, "Employees-0701.CSV")]
        mailed(daemon, "acme", "20240516.CSV", rows_of(12))
        sql = "SELECT member_no FROM performance WHERE _account = 'acme' ORDER BY 1"
        assert daemon.query(sql) == [(11,), (12,)]
    finally:
        assert daemon.terminate() == 0


def test_renkei_check_refuses_a_bad_pattern_naming_the_key(tmp_path):
    accounts = account("sales", filename=["{YYYYMMDD}.csv", "売上_{YYYY-MM-DD}.csv"])
    config = write_config(tmp_path, accounts, extra='language = "en"')
    result = renkei("check", "--config", str(config), timeout=60)
    assert result.returncode == 1
    assert "accounts.sales.filename: '売上_{YYYY-MM-DD}.csv' has an unknown date part" in (
        result.stderr
    )
    assert "did you mean '売上_{YYYYMMDD}.csv'?" in result.stderr


def test_a_workbook_patterns_error_csv_sent_back_corrects_the_workbook():
    """Under `{YYYYMMDD}.xlsx` the report said to send back `20240516.errors.csv`, and
    the name rule refused it: only `<stem>.csv` was looked for."""
    rule = filename_rule(["{YYYYMMDD}.xlsx"], excel=True)
    assert rule.match("20240516.errors.csv") == "20240516.xlsx"
    assert rule.corrects("20240516.errors.csv")
    assert rule.match("20240516.errors.errors.csv") == "20240516.xlsx"
    assert rule.match("20240230.errors.csv") is None  # a day that does not exist
    assert filename_rule(["{YYYYMMDD}.xlsx"]).match("20240516.errors.csv") is None


def test_a_workbook_pattern_without_excel_is_a_config_problem():
    """Every file `{YYYYMMDD}.xlsx` took then failed as "workbooks are off"."""
    raw = {
        "layouts": {"p": {"columns": [{"name": "a"}]}},
        "accounts": {
            "off": {"layout": "p", "filename": ["x_{YYYYMMDD}.XLSX"]},
            "on": {"layout": "p", "filename": ["y_{YYYYMMDD}.xlsx"], "excel": True},
        },
    }
    with pytest.raises(ConfigError) as info:
        parse(raw)
    [problem] = info.value.problems
    assert problem.render("ja") == (
        "accounts.off.filename: 'x_{YYYYMMDD}.XLSX' は Excel ブックの名前ですが、このアカウントは"
        " excel = true ではありません(そのままでは、この名前のファイルはすべて失敗します)。"
        "excel = true を書いてください"
    )


def test_a_correction_saved_again_corrects_and_one_renamed_is_refused():
    """`.errors (1).csv` is how a browser saves a second download of the error CSV;
    under a `*` pattern it was a full copy of its day, as was one renamed past its
    `.errors` or kept as a workbook."""
    rule = filename_rule(["売上_{YYYYMMDD}_*.csv"], excel=True)
    for name in ("売上_20240518_0900.errors (1).csv", "売上_20240518_0900.errors(2).csv"):
        assert rule.match(name) == "売上_20240518_*.csv" and rule.corrects(name)
    assert rule.corrects("売上_20240518_0900.errors (1).errors.csv")
    assert correction_name("20240516.errors (3).csv") == "20240516.errors.csv"
    for name in ("売上_20240518_0900.errors.xlsx", "売上_20240518_0900.errors_fixed.csv"):
        assert rule.match(name) is None and not rule.corrects(name)
        said = rule.refusal(name).render("en")
        assert "send the correction as '売上_20240518_0900.errors.csv'" in said, said
    # A name no file of the rule's makes is refused by the rule itself.
    assert "breaks the rule" in rule.refusal("xyz.errors.xlsx").render("en")
