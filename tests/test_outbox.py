"""The report outbox: each waiting item keeps its own next try, and a damaged one is set
aside rather than stop the mail after it.

A real Reporter on a real store and outbox folder; the relay is a real aiosmtpd server
(conftest's `relay`), which answers 451 while a test tells it to.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import os
import socket
import subprocess
import threading
import time
from collections.abc import AsyncIterator
from email.message import EmailMessage
from pathlib import Path

import psycopg
import pytest

from daemon.report.outbox import Reporter
from daemon.retention import sweep
from daemon.settings.loading import load
from daemon.store.open import open_store
from daemon.store.sqlite import SqliteStore
from tests.support import Relay, account, write_config

ADMIN = "admin@acme.example"


def alert(number: int) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "renkei@example.jp", ADMIN, f"alert {number}"
    msg.set_content("body")
    return msg


@contextlib.asynccontextmanager
async def reporter_of(
    folder: Path, relay_port: int, timeout: int = 5, max_retry: float = 1, pg_url: str = ""
) -> AsyncIterator[Reporter]:
    """A reporter of its own store and outbox in `folder`, its relay at `relay_port`;
    with `pg_url`, of that PostgreSQL store and its shared outbox."""
    extra = f'[store]\nurl = "{pg_url}"\n' if pg_url else ""
    config = write_config(folder, account("acme"), extra=extra, relay_port=relay_port)
    text = config.read_text().replace("timeout = 5", f"timeout = {timeout}")
    config.write_text(text.replace("max_retry_seconds = 1", f"max_retry_seconds = {max_retry}"))
    settings = load(config)
    store = (
        await open_store(settings)
        if pg_url
        else await SqliteStore.open(settings.data_dir / "renkei.db")
    )
    try:
        yield Reporter(lambda: settings, store)
    finally:
        await store.close()


@pytest.fixture
async def reporter(tmp_path, relay):
    async with reporter_of(tmp_path, relay.port) as made:
        yield made


async def queued_alerts(reporter: Reporter, count: int) -> list[str]:
    ids = [f"alert-{n}" for n in range(count)]
    for number, item_id in enumerate(ids):
        await reporter.queue_mail(item_id, alert(number), [ADMIN])
    return ids


def envelope(reporter: Reporter, item_id: str) -> dict:
    return json.loads((reporter.outbox / f"{item_id}.json").read_bytes())


async def attempts_and_next_try(reporter: Reporter, item_id: str) -> tuple[int, float]:
    """An item's tries so far and its next, from the folder's envelope or the shared
    outbox's row."""
    if not reporter.store.shared:
        kept = envelope(reporter, item_id)
        return kept["attempts"], kept["next_try"]
    sql = "SELECT attempts, next_try FROM mail_outbox WHERE item_id = ?"
    [(attempts, next_try)] = await reporter.store.writer.execute_fetchall(sql, (item_id,))
    return attempts, next_try


async def waiting(reporter: Reporter, ids: list[str]) -> list[str]:
    """Those of `ids` still in the outbox (the folder, or the shared one)."""
    if not reporter.store.shared:
        return [i for i in ids if (reporter.outbox / f"{i}.json").exists()]
    rows = await reporter.store.writer.execute_fetchall("SELECT item_id FROM mail_outbox")
    held = {item_id for (item_id,) in rows}
    return [i for i in ids if i in held]


