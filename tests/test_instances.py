"""Two renkei instances on one PostgreSQL: every accepted file imported exactly once,
every report sent once, each scheduled FTP tick checked once.

Real daemons (`renkei serve`), a real PostgreSQL server (tests/postgres.py), real
clients (smtplib, httpx), a real relay. Each instance has its own data_dir and spool;
the FTP homes are shared, as the README asks (here by a symlink, as NFS would be).
"""

from __future__ import annotations

import datetime as dt
import signal
import threading
import time
import zoneinfo
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from tests.capture import Capture
from tests.console_support import csrf, login, users_toml
from tests.support import (
    Daemon,
    account,
    csv_bytes,
    free_port,
    gone,
    import_process,
    mail,
    pause,
    queued_ids,
    renkei,
    send,
    toml_value,
    wait_for,
)
from tests.support import write_config as base_config

pytestmark = pytest.mark.slow
ADMIN = {"Authorization": "Bearer demo-admin"}
ACME_API = {"Authorization": "Bearer demo-acme-api"}
BIG = 200_000


def instance_config(folder: Path, name: str, pg_url: str, relay_port: int) -> Path:
    folder.mkdir()
    # Every day: on the default weekdays (Monday to Friday) a weekend in Tokyo has no
    # tick to catch up on at start, and the file waiting in the home is never taken.
    ftp = {
        "user": "acme",
        "password": "demo-acme-ftp",
        "window": "00:00-23:59",
        "interval": "2h",
        "weekdays": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
    }
    section = account("acme") + '[accounts.acme.api]\ntoken = "demo-acme-api"\n'
    section += "[accounts.acme.ftp]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in ftp.items())
    extra = f'[store]\nurl = "{pg_url}"\ninstance = "{name}"\n'
    extra += "[limits]\nmax_rows = 1000000\nmax_bytes = 104857600\n"
    config = base_config(folder, section, extra=extra, relay_port=relay_port)
    passive = free_port()
    text = config.read_text().replace(
        "[ftp]\nenabled = false",
        f'[ftp]\nlisten = "127.0.0.1:{free_port()}"\npassive_ports = "{passive}-{passive}"',
    )
    config.write_text(text.replace("max_message_bytes = 200000", "max_message_bytes = 30000000"))
    return config


def query(pg_url: str, sql: str, params: tuple = ()) -> list[dict[str, Any]]:
    with psycopg.connect(pg_url, row_factory=dict_row) as conn:
        return conn.execute(sql, params).fetchall()


def wait_state(pg_url: str, run_id: str, states: tuple[str, ...], timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = query(pg_url, "SELECT * FROM runs WHERE id = %s", (run_id,))
        if rows and rows[0]["state"] in states:
            return rows[0]
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} never reached {states}: {rows}")


def start_together(*daemons: Daemon) -> None:
    """Start the daemons at once, so that they start on the same schedule tick."""
    errors: list[BaseException] = []

    def start(d: Daemon) -> None:
        try:
            d.start()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(d,)) for d in daemons]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        for d in daemons:  # never leave the one that did start behind
            if d.proc is not None and d.proc.poll() is None:
                d.terminate()
        raise errors[0]


def away_from_a_tick() -> None:
    """FTP checks tick every two hours of the config's time zone (Asia/Tokyo, the
    default): start well clear of a boundary, so both instances' catch-up at start is
    for the same tick."""
    now = dt.datetime.now(zoneinfo.ZoneInfo("Asia/Tokyo"))
    into = (now.hour % 2) * 3600 + now.minute * 60 + now.second
    if into > 2 * 3600 - 30:
        time.sleep(2 * 3600 - into + 2)


def big_mail() -> Any:
    rows = [f'{i},2024/05/17,{i * 7},"備考 {i}"' for i in range(BIG)]
    return mail([("20240517.csv", csv_bytes(rows))])


