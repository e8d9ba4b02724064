"""Test helpers: a real daemon in a subprocess, a real relay, config files, mail."""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import email
import ftplib
import json
import os
import random
import re
import shutil
import signal
import smtplib
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller

ROOT = Path(__file__).resolve().parent.parent
FINAL = ("completed", "failed", "ignored", "aborted")

LAYOUT = """
[layouts.performance]
columns = [
  { name = "member_no",    type = "int",  required = true },
  { name = "date",         type = "date", required = true },
  { name = "sales_amount", type = "int",  max_digits = 13 },
  { name = "note",         type = "text", max_length = 3000 },
]
"""
# The same layout as settings data, for tests that build a config in Python.
PERFORMANCE_LAYOUT = tomllib.loads(LAYOUT)["layouts"]["performance"]


def in_process_settings(data_dir: Path, layouts: dict, accounts: dict, **more: Any) -> Any:
    """Settings for an import run in the test's own process (import_file, graph.build):
    its data under `data_dir`, no door listening; `more` adds sections."""
    from daemon.settings import parse  # only here: most tests drive a daemon process

    doors = {door: {"enabled": False} for door in ("smtp", "ftp", "api")}
    base = {"daemon": {"data_dir": str(data_dir)}, **doors}
    return parse({**base, "layouts": layouts, "accounts": accounts, **more})


@contextlib.contextmanager
def refused_port() -> Iterator[int]:
    """A port bound and never listening: connections to it are refused."""
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    try:
        yield closed.getsockname()[1]
    finally:
        closed.close()


def free_port() -> int:
    """A loopback port free now, for a server a test starts a moment later.

    Not one the kernel hands out (port 0): that range is where every outgoing
    connection takes its source port, and one opened by a test in the other worker
    can take the port before the server binds it ("Address already in use"). So a
    random free port below that range (random, so two workers rarely meet), and none
    this process gave lately: a config asks for several before any is bound, and two
    listeners once got the same one. Nor one of FTP's default passive ports, which a
    config that keeps them would refuse to share with a listener."""
    return free_ports(1)


def free_ports(count: int) -> int:
    """The first of `count` consecutive ports, each free as free_port() finds one: a
    range of FTP passive ports, none of which a listener of the same config may have
    (a range from one free port once took in the SMTP door's, and the config check
    refused the daemon)."""
    for _ in range(200):
        first = _PICK.randrange(_LISTEN_PORTS[0], _LISTEN_PORTS[1] - count + 1)
        ports = range(first, first + count)
        if any(port in _GIVEN or port in _DEFAULT_PASSIVE for port in ports):
            continue
        with contextlib.ExitStack() as bound:
            try:
                for port in ports:
                    bound.enter_context(socket.socket()).bind(("127.0.0.1", port))
            except OSError:
                continue
        _GIVEN.extend(ports)
        return first
    raise RuntimeError(f"no {count} free ports in {_LISTEN_PORTS}")


def _default_passive() -> range:
    from daemon.settings.model import FtpSettings

    low, high = FtpSettings.model_fields["passive_ports"].default.split("-")
    return range(int(low), int(high) + 1)


def _listen_ports() -> tuple[int, int]:
    """Ports below the kernel's ephemeral range (Linux says where it starts)."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    return (max(1024, low - 12000), low)


_LISTEN_PORTS = _listen_ports()
_DEFAULT_PASSIVE = _default_passive()
_PICK = random.SystemRandom()  # not the seeded `random`: each worker its own ports
_GIVEN: collections.deque[int] = collections.deque(maxlen=256)  # free_port()'s latest


def account(name: str, **keys: Any) -> str:
    """An account section with mail intake; keys override the defaults."""
    base = {
        "layout": "performance",
        "error_report_to": [f"ops@{name}.example"],
        "success_report_to": [f"sales@{name}.example"],
    }
    base.update({k: v for k, v in keys.items() if k not in ("mail",)})
    lines = [f"[accounts.{name}]"] + [f"{k} = {toml_value(v)}" for k, v in base.items()]
    mail = keys.get(
        "mail", {"address": f"{name}@in.example.jp", "allowed_senders": [f"export@{name}.example"]}
    )
    lines += [f"[accounts.{name}.mail]"] + [f"{k} = {toml_value(v)}" for k, v in mail.items()]
    return "\n".join(lines) + "\n"


def weekday_ahead(days: int) -> int:
    """The weekday (Monday 0) `days` from now in Tokyo, the tests' daemon.timezone."""
    return (dt.datetime.now(ZoneInfo("Asia/Tokyo")) + dt.timedelta(days=days)).weekday()


