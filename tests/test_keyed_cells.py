"""What a keyed mode writes for a cell or a set_value: an empty key is refused, a blank
kept under blank = "keep" in any column, and a set_value stored as an imported cell of
it would be (converted by its column's type), with `renkei check` refusing the ones its
column refuses, a key column, and a set with nothing to set."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from tests.support import Daemon, write_config

LAYOUTS = """
[layouts.members]
key = ["member_no"]
columns = [
  { name = "member_no", type = "int" },
  { name = "name",      type = "text" },
  { name = "points",    type = "int" },
  { name = "joined",    type = "date" },
  { name = "active",    type = "bool" },
  { name = "grade",     type = "choice", values = ["A", "B"] },
]
"""
ACME = """
[accounts.acme]
layout = "members"
filename = "any"
mode = "upsert"
on_row_error = "skip"
report = "never"
[accounts.acme.api]
token = "demo-acme"
path = "/push/acme"
token_header = "X-Token"
file_field = "csv"
body = "form-data"
[accounts.acme.api.params.mode]
"upsert" = { mode = "upsert" }
"keep" = { mode = "upsert", blank = "keep" }
"set" = { mode = "set", set_values = { points = "１,２００", joined = "2024/5/6", active = "はい", grade = "Ｂ" } }
"clear" = { mode = "set", set_values = { points = "", joined = " ", grade = "" } }
"""
HEADER = "member_no,name,points,joined,active,grade"


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    d = Daemon(write_config(tmp_path_factory.mktemp("keyed"), ACME, LAYOUTS)).start()
    yield d
    d.terminate()


def push(daemon, mode: str, name: str, *lines: str) -> dict:
    reply = httpx.post(
        f"{daemon.api}/push/acme",
        headers={"X-Token": "demo-acme"},
        files={"csv": (name, ("\r\n".join(lines) + "\r\n").encode(), "text/csv")},
        data={"mode": mode},
        params={"wait": "true"},
        timeout=60,
    )
    assert reply.status_code == 200, reply.text
    return reply.json()


def member(daemon, key: int) -> list[tuple]:
    sql = "SELECT name, points, typeof(points), joined, active, grade FROM members"
    return daemon.query(sql + " WHERE member_no = ?", (key,))


def test_an_empty_key_is_the_rows_error_not_one_record_of_all(daemon):
    """Matched by IS NOT DISTINCT FROM, rows of an empty key were one record: each
    overwrote the one before, and a later file's empty key updated it again."""
    run = push(daemon, "upsert", "k1.csv", HEADER, ",g,1,,,", " ,h,2,,,", "7,i,3,,,")
    assert (run["rows_inserted"], run["rows_updated"], run["rows_failed"]) == (1, 0, 2)
    assert "2行目 列「member_no」の値「」は必須項目が空です" in str(run["errors"])
    assert daemon.query("SELECT count(*) FROM members WHERE member_no IS NULL") == [(0,)]


def test_blank_keep_keeps_a_cell_of_spaces_in_any_column(daemon):
    """README: a cell of spaces only is kept under blank = "keep"; a number, date or
    bool column refused it as no number, and the partner's file failed."""
    push(daemon, "upsert", "k2.csv", HEADER, "20,名,5,2024/05/16,1,A")
    run = push(daemon, "keep", "k3.csv", HEADER, "20,　,　, ,　,　")
    assert (run["state"], run["rows_updated"], run["rows_failed"]) == ("completed", 1, 0)
    assert member(daemon, 20) == [("名", 5, "integer", "2024-05-16", 1, "A")]
    # Without keep, spaces in a number column are still no number.
    run = push(daemon, "upsert", "k4.csv", HEADER, "20,x, ,,,")
    assert run["rows_failed"] == 1 and member(daemon, 20)[0][1] == 5


