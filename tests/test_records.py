"""The Records API against the real daemon: search, paging, sort, validation messages,
account isolation and the operation log of a create, an update and a delete."""

from __future__ import annotations

import gzip

import httpx
import pytest

from tests.support import Daemon, account, queued_ids, send_as, write_config
from tests.test_openapi import fuzz

ADMIN = {"Authorization": "Bearer demo-admin"}
ACME = {"Authorization": "Bearer demo-acme-token"}
BETA = {"Authorization": "Bearer demo-beta-token"}
DEALS = """
[layouts.deals]
key = ["deal_no"]
columns = [
  { name = "deal_no",   type = "text",   required = true, max_length = 10, label = "商談番号" },
  { name = "name",      type = "text",   max_length = 20, label = "商談名" },
  { name = "amount",    type = "int",    max_digits = 13, label = "金額" },
  { name = "closed_on", type = "date",   label = "完了予定日" },
  { name = "stage",     type = "choice", values = ["見込み", "提案", "受注"], label = "フェーズ" },
]

[layouts.visits]
key = ["member_no", "day"]
columns = [
  { name = "member_no", type = "int",  required = true },
  { name = "day",       type = "date", required = true },
  { name = "memo",      type = "text" },
  { name = "done",      type = "bool" },
]

[layouts.deal_notes]
key = ["note_no"]
columns = [
  { name = "note_no", type = "int",  required = true },
  { name = "deal_no", type = "text", reference = "deals", label = "商談番号" },
  { name = "memo",    type = "text" },
]
"""
ACCOUNTS = (
    account("acme", layout="deals")
    + '[accounts.acme.api]\ntoken = "demo-acme-token"\n'
    + account("beta", layout="deals")
    + '[accounts.beta.api]\ntoken = "demo-beta-token"\n'
)
STAGES = ["見込み", "提案", "受注"]
URL = "/api/v1/records/deals"


def deals_csv(rows: list[str]) -> bytes:
    return ("\r\n".join(["deal_no,name,amount,closed_on,stage", *rows]) + "\r\n").encode("cp932")


@pytest.fixture(scope="module")
def daemon(tmp_path_factory, module_relay):
    folder = tmp_path_factory.mktemp("records")
    config = write_config(folder, ACCOUNTS, extra=DEALS, relay_port=module_relay.port)
    d = Daemon(config).start()
    # acme: 25 deals by mail; beta: 3 by the HTTP intake.
    rows = [f"A-{i:03},商談{i},{i * 1000},2024/05/{i:02},{STAGES[i % 3]}" for i in range(1, 26)]
    _, _, reply = send_as(d.smtp_port, "acme", [("20240501.csv", deals_csv(rows))])
    assert d.wait_run(queued_ids(reply)[0])["state"] == "completed"
    rows = [f"B-{i:03},ベータ{i},{i},2024/06/{i:02},受注" for i in range(1, 4)]
    r = httpx.post(
        f"{d.api}/api/v1/imports?wait=true",
        headers=BETA,
        files={"file": ("20240601.csv", deals_csv(rows))},
        timeout=30,
    )
    assert r.status_code == 200 and r.json()["state"] == "completed", r.text
    yield d
    d.terminate()


@pytest.fixture(scope="module")
def api(daemon):
    with httpx.Client(base_url=daemon.api, timeout=30) as client:
        yield client


def keys(answer: httpx.Response) -> list[str]:
    assert answer.status_code == 200, answer.text
    return [r["deal_no"] for r in answer.json()["records"]]


# -- search ----------------------------------------------------------------------------


def test_rows_imported_by_mail_and_by_the_api_are_searched(api):
    acme = api.get(URL, headers=ACME).json()
    assert acme["page"] == {"number": 1, "display_number": 20, "total_count": 25}
    first = acme["records"][0]
    assert first["deal_no"] == "A-001" and first["amount"] == 1000
    assert first["closed_on"] == "2024-05-01" and first["_account"] == "acme"
    assert first["_source_file"] == "20240501.csv" and first["_run_id"] and first["_key"] == "A-001"
    beta = api.get(URL, headers=ADMIN, params={"search[_account]": "beta"}).json()
    assert [r["deal_no"] for r in beta["records"]] == ["B-001", "B-002", "B-003"]
    assert beta["records"][0]["_source_file"] == "20240601.csv"
    assert api.get(URL, headers=ADMIN).json()["page"]["total_count"] == 28
    assert (
        api.get(URL, headers=ADMIN, params={"account": "beta"}).json()["page"]["total_count"] == 3
    )


