"""A mail over 256 KiB is read by a process beside the daemon (handlers/mailreaders.py):
what it finds, a refusal included, crosses back whole; a reader killed is replaced; a
reader never outlives the daemon (and a Ctrl-C stops them quietly: test_ctrl_c)."""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import threading
import time
from email import policy
from pathlib import Path

import httpx
import pytest

from handlers.mailread import Automatic
from handlers.mailreaders import THREAD_BYTES, WORKERS
from tests.support import Daemon, children, mail, queued_ids, send, wait_for
from tests.test_durability import big_config, big_csv
from tests.test_import_process import alive

ROWS = 8000  # a mail of some 430 KB: read apart
NESTED_DEPTH = 1000
ADMIN = {"Authorization": "Bearer demo-admin"}

pytestmark = pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")


def large_mail(name: str = "20240516.csv", **headers: str) -> bytes:
    msg = mail([(name, big_csv(ROWS))])
    for header, value in headers.items():
        msg[header.replace("_", "-")] = value
    raw = msg.as_bytes(policy=policy.SMTP)
    assert len(raw) > THREAD_BYTES
    return raw


def nested_mail(data: bytes) -> bytes:
    """A mail whose CSV `data` lies in multiparts nested past what the parser walks,
    within the 2,000 delimiter lines the door reads."""
    inner = (
        'Content-Type: text/csv\r\nContent-Disposition: attachment; filename="20241210.csv"'
        "\r\n\r\n" + data.decode("cp932")
    )
    for depth in range(NESTED_DEPTH):
        inner = (
            f'Content-Type: multipart/mixed; boundary="b{depth}"\r\n\r\n'
            f"--b{depth}\r\n{inner}\r\n--b{depth}--\r\n"
        )
    head = "From: export@acme.example\r\nTo: acme@in.example.jp\r\nSubject: deep\r\n"
    return (head + inner).encode("cp932")


def readers(daemon: Daemon) -> list[int]:
    """The mail readers: the daemon's children that multiprocessing spawned."""
    return [
        pid for pid in children(daemon.proc.pid) if alive(pid) and b"spawn_main" in _cmdline(pid)
    ]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:  # ended since it was listed
        return b""


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    d = Daemon(big_config(tmp_path_factory.mktemp("readers"))).start()
    yield d
    assert d.terminate() == 0


def runs(daemon: Daemon) -> int:
    return daemon.query("SELECT count(*) FROM runs")[0][0]


def test_a_large_mail_is_read_by_a_reader_process_and_imported(daemon):
    _, code, reply = send(daemon.smtp_port, large_mail())
    assert code == 250, reply
    run = daemon.wait_run(queued_ids(reply)[0])
    assert (run["state"], run["rows_imported"]) == ("completed", ROWS)
    # Every reader starts with the first large mail, not with a later one beside others.
    wait_for(lambda: len(readers(daemon)) == WORKERS)


@pytest.mark.parametrize(
    ("raw", "code", "reply", "reason"),
    [
        (
            lambda: large_mail(Auto_Submitted="auto-replied"),
            250,
            "2.0.0 Ok: automatic mail, not imported",
            "automatic_mail",
        ),
        (
            lambda: large_mail().replace(
                b"From: export@acme.example", b"From: x@elsewhere.example"
            ),
            550,
            "5.7.1 Sender not allowed for this recipient",
            "sender_not_allowed",
        ),
        (
            lambda: nested_mail(big_csv(ROWS)),
            554,
            "5.6.0 Message parts nested too deeply to read",
            "too_nested",
        ),
    ],
    ids=["automatic", "header_from", "nested"],
)
def test_a_large_mail_refused_by_what_its_reader_found_makes_no_run(
    daemon, raw, code, reply, reason
):
    before = runs(daemon)
    _, got, said = send(daemon.smtp_port, raw())
    assert (got, said) == (code, reply)
    assert runs(daemon) == before
    refusals = httpx.get(f"{daemon.api}/api/v1/refusals", headers=ADMIN).json()["refusals"]
    assert refusals[0]["reason"] == reason, refusals[0]
    if reason == "sender_not_allowed":
        assert "attachments: 20240516.csv" in refusals[0]["detail"], refusals[0]


def test_a_reader_killed_is_replaced_and_the_next_mail_taken(daemon):
    _, code, reply = send(daemon.smtp_port, large_mail("20240517.csv"))
    assert code == 250, reply
    killed = wait_for(lambda: readers(daemon))
    for pid in killed:
        # The first one killed breaks the pool, whose manager thread then ends the
        # others itself (concurrent.futures' terminate_broken): one listed may be gone
        # before its turn (a clean-clone run met one).
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not any(alive(pid) for pid in killed))
    _, code, reply = send(daemon.smtp_port, large_mail("20240518.csv"))
    assert code == 250, reply
    run = daemon.wait_run(queued_ids(reply)[0])
    assert (run["state"], run["rows_imported"]) == ("completed", ROWS)
    assert set(readers(daemon)).isdisjoint(killed)
    assert "a mail reader process ended" in daemon.log.read_text(errors="replace")


def test_the_mail_readers_end_with_a_daemon_killed_outright(tmp_path):
    daemon = Daemon(big_config(tmp_path)).start()
    try:
        _, code, reply = send(daemon.smtp_port, large_mail())
        assert code == 250, reply
        left = wait_for(lambda: readers(daemon))
    finally:
        daemon.kill()
    wait_for(lambda: not any(alive(pid) for pid in left), timeout=30)


def test_what_makes_a_mail_automatic_crosses_back_from_a_reader_whole():
    """A reply to a report is answered as one, not as any automatic mail."""
    crossed = pickle.loads(pickle.dumps(Automatic("In-Reply-To: <r@x>", "reply_to_report")))
    assert (crossed.detail, crossed.reason) == ("In-Reply-To: <r@x>", "reply_to_report")


def test_a_ctrl_c_while_the_readers_start_leaves_them_reading_and_says_nothing(tmp_path):
    """The terminal's Ctrl-C reaches every process of the daemon's group, readers still
    loading their modules too: they must neither die nor print a traceback."""
    daemon = Daemon(big_config(tmp_path)).start()
    try:
        logged = daemon.log.stat().st_size
        hit: set[int] = set()
        sender = threading.Thread(
            target=lambda: hit.add(send(daemon.smtp_port, large_mail())[1]), daemon=True
        )
        sender.start()
        # From the moment each reader exists until it has read the mail.
        while sender.is_alive():
            for pid in readers(daemon):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGINT)
            time.sleep(0.001)
        assert hit == {250}
        assert len(readers(daemon)) == WORKERS
        said = daemon.log.read_bytes()[logged:].decode(errors="replace")
        assert "Traceback" not in said and "KeyboardInterrupt" not in said, said
        assert "a mail reader process ended" not in said, said
    finally:
        assert daemon.terminate() == 0
