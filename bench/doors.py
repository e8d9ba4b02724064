"""Doors against their bare libraries: files accepted per second of wall time by renkei's
HTTP, SMTP and FTP intake, each beside a minimal server of the same library that only
fsyncs what it receives, at 1 and 10 concurrent clients (SMTP at 50 sessions too), 300 KB
and 3 MB CSV files. FTP is measured with two clients: ftplib, every file over one
session, and curl, one `curl -T` per file (a connection and a login each, as a partner's
script uploads).

References, each started here in a subprocess of its own:

  HTTP  FastAPI on uvicorn, `POST /api/v1/imports`: reads the multipart part `file`,
        writes it to a new file, flushes and fsyncs it (in `asyncio.to_thread`, so the
        event loop keeps serving), answers 202 with a JSON body; no token is checked.
  SMTP  aiosmtpd's `SMTP` on `loop.create_server`: `handle_DATA` writes
        `envelope.original_content` to a new file and fsyncs it (in `asyncio.to_thread`),
        then answers "250 OK".
  FTP   pyftpdlib's `FTPServer`, a `DummyAuthorizer` user, and `on_file_received` that
        fsyncs the received file (inline, on the server's only thread; pyftpdlib calls
        it just after it has queued the 226).

renkei runs as `renkei serve` with a fresh config and data folder per measurement (the
quick smoke test keeps one per door and client program).
Its import process is paused (SIGSTOP) while the doors are measured, so the figures are
what the doors take, not what the importer does meanwhile; the daemon is killed after
each measurement, so no spool backlog carries over. FTP files wait in the account's
home for the poller, whose window is set hours away. Each server first gets one file,
off the clock, so that neither side's figure carries its lazy set-up. Clients are
processes of their own (so no client waits on another's GIL): each sends its files over
one connection or session, checks every reply (HTTP 202, SMTP 250 at DATA, FTP 226), and the wall time runs from
the start signal until the last client is done; every accepted file is then counted on
disk. In each round renkei and its reference take turns, A B B A with half the files
each time (see measure()), which of them is A alternating from round to round and
figure to figure; a figure's ratio is the median of the per-round ratios.

Part of `make bench` (`python -m bench doors`); alone: `python -m bench.doors [--quick]
[DOOR[:CLIENT PROGRAM] ...]`, e.g. `python -m bench.doors HTTP FTP:ftplib` for those alone.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ftplib
import io
import multiprocessing
import os
import random
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from multiprocessing.connection import Connection, wait
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx

from bench.figures import Figure
from bench.layout import PERFORMANCE

HERE = Path(__file__).resolve().parent.parent
SIZES = {"300 KB": 300_000, "3 MB": 3_000_000}
DOORS = ("HTTP", "SMTP", "FTP")
# The client program each door is measured with (FTP with two), and at how many
# clients at once.
KINDS = {"HTTP": ("httpx",), "SMTP": ("smtplib",), "FTP": ("ftplib", "curl")}
CLIENTS = {"HTTP": (1, 10), "SMTP": (1, 10, 50), "FTP": (1, 10)}
REFERENCES = {"HTTP": "FastAPI+fsync", "SMTP": "aiosmtpd+fsync", "FTP": "pyftpdlib+fsync"}
# Files each client sends in one measurement (in two halves, see measure()): about 2-3 s
# of renkei on a 2-core machine.
FILES = {
    ("httpx", "300 KB", 1): 250, ("httpx", "300 KB", 10): 40,
    ("httpx", "3 MB", 1): 80, ("httpx", "3 MB", 10): 8,
    ("smtplib", "300 KB", 1): 60, ("smtplib", "300 KB", 10): 6, ("smtplib", "300 KB", 50): 2,
    ("smtplib", "3 MB", 1): 8, ("smtplib", "3 MB", 10): 2, ("smtplib", "3 MB", 50): 1,
    ("ftplib", "300 KB", 1): 1500, ("ftplib", "300 KB", 10): 180,
    ("ftplib", "3 MB", 1): 450, ("ftplib", "3 MB", 10): 45,
    ("curl", "300 KB", 1): 600, ("curl", "300 KB", 10): 90,
    ("curl", "3 MB", 1): 300, ("curl", "3 MB", 10): 36,
}  # fmt: skip
# A smoke test: a few files, one for each client of many.
QUICK_FILES = {
    (kind, size, clients): 1 if clients > 1 or size == "3 MB" and kind == "smtplib" else 4
    for kind, size, clients in FILES
}  # fmt: skip
MAX_FILES = max(FILES.values())  # per client: file names of two clients never meet
# The number of the file each server gets first.
WARM_UP = max(max(counts) for counts in CLIENTS.values()) * MAX_FILES
TARGET = 0.8
SENDER, RECIPIENT = "export@bench.example", "bench@in.example.jp"
FTP_USER, FTP_PASSWORD = "bench", "demo-bench-ftp"  # a demo secret: every listener is loopback
API_TOKEN = "demo-bench-api"
PLACEHOLDER = "19990101.csv"  # replaced in a built mail by each file's own name
TIMEZONE = "Asia/Tokyo"
PAUSE_NOTE = (
    "doors: renkei's import process is paused (SIGSTOP) during each measurement, so"
    " these are the doors' own figures; each measurement has a fresh daemon and data folder"
)

CONFIG = """
[daemon]
data_dir = "{data}"
timezone = "{timezone}"
min_free_bytes = 0
[limits]
max_rows = 1000000
max_bytes = 16777216
[smtp]
listen = "127.0.0.1:{smtp}"
max_message_bytes = 20971520
# 50 sessions at once, and room for the warm-up's, which may still be closing.
max_connections = 60
max_connections_per_address = 60
[ftp]
listen = "127.0.0.1:{ftp}"
passive_ports = "{passive}"
max_connections = 50
max_connections_per_address = 50
[api]
listen = "127.0.0.1:{api}"
[report]
relay = "127.0.0.1:{relay}"
{layout}
[accounts.bench]
layout = "performance"
encoding = "cp932"
# Like the bare references, which authenticate no sender (no DNS in the measure).
sender_auth = "off"
report = "never"
[accounts.bench.mail]
address = "{rcpt}"
allowed_senders = ["{sender}"]
[accounts.bench.ftp]
user = "{user}"
password = "{password}"
weekdays = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
window = "{window}"
interval = "2h"
[accounts.bench.api]
token = "{token}"
"""

# One script for the three references: `python -c REFERENCE DOOR PORT FOLDER [PASSIVE]`.
REFERENCE = r"""
import asyncio, os, sys, uuid