async def test_an_item_tried_elsewhere_waits_for_the_try_it_was_given(reporter, relay):
    relay.refuse[ADMIN] = "451 4.3.0 try again later"
    ids = [f"alert-{n}" for n in range(3)]
    for number, item_id in enumerate(ids):
        await reporter.queue_mail(item_id, alert(number), [ADMIN])
    await reporter.flush()
    assert [envelope(reporter, i)["attempts"] for i in ids] == [1, 1, 1]
    # Another process (a `renkei import` beside the daemon) tried the first again and
    # put its next try an hour away: the daemon's reporter, which read the envelope
    # before, goes by what it says now.
    later = envelope(reporter, ids[0]) | {"attempts": 2, "next_try": time.time() + 3600}
    (reporter.outbox / f"{ids[0]}.json").write_text(json.dumps(later))
    del relay.refuse[ADMIN]
    deadline = time.monotonic() + 15
    while any((reporter.outbox / f"{i}.json").exists() for i in ids[1:]):
        assert time.monotonic() < deadline, "the waiting reports were not sent"
        time.sleep(0.2)
        await reporter.flush()
    assert sorted(m["Subject"] for m in relay.for_recipient(ADMIN)) == ["alert 1", "alert 2"]
    assert envelope(reporter, ids[0])["attempts"] == 2
    # Due once more (as that process would have left it): it goes.
    due = envelope(reporter, ids[0]) | {"next_try": 0.0}
    (reporter.outbox / f"{ids[0]}.json").write_text(json.dumps(due))
    await reporter.flush()
    assert not (reporter.outbox / f"{ids[0]}.json").exists()
    assert len(relay.for_recipient(ADMIN)) == 3


async def test_a_damaged_item_is_set_aside_and_the_mail_after_it_goes(reporter, relay):
    ids = [f"alert-{n}" for n in range(4)]
    for number, item_id in enumerate(ids):
        await reporter.queue_mail(item_id, alert(number), [ADMIN])
    outbox = reporter.outbox
    (outbox / f"{ids[0]}.json").write_bytes(b"{not json")
    (outbox / f"{ids[1]}.json").write_text(json.dumps({"recipients": [ADMIN]}))
    (outbox / f"{ids[2]}.eml").unlink()
    await reporter.flush()
    assert [m["Subject"] for m in relay.for_recipient(ADMIN)] == ["alert 3"]
    assert sorted(p.name for p in outbox.iterdir() if p.is_file()) == []
    failed = sorted(p.name for p in (outbox / "failed").iterdir())
    assert failed == sorted(
        [f"{ids[0]}.eml", f"{ids[0]}.json", f"{ids[1]}.eml", f"{ids[1]}.json", f"{ids[2]}.json"]
    )
    assert (outbox / "failed" / f"{ids[0]}.json").read_bytes() == b"{not json"
    await reporter.flush()  # nothing left to try, nothing raised
    # Past retention, the sweep removes them as it removes mail refused for good, the
    # envelope that lost its mail too.
    settings = reporter.settings
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=settings.daemon.retention_days + 1)
    swept = await sweep(settings, reporter.store, later)
    assert swept.mails == 3 and list((outbox / "failed").iterdir()) == []


async def test_a_report_stranded_pending_goes_without_waiting_for_a_start(reporter, relay):
    """Its run committed, then the import process died (or the disk was full) before
    the report was queued: it once waited for the daemon's next start."""
    from daemon.spool.queue import Meta

    store = reporter.store
    old = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)).isoformat(timespec="milliseconds")
    young = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
    for run_id, finished in (("20240516T000000000000-aaaaaa", old), ("young", young)):
        await store.add_run(run_id, Meta("acme", "mail", "export@acme.example", "20240516.csv"))
        await store.update_run(
            run_id, state="failed", finished_at=finished, report_state="pending", message="x"
        )
    serving = asyncio.create_task(reporter.serve())
    try:
        deadline = time.monotonic() + 15
        while not any("ops@acme.example" in to for _, to in relay.envelopes):
            assert time.monotonic() < deadline, "the stranded report was not sent"
            await asyncio.sleep(0.1)
    finally:
        serving.cancel()
    [report] = relay.for_recipient("ops@acme.example")
    assert "20240516.csv" in report["Subject"]
    # One finished just now is the import process's to queue.
    assert (await store.get_run("young"))["report_state"] == "pending"


