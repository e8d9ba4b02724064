"""A choice value is matched under one normal form wherever it comes in, not only in an
imported cell (importers/layouts.py `choice_form`): a Records API search, a key in a
record's path (learned values included), and a `set` mode's `set_values`, which
`renkei check` refuses when no listed value has its form and which is written as the
list writes it."""

from __future__ import annotations

import httpx
import pytest

from tests.support import Daemon, account, renkei, write_config

LAYOUTS = """
[layouts.codes]
key = ["code_no"]
columns = [
  { name = "code_no", type = "int",    required = true },
  { name = "grade",   type = "choice", values = ["A", "B", "ガイ"] },
  { name = "note",    type = "text" },
]

[layouts.tags]
key = ["tag"]
columns = [
  { name = "tag",  type = "choice", required = true, values = ["赤"] },
  { name = "memo", type = "text" },
]
"""
ACME = {"Authorization": "Bearer demo-acme-token"}
BETA = {"Authorization": "Bearer demo-beta-token"}
ACCOUNTS = (
    account("acme", layout="codes", report="never", on_unknown="create")
    + '[accounts.acme.api]\ntoken = "demo-acme-token"\n'
    + '[accounts.acme.api.params.kind]\n"close" = { mode = "set", set_values = { grade = "ｶﾞｲ " } }\n'
    + account("beta", layout="tags", report="never", on_unknown="create")
    + '[accounts.beta.api]\ntoken = "demo-beta-token"\n'
)


def csv(header: str, rows: list[str]) -> bytes:
    return ("\r\n".join([header, *rows]) + "\r\n").encode("cp932")


def pushed(daemon: Daemon, who: dict, data: bytes, **params: str) -> dict:
    reply = httpx.post(
        f"{daemon.api}/api/v1/imports",
        headers=who,
        params={"wait": "true", **params},
        files={"file": ("20240516.csv", data)},
        timeout=60,
    )
    assert reply.status_code == 200 and reply.json()["state"] == "completed", reply.text
    return reply.json()


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    folder = tmp_path_factory.mktemp("choices")
    d = Daemon(write_config(folder, ACCOUNTS, extra=LAYOUTS)).start()
    rows = ["1,A,", "2,Ａ,", "3,B,", "4,Ｃ１,", "5,ｶﾞｲ,", "11,A,", "13,B,"]
    pushed(d, ACME, csv("code_no,grade,note", rows))
    pushed(d, BETA, csv("tag,memo", ["赤,x", "青 ,y", "ﾐﾄﾞﾘ,z"]))
    yield d
    assert d.terminate() == 0


@pytest.fixture(scope="module")
def api(daemon):
    with httpx.Client(base_url=daemon.api, timeout=30) as client:
        yield client


# -- search ------------------------------------------------------------------------------


def test_a_choice_is_searched_by_its_normal_form_listed_and_learned(api, daemon):
    assert daemon.query("SELECT value FROM choice_values WHERE layout = 'codes'") == [("C1",)]

    def found(value: str) -> list[int]:
        # code_no 11 and 13 are the set test's, which may run first.
        params = {"search[grade]": value, "search[code_no][to]": "9"}
        r = api.get("/api/v1/records/codes", headers=ACME, params=params)
        assert r.status_code == 200, r.text
        return [row["code_no"] for row in r.json()["records"]]

    assert found("A") == [1, 2]
    assert found("Ａ") == [1, 2]
    assert found("A\u3000") == [1, 2]
    assert found("ｶﾞｲ") == [5]
    assert found("Ｃ１") == [4]  # learned from a file, as C1
    assert found("c1") == []  # case is kept: another value
    assert found("Z") == []  # no row could hold it: nothing, not an error
    form = {"search[grade]": " Ｂ ", "search[code_no][to]": "9"}
    r = api.post("/api/v1/records/codes/search", headers=ACME, data=form)
    assert r.status_code == 200 and [row["code_no"] for row in r.json()["records"]] == [3]


# -- a key in the path -------------------------------------------------------------------