door, port, folder = sys.argv[1], int(sys.argv[2]), sys.argv[3]


def write_synced(data):
    path = os.path.join(folder, uuid.uuid4().hex)
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return os.path.basename(path)


if door == "HTTP":
    import uvicorn
    from fastapi import FastAPI, UploadFile

    app = FastAPI()

    @app.post("/api/v1/imports", status_code=202)
    async def imports(file: UploadFile):
        name = await asyncio.to_thread(write_synced, await file.read())
        return {"id": name, "url": f"/files/{name}"}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)

elif door == "SMTP":
    from aiosmtpd.smtp import SMTP

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            await asyncio.to_thread(write_synced, envelope.original_content)
            return "250 OK"

    async def main():
        loop = asyncio.get_running_loop()
        handler = Handler()
        server = await loop.create_server(
            lambda: SMTP(handler, data_size_limit=20971520), "127.0.0.1", port
        )
        await server.serve_forever()

    asyncio.run(main())

elif door == "FTP":
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import FTPHandler
    from pyftpdlib.servers import FTPServer

    class Handler(FTPHandler):
        def on_file_received(self, file):
            fd = os.open(file, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    authorizer = DummyAuthorizer()
    authorizer.add_user(os.environ["REF_FTP_USER"], os.environ["REF_FTP_PASSWORD"], folder,
                        perm="elrwdf")
    Handler.authorizer = authorizer
    low, high = (int(p) for p in sys.argv[4].split("-"))
    Handler.passive_ports = range(low, high + 1)
    FTPServer(("127.0.0.1", port), Handler).serve_forever()
"""

WORDS = ["売上", "株式会社髙橋", "①番", "㈱山田商事", "東京都千代田区", "備考", "～", "ﾊﾝｶｸ"]


def payload(size: int) -> bytes:
    """Valid rows of the layout `performance` in CP932 with a header row, ~`size` bytes."""
    rnd = random.Random(size)
    lines = ["member_no,date,sales_amount,note"]
    total = len(lines[0]) + 2
    number = 0
    while total < size:
        number += 1
        note = " ".join(rnd.choices(WORDS, k=3))
        if number % 3 == 0:
            note = f'"{note}, カンマ"'
        line = (
            f"{number},2024/{rnd.randint(1, 12):02d}/{rnd.randint(1, 28):02d},"
            f"{rnd.randint(0, 99999)},{note}"
        )
        lines.append(line)
        total += len(line.encode("cp932")) + 2
    return ("\r\n".join(lines) + "\r\n").encode("cp932")


def file_name(client: int, index: int, per_client: int) -> str:
    """A real date per upload (`YYYYMMDD.csv`), distinct across the clients of a run."""
    day = dt.date(2000, 1, 1) + dt.timedelta(days=client * per_client + index)
    return f"{day:%Y%m%d}.csv"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def passive_range(avoid: set[int], count: int = 100) -> range:
    """`count` consecutive free ports below the kernel's ephemeral range."""
    for _ in range(200):
        low = random.randrange(20000, 32000 - count)
        ports = range(low, low + count)
        if not avoid.intersection(ports) and all(port_free(p) for p in ports):
            return ports
    raise RuntimeError("no range of free ports for FTP passive mode")


def wait_port(port: int, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited ({proc.returncode}): {tail(log)}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.05)
    raise RuntimeError(f"server on port {port} did not start: {tail(log)}")


def tail(log: Path) -> str:
    with contextlib.suppress(OSError):
        return log.read_text(errors="replace")[-2000:]
    return ""


# -- servers ----------------------------------------------------------------------------


@dataclass
class Target:
    """Where the clients of one measurement connect."""

    door: str
    port: int


class Server:
    """A server process of one measurement, in a folder of its own."""

    proc: subprocess.Popen
    folder: Path
    log: Path

    def target(self, door: str) -> Target:
        raise NotImplementedError

    def received(self, door: str) -> int:
        """Files this server holds on disk: every accepted file must be there."""
        raise NotImplementedError

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


class Renkei(Server):
    """`renkei serve` on fresh ports and a fresh data folder, its import process paused."""

    def __init__(self, work: Path, avoid: set[int]) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="renkei-", dir=work)).resolve()
        self.log = self.folder / "daemon.log"
        self.ports = {d: free_port() for d in ("smtp", "ftp", "api", "relay")}
        self.passive = passive_range(avoid)
        # The FTP poller's only tick, six hours away: uploads wait in the home.
        start = dt.datetime.now(ZoneInfo(TIMEZONE)) + dt.timedelta(hours=6)
        window = f"{start:%H:%M}-{start + dt.timedelta(minutes=1):%H:%M}"
        config = self.folder / "renkei.toml"
        config.write_text(
            CONFIG.format(
                layout=PERFORMANCE, data=self.folder / "var", timezone=TIMEZONE, **self.ports,
                passive=f"{self.passive.start}-{self.passive.stop - 1}", window=window,
                rcpt=RECIPIENT, sender=SENDER, user=FTP_USER, password=FTP_PASSWORD,
                token=API_TOKEN,
            ),
            encoding="utf-8",
        )  # fmt: skip
        renkei = str(Path(sys.executable).with_name("renkei"))
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [renkei, "serve", "--config", str(config)], stdout=log, stderr=log, cwd=HERE
            )
        self.importer: int | None = None

    def ready(self) -> None:
        """Wait until /healthz answers 200, then pause the import process."""
        deadline = time.monotonic() + 60
        url = f"http://127.0.0.1:{self.ports['api']}/healthz"
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"renkei exited ({self.proc.returncode}): {tail(self.log)}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url, timeout=5).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"renkei did not start: {tail(self.log)}")
            time.sleep(0.1)
        self.importer = import_process(self.proc.pid)
        os.kill(self.importer, signal.SIGSTOP)
        while process_state(self.importer) != "T":
            time.sleep(0.01)

    def target(self, door: str) -> Target:
        return Target(door, self.ports[{"HTTP": "api", "SMTP": "smtp", "FTP": "ftp"}[door]])

    def received(self, door: str) -> int:
        state = process_state(self.importer) if self.importer is not None else "-"
        if state != "T":
            raise RuntimeError(
                f"renkei's import process ran during the measurement (state {state}):"
                f" {tail(self.log)}"
            )
        data = self.folder / "var"
        folder = data / "ftp" / "bench" if door == "FTP" else data / "spool" / "incoming"
        return sum(1 for p in folder.iterdir() if not p.name.startswith("."))

    def stop(self) -> None:
        # Killed outright, the paused import process too: nothing of this measurement
        # runs on into the next.
        if self.importer is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.importer, signal.SIGKILL)
        super().stop()


