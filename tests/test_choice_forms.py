"""Choice values as Japanese partners type them (importers/layouts.py `choice_form`): a
cell matches a listed or learned value under NFKC with surrounding spaces trimmed and
is stored as the list writes it; `on_unknown = "create"` learns a new value once, in
its normal form, whether the file is read whole or in parts; the Records API takes a
choice by the same rule; `renkei check` refuses two listed values of one form."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path

import httpx
import pytest

from daemon.worker import staging
from tests.support import Daemon, account, import_process, queued_ids, renkei, send, write_config
from tests.support import mail as mail_message
from tests.test_readers import _wait_readers
from tests.test_staging import PartsSeen

CODES = """
[layouts.codes]
key = ["code_no"]
columns = [
  { name = "code_no", type = "int",    required = true },
  { name = "grade",   type = "choice", values = ["A", "B", "ガイ"] },
  { name = "city",    type = "choice", values = ["大阪"] },
  { name = "note",    type = "text" },
]
"""
LIMITS = "[limits]\nmax_rows = 1000000\nmax_bytes = 100000000\n"
ACME = {"Authorization": "Bearer demo-acme-token"}


def codes_csv(rows: list[str]) -> bytes:
    return ("\r\n".join(["code_no,grade,city,note", *rows]) + "\r\n").encode("cp932")


def codes_config(folder: Path, **keys: str) -> Path:
    accounts = account("acme", layout="codes", report="never", **keys)
    return write_config(folder, accounts, extra=LIMITS + CODES)


def imported(config: Path, path: Path) -> dict:
    result = renkei("import", str(path), "--account", "acme", "--json", "--config", str(config))
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout)


def query(folder: Path, sql: str) -> list[tuple]:
    with contextlib.closing(sqlite3.connect(folder / "var" / "renkei.db")) as db:
        return db.execute(sql).fetchall()


def learned(folder: Path) -> list[tuple[str, str]]:
    sql = "SELECT column_name, value FROM choice_values WHERE layout = 'codes' ORDER BY 1, 2"
    return query(folder, sql)


def test_full_width_half_width_kana_and_trailing_spaces_are_the_listed_value(tmp_path):
    config = codes_config(tmp_path, on_row_error="skip")
    path = tmp_path / "20240516.csv"
    rows = [
        "1,Ａ,大阪,",
        "2,ｶﾞｲ,大阪 ,",
        "3,A\u3000,\u3000大阪\u3000,",
        "4,Ｂ ,,",
        "5,\u3000,,",
        "6,C,,",
    ]
    path.write_bytes(codes_csv(rows))
    run = imported(config, path)
    assert (run["rows_imported"], run["rows_failed"]) == (5, 1), run
    assert query(tmp_path, "SELECT code_no, grade, city FROM codes ORDER BY code_no") == [
        (1, "A", "大阪"),
        (2, "ガイ", "大阪"),
        (3, "A", "大阪"),
        (4, "B", None),
        (5, None, None),  # a cell of spaces only is empty
    ]
    # A value truly not in the list is refused as before, shown as the partner wrote it.
    errors = query(tmp_path, 'SELECT line, "column", value, message FROM run_errors')
    said = "7行目 列「grade」の値「C」は選択肢 A, B, ガイ のいずれでもありません"
    assert errors == [(7, "grade", "C", said)]


def test_create_learns_one_value_in_its_normal_form(tmp_path):
    config = codes_config(tmp_path, on_unknown="create")
    path = tmp_path / "20240516.csv"
    path.write_bytes(codes_csv(["1,Ａ,東京 ,", "2,A,東京,", "3,ｶﾞｲ,\u3000東京,", "4,Ｃ１,京都,"]))
    run = imported(config, path)
    assert (run["state"], run["rows_imported"]) == ("completed", 4), run
    assert learned(tmp_path) == [("city", "京都"), ("city", "東京"), ("grade", "C1")]
    assert query(tmp_path, "SELECT grade, city FROM codes ORDER BY code_no") == [
        ("A", "東京"),
        ("A", "東京"),
        ("ガイ", "東京"),
        ("C1", "京都"),
    ]
    # A later file matches the learned values under the same rule: nothing new learned.
    path = tmp_path / "20240517.csv"
    path.write_bytes(codes_csv(["5,c1,東京\u3000,", "6,Ｃ1 ,ｷｮｳﾄ,"]))
    run = imported(config, path)
    assert (run["state"], run["rows_imported"]) == ("completed", 2), run
    assert query(tmp_path, "SELECT grade, city FROM codes WHERE code_no > 4 ORDER BY code_no") == [
        ("c1", "東京"),  # case is kept: `c1` is another value
        ("C1", "キョウト"),
    ]
    assert learned(tmp_path) == [
        ("city", "キョウト"),
        ("city", "京都"),
        ("city", "東京"),
        ("grade", "C1"),
        ("grade", "c1"),
    ]


# -- the daemon: a file read in parts, the Records API -----------------------------------


@pytest.fixture
def daemon(tmp_path):
    accounts = account("acme", layout="codes", report="never", on_unknown="create")
    accounts += '[accounts.acme.api]\ntoken = "demo-acme-token"\n'
    config = write_config(tmp_path, accounts, extra=LIMITS + CODES)
    text = config.read_text().replace("max_message_bytes = 200000", "max_message_bytes = 5000000")
    config.write_text(text)
    d = Daemon(config).start()
    yield d
    assert d.terminate() == 0


SPELLINGS = ["京都 ", "京都", "\u3000京都", "ｷｮｳﾄ", "Ｋ１"]


def test_a_file_read_in_parts_learns_the_normal_form(daemon):
    _wait_readers(import_process(daemon))  # the readers are there: a middling file is cut
    rows = [f"{i},Ａ,{SPELLINGS[i % 5]},{'備考' * 30}" for i in range(1, 4001)]
    data = codes_csv(rows)
    assert staging.PARTS_PAY < len(data) < staging.LARGE_FILE
    with PartsSeen(daemon.data_dir) as parts:
        _, code, reply = send(daemon.smtp_port, mail_message([("20240516.csv", data)]))
        assert code == 250, reply
        run = daemon.wait_run(queued_ids(reply)[0], timeout=120)
    assert parts.seen, "the file was not read in parts"
    assert (run["state"], run["rows_imported"]) == ("completed", 4000), run
    assert daemon.query("SELECT column_name, value FROM choice_values ORDER BY 1, 2") == [
        ("city", "K1"),
        ("city", "キョウト"),
        ("city", "京都"),
    ]
    assert daemon.query("SELECT grade, city, count(*) FROM codes GROUP BY 1, 2 ORDER BY 2") == [
        ("A", "K1", 800),
        ("A", "キョウト", 800),
        ("A", "京都", 2400),
    ]

    # The Records API takes a choice by the same rule, learned values included.
    with httpx.Client(base_url=daemon.api, timeout=30) as api:
        body = {"code_no": 90001, "grade": "ｶﾞｲ ", "city": "京都\u3000"}
        r = api.post("/api/v1/records/codes", headers=ACME, json=body)
        assert r.status_code == 201, r.text
        assert (r.json()["grade"], r.json()["city"]) == ("ガイ", "京都")
        r = api.patch("/api/v1/records/codes/90001", headers=ACME, json={"city": "Ｋ1"})
        assert r.status_code == 200 and r.json()["city"] == "K1", r.text
        r = api.patch("/api/v1/records/codes/90001", headers=ACME, json={"grade": "Ｄ"})
        assert r.status_code == 422 and r.json()["error"] == "invalid_record", r.text
        assert r.json()["errors"][0]["message"] == "gradeは A, B, ガイ のいずれかを選んでください"


def test_check_refuses_two_listed_values_of_one_form(tmp_path):
    layout = CODES.replace('values = ["A", "B", "ガイ"]', 'values = ["A", "ｶﾞｲ", "Ａ ", "ガイ"]')
    accounts = account("acme", layout="codes")
    config = write_config(tmp_path, accounts, extra='language = "en"\n' + layout)
    result = renkei("check", "--config", str(config), timeout=60)
    assert result.returncode == 1, result.stdout
    assert result.stderr.splitlines()[1:] == [
        "layouts.codes.columns.1.values.2: 'Ａ ' is matched as the same value as 'A'"
        " (full-width and half-width forms and surrounding spaces are not told apart):"
        " keep one of them",
        "layouts.codes.columns.1.values.3: 'ガイ' is matched as the same value as 'ｶﾞｲ'"
        " (full-width and half-width forms and surrounding spaces are not told apart):"
        " keep one of them",
    ]