def test_search_exact_partial_and_ranges(api):
    def search(**params: str) -> list[str]:
        return keys(api.get(URL, headers=ACME, params=params))

    assert search(**{"search[deal_no]": "A-001"}) == ["A-001"]
    assert search(**{"search[deal_no]": "A-01"}) == []  # a key is matched exactly
    assert search(**{"search[name]": "商談1"}) == ["A-001", *(f"A-{i:03}" for i in range(10, 20))]
    assert search(**{"search[stage]": "受注"}) == [f"A-{i:03}" for i in range(2, 26, 3)]
    assert search(**{"search[stage]": "受"}) == []  # a choice too
    dates = {"search[closed_on][from]": "2024/05/10", "search[closed_on][to]": "2024-05-12"}
    assert search(**dates) == ["A-010", "A-011", "A-012"]
    amounts = {"search[amount][from]": "5000", "search[amount][to]": "7,000"}
    assert search(**amounts) == ["A-005", "A-006", "A-007"]
    assert search(**{"search[amount]": "25000"}) == ["A-025"]
    both = {**dates, "search[name]": "11"}
    assert search(**both) == ["A-011"]
    assert search(**{"search[name]": ""}) == search()  # an empty field searches nothing


def test_search_refuses_what_it_cannot_search(api):
    r = api.get(URL, headers=ACME, params={"search[nope]": "1"})
    assert r.status_code == 422 and r.json()["error"] == "unknown_column"
    assert "search[nope]" in r.json()["message"]
    r = api.get(URL, headers=ACME, params={"search[closed_on][from]": "5月頃"})
    assert r.status_code == 422 and r.json()["error"] == "invalid_search"
    assert "完了予定日は日付" in r.json()["message"]
    r = api.get(URL, headers=ACME, params={"search[name][from]": "a"})
    assert r.status_code == 422 and r.json()["error"] == "invalid_search"
    r = api.get(URL, headers=ACME, params={"search[amount][near]": "1"})
    assert r.status_code == 422 and r.json()["error"] == "invalid_search"
    r = api.get("/api/v1/records/nope", headers=ACME)
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    assert r.json()["message"] == "レイアウト nope はありません"


@pytest.mark.parametrize("display", ["0", "101"])
def test_display_number_out_of_bounds_is_422(api, display):
    r = api.get(URL, headers=ACME, params={"page[display_number]": display})
    assert r.status_code == 422 and r.json()["error"] == "invalid_request"
    assert "page[display_number]" in r.json()["message"]
    limit = "1 以上" if display == "0" else "100 以下"
    assert limit in r.json()["message"]
    r = api.post(f"{URL}/search", headers=ACME, data={"page[display_number]": display})
    assert r.status_code == 422 and "page[display_number]" in r.json()["message"]


def test_paging(api):
    r = api.get(URL, headers=ACME, params={"page[number]": "2"})
    assert keys(r) == [f"A-{i:03}" for i in range(21, 26)]
    assert r.json()["page"] == {"number": 2, "display_number": 20, "total_count": 25}
    r = api.get(URL, headers=ACME, params={"page[number]": "3", "page[display_number]": "10"})
    assert keys(r) == [f"A-{i:03}" for i in range(21, 26)]
    r = api.get(URL, headers=ACME, params={"page[number]": "4", "page[display_number]": "10"})
    assert keys(r) == [] and r.json()["page"]["total_count"] == 25
    r = api.get(URL, headers=ACME, params={"page[display_number]": "100"})
    assert len(keys(r)) == 25
    r = api.get(URL, headers=ACME, params={"page[number]": "0"})
    assert r.status_code == 422 and "page[number]" in r.json()["message"]