async def test_a_report_sent_while_the_store_is_busy_goes_once(tmp_path, relay, monkeypatch):
    """The relay took it, then marking the run `sent` met a database held by another
    writer past its timeout: the item stayed in the outbox and went again."""
    import contextlib
    import sqlite3

    from daemon.spool.queue import Meta

    monkeypatch.setenv("RENKEI_BUSY_TIMEOUT_MS", "200")
    settings = load(write_config(tmp_path, account("acme"), relay_port=relay.port))
    store = await SqliteStore.open(settings.data_dir / "renkei.db")
    reporter = Reporter(lambda: settings, store)
    try:
        await store.add_run("r1", Meta("acme", "mail", "export@acme.example", "20240516.csv"))
        now = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
        await store.update_run("r1", state="failed", finished_at=now, report_state="pending")
        await reporter.queue_run("r1")
        with contextlib.closing(sqlite3.connect(settings.data_dir / "renkei.db")) as holder:
            holder.execute("BEGIN IMMEDIATE")  # another writer holds the database
            await reporter.flush()
            holder.rollback()
        await reporter.flush()
        assert len([to for _, to in relay.envelopes if "ops@acme.example" in to]) == 1
        assert not list(reporter.outbox.glob("r1.*"))
    finally:
        await store.close()


def test_the_start_leaves_a_run_finished_after_it_to_the_import_process(tmp_path, relay):
    """The start's recovery queues the reports of runs that finished before the daemon
    started; a run the import process finishes meanwhile is its own to report. Both
    writing one run's report at once, the second's rename found no file and the daemon
    exited "cannot start" (a clean-clone CI run met it)."""
    import asyncio

    from daemon.spool.queue import Meta
    from tests.support import Daemon

    config = write_config(tmp_path, account("acme"), relay_port=relay.port)
    settings = load(config)
    now = dt.datetime.now(dt.UTC)
    finished = {
        "20240516T000000000000-aaaaaa": now - dt.timedelta(minutes=5),  # before a crash
        "20240517T000000000000-bbbbbb": now + dt.timedelta(hours=1),  # after this start
    }

    async def recorded() -> None:
        store = await SqliteStore.open(settings.data_dir / "renkei.db")
        try:
            for run_id, at in finished.items():
                meta = Meta("acme", "mail", "export@acme.example", f"{run_id[:8]}.csv")
                await store.add_run(run_id, meta)
                await store.update_run(
                    run_id,
                    state="failed",
                    finished_at=at.isoformat(timespec="milliseconds"),
                    report_state="pending",
                    message="x",
                )
        finally:
            await store.close()

    asyncio.run(recorded())
    daemon = Daemon(config).start()
    try:
        assert relay.for_recipient("ops@acme.example"), "the stranded report was not sent"
        time.sleep(0.5)  # a second report would have gone with the first
        [report] = relay.for_recipient("ops@acme.example")
        assert "20240516.csv" in report["Subject"]
        assert daemon.run("20240517T000000000000-bbbbbb")["report_state"] == "pending"
    finally:
        daemon.terminate()


async def test_two_writers_of_one_item_leave_it_whole(reporter):
    """Two processes may queue one run's report at once (the reporter's look for a
    stranded report, an import process late to queue it): neither may fail on the
    other's temporary file, and the item is left whole."""
    data = alert(1).as_bytes()
    outbox = reporter.outbox
    outbox.mkdir(parents=True, exist_ok=True)
    failures: list[BaseException] = []

    def write(rounds: int) -> None:
        for _ in range(rounds):
            try:
                reporter._put("run-1", data, [ADMIN])
            except OSError as exc:
                failures.append(exc)

    writers = [threading.Thread(target=write, args=(200,)) for _ in range(2)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    assert failures == []
    assert (outbox / "run-1.eml").read_bytes() == data
    assert envelope(reporter, "run-1")["recipients"] == [ADMIN]
    assert sorted(p.name for p in outbox.iterdir() if p.is_file()) == ["run-1.eml", "run-1.json"]


async def test_a_relay_that_cannot_be_reached_is_asked_by_one_report_a_pause(
    reporter, relay, caplog
):
    """A relay down would refuse every waiting report alike: one asks, the others wait
    untried for `retry_seconds` (0.5 here), and go once the relay is back. One log
    line a pause (the report's own retry line came beside the rest's)."""
    relay.stop()
    ids = await queued_alerts(reporter, 5)
    before = time.time()
    with caplog.at_level(logging.INFO, logger="daemon.report.outbox"):
        due = await reporter.flush()
    warned = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warned) == 1 and "cannot take mail now" in warned[0].getMessage()
    assert [envelope(reporter, i)["attempts"] for i in ids] == [1, 0, 0, 0, 0]
    assert due >= before + 0.45
    # Asked again before the pause is over: nothing is tried.
    assert await reporter.flush() == due
    assert [envelope(reporter, i)["attempts"] for i in ids] == [1, 0, 0, 0, 0]
    relay.start()
    deadline = time.monotonic() + 15
    while await waiting(reporter, ids):
        assert time.monotonic() < deadline, "the waiting reports were not sent"
        time.sleep(0.2)
        await reporter.flush()
    assert sorted(m["Subject"] for m in relay.for_recipient(ADMIN)) == [
        f"alert {n}" for n in range(5)
    ]


