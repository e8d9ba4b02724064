"""The Records API's search and sort are bounded: a field given twice is a 422 that
says which, and no query string makes more conditions than the store can take (a
500 from SQLite's expression depth or ORDER BY terms before). Run on SQLite and on
PostgreSQL, whose limits differ."""

from __future__ import annotations

import httpx
import pytest

from tests.postgres import database_url
from tests.support import Daemon, account, csv_bytes, write_config

ACME = {"Authorization": "Bearer demo-acme-token"}
ADMIN = {"Authorization": "Bearer demo-admin"}
URL = "/api/v1/records/performance"
WIDE_COLUMNS = 400  # three conditions each (exact, from, to): 1200 distinct fields
WIDE = (
    "[layouts.wide]\ncolumns = [\n"
    + "".join(f'  {{ name = "c{i:03}", type = "int" }},\n' for i in range(WIDE_COLUMNS))
    + "]\n"
)
ACCOUNTS = (
    account("acme")
    + '[accounts.acme.api]\ntoken = "demo-acme-token"\n'
    + account("wide", layout="wide")
    + account("keyd", layout="keyed")
)
KEYED = '[layouts.keyed]\nkey = ["code"]\ncolumns = [{ name = "code", type = "text" }]\n'
KEYED_URL = "/api/v1/records/keyed"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def daemon(request, tmp_path_factory, module_relay):
    folder = tmp_path_factory.mktemp(f"records_bounds_{request.param}")
    urls = None
    extra = WIDE + KEYED
    if request.param == "postgresql":
        urls = database_url(request.getfixturevalue("postgresql_proc"))
        extra = f'[store]\nurl = "{next(urls)}"\n' + WIDE + KEYED
    d = Daemon(write_config(folder, ACCOUNTS, extra=extra, relay_port=module_relay.port))
    d.start()
    rows = ["1,2024/05/01,100,a0", "2,2024/05/02,200,a1"]
    r = httpx.post(
        f"{d.api}/api/v1/imports?wait=true",
        headers=ACME,
        files={"file": ("20240501.csv", csv_bytes(rows))},
        timeout=30,
    )
    assert r.status_code == 200 and r.json()["state"] == "completed", r.text
    for code in ("h1", "h2"):  # two entries of the operation log
        body = {"code": code, "_account": "keyd"}
        r = httpx.post(f"{d.api}{KEYED_URL}", headers=ADMIN, json=body, timeout=30)
        assert r.status_code == 201, r.text
    yield d
    d.terminate()
    if urls is not None:
        urls.close()


@pytest.fixture
def api(daemon):
    with httpx.Client(base_url=daemon.api, timeout=60) as client:
        yield client
        # Whatever was asked, the daemon keeps serving.
        still = client.get(URL, headers=ACME, params={"search[note]": "a1"})
        assert still.status_code == 200, still.text
        assert [r["member_no"] for r in still.json()["records"]] == [2]


def refused(r: httpx.Response, code: str) -> str:
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert r.json()["error"] == code
    return r.json()["message"]


def test_a_search_field_given_twice_is_a_422_naming_it(api):
    r = api.get(URL, headers=ACME, params=[("search[note]", "a0"), ("search[note]", "a1")])
    said = refused(r, "invalid_search")
    assert "search[note]" in said and "2回" in said
    english = {**ACME, "Accept-Language": "en"}
    r = api.get(URL, headers=english, params=[("search[note]", "a0"), ("search[note]", "")])
    assert "search[note] was given more than once" in refused(r, "invalid_search")


def test_a_search_field_repeated_a_thousand_times_is_a_422_not_a_500(api):
    params = [("search[note]", f"a{i}") for i in range(1000)]
    refused(api.get(URL, headers=ACME, params=params), "invalid_search")
    r = api.post(f"{URL}/search", headers=ACME, data={"search[note]": ["a0", "a1"]})
    refused(r, "invalid_search")


def test_a_range_bound_given_twice_is_a_422_but_each_bound_once_is_answered(api):
    twice = [("search[date][from]", "2024/05/01"), ("search[date][from]", "2024/05/02")]
    said = refused(api.get(URL, headers=ACME, params=twice), "invalid_search")
    assert "search[date][from]" in said
    once = {
        "search[date]": "2024/05/02",
        "search[date][from]": "2024/05/01",
        "search[date][to]": "2024/05/31",
        "search[member_no][from]": "1",
        "search[note]": "a",
        "sort[member_no]": "desc",
        "sort[date]": "asc",
    }
    r = api.get(URL, headers=ACME, params=once)
    assert r.status_code == 200, r.text
    assert [row["member_no"] for row in r.json()["records"]] == [2]


def test_the_account_searched_twice_is_a_422(api):
    params = [("search[_account]", "acme"), ("search[_account]", "beta")]
    refused(api.get(URL, headers=ADMIN, params=params), "invalid_search")