def import_process(serve_pid: int) -> int:
    """The pid of `python -m daemon.worker.process`, a child of the serve process."""
    children = Path(f"/proc/{serve_pid}/task/{serve_pid}/children").read_text().split()
    for child in children:
        with contextlib.suppress(OSError):
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
            if b"daemon.worker.process" in cmdline:
                return int(child)
    raise RuntimeError(f"no import process among the children of {serve_pid}: {children}")


def process_state(pid: int) -> str:
    """The process's state letter (T: stopped), or "gone"."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return "gone"
    return stat.rsplit(")", 1)[1].split()[0]


class Reference(Server):
    """The bare library of `door`, fsyncing what it receives (REFERENCE above)."""

    def __init__(self, door: str, work: Path, avoid: set[int]) -> None:
        self.door = door
        self.folder = Path(tempfile.mkdtemp(prefix=f"ref-{door.lower()}-", dir=work)).resolve()
        self.log = self.folder.with_suffix(".log")
        self.port = free_port()
        args = [sys.executable, "-c", REFERENCE, door, str(self.port), str(self.folder)]
        if door == "FTP":
            passive = passive_range(avoid)
            args.append(f"{passive.start}-{passive.stop - 1}")
        env = {**os.environ, "REF_FTP_USER": FTP_USER, "REF_FTP_PASSWORD": FTP_PASSWORD}
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=log, cwd=HERE, env=env)

    def ready(self) -> None:
        wait_port(self.port, self.proc, self.log)

    def target(self, door: str) -> Target:
        return Target(door, self.port)

    def received(self, door: str) -> int:
        return sum(1 for _ in self.folder.iterdir())

    def stop(self) -> None:
        super().stop()
        self.log.unlink(missing_ok=True)


# -- clients ----------------------------------------------------------------------------


@dataclass
class Job:
    target: Target
    kind: str  # the client program: a key of SESSIONS
    source: str  # the CSV payload's path
    client: int
    files: int
    first: int  # the number of this client's first file in the measurement


class Session:
    """One client's connection or session: opened before the start signal."""

    def __init__(self, job: Job, data: bytes) -> None:
        self.job = job
        self.data = data
        self.names = [file_name(job.client, job.first + i, MAX_FILES) for i in range(job.files)]

    def send_all(self) -> int:
        for name in self.names:
            self.send(name)
        return len(self.names)

    def send(self, name: str) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class HttpSession(Session):
    def __init__(self, job: Job, data: bytes) -> None:
        super().__init__(job, data)
        self.client = httpx.Client(
            base_url=f"http://127.0.0.1:{job.target.port}",
            headers={"Authorization": f"Bearer {API_TOKEN}"},
            timeout=120,
        )

    def send(self, name: str) -> None:
        reply = self.client.post("/api/v1/imports", files={"file": (name, self.data, "text/csv")})
        if reply.status_code != 202:
            raise RuntimeError(f"HTTP {name}: {reply.status_code} {reply.text[:500]}")

    def close(self) -> None:
        self.client.close()


