"""Two renkei instances on one PostgreSQL, asked the same thing at the same moment:
what one instance serializes in its own process, two serialize in the database.

A record created with one key on both instances at once was created twice (each
looked for the key before the other's insert was committed), and an undo of one run
asked of both was made twice, the run's `undone_by` naming the one that undid nothing.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable

import httpx
import pytest

from tests.console_support import csrf, login, users_toml
from tests.support import csv_bytes
from tests.test_instances import (
    ACME_API,
    ADMIN,
    Daemon,
    instance_config,
    query,
    start_together,
    wait_state,
)

pytestmark = pytest.mark.slow


def at_once(calls: list[Callable[[], httpx.Response]]) -> list[httpx.Response]:
    """Each call in a thread of its own, released together."""
    barrier = threading.Barrier(len(calls))
    answers: list[httpx.Response] = []

    def run(call: Callable[[], httpx.Response]) -> None:
        barrier.wait()
        answers.append(call())

    threads = [threading.Thread(target=run, args=(c,)) for c in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


@pytest.fixture
def pair(tmp_path, pg_url, relay):
    daemons = []
    for name in ("a", "b"):
        config = instance_config(tmp_path / name, name, pg_url, relay.port)
        text = config.read_text() + users_toml({"admin": ("admin", [])})
        # Keyed, so that the Records API refuses a key the account holds already.
        config.write_text(
            text.replace(
                "[layouts.performance]\n", '[layouts.performance]\nkey = ["member_no"]\n', 1
            )
        )
        daemons.append(Daemon(config))
    start_together(*daemons)
    yield daemons
    for d in daemons:
        if d.proc is not None and d.proc.poll() is None:
            d.terminate()


def test_one_key_created_on_both_instances_at_once_is_one_record(pair, pg_url):
    a, b = pair
    for key in range(7001, 7009):

        def create(d: Daemon, key: int = key) -> httpx.Response:
            body = {"member_no": key, "date": "2024/06/01", "note": d.config.parent.name}
            url = f"{d.api}/api/v1/records/performance"
            return httpx.post(url, headers=ACME_API, json=body, timeout=60)

        answers = at_once(
            [lambda: create(a), lambda: create(b), lambda: create(a), lambda: create(b)]
        )
        codes = sorted(r.status_code for r in answers)
        assert codes == [201, 409, 409, 409], (key, [r.text for r in answers])
        rows = query(pg_url, "SELECT count(*) AS n FROM performance WHERE member_no = %s", (key,))
        assert rows[0]["n"] == 1


def test_an_undo_asked_of_both_instances_at_once_is_made_once(pair, pg_url):
    a, b = pair
    for round_no in range(4):
        data = csv_bytes([f"{8100 + round_no},2024/06/02,1,undo me"])
        reply = httpx.post(
            f"{a.api}/api/v1/imports",
            files={"file": (f"202407{10 + round_no:02d}.csv", data)},
            headers=ACME_API,
            timeout=60,
        )
        assert reply.status_code == 202, reply.text
        run_id = reply.json()["id"]
        wait_state(pg_url, run_id, ("completed",))

        def undo(d: Daemon, run_id: str = run_id) -> httpx.Response:
            return httpx.post(f"{d.api}/api/v1/runs/{run_id}/undo", headers=ADMIN, timeout=60)

        answers = at_once([lambda: undo(a), lambda: undo(b)])
        codes = sorted(r.status_code for r in answers)
        assert codes == [201, 409], [r.text for r in answers]
        [made] = [r.json() for r in answers if r.status_code == 201]
        [run] = query(pg_url, "SELECT undone_by FROM runs WHERE id = %s", (run_id,))
        assert run["undone_by"] == made["id"]
        undos = query(pg_url, "SELECT count(*) AS n FROM runs WHERE undo_of = %s", (run_id,))
        assert undos[0]["n"] == 1


def test_a_preview_confirmed_on_the_other_instance_says_which_keeps_it(pair):
    """A load balancer between the console's two steps: the file checked on one
    instance was said to be gone on the other."""
    a, b = pair
    on_b, on_a = login(b.api, "admin"), login(a.api, "admin")
    try:
        files = {"file": ("20240603.csv", csv_bytes(["9301,2024/06/03,1,p"]), "text/csv")}
        checked = on_b.post("/console/accounts/acme/upload", data={"csrf": csrf(on_b)}, files=files)
        assert checked.status_code == 200, checked.text
        preview = re.search(r'name="preview" value="([^"]+)"', checked.text).group(1)
        form = {"csrf": csrf(on_a), "preview": preview}
        r = on_a.post("/console/accounts/acme/upload/confirm", data=form)
        assert r.status_code == 409 and "確認したファイルはインスタンス b にあります" in r.text
    finally:
        on_a.close()
        on_b.close()
