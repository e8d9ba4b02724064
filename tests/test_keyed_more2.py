"""Keyed imports and the Records API, as a colleague probed them: an empty key is
refused on create, a decimal is searched by value, an undo counts an upsert's updated
rows as restored, a missing reference names its layout, and `renkei check` warns of a
decimal key and refuses a reference whose type cannot match its key column."""

from __future__ import annotations

import sqlite3

import httpx
import pytest

from tests.support import Daemon, account, renkei, write_config

ADMIN = {"Authorization": "Bearer demo-admin"}
LAYOUTS = """
[layouts.mi]
key = ["member_no"]
columns = [
  { name = "member_no", type = "int", label = "会員番号" },
  { name = "name",      type = "text" },
]

[layouts.vi]
key = ["member_no", "day"]
columns = [
  { name = "member_no", type = "int" },
  { name = "day",       type = "date", label = "訪問日" },
]

[layouts.pr]
key = ["code"]
columns = [
  { name = "code",  type = "text" },
  { name = "price", type = "decimal" },
]

[layouts.mt]
key = ["code"]
columns = [
  { name = "code", type = "text", label = "コード" },
]

[layouts.od]
columns = [
  { name = "item", type = "text", reference = "mt", label = "品目" },
]
"""
UPSERT = """
[accounts.up.api]
token = "demo-up"
path = "/push/up"
token_header = "X-Token"
file_field = "csv"
body = "form-data"
[accounts.up.api.params.mode]
"upsert" = { mode = "upsert", on_duplicate = "update" }
"""
ACCOUNTS = (
    account("ai", layout="mi")
    + account("vi", layout="vi")
    + account("pr", layout="pr")
    + account("od", layout="od", report="never")
    + '[accounts.od.api]\ntoken = "demo-od"\n'
    + account("up", layout="mi", report="never")
    + UPSERT
)


def _config(folder, relay_port: int, store: str = "") -> object:
    return write_config(folder, ACCOUNTS, store + LAYOUTS, relay_port=relay_port)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory, module_relay):
    d = Daemon(_config(tmp_path_factory.mktemp("keyed_more2"), module_relay.port)).start()
    yield d
    d.terminate()


@pytest.fixture(scope="module")
def api(daemon):
    with httpx.Client(base_url=daemon.api, timeout=60) as client:
        yield client


# -- 1. an empty key ------------------------------------------------------------------


def test_a_record_with_an_empty_key_is_refused_naming_the_column(api):
    r = api.post("/api/v1/records/mi", headers=ADMIN, json={"_account": "ai", "member_no": ""})
    assert r.status_code == 422, r.text
    assert r.json()["errors"] == [
        {"field": "member_no", "label": "会員番号", "message": "会員番号は必須です"}
    ]
    r = api.post("/api/v1/records/mi", headers=ADMIN, json={"_account": "ai", "name": "x"})
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == ["member_no"]
    english = {**ADMIN, "Accept-Language": "en"}
    r = api.post("/api/v1/records/vi", headers=english, json={"_account": "vi", "member_no": "7"})
    assert r.status_code == 422, r.text
    assert r.json()["errors"] == [
        {"field": "day", "label": "訪問日", "message": "訪問日 is required"}
    ]
    assert api.get("/api/v1/records/mi", headers=ADMIN).json()["page"]["total_count"] == 0
    assert api.get("/api/v1/records/vi", headers=ADMIN).json()["page"]["total_count"] == 0


def test_a_key_cannot_be_emptied_by_a_patch(api):
    r = api.post("/api/v1/records/mi", headers=ADMIN, json={"_account": "ai", "member_no": 5})
    assert r.status_code == 201, r.text
    r = api.patch("/api/v1/records/mi/5", headers=ADMIN, json={"member_no": ""})
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["message"] == "会員番号はキーのため変更できません"
    assert api.get("/api/v1/records/mi/5", headers=ADMIN).json()["member_no"] == 5
    assert api.delete("/api/v1/records/mi/5", headers=ADMIN).status_code == 200


# -- 2. decimals searched by value ----------------------------------------------------


def search_prices(api: httpx.Client, params: dict[str, str]) -> list[str]:
    r = api.get("/api/v1/records/pr", headers=ADMIN, params=params)
    assert r.status_code == 200, r.text
    return [record["code"] for record in r.json()["records"]]


def create_prices(api: httpx.Client) -> None:
    for code, price in (("A", "1.5"), ("B", "1.50"), ("C", "1.6"), ("D", "-0"), ("E", "0.00")):
        body = {"_account": "pr", "code": code, "price": price}
        r = api.post("/api/v1/records/pr", headers=ADMIN, json=body)
        assert r.status_code == 201, r.text


def assert_decimals_by_value(api: httpx.Client) -> None:
    ranged = {"search[price][from]": "1.5", "search[price][to]": "1.5"}
    assert search_prices(api, ranged) == ["A", "B"]
    assert search_prices(api, {"search[price]": "1.5"}) == ["A", "B"]
    assert search_prices(api, {"search[price]": "1.500"}) == ["A", "B"]
    assert search_prices(api, {"search[price]": "0"}) == ["D", "E"]
    assert search_prices(api, {"search[price]": "1.6"}) == ["C"]