@pytest.mark.parametrize("field", ["page[display_number]", "page[number]", "account"])
def test_a_paging_field_or_the_account_given_twice_is_a_422_naming_it(api, field):
    """FastAPI took the last of two values and said nothing: a page of 1 asked with a
    page of 100 gave one row, an account asked twice the second's rows."""
    values = ["acme", "wide"] if field == "account" else ["1", "2"]
    params = [(field, values[0]), (field, values[1])]
    said = refused(api.get(URL, headers=ADMIN, params=params), "invalid_search")
    assert f"{field} が2回以上指定されています" in said
    r = api.post(f"{URL}/search", headers=ADMIN, data={field: values})
    assert f"{field} が2回以上指定されています" in refused(r, "invalid_search")
    r = api.get(URL, headers=ADMIN, params=[(field, values[0])])
    assert r.status_code == 200, r.text


def test_a_sort_column_given_twice_is_a_422_naming_it(api):
    params = [("sort[member_no]", "asc"), ("sort[member_no]", "desc")]
    said = refused(api.get(URL, headers=ACME, params=params), "invalid_sort")
    assert "sort[member_no]" in said and "2回" in said
    params = [("sort[member_no]", "asc")] * 2000
    refused(api.get(URL, headers=ACME, params=params), "invalid_sort")


def test_a_thousand_distinct_conditions_cannot_be_made_on_a_narrow_layout(api):
    params = [(f"search[note{i}]", "a") for i in range(1000)]
    refused(api.get(URL, headers=ACME, params=params), "unknown_column")
    params = [(f"sort[note{i}]", "asc") for i in range(2000)]
    refused(api.get(URL, headers=ACME, params=params), "unknown_column")


def test_a_wide_layout_searched_on_every_column_is_a_422_not_a_500(api):
    params = [
        (f"search[c{i:03}]{op}", "1") for i in range(WIDE_COLUMNS) for op in ("", "[from]", "[to]")
    ]
    said = refused(api.get("/api/v1/records/wide", headers=ADMIN, params=params), "invalid_search")
    assert "100" in said
    sorts = [(f"sort[c{i:03}]", "asc") for i in range(WIDE_COLUMNS)]
    said = refused(api.get("/api/v1/records/wide", headers=ADMIN, params=sorts), "invalid_sort")
    assert "20" in said


@pytest.mark.parametrize(
    ("field", "values"),
    [
        ("page[display_number]", ["100", "1"]),
        ("page[number]", ["1", "2"]),
        ("key", ["h1", "h2"]),
        ("account", ["keyd", "acme"]),
    ],
)
def test_a_history_parameter_given_twice_is_a_422_naming_it(api, field, values):
    """FastAPI took the last of two values: a page of 100 asked beside one of 1 gave
    one entry, `key=h1&key=h2` the second's entries alone. History's bad queries are
    FastAPI's `invalid_request` (a page out of range), so is this one."""
    params = [(field, values[0]), (field, values[1])]
    r = api.get(f"{KEYED_URL}/history", headers=ADMIN, params=params)
    assert f"{field} が2回以上指定されています" in refused(r, "invalid_request")
    # The token is asked for first.
    assert api.get(f"{KEYED_URL}/history", params=params).status_code == 401
    r = api.get(f"{KEYED_URL}/history", headers=ADMIN, params=[(field, values[0])])
    assert r.status_code == 200, r.text


def test_the_account_given_twice_to_one_record_is_a_422_and_changes_nothing(api):
    """The first account holds the key: FastAPI took the second's, a 404 (or the
    other's row, had it held the key too)."""
    twice = [("account", "keyd"), ("account", "acme")]
    english = {**ADMIN, "Accept-Language": "en"}
    r = api.get(f"{KEYED_URL}/h1", headers=english, params=twice)
    assert "account was given more than once" in refused(r, "invalid_search")
    r = api.patch(f"{KEYED_URL}/h1", headers=ADMIN, params=twice, json={"code": "h1"})
    assert "account が2回以上指定されています" in refused(r, "invalid_search")
    r = api.delete(f"{KEYED_URL}/h1", headers=ADMIN, params=twice)
    assert "account が2回以上指定されています" in refused(r, "invalid_search")
    r = api.get(f"{KEYED_URL}/h1", headers=ADMIN, params={"account": "keyd"})
    assert r.status_code == 200, r.text
    assert r.json()["_account"] == "keyd"


@pytest.mark.parametrize("field", ["page[display_number]", "account"])
def test_a_form_field_also_in_the_query_is_given_twice(api, field):
    """The form's value was taken and the query's dropped without a word: a page of
    100 in the query beside one of 1 in the form gave one record."""
    query, form = ("100", "1") if field != "account" else ("wide", "acme")
    r = api.post(f"{URL}/search", headers=ADMIN, params={field: query}, data={field: form})
    assert f"{field} が2回以上指定されています" in refused(r, "invalid_search")
    r = api.post(f"{URL}/search", headers=ADMIN, data={field: form})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("field", ["search[member_no]", "sort[member_no]", "account"])
def test_a_condition_in_the_query_of_a_post_search_is_a_422(api, field):
    """Only the form is read: `POST …/search?search[member_no]=2` answered every row."""
    value = "acme" if field == "account" else ("2" if field.startswith("search") else "asc")
    r = api.post(f"{URL}/search", headers=ADMIN, params={field: value}, data={"x": "1"})
    said = refused(r, "invalid_search")
    assert f"クエリー文字列の {field} は読みません" in said
    r = api.post(f"{URL}/search", headers=ADMIN, data={field: value})
    assert r.status_code == 200, r.text
