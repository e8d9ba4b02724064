"""The two ready-made example configs, end to end: the exact requests an expense
system and a mail-delivery system send (SJIS CSV with a header row, the token in their
own header, parameters JSON-encoded in one field), by httpx and by curl -F."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.support import Daemon, curl, needs_curl, served

EXPENSE = {"X-RS-apitoken": "demo-expense-token"}
DELIVERY = {"X-HM-apitoken": "demo-delivery-token"}


def sjis(*lines: str) -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode("cp932")


@pytest.fixture(scope="module")
def expense(tmp_path_factory):
    d = Daemon(served("expense.example.toml", tmp_path_factory.mktemp("expense"))).start()
    yield d
    d.terminate()


@pytest.fixture(scope="module")
def delivery(tmp_path_factory, module_relay):
    folder = tmp_path_factory.mktemp("delivery")
    d = Daemon(served("mail-delivery.example.toml", folder, module_relay.port)).start()
    yield d
    d.terminate()


def csvimport(daemon, csv: bytes, settings: dict | str, name="20240516.csv", **kw):
    field = settings if isinstance(settings, str) else json.dumps(settings)
    return httpx.post(
        f"{daemon.api}/api/v1/csvimport",
        headers=kw.pop("headers", EXPENSE),
        files={kw.pop("part", "uploadFile"): (name, csv, "text/csv")},
        data={"json": field},
        params=kw.pop("params", {"wait": "true"}),
        timeout=60,
    )


EMPLOYEES = "employee_id,name,email,department_code,category"


def test_expense_employees_upsert_by_httpx(expense):
    first = sjis(EMPLOYEES, "E001,髙橋 一郎,t@example.jp,D01,正社員", "E002,山田 花子,,D02,パート")
    params = {"masterId": "0", "duplicateKey": "1", "createCategory": "0", "sendPasswordEmail": "0"}
    reply = csvimport(expense, first, params)
    assert reply.status_code == 200, reply.text
    run = reply.json()
    assert (run["state"], run["layout"], run["mode"]) == ("completed", "employees", "upsert")
    assert (run["rows_inserted"], run["rows_updated"]) == (2, 0)

    again = sjis(EMPLOYEES, "E002,山田 花子,h@example.jp,D03,契約社員", "E003,佐藤 ①,,D01,役員")
    run = csvimport(expense, again, params, name="20240517.csv").json()
    assert (run["rows_inserted"], run["rows_updated"], run["rows_skipped"]) == (1, 1, 0)
    skip = sjis(EMPLOYEES, "E001,別人,,D09,正社員")
    run = csvimport(expense, skip, params | {"duplicateKey": "0"}, name="20240518.csv").json()
    assert (run["rows_inserted"], run["rows_skipped"]) == (0, 1)
    rows = expense.query(
        "SELECT employee_id, name, department_code, category FROM employees ORDER BY 1"
    )
    assert rows == [
        ("E001", "髙橋 一郎", "D01", "正社員"),
        ("E002", "山田 花子", "D03", "契約社員"),
        ("E003", "佐藤 ①", "D01", "役員"),
    ]


@needs_curl
def test_expense_departments_by_curl(expense, tmp_path):
    path = tmp_path / "20240520.csv"
    path.write_bytes(sjis("department_code,name,parent_code", "D01,営業部,", "D02,経理部,D01"))
    status, run = curl(
        f"{expense.api}/api/v1/csvimport?wait=true",
        "-H", "X-RS-apitoken: demo-expense-token",
        "-F", f"uploadFile=@{path};type=text/csv",
        "-F", 'json={"masterId": 1, "duplicateKey": 1}',
    )  # fmt: skip
    assert status == 200, run
    assert run["rows_inserted"] == 2
    assert expense.query("SELECT name, parent_code FROM departments ORDER BY 1") == [
        ("営業部", ""),
        ("経理部", "D01"),
    ]


def test_expense_row_errors_name_line_column_and_value(expense):
    bad = sjis(EMPLOYEES, "E010,田中,,D01,正社員", "E011,鈴木,,D01,社長")
    reply = csvimport(expense, bad, {"masterId": "0"}, name="20240601.csv")
    assert reply.status_code == 422
    run = reply.json()
    assert run["state"] == "failed" and run["rows_imported"] == 0
    [error] = run["errors"]
    assert (error["line"], error["column"], error["value"]) == (3, "category", "社長")
    assert expense.query("SELECT count(*) FROM employees WHERE employee_id = 'E010'") == [(0,)]


def test_expense_create_category_learns_the_value(expense):
    csv = sjis(EMPLOYEES, "E300,新人,,D01,嘱託")
    reply = csvimport(expense, csv, {"masterId": "0", "createCategory": "0"}, name="20240610.csv")
    assert reply.status_code == 422 and reply.json()["errors"][0]["value"] == "嘱託"
    settings = {"masterId": "0", "createCategory": "1"}
    reply = csvimport(expense, csv, settings, name="20240611.csv")
    assert reply.status_code == 200, reply.text
    assert expense.query("SELECT value FROM choice_values WHERE column_name = 'category'") == [
        ("嘱託",)
    ]
    # Once created, the category is known without asking again.
    csv = sjis(EMPLOYEES, "E301,次の人,,D01,嘱託")
    reply = csvimport(expense, csv, {"masterId": "0", "createCategory": "0"}, name="20240612.csv")
    assert reply.status_code == 200, reply.text


@pytest.mark.parametrize(
    ("change", "status", "code", "words"),
    [
        ({"headers": {}}, 401, "unauthorized", "X-RS-apitoken"),
        ({"headers": {"X-RS-apitoken": "wrong"}}, 401, "unauthorized", "正しくありません"),
        ({"headers": {"Authorization": "Bearer demo-expense-token"}}, 401, "unauthorized", ""),
        ({"part": "file"}, 422, "missing_file", "uploadFile"),
        ({"settings": {"masterId": "0", "colour": "red"}}, 422, "unknown_parameter", "colour"),
        ({"settings": {"masterId": "81"}}, 422, "bad_parameter_value", "masterId='81'"),
        ({"settings": {"createCategory": "2"}}, 422, "bad_parameter_value", "createCategory"),
        ({"settings": '{"masterId": "0"'}, 422, "bad_settings", "JSON として読めません"),
        ({"settings": '["masterId"]'}, 422, "bad_settings", "JSON オブジェクト"),
    ],
)
def test_expense_bad_requests(expense, change, status, code, words):
    settings = change.pop("settings", {"masterId": "0"})
    reply = csvimport(expense, sjis(EMPLOYEES, "E100,x,,,"), settings, **change)
    assert reply.status_code == status, reply.text
    assert reply.json()["error"] == code
    assert words in reply.json()["message"]


def test_expense_sjis_declared_but_utf8_sent(expense):
    utf8 = (EMPLOYEES + "\r\nE200,髙橋,,,\r\n").encode("utf-8")
    reply = csvimport(expense, utf8, {"masterId": "0"}, name="20240602.csv")
    assert reply.status_code == 422
    assert "UTF-8" in reply.json()["message"]


def test_expense_limits_10001_rows_and_3mb_plus_one(expense):
    rows = [EMPLOYEES] + [f"E{i:05d},名前,,," for i in range(10001)]
    reply = csvimport(expense, sjis(*rows), {"masterId": "0"}, name="20240603.csv")
    assert reply.status_code == 413 and reply.json()["rows_imported"] == 0
    big = sjis(EMPLOYEES, "E1,x,,,") + b" " * (3145728 - len(sjis(EMPLOYEES, "E1,x,,,")) + 1)
    reply = csvimport(expense, big, {"masterId": "0"}, name="20240604.csv")
    assert reply.status_code == 413 and reply.json()["error"] == "too_large"


def test_expense_dry_run_writes_nothing(expense):
    before = expense.query("SELECT count(*) FROM positions")
    csv = sjis("position_code,name", "P1,部長", "P2,課長")
    reply = csvimport(
        expense, csv, {"masterId": "2"}, name="20240605.csv",
        params={"wait": "true", "dry_run": "true"},
    )  # fmt: skip
    run = reply.json()
    assert reply.status_code == 200 and run["dry_run"] is True
    assert (run["state"], run["rows_inserted"]) == ("completed", 2)
    assert expense.query("SELECT count(*) FROM positions") == before
    # The real import afterwards is not answered by the dry run.
    real = csvimport(expense, csv, {"masterId": "2"}, name="20240605.csv").json()
    assert real["id"] != run["id"] and real["dry_run"] is False
    assert expense.query("SELECT count(*) FROM positions") == [(2,)]


CUSTOMERS = "email,name,company,status"


def custcsv(daemon, csv: bytes, settings: dict, name: str, **kw):
    return httpx.post(
        f"{daemon.api}/api/v1/custcsv/import",
        headers=DELIVERY,
        files={"customer_list": (name, csv, "text/csv")},
        data={"import_settings": json.dumps(settings)},
        params={"wait": "true"},
        timeout=60,
    )


def customers(daemon) -> list[tuple]:
    return daemon.query("SELECT email, name, company, status FROM customers ORDER BY 1")


def test_mail_delivery_import_types(delivery):
    base = {"login_id": "admin", "gid": "3", "spid": "0", "report_option": "0"}
    register = sjis(
        CUSTOMERS,
        "a@example.jp,青木,㈱青木商事,active",
        "b@example.jp,馬場,,active",
        "c@example.jp,千葉,千葉工業,active",
    )
    run = custcsv(delivery, register, base | {"import_type": "0"}, "20240701.csv").json()
    assert (run["mode"], run["rows_inserted"]) == ("upsert", 3)

    # is_overwrite 0: an existing address is skipped.
    again = sjis(CUSTOMERS, "a@example.jp,別名,,active", "d@example.jp,土井,,active")
    run = custcsv(
        delivery, again, base | {"import_type": "0", "is_overwrite": "0"}, "20240702.csv"
    ).json()
    assert (run["rows_inserted"], run["rows_skipped"]) == (1, 1)

    # is_overwrite 1 with overwrite_type 1: a blank cell keeps the old value…
    keep = sjis(CUSTOMERS, "a@example.jp,青木 太郎,,")
    settings = base | {"import_type": "0", "is_overwrite": "1", "overwrite_type": "1"}
    run = custcsv(delivery, keep, settings, "20240703.csv").json()
    assert run["rows_updated"] == 1
    # …and with overwrite_type 2 it overwrites with blank.
    blank = sjis(CUSTOMERS, "c@example.jp,千葉,,active")
    run = custcsv(delivery, blank, settings | {"overwrite_type": "2"}, "20240704.csv").json()
    assert run["rows_updated"] == 1

    stop = sjis(CUSTOMERS, "b@example.jp,,,", "z@example.jp,,,")
    run = custcsv(delivery, stop, base | {"import_type": "2"}, "20240705.csv").json()
    assert (run["mode"], run["rows_updated"], run["rows_not_found"]) == ("set", 1, 1)
    ban = sjis("name,email", "土井,d@example.jp")  # other columns are read past
    custcsv(delivery, ban, base | {"import_type": "3"}, "20240706.csv")
    gone = sjis("email", "c@example.jp")  # delete and set need only the key column
    run = custcsv(delivery, gone, base | {"import_type": "1"}, "20240707.csv").json()
    assert (run["mode"], run["rows_deleted"]) == ("delete", 1)
    assert customers(delivery) == [
        ("a@example.jp", "青木 太郎", "㈱青木商事", "active"),
        ("b@example.jp", "馬場", "", "stopped"),
        ("d@example.jp", "土井", "", "banned"),
    ]
    again = sjis(CUSTOMERS, "b@example.jp,,,")
    custcsv(delivery, again, base | {"import_type": "5"}, "20240708.csv")
    assert delivery.query("SELECT status FROM customers WHERE email = 'b@example.jp'") == [
        ("active",)
    ]


def test_mail_delivery_report_option_chooses_the_report(delivery, module_relay):
    relay = module_relay
    quiet = sjis(CUSTOMERS, "s@example.jp,静か,,active")
    run = custcsv(delivery, quiet, {"import_type": "0", "report_option": "0"}, "20240709.csv")
    assert run.json()["state"] == "completed"
    loud = sjis(CUSTOMERS, "r@example.jp,報告,,active")
    run = custcsv(delivery, loud, {"import_type": "0", "report_option": "1"}, "20240710.csv")
    assert run.json()["state"] == "completed"
    # Reports go out in the order runs finish: once the second came, the first had its turn.
    [report] = relay.for_recipient("marketing@example.jp", about="20240710.csv")
    assert "20240710.csv" in report["Subject"] + report.get_body().get_content()
    assert not [m for m in relay.messages if "20240709.csv" in m.get_body().get_content()]


def test_mail_delivery_unmapped_value_is_refused(delivery):
    csv = sjis(CUSTOMERS, "q@example.jp,,,active")
    reply = custcsv(delivery, csv, {"import_type": "4"}, "20240711.csv")
    assert reply.status_code == 422
    assert "import_type='4'" in reply.json()["message"]


@needs_curl
def test_mail_delivery_register_by_curl(delivery, tmp_path):
    path = tmp_path / "20240720.csv"
    path.write_bytes(sjis(CUSTOMERS, "curl@example.jp,カール,㈱髙島屋,active"))
    settings = {"login_id": "admin", "import_type": 0, "is_overwrite": 1, "report_option": 0}
    status, run = curl(
        f"{delivery.api}/api/v1/custcsv/import?wait=true",
        "-H", "X-HM-apitoken: demo-delivery-token",
        "-F", f"customer_list=@{path};type=text/csv",
        "-F", f"import_settings={json.dumps(settings)}",
    )  # fmt: skip
    assert status == 200, run
    assert run["rows_inserted"] == 1
    assert delivery.query("SELECT company FROM customers WHERE email = 'curl@example.jp'") == [
        ("㈱髙島屋",)
    ]


@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT", "DELETE"])
def test_another_method_on_an_accounts_own_import_path_is_a_405(expense, method):
    # 404 there, where the generic import path answers 405 with Allow: POST.
    reply = httpx.request(method, f"{expense.api}/api/v1/csvimport", timeout=10)
    assert reply.status_code == 405 and reply.headers["Allow"] == "POST"
    generic = httpx.request(method, f"{expense.api}/api/v1/imports", timeout=10)
    assert (generic.status_code, generic.headers["Allow"]) == (405, "POST")
    if method != "HEAD":
        assert reply.json()["error"] == "method_not_allowed"