@pytest.mark.parametrize("shared", [False, True], ids=["folder", "shared"])
async def test_once_the_relay_is_back_every_waiting_report_goes(tmp_path, relay, request, shared):
    """While the relay is down the oldest report's own next try grows (up to
    `max_retry_seconds`, 60 here); once the relay takes a mail again every waiting
    report goes at once, the oldest too, not at its own next try."""
    pg_url = request.getfixturevalue("pg_url") if shared else ""
    relay.stop()
    async with reporter_of(tmp_path, relay.port, max_retry=60, pg_url=pg_url) as reporter:
        ids = await queued_alerts(reporter, 3)
        deadline = time.monotonic() + 30
        # Each pause (0.5 s) one due report asks; the oldest is due again after 0.5,
        # 1, 2 s, …: four tries put its next one 4 s after its last.
        while (await attempts_and_next_try(reporter, ids[0]))[0] < 4:
            assert time.monotonic() < deadline, "the oldest report was not tried four times"
            await reporter.flush()
            await asyncio.sleep(0.1)
        _, oldest_next = await attempts_and_next_try(reporter, ids[0])
        assert oldest_next > time.time() + 2
        relay.start()
        while left := await waiting(reporter, ids):
            assert time.time() < oldest_next - 0.5, f"{left} waited for their own next try"
            await reporter.flush()
            await asyncio.sleep(0.1)
    assert sorted(m["Subject"] for m in relay.for_recipient(ADMIN)) == [
        f"alert {n}" for n in range(3)
    ]


@pytest.mark.parametrize(
    ("shared", "new_mail"),
    [(False, False), (False, True), (True, False)],
    ids=["folder", "folder-new-mail", "shared"],
)
async def test_reports_an_outage_left_go_at_once_after_a_restart(
    tmp_path, relay, request, shared, new_mail
):
    """The catch-up was known only to the process that saw the relay down: after a
    restart (an upgrade at the end of an outage) each report waited for its own grown
    next try, up to max_retry_seconds; with nothing new to send nothing even asked,
    and on a shared outbox the catch-up never came."""
    pg_url = request.getfixturevalue("pg_url") if shared else ""
    relay.stop()
    async with reporter_of(tmp_path, relay.port, max_retry=600, pg_url=pg_url) as reporter:
        ids = await queued_alerts(reporter, 3)
        await reporter.flush()  # the oldest asks, and the relay rests
        for item_id in ids:  # as a long outage leaves them
            if shared:
                sql = "UPDATE mail_outbox SET attempts = 8, next_try = ? WHERE item_id = ?"
                await reporter.store.writer.execute(sql, (time.time() + 600, item_id))
            else:
                kept = envelope(reporter, item_id) | {"attempts": 8, "next_try": time.time() + 600}
                (reporter.outbox / f"{item_id}.json").write_text(json.dumps(kept))
    relay.start()
    async with reporter_of(tmp_path, relay.port, max_retry=600, pg_url=pg_url) as reporter:
        if new_mail:
            await reporter.queue_mail("after-start", alert(9), [ADMIN])
            ids.append("after-start")
        deadline = time.monotonic() + 10
        while left := await waiting(reporter, ids):
            assert time.monotonic() < deadline, f"{left} waited for their own next try"
            await reporter.flush()
            await asyncio.sleep(0.1)
    subjects = sorted(m["Subject"] for m in relay.for_recipient(ADMIN))
    assert subjects == ["alert 0", "alert 1", "alert 2"] + (["alert 9"] if new_mail else [])