def test_two_instances_share_one_truth(tmp_path, pg_url, relay):
    a_config = instance_config(tmp_path / "a", "a", pg_url, relay.port)
    b_config = instance_config(tmp_path / "b", "b", pg_url, relay.port)
    # FTP homes on storage both instances see; a file already waits in acme's home.
    shared_ftp = tmp_path / "shared-ftp"
    (shared_ftp / "acme").mkdir(parents=True)
    (shared_ftp / "acme" / "20240520.csv").write_bytes(csv_bytes(["9,2024/05/20,90,ftp"]))
    for folder in ("a", "b"):
        (tmp_path / folder / "var").mkdir()
        (tmp_path / folder / "var" / "ftp").symlink_to(shared_ftp)
    away_from_a_tick()
    a, b = Daemon(a_config), Daemon(b_config)
    start_together(a, b)
    try:
        # Mail to A; the same message (same Message-ID) resent to B gets A's run.
        msg = mail([("20240516.csv", csv_bytes(["1,2024/05/16,10,a", "2,2024/05/16,20,b"]))])
        msg["Message-ID"] = "<once@acme.example>"
        _, code, reply = send(a.smtp_port, msg)
        assert code == 250
        first = queued_ids(reply)
        _, code, reply = send(b.smtp_port, msg)
        assert code == 250 and queued_ids(reply) == first
        # API deliveries spread over both.
        api_runs = []
        for n, daemon in enumerate((a, b, a, b)):
            files = {"file": (f"202406{n + 10}.csv", csv_bytes([f"{n},2024/06/01,{n},api"]))}
            answer = httpx.post(
                f"{daemon.api}/api/v1/imports", headers=ACME_API, files=files, timeout=30
            )
            assert answer.status_code == 202, answer.text
            api_runs.append(answer.json()["id"])
        # A large mail to B, and B killed in the middle of importing it.
        _, code, reply = send(b.smtp_port, big_mail())
        assert code == 250
        [big] = queued_ids(reply)
        # Paused once running, so that it cannot commit before the kill lands.
        worker = import_process(b)
        wait_state(pg_url, big, ("running",))
        pause(worker)
        b.kill()
        gone(worker)
        assert wait_state(pg_url, big, ("running",))["instance"] == "b"
        assert (
            query(pg_url, "SELECT count(*) AS n FROM performance WHERE _run_id = %s", (big,))[0][
                "n"
            ]
            == 0
        )
        b = Daemon(b_config).start()
        done = wait_state(pg_url, big, ("completed",), timeout=120)
        assert done["rows_imported"] == BIG and done["attempts"] == 1

        ids = [*first, *api_runs, big]
        for run_id in ids:
            assert wait_state(pg_url, run_id, ("completed",))["rows_imported"] > 0
        runs = query(pg_url, "SELECT id, instance, filename FROM runs ORDER BY id")
        by_id = {r["id"]: r for r in runs}
        assert by_id[first[0]]["instance"] == "a"
        assert [by_id[r]["instance"] for r in api_runs] == ["a", "b", "a", "b"]
        # Every file once: the rows of each run are there once, nothing else was run.
        counts = query(pg_url, "SELECT _run_id, count(*) AS n FROM performance GROUP BY _run_id")
        assert {c["_run_id"]: c["n"] for c in counts if c["_run_id"] == big} == {big: BIG}
        ftp_runs = [r for r in runs if r["filename"] == "20240520.csv"]
        assert len(ftp_runs) == 1
        assert len(runs) == len(ids) + 1

        # The FTP tick both instances caught up on at start: one slot, one check.
        slots = query(pg_url, "SELECT job, tick, instance FROM schedule_slots")
        assert [s["job"] for s in slots] == ["check:acme"]
        winner, other = (a, b) if slots[0]["instance"] == "a" else (b, a)
        assert "check acme: 1 file(s) spooled" in winner.log.read_text()
        # The other instance was refused the slot, or (the FTP homes' record of the
        # last check being shared too) found the tick checked already.
        seen = other.log.read_text()
        assert "file(s) spooled" not in seen
        assert "taken by another instance" in seen or "running the first now" not in seen

        # Every report mailed exactly once.
        deadline = time.monotonic() + 30
        wanted = {f"<{run_id}.report@renkei>" for run_id in [*ids, ftp_runs[0]["id"]]}
        while time.monotonic() < deadline:
            sent = [m["Message-ID"] for m in relay.messages]
            if wanted <= set(sent):
                break
            time.sleep(0.2)
        time.sleep(1)  # a second copy would come now
        sent = [m["Message-ID"] for m in relay.messages]
        assert sorted(s for s in sent if s in wanted) == sorted(wanted)
    finally:
        for daemon in (a, b):
            if daemon.proc is not None and daemon.proc.poll() is None:
                daemon.terminate()


