"""Calls and sends that check passed and then went wrong: a `{row.X}` its import cannot
fill, a call that cannot be started at all, requests that fail for good told to the
admins, a send's `where` value its column refuses, a URL port past 65535 and a header
value that is not ASCII. `renkei check` as a user runs it; a real daemon importing
over its API, a real HTTP receiver and a real SMTP relay."""

from __future__ import annotations

import functools
import json
import time
from pathlib import Path

import httpx
import pytest

from tests import support
from tests.support import Daemon, account, csv_bytes, write_config

renkei = functools.partial(support.renkei, timeout=60)
ADMIN = "admin@example.jp"
ADMIN_TOKEN = {"Authorization": "Bearer demo-admin"}
FAST = "retry_seconds = 0.1\nmax_retry_seconds = 0.2\n"
ROWS = ["1,2024/05/16,100,a", "2,2024/05/16,200,b", "3,2024/05/16,300,c"]
OTHER = '[layouts.other]\ncolumns = [{ name = "zzz", type = "text" }]\n'


def token_account(name: str) -> str:
    return account(name) + f'[accounts.{name}.api]\ntoken = "demo-{name}-token"\n'


def checked(config: Path) -> tuple[int, dict[str, str]]:
    """`renkei check`: its exit code and each problem line by its key path."""
    result = renkei("check", "--config", str(config))
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()[1:]
    return result.returncode, dict(line.split(": ", 1) for line in lines)


def imported(daemon: Daemon, who: str) -> dict:
    reply = httpx.post(
        f"{daemon.api}/api/v1/imports?wait=true",
        files={"file": ("20240516.csv", csv_bytes(ROWS))},
        headers={"Authorization": f"Bearer demo-{who}-token"},
        timeout=60,
    )
    run = reply.json()
    assert run["state"] == "completed", reply.text
    return run


def answered(daemon: Daemon, run_id: str, count: int) -> list[dict]:
    """The requests listed under run `run_id`, once `count` are no longer waiting."""
    deadline = time.monotonic() + 30
    while True:
        reply = httpx.get(f"{daemon.api}/api/v1/runs/{run_id}", headers=ADMIN_TOKEN)
        found = reply.json()["requests"]
        if len([r for r in found if r["state"] != "waiting"]) >= count:
            return found
        assert time.monotonic() < deadline, found
        time.sleep(0.05)


def body_of(mail) -> str:
    return mail.get_body().get_content()


# -- 1. a {row.X} the import cannot fill is refused by check -----------------------------


def test_check_refuses_row_placeholders_a_call_cannot_fill(tmp_path):
    calls = f"""
[calls.perrun_row]
after_import = ["acme"]
per = "run"
url = "http://127.0.0.1:34400/ok/{{row.member_no}}"
params = {{ n = "{{row.note}}", run = "{{run.id}}" }}
[calls.perrow_other]
after_import = ["acme"]
per = "row"
url = "http://127.0.0.1:34400/ok"
params = {{ z = "{{row.zzz}}", no = "{{row.member_no}}" }}
[calls.perrun_json]
after_import = ["acme"]
per = "run"
url = "http://127.0.0.1:34400/ok"
body = "json"
json = {{ run = "{{run.id}}", rows = [{{ no = "{{row.member_no}}" }}], bad = "{{row.date}}" }}
{OTHER}"""
    code, said = checked(write_config(tmp_path, account("acme"), extra=calls))
    assert code == 1
    assert set(said) == {
        "calls.perrun_row.url",
        "calls.perrun_row.params.n",
        "calls.perrow_other.params.z",
        "calls.perrun_json.json.bad",
    }, said
    # Japanese by default: what a per-run call of acme can use, and where rows can go.
    run_url = said["calls.perrun_row.url"]
    assert "{row.member_no}" in run_url and 'per = "run"' in run_url and "acme" in run_url
    assert "{run.id}" in run_url and "{row." not in run_url.split("使えるのは")[1].split("。")[0]
    assert "json" in run_url  # the one place a per-run call has rows: a repeated list
    other = said["calls.perrow_other.params.z"]
    assert other.startswith("{row.zzz} は埋め込めません")
    assert "{row.member_no}" in other and "{row.note}" in other and "{run.id}" in other

    en = write_config(tmp_path, account("acme"), extra='language = "en"\n' + calls)
    _, said = checked(en)
    assert said["calls.perrow_other.params.z"].startswith(
        '{row.zzz} is not a placeholder renkei fills in here: a call of per = "row"'
        " following acme can use"
    )
    assert "{row.sales_amount}" in said["calls.perrow_other.params.z"]


