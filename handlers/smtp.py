"""Mail intake. Spools each CSV attachment of an accepted message; never parses CSV.

An aiosmtpd server bound inside the daemon's own event loop. Replies live in the
constants below; 250 is sent only after every attachment is fsynced in the spool, and
our own trouble is always a 4xx so the sender retries.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Callable, Iterator
from email.header import decode_header, make_header
from email.message import Message
from email.utils import getaddresses
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from daemon.settings import Account, Settings, listen_error, split_listen
from handlers import mime
from handlers.base import (
    Delivery,
    Intake,
    IntakeSink,
    Refusal,
    SpoolUnavailable,
    bare_name,
    peer_text,
    sender_allowed,
)

log = logging.getLogger(__name__)

# Every reply, in English in both languages: RFC 5321 replies are ASCII, and aiosmtpd
# encodes them as ASCII unless SMTPUTF8 is on (SMTP.push), so a Japanese text would
# fail on the wire. Senders are machines that log and match on the code and enhanced
# code; `report.language` reaches people through the report mail instead.
S250_OK = "250 2.0.0 Ok"
S250_SENDER_OK = "250 2.1.0 Ok"
S250_RECIPIENT_OK = "250 2.1.5 Ok"
S250_QUEUED = "250 2.0.0 Ok: queued as {ids}"
S421_TOO_MANY = "421 4.7.0 Too many connections, try again later"
S451_SPOOL_ERROR = "451 4.3.0 Temporary failure, try again later"
S452_LOW_SPACE = "452 4.3.1 Insufficient system storage, try again later"
S550_UNKNOWN_RECIPIENT = "550 5.1.1 No such recipient here"
S550_SENDER_REFUSED = "550 5.7.1 Sender not allowed for this recipient"
S552_TOO_BIG = "552 5.3.4 Message too big"

CHANNEL = "mail"
# Excel workbooks, taken as attachments too (`excel = true`): by name, or by type.
WORKBOOK_SUFFIXES = (".xlsx", ".xls")
_WORKBOOK_TYPES = {
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "application/vnd.ms-excel": ".xls",
}


class ConnectionLimiter:
    """Counts sessions globally and per address."""

    def __init__(self, total: int, per_address: int) -> None:
        self.total = total
        self.per_address = per_address
        self.open: collections.Counter[str] = collections.Counter()

    def admit(self, address: str) -> bool:
        if sum(self.open.values()) >= self.total or self.open[address] >= self.per_address:
            return False
        self.open[address] += 1
        return True

    def release(self, address: str) -> None:
        self.open[address] -= 1
        if self.open[address] <= 0:
            del self.open[address]


class RenkeiSMTP(SMTP):
    """aiosmtpd's server with our connection limits and enhanced status codes."""

    def __init__(self, handler: MailHandler, limiter: ConnectionLimiter, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._limiter = limiter
        self._peer_address: str | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if self._peer_address is not None:  # STARTTLS re-entry
            return
        peer = transport.get_extra_info("peername") or ("?", 0)
        if self._limiter.admit(peer[0]):
            self._peer_address = peer[0]
            return
        # Refuse before the greeting: the client task has not run yet.
        self._handler_coroutine.cancel()
        transport.write(f"{S421_TOO_MANY}\r\n".encode())
        transport.close()
        detail = "over smtp.max_connections or smtp.max_connections_per_address"
        code, reason = _code(S421_TOO_MANY), "too_many_connections"
        self.event_handler.sink.refused(
            Refusal(CHANNEL, peer_text(peer), code, reason, detail=detail)
        )

    def connection_lost(self, error: Exception | None) -> None:
        if self._peer_address is not None:
            self._limiter.release(self._peer_address)
            self._peer_address = None
        super().connection_lost(error)

    async def push(self, status: bytes | str) -> None:
        # aiosmtpd's own size replies lack the enhanced code senders log and match on.
        text = status.decode() if isinstance(status, bytes) else status
        if text.startswith("552 Error"):
            status = self._too_big()
        await super().push(status)

    def _too_big(self) -> str:
        envelope = self.envelope
        who = (envelope.mail_from or "") if envelope else ""
        what = ", ".join(envelope.rcpt_tos) if envelope else ""
        detail = f"over smtp.max_message_bytes ({self.data_size_limit} bytes)"
        peer = peer_text(self.session.peer) if self.session else ""
        reply = S552_TOO_BIG
        self.event_handler.sink.refused(
            Refusal(CHANNEL, peer, _code(reply), "too_large", who, what, detail)
        )
        return reply


class MailHandler:
    """aiosmtpd hooks: the checks of DESIGN's mail table, in the order SMTP allows."""

    def __init__(self, intake: MailIntake) -> None:
        self.intake = intake
        self.sink = intake.sink

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if not await asyncio.to_thread(self.sink.has_room):
            detail = "spool space under daemon.min_free_bytes"
            return self._refused(session, S452_LOW_SPACE, "low_space", address, "", detail)
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return S250_SENDER_OK

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        found = self.intake.settings.account_by_address(address)
        # The null sender (<>, as bounces use) counts as "not set".
        mail_from = (envelope.mail_from or "").strip("<>")
        if found is None:
            detail = "no account has this address"
            reply = S550_UNKNOWN_RECIPIENT
            return self._refused(session, reply, "unknown_recipient", mail_from, address, detail)
        name, account = found
        if mail_from and not sender_allowed(account, mail_from):
            detail = f"envelope sender not in accounts.{name}.mail.allowed_senders"
            reply = S550_SENDER_REFUSED
            return self._refused(session, reply, "sender_not_allowed", mail_from, address, detail)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return S250_RECIPIENT_OK

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        try:
            # MIME parsing takes tens of ms for a 3 MB message: off the event loop, so
            # other sessions are answered meanwhile.
            deliveries = await asyncio.to_thread(self._deliveries, envelope)
        except _SenderRefused as refused:
            who = ", ".join(refused.senders) or envelope.mail_from or ""
            rcpts, detail = ", ".join(envelope.rcpt_tos), refused.detail()
            return self._refused(
                session, S550_SENDER_REFUSED, "sender_not_allowed", who, rcpts, detail
            )
        try:
            receipt = await self.sink.spool(deliveries)
        except SpoolUnavailable as exc:
            log.exception("mail from %s: spool unavailable", envelope.mail_from)
            names = ", ".join(d.filename for d in deliveries)
            detail = f"spool unavailable: {exc}; attachments: {names}"
            who, rcpts = envelope.mail_from or "", ", ".join(envelope.rcpt_tos)
            return self._refused(session, S451_SPOOL_ERROR, "spool_unavailable", who, rcpts, detail)
        if receipt.replayed:
            # A sender that saw no reply to the first copy sends it again.
            log.info("mail %s was taken before", deliveries[0].idempotency_key)
        return S250_QUEUED.format(ids=" ".join(receipt.ids))

    def _refused(
        self, session: Session, reply: str, reason: str, who: str, what: str, detail: str
    ) -> str:
        """Tell the sink of a refusal; returns the reply that says it."""
        peer = peer_text(session.peer)
        self.sink.refused(Refusal(CHANNEL, peer, _code(reply), reason, who, what, detail))
        return reply

    async def handle_exception(self, error: Exception) -> str:
        # Whatever went wrong is ours, not the sender's: make it retry, never a 5xx.
        log.error("SMTP session failed: %r", error, exc_info=error)
        return S451_SPOOL_ERROR

    def _deliveries(self, envelope: Envelope) -> list[Delivery]:
        raw = envelope.original_content
        message, parts = mime.leaf_parts(raw) or mime.library_parts(raw)
        senders = _header_senders(message)
        attachments = list(csv_attachments(parts))
        sender = senders[0] if senders else ""
        deliveries: list[Delivery] = []
        for name, account in self._accounts(envelope.rcpt_tos):
            if not senders or not all(sender_allowed(account, s) for s in senders):
                raise _SenderRefused(name, senders, [n for n, _ in attachments])
            deliveries += _account_deliveries(name, account, sender, attachments)
        # The same Message-ID is the same message sent again, never a new one.
        message_id = str(message.get("Message-ID", "")).strip()[:200]
        if message_id:
            for index, delivery in enumerate(deliveries):
                delivery.idempotency_key = f"mail:{message_id}:{index}"
        return deliveries

    def _accounts(self, recipients: list[str]) -> Iterator[tuple[str, Account]]:
        seen = set()
        for address in recipients:
            found = self.intake.settings.account_by_address(address)
            if found and found[0] not in seen:
                seen.add(found[0])
                yield found


class _SenderRefused(Exception):
    """A header From the account does not allow: whose, and what the mail carried."""

    def __init__(self, account: str, senders: list[str], files: list[str]) -> None:
        super().__init__(account)
        self.account, self.senders, self.files = account, senders, files

    def detail(self) -> str:
        where = f"accounts.{self.account}.mail.allowed_senders"
        said = f"header From not in {where}" if self.senders else "no header From"
        return f"{said}; attachments: {', '.join(self.files) or 'none'}"


def _code(reply: str) -> str:
    """A reply's code and enhanced code: '550 5.7.1'."""
    return " ".join(reply.split()[:2])


def _account_deliveries(
    name: str, account: Account, sender: str, attachments: list[tuple[str, bytes]]
) -> list[Delivery]:
    if account.status == "stopped":
        names = ", ".join(n for n, _ in attachments)
        return [Delivery(name, CHANNEL, sender, names, problem="account_stopped")]
    if not attachments:
        return [Delivery(name, CHANNEL, sender, "", problem="no_csv_attachment")]
    taken = for_account(account, attachments)
    return [Delivery(name, CHANNEL, sender, n, data) for n, data in taken]


def _header_senders(message: Message) -> list[str]:
    values = message.get_all("From", [])
    return [addr.lower() for _, addr in getaddresses([str(v) for v in values]) if addr]


def csv_attachments(parts: list[mime.Part]) -> Iterator[tuple[str, bytes]]:
    """Every CSV part (by name ending in .csv, or by type text/csv) and every workbook
    part (by name ending in .xlsx or .xls, or by its type), forwarded mail included."""
    for part, payload in parts:
        name = _filename(part)
        kind = part.get_content_type()
        if name.lower().endswith((".csv", *WORKBOOK_SUFFIXES)):
            yield bare_name(name), payload()
        elif kind == "text/csv":
            yield bare_name(name or "attachment.csv"), payload()
        elif kind in _WORKBOOK_TYPES:
            yield bare_name(name or "attachment" + _WORKBOOK_TYPES[kind]), payload()


def for_account(account: Account, attachments: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """The attachments that make runs of `account`. A workbook goes to an account
    with `excel = true`; to any other only when the mail holds no CSV, so that its
    run says what to set rather than that the mail had no attachment."""
    if account.excel:
        return attachments
    csvs = [(n, data) for n, data in attachments if not n.lower().endswith(WORKBOOK_SUFFIXES)]
    return csvs or attachments


def _filename(part: Message) -> str:
    try:
        name = part.get_filename() or part.get_param("name") or ""
    except (ValueError, LookupError):
        return ""
    if isinstance(name, tuple):  # an RFC 2231 value the parser left undecoded
        name = name[2]
    name = str(name)
    if "=?" in name:
        # Many mailers put RFC 2047 encoded words in the parameter, though the RFC
        # forbids it; Japanese clients do this with ISO-2022-JP.
        with contextlib.suppress(ValueError, LookupError, UnicodeDecodeError):
            name = str(make_header(decode_header(name)))
    return name


class MailIntake(Intake):
    channel = CHANNEL

    def __init__(self, settings: Callable[[], Settings], sink: IntakeSink) -> None:
        super().__init__(settings, sink)
        self.server: asyncio.Server | None = None

    async def start(self) -> None:
        conf = self.settings.smtp
        host, port = split_listen(conf.listen)
        handler = MailHandler(self)
        limiter = ConnectionLimiter(conf.max_connections, conf.max_connections_per_address)

        def factory() -> RenkeiSMTP:
            return RenkeiSMTP(
                handler,
                limiter,
                data_size_limit=conf.max_message_bytes,
                hostname=conf.hostname,
                ident="renkei",
                timeout=conf.timeout,
            )

        loop = asyncio.get_running_loop()
        try:
            self.server = await loop.create_server(factory, host, port)
        except OSError as exc:
            raise listen_error("smtp.listen", conf.listen, exc) from None
        log.info("smtp listening on %s", self.address)

    @property
    def address(self) -> str:
        assert self.server is not None
        host, port = self.server.sockets[0].getsockname()[:2]
        return f"{host}:{port}"

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