def test_a_store_that_does_not_answer_takes_nothing(tmp_path, pg_url, relay):
    """PostgreSQL down: /healthz fails, mail gets 451, the API 503; nothing is spooled."""
    config = instance_config(tmp_path / "a", "a", pg_url, relay.port)
    daemon = Daemon(config).start()
    try:
        assert httpx.get(f"{daemon.api}/healthz", timeout=10).json() == {"status": "ok"}
        text = config.read_text()
        # The running daemon keeps its URL; point the database away by renaming it.
        db = pg_url.rsplit("/", 1)[1]
        admin = pg_url.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (db,)
            )
            conn.execute(f'ALTER DATABASE "{db}" RENAME TO "{db}_away"')
        try:
            health = httpx.get(f"{daemon.api}/healthz", timeout=10)
            assert health.status_code == 503 and health.json()["status"] == "store_unreachable"
            msg = mail([("20240516.csv", csv_bytes(["1,2024/05/16,10,a"]))])
            step, code, _ = send(daemon.smtp_port, msg)
            assert (step, code) == ("DATA", 451)
            files = {"file": ("20240516.csv", csv_bytes(["1,2024/05/16,10,a"]))}
            answer = httpx.post(
                f"{daemon.api}/api/v1/imports", headers=ACME_API, files=files, timeout=30
            )
            assert answer.status_code == 503
            spool = daemon.data_dir / "spool"
            assert not list((spool / "incoming").iterdir())
            assert not list((spool / "active").iterdir())
            # A reload meanwhile is refused, said in a line.
            daemon.proc.send_signal(signal.SIGHUP)
            wait_for(lambda: "reload refused" in daemon.log.read_text(), timeout=30)
        finally:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                    (f"{db}_away",),
                )
                conn.execute(f'ALTER DATABASE "{db}_away" RENAME TO "{db}"')
        # Back: the resend is taken.
        deadline = time.monotonic() + 15
        while httpx.get(f"{daemon.api}/healthz", timeout=10).status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        _, code, reply = send(daemon.smtp_port, msg)
        assert code == 250
        [run_id] = queued_ids(reply)
        assert wait_state(pg_url, run_id, ("completed",))["instance"] == "a"
        assert text == config.read_text()
        # The store's trouble is said, never traced: the 451's, the reload's.
        assert "Traceback" not in daemon.log.read_text()
    finally:
        daemon.terminate()


DATA = csv_bytes(["1,2024/05/16,10,a", "2,2024/05/16,20,b"])


def by_mail(daemon: Daemon) -> str | None:
    """The mail (a Message-ID is its idempotency key): its run id once answered 250."""
    msg = mail([("20240516.csv", DATA)])
    msg["Message-ID"] = "<died-before-250@acme.example>"
    _, code, reply = send(daemon.smtp_port, msg)
    return queued_ids(reply)[0] if code == 250 else None


def by_api(daemon: Daemon) -> str | None:
    """The file by the API without a key (a resend is known by its content)."""
    files = {"file": ("20240516.csv", DATA)}
    url = f"{daemon.api}/api/v1/imports"
    answer = httpx.post(url, headers=ACME_API, files=files, timeout=30)
    return answer.json()["id"] if answer.status_code == 202 else None