def test_a_learned_choice_names_a_record_in_the_path(api, daemon):
    learned = "SELECT value FROM choice_values WHERE layout = 'tags' ORDER BY 1"
    assert daemon.query(learned) == [("ミドリ",), ("青",)]
    r = api.get("/api/v1/records/tags/青", headers=BETA)
    assert r.status_code == 200 and r.json()["memo"] == "y", r.text
    r = api.get("/api/v1/records/tags/ﾐﾄﾞﾘ", headers=BETA)  # its normal form, ミドリ
    assert r.status_code == 200 and (r.json()["tag"], r.json()["memo"]) == ("ミドリ", "z"), r.text
    r = api.patch("/api/v1/records/tags/青\u3000", headers=BETA, json={"memo": "changed"})
    assert r.status_code == 200 and r.json()["memo"] == "changed", r.text
    r = api.delete("/api/v1/records/tags/ミドリ", headers=BETA)
    assert r.status_code == 200, r.text
    assert daemon.query("SELECT tag, memo FROM tags ORDER BY rowid") == [
        ("赤", "x"),
        ("青", "changed"),
    ]
    r = api.get("/api/v1/records/tags/history", headers=BETA, params={"key": "青"})
    assert [e["action"] for e in r.json()["history"]] == ["update"], r.text
    r = api.get("/api/v1/records/tags/黄", headers=BETA)
    assert r.status_code == 404 and r.json()["error"] == "not_found", r.text


# -- set_values ------------------------------------------------------------------------


def test_a_set_value_is_written_as_the_list_writes_it(daemon):
    # The request's `kind=close` sets grade = "ｶﾞｲ " (half-width kana, a space).
    run = pushed(daemon, ACME, csv("code_no", ["11", "13"]), kind="close")
    assert run["rows_updated"] == 2, run
    rows = daemon.query("SELECT code_no, grade FROM codes WHERE code_no > 9 ORDER BY 1")
    assert rows == [(11, "ガイ"), (13, "ガイ")]


SET_LAYOUT = 'language = "en"\n' + LAYOUTS


def set_config(tmp_path, grade: str, **keys: str):
    accounts = account("acme", layout="codes", mode="set", **keys)
    accounts += f'[accounts.acme.set_values]\ngrade = "{grade}"\nnote = "done"\n'
    return write_config(tmp_path, accounts, extra=SET_LAYOUT)


def checked(config) -> tuple[int, list[str]]:
    result = renkei("check", "--config", str(config), timeout=60)
    return result.returncode, result.stderr.splitlines()[1:]


def test_check_refuses_a_set_value_no_listed_value_has_the_form_of(tmp_path):
    assert checked(set_config(tmp_path, "Ｂ\u3000")) == (0, [])
    assert checked(set_config(tmp_path, "b")) == (
        1,
        [
            "accounts.acme.set_values.grade: 'b' is not one of the values of column grade:"
            " A, B, ガイ; did you mean B?"
        ],
    )


def test_check_says_create_learns_from_files_not_from_set_values(tmp_path):
    code, said = checked(set_config(tmp_path, "Ｄ", on_unknown="create"))
    assert (code, said) == (
        1,
        [
            "accounts.acme.set_values.grade: 'Ｄ' is not one of the values of column grade:"
            ' A, B, ガイ (on_unknown = "create" learns values from a file\'s cells, not from'
            " set_values: add a new value to the column's values)"
        ],
    )


def test_check_refuses_a_request_parameters_set_value_in_japanese(tmp_path):
    accounts = account("acme", layout="codes")
    accounts += '[accounts.acme.api]\ntoken = "demo-acme-token"\n'
    accounts += '[accounts.acme.api.params.kind]\n"close" = { mode = "set", set_values = { grade = "ガイア" } }\n'
    config = write_config(tmp_path, accounts, extra=LAYOUTS)
    code, said = checked(config)
    assert code == 1
    assert said == [
        "accounts.acme.api.params.kind.close.set_values.grade:"
        " 'ガイア' は列 grade の選択肢 A, B, ガイ のいずれでもありません。ガイ の誤りではありませんか?"
    ]