def test_check_takes_row_placeholders_of_every_followed_layout(tmp_path):
    """Two followed accounts of two layouts: only a column both have can be filled."""
    calls = f"""
[calls.both]
after_import = ["acme", "beta"]
url = "http://127.0.0.1:34400/ok"
params = {{ no = "{{row.member_no}}" }}
{OTHER}"""
    accounts = account("acme") + account("beta", layout="other")
    code, said = checked(write_config(tmp_path, accounts, extra=calls))
    assert code == 1 and set(said) == {"calls.both.params.no"}, said
    assert "acme, beta" in said["calls.both.params.no"]
    code, said = checked(write_config(tmp_path, account("acme") + account("beta"), extra=calls))
    assert (code, said) == (0, {})


# -- 1 and 2. a call that cannot be started, and requests that fail, reach the admins ---


@pytest.fixture(scope="module")
def alerting(tmp_path_factory, capture, module_relay):
    folder = tmp_path_factory.mktemp("calls_more")
    extra = f"""admin_to = ["{ADMIN}"]
[calls.refused]
after_import = ["refused"]
per = "row"
url = "{capture.url("/refused")}"
params = {{ no = "{{row.member_no}}" }}
{FAST}
[calls.busy]
after_import = ["busy"]
per = "run"
url = "{capture.url("/busy")}"
max_attempts = 2
{FAST}
[calls.fine]
after_import = ["fine"]
per = "row"
url = "{capture.url("/fine")}"
{FAST}
[calls.dated]
after_import = ["dated"]
per = "run"
url = "{capture.url("/dated")}"
body = "json"
json = {{ day = 2024-05-16 }}
{FAST}
"""
    accounts = "".join(token_account(n) for n in ("refused", "busy", "fine", "dated"))
    config = write_config(folder, accounts, extra=extra, relay_port=module_relay.port)
    daemon = Daemon(config).start()
    try:
        yield daemon
    finally:
        daemon.terminate()


def test_requests_refused_for_good_are_mailed_to_the_admins_once(alerting, capture, module_relay):
    capture.answer("/refused", *[(400, {}, "会員番号が不正です".encode())] * 3)
    run = imported(alerting, "refused")
    assert [r["status"] for r in answered(alerting, run["id"], 3)] == [400] * 3
    [alert] = module_relay.for_recipient(ADMIN, about=run["id"])
    assert "refused" in alert["Subject"] and "呼び出し" in alert["Subject"]
    body = body_of(alert)
    assert "3 件のうち 3 件" in body and run["id"] in body
    assert "400" in body and "会員番号が不正です" in body
    time.sleep(1)  # one mail per job, not one per request
    assert len(module_relay.for_recipient(ADMIN, about=run["id"])) == 1


def test_requests_failing_until_max_attempts_are_mailed(alerting, capture, module_relay):
    capture.answer("/busy", (503, {}, b"busy now"), (500, {}, b"still busy"))
    run = imported(alerting, "busy")
    [request] = answered(alerting, run["id"], 1)
    assert (request["state"], request["attempts"], request["status"]) == ("failed", 2, 500)
    [alert] = module_relay.for_recipient(ADMIN, about=run["id"])
    body = body_of(alert)
    assert "busy" in alert["Subject"] and "1 件のうち 1 件" in body
    assert "500" in body and "still busy" in body


def test_calls_answered_2xx_alert_nobody(alerting, capture, module_relay):
    run = imported(alerting, "fine")
    assert {r["state"] for r in answered(alerting, run["id"], 3)} == {"done"}
    time.sleep(1)
    to_admin = [
        m
        for m, (_, to) in zip(module_relay.messages, module_relay.envelopes, strict=True)
        if ADMIN in to
    ]
    assert not [m for m in to_admin if run["id"] in body_of(m)]


def test_a_call_that_cannot_be_built_is_recorded_and_mailed(alerting, capture, module_relay):
    """A date is no JSON: the call cannot be built. It was a traceback in the log, no
    record, no alert, and the run marked done so that it never started again."""
    run = imported(alerting, "dated")
    [request] = answered(alerting, run["id"], 1)
    assert (request["kind"], request["name"], request["state"]) == ("call", "dated", "failed")
    assert request["attempts"] == 0 and "送っていません" in request["answer"]
    [alert] = module_relay.for_recipient(ADMIN, about=run["id"])
    assert "dated" in alert["Subject"] and "1 件のうち 1 件" in body_of(alert)
    assert not capture.to("/dated")
    assert alerting.run(run["id"])["forward_state"] == "done"