def quiet_ftp_schedule() -> str:
    """An FTP account's schedule whose one window never comes while a test runs: five
    minutes three days from now, so that uploads wait in the home until the test polls.
    A window on a fixed weekday came once a week while the suite ran."""
    from daemon.settings.model import WEEKDAYS

    weekday = WEEKDAYS[weekday_ahead(3)]
    return f'weekdays = ["{weekday}"]\nwindow = "03:00-03:05"\ninterval = "2h"\n'


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_config(
    folder: Path,
    accounts: str,
    extra: str = "",
    relay_port: int = 1,
    smtp_port: int | None = None,
    api_port: int | None = None,
) -> Path:
    text = f"""
[daemon]
data_dir = "var"
min_free_bytes = 0

[smtp]
listen = "127.0.0.1:{smtp_port or free_port()}"
max_message_bytes = 200000
max_connections = 5
max_connections_per_address = 3

[ftp]
enabled = false

[api]
listen = "127.0.0.1:{api_port or free_port()}"
admin_token = "demo-admin"

[report]
relay = "127.0.0.1:{relay_port}"
from = "renkei@example.jp"
retry_seconds = 0.5
max_retry_seconds = 1
timeout = 5
{extra}
{LAYOUT}
{accounts}
"""
    path = folder / "renkei.toml"
    path.write_text(text, encoding="utf-8")
    return path


class Relay:
    """A real SMTP relay (aiosmtpd) that keeps every message it receives."""

    def __init__(self) -> None:
        self.port = free_port()
        self.messages: list[EmailMessage] = []
        self.raw: list[bytes] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self._lock = threading.Lock()
        self.controller: Controller | None = None
        self.refuse: dict[str, str] = {}  # recipient -> the reply that refuses it
        self.rcpt_attempts: list[str] = []

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        with self._lock:
            self.rcpt_attempts.append(address)
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.original_content, policy=policy.default)
        with self._lock:
            self.messages.append(msg)
            self.raw.append(envelope.original_content)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"

    def start(self) -> None:
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller:
            self.controller.stop()
            self.controller = None

    def wait(self, count: int = 1, timeout: float = 15) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.05)
        raise AssertionError(f"relay got {len(self.messages)} messages, wanted {count}")

    def for_recipient(
        self, address: str, about: str = "", timeout: float = 15
    ) -> list[EmailMessage]:
        """Messages to `address` (whose subject or body mentions `about`), once one came."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                found = [
                    m
                    for m, (_, to) in zip(self.messages, self.envelopes, strict=True)
                    if address in to
                    and (about in m["Subject"] or about in m.get_body().get_content())
                ]
            if found:
                return found
            time.sleep(0.05)
        raise AssertionError(f"no report mail to {address}")


class NotifySocket:
    """The systemd side of sd_notify: a real AF_UNIX datagram socket."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.received: list[str] = []

    def wait_for(
        self, state: str, timeout: float = 30, proc: subprocess.Popen | None = None
    ) -> None:
        """Wait for `state`; fail at `timeout`, or as soon as `proc` has ended."""
        deadline = time.monotonic() + timeout
        while state not in self.received:
            if time.monotonic() > deadline or (proc is not None and proc.poll() is not None):
                self.drain()
                if state in self.received:
                    return
                raise AssertionError(f"no {state} from the daemon; got {self.received}")
            with contextlib.suppress(TimeoutError):
                self.received.append(self.sock.recv(4096).decode())

    def drain(self) -> None:
        self.sock.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            while True:
                self.received.append(self.sock.recv(4096).decode())
        self.sock.settimeout(0.2)

    def close(self) -> None:
        self.drain()
        self.sock.close()


def _listen_port(text: str, section: str) -> int | None:
    """The port write_config() and served() put right under `[section]`, if any."""
    head = f'[{section}]\nlisten = "127.0.0.1:'
    return int(text.split(head)[1].split('"')[0]) if head in text else None


# What `renkei serve` logs when a listener's port is taken (listeners.listen_error).
_TAKEN = re.compile(
    r"\b(?:smtp|ftp|api)\.listen 127\.0\.0\.1:(?P<port>\d+): Address already in use"
)
_BIND_TRIES = 3


