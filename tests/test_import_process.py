"""Imports run in a process of their own beside the doors: it is started with the
daemon, started again when it dies, and dies with the daemon. Killed mid-import, it
loses nothing and imports nothing twice."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import time
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from daemon.settings import load
from daemon.store.sqlite import SqliteStore
from daemon.worker import process, wire
from tests.console_support import csrf, login, users_toml
from tests.support import (
    Daemon,
    account,
    csv_bytes,
    import_process,
    mail,
    pause,
    queued_ids,
    send,
    wait_for,
    write_config,
)
from tests.test_durability import big_config, big_csv


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:  # gone before the look, or reaped between its open and its read (ESRCH)
        return False
    return state != "Z"


pytestmark = pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")


def test_files_are_imported_by_a_process_of_their_own(tmp_path):
    daemon = Daemon(big_config(tmp_path)).start()
    try:
        child = import_process(daemon)
        assert child != daemon.proc.pid
        _, code, reply = send(daemon.smtp_port, mail([("20240516.csv", big_csv(3))]))
        assert code == 250
        run = daemon.wait_run(queued_ids(reply)[0])
        assert (run["state"], run["rows_imported"]) == ("completed", 3)
    finally:
        assert daemon.terminate() == 0
    assert not alive(child)


@pytest.mark.slow
def test_a_killed_import_process_is_started_again_and_imports_exactly_once(tmp_path):
    rows = 200_000
    daemon = Daemon(big_config(tmp_path)).start()
    try:
        first = import_process(daemon)
        _, code, reply = send(daemon.smtp_port, mail([("20240516.csv", big_csv(rows))]))
        assert code == 250
        [run_id] = queued_ids(reply)
        # Mid-read (its parts' scratch databases are there), frozen before it can commit:
        # 200,000 rows are read in a fraction of a second, less than a poll of the run.
        scratch = daemon.data_dir / "staging" / run_id
        wait_for(lambda: list(scratch.glob("part*.db")), timeout=60, step=0.005)
        os.kill(first, signal.SIGSTOP)
        assert daemon.run(run_id)["state"] == "running"
        os.kill(first, signal.SIGKILL)
        run = daemon.wait_run(run_id, timeout=120, states=("completed", "failed"))
        assert run["state"] == "completed" and run["rows_imported"] == rows
        assert run["attempts"] == 1  # the killed attempt counted, as after a crash
        assert daemon.query("SELECT count(*), count(DISTINCT member_no) FROM performance") == [
            (rows, rows)
        ]
        assert import_process(daemon) != first
        # The doors kept serving through it.
        _, code, reply = send(daemon.smtp_port, mail([("20240517.csv", big_csv(2))]))
        assert code == 250
        assert daemon.wait_run(queued_ids(reply)[0])["state"] == "completed"
    finally:
        assert daemon.terminate() == 0
    assert "import process ended" in daemon.log.read_text()


def test_a_daemon_killed_outright_takes_its_import_process_with_it(tmp_path):
    daemon = Daemon(big_config(tmp_path)).start()
    child = import_process(daemon)
    daemon.kill()
    deadline = time.monotonic() + 10
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(child), "the import process outlived the daemon"


class _BusyStore:
    """A real store whose first `busy` ensure_layouts meet another writer's lock, as
    the import process's did when a helper held the store just after the master had
    applied a reload."""

    def __init__(self, store, busy: int) -> None:
        self.store, self.busy = store, busy

    async def ensure_layouts(self, layouts) -> None:  # noqa: ANN001
        if self.busy:
            self.busy -= 1
            raise sqlite3.OperationalError("database is locked")
        await self.store.ensure_layouts(layouts)


def test_new_settings_wait_for_a_busy_store_and_wake_ups_go_on(tmp_path, monkeypatch):
    """A failed ensure_layouts ended the import process's listener for good: every
    later reload was logged as applied and never reached it, and each file waited for
    the rescan instead of its wake-up, until a restart."""
    monkeypatch.setattr(process, "_RESTART_BASE", 0.05)
    old = load(write_config(tmp_path, account("acme")))
    (tmp_path / "new").mkdir()
    new = load(write_config(tmp_path / "new", account("acme", report="never")))

    async def scenario() -> None:
        store = await SqliteStore.open(tmp_path / "renkei.db")
        woken = asyncio.Event()
        parts = SimpleNamespace(
            store=_BusyStore(store, busy=3), worker=SimpleNamespace(wake=woken.set)
        )
        master = asyncio.StreamReader()
        importing = process.ImportProcess(old, master)
        listening = asyncio.create_task(importing._listen(parts))
        try:
            master.feed_data(wire.frame(("settings", new)) + wire.frame(("wake",)))
            await asyncio.wait_for(woken.wait(), 5)  # while the settings wait
            assert importing.current() is old
            for _ in range(100):
                if importing.current().accounts["acme"].report == "never":
                    break
                await asyncio.sleep(0.05)
            assert importing.current().accounts["acme"].report == "never"
            assert parts.store.busy == 0
            master.feed_eof()
            await asyncio.wait_for(listening, 5)
        finally:
            listening.cancel()
            await store.close()

    asyncio.run(scenario())


def test_a_file_put_back_for_a_busy_store_is_still_imported_before_the_later_ones(tmp_path):
    """The first of four files of one name met the store held past its busy timeout
    and was put back to try again in 2 s; the three after it were imported meanwhile,
    and then it was: its older rows replaced the newest file's."""
    accounts = account("acme", filename="f*.csv", report="never")
    accounts += '[accounts.acme.api]\ntoken = "demo-acme-api"\n'
    daemon = Daemon(
        write_config(tmp_path, accounts), env={"RENKEI_BUSY_TIMEOUT_MS": "1000"}
    ).start()
    try:
        holder = sqlite3.connect(tmp_path / "var" / "renkei.db", isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")  # another writer holds the store
        try:
            ids = []
            for n in range(1, 5):
                reply = httpx.post(
                    f"{daemon.api}/api/v1/imports",
                    headers={"Authorization": "Bearer demo-acme-api"},
                    files={"file": (f"f{n}.csv", csv_bytes([f"{n},2024/05/16,{n},v{n}"]))},
                    timeout=30,
                )
                assert reply.status_code == 202, reply.text
                ids.append(reply.json()["id"])
            time.sleep(1.5)  # the first meets the lock past its timeout
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        runs = [daemon.wait_run(run_id, timeout=60) for run_id in ids]
        assert [run["state"] for run in runs] == ["completed"] * 4
        # The newest file's rows stand, and the runs ended in the order the files came.
        assert daemon.query("SELECT note FROM performance") == [("v4",)]
        finished = [run["finished_at"] for run in runs]
        assert finished == sorted(finished)
    finally:
        daemon.terminate()


def test_a_retry_while_the_store_is_busy_is_said_and_asked_again_spools_no_second(tmp_path):
    """The database held by another writer past its busy timeout: the retry's file
    was spooled, its run not recorded, and the console answered a bare 500; asked
    again, a second copy was spooled, and both were imported (and forwarded)."""
    accounts = account("acme", report="never") + '[accounts.acme.api]\ntoken = "demo-acme-api"\n'
    config = write_config(tmp_path, accounts, extra=users_toml({"admin": ("admin", [])}))
    daemon = Daemon(config, env={"RENKEI_BUSY_TIMEOUT_MS": "1000"}).start()
    admin = {"Authorization": "Bearer demo-admin"}
    try:
        reply = httpx.post(
            f"{daemon.api}/api/v1/imports?wait=true",
            headers={"Authorization": "Bearer demo-acme-api"},
            files={"file": ("20240516.csv", csv_bytes(["1,2024/05/16,1,a"]))},
            timeout=30,
        )
        first = reply.json()["id"]
        web = login(daemon.api, "admin")
        token = csrf(web, f"/console/runs/{first}")
        holder = sqlite3.connect(tmp_path / "var" / "renkei.db", isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")  # another writer holds the store
        try:
            page = web.post(f"/console/runs/{first}/retry", data={"csrf": token})
            assert page.status_code == 503, page.text
            assert "データベースが別の処理に使われていて" in page.text
            again = httpx.post(f"{daemon.api}/api/v1/runs/{first}/retry", headers=admin)
            assert again.status_code == 200, again.text
            assert again.headers["Idempotent-Replayed"] == "true"
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        retried = daemon.wait_run(again.json()["id"], timeout=60)
        assert retried["state"] == "completed" and retried["retry_of"] == first
        time.sleep(1)  # a second copy would be imported by now
        retries = daemon.query("SELECT id FROM runs WHERE retry_of = ?", (first,))
        assert retries == [(retried["id"],)]
        # With nothing waiting, the API says the store's trouble in its own words.
        holder = sqlite3.connect(tmp_path / "var" / "renkei.db", isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            busy = httpx.post(f"{daemon.api}/api/v1/runs/{retried['id']}/retry", headers=admin)
            assert busy.status_code == 503 and busy.json()["error"] == "store_busy", busy.text
        finally:
            holder.execute("ROLLBACK")
            holder.close()
    finally:
        daemon.terminate()


def test_a_runs_page_says_nothing_final_before_the_run_ends(tmp_path):
    """A run still running was said to have no report mail (送信なし, レポートメールは
    ありません) and no errors, facts only its end decides."""
    accounts = account("acme") + '[accounts.acme.api]\ntoken = "demo-acme-api"\n'
    extra = users_toml({"admin": ("admin", [])}) + "[limits]\nmax_rows = 1000000\n"
    config = write_config(tmp_path, accounts, extra=extra)
    config.write_text(config.read_text().replace("[limits]\n", "[limits]\nmax_bytes = 50000000\n"))
    daemon = Daemon(config).start()
    worker = import_process(daemon)
    try:
        web = login(daemon.api, "admin")
        rows = [f"{i},2024/05/16,{i},a" for i in range(1, 200_001)] + ["x,2024/05/16,1,bad"]
        reply = httpx.post(
            f"{daemon.api}/api/v1/imports",
            headers={"Authorization": "Bearer demo-acme-api"},
            files={"file": ("20240516.csv", csv_bytes(rows))},
            timeout=30,
        )
        run_id = reply.json()["id"]
        wait_for(lambda: daemon.run(run_id).get("state") == "running", timeout=60, step=0.01)
        pause(worker)
        try:
            page = web.get(f"/console/runs/{run_id}").text
            assert "この実行はまだ終わっていません" in page
            assert "レポートメールはありません" not in page and "エラーはありません" not in page
            assert "送信なし" not in page
        finally:
            os.kill(worker, signal.SIGCONT)
        assert daemon.wait_run(run_id, timeout=60)["state"] == "failed"
        page = web.get(f"/console/runs/{run_id}").text
        assert "この実行はまだ終わっていません" not in page and "整数ではありません" in page
    finally:
        daemon.terminate()