@pytest.mark.parametrize("deliver", [by_mail, by_api], ids=["mail", "api"])
def test_a_delivery_whose_door_died_before_recording_it_is_imported_once(
    tmp_path, pg_url, relay, deliver
):
    """Instance a spools a delivery and dies before it records the run (so before it
    answers): the sender sends it again through b, which imports it. When a starts
    again, what it spooled is recorded as held by b's run, not imported a second time."""
    a_config = instance_config(tmp_path / "a", "a", pg_url, relay.port)
    b_config = instance_config(tmp_path / "b", "b", pg_url, relay.port)
    a = Daemon(a_config).start()
    b = None
    try:
        outcome: list[Any] = []

        def deliver_to_a() -> None:
            try:
                outcome.append(deliver(a))
            except Exception as exc:  # the connection dies with the daemon
                outcome.append(exc)

        with psycopg.connect(pg_url) as lock:
            # Inserts into runs wait, reads do not: a's door spools the file, looks
            # for an earlier delivery, and then waits to record the run; killed there.
            lock.execute("LOCK TABLE runs IN SHARE MODE")
            sender = threading.Thread(target=deliver_to_a)
            sender.start()
            waiting = "SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            deadline = time.monotonic() + 30
            while query(pg_url, waiting)[0]["n"] == 0:
                assert time.monotonic() < deadline, "a's door never reached the store"
                time.sleep(0.05)
            a.kill()
            lock.rollback()
        sender.join(30)
        assert outcome and (outcome[0] is None or isinstance(outcome[0], Exception))
        [orphan] = [p.name for p in (a.data_dir / "spool" / "incoming").iterdir()]
        assert not query(pg_url, "SELECT id FROM runs WHERE id = %s", (orphan,))

        b = Daemon(b_config).start()
        taken = deliver(b)
        assert taken is not None
        assert wait_state(pg_url, taken, ("completed",))["rows_imported"] == 2
        b.terminate()
        b = None

        a.start()
        run = wait_state(pg_url, orphan, ("ignored", "completed", "failed"))
        assert run["state"] == "ignored", run
        assert taken in run["message"] and "別のインスタンス" in run["message"]
        assert query(pg_url, "SELECT count(*) AS n FROM performance")[0]["n"] == 2
        runs = query(pg_url, "SELECT id FROM runs WHERE state = 'completed'")
        assert [r["id"] for r in runs] == [taken]
    finally:
        for daemon in (a, b):
            if daemon is not None and daemon.proc is not None and daemon.proc.poll() is None:
                daemon.terminate()


def test_a_report_left_by_a_dead_instance_goes_from_another(tmp_path, pg_url, relay):
    """The outbox is shared: the report an instance queued but could not hand to the
    relay before it died is sent once, by the instance still running."""
    a_config = instance_config(tmp_path / "a", "a", pg_url, relay.port)
    b_config = instance_config(tmp_path / "b", "b", pg_url, relay.port)
    relay.refuse["sales@acme.example"] = "451 4.3.0 not now"
    a = Daemon(a_config).start()
    b = None
    try:
        _, code, reply = send(
            a.smtp_port, mail([("20240516.csv", csv_bytes(["1,2024/05/16,1,x"]))])
        )
        assert code == 250
        [run_id] = queued_ids(reply)
        wait_state(pg_url, run_id, ("completed",))
        deadline = time.monotonic() + 30
        while not query(
            pg_url, "SELECT 1 FROM run_reports WHERE run_id = %s AND attempts > 0", (run_id,)
        ):
            assert time.monotonic() < deadline, "the relay was never tried"
            time.sleep(0.1)
        a.kill()
        assert query(pg_url, "SELECT count(*) AS n FROM mail_outbox")[0]["n"] == 1
        del relay.refuse["sales@acme.example"]
        b = Daemon(b_config).start()
        wanted = f"<{run_id}.report@renkei>"
        deadline = time.monotonic() + 30
        while wanted not in [m["Message-ID"] for m in relay.messages]:
            assert time.monotonic() < deadline, "the report never went"
            time.sleep(0.1)
        time.sleep(1.5)  # a second copy would come now
        assert [m["Message-ID"] for m in relay.messages].count(wanted) == 1
        assert wait_state(pg_url, run_id, ("completed",))["report_state"] == "sent"
        assert query(pg_url, "SELECT count(*) AS n FROM mail_outbox")[0]["n"] == 0
    finally:
        for daemon in (a, b):
            if daemon is not None and daemon.proc is not None and daemon.proc.poll() is None:
                daemon.terminate()


