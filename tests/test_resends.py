"""One memory of deliveries: an Idempotency-Key answers its first run whatever came of it;
the same file again answers the earlier run only while that run is the latest of its file
name and did not fail. The same after a restart, from the run history."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import subprocess
import time

import httpx
import pytest

from daemon.spool import packed
from daemon.spool.memory import DeliveryMemory
from daemon.spool.queue import Meta, Spool
from daemon.store.runs import RunState
from daemon.store.sqlite import SqliteStore
from handlers.base import Delivery
from tests.support import (
    Daemon,
    csv_bytes,
    import_process,
    needs_curl,
    pause,
    wait_for,
    write_config,
)

ACCOUNTS = """
[accounts.acme]
layout = "performance"
on_row_error = "reject"
[accounts.acme.api]
token = "demo-acme-token"

[accounts.strict]
layout = "performance"
[accounts.strict.api]
token = "demo-strict-token"
[accounts.strict.limits]
max_rows = 1

[accounts.pat]
layout = "performance"
filename = ["sales_{YYYYMMDD}_*.csv"]
[accounts.pat.api]
token = "demo-pat-token"
"""
PAT = {"Authorization": "Bearer demo-pat-token"}
ACME = {"Authorization": "Bearer demo-acme-token"}
STRICT = {"Authorization": "Bearer demo-strict-token"}
A = csv_bytes(["1,2024/05/16,100,A", "2,2024/05/16,200,A"])
B = csv_bytes(["3,2024/05/16,300,B"])
BAD = csv_bytes(["x,2024/05/16,1,bad"])
REPLAYED = "Idempotent-Replayed"


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    d = Daemon(write_config(tmp_path_factory.mktemp("resends"), ACCOUNTS)).start()
    yield d
    d.terminate()


def post(
    daemon, name: str, data: bytes, headers=ACME, key: str = "", wait: bool = True
) -> httpx.Response:
    return httpx.post(
        f"{daemon.api}/api/v1/imports",
        files={"file": (name, data)},
        headers={**headers, "Idempotency-Key": key} if key else headers,
        params={"wait": "true"} if wait else {},
        timeout=60,
    )


def spool_meta(path) -> Meta:
    return Meta.from_json(packed.read_meta(path))


def runs_of(daemon, name: str, account: str = "acme") -> list[str]:
    rows = daemon.query("SELECT id FROM runs WHERE account = ? AND filename = ?", (account, name))
    return [r[0] for r in rows]


def rows_of(daemon, name: str) -> list[tuple]:
    sql = "SELECT member_no, note FROM performance WHERE _account = 'acme' AND _source_file = ?"
    return sorted(daemon.query(sql, (name,)))


def upload(daemon, path) -> tuple[int, dict[str, str], dict]:
    """`curl -F file=@path` with ?wait=true: the status, the headers and the JSON body."""
    head = path.parent / "headers.txt"
    out = subprocess.run(
        ["curl", "-sS", "-D", str(head), "-w", "\n%{http_code}",
         "-H", "Authorization: Bearer demo-acme-token", "-F", f"file=@{path}",
         f"{daemon.api}/api/v1/imports?wait=true"],
        capture_output=True, check=True, text=True, timeout=60,
    ).stdout  # fmt: skip
    body, status = out.rsplit("\n", 1)
    last = head.read_text().strip().split("\r\n\r\n")[-1].splitlines()[1:]
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in last)}
    return int(status), headers, json.loads(body)


def spooled(daemon) -> list[str]:
    """What the spool holds outside the kept files, once the copies a resend had written
    ahead (while its earlier run was looked up) had a moment to go."""
    spool = daemon.data_dir / "spool"
    deadline = time.monotonic() + 5
    while True:
        held = sorted(p.name for part in ("tmp", "incoming") for p in (spool / part).iterdir())
        if not held or time.monotonic() > deadline:
            return held
        time.sleep(0.05)


def test_an_idempotency_key_answers_its_first_run_even_when_it_failed(daemon):
    first = post(daemon, "20240520.csv", BAD, key="resend-failed")
    assert first.status_code == 422 and first.json()["state"] == "failed"
    for data in (BAD, A):  # the same file, then a corrected one: the key answers either
        again = post(daemon, "20240520.csv", data, key="resend-failed")
        assert again.status_code == 422, again.text
        assert again.json()["id"] == first.json()["id"]
        assert again.headers[REPLAYED] == "true"
    assert runs_of(daemon, "20240520.csv") == [first.json()["id"]]
    assert rows_of(daemon, "20240520.csv") == []
    assert spooled(daemon) == []


def test_a_dry_run_with_a_key_leaves_the_key_to_the_real_import(daemon):
    """Validate, then send for real with the same key: the real one imports; sent again,
    it answers that import, not the dry run."""
    url = f"{daemon.api}/api/v1/imports"
    headers = {**ACME, "Idempotency-Key": "try-then-send"}
    files = {"file": ("20240522.csv", A)}
    params = {"wait": "true", "dry_run": "true"}
    tried = httpx.post(url, files=files, headers=headers, params=params, timeout=60)
    assert tried.status_code == 200 and tried.json()["dry_run"] is True, tried.text
    sent = post(daemon, "20240522.csv", A, key="try-then-send")
    assert sent.status_code == 200 and REPLAYED not in sent.headers, sent.text
    assert sent.json()["id"] != tried.json()["id"] and sent.json()["dry_run"] is False
    assert rows_of(daemon, "20240522.csv") == [(1, "A"), (2, "A")]
    again = post(daemon, "20240522.csv", A, key="try-then-send")
    assert again.headers[REPLAYED] == "true" and again.json()["id"] == sent.json()["id"]


@needs_curl
def test_the_same_file_again_at_once_answers_its_run(daemon, tmp_path):
    path = tmp_path / "20240517.csv"
    path.write_bytes(A)
    status, headers, first = upload(daemon, path)
    assert status == 200 and first["state"] == "completed" and REPLAYED.lower() not in headers
    status, headers, again = upload(daemon, path)
    assert status == 200 and again["id"] == first["id"]
    assert headers[REPLAYED.lower()] == "true"
    assert runs_of(daemon, "20240517.csv") == [first["id"]]


@needs_curl
def test_a_then_b_then_a_imports_a_again(daemon, tmp_path):
    """A is no longer the latest of its name once B came: sent again, it is imported again."""
    path = tmp_path / "20240516.csv"
    answers = []
    for data in (A, B, A):
        path.write_bytes(data)
        status, headers, run = upload(daemon, path)
        assert status == 200 and run["state"] == "completed", run
        assert REPLAYED.lower() not in headers
        answers.append(run["id"])
        expected = [(1, "A"), (2, "A")] if data == A else [(3, "B")]
        assert rows_of(daemon, "20240516.csv") == expected
    assert len(set(answers)) == 3
    assert sorted(runs_of(daemon, "20240516.csv")) == sorted(answers)


@pytest.mark.parametrize(
    ("headers", "account", "names"),
    [
        (ACME, "acme", ["20240901.csv", "20240901.CSV", "20240901.csv"]),
        (PAT, "pat", ["sales_20240516_0900.csv", "sales_20240516_1500.csv"] * 2),
    ],
    ids=["case", "wildcard"],
)
def test_a_then_b_under_another_spelling_then_a_imports_a_again(daemon, headers, account, names):
    """B replaced A's rows as the same logical file, so A sent again is no resend of
    the latest: it is imported again."""
    answers = [
        post(daemon, name, data, headers) for name, data in zip(names, (A, B, A, B), strict=False)
    ]
    assert [a.status_code for a in answers] == [200] * len(names)
    assert all(REPLAYED not in a.headers for a in answers), [a.json() for a in answers]
    assert len({a.json()["id"] for a in answers}) == len(names)
    sql = (
        "SELECT member_no, note FROM performance WHERE _account = ?"
        " AND _source_file IN (?, ?) ORDER BY member_no"
    )
    last = [(1, "A"), (2, "A")] if len(names) == 3 else [(3, "B")]
    assert daemon.query(sql, (account, *sorted(set(names)))) == last


def test_a_file_sent_again_after_its_run_was_undone_is_imported(daemon):
    """The undo run was recorded without the file's logical name: sent again under
    another spelling (`.csv` after `.CSV`), the undone run still looked the latest and
    the file was answered as a resend, its rows never back."""
    first = post(daemon, "20240523.CSV", A).json()
    assert first["state"] == "completed"
    undo = httpx.post(
        f"{daemon.api}/api/v1/runs/{first['id']}/undo",
        headers={"Authorization": "Bearer demo-admin"},
        timeout=60,
    )
    assert undo.status_code == 201, undo.text
    again = post(daemon, "20240523.csv", A)
    assert REPLAYED not in again.headers and again.json()["id"] != first["id"], again.json()
    sql = "SELECT member_no FROM performance WHERE _account = 'acme' AND _source_file = ?"
    assert sorted(daemon.query(sql, ("20240523.csv",))) == [(1,), (2,)]


def reload_with(daemon, text: str) -> None:
    """Replace the config file, SIGHUP, and wait until a reload has taken it."""
    before = daemon.log.read_text().count("config reloaded")
    fresh = daemon.config.with_name("renkei.toml.new")
    fresh.write_text(text, encoding="utf-8")
    os.replace(fresh, daemon.config)
    daemon.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 15
    while daemon.log.read_text().count("config reloaded") <= before:
        assert time.monotonic() < deadline, daemon.log.read_text()[-2000:]
        time.sleep(0.05)


def test_a_file_that_failed_is_imported_when_sent_again(daemon):
    """The account allowed one row; once its config allows more, the resent file imports."""
    failed = post(daemon, "20240521.csv", A, headers=STRICT)
    assert failed.status_code == 413 and failed.json()["state"] == "failed"
    text = daemon.config.read_text()
    reload_with(daemon, text.replace("[accounts.strict.limits]\nmax_rows = 1\n", ""))
    # The config took: the import process takes it a moment after the daemon logs the
    # reload, which on a busy machine may be after a first file.
    wait_for(lambda: post(daemon, "20240522.csv", A, headers=STRICT).status_code == 200, timeout=15)
    again = post(daemon, "20240521.csv", A, headers=STRICT)
    assert REPLAYED not in again.headers and again.json()["id"] != failed.json()["id"]
    assert again.status_code == 200 and again.json()["state"] == "completed", again.text
    assert len(runs_of(daemon, "20240521.csv", "strict")) == 2


def test_a_retry_is_the_logical_file_the_config_of_the_day_makes_it(daemon):
    """A retry kept the first run's file key: a name a pattern added since takes was
    recorded under itself, and resends of that file were compared with the wrong one."""
    failed = post(daemon, "uriage_20240530_0900.csv", A, headers=PAT)
    assert failed.json()["state"] == "failed"  # no pattern takes it
    wider = '"sales_{YYYYMMDD}_*.csv", "uriage_{YYYYMMDD}_*.csv"'
    reload_with(daemon, daemon.config.read_text().replace('"sales_{YYYYMMDD}_*.csv"', wider, 1))
    retried = httpx.post(
        f"{daemon.api}/api/v1/runs/{failed.json()['id']}/retry",
        headers={"Authorization": "Bearer demo-admin"},
        timeout=60,
    )
    assert retried.status_code == 202, retried.text
    run = daemon.wait_run(retried.json()["id"])
    assert run["state"] == "completed", run["message"]
    [(key,)] = daemon.query("SELECT file_key FROM runs WHERE id = ?", (run["id"],))
    assert key == "uriage_20240530_*.csv"


def test_a_key_answered_by_its_content_answers_that_run_after_a_newer_version(daemon):
    """Key 2 was answered with key 1's run, the same content: spooled nowhere, it was on
    no run, and its retry after B came was imported again, A over the newer B. Also
    after a restart."""
    first = post(daemon, "20240605.csv", A, key="content-1")
    second = post(daemon, "20240605.csv", A, key="content-2")
    assert (second.json()["id"], second.headers[REPLAYED]) == (first.json()["id"], "true")
    newer = post(daemon, "20240605.csv", B, key="content-3")
    assert newer.json()["state"] == "completed"
    for restart in (False, True):
        if restart:
            daemon.terminate()
            daemon.start()
        again = post(daemon, "20240605.csv", A, key="content-2")
        assert (again.json()["id"], again.headers.get(REPLAYED)) == (first.json()["id"], "true")
        assert rows_of(daemon, "20240605.csv") == [(3, "B")]
    assert sorted(runs_of(daemon, "20240605.csv")) == sorted(
        [first.json()["id"], newer.json()["id"]]
    )


@pytest.fixture(scope="module")
def restarted(daemon):
    """Deliveries before a restart of the daemon (same config, same data dir): first answers."""
    first = {
        "same": post(daemon, "20240601.csv", A),
        "key_done": post(daemon, "20240602.csv", A, key="before-done"),
        "key_failed": post(daemon, "20240603.csv", BAD, key="before-failed"),
        "a": post(daemon, "20240604.csv", A),
        "b": post(daemon, "20240604.csv", B),
    }
    assert [r.status_code for r in first.values()] == [200, 200, 422, 200, 200]
    daemon.terminate()
    daemon.start()
    return {name: reply.json()["id"] for name, reply in first.items()}


def test_after_a_restart_the_same_file_answers_its_run(daemon, restarted):
    again = post(daemon, "20240601.csv", A)
    assert again.status_code == 200
    assert (again.json()["id"], again.headers[REPLAYED]) == (restarted["same"], "true")
    assert runs_of(daemon, "20240601.csv") == [restarted["same"]]


def test_after_a_restart_an_idempotency_key_answers_its_first_run(daemon, restarted):
    done = post(daemon, "20240602.csv", B, key="before-done")
    assert done.status_code == 200
    assert (done.json()["id"], done.headers[REPLAYED]) == (restarted["key_done"], "true")
    failed = post(daemon, "20240603.csv", A, key="before-failed")
    assert failed.status_code == 422 and failed.json()["state"] == "failed"
    assert (failed.json()["id"], failed.headers[REPLAYED]) == (restarted["key_failed"], "true")
    assert runs_of(daemon, "20240602.csv") + runs_of(daemon, "20240603.csv") == [
        restarted["key_done"],
        restarted["key_failed"],
    ]


def test_after_a_restart_a_then_b_then_a_imports_a_again(daemon, restarted):
    again = post(daemon, "20240604.csv", A)
    assert again.status_code == 200 and again.json()["state"] == "completed"
    assert again.json()["id"] not in (restarted["a"], restarted["b"])
    assert REPLAYED not in again.headers
    assert rows_of(daemon, "20240604.csv") == [(1, "A"), (2, "A")]
    assert len(runs_of(daemon, "20240604.csv")) == 3


def test_a_file_still_waiting_after_a_restart_answers_its_run(tmp_path):
    """The doors spool without hashing, so a run recorded while its file waits (the
    import process records every waiting file at its start) has no sha256 yet: the
    memory takes it from the spooled file, and once the file is taken, from the run the
    importer began. The spool, the store and the memory as the daemon builds them."""

    def resend(data: bytes) -> Delivery:
        return Delivery("acme", "api", "acme", "20240516.csv", data, by_content=True)

    async def scenario() -> list[object]:
        store = await SqliteStore.open(tmp_path / "renkei.db")
        spool = Spool(tmp_path / "spool")
        try:
            meta = Meta("acme", "api", "acme", "20240516.csv")
            [item] = spool.enqueue_many([(meta, A, None)], hashed=False)
            await store.add_run(item.id, item.meta)  # recorded while it waits
            memory = DeliveryMemory(store, spool.digest)  # a daemon started again
            answers = [await memory.earlier([resend(A)]), await memory.earlier([resend(B)])]
            claimed = spool.claim(item.id)
            await store.begin_run(item.id, claimed.meta, state=RunState.COMPLETED)
            spool.finish(claimed)
            answers.append(await memory.earlier([resend(A)]))
            answers.append((await store.get_run(item.id))["sha256"])
            return [item.id, *answers]
        finally:
            await store.close()

    first, waiting, other, taken, recorded = asyncio.run(scenario())
    assert waiting == [first] and other is None and taken == [first]
    assert recorded == hashlib.sha256(A).hexdigest()


def test_a_file_sent_again_while_the_first_waits_answers_its_run(daemon):
    """While the import process is paused: the same file again is answered with the
    first run, another content of the name is a new run; each run records the sha256
    of its file once imported (the door spooled them without one)."""
    importer = import_process(daemon)
    pause(importer)
    try:
        first = post(daemon, "20240701.csv", A, wait=False)
        again = post(daemon, "20240701.csv", A, wait=False)
        other = post(daemon, "20240701.csv", B, wait=False)
        incoming = daemon.data_dir / "spool" / "incoming"
        footers = [spool_meta(p).sha256 for p in sorted(incoming.iterdir())]
    finally:
        os.kill(importer, signal.SIGCONT)
    assert [r.status_code for r in (first, again, other)] == [202, 202, 202]
    assert again.json()["id"] == first.json()["id"] and again.headers[REPLAYED] == "true"
    assert other.json()["id"] != first.json()["id"] and REPLAYED not in other.headers
    assert footers == ["", ""]  # two files waited, neither hashed at the door
    for reply, data in ((first, A), (other, B)):
        run = daemon.wait_run(reply.json()["id"])
        assert run["state"] == "completed"
        recorded = daemon.query("SELECT sha256 FROM runs WHERE id = ?", (run["id"],))
        assert recorded == [(hashlib.sha256(data).hexdigest(),)]