class Daemon:
    """`renkei serve` in a subprocess, ready once it has sent READY=1."""

    def __init__(
        self,
        config: Path,
        env: dict[str, str] | None = None,
        data_dir: Path | None = None,
        own_group: bool = False,  # a process group of its own, as a shell gives a command
    ) -> None:
        self.config = config
        self.env = env or {}
        self.own_group = own_group
        self.proc: subprocess.Popen | None = None
        self.notify: NotifySocket | None = None
        text = config.read_text()
        self.smtp_port = _listen_port(text, "smtp")
        self.api_port = _listen_port(text, "api")
        self.data_dir = data_dir or config.parent / "var"
        self.db_path = self.data_dir / "renkei.db"
        self.log = config.parent / "daemon.log"

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def start(self) -> Daemon:
        for _ in range(_BIND_TRIES):
            logged = self.log.stat().st_size if self.log.exists() else 0
            sock_path = self.config.parent / f"notify-{time.monotonic_ns()}.sock"
            self.notify = NotifySocket(sock_path)
            env = {**os.environ, "NOTIFY_SOCKET": str(sock_path), **self.env}
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "daemon.cli", "serve", "--config", str(self.config)],
                cwd=ROOT,
                env=env,
                stdout=open(self.log, "ab"),  # noqa: SIM115
                stderr=subprocess.STDOUT,
                start_new_session=self.own_group,
            )
            try:
                # 60 s: a loaded 2-core CI machine.
                self.notify.wait_for("READY=1", timeout=60, proc=self.proc)
                return self
            except AssertionError:
                self.proc.kill()
                self.proc.wait()
                self.notify.close()
                with open(self.log, "rb") as f:
                    f.seek(logged)
                    said = f.read().decode(errors="replace")
            if not self._move_taken_port(said):
                raise AssertionError(said[-3000:])
        raise AssertionError(said[-3000:])

    def _move_taken_port(self, said: str) -> bool:
        """A test port taken by someone else between free_port() and the bind: give
        that listener another one (True), as the test never meant that conflict."""
        taken = _TAKEN.search(said)
        if taken is None:
            return False
        old = f'127.0.0.1:{taken["port"]}"'
        text = self.config.read_text()
        if text.count(old) != 1:
            return False
        port = free_port()
        self.config.write_text(text.replace(old, f'127.0.0.1:{port}"'), encoding="utf-8")
        if int(taken["port"]) == self.smtp_port:
            self.smtp_port = port
        if int(taken["port"]) == self.api_port:
            self.api_port = port
        return True

    def terminate(self, timeout: float = 30) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()  # never leave a daemon behind to load the machine
            self.proc.wait()
            raise
        finally:
            self.notify.close()
        return code

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()
        self.notify.close()

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        with contextlib.closing(sqlite3.connect(self.db_path, timeout=30)) as db:
            return db.execute(sql, params).fetchall()

    def run(self, run_id: str) -> dict[str, Any]:
        with contextlib.closing(sqlite3.connect(self.db_path, timeout=30)) as db:
            db.row_factory = sqlite3.Row
            row = db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        return dict(row) if row else {}

    def wait_run(self, run_id: str, timeout: float = 30, states: tuple = FINAL) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.run(run_id)
            if run.get("state") in states:
                return run
            time.sleep(0.05)
        raise AssertionError(f"run {run_id} did not finish: {self.run(run_id)}")


