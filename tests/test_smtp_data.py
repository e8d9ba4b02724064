"""The mail after DATA, as the daemon reads it in blocks: the end is a dot alone on a
CRLF line wherever the packets split it, dots of transparency come off, commands sent
after the final dot are answered in turn, and a line too long is refused with 500 and
listed — each against the real daemon, over a raw socket where smtplib would tidy up."""

from __future__ import annotations

import asyncio
import random
import socket
import time

import httpx
import pytest

from handlers import smtpdata
from tests.support import Daemon, account, csv_bytes, queued_ids, write_config

ADMIN = {"Authorization": "Bearer demo-admin"}
SENDER = "export@acme.example"
RCPT = "acme@in.example.jp"


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    folder = tmp_path_factory.mktemp("smtp-data")
    d = Daemon(write_config(folder, account("acme"))).start()
    yield d
    assert d.terminate() == 0


class Session:
    """One SMTP session over a bare socket: bytes go out exactly as given."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.pending = b""
        assert self.reply().startswith("220")
        self.sock.sendall(b"EHLO client.example\r\n")
        assert self.reply().startswith("250")

    def reply(self) -> str:
        """The next whole reply, multi-line ones joined."""
        lines = []
        while True:
            while b"\r\n" not in self.pending:
                got = self.sock.recv(65536)
                if not got:
                    raise AssertionError(f"connection closed after {lines}")
                self.pending += got
            line, self.pending = self.pending.split(b"\r\n", 1)
            lines.append(line.decode())
            if line[3:4] != b"-":
                return "\n".join(lines)

    def quiet(self, seconds: float = 0.3) -> bool:
        """Whether the server says nothing for `seconds`."""
        self.sock.settimeout(seconds)
        try:
            got = self.sock.recv(65536)
        except TimeoutError:
            return True
        finally:
            self.sock.settimeout(10)
        self.pending += got
        return False

    def envelope(self) -> None:
        self.sock.sendall(f"MAIL FROM:<{SENDER}>\r\nRCPT TO:<{RCPT}>\r\nDATA\r\n".encode())
        assert self.reply().startswith("250 2.1.0")
        assert self.reply().startswith("250 2.1.5")
        assert self.reply().startswith("354")

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def session(daemon):
    s = Session(daemon.smtp_port)
    yield s
    s.close()


def raw_mail(csv: bytes, name: str = "20240516.csv") -> bytes:
    """A mail whose CSV part travels as it is (7bit), with CRLF lines and no
    transparency yet: what a client would put through dot-stuffing."""
    head = (
        f"From: {SENDER}\r\nTo: {RCPT}\r\nSubject: data\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
        "--b1\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
        f'--b1\r\nContent-Type: text/csv\r\nContent-Disposition: attachment; filename="{name}"\r\n'
        "Content-Transfer-Encoding: 7bit\r\n\r\n"
    )
    return head.encode() + csv + b"--b1--\r\n"


def stuffed(content: bytes) -> bytes:
    """RFC 5321 4.5.2 transparency, as smtplib applies it."""
    body = content.replace(b"\r\n.", b"\r\n..")
    return (b"." + body if body.startswith(b".") else body) + b".\r\n"


def stored_notes(daemon: Daemon, reply: str) -> list[str]:
    [run_id] = queued_ids(reply)
    run = daemon.wait_run(run_id)
    assert run["state"] == "completed", run
    rows = daemon.query(
        "SELECT note FROM performance WHERE _run_id = ? ORDER BY member_no", (run_id,)
    )
    return [note for (note,) in rows]


def test_lines_that_start_with_a_dot_lose_only_the_added_dot(daemon, session):
    # A quoted note over several lines: its lines start with ".", "..", and "." alone
    # would end the mail unless doubled.
    csv = csv_bytes(
        ['1,2024/05/16,1,"first', ".second", "..third", ".", 'end"', "2,2024/05/16,2,x"]
    )
    session.envelope()
    session.sock.sendall(stuffed(raw_mail(csv)))
    reply = session.reply()
    assert reply.startswith("250 2.0.0 Ok: queued as "), reply
    notes = stored_notes(daemon, reply)
    assert [n.splitlines() for n in notes] == [["first", ".second", "..third", ".", "end"], ["x"]]


@pytest.mark.parametrize("cut", [1, 2, 3, 4, 5])
def test_the_final_dot_is_found_wherever_the_packets_split_it(daemon, session, cut):
    wire = stuffed(raw_mail(csv_bytes([f"{cut},2024/05/16,{cut},split"])))
    session.envelope()
    session.sock.sendall(wire[:-cut])
    assert session.quiet(), "answered before the mail's end"
    for byte in wire[-cut:]:  # the last bytes one packet each
        time.sleep(0.02)
        session.sock.sendall(bytes([byte]))
    reply = session.reply()
    assert reply.startswith("250 2.0.0"), reply
    assert stored_notes(daemon, reply) == ["split"]


def test_a_dot_after_a_bare_line_feed_does_not_end_the_mail(daemon, session):
    # "\n.\r\n" is no end (SMTP smuggling): what follows is still the mail.
    csv = csv_bytes(["1,2024/05/16,1,smuggled"])
    session.envelope()
    session.sock.sendall(b"From: x@evil.example\r\nSubject: a\n.\r\nRSET\r\n")
    assert session.quiet(), "a bare-LF dot ended the mail"
    session.sock.sendall(b"\r\n" + stuffed(raw_mail(csv)))
    # One mail with nonsense headers first: its From is not allowed, and nothing of it
    # ran as a command.
    assert session.reply().startswith("550 5.7.1")
    session.sock.sendall(b"NOOP\r\n")
    assert session.reply().startswith("250")


def test_commands_pipelined_after_the_final_dot_are_answered_in_turn(daemon, session):
    first = stuffed(raw_mail(csv_bytes(["1,2024/05/16,1,first"]), "20240601.csv"))
    second = stuffed(raw_mail(csv_bytes(["2,2024/05/16,2,second"]), "20240602.csv"))
    envelope = f"MAIL FROM:<{SENDER}>\r\nRCPT TO:<{RCPT}>\r\nDATA\r\n".encode()
    session.envelope()
    session.sock.sendall(first + envelope)  # the next transaction in the same packet
    done = session.reply()
    assert done.startswith("250 2.0.0"), done
    assert session.reply().startswith("250 2.1.0")
    assert session.reply().startswith("250 2.1.5")
    assert session.reply().startswith("354")
    session.sock.sendall(second + b"QUIT\r\n")
    again = session.reply()
    assert again.startswith("250 2.0.0"), again
    assert session.reply().startswith("221")
    assert stored_notes(daemon, done) == ["first"]
    assert stored_notes(daemon, again) == ["second"]


def test_an_empty_mail_is_answered_and_the_session_goes_on(daemon, session):
    session.envelope()
    session.sock.sendall(b".\r\n")
    assert session.reply().startswith("550 5.7.1")  # no header From at all
    session.sock.sendall(b"NOOP\r\n")
    assert session.reply().startswith("250")


def test_the_longest_line_allowed_is_taken(daemon, session):
    note = "y" * (999 - len("1,2024/05/16,1,"))
    session.envelope()
    session.sock.sendall(stuffed(raw_mail(csv_bytes([f"1,2024/05/16,1,{note}"]))))
    reply = session.reply()
    assert reply.startswith("250 2.0.0"), reply
    assert stored_notes(daemon, reply) == [note]


def test_a_line_too_long_gets_500_is_listed_and_the_session_goes_on(daemon, session):
    runs = daemon.query("SELECT count(*) FROM runs")
    note = "z" * (1000 - len("1,2024/05/16,1,"))
    session.envelope()
    session.sock.sendall(stuffed(raw_mail(csv_bytes([f"1,2024/05/16,1,{note}"]))))
    assert session.reply() == "500 5.5.2 Line too long (RFC 5321 4.5.3.1.6)"
    listed = httpx.get(f"{daemon.api}/api/v1/refusals", headers=ADMIN, timeout=10).json()
    [found] = [r for r in listed["refusals"] if r["reason"] == "line_too_long"]
    assert (found["channel"], found["code"], found["who"]) == ("mail", "500 5.5.2", SENDER)
    assert found["what"] == RCPT and "999 bytes" in found["detail"]
    assert daemon.query("SELECT count(*) FROM runs") == runs, "a refused mail made a run"
    # The same session takes the next mail.
    session.envelope()
    session.sock.sendall(stuffed(raw_mail(csv_bytes(["3,2024/05/16,3,after"]))))
    reply = session.reply()
    assert reply.startswith("250 2.0.0"), reply
    assert stored_notes(daemon, reply) == ["after"]


def test_a_mail_over_the_size_limit_is_read_to_its_end_then_refused(daemon, session):
    rows = [f"{i},2024/05/16,{i},{'w' * 200}" for i in range(1200)]  # over 200,000 bytes
    session.envelope()
    session.sock.sendall(stuffed(raw_mail(csv_bytes(rows))) + b"NOOP\r\n")
    assert session.reply().startswith("552 5.3.4")
    assert session.reply().startswith("250")  # the NOOP after it: the stream kept its place


def line_by_line(wire: bytes, line_limit: int = 1001) -> tuple[bytes | None, bytes]:
    """What aiosmtpd's own DATA makes of `wire`: the content (None when a line is too
    long) and what is left after the final dot."""
    lines, at = [], 0
    while True:
        end = wire.index(b"\r\n", at) + 2
        line, at = wire[at:end], end
        if line == b".\r\n":
            break
        lines.append(line)
    # A bare LF ends a line too (handlers/smtpdata.py takes it as Postfix does).
    if any(len(part) > line_limit - 2 for line in lines for part in line[:-2].split(b"\n")):
        return None, wire[at:]
    return b"".join(line[1:] if line.startswith(b".") else line for line in lines), wire[at:]


def test_the_block_reader_reads_as_aiosmtpd_reads_line_by_line():
    # The reader alone, fed by a real StreamReader in random packets: every mail and
    # every split gives what aiosmtpd's line-by-line reading gives.
    rng = random.Random(5321)
    pieces = [b".", b"..", b"\r\n", b"\n", b"\r", b"a", b"x" * 997, b"y" * 300, b".\r\n"]

    async def read(wire: bytes) -> tuple[smtpdata.Mail, bytes]:
        reader = asyncio.StreamReader(limit=1001)
        cuts = sorted(rng.sample(range(1, len(wire)), min(len(wire) - 1, rng.randint(0, 6))))

        async def feed() -> None:
            for start, end in zip([0, *cuts], [*cuts, len(wire)], strict=True):
                reader.feed_data(wire[start:end])
                await asyncio.sleep(0)  # the reader reads what came so far
            reader.feed_eof()

        feeding = asyncio.create_task(feed())
        mail = await smtpdata.read_mail(reader, 0, 1001)
        await feeding
        return mail, await reader.read()

    for _ in range(3000):
        body = b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        wire = body + (b"" if body.endswith(b"\r\n") or not body else b"\r\n") + b".\r\nQUIT\r\n"
        expected, left = line_by_line(wire)
        mail, rest = asyncio.run(read(wire))
        assert rest == left, wire
        if expected is None:
            assert mail.problem is smtpdata.Problem.LINE_TOO_LONG, wire
        else:
            assert (mail.problem, mail.content) == (None, expected), wire


def test_the_block_reader_keeps_nothing_of_a_mail_over_the_size_limit():
    async def read() -> smtpdata.Mail:
        reader = asyncio.StreamReader(limit=1001)
        reader.feed_data(b"line\r\n" * 10_000 + b".\r\n")
        return await smtpdata.read_mail(reader, 50_000, 1001)

    assert asyncio.run(read()) == smtpdata.Mail(b"", smtpdata.Problem.TOO_MUCH)
