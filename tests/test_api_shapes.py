"""Request shapes from config: a shared path where the token picks the account,
parameters as form fields mapped to import modes, and the modes on the default path."""

from __future__ import annotations

import httpx
import pytest

from tests.support import Daemon, curl, needs_curl, write_config

SHAPED = """
[layouts.members]
key = ["member_no"]
columns = [
  { name = "member_no", type = "int",  required = true },
  { name = "name",      type = "text" },
]

[layouts.people]
key = ["member_no"]
columns = [
  { name = "member_no",   type = "int",  required = true },
  { name = "employee_id", type = "text" },
]

[layouts.visits]
columns = [
  { name = "visitor", type = "text", required = true, reference = "people" },
  { name = "note",    type = "text" },
]
"""


def shaped(name: str, token: str) -> str:
    return f"""
[accounts.{name}]
layout = "members"
mode = "insert"
[accounts.{name}.api]
token = "{token}"
path = "/push/members"
token_header = "X-Token"
file_field = "csv"
body = "form-data"
[accounts.{name}.api.params.mode]
"insert" = {{ mode = "insert" }}
"upsert" = {{ mode = "upsert", on_duplicate = "update" }}
"replace" = {{ mode = "replace_file" }}
"delete" = {{ mode = "delete" }}
"close" = {{ mode = "set", set_values = {{ name = "closed" }} }}
"""


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shapes")
    accounts = shaped("north", "demo-north") + shaped("south", "demo-south")
    accounts += '[accounts.plain]\nlayout = "members"\n[accounts.plain.api]\ntoken = "demo-plain"\n'
    accounts += (
        '[accounts.people]\nlayout = "people"\n[accounts.people.api]\ntoken = "demo-people"\n'
        '[accounts.by_no]\nlayout = "visits"\non_row_error = "skip"\n'
        '[accounts.by_no.api]\ntoken = "demo-by-no"\n'
        '[accounts.by_id]\nlayout = "visits"\nmember_key = "employee_id"\n'
        '[accounts.by_id.api]\ntoken = "demo-by-id"\n'
        '[accounts.raw]\nlayout = "members"\nmode = "insert"\n'
        '[accounts.raw.api]\ntoken = "demo-raw"\npath = "/push/raw"\nheader = false\n'
        'encoding = "cp932"\n'
    )
    d = Daemon(write_config(folder, accounts, extra=SHAPED)).start()
    yield d
    d.terminate()


def push(daemon, token: str, csv: str, name: str, **fields: str) -> httpx.Response:
    return httpx.post(
        f"{daemon.api}/push/members",
        headers={"X-Token": token},
        files={"csv": (name, csv.encode(), "text/csv")},
        data=fields,
        params={"wait": "true"},
        timeout=60,
    )


def test_the_token_picks_the_account_on_a_shared_path(daemon):
    north = push(daemon, "demo-north", "member_no,name\n1,北\n", "20240801.csv").json()
    south = push(daemon, "demo-south", "member_no,name\n1,南\n", "20240801.csv").json()
    assert (north["account"], south["account"]) == ("north", "south")
    rows = daemon.query("SELECT _account, name FROM members WHERE member_no = 1 ORDER BY 1")
    assert rows == [("north", "北"), ("south", "南")]
    wrong = push(daemon, "demo-plain", "member_no,name\n1,x\n", "20240801.csv")
    assert wrong.status_code == 401
    assert httpx.post(f"{daemon.api}/push/nothing", timeout=10).status_code == 404


def test_modes_from_form_fields(daemon):
    csv = "member_no,name\n10,一\n10,二\n"
    run = push(daemon, "demo-north", csv, "20240802.csv", mode="insert").json()
    assert (run["mode"], run["rows_inserted"]) == ("insert", 2)
    run = push(
        daemon, "demo-north", "member_no,name\n10,三\n11,四\n", "20240803.csv", mode="upsert"
    )
    run = run.json()
    assert (run["rows_inserted"], run["rows_updated"]) == (1, 2)  # both rows of key 10
    names = daemon.query(
        "SELECT member_no, name FROM members WHERE _account = 'north' AND member_no > 9"
    )
    assert sorted(names) == [(10, "三"), (10, "三"), (11, "四")]
    # replace_file: sending the same name again replaces what that name imported.
    push(daemon, "demo-north", "member_no,name\n20,甲\n21,乙\n", "20240804.csv", mode="replace")
    run = push(daemon, "demo-north", "member_no,name\n22,丙\n", "20240804.csv", mode="replace")
    assert run.json()["rows_inserted"] == 1
    assert daemon.query("SELECT member_no FROM members WHERE _source_file = '20240804.csv'") == [
        (22,)
    ]