class SmtpSession(Session):
    def __init__(self, job: Job, data: bytes) -> None:
        super().__init__(job, data)
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = SENDER, RECIPIENT, f"data {PLACEHOLDER}"
        msg.set_content("see attached")
        msg.add_attachment(data, maintype="text", subtype="csv", filename=PLACEHOLDER)
        # Built once; each mail differs only in its file name (base64 holds no ".").
        self.template = msg.as_bytes(policy=SMTP_POLICY)
        self.smtp = smtplib.SMTP("127.0.0.1", job.target.port, timeout=120)
        self.smtp.ehlo()

    def send(self, name: str) -> None:
        message = self.template.replace(PLACEHOLDER.encode(), name.encode())
        for step, call in (
            ("MAIL", lambda: self.smtp.mail(SENDER)),
            ("RCPT", lambda: self.smtp.rcpt(RECIPIENT)),
            ("DATA", lambda: self.smtp.data(message)),
        ):
            code, reply = call()
            if code != 250:
                raise RuntimeError(f"SMTP {step} for {name}: {code} {reply.decode()[:500]}")

    def close(self) -> None:
        with contextlib.suppress(smtplib.SMTPException, OSError):
            self.smtp.quit()


class FtpSession(Session):
    def __init__(self, job: Job, data: bytes) -> None:
        super().__init__(job, data)
        self.ftp = ftplib.FTP()
        self.ftp.connect("127.0.0.1", job.target.port, timeout=120)
        self.ftp.login(FTP_USER, FTP_PASSWORD)

    def send(self, name: str) -> None:
        try:
            reply = self.ftp.storbinary(f"STOR {name}", io.BytesIO(self.data), blocksize=65536)
        except ftplib.Error as exc:
            raise RuntimeError(f"FTP STOR {name}: {exc}") from None
        if not reply.startswith("226"):
            raise RuntimeError(f"FTP STOR {name}: {reply}")

    def close(self) -> None:
        with contextlib.suppress(ftplib.Error, OSError, EOFError):  # the server may have gone
            self.ftp.quit()


