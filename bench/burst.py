"""Imports beside the doors: event-loop lag and the SMTP dot-to-250 time while a burst
of 50 mails of 10,000 rows is imported, and how long the burst takes against one
`renkei import` of the same 500,000 rows.

The lag is read as the round trip of a NOOP on an open SMTP session, sent every
20 ms (the loop answers it only when it is free); the dot-to-250 time by a probe mail
whose final "." alone is timed. Both are measured idle first, then over the burst: the
lag from the first mail sent to the last run committed (its two spans, while the mails
arrive and while they are imported, printed beside), the dot-to-250 once all are in.
The burst's time runs from the first mail sent to the `finished_at` of its last run, the
time the run's commit recorded (the probes, which take half a second each, only say
when to look).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import multiprocessing
import os
import shutil
import smtplib
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from pathlib import Path
from statistics import quantiles

import httpx

from bench.doors import Reference
from bench.figures import Figure, Limit
from bench.layout import PERFORMANCE

HERE = Path(__file__).resolve().parent.parent
MAILS = 50
ROWS = 10_000
SENDER, RECIPIENT = "export@acme.example", "acme@in.example.jp"
CONFIG = """
[daemon]
data_dir = "{data}"
min_free_bytes = 0
[smtp]
listen = "127.0.0.1:{smtp}"
max_message_bytes = 20000000
max_connections = 100
max_connections_per_address = 100
[ftp]
enabled = false
[api]
listen = "127.0.0.1:{api}"
[report]
relay = "127.0.0.1:1"
[limits]
max_rows = 1000000
max_bytes = 1073741824
{layout}
[accounts.acme]
layout = "performance"
# Like the bare references, which authenticate no sender (no DNS in the measure).
sender_auth = "off"
report = "never"
[accounts.acme.mail]
address = "{rcpt}"
allowed_senders = ["{sender}"]
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def config_text(folder: Path, smtp: int, api: int) -> str:
    return CONFIG.format(
        layout=PERFORMANCE,
        data=folder / "var",
        smtp=smtp,
        api=api,
        rcpt=RECIPIENT,
        sender=SENDER,
    )


def rows(start: int, count: int) -> list[str]:
    return [
        f"{i},2024/05/16,{i * 37 % 100000},株式会社髙橋 {i}" for i in range(start, start + count)
    ]


def csv_data(lines: list[str]) -> bytes:
    return ("\r\n".join(["member_no,date,sales_amount,note", *lines]) + "\r\n").encode("cp932")


def message(name: str, data: bytes) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = SENDER, RECIPIENT, name
    msg.set_content("burst")
    msg.add_attachment(data, maintype="text", subtype="csv", filename=name)
    return msg.as_bytes(policy=SMTP_POLICY)


