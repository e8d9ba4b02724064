"""Imports beside the doors: event-loop lag and the SMTP dot-to-250 time while a burst
of 50 mails of 10,000 rows is imported, and how long the burst takes against one
`renkei import` of the same 500,000 rows.

The lag is read as the round trip of a NOOP on an open SMTP session, sent every
20 ms (the loop answers it only when it is free); the dot-to-250 time by a probe mail
whose final "." alone is timed. Both are measured idle first, then while the burst is
imported; the lag while its 50 mails arrive (the doors' own work) is printed beside.
The burst's time runs from the first mail sent to the `finished_at` of its last run, the
time the run's commit recorded (the probes, which take half a second each, only say
when to look).
"""

from __future__ import annotations

import contextlib
import datetime as dt
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
        body = smtplib.quotedata(data.decode("ascii", "surrogateescape"))
        s.send(body.encode("ascii", "surrogateescape"))
        # Let the server read the body first: the figure is the "." to the 250 alone.
        time.sleep(0.5)
        start = time.perf_counter()
        s.send(b"\r\n.\r\n")
        code, reply = s.getreply()
        elapsed = (time.perf_counter() - start) * 1000
        assert code == 250, reply
        return elapsed


def send_one(port: int, data: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=300) as s:
        s.sendmail(SENDER, [RECIPIENT], data)


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
        start = time.time()
        with ThreadPoolExecutor(len(mails)) as pool:
            list(pool.map(lambda m: send_one(daemon.smtp, m), mails))
        # Taking 50 mails at once is the doors' own work (aiosmtpd reads DATA line by
        # line on the loop); what follows is the imports' time beside the doors.
        arriving = list(lag.samples)
        lag.samples.clear()
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
        "lag_p99": p99(busy_lag),
        "lag_max": max(busy_lag),
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
        results, singles = [], []
        for number in range(1, rounds + 1):
            singles.append(import_seconds(work, whole))
            results.append(measure_round(work, mails, names, probe))
            r = results[-1]
            print(
                f"burst round {number}/{rounds}: lag while the mails arrive p99"
                f" {r['arrival_lag_p99']:.1f} ms; while they are imported p99"
                f" {r['lag_p99']:.1f} ms, max {r['lag_max']:.1f} ms; dot-to-250 idle {r['idle_dot']:.1f} ms, busy "
                f"{r['busy_dot']:.1f} ms; burst {r['burst_seconds']:.1f} s against one "
                f"import {singles[-1]:.1f} s",
                flush=True,
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    label = f"{mails_count} mails × {rows_each:,} rows"
    return [
        Limit(f"loop lag p99, {label} importing", [r["lag_p99"] for r in results], "ms", 50),
        Limit(f"loop lag max, {label} importing", [r["lag_max"] for r in results], "ms", 250),
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