class CurlSession(Session):
    """One `curl -T` per file: its own process, connection and login, as a partner's
    script uploads. Each file is a hard link of the payload under its own name, made
    before the start signal."""

    def __init__(self, job: Job, data: bytes) -> None:
        super().__init__(job, data)
        source = Path(job.source)
        self.folder = Path(tempfile.mkdtemp(prefix="curl-", dir=source.parent))
        for name in self.names:
            os.link(source, self.folder / name)
        self.url = f"ftp://127.0.0.1:{job.target.port}/"

    def send(self, name: str) -> None:
        # curl exits non-zero unless the server answers the upload with its 226.
        user = f"{FTP_USER}:{FTP_PASSWORD}"
        command = ["curl", "-sS", "-T", str(self.folder / name), "--user", user, self.url]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"curl -T {name}: exit {done.returncode} {done.stderr[:500]}")

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


SESSIONS: dict[str, type[Session]] = {
    "httpx": HttpSession,
    "smtplib": SmtpSession,
    "ftplib": FtpSession,
    "curl": CurlSession,
}


def client_main(conn: Connection) -> None:
    """A client process: per job, open a session, say ready, wait for "go", send, report."""
    payloads: dict[str, bytes] = {}
    while (job := conn.recv()) is not None:
        session = None
        try:
            if job.source not in payloads:
                payloads[job.source] = Path(job.source).read_bytes()
            session = SESSIONS[job.kind](job, payloads[job.source])
            conn.send(("ready",))
            if conn.recv() == "go":  # else another client failed to start: nothing to send
                conn.send(("done", session.send_all()))
        except Exception as exc:  # reported to the parent, which fails loudly
            conn.send(("error", f"client {job.client}: {exc!r}"))
        finally:
            if session is not None:
                session.close()