def mail(
    attachments: list[tuple[str, bytes]] = (),
    sender: str = "export@acme.example",
    to: str = "acme@in.example.jp",
    subject: str = "data",
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content("see attached")
    for name, data in attachments:
        msg.add_attachment(data, maintype="text", subtype="csv", filename=name)
    return msg


def send(
    port: int,
    msg: EmailMessage | bytes,
    mail_from: str = "export@acme.example",
    rcpts: tuple[str, ...] = ("acme@in.example.jp",),
    size: int | None = None,
):
    """Drive one transaction step by step; returns the reply of the step that ended it."""
    data = msg if isinstance(msg, bytes) else msg.as_bytes(policy=policy.SMTP)
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
        s.ehlo()
        code, reply = s.mail(mail_from, [f"SIZE={size}"] if size else [])
        if code != 250:
            return "MAIL", code, reply.decode()
        for rcpt in rcpts:
            code, reply = s.rcpt(rcpt)
            if code != 250:
                return "RCPT", code, reply.decode()
        code, reply = s.data(data)
        return "DATA", code, reply.decode()


def send_as(port: int, who: str, attachments: list[tuple[str, bytes]]):
    """Mail `attachments` from account `who`'s allowed sender to its address."""
    msg = mail(attachments, sender=f"export@{who}.example", to=f"{who}@in.example.jp")
    return send(port, msg, mail_from=f"export@{who}.example", rcpts=(f"{who}@in.example.jp",))


def stor_reply(ftp: ftplib.FTP, name: str, data: bytes) -> str:
    """Upload `data` and return the server's final reply, even one that cut the upload off.

    A server that refuses mid-transfer closes the data connection while the client is
    still writing, so the client may see a broken pipe before it reads the reply.
    """
    ftp.voidcmd("TYPE I")
    with ftp.transfercmd(f"STOR {name}") as conn, contextlib.suppress(OSError):
        conn.sendall(data)
    try:
        return ftp.getresp()
    except ftplib.Error as error:
        return str(error)


def queued_ids(reply: bytes | str) -> list[str]:
    """The run ids a `250 … queued as` reply names, on one line or several."""
    text = reply.decode() if isinstance(reply, bytes) else reply
    return [i for line in text.splitlines() for i in line.split("queued as ", 1)[1].split()]


def csv_bytes(rows: list[str], header: bool = True, encoding: str = "cp932") -> bytes:
    lines = (["member_no,date,sales_amount,note"] if header else []) + rows
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


def attachment(msg: EmailMessage) -> tuple[str, bytes] | None:
    for part in msg.iter_attachments():
        return part.get_filename(), part.get_payload(decode=True)
    return None


def ftp_served(config: Path, extra: str = "", passive_ports: int = 1) -> int:
    """Turn on the FTP door of a config write_config() made: a free port and
    `passive_ports` passive ports from a free one, `extra` lines added to its [ftp]
    table. The port."""
    port, passive = free_port(), free_ports(passive_ports)
    last = passive + passive_ports - 1
    text = config.read_text(encoding="utf-8")
    assert "[ftp]\nenabled = false" in text
    door = f'[ftp]\nlisten = "127.0.0.1:{port}"\npassive_ports = "{passive}-{last}"'
    door += f"\n{extra}" if extra else ""
    config.write_text(text.replace("[ftp]\nenabled = false", door, 1), encoding="utf-8")
    return port


def served(example: str, folder: Path, relay_port: int = 1) -> Path:
    """The example config as shipped, moved onto free ports and a scratch data_dir."""
    text = (ROOT / "config" / example).read_text(encoding="utf-8")
    text = re.sub(r'data_dir = ".*"', 'data_dir = "var"\nmin_free_bytes = 0', text, count=1)
    text = text.replace(
        "[smtp]\nenabled = false", f'[smtp]\nlisten = "127.0.0.1:{free_port()}"\nenabled = false'
    )
    # Each example listens on its own fixed ports; a test must not need them free.
    text = re.sub(
        r'^listen = "127\.0\.0\.1:\d+"',
        lambda _: f'listen = "127.0.0.1:{free_port()}"',
        text,
        flags=re.MULTILINE,
    )
    text = re.sub(
        r'^passive_ports = "\d+-\d+"',
        lambda _: f'passive_ports = "{(port := free_port())}-{port}"',
        text,
        flags=re.MULTILINE,
    )
    text = text.replace('relay = "127.0.0.1:25"', f'relay = "127.0.0.1:{relay_port}"')
    path = folder / "renkei.toml"
    path.write_text(text, encoding="utf-8")
    return path


needs_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="no curl on this machine")


def curl(url: str, *args: str) -> tuple[int, dict]:
    """POST by curl (`-F` parts and `-H` headers in `args`): the status and JSON body."""
    out = subprocess.run(
        ["curl", "-sS", "-w", "\n%{http_code}", *args, url],
        capture_output=True, check=True, text=True, timeout=60,
    ).stdout  # fmt: skip
    body, status = out.rsplit("\n", 1)
    return int(status), json.loads(body)