def test_sort(api):
    assert keys(api.get(URL, headers=ACME, params={"sort[amount]": "desc"}))[:3] == [
        "A-025",
        "A-024",
        "A-023",
    ]
    assert keys(api.get(URL, headers=ACME, params={"sort[amount]": "asc"}))[:2] == [
        "A-001",
        "A-002",
    ]
    # Several keys, in the order given: stage first, then amount descending.
    params = [("sort[stage]", "desc"), ("sort[amount]", "desc"), ("page[display_number]", "3")]
    assert keys(api.get(URL, headers=ACME, params=params)) == ["A-024", "A-021", "A-018"]
    r = api.get(URL, headers=ACME, params={"sort[nope]": "asc"})
    assert r.status_code == 422 and r.json()["error"] == "unknown_column"
    r = api.get(URL, headers=ACME, params={"sort[amount]": "up"})
    assert r.status_code == 422 and r.json()["error"] == "invalid_sort"
    assert "asc" in r.json()["message"]


def test_form_search_answers_as_the_get(api):
    fields = {
        "search[closed_on][from]": "2024/05/03",
        "search[closed_on][to]": "2024/05/20",
        "search[stage]": "提案",
        "sort[amount]": "desc",
        "page[display_number]": "2",
        "page[number]": "2",
    }
    by_get = api.get(URL, headers=ACME, params=fields)
    by_form = api.post(f"{URL}/search", headers=ACME, data=fields)
    assert by_form.status_code == 200 and by_form.json() == by_get.json()
    assert keys(by_get) == ["A-013", "A-010"]


# -- validation ------------------------------------------------------------------------

CASES = [
    ({"amount": "12345678901234"}, "amount", "金額は13桁以下で入力してください"),
    ({"amount": "十万"}, "amount", "金額は整数で入力してください"),
    ({"name": "あ" * 21}, "name", "商談名は20文字以下で入力してください"),
    ({"closed_on": "来週"}, "closed_on", "完了予定日は日付"),
    ({"closed_on": "2024/02/30"}, "closed_on", "完了予定日は存在しない日付です"),
    ({"stage": "失注"}, "stage", "フェーズは 見込み, 提案, 受注 のいずれかを選んでください"),
    ({"deal_no": ""}, "deal_no", "商談番号は必須です"),
    ({"deal_no": "X-12345678901"}, "deal_no", "商談番号は10文字以下で入力してください"),
    ({"color": "red"}, "color", "colorという項目はありません"),
    ({"name": ["a"]}, "name", "商談名は文字列か数値で指定してください"),
    # Kept by SQLite, refused by PostgreSQL, and a file holding one is refused whole.
    ({"name": "a\u0000b"}, "name", "商談名に NUL 文字(U+0000)は使えません"),
]


@pytest.mark.parametrize(("fields", "field", "text"), CASES)
def test_each_validation_message_names_the_label(api, fields, field, text):
    r = api.post(URL, headers=ACME, json={"deal_no": "V-1", **fields})
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == "invalid_record" and text in body["message"]
    assert [e["field"] for e in body["errors"]] == [field]
    assert body["errors"][0]["message"].startswith(text)


def test_a_number_past_what_json_reads_is_said_too_large(api):
    """`1e400` is a JSON number Python reads as infinity: it was "not a number"."""
    body = b'{"deal_no": "V-1", "amount": 1e400}'
    headers = ACME | {"Content-Type": "application/json"}
    r = api.post(URL, headers=headers, content=body)
    assert r.status_code == 422, r.text
    [error] = r.json()["errors"]
    assert error["field"] == "amount" and error["message"].startswith("金額の数値が大きすぎます")


def test_a_missing_required_column_and_several_problems_at_once(api):
    r = api.post(URL, headers=ACME, json={"amount": "x", "closed_on": "x"})
    assert r.status_code == 422
    fields = {e["field"]: e["message"] for e in r.json()["errors"]}
    assert fields["deal_no"] == "商談番号は必須です"
    assert fields["amount"] == "金額は整数で入力してください" and "closed_on" in fields


