"""Undo (取込取消): `renkei undo RUN` and `POST /api/v1/runs/{id}/undo` take back what a
completed run changed, as a run of its own, leaving the table row by row as it was
before the undone run; only the latest run of a file can be undone."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.support import Daemon, write_config
from tests.test_cli import renkei

MEMBERS = """
[layouts.members]
key = ["member_no"]
columns = [
  { name = "member_no", type = "int",  required = true },
  { name = "name",      type = "text" },
  { name = "status",    type = "text" },
]
"""
ACME = """
[accounts.acme]
layout = "members"
on_row_error = "reject"
error_report_to = ["ops@acme.example"]
success_report_to = ["sales@acme.example"]
[accounts.acme.mail]
address = "acme@in.example.jp"
allowed_senders = ["export@acme.example"]
[accounts.acme.api]
token = "demo-acme"
path = "/push/acme"
token_header = "X-Token"
file_field = "csv"
body = "form-data"
[accounts.acme.api.params.mode]
"replace" = { mode = "replace_file" }
"insert" = { mode = "insert" }
"upsert" = { mode = "upsert", on_duplicate = "update", blank = "keep" }
"close" = { mode = "set", set_values = { status = "closed" } }
"delete" = { mode = "delete" }
"""
HEADER = "member_no,name,status"
ADMIN = {"Authorization": "Bearer demo-admin", "Accept-Language": "en"}


@pytest.fixture(scope="module")
def daemon(tmp_path_factory, module_relay):
    folder = tmp_path_factory.mktemp("undo")
    config = write_config(folder, ACME, MEMBERS, relay_port=module_relay.port)
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("[report]\n", '[report]\nlanguage = "en"\n'), "utf-8")
    d = Daemon(config).start()
    yield d
    d.terminate()


def push(daemon: Daemon, mode: str, name: str, *lines: str, dry_run: bool = False) -> dict:
    params = {"wait": "true"} | ({"dry_run": "true"} if dry_run else {})
    reply = httpx.post(
        f"{daemon.api}/push/acme",
        headers={"X-Token": "demo-acme"},
        files={"csv": (name, ("\r\n".join([HEADER, *lines]) + "\r\n").encode(), "text/csv")},
        data={"mode": mode},
        params=params,
        timeout=60,
    )
    assert reply.status_code in (200, 422), reply.text
    return reply.json()


def table(daemon: Daemon) -> list[tuple]:
    """Every row of the layout's table, with its rowid and meta columns, in rowid order."""
    return daemon.query("SELECT rowid, * FROM members ORDER BY rowid")


def sources(daemon: Daemon) -> list[tuple]:
    return daemon.query("SELECT * FROM sources ORDER BY source_file, run_id")


def undo_api(daemon: Daemon, run_id: str) -> httpx.Response:
    return httpx.post(f"{daemon.api}/api/v1/runs/{run_id}/undo", headers=ADMIN, timeout=60)


def undo_cli(daemon: Daemon, run_id: str):
    return renkei("undo", run_id, "--config", str(daemon.config))


def test_undo_of_a_replace_brings_the_previous_version_back(daemon):
    a = push(daemon, "replace", "20240601.csv", "1,一,active", "2,二,active", "3,三,active")
    after_a, sources_a = table(daemon), sources(daemon)
    b = push(daemon, "replace", "20240601.csv", "1,壱,moved", "4,四,new")
    assert table(daemon) != after_a

    refused = undo_api(daemon, a["id"])
    assert refused.status_code == 409
    assert refused.json() == {
        "error": "run_not_latest",
        "message": f"run {a['id']} cannot be undone: it is not the latest; later runs"
        " changed the same file (for keyed modes, the account's same layout), and only the"
        f" latest of them, {b['id']}, can be undone",
    }

    done = undo_cli(daemon, b["id"][-10:])
    assert done.returncode == 0, done.stderr
    assert table(daemon) == after_a
    assert sources(daemon) == sources_a
    [undo] = daemon.query("SELECT id FROM runs WHERE undo_of = ?", (b["id"],))
    assert done.stdout.strip() == (
        f"run {b['id']} undone as run {undo[0]}: 2 rows removed, 3 rows restored"
    )
    run = httpx.get(f"{daemon.api}/api/v1/runs/{undo[0]}", headers=ADMIN).json()
    assert (run["channel"], run["state"], run["undo_of"]) == ("cli", "completed", b["id"])
    assert (run["rows_deleted"], run["rows_inserted"]) == (2, 3)
    assert daemon.run(b["id"])["undone_by"] == undo[0]

    again = undo_api(daemon, b["id"])
    assert (again.status_code, again.json()["error"]) == (409, "run_already_undone")
    assert again.json()["message"] == f"run {b['id']} was already undone by run {undo[0]}"
    # A's own before-images went when B committed: only the latest run is kept.
    older = undo_api(daemon, a["id"])
    assert (older.status_code, older.json()["error"]) == (409, "undo_not_kept")

    # The restored `sources` entry is A's again: a new version replaces A's rows.
    push(daemon, "replace", "20240601.csv", "9,九,active")
    assert [r[1:4] for r in table(daemon) if r[5] == "20240601.csv"] == [(9, "九", "active")]