async def test_a_relay_that_never_greets_costs_one_timeout_a_pause(tmp_path):
    """A relay that takes the connection and says nothing: each try waits out
    `report.timeout`; one try a pass, not one for each waiting report."""
    with socket.create_server(("127.0.0.1", 0)) as silent:
        async with reporter_of(tmp_path, silent.getsockname()[1], timeout=1) as reporter:
            ids = await queued_alerts(reporter, 4)
            await reporter.flush()
            attempts = [envelope(reporter, i)["attempts"] for i in ids]
            assert attempts == [1, 0, 0, 0], attempts


async def test_a_greylisted_report_waits_its_own_try_after_a_restart(tmp_path, relay):
    """A report waiting only for a recipient refused for now (a 4xx while the others
    took it) was taken for one an outage left: tried at the start and again at once,
    its backoff skipped and doubled."""
    relay.refuse["grey@acme.example"] = "450 4.2.0 greylisted"
    async with reporter_of(tmp_path, relay.port, max_retry=600) as reporter:
        await reporter.queue_mail("grey", alert(0), [ADMIN, "grey@acme.example"])
        await reporter.flush()
        assert envelope(reporter, "grey")["recipients"] == ["grey@acme.example"]
        before = relay.rcpt_attempts.count("grey@acme.example")
    async with reporter_of(tmp_path, relay.port, max_retry=600) as reporter:
        await reporter.flush()
        await reporter.flush()
        assert relay.rcpt_attempts.count("grey@acme.example") == before
        assert envelope(reporter, "grey")["attempts"] == 1


async def test_a_commands_own_report_is_all_it_tries_on_a_shared_outbox(tmp_path, pg_url):
    """`renkei import` on a shared store flushed the whole outbox: with a relay that
    never greets it waited out report.timeout for every waiting report, minutes for a
    day's backlog, and tried other runs' reports."""
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        async with reporter_of(tmp_path, port, timeout=1, pg_url=pg_url) as reporter:
            ids = await queued_alerts(reporter, 3)
            await reporter.queue_mail("own", alert(9), [ADMIN])
            attempt = await reporter.send_now("own")
            assert attempt is not None and attempt.outcome == "retry", attempt
            assert [(await attempts_and_next_try(reporter, i))[0] for i in ids] == [0, 0, 0]
            assert (await attempts_and_next_try(reporter, "own"))[0] == 1


async def test_a_temporary_file_a_dead_writer_left_is_cleared_and_no_other(reporter):
    """A writer killed between its write and its rename leaves `.NAME.PID-HEX.tmp`
    (durable.put_whole), which no later write takes over: the outbox's look clears it
    once its process is gone and it is old. A live writer's, or a fresh one, stays."""
    dead = _dead_pid()
    old = time.time() - 3600
    names = {
        "dead_old": f".alert-1.json.{dead}-0123abcd.tmp",
        "dead_fresh": f".alert-2.json.{dead}-0123abcd.tmp",
        "alive_old": f".alert-3.eml.{os.getpid()}-0123abcd.tmp",
        "other": ".notes.tmp",
    }
    for key, name in names.items():
        path = reporter.outbox / name
        path.write_bytes(b"{}")
        if key != "dead_fresh":
            os.utime(path, (old, old))
    await reporter.flush()
    left = {p.name for p in reporter.outbox.iterdir() if p.is_file()}
    assert left == {names["dead_fresh"], names["alive_old"], names["other"]}