def test_set_values_are_stored_as_their_columns_store_a_cell(daemon):
    """A set wrote its values as the config's text: `１,２００` as text in an int
    column, `2024/5/6` and `はい` as written, unlike the same cells imported."""
    push(daemon, "upsert", "k5.csv", HEADER, "30,a,1,2024/01/01,0,A")
    run = push(daemon, "set", "k6.csv", "member_no", "30")
    assert run["rows_updated"] == 1
    assert member(daemon, 30) == [("a", 1200, "integer", "2024-05-06", 1, "B")]
    push(daemon, "clear", "k7.csv", "member_no", "30")
    assert member(daemon, 30) == [("a", None, "null", None, 1, None)]


def check(tmp_path, section: str) -> subprocess.CompletedProcess:
    config = write_config(tmp_path, ACME.split("[accounts.acme.api.params.mode]")[0], LAYOUTS)
    config.write_text(config.read_text() + section, encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "daemon.cli", "check", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("effect", "said"),
    [
        (
            '{ mode = "set", set_values = { points = "abc" } }',
            "set_values.points: 'abc' は整数ではありません(列 points の値)",
        ),
        (
            '{ mode = "set", set_values = { joined = "2024/2/30" } }',
            "set_values.joined: '2024/2/30' は存在しない日付です(列 joined の値)",
        ),
        (
            '{ mode = "set", set_values = { member_no = "1" } }',
            "set_values.member_no: member_no はキーの列です",
        ),
        ('{ mode = "set" }', 'set_values: mode = "set" には set_values が必要です'),
        (
            '{ mode = "set", set_values = { points = "5", joined = "" } }',
            None,  # an empty value clears an optional column: fine
        ),
    ],
)
def test_check_refuses_a_set_value_its_column_would_refuse(tmp_path, effect, said):
    done = check(tmp_path, f'[accounts.acme.api.params.mode]\n"x" = {effect}\n')
    assert "Traceback" not in done.stderr
    if said is None:
        assert done.returncode == 0, done.stdout + done.stderr
        return
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"accounts.acme.api.params.mode.x.{said}" in done.stdout + done.stderr


NARROW = """
[layouts.narrow]
key = ["code"]
columns = [
  { name = "code",   type = "text" },
  { name = "status", type = "int" },
  { name = "qty",    type = "int", required = true },
  { name = "label",  type = "text", max_length = 3 },
]
"""


@pytest.mark.parametrize(
    ("section", "said"),
    [
        # The account's own set_values, taken to the layout an effect switches to.
        (
            'set_values = { status = "停止" }\n[accounts.acme.api.params.m]\n'
            '"o" = { layout = "narrow" }\n',
            "accounts.acme.api.params.m.o.set_values.status: '停止' は整数ではありません",
        ),
        (
            '[accounts.acme.api.params.m]\n"q" = { layout = "narrow", set_values = { qty = "" } }\n',
            "accounts.acme.api.params.m.q.set_values.qty: 列 qty は必須のため、空の値は設定できません",
        ),
        (
            '[accounts.acme.api.params.m]\n"n" = { layout = "narrow", set_values = { label = "とても長い" } }\n',
            "accounts.acme.api.params.m.n.set_values.label: 'とても長い' は3文字を超えています",
        ),
    ],
)
def test_check_refuses_what_a_set_would_write_against_its_column(tmp_path, section, said):
    """Found past the last fix: the account's set_values were never checked against a
    layout an effect switches to (停止 went as text into an int column), an empty value
    emptied a required column, and a text over max_length was written."""
    config = write_config(tmp_path, ACME.split("[accounts.acme.api]")[0], LAYOUTS + NARROW)
    text = config.read_text(encoding="utf-8").replace('mode = "upsert"\n', 'mode = "set"\n', 1)
    config.write_text(text.replace('report = "never"\n', 'report = "never"\n' + section, 1))
    done = subprocess.run(
        [sys.executable, "-m", "daemon.cli", "check", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert said in done.stdout + done.stderr, done.stdout + done.stderr