def test_a_send_left_by_a_dead_instance_goes_on_from_another(tmp_path, pg_url, relay):
    """Outward jobs are in the shared store under a lease: when the instance sending
    dies, another takes the job over once the lease runs out, and the part that was
    being retried goes once more with the same Idempotency-Key."""
    capture = Capture(default=(503, {}, b"busy"))
    send_section = capture.retrying_send("push")
    configs = []
    for name in ("a", "b"):
        config = instance_config(tmp_path / name, name, pg_url, relay.port)
        config.write_text(config.read_text() + send_section)
        configs.append(config)
    lease = {"RENKEI_OUTWARD_LEASE_SECONDS": "2"}
    a, b = Daemon(configs[0], env=lease), Daemon(configs[1], env=lease)
    a.start()
    try:
        files = {"file": ("20240516.csv", csv_bytes(["1,2024/05/16,10,x", "2,2024/05/16,20,y"]))}
        answer = httpx.post(
            f"{a.api}/api/v1/imports?wait=true", headers=ACME_API, files=files, timeout=60
        )
        assert answer.json()["state"] == "completed"
        started = httpx.post(f"{a.api}/api/v1/sends/push", headers=ADMIN, timeout=30)
        assert started.status_code == 202, started.text
        run_id = started.json()["id"]
        capture.wait("/push", 2)
        a.kill()
        assert query(pg_url, "SELECT owner FROM outward_jobs")[0]["owner"] == "a"
        capture.default = (200, {}, b"ok")
        b.start()
        run = wait_state(pg_url, run_id, ("completed",), timeout=60)
        assert run["rows_imported"] == 2
        got = capture.to("/push")
        assert [r.status for r in got].count(200) == 1
        assert {r.headers["idempotency-key"] for r in got} == {f"{run_id}-1"}
        # The job is removed just after its run is marked completed (outward/deliver.py).
        assert _jobs_left(pg_url) == 0
    finally:
        for daemon in (a, b):
            if daemon.proc is not None and daemon.proc.poll() is None:
                daemon.terminate()
        capture.close()


def _jobs_left(pg_url: str, timeout: float = 10) -> int:
    """Outward jobs in the shared store, once the last one had time to go."""
    deadline = time.monotonic() + timeout
    while (left := query(pg_url, "SELECT count(*) AS n FROM outward_jobs")[0]["n"]) > 0:
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    return left


def test_an_account_stopped_in_one_console_is_stopped_in_every_instance(tmp_path, pg_url, relay):
    """停止 in instance A's console: B serves the account as stopped too (its mail is
    answered 250 and its run ignored), and 稼働 again in B's console starts it in A."""
    configs = []
    for name in ("a", "b"):
        config = instance_config(tmp_path / name, name, pg_url, relay.port)
        config.write_text(config.read_text() + users_toml({"admin": ("admin", [])}))
        configs.append(config)
    a, b = Daemon(configs[0]), Daemon(configs[1])
    start_together(a, b)
    try:
        web = login(a.api, "admin")
        answer = web.post(
            "/console/accounts/acme/status", data={"csrf": csrf(web), "status": "stopped"}
        )
        assert answer.status_code == 303
        # The session A made holds on B (one signing key, sessions in the store).
        cookies = dict(web.cookies.items())
        web.close()
        on_b = httpx.get(f"{b.api}/console/", cookies=cookies, timeout=30)
        assert on_b.status_code == 200 and "admin" in on_b.text
        assert query(pg_url, "SELECT account, status, by_user FROM account_switches") == [
            {"account": "acme", "status": "stopped", "by_user": "admin"}
        ]
        # `renkei import` beside b reads the shared switch too (b's data_dir holds none).
        sample = tmp_path / "20240601.csv"
        sample.write_bytes(csv_bytes(["1,2024/06/01,1,x"]))
        refused = renkei("import", str(sample), "--account", "acme", "--config", str(configs[1]))
        assert refused.returncode == 1, refused.stdout
        assert "アカウント acme は連動稼働停止中です" in refused.stderr

        days = (dt.date(2024, 1, 1) + dt.timedelta(days=n) for n in range(366))

        def ignored_on(daemon: Daemon) -> bool:
            day = next(days)
            msg = mail([(f"{day:%Y%m%d}.csv", csv_bytes([f"1,{day:%Y/%m/%d},1,x"]))])
            _, code, reply = send(daemon.smtp_port, msg)
            assert code == 250
            [run_id] = queued_ids(reply)
            return wait_state(pg_url, run_id, ("completed", "ignored"))["state"] == "ignored"

        deadline = time.monotonic() + 20
        while not ignored_on(b):
            assert time.monotonic() < deadline, "B never saw the switch"
            time.sleep(0.5)
        web = login(b.api, "admin")
        answer = web.post(
            "/console/accounts/acme/status", data={"csrf": csrf(web), "status": "active"}
        )
        web.close()
        assert answer.status_code == 303
        assert query(pg_url, "SELECT count(*) AS n FROM account_switches")[0]["n"] == 0
        deadline = time.monotonic() + 20
        while ignored_on(a):
            assert time.monotonic() < deadline, "A never saw the switch back"
            time.sleep(0.5)
    finally:
        for daemon in (a, b):
            if daemon.proc is not None and daemon.proc.poll() is None:
                daemon.terminate()