def _dead_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


async def test_a_relay_that_greets_with_421_rests_and_is_said_by_its_own_answer(tmp_path):
    """A relay busy from the greeting (421) refuses renkei, not a mail: the waiting
    reports rest, and what the overview shows is the relay's own answer."""
    with socket.create_server(("127.0.0.1", 0)) as busy:
        busy.settimeout(10)

        def greet() -> None:
            with contextlib.suppress(OSError):
                while True:
                    conn, _ = busy.accept()
                    with conn:
                        conn.sendall(b"421 4.3.2 too busy, come back later\r\n")

        threading.Thread(target=greet, daemon=True).start()
        async with reporter_of(tmp_path, busy.getsockname()[1]) as reporter:
            ids = await queued_alerts(reporter, 3)
            await reporter.flush()
            assert [envelope(reporter, i)["attempts"] for i in ids] == [1, 0, 0]
            down = reporter.relay_down
            assert down is not None and down.said is None
            assert "421" in down.answer and "too busy" in down.answer, down


@pytest.mark.parametrize("shared", [False, True], ids=["folder", "shared"])
async def test_a_recipient_refused_for_now_gets_the_report_later_and_alone(
    tmp_path, relay, request, shared
):
    """A 4xx to one recipient (greylisted) while the relay took the mail for the
    other: the item was settled as sent and that recipient never had the report."""
    from daemon.spool.queue import Meta

    grey = "grey@acme.example"
    pg_url = request.getfixturevalue("pg_url") if shared else ""
    relay.refuse[grey] = "450 4.2.0 greylisted, try again later"
    async with reporter_of(tmp_path, relay.port, pg_url=pg_url) as reporter:
        store = reporter.store
        run_id = f"20240516T000000000000-{'bbbbbb' if shared else 'aaaaaa'}"
        await store.add_run(run_id, Meta("acme", "mail", "export@acme.example", "20240516.csv"))
        now = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
        await store.update_run(run_id, state="failed", finished_at=now, report_state="pending")
        msg = alert(0)
        await reporter.queue_mail(run_id, msg, ["ops@acme.example", grey])
        await reporter.flush()
        assert [to for _, to in relay.envelopes] == [["ops@acme.example"]]
        assert (await store.get_run(run_id))["report_state"] == "sent"
        assert await waiting(reporter, [run_id]) == [run_id]
        del relay.refuse[grey]
        deadline = time.monotonic() + 15
        while await waiting(reporter, [run_id]):
            assert time.monotonic() < deadline, "the refused recipient never had the report"
            await asyncio.sleep(0.2)
            await reporter.flush()
        assert [to for _, to in relay.envelopes] == [["ops@acme.example"], [grey]]
        assert (await store.get_run(run_id))["report_state"] == "sent"


async def test_a_recipient_refused_for_now_then_for_good_leaves_the_report_sent(reporter, relay):
    from daemon.spool.queue import Meta

    grey = "grey@acme.example"
    store = reporter.store
    run_id = "20240516T000000000000-cccccc"
    await store.add_run(run_id, Meta("acme", "mail", "export@acme.example", "20240516.csv"))
    relay.refuse[grey] = "450 4.2.0 greylisted"
    await reporter.queue_mail(run_id, alert(0), ["ops@acme.example", grey])
    await reporter.flush()
    relay.refuse[grey] = "550 5.1.1 no such user"
    deadline = time.monotonic() + 15
    while await waiting(reporter, [run_id]):
        assert time.monotonic() < deadline, "the refusal was never taken as final"
        await asyncio.sleep(0.2)
        await reporter.flush()
    # The other recipient has it: the run's report is sent, the refusal kept aside.
    assert (await store.get_run(run_id))["report_state"] == "sent"
    assert (reporter.outbox / "failed" / f"{run_id}.json").is_file()
    assert [to for _, to in relay.envelopes] == [["ops@acme.example"]]