def test_an_unmapped_form_field_is_refused(daemon):
    reply = push(daemon, "demo-north", "member_no,name\n1,x\n", "20240805.csv", colour="red")
    assert reply.status_code == 422 and reply.json()["error"] == "unknown_parameter"
    assert "colour" in reply.json()["message"]
    reply = push(daemon, "demo-north", "member_no,name\n1,x\n", "20240805.csv", mode="merge")
    assert reply.status_code == 422 and "mode='merge'" in reply.json()["message"]


def test_a_thousand_unmapped_fields_are_named_in_a_short_answer(daemon):
    # Every name was listed, each whole: 900 fields made a 5 KB answer and log line.
    fields = {f"f{i:03d}": "x" for i in range(900)} | {"y" * 300: "x"}
    reply = push(daemon, "demo-north", "member_no,name\n1,x\n", "20240806.csv", **fields)
    said = reply.json()["message"]
    assert reply.status_code == 422 and reply.json()["error"] == "unknown_parameter"
    assert "f000, f001" in said and said.endswith(", … (+881)") and len(said) < 400, said
    reply = push(daemon, "demo-north", "member_no,name\n1,x\n", "20240806.csv", **{"y" * 300: "x"})
    assert reply.json()["message"].endswith(f"{'y' * 50}…"), reply.json()


def members(daemon) -> str:
    return f"{daemon.api}/push/members?wait=true"


@needs_curl
@pytest.mark.parametrize(
    ("mode", "csv", "counts", "left"),
    [
        ("insert", "40,a\n40,b\n", (2, 0, 0, 0, 0), [(40, "a"), (40, "b")]),
        ("upsert", "41,a\n40,c\n", (1, 2, 0, 0, 0), [(40, "c"), (40, "c"), (41, "a")]),
        ("close", "41,\n49,\n", (0, 1, 0, 0, 1), [(40, "c"), (40, "c"), (41, "closed")]),
        ("delete", "40,\n", (0, 0, 0, 2, 0), [(41, "closed")]),
        ("replace", "42,r\n", (1, 0, 0, 0, 0), [(41, "closed"), (42, "r")]),
    ],
)
def test_each_mode_by_curl(daemon, tmp_path, mode, csv, counts, left):
    path = tmp_path / "20241001.csv"
    path.write_text("member_no,name\n" + csv, encoding="utf-8")
    status, run = curl(
        members(daemon), "-H", "X-Token: demo-north", "-F", f"csv=@{path}", "-F", f"mode={mode}"
    )
    assert status == 200, run
    kinds = ("inserted", "updated", "skipped", "deleted", "not_found")
    got = tuple(run[f"rows_{kind}"] for kind in kinds)
    assert got == counts
    rows = daemon.query(
        "SELECT member_no, name FROM members WHERE _account = 'north' AND member_no >= 40"
    )
    assert sorted(rows) == left


@needs_curl
@pytest.mark.parametrize(
    ("args", "status", "code"),
    [
        (("-F", "csv=@{path}"), 401, "unauthorized"),
        (("-H", "X-Token: nobody", "-F", "csv=@{path}"), 401, "unauthorized"),
        (("-H", "X-Token: demo-north", "-F", "mode=insert"), 422, "missing_file"),
        (("-H", "X-Token: demo-north", "-F", "mode=merge", "-F", "csv=@{path}"), 422,
         "bad_parameter_value"),
        (("-H", "X-Token: demo-north", "-F", "file=@{path}"), 422, "missing_file"),
    ],
)  # fmt: skip
def test_bad_requests_by_curl(daemon, tmp_path, args, status, code):
    path = tmp_path / "20241002.csv"
    path.write_text("member_no,name\n1,x\n", encoding="utf-8")
    got, body = curl(members(daemon), *(a.format(path=path) for a in args))
    assert (got, body["error"]) == (status, code)