def test_an_exact_decimal_search_finds_what_its_range_finds(api):
    create_prices(api)
    assert_decimals_by_value(api)


def test_postgres_searches_a_decimal_by_value_too(tmp_path, relay, pg_url):
    config = _config(tmp_path, relay.port, f'[store]\nurl = "{pg_url}"\n')
    d = Daemon(config).start()
    try:
        with httpx.Client(base_url=d.api, timeout=60) as client:
            create_prices(client)
            assert_decimals_by_value(client)
    finally:
        d.terminate()


def test_check_warns_of_a_decimal_key(tmp_path):
    config = _config(tmp_path, 1)
    result = renkei("check", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert "layouts.pr.key" not in result.stderr  # a text key is matched as written, rightly
    text = config.read_text(encoding="utf-8").replace(
        '{ name = "code",  type = "text" }', '{ name = "code",  type = "decimal" }'
    )
    config.write_text(text.replace("[report]\n", '[report]\nlanguage = "en"\n'), "utf-8")
    result = renkei("check", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert (
        "layouts.pr.key: code is a decimal column: a key is matched as written, so 1.5 and"
        " 1.50 are two keys; write the numbers one way in the files, or key on an int or"
        " text column"
    ) in result.stderr.splitlines()


# -- 3. undo counts -------------------------------------------------------------------


def push(daemon: Daemon, name: str, lines: list[str]) -> dict:
    reply = httpx.post(
        f"{daemon.api}/push/up",
        headers={"X-Token": "demo-up"},
        files={"csv": (name, ("\r\n".join(["member_no,name", *lines]) + "\r\n").encode())},
        data={"mode": "upsert"},
        params={"wait": "true"},
        timeout=120,
    )
    assert reply.status_code == 200, reply.text
    return reply.json()


def test_an_undone_upsert_counts_its_updates_as_restored_with_separators(daemon):
    push(daemon, "20240801.csv", [f"{n},old{n}" for n in range(1, 1201)])
    run = push(daemon, "20240802.csv", [f"{n},new{n}" for n in range(151, 2301)])
    assert (run["rows_inserted"], run["rows_updated"]) == (1100, 1050)
    done = renkei("undo", run["id"], "--config", str(daemon.config))
    assert done.returncode == 0, done.stderr
    [(undo, deleted, restored)] = daemon.query(
        "SELECT id, rows_deleted, rows_inserted FROM runs WHERE undo_of = ?", (run["id"],)
    )
    assert (deleted, restored) == (1100, 1050)
    assert done.stdout.strip() == (
        f"実行 {run['id']} を取り消しました(取消の実行 {undo}): 削除 1,100 行、復元 1,050 行"
    )
    names = daemon.query("SELECT name FROM mi WHERE _account = 'up' ORDER BY member_no")
    assert names == [(f"old{n}",) for n in range(1, 1201)]


# -- 4. a missing reference -----------------------------------------------------------


def test_a_missing_reference_names_the_layout_and_the_key_columns_label(daemon):
    reply = httpx.post(
        f"{daemon.api}/api/v1/imports",
        headers={"Authorization": "Bearer demo-od"},
        files={"file": ("20240801.csv", "品目\r\nＡb\r\n".encode())},
        params={"wait": "true"},
        timeout=60,
    )
    assert reply.status_code == 422, reply.text
    with sqlite3.connect(daemon.config.parent / "var" / "renkei.db") as db:
        [(message,)] = db.execute(
            "SELECT message FROM run_errors WHERE run_id = ?", (reply.json()["id"],)
        ).fetchall()
    assert message == "2行目 列「品目」の値「Ａb」はレイアウト「mt」の「コード」にありません"


# -- 5. a reference's type against its key column ------------------------------------


def test_check_warns_of_a_member_key_of_another_type(tmp_path):
    """A warning, not a refusal: `1` in a text column still matches 1."""
    config = _config(tmp_path, 1)
    text = config.read_text(encoding="utf-8").replace(
        '{ name = "code", type = "text", label = "コード" },',
        '{ name = "code", type = "text", label = "コード" },\n  { name = "amount", type = "int" },',
    )
    text = text.replace('layout = "od"', 'layout = "od"\nmember_key = "amount"')
    config.write_text(text, "utf-8")
    result = renkei("check", "--config", str(config))
    assert result.returncode == 0
    assert (
        "layouts.od.columns.0.reference: 列 item(text)の値はレイアウト mt の amount(int)と"
        "照合されますが、型が違うため一致しないことがあります(01 や １ は 1 と一致しません)。"
        "列の type を int にするか、accounts.od.member_key に text の列を指定してください"
    ) in result.stderr.splitlines(), result.stderr
    config.write_text(text.replace('member_key = "amount"', 'member_key = "code"'), "utf-8")
    assert renkei("check", "--config", str(config)).returncode == 0