class Clients:
    """Client processes, started once and given one job each per measurement."""

    def __init__(self, count: int) -> None:
        # Forked before any server or thread is started here.
        context = multiprocessing.get_context("fork")
        self.pipes: list[Connection] = []
        self.procs = []
        for _ in range(count):
            ours, theirs = context.Pipe()
            proc = context.Process(target=client_main, args=(theirs,), daemon=True)
            proc.start()
            theirs.close()
            self.pipes.append(ours)
            self.procs.append(proc)

    def run(
        self, target: Target, kind: str, source: Path, clients: int, files: int, first: int = 0
    ) -> float:
        """Seconds of wall time from "go" until the last of `clients` (`kind` of client)
        has sent `files` files (numbered from `first`), each file accepted."""
        pipes = self.pipes[:clients]
        for client, pipe in enumerate(pipes):
            pipe.send(Job(target, kind, str(source), client, files, first))
        replies = [pipe.recv() for pipe in pipes]
        failed = [r[1] for r in replies if r[0] == "error"]
        if failed:
            for pipe, reply in zip(pipes, replies, strict=True):
                if reply[0] == "ready":
                    pipe.send("abandoned")  # never sent: the parent fails below
            raise RuntimeError("; ".join(failed))
        start = time.perf_counter()
        for pipe in pipes:
            pipe.send("go")
        accepted, errors, waiting = 0, [], list(pipes)
        while waiting:
            for pipe in wait(waiting):
                reply = pipe.recv()
                waiting.remove(pipe)
                if reply[0] == "done":
                    accepted += reply[1]
                else:
                    errors.append(reply[1])
        elapsed = time.perf_counter() - start
        if errors:
            raise RuntimeError("; ".join(errors))
        if accepted != clients * files:
            raise RuntimeError(f"{accepted} files accepted of {clients * files}")
        return elapsed

    def close(self) -> None:
        for pipe in self.pipes:
            with contextlib.suppress(OSError):
                pipe.send(None)
        for proc in self.procs:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
                proc.join()


# -- the benchmark ----------------------------------------------------------------------


def label(door: str, kind: str, size: str, clients: int) -> str:
    by = " by curl" if kind == "curl" else ""
    return f"{door}{by} {size}, {clients} client{'s' if clients > 1 else ''}"


class Pair:
    """renkei and the reference of one door, started and warmed up together, and how
    many files each holds (every accepted file must be on its disk)."""

    def __init__(self, pool: Clients, work: Path, door: str, kind: str, source: Path) -> None:
        self.servers: list[Server] = []
        try:
            self.renkei = Renkei(work, set())
            self.servers.append(self.renkei)
            self.reference = Reference(door, work, set(self.renkei.passive))
            self.servers.append(self.reference)
            self.renkei.ready()
            self.reference.ready()
            for server in self.servers:
                # One file each before the clock starts: a server's first request pays
                # for set-up done lazily once (FastAPI builds its routes' state then,
                # about a millisecond per route of renkei's console and API), which a
                # long-running daemon never pays again.
                pool.run(server.target(door), kind, source, 1, 1, WARM_UP)
        except BaseException:
            self.stop()
            raise
        self.key = (door, kind)
        self.held = {server: 1 for server in self.servers}
        self.sent = {server: 0 for server in self.servers}  # each client's next file

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


def measure(
    pool: Clients,
    pair: Pair,
    combo: tuple[str, str, str, int],
    source: Path,
    files: int,
    ours_first: bool,
) -> tuple[tuple[float, float], tuple[float, float]]:
    """renkei and the reference of `door`: files/s and seconds of each.

    Each sends its files in two halves, in the order A B B A: writing hundreds of MB
    slows the disk's next fsyncs for a while, and whichever went second in a plain A B
    would pay for the other's writes. (With one file per client: A B.)
    """
    door, kind, _, clients = combo
    renkei, reference = pair.renkei, pair.reference
    a, b = (renkei, reference) if ours_first else (reference, renkei)
    if files > 1:
        half = files // 2
        plan = [(a, half), (b, half), (b, files - half), (a, files - half)]
    else:
        plan = [(a, files), (b, files)]
    seconds = {renkei: 0.0, reference: 0.0}
    for server, count in plan:
        os.sync()  # no dirty pages of the one before for this one's fsyncs to wait on
        target = server.target(door)
        seconds[server] += pool.run(target, kind, source, clients, count, pair.sent[server])
        pair.sent[server] += count
    for server in pair.servers:
        pair.held[server] += clients * files
        if (held := server.received(door)) != pair.held[server]:
            raise RuntimeError(f"{door}: {held} files on disk of {pair.held[server]} accepted")
    total = clients * files
    ours, theirs = ((total / seconds[s], seconds[s]) for s in (renkei, reference))
    return ours, theirs


