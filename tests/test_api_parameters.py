"""The door refuses what it does not understand, in every request shape: a parameter or a
value the account does not map is a 422 naming it, whether it came as a form field, a query
parameter or a key of the JSON field, and nothing is imported."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import httpx
import pytest

from tests.support import Daemon, csv_bytes, curl, needs_curl, write_config

ACCOUNTS = """
[accounts.formy]
layout = "performance"
[accounts.formy.api]
token = "demo-formy"
path = "/push/form"
token_header = "X-Token"
body = "form-data"
[accounts.formy.api.params.mode]
"insert" = { mode = "insert" }
"replace" = { mode = "replace_file" }

[accounts.jsony]
layout = "performance"
[accounts.jsony.api]
token = "demo-jsony"
path = "/push/json"
token_header = "X-Api-Token"
file_field = "upload"
body = "json"
json_field = "json"
[accounts.jsony.api.params.import_type]
"0" = { mode = "replace_file" }
"1" = { mode = "insert" }
"""
CSV = csv_bytes(["1,2024/07/01,10,ok", "2,2024/07/01,20,ok"])


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    d = Daemon(write_config(tmp_path_factory.mktemp("parameters"), ACCOUNTS)).start()
    yield d
    d.terminate()


def form_push(daemon, name: str, fields: dict, query: dict) -> tuple[int, dict]:
    """The form-data shape by httpx: mapped parameters as form fields."""
    reply = httpx.post(
        f"{daemon.api}/push/form",
        headers={"X-Token": "demo-formy"},
        files={"file": (name, CSV, "text/csv")},
        data=fields,
        params={"wait": "true", **query},
        timeout=60,
    )
    return reply.status_code, reply.json()


def json_push(daemon, tmp_path, name: str, fields: dict, query: dict) -> tuple[int, dict]:
    """The JSON shape by curl -F, as partner systems send it: parameters in the field `json`."""
    path = tmp_path / name
    path.write_bytes(CSV)
    parts = [f"upload=@{path};type=text/csv", *(f"{k}={v}" for k, v in fields.items())]
    url = f"{daemon.api}/push/json?" + urlencode({"wait": "true", **query})
    return curl(url, "-H", "X-Api-Token: demo-jsony", *(a for p in parts for a in ("-F", p)))


def runs_named(daemon, name: str) -> int:
    return daemon.query("SELECT count(*) FROM runs WHERE filename = ?", (name,))[0][0]


def assert_refused(daemon, name: str, status: int, body: dict, named: str) -> None:
    assert status == 422, body
    assert set(body) == {"error", "message"}, body  # a refusal, not a run that failed
    assert named in body["message"], body
    assert runs_named(daemon, name) == 0


MAPPED_FORM = {"mode": "insert"}
MAPPED_JSON = {"json": json.dumps({"import_type": "1"})}


@pytest.mark.parametrize(
    ("name", "fields", "query"),
    [
        pytest.param("20240701.csv", {**MAPPED_FORM, "foo": "bar"}, {}, id="form-field"),
        pytest.param("20240702.csv", MAPPED_FORM, {"foo": "bar"}, id="query"),
        pytest.param(
            "20240703.csv", {**MAPPED_FORM, "settings": '{"foo": "bar"}'}, {}, id="json-key"
        ),
    ],
)
def test_form_data_shape_refuses_an_unmapped_parameter(daemon, name, fields, query):
    status, body = form_push(daemon, name, fields, query)
    assert_refused(daemon, name, status, body, "foo")


@needs_curl
@pytest.mark.parametrize(
    ("name", "fields", "query"),
    [
        pytest.param("20240711.csv", {**MAPPED_JSON, "foo": "bar"}, {}, id="form-field"),
        pytest.param("20240712.csv", MAPPED_JSON, {"foo": "bar"}, id="query"),
        pytest.param(
            "20240713.csv", {"json": '{"import_type": "1", "foo": "bar"}'}, {}, id="json-key"
        ),
    ],
)
def test_json_shape_refuses_an_unmapped_parameter(daemon, tmp_path, name, fields, query):
    status, body = json_push(daemon, tmp_path, name, fields, query)
    assert_refused(daemon, name, status, body, "foo")


def test_form_data_shape_refuses_an_unmapped_value(daemon):
    status, body = form_push(daemon, "20240704.csv", {"mode": "merge"}, {})
    assert_refused(daemon, "20240704.csv", status, body, "merge")
    settings = {"settings": json.dumps({"mode": "merge"})}
    status, body = form_push(daemon, "20240705.csv", settings, {})
    assert_refused(daemon, "20240705.csv", status, body, "merge")


@needs_curl
def test_json_shape_refuses_an_unmapped_value(daemon, tmp_path):
    fields = {"json": json.dumps({"import_type": "42"})}
    status, body = json_push(daemon, tmp_path, "20240714.csv", fields, {})
    assert_refused(daemon, "20240714.csv", status, body, "42")


def imported(daemon, name: str) -> list[tuple]:
    sql = "SELECT _account, member_no FROM performance WHERE _source_file = ? ORDER BY 2"
    return daemon.query(sql, (name,))


def test_form_data_shape_still_takes_a_mapped_parameter(daemon):
    status, run = form_push(daemon, "20240706.csv", MAPPED_FORM, {"dry_run": "false"})
    assert status == 200, run
    assert (run["state"], run["mode"]) == ("completed", "insert")
    assert imported(daemon, "20240706.csv") == [("formy", 1), ("formy", 2)]


@needs_curl
def test_json_shape_still_takes_a_mapped_parameter(daemon, tmp_path):
    status, run = json_push(daemon, tmp_path, "20240715.csv", MAPPED_JSON, {"dry_run": "false"})
    assert status == 200, run
    assert (run["state"], run["mode"]) == ("completed", "insert")
    assert imported(daemon, "20240715.csv") == [("jsony", 1), ("jsony", 2)]