@needs_curl
def test_a_headerless_sjis_file_by_its_own_shape(daemon, tmp_path):
    path = tmp_path / "20241003.csv"
    path.write_bytes("50,髙橋\r\n51,①\r\n".encode("cp932"))
    status, run = curl(
        f"{daemon.api}/push/raw?wait=true",
        "-H", "Authorization: Bearer demo-raw", "-F", f"file=@{path}",
    )  # fmt: skip
    assert status == 200 and run["encoding"] == "cp932", run
    assert daemon.query("SELECT name FROM members WHERE _account = 'raw' ORDER BY 1") == [
        ("①",),
        ("髙橋",),
    ]


@needs_curl
def test_curl_form_fields(daemon, tmp_path):
    path = tmp_path / "20240806.csv"
    path.write_text("member_no,name\n30,curl\n", encoding="utf-8")
    status, _ = curl(
        members(daemon), "-H", "X-Token: demo-south", "-F", f"csv=@{path}", "-F", "mode=upsert"
    )
    assert status == 200
    assert daemon.query("SELECT _account FROM members WHERE member_no = 30") == [("south",)]


def test_the_default_path_refuses_options_an_account_does_not_map(daemon):
    reply = httpx.post(
        f"{daemon.api}/api/v1/imports",
        headers={"Authorization": "Bearer demo-plain"},
        files={"file": ("20240807.csv", b"member_no,name\n1,x\n")},
        data={"mode": "upsert"},
        timeout=10,
    )
    assert reply.status_code == 422 and "mode" in reply.json()["message"]


def generic(daemon, token: str, csv: str, name: str) -> httpx.Response:
    return httpx.post(
        f"{daemon.api}/api/v1/imports",
        headers={"Authorization": f"Bearer {token}"},
        files={"file": (name, csv.encode("utf-8"))},
        params={"wait": "true"},
        timeout=60,
    )


def test_reference_columns_match_by_the_accounts_member_key(daemon):
    people = "member_no,employee_id\n1,E-1\n2,E-2\n"
    assert generic(daemon, "demo-people", people, "20240901.csv").status_code == 200
    # by member_no (the key): 3 names nobody; on_row_error = skip keeps the rest.
    run = generic(daemon, "demo-by-no", "visitor,note\n1,a\n3,b\n2,c\n", "20240902.csv")
    body = run.json()
    assert (body["rows_imported"], body["rows_failed"]) == (2, 1)
    [error] = body["errors"]
    assert (error["line"], error["column"], error["value"]) == (3, "visitor", "3")
    assert "people" in error["message"] and "member_no" in error["message"]
    # by employee_id: the same number is no employee id, the id is.
    run = generic(daemon, "demo-by-id", "visitor,note\nE-2,d\n1,e\n", "20240903.csv")
    assert run.status_code == 422 and run.json()["errors"][0]["line"] == 3
    run = generic(daemon, "demo-by-id", "visitor,note\nE-2,d\n", "20240904.csv")
    assert run.status_code == 200
    rows = daemon.query("SELECT _account, visitor FROM visits ORDER BY rowid")
    assert rows == [("by_no", "1"), ("by_no", "2"), ("by_id", "E-2")]


def test_openapi_describes_each_accounts_own_path(daemon):
    schema = httpx.get(f"{daemon.api}/openapi.json", timeout=10).json()
    operation = schema["paths"]["/push/members"]["post"]
    form = operation["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert form["required"] == ["csv"]
    assert {"name": "X-Token", "in": "header"}.items() <= operation["parameters"][-1].items()
    assert "/push/raw" in schema["paths"] and "/api/v1/imports" in schema["paths"]
    # Its description names its own part and header, not the generic path's.
    assert "part `csv`" in operation["description"] and "`X-Token`" in operation["description"]
    assert "part `file`" not in operation["description"]


def test_after_a_restart_the_same_file_replays_only_with_the_same_parameters(daemon):
    csv = "member_no,name\n60,x\n"
    first = push(daemon, "demo-north", csv, "20241101.csv", mode="insert")
    assert first.status_code == 200
    daemon.terminate()
    daemon.start()
    again = push(daemon, "demo-north", csv, "20241101.csv", mode="insert")
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    other = push(daemon, "demo-north", csv, "20241101.csv", mode="upsert")
    assert other.json()["id"] != first.json()["id"] and other.json()["mode"] == "upsert"