def run(rounds: int = 3, quick: bool = False, only: tuple[str, ...] = ()) -> list[Figure]:
    """The 18 door figures (each door and client program, 2 sizes, its client counts),
    in files/s, or those `only` names ("HTTP", "FTP:curl"); `quick` is a smoke test: one
    round of a few files per client."""
    rounds = 1 if quick else rounds
    per_client = QUICK_FILES if quick else FILES
    combos = [
        (door, kind, size, clients)
        for door in DOORS
        for kind in KINDS[door]
        for size in SIZES
        for clients in CLIENTS[door]
        if not only or door in only or f"{door}:{kind}" in only
    ]
    ours: dict[tuple, list[float]] = {combo: [] for combo in combos}
    theirs: dict[tuple, list[float]] = {combo: [] for combo in combos}
    cache = HERE / "bench-data"
    cache.mkdir(exist_ok=True)
    print(PAUSE_NOTE, flush=True)
    print(f"doors: load average {os.getloadavg()[0]:.2f} at the start", flush=True)
    started = time.perf_counter()
    pool = Clients(max(clients for *_, clients in combos))
    try:
        with tempfile.TemporaryDirectory(prefix="doors-", dir=cache) as tmp:
            work = Path(tmp)
            sources = {}
            for size, count in SIZES.items():
                sources[size] = work / f"{count}.csv"
                sources[size].write_bytes(payload(count))
            kept: Pair | None = None  # quick: the pair of the door and client measured now
            try:
                for number in range(1, rounds + 1):
                    for index, combo in enumerate(combos):
                        door, kind, size, clients = combo
                        count = per_client[kind, size, clients]
                        ours_first = (number + index) % 2 == 1
                        if kept is not None and kept.key != (door, kind):
                            kept.stop()
                            kept = None
                        # A smoke test (quick) keeps one pair per door and client program,
                        # rather than start a daemon for each of the 18 figures.
                        pair = kept or Pair(pool, work, door, kind, sources[size])
                        try:
                            mine, reference = measure(
                                pool, pair, combo, sources[size], count, ours_first
                            )
                        finally:
                            if quick:
                                kept = pair
                            else:
                                pair.stop()
                        ours[combo].append(mine[0])
                        theirs[combo].append(reference[0])
                        order = "renkei first" if ours_first else "reference first"
                        order += ", ABBA" if count > 1 else ""
                        files = f"{count} files each"
                        print(
                            f"doors round {number}/{rounds}: {label(*combo):<32}"
                            f" {files:>14}: renkei {mine[0]:7.2f} files/s ({mine[1]:4.1f} s),"
                            f" {REFERENCES[door]} {reference[0]:7.2f} files/s"
                            f" ({reference[1]:4.1f} s), {mine[0] / reference[0]:5.2f}x ({order})",
                            flush=True,
                        )
            finally:
                if kept is not None:
                    kept.stop()
    finally:
        pool.close()
    print(
        f"doors: {time.perf_counter() - started:.0f} s in all;"
        f" load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    return [
        Figure(label(*combo), REFERENCES[combo[0]], ours[combo], theirs[combo], "files/s", TARGET)
        for combo in combos
    ]


if __name__ == "__main__":
    from bench.figures import report

    quick = os.environ.get("RENKEI_BENCH_QUICK") == "1" or "--quick" in sys.argv
    only = tuple(arg for arg in sys.argv[1:] if not arg.startswith("-"))
    unknown = [
        name
        for name in only
        if name not in DOORS and name.partition(":")[2] not in KINDS.get(name.partition(":")[0], ())
    ]
    if unknown:
        doors = ", ".join(DOORS)
        sys.exit(f"no such door: {', '.join(unknown)} (one of {doors}, or one like FTP:curl)")
    figures = run(int(os.environ.get("RENKEI_BENCH_ROUNDS", "3")), quick=quick, only=only)
    print("\nfigures (median of interleaved rounds):")
    sys.exit(0 if report(figures) else 1)
