"""The intake contract: what every channel hands over, and what it may ask of the daemon.

A channel knows its protocol and nothing about CSV: it calls `IntakeSink.spool()` with
one Delivery per file and answers its client once that call returns. It never imports
the importers or the store.
"""

from __future__ import annotations

import abc
import hashlib
import os
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from daemon.settings import Account, Settings


class SpoolUnavailable(Exception):
    """The spool could not take the delivery; the sender should try again later."""


@dataclass(slots=True)
class Delivery:
    account: str
    channel: str  # mail | ftp | api | dropdir | cli
    sender: str
    filename: str
    data: bytes | Path | None = None
    options: dict[str, Any] = field(default_factory=dict)
    problem: str | None = None  # accepted, but holds no file: no_csv_attachment, account_stopped
    id: str | None = None  # the run id, when the channel must know it before spooling
    idempotency_key: str = ""  # the same key again is the same delivery again
    # The sender is answered with run ids, so the same file again may be answered with
    # the earlier run (see daemon/spool/memory.py for the rules).
    by_content: bool = False
    # Mail: the door's SPF/DKIM/DMARC verdict (RFC 8601 value; '' when not evaluated),
    # and the sentence the run says when `sender_auth = "flag"` found it failing.
    authentication_results: str = ""
    unauthenticated: str = ""
    # Mail: the mail's other attachments, by name, beside the file imported (a zip, a
    # PDF): said in the run, so that what was sent and not taken is never silent.
    also_attached: str = ""
    # Mail without a file to import: its Subject (handlers/attachments.subject_of), said
    # in the run so that the admin can tell which mail it was.
    subject: str = ""
    # The logical file it is, as resends are compared: set by the sink, once, from the
    # account's file-name rule (filenames.file_key); a door leaves it empty.
    file_key: str = ""
    # When the door took it whole, when that was before it was spooled (an FTP upload
    # waits for its account's check); '' for now.
    received_at: str = ""


@dataclass(frozen=True, slots=True)
class Refusal:
    """A delivery refused at the door, as the channel that refused it tells the sink.

    No run is made for it: it gets its reply, and the sink logs it, counts it and keeps
    it for `GET /api/v1/refusals`. Text from outside (an address, a file name) may sit
    in any field but `code` and `reason`; a secret (a password, a token) in none.
    """

    channel: str
    peer: str  # the client's address and port, as peer_text() writes them
    code: str  # the reply as sent: "550 5.1.1", "553", "401"
    reason: str  # stable and the same in every language: unknown_recipient, bad_token, …
    who: str = ""  # the sender address, the FTP user, the token's account
    what: str = ""  # the recipient, the file name, the request path
    detail: str = ""  # a short English sentence, for the admin


@dataclass(frozen=True, slots=True)
class Receipt:
    """What spooling came to: the run ids, and whether they are earlier runs answered
    again because the delivery came before."""

    ids: list[str]
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class RunReport:
    """A finished run as a channel may tell its sender: the run as JSON, its first
    row errors, whether it failed, and whether on a size limit."""

    run: dict[str, Any]
    errors: list[dict[str, Any]]
    failed: bool = False
    over_limit: bool = False


class IntakeSink(Protocol):
    async def spool(self, deliveries: Sequence[Delivery]) -> Receipt:
        """Durably spool every delivery, or none (raises SpoolUnavailable); a resend
        is answered with its earlier runs instead."""

    def has_room(self) -> bool:
        """False when the spool's disk is nearly full."""

    def refused(self, refusal: Refusal) -> None:
        """Log, count and keep a delivery refused at the door (no run is made for it).
        Safe to call from any thread."""

    def filename_problem(
        self, name: str, *, account: Account | None = None, language: str | None = None
    ) -> str | None:
        """Why `name` breaks `account`'s file-name rule (the default rule without one),
        or None (for refusing at the door); in `language`, else `report.language`."""

    def text(self, key: str, language: str | None = None, **params: object) -> str:
        """The message catalog's sentence `key` in `language`, else `report.language`:
        a channel's words come from the one catalog without importing it."""

    def new_id(self) -> str:
        """A fresh run id, for a channel that claims a file before spooling it."""

    def sync_names(self, folder: Path) -> None:
        """Make the names a channel just created or renamed in `folder` durable, once
        their files are fsynced (nothing more where those fsyncs did it). Safe to call
        from any thread."""

    async def known(self, run_id: str) -> bool:
        """Whether a file was spooled under `run_id` (in the spool or as a run)."""

    async def finished(self, run_id: str, timeout: float, errors: int) -> RunReport | None:
        """The run once it is final, with its first `errors` row errors; None when that
        takes longer than `timeout` seconds."""