def test_undo_of_a_first_version_leaves_no_rows_of_it(daemon):
    before, sources_before = table(daemon), sources(daemon)
    run = push(daemon, "replace", "20240602.csv", "21,二一,active", "22,二二,active")
    reply = undo_api(daemon, run["id"])
    assert reply.status_code == 201, reply.text
    body = reply.json()
    assert (body["undo_of"], body["rows_deleted"], body["rows_inserted"]) == (run["id"], 2, 0)
    assert table(daemon) == before
    assert sources(daemon) == sources_before
    assert daemon.run(body["id"])["channel"] == "api"


def test_undo_of_an_insert_removes_its_rows(daemon):
    before = table(daemon)
    run = push(daemon, "insert", "20240603.csv", "31,三一,active", "31,三一,again")
    reply = undo_api(daemon, run["id"])
    assert reply.status_code == 201, reply.text
    assert reply.json()["rows_deleted"] == 2
    assert table(daemon) == before


@pytest.mark.parametrize(
    ("mode", "lines"),
    [
        # updates (a blank cell keeps the old value) and inserts
        ("upsert", ("1,,blank-kept", "41,四一,new", "2,弐,")),
        ("close", ("1,,", "2,,", "404,,")),  # set: two found, one not
        ("delete", ("2,,", "41,,", "405,,")),  # delete: found and not found
    ],
)
def test_undo_of_a_keyed_run_restores_each_row(daemon, mode, lines):
    push(daemon, "upsert", "20240604.csv", "1,一,active", "2,二,active", "41,四一,old")
    before = table(daemon)
    run = push(daemon, mode, "20240605.csv", *lines)
    assert run["state"] == "completed", run
    assert table(daemon) != before
    done = undo_cli(daemon, run["id"])
    assert done.returncode == 0, done.stderr
    assert table(daemon) == before


def test_a_later_run_of_the_layout_blocks_a_keyed_undo(daemon):
    first = push(daemon, "upsert", "20240606.csv", "51,五一,active")
    middle = push(daemon, "insert", "20240607.csv", "52,五二,active")
    later = push(daemon, "insert", "20240608.csv", "53,五三,active")
    refused = undo_cli(daemon, first["id"])
    assert refused.returncode == 1
    # Named: the latest, the one run that can be undone, not the next after it.
    assert refused.stderr.strip() == (
        f"run {first['id']} cannot be undone: it is not the latest; later runs changed the"
        " same file (for keyed modes, the account's same layout), and only the latest of"
        f" them, {later['id']}, can be undone"
    )
    assert undo_cli(daemon, later["id"]).returncode == 0
    assert f"only the latest of them, {middle['id']}," in undo_cli(daemon, first["id"]).stderr
    assert undo_cli(daemon, middle["id"]).returncode == 0
    # Its before-images went when the later run committed: undo goes back one run.
    again = undo_cli(daemon, first["id"])
    assert again.returncode == 1
    assert again.stderr.startswith(f"run {first['id']} cannot be undone: the rows it changed")