async def _sending(reporter: Reporter, relay: Relay) -> asyncio.Task:
    """A flush of the reporter, once the relay holds its mail and has yet to answer."""
    flushing = asyncio.create_task(reporter.flush())
    for _ in range(300):
        if relay.messages:
            return flushing
        await asyncio.sleep(0.01)
    raise AssertionError("the relay never got the mail")


class _SlowRelay(Relay):
    """A relay that keeps each mail at once and answers its DATA `delay` seconds later,
    as a relay that scans what it takes does."""

    delay = 1.5

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: ANN001
        reply = await super().handle_DATA(server, session, envelope)
        await asyncio.sleep(self.delay)
        return reply


async def test_a_stop_while_the_relay_answers_waits_for_it_and_sends_no_second_copy(tmp_path):
    """The master's stop cancelled the reporter inside the relay's DATA answer:
    aiosmtplib waited for the answer all the same (the relay took the mail), the item
    was never marked sent, and the next start sent the mail again."""
    relay = _SlowRelay()
    relay.start()
    try:
        async with reporter_of(tmp_path, relay.port) as reporter:
            [item_id] = await queued_alerts(reporter, 1)
            flushing = await _sending(reporter, relay)
            flushing.cancel()  # the stop, while the relay has not answered yet
            with pytest.raises(asyncio.CancelledError):
                await flushing
            # Marked as taken before the stop went on (its removal is the next start's).
            assert "sent" in envelope(reporter, item_id)
        async with reporter_of(tmp_path, relay.port) as started_again:
            await started_again.flush()
        assert len(relay.messages) == 1
    finally:
        relay.stop()


async def test_a_report_queued_while_the_reporter_sends_goes_without_waiting(tmp_path, monkeypatch):
    """The reporter cleared its wake-up after a pass: a report queued during the pass
    (an admin note beside a run's report) waited for the next rescan."""
    monkeypatch.setattr("daemon.report.outbox._RESCAN_SECONDS", 3600.0)
    monkeypatch.setattr("daemon.report.outbox._STRANDED_SECONDS", 3600.0)
    relay = _SlowRelay()
    relay.delay = 0.5
    relay.start()
    try:
        async with reporter_of(tmp_path, relay.port) as reporter:
            serving = asyncio.create_task(reporter.serve())
            try:
                await reporter.queue_mail("first", alert(1), [ADMIN])
                for _ in range(300):
                    if relay.messages:
                        break
                    await asyncio.sleep(0.01)
                await reporter.queue_mail("second", alert(2), [ADMIN])  # during the pass
                for _ in range(1000):
                    if len(relay.messages) == 2:
                        break
                    await asyncio.sleep(0.01)
                assert len(relay.messages) == 2, "the second report waited for the rescan"
            finally:
                serving.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await serving
    finally:
        relay.stop()


async def test_a_shared_claim_that_dies_after_the_relay_took_the_mail_sends_no_second_copy(
    tmp_path, pg_url
):
    """The claim of a shared item is a transaction held while the relay answers: a
    session ended meanwhile (a restart, idle_in_transaction_session_timeout) rolled it
    back, and the item went again, under such a timeout in a loop, each instance in
    turn."""
    relay = _SlowRelay()
    relay.delay = 1.0
    relay.start()
    try:
        async with reporter_of(tmp_path, relay.port, pg_url=pg_url) as reporter:
            [item_id] = await queued_alerts(reporter, 1)
            flushing = await _sending(reporter, relay)
            with psycopg.connect(pg_url, autocommit=True) as admin:
                ended = admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE state = 'idle in transaction' AND datname = current_database()"
                ).fetchall()
            assert ended, "no claim held while the relay answered"
            with contextlib.suppress(Exception):
                await flushing  # the dead session's trouble
            for _ in range(3):
                with contextlib.suppress(Exception):
                    await reporter.flush()
            assert await waiting(reporter, [item_id]) == []
        assert len(relay.messages) == 1
    finally:
        relay.stop()
