"""An undo never leaves a keyed layout with two rows of one key, nor silently keeps a
row it says it took back: when the Records API changed, created or deleted a row the run
wrote or removed, `POST /api/v1/runs/{id}/undo` answers 409 `run_rows_edited` and
`renkei undo` exits 1, naming the layout and the keys, and the table stays as it was."""

from __future__ import annotations

import httpx
import psycopg
import pytest

from tests.support import Daemon, write_config
from tests.test_undo import ACME, ADMIN, MEMBERS, table, undo_api, undo_cli
from tests.test_undo import push as pushed

RECORDS = "/api/v1/records/members"


def _daemon(folder, relay_port: int, extra: str = "") -> Daemon:
    config = write_config(folder, ACME, extra + MEMBERS, relay_port=relay_port)
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("[report]\n", '[report]\nlanguage = "en"\n'), "utf-8")
    return Daemon(config).start()


@pytest.fixture(scope="module")
def daemon(tmp_path_factory, module_relay):
    d = _daemon(tmp_path_factory.mktemp("undo_edited"), module_relay.port)
    yield d
    d.terminate()


def push(daemon: Daemon, mode: str, name: str, *lines: str) -> dict:
    run = pushed(daemon, mode, name, *lines)
    assert run["state"] == "completed", run
    return run


def patch(daemon: Daemon, key: str, **values: str) -> None:
    reply = httpx.patch(f"{daemon.api}{RECORDS}/{key}", headers=ADMIN, json=values, timeout=30)
    assert reply.status_code == 200, reply.text


def refused_text(run_id: str, what: str) -> str:
    return (
        f"run {run_id} cannot be undone: rows it added, updated or deleted were changed since"
        " by something else (an edit, create or delete through the Records API or by hand in"
        f" the database) ({what}); undoing it would"
        " leave two rows of one key or rows it did not take back. Instead, edit the rows back"
        " by hand through the Records API, or import a corrected file"
    )


def assert_refused(daemon: Daemon, run_id: str, what: str) -> None:
    """Refused alike by the API and the command, the table left row by row as it was."""
    before = table(daemon)
    reply = undo_api(daemon, run_id)
    assert reply.status_code == 409, reply.text
    assert reply.json() == {"error": "run_rows_edited", "message": refused_text(run_id, what)}
    done = undo_cli(daemon, run_id)
    assert done.returncode == 1, done.stdout
    assert done.stderr.strip() == refused_text(run_id, what)
    assert table(daemon) == before
    assert daemon.run(run_id)["undone_by"] is None


def test_an_updated_row_the_api_edited_since_refuses_the_undo(daemon):
    push(daemon, "upsert", "20240701.csv", "1,A,active")
    run = push(daemon, "upsert", "20240701.csv", "1,Y,active")
    patch(daemon, "1", name="PATCHED1")
    assert_refused(daemon, run["id"], "layout members, keys 1")
    one = httpx.get(f"{daemon.api}{RECORDS}/1", headers=ADMIN, timeout=30)
    assert one.status_code == 200 and one.json()["name"] == "PATCHED1"


def test_an_inserted_row_the_api_edited_or_deleted_refuses_the_undo(daemon):
    run = push(daemon, "upsert", "20240702.csv", "11,B,active", "12,C,active", "13,D,active")
    patch(daemon, "12", name="PATCHED12")
    assert_refused(daemon, run["id"], "layout members, 1 row")
    reply = httpx.delete(f"{daemon.api}{RECORDS}/13", headers=ADMIN, timeout=30)
    assert reply.status_code in (200, 204), reply.text
    assert_refused(daemon, run["id"], "layout members, 2 rows")


def test_a_deleted_key_the_api_created_again_refuses_the_undo(daemon):
    push(daemon, "upsert", "20240703.csv", "21,E,active", "22,F,active")
    run = push(daemon, "delete", "20240704.csv", "21,,", "22,,")
    created = httpx.post(
        f"{daemon.api}{RECORDS}",
        headers=ADMIN,
        json={"member_no": 22, "name": "NEW22", "_account": "acme"},
        timeout=30,
    )
    assert created.status_code == 201, created.text
    assert_refused(daemon, run["id"], "layout members, keys 22")


def test_a_replaced_row_the_api_edited_refuses_the_undo(daemon):
    push(daemon, "replace", "20240705.csv", "31,G,active", "32,H,active")
    run = push(daemon, "replace", "20240705.csv", "31,G2,active", "32,H2,active")
    patch(daemon, "32", name="PATCHED32")
    assert_refused(daemon, run["id"], "layout members, keys 32")


def test_an_undo_with_no_row_edited_since_still_works(daemon):
    push(daemon, "upsert", "20240706.csv", "41,I,active", "42,J,active")
    before = table(daemon)
    run = push(daemon, "upsert", "20240707.csv", "41,I2,moved", "43,K,new")
    # Rows the run did not touch may change: the undo takes back only its own.
    patch(daemon, "42", name="PATCHED42")
    edited = table(daemon)
    reply = undo_api(daemon, run["id"])
    assert reply.status_code == 201, reply.text
    # The row it inserted removed, the one it updated restored (not removed as well).
    assert (reply.json()["rows_deleted"], reply.json()["rows_inserted"]) == (1, 1)
    expected = [
        next(e for e in edited if e[0] == row[0]) if row[1] == 42 else row for row in before
    ]
    assert table(daemon) == expected


def test_postgres_refuses_the_undo_of_an_edited_row(tmp_path, relay, pg_url):
    d = _daemon(tmp_path, relay.port, extra=f'[store]\nurl = "{pg_url}"\n')
    try:
        push(d, "upsert", "20240701.csv", "1,A,active")
        run = push(d, "upsert", "20240701.csv", "1,Y,active")
        patch(d, "1", name="PATCHED1")
        select = "SELECT rowid, member_no, name, _source_file, _run_id FROM members ORDER BY rowid"
        with psycopg.connect(pg_url) as conn:
            before = conn.execute(select).fetchall()
        reply = undo_api(d, run["id"])
        assert reply.status_code == 409, reply.text
        assert reply.json() == {
            "error": "run_rows_edited",
            "message": refused_text(run["id"], "layout members, keys 1"),
        }
        with psycopg.connect(pg_url) as conn:
            assert conn.execute(select).fetchall() == before
        assert [r[1:4] for r in before] == [(1, "PATCHED1", "api:records")]
    finally:
        d.terminate()