class Intake(abc.ABC):
    """One intake channel (`MailIntake`, …) started and stopped by the master."""

    channel: str

    def __init__(self, settings: Callable[[], Settings], sink: IntakeSink) -> None:
        self._settings = settings
        self.sink = sink

    @property
    def settings(self) -> Settings:
        return self._settings()

    @abc.abstractmethod
    async def start(self) -> None:
        """Bind the listener; return once it accepts connections."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Stop accepting; let sessions in progress end."""


def sender_allowed(account: Account, sender: str) -> bool:
    """`allowed_senders` holds addresses and `@domain` entries; empty allows nobody."""
    sender = sender.strip().lower()
    if not sender or account.mail is None:
        return False
    allowed = account.mail.allowed_senders
    domain = "@" + sender.rpartition("@")[2]
    return sender in allowed or domain in allowed


def peer_text(peer: object) -> str:
    """A client's (host, port) as `host:port` (`[host]:port` for IPv6); '' unknown."""
    if not isinstance(peer, tuple | list) or len(peer) < 2:
        return ""
    host, port = str(peer[0]), peer[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer …` header, or '' when it holds none."""
    scheme, _, token = (authorization or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def bare_name(name: str) -> str:
    """Reduce a file name from outside to a bare name: no folders, no control characters.

    A partner's mailer may send `C:\\x\\20240516.csv` or `../../x.csv`; only the last
    component survives, so no path ever leaves the spool.
    """
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    # Control characters, and the line and paragraph separators (U+2028, U+2029) that
    # break a report's Subject as a line feed does.
    if not (name.isascii() and name.isprintable()):  # else no character is unseen
        name = "".join(
            ch for ch in name if unicodedata.category(ch) not in UNSEEN and ch not in _CP932_STRAYS
        )
    name = name.strip().lstrip(".")
    # Cut only far past what a file system holds: a name too long is then refused
    # naming its length (filenames.length_problem), not taken cut to a name it never had.
    return name[:MAX_NAME_CHARS] or "unnamed"


def unseen_characters(name: str) -> str:
    """The characters of `name` bare_name() drops as unseen, each once as `U+XXXX`, or
    '' when it holds none: for a door that refuses such a name instead of taking it
    under another (FTP, whose client lists the name it sent)."""
    found = dict.fromkeys(
        f"U+{ord(ch):04X}"
        for ch in name
        if unicodedata.category(ch) in UNSEEN or ch in _CP932_STRAYS
    )
    return ", ".join(found)


def readable(name: str | bytes) -> str:
    """A name as a file system or a raw mail header gave it, as text: bytes that are no
    UTF-8 (Python holds them as lone surrogates, which no record can store) read as
    CP932, as a Windows share, a Japanese zip or mailer writes names, or else shown as
    U+FFFD."""
    raw = name if isinstance(name, bytes) else os.fsencode(name)
    for encoding in ("utf-8", "cp932"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return raw.decode("utf-8", "replace")


MAX_NAME_CHARS = 1000
# Not private use (Co) nor unassigned (Cn): CP932's user-defined characters (外字,
# F040-F9FC) decode to U+E000-U+E757, and dropped, `顧客.csv` and `顧客<外字>.csv` were
# one file whose rows each replaced the other's.
UNSEEN = frozenset(("Cc", "Cf", "Cs", "Zl", "Zp"))
# What CP932 makes of the bytes 0xA0 and 0xFD-0xFF, which are no character in it
# (Microsoft maps them to private use): stray bytes, dropped as the unseen are.
_CP932_STRAYS = frozenset("\uf8f0\uf8f1\uf8f2\uf8f3")
MAX_KEY_CHARS = 200


def bounded_key(key: str) -> str:
    """An idempotency key (an `Idempotency-Key`, a Message-ID) as it is kept: a long
    one is cut with a digest of the whole, so two keys alike in their first part
    stay two deliveries. So is one holding a NUL, without it: PostgreSQL's text holds
    none, and a mail whose Message-ID had one got 451 at every try, for ever."""
    if len(key) <= MAX_KEY_CHARS and "\x00" not in key:
        return key
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{key[: MAX_KEY_CHARS - len(digest) - 1].replace(chr(0), '')}~{digest}"