def test_runs_that_changed_nothing_are_refused(daemon):
    dry = push(daemon, "insert", "20240608.csv", "61,六一,active", dry_run=True)
    reply = undo_api(daemon, dry["id"])
    assert reply.status_code == 409
    assert reply.json() == {
        "error": "run_dry_run",
        "message": f"run {dry['id']} cannot be undone: it was a dry run and wrote nothing",
    }
    failed = push(daemon, "insert", "20240609.csv", "x,bad,active")
    assert failed["state"] == "failed"
    reply = undo_api(daemon, failed["id"])
    assert reply.json() == {
        "error": "run_not_completed",
        "message": f"run {failed['id']} cannot be undone: it did not complete (state failed)",
    }
    [undo] = daemon.query("SELECT id FROM runs WHERE undo_of IS NOT NULL LIMIT 1")
    reply = undo_api(daemon, undo[0])
    assert (reply.status_code, reply.json()["error"]) == (409, "undo_not_kept")


def test_undo_is_the_admins(daemon):
    run = push(daemon, "insert", "20240610.csv", "71,七一,active")
    reply = httpx.post(
        f"{daemon.api}/api/v1/runs/{run['id']}/undo",
        headers={"Authorization": "Bearer demo-acme"},
    )
    assert reply.status_code in (401, 403)
    assert undo_api(daemon, "no-such-run").status_code == 404
    assert undo_cli(daemon, "no-such-run").returncode == 1


def test_retention_sweeps_what_was_kept_with_its_runs(daemon):
    push(daemon, "replace", "20240611.csv", "81,八一,active")
    second = push(daemon, "replace", "20240611.csv", "82,八二,active")
    # A run's images are those in the rowid range its record names (undo.py).
    in_range = "i.rowid > r.images_after AND i.rowid <= r.images_last"
    kept = (
        f"SELECT count(*) FROM undo_images AS i JOIN run_undo AS r ON {in_range} WHERE r.run_id = ?"
    )
    assert daemon.query(kept, (second["id"],)) == [(1,)]
    runs = "SELECT count(*) FROM runs"
    before = daemon.query(runs)[0][0]
    swept = renkei("sweep", "--now", "2099-01-01T00:00", "--config", str(daemon.config))
    assert swept.returncode == 0, swept.stderr
    assert daemon.query(runs)[0][0] < before
    for name in ("run_undo", "undo_sources"):
        orphans = f"SELECT count(*) FROM {name} WHERE run_id NOT IN (SELECT id FROM runs)"
        assert daemon.query(orphans) == [(0,)]
    orphans = f"SELECT count(*) FROM undo_images AS i WHERE NOT EXISTS (SELECT 1 FROM run_undo AS r WHERE {in_range})"
    assert daemon.query(orphans) == [(0,)]
    if not daemon.run(second["id"]):  # swept (not while its report was still pending)
        assert daemon.query(kept, (second["id"],)) == [(0,)]


KINDS = """
[layouts.orders]
columns = [
  { name = "order_no", type = "int",    required = true },
  { name = "kind",     type = "choice", values = ["A", "B"] },
]
"""


def test_an_undo_takes_back_the_choices_its_run_learned(tmp_path):
    """`on_unknown = "create"` learns a new choice value from a file: undoing that run
    allows the value no more, so another account's file with it is refused again;
    a value a row still holds is kept."""
    learn = '[accounts.learn]\nlayout = "orders"\non_unknown = "create"\n'
    strict = '[accounts.strict]\nlayout = "orders"\n'
    config = write_config(tmp_path, learn + strict, KINDS)

    def imported(account: str, name: str, *lines: str) -> dict:
        path = tmp_path / name
        path.write_text("\r\n".join(["order_no,kind", *lines]) + "\r\n", encoding="utf-8")
        args = ("import", str(path), "--account", account, "--json", "--config", str(config))
        result = renkei(*args)
        assert result.returncode in (0, 1), result.stderr
        return json.loads(result.stdout)

    kept = imported("learn", "20240515.csv", "1,KEEP")
    undone = imported("learn", "20240516.csv", "2,NEW")
    assert undone["state"] == "completed"
    assert renkei("undo", undone["id"], "--config", str(config)).returncode == 0
    refused = imported("strict", "20240517.csv", "3,NEW")
    assert (refused["state"], refused["rows_imported"]) == ("failed", 0), refused
    taken = imported("strict", "20240518.csv", "4,KEEP")
    assert (taken["state"], taken["rows_imported"]) == ("completed", 1), taken
    assert kept["state"] == "completed"