def import_process(daemon: Daemon) -> int:
    """The pid of the daemon's import process (a child running daemon.worker.process)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for pid in children(daemon.proc.pid):
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if b"daemon.worker.process" in cmdline:
                return pid
        time.sleep(0.05)
    raise AssertionError("no import process")


def killed_in_attempt(spool_root: Path, data: bytes, attempts: int) -> str:
    """What a process killed during attempt `attempts + 1` at a file leaves behind: the
    item claimed (unpacked in `active/`), its lock gone with the process. Its id."""
    from daemon.spool.queue import Meta, Spool

    spool = Spool(spool_root)
    meta = Meta("acme", "mail", "export@acme.example", "20240516.csv", attempts=attempts)
    claimed = spool.claim(spool.enqueue(meta, data).id)
    assert claimed is not None and claimed.lock_fd is not None
    os.close(claimed.lock_fd)
    return claimed.id


def active_items(data_dir: Path, timeout: float = 10) -> list[Path]:
    """What is left in `spool/active/` once it had time to empty: a run's spooled copy
    goes just after the commit the run row shows, so a run seen final may still have it."""
    active = data_dir / "spool" / "active"
    deadline = time.monotonic() + timeout
    while list(active.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return list(active.iterdir())


def pause(pid: int, timeout: float = 30) -> None:
    """SIGSTOP `pid` and return once every thread of it is stopped.

    A stop is only pending until a thread takes it, and the kernel hands out a pending
    SIGTERM first (the lower number): sent before the stop took, it is consumed by the
    handler's C part and never shows as pending while the process stays stopped.
    """
    os.kill(pid, signal.SIGSTOP)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = [
            (task / "stat").read_text().rsplit(")", 1)[1].split()[0]
            for task in Path(f"/proc/{pid}/task").iterdir()
        ]
        if all(state in ("T", "t") for state in states):
            return
        time.sleep(0.01)
    raise AssertionError(f"process {pid} did not stop")


def gone(pid: int, timeout: float = 30) -> None:
    """Until process `pid` is dead (gone, or a zombie its parent has not reaped): a
    child killed with its parent (PR_SET_PDEATHSIG) dies a moment after the parent's
    wait() returns, and may still write meanwhile."""
    deadline = time.monotonic() + timeout
    while _process_state(pid) not in ("", "Z", "X"):
        assert time.monotonic() < deadline, f"process {pid} still alive"
        time.sleep(0.02)


def _process_state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


@contextlib.contextmanager
def env_set(**values: str) -> Iterator[None]:
    """These environment variables set for the commands run meanwhile (a config's
    `env:` secrets: every command that loads the config needs them, as the daemon does)."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def renkei(
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path = ROOT,
    timeout: float = 120,
    stdin: str | None = None,
) -> subprocess.CompletedProcess:
    """The `renkei` command line as a user runs it, in a process of its own."""
    return subprocess.run(
        [sys.executable, "-m", "daemon.cli", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def cli_import(config: Path, path: Path, timeout: float = 300) -> dict[str, Any]:
    """`renkei import FILE --account acme --json`: the run it printed."""
    result = renkei(
        "import", str(path), "--account", "acme", "--json", "--config", str(config), timeout=timeout
    )
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout)


@contextlib.contextmanager
def store_held(db_path: Path) -> Iterator[None]:
    """Another process's write transaction on the store, held while the block runs."""
    db = sqlite3.connect(db_path, isolation_level=None)
    try:
        db.execute("BEGIN EXCLUSIVE")
        yield
        db.execute("ROLLBACK")
    finally:
        db.close()


def stop_serving(proc: subprocess.Popen, notify: NotifySocket) -> None:
    """SIGTERM to a `renkei serve` started by hand, killed if it will not go."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
        notify.close()


def wait_for(what, timeout: float = 30, step: float = 0.05):
    """Poll `what()` until it gives something true, which is returned."""
    deadline = time.monotonic() + timeout
    while not (found := what()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(step)
    return found


@contextlib.contextmanager
def unwritable(folder: Path) -> Iterator[None]:
    """`folder` no process may write in, root too: immutable (chattr +i) where root
    runs the tests, mode 0555 otherwise."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o555)
    immutable = os.geteuid() == 0
    if immutable:
        chattr = shutil.which("chattr")
        if chattr is None or subprocess.run([chattr, "+i", str(folder)]).returncode:
            folder.chmod(0o755)
            pytest.skip("root, and no chattr +i here: no folder root may not write")
    try:
        yield
    finally:
        if immutable:
            subprocess.run([shutil.which("chattr") or "chattr", "-i", str(folder)], check=True)
        folder.chmod(0o755)