def test_validation_in_english(api):
    r = api.post(
        URL, headers=ACME | {"Accept-Language": "en"}, json={"deal_no": "V-1", "amount": 10**14}
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["message"] == "金額 must have at most 13 digits"
    assert r.json()["message"] == "the record is not valid: 金額 must have at most 13 digits"


@pytest.mark.parametrize(
    ("body", "ja", "en"),
    [
        (b"{not json", "body: JSON として読めません", "body: is not valid JSON"),
        (b"[1, 2]", "body: JSON オブジェクト({…})にしてください", "body: must be a JSON object"),
    ],
)
def test_a_body_that_is_no_record_is_said_in_our_words_not_the_parsers(api, body, ja, en):
    for language, words in (("ja", ja), ("en", en)):
        headers = ACME | {"Content-Type": "application/json", "Accept-Language": language}
        for method, url in (("POST", URL), ("PATCH", f"{URL}/A-001")):
            r = api.request(method, url, headers=headers, content=body)
            assert r.status_code == 422 and r.json()["error"] == "invalid_request", r.text
            assert words in r.json()["message"], r.text
            for english in ("JSON decode error", "Input should be", "Invalid JSON"):
                assert english not in r.json()["message"], r.text


def test_a_search_sent_as_json_is_refused_not_read_as_no_condition(api):
    """POST …/search reads a form; a JSON body read as one searched for nothing and
    answered every row."""
    r = api.post(f"{URL}/search", headers=ADMIN, json={"search": {"stage": "受注"}})
    assert r.status_code == 422 and r.json()["error"] == "invalid_search", r.text
    assert "フォーム(application/x-www-form-urlencoded)で送ってください" in r.json()["message"]
    r = api.post(f"{URL}/search", headers=ADMIN, data={"search[stage]": "受注"})
    assert r.status_code == 200 and {x["stage"] for x in r.json()["records"]} == {"受注"}
    assert api.post(f"{URL}/search", headers=ADMIN).status_code == 200  # no body: no condition
    # A multipart body cut short before its close delimiter: refused, not read as the
    # fields it got (here none: every row).
    cut = ADMIN | {"Content-Type": "multipart/form-data; boundary=x"}
    body = b'--x\r\nContent-Disposition: form-data; name="search[stage]"\r\n\r\n\xe5\x8f'
    r = api.post(f"{URL}/search", headers=cut, content=body)
    assert r.status_code == 422 and r.json()["error"] == "unreadable_request", r.text
    assert "途中で切れています" in r.json()["message"]
    whole = body + b"\x97\xe6\xb3\xa8\r\n--x--\r\n"  # the rest of 受注, and the end
    r = api.post(f"{URL}/search", headers=cut, content=whole)
    assert r.status_code == 200 and {x["stage"] for x in r.json()["records"]} == {"受注"}, r.text
    # A multipart body without its boundary: the form parser's refusal, in our words.
    broken = ADMIN | {"Content-Type": "multipart/form-data"}
    r = api.post(f"{URL}/search", headers=broken, content=b"search[stage]=x")
    assert r.status_code == 400 and r.json()["error"] == "unreadable_request", r.text
    assert r.json()["message"].startswith("本文を読めません"), r.text
    assert "Missing boundary" not in r.json()["message"]


# -- changes and isolation -------------------------------------------------------------


def test_create_converts_values_and_refuses_a_duplicate_key(api):
    body = {"deal_no": "C-1", "name": "新規", "amount": "1,200", "closed_on": "2024/05/16"}
    r = api.post(URL, headers=ACME, json=body)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["amount"] == 1200 and created["closed_on"] == "2024-05-16"
    assert created["stage"] is None and created["_account"] == "acme"
    assert created["_source_file"] == "api:records" and created["_run_id"] is None
    assert api.get(f"{URL}/C-1", headers=ACME).json() == created
    r = api.post(URL, headers=ACME, json={"deal_no": "C-1"})
    assert r.status_code == 409 and r.json()["error"] == "duplicate_key"
    # Another account may hold the same key.
    assert api.post(URL, headers=BETA, json={"deal_no": "C-1"}).status_code == 201
    r = api.get(f"{URL}/C-1", headers=ADMIN)
    assert r.status_code == 409 and r.json()["error"] == "ambiguous_key"
    assert api.get(f"{URL}/C-1", headers=ADMIN, params={"account": "beta"}).json()["_account"] == (
        "beta"
    )


def test_the_admin_names_the_account_of_a_new_record(api):
    r = api.post(URL, headers=ADMIN, json={"deal_no": "M-1"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "_account"
    r = api.post(URL, headers=ADMIN, json={"deal_no": "M-1", "_account": "nobody"})
    assert r.status_code == 422 and "nobody" in r.json()["errors"][0]["message"]
    r = api.post(URL, headers=ADMIN, json={"deal_no": "M-1", "_account": "beta"})
    assert r.status_code == 201 and r.json()["_account"] == "beta"
    r = api.post(URL, headers=ACME, json={"deal_no": "M-2", "_account": "beta"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "_account"


@pytest.mark.parametrize(
    ("body", "amount"), [(b'{"amount": 1e3}', 1000), (b'{"amount": 3000.0}', 3000)]
)
def test_a_json_number_is_read_as_written_not_as_python_prints_it(api, body, amount):
    # 1e3 was made the text "1000.0" (and 0.00001 "1e-05"), which no column reads.
    headers = ACME | {"Content-Type": "application/json"}
    r = api.patch(f"{URL}/A-003", headers=headers, content=body)
    assert r.status_code == 200 and r.json()["amount"] == amount, r.text
    r = api.patch(f"{URL}/A-003", headers=headers, content=b'{"amount": 2.5}')
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "amount"


def test_patch_changes_only_the_given_columns(api):
    r = api.patch(f"{URL}/A-002", headers=ACME, json={"amount": 2500, "stage": "受注"})
    assert r.status_code == 200, r.text
    assert r.json() | {"_source_file": None} == {
        "deal_no": "A-002",
        "name": "商談2",
        "amount": 2500,
        "closed_on": "2024-05-02",
        "stage": "受注",
        "_key": "A-002",
        "_account": "acme",
        "_source_file": None,
        "_run_id": None,
    }
    assert r.json()["_source_file"] == "api:records"  # no import's any more
    r = api.patch(f"{URL}/A-002", headers=ACME, json={"deal_no": "A-999"})
    assert r.status_code == 422 and "商談番号はキーのため変更できません" in r.json()["message"]
    r = api.patch(f"{URL}/A-002", headers=ACME, json={"amount": "1" * 14})
    assert r.status_code == 422 and r.json()["errors"][0]["message"] == (
        "金額は13桁以下で入力してください"
    )
    assert api.get(f"{URL}/A-002", headers=ACME).json()["amount"] == 2500


def test_an_account_never_reaches_another_accounts_rows(api):
    assert set(keys(api.get(URL, headers=BETA))) >= {"B-001", "B-002", "B-003"}
    assert not [k for k in keys(api.get(URL, headers=BETA)) if k.startswith("A-")]
    assert keys(api.get(URL, headers=BETA, params={"search[_account]": "acme"})) == []
    assert keys(api.get(URL, headers=BETA, params={"account": "acme"})) == []
    for method in ("GET", "PATCH", "DELETE"):
        kwargs = {"json": {"name": "x"}} if method == "PATCH" else {}
        r = api.request(method, f"{URL}/A-003", headers=BETA, **kwargs)
        assert r.status_code == 404 and r.json()["error"] == "not_found", method
        r = api.request(method, f"{URL}/B-001", headers=ACME, **kwargs)
        assert r.status_code == 404 and r.json()["error"] == "not_found", method
    r = api.get(f"{URL}/A-003", headers=BETA, params={"account": "acme"})
    assert r.status_code == 404
    assert api.get(f"{URL}/A-003", headers=ACME).json()["name"] == "商談3"
    assert api.get(f"{URL}/B-001", headers=BETA).json()["name"] == "ベータ1"


def test_the_history_of_a_create_an_update_and_a_delete(api):
    assert api.post(URL, headers=ACME, json={"deal_no": "H-1", "amount": 1}).status_code == 201
    r = api.patch(f"{URL}/H-1", headers=ACME, json={"amount": 2, "name": "履歴"})
    assert r.status_code == 200
    r = api.delete(f"{URL}/H-1", headers=ACME)
    assert r.status_code == 200 and r.json()["amount"] == 2
    assert api.get(f"{URL}/H-1", headers=ACME).status_code == 404
    r = api.get(f"{URL}/history", headers=ACME, params={"key": "H-1"})
    assert r.status_code == 200, r.text
    history = r.json()["history"]
    assert r.json()["page"] == {"number": 1, "display_number": 20, "total_count": 3}
    assert [h["action"] for h in history] == ["delete", "update", "create"]
    assert history[0]["seq"] > history[1]["seq"] > history[2]["seq"]
    assert {h["who"] for h in history} == {"acme"} and {h["key"] for h in history} == {"H-1"}
    created = {"deal_no": "H-1", "name": "", "amount": 1, "closed_on": None, "stage": None}
    updated = created | {"amount": 2, "name": "履歴"}
    assert (history[2]["before"], history[2]["after"]) == (None, created)
    assert (history[1]["before"], history[1]["after"]) == (created, updated)
    assert (history[0]["before"], history[0]["after"]) == (updated, None)
    assert history[0]["at"] >= history[2]["at"]
    # Another account sees none of it; the admin sees it all, its own changes as admin.
    assert api.get(f"{URL}/history", headers=BETA, params={"key": "H-1"}).json()["history"] == []
    admin = api.get(f"{URL}/history", headers=ADMIN, params={"key": "H-1"}).json()
    assert [h["seq"] for h in admin["history"]] == [h["seq"] for h in history]
    r = api.delete(f"{URL}/M-1", headers=ADMIN)
    assert r.status_code == 200
    latest = api.get(f"{URL}/history", headers=ADMIN, params={"page[display_number]": "1"})
    assert latest.json()["history"][0]["who"] == "admin"
    assert latest.json()["history"][0]["account"] == "beta"
    r = api.get(f"{URL}/history", headers=ACME, params={"page[display_number]": "101"})
    assert r.status_code == 422


def test_a_composite_key_is_its_values_joined_by_commas(api):
    url = "/api/v1/records/visits"
    body = {"member_no": 7, "day": "2024/05/16", "memo": "初回"}
    r = api.post(url, headers=ACME, json=body)
    assert r.status_code == 201 and r.json()["_key"] == "7,2024-05-16"
    assert api.get(f"{url}/7,2024-05-16", headers=ACME).json()["memo"] == "初回"
    assert api.get(f"{url}/7,20240516", headers=ACME).json()["memo"] == "初回"
    assert api.get(f"{url}/7", headers=ACME).status_code == 404
    r = api.patch(f"{url}/7,2024-05-16", headers=ACME, json={"memo": "二回目"})
    assert r.status_code == 200 and r.json()["memo"] == "二回目"


def test_a_bool_column_is_answered_as_true_or_false(api):
    """Not as the 1 and 0 the table keeps, which a client reads as numbers."""
    url = "/api/v1/records/visits"
    r = api.post(url, headers=ACME, json={"member_no": 8, "day": "2024/05/16", "done": "はい"})
    assert r.status_code == 201 and r.json()["done"] is True, r.text
    r = api.patch(f"{url}/8,2024-05-16", headers=ACME, json={"done": "いいえ"})
    assert r.status_code == 200 and r.json()["done"] is False
    assert api.get(f"{url}/8,2024-05-16", headers=ACME).json()["done"] is False
    found = api.get(url, headers=ACME, params={"search[member_no]": "8"}).json()["records"]
    assert [record["done"] for record in found] == [False]
    history = api.get(f"{url}/history", headers=ACME, params={"key": "8,2024-05-16"}).json()
    [update, create] = history["history"]
    assert (update["before"]["done"], update["after"]["done"]) == (True, False)
    assert (create["before"], create["after"]["done"]) == (None, True)
    r = api.post(url, headers=ACME, json={"member_no": 9, "day": "2024/05/16"})
    assert r.status_code == 201 and r.json()["done"] is None


def test_a_reference_column_must_name_a_row_of_its_layout(api):
    url = "/api/v1/records/deal_notes"
    r = api.post(url, headers=ACME, json={"note_no": 1, "deal_no": "A-999", "memo": "x"})
    assert r.status_code == 422, r.text
    [error] = r.json()["errors"]
    assert error["field"] == "deal_no"
    assert error["message"] == "商談番号の「A-999」はdealsの商談番号にありません"
    assert api.get(f"{url}/1", headers=ACME).status_code == 404  # nothing was written
    r = api.post(url, headers=ACME, json={"note_no": 1, "deal_no": "A-002", "memo": "x"})
    assert r.status_code == 201, r.text
    r = api.post(url, headers=ACME, json={"note_no": 2, "memo": "no deal yet"})
    assert r.status_code == 201, r.text  # an empty reference names nothing to check
    r = api.patch(f"{url}/1", headers={**ACME, "Accept-Language": "en"}, json={"deal_no": "Z-1"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["message"] == "商談番号 Z-1 is not a 商談番号 in deals"
    assert api.get(f"{url}/1", headers=ACME).json()["deal_no"] == "A-002"


def test_a_layout_without_a_key_is_searched_but_not_addressed(api):
    r = api.get("/api/v1/records/performance/1", headers=ADMIN)
    assert r.status_code == 409 and r.json()["error"] == "no_key"
    assert api.get("/api/v1/records/performance", headers=ADMIN).status_code == 200
    r = api.delete("/api/v1/records/performance/1", headers=ADMIN)
    assert r.status_code == 409
    # Nor created: a record no path names could never be edited, and a retry made two.
    record = {"member_no": 556, "date": "2024-05-16", "_account": "acme"}
    r = api.post("/api/v1/records/performance", headers=ADMIN, json=record)
    assert (r.status_code, r.json()["error"]) == (409, "no_key"), r.text
    assert "API でレコードを作れません" in r.json()["message"]


def test_a_token_is_needed(api):
    assert api.get(URL).status_code == 401
    assert api.post(URL, json={"deal_no": "T"}).status_code == 401


@pytest.mark.slow
@pytest.mark.parametrize("token", ["demo-admin", "demo-acme-token"])
def test_schemathesis_over_the_records_routes_of_a_real_layout(tmp_path, token):
    """The routes fuzzed with `layout` pinned to a layout that has a key, so the
    generated searches, keys and bodies reach the layout's columns."""
    config = write_config(tmp_path, ACCOUNTS, extra=DEALS)
    (tmp_path / "schemathesis.toml").write_text('[parameters]\n"path.layout" = "deals"\n')
    fuzz(
        config,
        f"Authorization: Bearer {token}",
        "--include-path-regex",
        "^/api/v1/records/",
    )


def test_a_search_the_form_cannot_say_is_refused_not_everything(api):
    """A body with no Content-Type, or compressed, read as an empty form; a field of
    a search misspelled (`search[stage]]`) was passed over: each searched for every
    row, which the README says a body of another type never does."""
    body = b"search[deal_no]=NOPE"
    r = api.post(f"{URL}/search", headers={**ACME, "Content-Type": ""}, content=body)
    assert r.status_code == 422 and r.json()["error"] == "invalid_search", r.text
    assert "Content-Type のない本文" in r.json()["message"]
    packed = {**ACME, "Content-Type": "application/x-www-form-urlencoded"}
    r = api.post(
        f"{URL}/search",
        headers={**packed, "Content-Encoding": "gzip"},
        content=gzip.compress(body),
    )
    assert r.status_code == 422 and r.json()["error"] == "unreadable_request", r.text
    for field in ("search[deal_no]]", "search[deal_no", "sort[amount"):
        r = api.get(URL, headers=ACME, params={field: "NOPE"})
        assert r.status_code == 422 and r.json()["error"] == "invalid_search", (field, r.text)
        assert field in r.json()["message"]
    r = api.post(f"{URL}/search", headers=packed, content=body)
    assert r.status_code == 200 and r.json()["page"]["total_count"] == 0


def test_a_field_given_twice_in_a_record_body_is_refused(api):
    """The JSON body read into a dict kept the last of the two values unsaid."""
    raw = '{"deal_no": "T-2", "amount": 1, "amount": 2}'
    headers = {**ACME, "Content-Type": "application/json"}
    r = api.post(URL, headers=headers, content=raw)
    assert r.status_code == 422 and r.json()["error"] == "invalid_record", r.text
    assert [e["field"] for e in r.json()["errors"]] == ["amount"]
    assert api.get(f"{URL}/T-2", headers=ACME).status_code == 404
    assert api.post(URL, headers=ACME, json={"deal_no": "T-2", "amount": 1}).status_code == 201
    r = api.patch(f"{URL}/T-2", headers=headers, content='{"name": "a", "name": "b"}')
    assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["name"]
    assert api.get(f"{URL}/T-2", headers=ACME).json()["name"] == ""