def test_a_resend_at_the_same_moment_to_two_instances_is_imported_once(tmp_path, pg_url, relay):
    """The same upload sent to both instances at once, by key and by name and content:
    each door's memory found no earlier delivery, and both imported it (an `insert`
    account held the rows twice). One is imported; the other is answered with its run."""
    a = Daemon(instance_config(tmp_path / "a", "a", pg_url, relay.port))
    b = Daemon(instance_config(tmp_path / "b", "b", pg_url, relay.port))
    start_together(a, b)
    try:
        for round_no in range(6):
            data = csv_bytes([f"{9100 + round_no},2024/05/18,1,together"])
            name = f"202406{10 + round_no:02d}.csv"
            key = {"Idempotency-Key": f"together-{round_no}"} if round_no % 2 else {}
            barrier = threading.Barrier(2)
            answers: list[httpx.Response] = []

            def post(
                d: Daemon, name=name, data=data, key=key, barrier=barrier, answers=answers
            ) -> None:
                barrier.wait()
                answers.append(
                    httpx.post(
                        f"{d.api}/api/v1/imports",
                        files={"file": (name, data)},
                        headers=ACME_API | key,
                        timeout=60,
                    )
                )

            threads = [threading.Thread(target=post, args=(d,)) for d in (a, b)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert sorted(r.status_code for r in answers) == [202, 202], answers
            ids = {r.json()["id"] for r in answers}
            assert len(ids) == 1, f"round {round_no}: two runs {ids}"
            replayed = [r.headers.get("Idempotent-Replayed") for r in answers]
            assert replayed.count("true") == 1, replayed
            wait_state(pg_url, ids.pop(), ("completed",))
            rows = query(
                pg_url,
                "SELECT count(*) AS n FROM performance WHERE member_no = %s",
                (9100 + round_no,),
            )
            assert rows[0]["n"] == 1
    finally:
        for d in (a, b):
            if d.proc is not None and d.proc.poll() is None:
                d.terminate()


def test_an_older_file_held_back_by_a_dead_instance_does_not_replace_a_newer_one(
    tmp_path, pg_url, relay
):
    """a takes 20240601.csv and dies before importing it; b takes a newer file of the
    same name and imports it. When a starts again, its older file must not bring its
    rows back over the newer ones: it is recorded as ignored, naming b's run."""
    a_config = instance_config(tmp_path / "a", "a", pg_url, relay.port)
    b_config = instance_config(tmp_path / "b", "b", pg_url, relay.port)
    a, b = Daemon(a_config), Daemon(b_config)
    start_together(a, b)
    try:
        worker = import_process(a)
        pause(worker)  # a's door takes the file; its importer never gets to it
        old = mail([("20240601.csv", csv_bytes(["1,2024/06/01,10,old", "2,2024/06/01,20,old"]))])
        _, code, reply = send(a.smtp_port, old)
        assert code == 250
        [held] = queued_ids(reply)
        a.kill()
        gone(worker)
        assert wait_state(pg_url, held, ("queued",))["instance"] == "a"

        new = mail([("20240601.csv", csv_bytes(["1,2024/06/01,11,new"]))])
        _, code, reply = send(b.smtp_port, new)
        assert code == 250
        [newer] = queued_ids(reply)
        assert wait_state(pg_url, newer, ("completed",))["rows_imported"] == 1

        a = Daemon(a_config).start()
        run = wait_state(pg_url, held, ("ignored", "completed", "failed"))
        assert run["state"] == "ignored", run
        assert run["rows_imported"] == 0 and run["instance"] == "a"
        assert newer in run["message"] and "より新しいもの" in run["message"]
        assert '"run.superseded"' in run["said"]
        rows = query(pg_url, "SELECT member_no, note, _run_id FROM performance")
        assert rows == [{"member_no": 1, "note": "new", "_run_id": newer}]
        # Told to nobody: the partner's newer file is what stands, and its report went.
        time.sleep(1)
        assert f"<{held}.report@renkei>" not in [m["Message-ID"] for m in relay.messages]
    finally:
        for daemon in (a, b):
            if daemon.proc is not None and daemon.proc.poll() is None:
                daemon.terminate()