# -- 3. a send's where value its column refuses ------------------------------------------


def test_check_refuses_a_where_value_its_column_refuses(tmp_path):
    sends = """
[sends.s]
layout = "performance"
url = "https://e.example/x"
where = { date = "notadate", member_no = "12", note = "" }
[sends.t]
layout = "performance"
url = "https://e.example/x"
where = { date = "2024/05/16", sales_amount = "1,000" }
"""
    code, said = checked(write_config(tmp_path, account("acme"), extra=sends))
    assert code == 1 and set(said) == {"sends.s.where.date"}, said
    assert said["sends.s.where.date"].startswith("'notadate' は")
    assert "date" in said["sends.s.where.date"]


# -- 4. a URL's port, a header's value ---------------------------------------------------


def test_check_refuses_a_url_port_past_65535_or_0(tmp_path):
    extra = """
[sends.far]
layout = "performance"
url = "http://127.0.0.1:70000/x"
[sends.zero]
layout = "performance"
url = "https://e.example:0/x"
[sends.v6]
layout = "performance"
url = "http://[::1]:8080/x"
[calls.far]
after_import = ["acme"]
url = "http://e.example:65536/{run.id}"
"""
    code, said = checked(write_config(tmp_path, account("acme"), extra=extra))
    assert code == 1 and set(said) == {"sends.far.url", "sends.zero.url", "calls.far.url"}, said
    assert "70000" in said["sends.far.url"] and "1〜65535" in said["sends.far.url"]
    assert "1〜65535" in said["calls.far.url"]


def test_check_refuses_a_header_value_that_is_not_ascii(tmp_path):
    extra = """
[sends.s]
layout = "performance"
url = "https://e.example/x"
headers = { X-Note = "日本語", X-Token = "abc-123" }
[calls.c]
after_import = ["acme"]
url = "https://e.example/y"
headers = { "X-Line" = "a\\nb" }
"""
    code, said = checked(write_config(tmp_path, account("acme"), extra=extra))
    assert code == 1 and set(said) == {"sends.s.headers.X-Note", "calls.c.headers.X-Line"}, said
    assert "ASCII" in said["sends.s.headers.X-Note"]
    en = write_config(tmp_path, account("acme"), extra='language = "en"\n' + extra)
    _, said = checked(en)
    assert "header values must be ASCII" in said["sends.s.headers.X-Note"]


def test_check_refuses_a_call_that_follows_nothing_or_drops_its_json(tmp_path):
    """A call with `after_import = []` was never made, and a GET's `json` was never
    sent, both without a word."""
    extra = """
[calls.never]
after_import = []
url = "https://e.example/x"
[calls.bodiless]
after_import = ["acme"]
method = "GET"
url = "https://e.example/{run.id}"
json = { id = "{run.id}" }
[calls.fine]
after_import = ["acme"]
method = "GET"
url = "https://e.example/{run.id}"
params = { id = "{run.id}" }
"""
    code, said = checked(write_config(tmp_path, account("acme"), extra=extra))
    assert code == 1 and set(said) == {"calls.never.after_import", "calls.bodiless.json"}, said
    assert "一度も行われません" in said["calls.never.after_import"]
    assert "json は送られません" in said["calls.bodiless.json"]


def test_renkei_show_of_an_import_lists_the_calls_that_followed_it(alerting, capture):
    """The console and the API listed them; `renkei show` said nothing of them."""
    run = imported(alerting, "fine")
    assert {r["state"] for r in answered(alerting, run["id"], 3)} == {"done"}
    shown = renkei("show", run["id"], "--config", str(alerting.config))
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    at = lines.index("取込のあとの呼び出し(http送信)のリクエスト:")
    # Each named by its call: several calls each number their own requests from 1.
    assert [line.split(".")[0] for line in lines[at + 1 : at + 4]] == [
        "  fine 1",
        "  fine 2",
        "  fine 3",
    ]
    listed = renkei("show", run["id"], "--json", "--config", str(alerting.config))
    assert len(json.loads(listed.stdout)["requests"]) == 3