class Renkei:
    """`renkei serve` on fresh ports and a fresh data folder."""

    def __init__(self, work: Path) -> None:
        self.folder = Path(tempfile.mkdtemp(dir=work))
        self.smtp, self.api = free_port(), free_port()
        self.config = self.folder / "renkei.toml"
        self.config.write_text(config_text(self.folder, self.smtp, self.api), encoding="utf-8")
        renkei = str(Path(sys.executable).with_name("renkei"))
        log = open(self.folder / "daemon.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [renkei, "serve", "--config", str(self.config)], stdout=log, stderr=log, cwd=HERE
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{self.api}/healthz").status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError("renkei did not start")

    def last_finished(self, names: list[str]) -> float:
        """When the last completed run of these file names finished, as a Unix time."""
        db = self.folder / "var" / "renkei.db"
        marks = ", ".join("?" * len(names))
        query = (
            f"SELECT max(finished_at) FROM runs WHERE state = 'completed' AND filename IN ({marks})"
        )
        with contextlib.closing(sqlite3.connect(db, timeout=30)) as con:
            [(last,)] = con.execute(query, names).fetchall()
        return dt.datetime.fromisoformat(last).timestamp()

    def completed(self) -> int:
        db = self.folder / "var" / "renkei.db"
        with contextlib.closing(sqlite3.connect(db, timeout=30)) as con:
            return con.execute("SELECT count(*) FROM runs WHERE state = 'completed'").fetchone()[0]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


class LagProbe(threading.Thread):
    """NOOP round trips on one open session, every 20 ms, until stopped."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.session = smtplib.SMTP("127.0.0.1", port, timeout=60)
        self.session.ehlo()
        self.samples: list[float] = []
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            start = time.perf_counter()
            self.session.noop()
            self.samples.append((time.perf_counter() - start) * 1000)
            time.sleep(0.02)

    def finish(self) -> list[float]:
        self.halt.set()
        self.join()
        with contextlib.suppress(smtplib.SMTPException, OSError):
            self.session.quit()
        return self.samples


def dot_to_250(port: int, data: bytes) -> float:
    """Milliseconds from the final "." to the 250, the message itself sent before."""
    with smtplib.SMTP("127.0.0.1", port, timeout=120) as s:
        s.ehlo()
        s.mail(SENDER)
        s.rcpt(RECIPIENT)
        code, _ = s.docmd("DATA")
        assert code == 354, code
        s.send(quoted(data))
        # Let the server read the body first: the figure is the "." to the 250 alone.
        time.sleep(0.5)
        start = time.perf_counter()
        s.send(b"\r\n.\r\n")
        code, reply = s.getreply()
        elapsed = (time.perf_counter() - start) * 1000
        assert code == 250, reply
        return elapsed


def quoted(data: bytes) -> bytes:
    """`data` as DATA carries it, before its final dot line: dots doubled, CRLF line
    ends (smtplib's quoting)."""
    return smtplib.quotedata(data.decode("ascii", "surrogateescape")).encode(
        "ascii", "surrogateescape"
    )


def send_one(port: int, wire: bytes) -> None:
    """One session sending one mail already quoted for DATA (quoted())."""
    with smtplib.SMTP("127.0.0.1", port, timeout=300) as s:
        s.ehlo()
        s.mail(SENDER)
        s.rcpt(RECIPIENT)
        code, reply = s.docmd("DATA")
        if code != 354:
            raise smtplib.SMTPDataError(code, reply)
        s.send(wire + (b"" if wire.endswith(b"\r\n") else b"\r\n") + b".\r\n")
        code, reply = s.getreply()
        if code != 250:
            raise smtplib.SMTPDataError(code, reply)


def send_all(port: int, mails: list[bytes], said: multiprocessing.Queue) -> None:
    """Child: send every mail at once, one session each; put the Unix time the first
    was started, then "sent" (or the error) when all have their 250. The mails are
    quoted for DATA before: smtplib's quoting, two regular expressions over each
    mail, would otherwise take the cores the server is measured on."""
    wires = [quoted(mail) for mail in mails]
    said.put(time.time())
    try:
        with ThreadPoolExecutor(len(wires)) as pool:
            list(pool.map(lambda w: send_one(port, w), wires))
    except Exception as exc:  # noqa: BLE001 - said to the parent, which raises
        said.put(repr(exc))
        raise
    said.put("sent")


def send_burst(port: int, mails: list[bytes], lag: LagProbe) -> tuple[float, list[float]]:
    """Send `mails` at once to `port`; the Unix time the first was started and the lag
    samples taken until every one had its 250.

    The senders run in a process of their own: 50 threads sending beside the probe's
    would hold its GIL, and the probe would time its own process's contention (20 to
    60 ms of its round trips) rather than the server's loop."""
    context = multiprocessing.get_context("spawn")
    said: multiprocessing.Queue = context.Queue()
    senders = context.Process(target=send_all, args=(port, mails, said))
    senders.start()
    start = said.get(timeout=120)
    lag.samples.clear()
    senders.join()
    if said.get(timeout=60) != "sent":
        raise RuntimeError("the burst's mails were not all sent")
    arriving = list(lag.samples)
    lag.samples.clear()
    return start, arriving


def bare_arrival(work: Path, mails: list[bytes]) -> float:
    """The lag p99 while bare aiosmtpd, fsyncing each message, takes the same mails."""
    server = Reference("SMTP", work, set())
    try:
        server.ready()
        port = server.target("SMTP").port
        lag = LagProbe(port)
        lag.start()
        time.sleep(0.5)
        _, arriving = send_burst(port, mails, lag)
        lag.finish()
    finally:
        server.stop()
    return p99(arriving)


def p99(samples: list[float]) -> float:
    if len(samples) < 2:
        return max(samples, default=0.0)
    return quantiles(samples, n=100, method="inclusive")[98]


def measure_round(
    work: Path, mails: list[bytes], names: list[str], probe: bytes
) -> dict[str, float]:
    daemon = Renkei(work)
    try:
        lag = LagProbe(daemon.smtp)
        lag.start()
        idle_dots = [dot_to_250(daemon.smtp, probe) for _ in range(5)]
        time.sleep(1)
        idle_lag = list(lag.samples)
        lag.samples.clear()
        start, arriving = send_burst(daemon.smtp, mails, lag)
        # Until here the doors took the mails; what follows is the imports beside them.
        busy_dots = []
        # Idle probes made 5 runs already; the burst's runs follow them.
        while daemon.completed() < len(mails) + len(idle_dots):
            busy_dots.append(dot_to_250(daemon.smtp, probe))
            time.sleep(0.3)
        burst_seconds = daemon.last_finished(names) - start
        busy_lag = lag.finish()
    finally:
        daemon.stop()
    return {
        "idle_lag_p99": p99(idle_lag),
        "arrival_lag_p99": p99(arriving),
        "import_lag_p99": p99(busy_lag),
        "import_lag_max": max(busy_lag),
        "lag_p99": p99(arriving + busy_lag),
        "lag_max": max(arriving + busy_lag),
        "idle_dot": sorted(idle_dots)[len(idle_dots) // 2],
        "busy_dot": sorted(busy_dots)[len(busy_dots) // 2] if busy_dots else 0.0,
        "burst_seconds": burst_seconds,
    }


def import_seconds(work: Path, source: Path) -> float:
    """One `renkei import` of the burst's rows as one file, start-up included."""
    folder = Path(tempfile.mkdtemp(dir=work))
    config = folder / "renkei.toml"
    config.write_text(config_text(folder, free_port(), free_port()), encoding="utf-8")
    renkei = str(Path(sys.executable).with_name("renkei"))
    os.sync()
    start = time.perf_counter()
    subprocess.run(
        [renkei, "import", str(source), "--account", "acme", "--config", str(config)],
        check=True, capture_output=True, cwd=HERE,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    shutil.rmtree(folder, ignore_errors=True)
    return seconds


def run(rounds: int = 3, quick: bool = False) -> list[Figure | Limit]:
    mails_count, rows_each = (10, 2000) if quick else (MAILS, ROWS)
    work = Path(tempfile.mkdtemp(prefix="renkei-burst-"))
    try:
        days = [dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(mails_count)]
        names = [f"{day:%Y%m%d}.csv" for day in days]
        mails = [
            message(name, csv_data(rows(i * rows_each, rows_each))) for i, name in enumerate(names)
        ]
        probe = message("20231231.csv", csv_data(rows(0, rows_each)))
        whole = work / "20240516.csv"
        whole.write_bytes(csv_data(rows(0, mails_count * rows_each)))
        results, singles, bare = [], [], []
        for number in range(1, rounds + 1):
            singles.append(import_seconds(work, whole))
            bare.append(bare_arrival(work, mails))
            results.append(measure_round(work, mails, names, probe))
            r = results[-1]
            print(
                f"burst round {number}/{rounds}: loop lag while the burst is imported p99"
                f" {r['import_lag_p99']:.1f} ms, max {r['import_lag_max']:.1f} ms; over the"
                f" whole burst p99 {r['lag_p99']:.1f} ms, max {r['lag_max']:.1f} ms (while"
                f" the mails arrive p99 {r['arrival_lag_p99']:.1f} ms, bare aiosmtpd taking"
                f" them {bare[-1]:.1f} ms); dot-to-250 idle {r['idle_dot']:.1f} ms, busy"
                f" {r['busy_dot']:.1f} ms; burst {r['burst_seconds']:.1f} s against one"
                f" import {singles[-1]:.1f} s",
                flush=True,
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    label = f"{mails_count} mails × {rows_each:,} rows"
    return [
        Limit(
            f"loop lag p99, {label} imported",
            [r["import_lag_p99"] for r in results],
            "ms",
            50,
        ),
        Limit(
            f"loop lag max, {label} imported",
            [r["import_lag_max"] for r in results],
            "ms",
            250,
        ),
        Limit(f"loop lag p99, {label}, whole burst", [r["lag_p99"] for r in results], "ms", 50),
        Limit(f"loop lag max, {label}, whole burst", [r["lag_max"] for r in results], "ms", 250),
        Figure(
            "SMTP dot-to-250 during the burst",
            "the same, idle",
            [r["busy_dot"] for r in results],
            [r["idle_dot"] for r in results],
            "ms",
            1.5,
            higher_is_better=False,
        ),
        Figure(
            f"burst of {label}, all committed",
            "one renkei import",
            [r["burst_seconds"] for r in results],
            singles,
            "s",
            1.5,
            higher_is_better=False,
        ),
    ]


if __name__ == "__main__":
    from bench.figures import report

    sys.exit(0 if report(run(rounds=1, quick="--quick" in sys.argv)) else 1)
