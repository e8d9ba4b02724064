"""What a send's `where` finds: a decimal by its value, as the Records API searches it,
and a filter given by hand only narrowing the send's own. A real daemon on SQLite and
on PostgreSQL, a real HTTP capture server, the admin API."""

from __future__ import annotations

import httpx
import pytest

from tests.capture import Capture
from tests.postgres import database_url
from tests.support import Daemon, account, write_config
from tests.test_sends_more import ended_run

ADMIN = {"Authorization": "Bearer demo-admin"}
FAST = "retry_seconds = 0.2\nmax_retry_seconds = 0.5\n"
PRICES = """
[layouts.prices]
key = ["code"]
columns = [
  { name = "code",  type = "text", required = true },
  { name = "price", type = "decimal" },
]
"""


@pytest.fixture(scope="module")
def capture():
    server = Capture()
    yield server
    server.close()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def daemon(request, tmp_path_factory, capture):
    folder = tmp_path_factory.mktemp(f"sends_where_{request.param}")
    extra = PRICES
    for name, where in (("priced", ""), ("confirmed", 'where = { code = "A1" }\n')):
        extra += (
            f'[sends.{name}]\nlayout = "prices"\naccount = "acme"\n{where}'
            f'url = "{capture.url("/" + name)}"\nencoding = "cp932"\nreport = "never"\n{FAST}'
        )
    urls = None
    if request.param == "postgresql":
        urls = database_url(request.getfixturevalue("postgresql_proc"))
        extra = f'[store]\nurl = "{next(urls)}"\n' + extra
    accounts = account("acme", layout="prices") + '[accounts.acme.api]\ntoken = "demo-acme"\n'
    d = Daemon(write_config(folder, accounts, extra=extra)).start()
    try:
        reply = httpx.post(
            f"{d.api}/api/v1/imports?wait=true",
            files={"file": ("20240516.csv", "code,price\r\nA1,1.50\r\nA2,2\r\nA—3,3\r\n".encode())},
            headers={"Authorization": "Bearer demo-acme"},
            timeout=120,
        )
        assert reply.json()["state"] == "completed", reply.text
        yield d
    finally:
        d.terminate()
        if urls is not None:
            urls.close()


def sent(daemon: Daemon, name: str, where: dict[str, str]) -> dict:
    reply = httpx.post(
        f"{daemon.api}/api/v1/sends/{name}", json={"where": where}, headers=ADMIN, timeout=30
    )
    assert reply.status_code == 202, reply.text
    return ended_run(daemon, reply.json()["id"])


def codes_sent(capture: Capture, path: str, run_id: str) -> list[str]:
    got = [r for r in capture.to(path) if r.headers["idempotency-key"].startswith(run_id)]
    lines = b"".join(r.form()["file"].data for r in got).decode("cp932").splitlines()
    return [line.split(",")[0] for line in lines[1:]]


def test_a_decimal_where_finds_its_value_however_written(daemon, capture):
    """`1.5` found nothing where `1.50` was stored: compared as text."""
    for written in ("1.5", "1.50", "1.500"):
        run = sent(daemon, "priced", {"price": written})
        assert (run["state"], run["rows_total"]) == ("completed", 1), run
        assert codes_sent(capture, "/priced", run["id"]) == ["A1"]
    run = sent(daemon, "priced", {"price": "2.00"})
    assert codes_sent(capture, "/priced", run["id"]) == ["A2"]


def test_a_where_by_hand_narrows_the_sends_own_never_widens_it(daemon, capture):
    """`where = { code = "A1" }` in the config, `code=A2` by hand: A2 was sent."""
    run = sent(daemon, "confirmed", {"code": "A2"})
    assert (run["state"], run["rows_total"]) == ("completed", 0), run
    assert codes_sent(capture, "/confirmed", run["id"]) == []
    run = sent(daemon, "confirmed", {"code": "A1", "price": "1.5"})
    assert (run["state"], run["rows_total"]) == ("completed", 1), run
    assert codes_sent(capture, "/confirmed", run["id"]) == ["A1"]


def test_a_dash_shift_jis_writes_is_sent_not_replaced(daemon, capture):
    """U+2014 (a dash as JIS and a Mac read 0x815C) went out as "?", the run saying
    CP932 had no such character."""
    run = sent(daemon, "priced", {"price": "3"})
    assert (run["state"], run["rows_total"]) == ("completed", 1), run
    assert codes_sent(capture, "/priced", run["id"]) == ["A―3"]
    assert "CP932" not in run["message"], run["message"]


def test_a_where_value_that_is_no_string_is_said_as_json_writes_it(daemon):
    """`{"where": {"price": null}}` was refused as "None は文字列ではありません"."""
    for value, shown in ((None, "null"), (True, "true")):
        reply = httpx.post(
            f"{daemon.api}/api/v1/sends/priced",
            json={"where": {"price": value}},
            headers=ADMIN,
            timeout=30,
        )
        assert reply.status_code == 422, reply.text
        assert f"body.where.price: {shown} は文字列ではありません" in reply.json()["message"]


def test_a_misspelled_where_is_refused_not_taken_for_every_row(daemon, capture):
    """`{"wher": {…}}` was passed over, and the send sent every row of its layout."""
    before = len(capture.to("/priced"))
    reply = httpx.post(
        f"{daemon.api}/api/v1/sends/priced", json={"wher": {"price": "1"}}, headers=ADMIN
    )
    assert reply.status_code == 422, reply.text
    assert "body.wher" in reply.json()["message"], reply.json()
    assert len(capture.to("/priced")) == before
