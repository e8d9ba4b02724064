"""Mail intake. Spools each CSV attachment of an accepted message; never parses CSV.

An aiosmtpd server bound inside the daemon's own event loop. Replies live in the
constants below; 250 is sent only after every attachment is fsynced in the spool, and
our own trouble is always a 4xx so the sender retries.
"""

from __future__ import annotations

import asyncio
import collections
import ipaddress
import logging
from collections.abc import Callable, Iterator
from typing import Any

from aiosmtpd.proxy_protocol import ProxyData
from aiosmtpd.smtp import SMTP, Envelope, Session, TLSSetupException

from daemon.settings import Account, Settings, listen_error, split_listen
from daemon.settings.tls import server_context
from handlers import mailauth, mailread, mime, smtpdata
from handlers.attachments import Carried, for_account
from handlers.base import (
    Delivery,
    Intake,
    IntakeSink,
    Receipt,
    Refusal,
    SpoolUnavailable,
    peer_text,
    sender_allowed,
)
from handlers.mailreaders import MailReaders

log = logging.getLogger(__name__)

# Every reply, in English in both languages: RFC 5321 replies are ASCII, and aiosmtpd
# encodes them as ASCII unless SMTPUTF8 is on (SMTP.push), so a Japanese text would
# fail on the wire. Senders are machines that log and match on the code and enhanced
# code; `report.language` reaches people through the report mail instead.
S250_OK = "250 2.0.0 Ok"
S250_SENDER_OK = "250 2.1.0 Ok"
S250_RECIPIENT_OK = "250 2.1.5 Ok"
S250_QUEUED = "250 2.0.0 Ok: queued as {ids}"
# A bounce or auto-reply (handlers/automail.py): taken, since refusing a bounce makes
# the bouncer bounce again, but no run, so no report answers it.
S250_AUTOMATIC = "250 2.0.0 Ok: automatic mail, not imported"
# A person's reply to a report, with no CSV (handlers/replies.py): taken for the same
# reason, since a failed run would answer it with a report of its own.
S250_REPLY = "250 2.0.0 Ok: reply to a report, not imported"
# A reply line's longest, its CRLF aside (RFC 5321 4.5.3.1.5: 512 octets with it).
_REPLY_LINE = 510
S421_TOO_MANY = "421 4.7.0 Too many connections, try again later"
# RFC 5321 4.2: a session the server ends on its own (smtp.timeout, smtp.min_data_rate).
S421_TIMEOUT = "421 4.4.2 Timeout exceeded, closing connection"
S421_TOO_SLOW = "421 4.4.2 Data too slow (under the minimum rate), closing connection"
S451_SPOOL_ERROR = "451 4.3.0 Temporary failure, try again later"
S452_LOW_SPACE = "452 4.3.1 Insufficient system storage, try again later"
S550_UNKNOWN_RECIPIENT = "550 5.1.1 No such recipient here"
S550_SENDER_REFUSED = "550 5.7.1 Sender not allowed for this recipient"
# Sender authentication (handlers/mailauth.py; RFC 7372 codes).
S550_NETWORK_REFUSED = "550 5.7.1 Mail from this network not allowed for this recipient"
S451_AUTH_TEMPORARY = "451 4.7.0 Sender authentication temporarily unavailable, try again later"
S550_AUTH_FAILED = "550 {code} Sender not authenticated: {what} failed for the sender's domain"
S552_TOO_BIG = "552 5.3.4 Message too big"
S554_TOO_NESTED = "554 5.6.0 Message parts nested too deeply to read"
S554_TOO_MANY_PARTS = "554 5.6.0 Too many message parts to read"
S500_LINE_TOO_LONG = "500 5.5.2 Line too long (RFC 5321 4.5.3.1.6)"
S354_GO_AHEAD = "354 End data with <CR><LF>.<CR><LF>"
S530_TLS_FIRST = "530 5.7.0 Must issue a STARTTLS command first"

CHANNEL = "mail"
# smtp.proxy_protocol: seconds a connection has to send its PROXY header. A load
# balancer sends it at once; aiosmtpd warns below 3.
PROXY_TIMEOUT = 10.0


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
    """aiosmtpd's server with our connection limits, enhanced status codes and timeouts,
    reading the mail after DATA in blocks."""

    def __init__(
        self,
        handler: MailHandler,
        limiter: ConnectionLimiter,
        min_data_rate: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(handler, **kwargs)
        self._limiter = limiter
        self._peer_address: str | None = None  # the address counted by the limiter
        self._proxied_peer: Any = None  # (host, port) the PROXY header named
        self._min_data_rate = min_data_rate  # smtp.min_data_rate; 0: none
        self._in_data = False  # reading the mail after 354 (our own work after it is not)
        self._deadline = 0.0  # loop time the DATA phase ends at unless more comes
        self._last_read = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if self._peer_address is not None:  # STARTTLS re-entry: a new session, same client
            if self._proxied_peer is not None:
                self.session.peer = self._proxied_peer
            return
        if self._proxy_timeout is not None:
            # Behind a load balancer every connection comes from its address: the
            # limits count the client the PROXY header names (proxied()).
            return
        peer = transport.get_extra_info("peername") or ("?", 0)
        if not self._admit(peer, transport):
            # Refused before the greeting: the client task has not run yet.
            self._handler_coroutine.cancel()
            transport.close()

    def _admit(self, peer: tuple[Any, ...], transport: asyncio.BaseTransport) -> bool:
        """Count a session of `peer` against the limits; when over them, say 421 and
        tell the sink (the caller closes the connection)."""
        if self._limiter.admit(str(peer[0])):
            self._peer_address = str(peer[0])
            return True
        transport.write(f"{S421_TOO_MANY}\r\n".encode())
        detail = "over smtp.max_connections or smtp.max_connections_per_address"
        code, reason = _code(S421_TOO_MANY), "too_many_connections"
        self.event_handler.sink.refused(
            Refusal(CHANNEL, peer_text(peer), code, reason, detail=detail)
        )
        return False

    def proxied(self, data: ProxyData) -> bool:
        """smtp.proxy_protocol: the PROXY header came; from now on its source address
        is the session's peer (allowed_networks, SPF, refusals, the limits). False
        refuses the session, and aiosmtpd closes it."""
        if isinstance(data.src_addr, ipaddress.IPv4Address | ipaddress.IPv6Address):
            self.session.peer = (str(data.src_addr), data.src_port or 0)
        # else LOCAL (v2) or UNKNOWN (v1): the balancer's own connection, as the spec says
        self._proxied_peer = self.session.peer
        assert self.transport is not None
        return self._admit(self.session.peer, self.transport)

    async def _handle_client(self) -> None:
        await super()._handle_client()
        if self._proxy_timeout is not None and self._proxied_peer is None:
            # aiosmtpd closed it without a greeting: no PROXY header, or a broken one.
            detail = "no valid PROXY header first, with smtp.proxy_protocol"
            peer = peer_text(self.session.peer) if self.session else ""
            self.event_handler.sink.refused(
                Refusal(CHANNEL, peer, "", "no_proxy_header", detail=detail)
            )

    def connection_lost(self, error: Exception | None) -> None:
        if self._peer_address is not None:
            self._limiter.release(self._peer_address)
            self._peer_address = None
        super().connection_lost(error)

    # -- timeouts: smtp.timeout per read, smtp.min_data_rate over DATA ----------------
    # aiosmtpd restarts its timer at each command only, so a whole DATA phase had to fit
    # in smtp.timeout. Here every read in DATA restarts it too; with a minimum rate
    # (Postfix's smtpd_min_data_rate) each byte read buys 1/rate s more, never more than
    # smtp.timeout ahead: a slow but steady sender goes on, a slow drip runs out.

    async def smtp_DATA(self, arg: str) -> None:
        # aiosmtpd's own, but reading the mail in blocks (handlers/smtpdata.py).
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        envelope = self.envelope
        assert envelope is not None
        if not envelope.rcpt_tos:
            await self.push("503 5.5.1 Error: need RCPT command")
            return
        if arg:
            await self.push("501 5.5.4 Syntax: DATA")
            return
        await self.push(S354_GO_AHEAD)
        self._in_data = True
        self._deadline = self._last_read = self.loop.time()
        self._deadline += self._timeout_duration
        try:
            mail = await smtpdata.read_mail(
                self._reader, self.data_size_limit or 0, self.line_length_limit
            )
        except asyncio.CancelledError:
            log.info("connection lost during DATA")
            self._writer.close()
            raise
        finally:
            self._in_data = False
        if mail.problem is not None:
            too_much = mail.problem is smtpdata.Problem.TOO_MUCH
            await self.push(self._too_big() if too_much else self._line_too_long())
            self._set_post_data_state()
            return
        envelope.content = envelope.original_content = mail.content
        # The mail is all in: spooling it is our work, not the sender's delay.
        if self._timeout_handle is not None:
            self._timeout_handle.cancel()
        try:
            status = await self._call_handler_hook("DATA")
        finally:
            if self.transport is not None:
                self._reset_timeout()
        self._set_post_data_state()
        await self.push(status)

    def data_received(self, data: bytes) -> None:
        if self._in_data and self.transport is not None:
            now = self._last_read = self.loop.time()
            left = float(self._timeout_duration)
            if self._min_data_rate:
                credit = max(self._deadline - now, 0.0) + len(data) / self._min_data_rate
                left = min(credit, left)
            self._deadline = now + left
            self._reset_timeout(left)
        super().data_received(data)

    def _timeout_cb(self) -> None:
        # RFC 5321 4.2: say 421 before closing a session on our own.
        transport = self.transport
        if transport is not None and not transport.is_closing():
            too_slow = self._in_data and (
                self.loop.time() - self._last_read < self._timeout_duration
            )
            reply = S421_TOO_SLOW if too_slow else S421_TIMEOUT
            transport.write(f"{reply}\r\n".encode())
            if self._in_data:  # a mail cut off part-way: the admin may want to know
                self._cut_off(reply, too_slow)
        super()._timeout_cb()

    def _cut_off(self, reply: str, too_slow: bool) -> None:
        if too_slow:
            reason = "too_slow"
            detail = f"DATA under smtp.min_data_rate ({self._min_data_rate} bytes/s)"
        else:
            reason = "timeout"
            detail = f"nothing read in DATA for smtp.timeout ({self._timeout_duration}s)"
        self._refused_in_data(reply, reason, detail)

    def _refused_in_data(self, reply: str, reason: str, detail: str) -> str:
        """Tell the sink of a mail refused once its envelope was given; returns the
        reply that says it."""
        envelope = self.envelope
        who = (envelope.mail_from or "") if envelope else ""
        what = ", ".join(envelope.rcpt_tos) if envelope else ""
        peer = peer_text(self.session.peer) if self.session else ""
        self.event_handler.sink.refused(
            Refusal(CHANNEL, peer, _code(reply), reason, who, what, detail)
        )
        return reply

    async def push(self, status: bytes | str) -> None:
        # aiosmtpd's own size replies lack the enhanced code senders log and match on.
        text = status.decode() if isinstance(status, bytes) else status
        if text.startswith("250-AUTH"):
            # aiosmtpd offers AUTH once TLS is on, with nothing to log in to: a mailer
            # set to log in where AUTH is offered failed every mail for good (535).
            return
        if text.startswith("552 Error"):
            status = self._too_big()
        elif text.startswith("530 Must issue a STARTTLS"):  # smtp.require_tls
            status = self._tls_first()
        await super().push(status)

    def _tls_first(self) -> str:
        peer = peer_text(self.session.peer) if self.session else ""
        detail = "a command before STARTTLS, with smtp.require_tls"
        reply = S530_TLS_FIRST
        self.event_handler.sink.refused(
            Refusal(CHANNEL, peer, _code(reply), "tls_required", detail=detail)
        )
        return reply

    def _line_too_long(self) -> str:
        return self._refused_in_data(
            S500_LINE_TOO_LONG,
            "line_too_long",
            f"a line of the mail over {self.line_length_limit - 2} bytes",
        )

    def _too_big(self) -> str:
        detail = f"over smtp.max_message_bytes ({self.data_size_limit} bytes)"
        return self._refused_in_data(S552_TOO_BIG, "too_large", detail)


class MailHandler:
    """aiosmtpd hooks: the checks of DESIGN's mail table, in the order SMTP allows."""

    def __init__(self, intake: MailIntake) -> None:
        self.intake = intake
        self.sink = intake.sink

    async def handle_PROXY(
        self, server: RenkeiSMTP, session: Session, envelope: Envelope, data: ProxyData
    ) -> bool:
        # Called by aiosmtpd only with smtp.proxy_protocol, for a valid header.
        return server.proxied(data)

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
        networks = account.mail.allowed_networks if account.mail else []
        if not mailauth.network_allowed(_peer_ip(session), networks):
            detail = f"peer address not in accounts.{name}.mail.allowed_networks"
            reply = S550_NETWORK_REFUSED
            return self._refused(session, reply, "network_not_allowed", mail_from, address, detail)
        if mail_from and not sender_allowed(account, mail_from):
            detail = f"envelope sender not in accounts.{name}.mail.allowed_senders"
            reply = S550_SENDER_REFUSED
            return self._refused(session, reply, "sender_not_allowed", mail_from, address, detail)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return S250_RECIPIENT_OK

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        who, rcpts = envelope.mail_from or "", ", ".join(envelope.rcpt_tos)
        try:
            # Off the event loop, and a large mail out of this process (mailreaders.py).
            read = await self.intake.readers.read(envelope.original_content or b"", who)
            deliveries = self._deliveries(envelope, read)
        except mailread.Automatic as automatic:
            reply = S250_REPLY if automatic.reason == "reply_to_report" else S250_AUTOMATIC
            return self._refused(session, reply, automatic.reason, who, rcpts, automatic.detail)
        except _SenderRefused as refused:
            who = ", ".join(refused.senders) or who
            return self._refused(
                session, S550_SENDER_REFUSED, "sender_not_allowed", who, rcpts, refused.detail()
            )
        except mailread.TooManyParts:
            # The same mail would fail again: no 4xx. Said before any parsing.
            detail = f"more than {mime.MAX_PART_LINES} MIME part delimiter lines"
            return self._refused(session, S554_TOO_MANY_PARTS, "too_many_parts", who, rcpts, detail)
        except RecursionError:
            # Thousands of multiparts one inside another: the parser cannot walk them.
            # The same mail would fail again, so no 4xx: the sender must be told.
            detail = "MIME parts nested past what the parser can read"
            return self._refused(session, S554_TOO_NESTED, "too_nested", who, rcpts, detail)
        if not deliveries:
            # Every recipient's account was removed (or its address changed) by a
            # reload since its RCPT: no account to take the mail, said as at RCPT.
            detail = "no account has this address since the config was reloaded"
            return self._refused(
                session, S550_UNKNOWN_RECIPIENT, "unknown_recipient", who, rcpts, detail
            )
        refusal = await self._authenticate(session, envelope, deliveries)
        if refusal is not None:
            return refusal
        try:
            receipt = await self._spool(deliveries)
        except SpoolUnavailable as exc:
            # Said, not traced: the spool or the store's trouble, the 451 its answer.
            log.error("mail from %s: spool unavailable: %s", envelope.mail_from, exc)
            names = ", ".join(d.filename for d in deliveries)
            detail = f"spool unavailable: {exc}; attachments: {names}"
            who, rcpts = envelope.mail_from or "", ", ".join(envelope.rcpt_tos)
            return self._refused(session, S451_SPOOL_ERROR, "spool_unavailable", who, rcpts, detail)
        return queued_reply(receipt.ids)

    async def _spool(self, deliveries: list[Delivery]) -> Receipt:
        """Spool a mail's deliveries. A mail with a Message-ID, account by account:
        the sink answers a resend from its first runs only when every delivery it is
        given came before, and a resend may go to one recipient more than the first
        copy, whose delivery alone is new. A 451 after some accounts were spooled is
        safe: the sender's retry finds theirs under the same keys."""
        if not deliveries[0].idempotency_key:
            return await self.sink.spool(deliveries)
        ids: list[str] = []
        for name in dict.fromkeys(d.account for d in deliveries):
            own = [d for d in deliveries if d.account == name]
            receipt = await self.sink.spool(own)
            if receipt.replayed:
                # A sender that saw no reply to the first copy sends it again.
                log.info("mail %s for %s was taken before", own[0].idempotency_key, name)
            ids += receipt.ids
        return Receipt(ids)

    async def _authenticate(
        self, session: Session, envelope: Envelope, deliveries: list[Delivery]
    ) -> str | None:
        """SPF, DKIM and DMARC of the mail, for the accounts whose `sender_auth` is not
        `off`: the refusing reply, or None with the verdict put on their deliveries."""
        accounts = self._accounts(envelope.rcpt_tos)
        policies = {name: account.sender_auth for name, account in accounts}
        if all(policy == "off" for policy in policies.values()):
            return None
        who, rcpts = envelope.mail_from or "", ", ".join(envelope.rcpt_tos)
        try:
            # DNS and RSA: off the event loop, bounded by mailauth.DNS_BUDGET.
            verdict = await asyncio.to_thread(
                mailauth.evaluate,
                envelope.original_content or b"",
                _peer_ip(session),
                who,
                session.host_name or "",
                self.intake.settings.smtp.hostname,
            )
        except mailauth.DnsTemporaryError as exc:
            detail = f"DNS lookup failed or timed out: {exc}"
            return self._refused(
                session, S451_AUTH_TEMPORARY, "auth_temporary_error", who, rcpts, detail
            )
        failed = not verdict.aligned
        required = [name for name, policy in policies.items() if policy == "require"]
        if failed and required:
            what = "SPF" if verdict.refusal_code == "5.7.23" else "DKIM or SPF (DMARC-aligned)"
            reply = S550_AUTH_FAILED.format(code=verdict.refusal_code, what=what)
            where = ", ".join(f"accounts.{name}.sender_auth" for name in required)
            detail = f"{where} is require; {verdict.header}"
            return self._refused(session, reply, "sender_not_authenticated", who, rcpts, detail)
        summary = f"spf={verdict.spf} dkim={verdict.dkim} dmarc={verdict.dmarc}"
        for delivery in deliveries:
            if policies.get(delivery.account, "off") == "off":
                continue
            delivery.authentication_results = verdict.header
            if failed:
                delivery.unauthenticated = summary
        return None

    def _refused(
        self, session: Session, reply: str, reason: str, who: str, what: str, detail: str
    ) -> str:
        """Tell the sink of a refusal; returns the reply that says it."""
        peer = peer_text(session.peer)
        self.sink.refused(Refusal(CHANNEL, peer, _code(reply), reason, who, what, detail))
        return reply

    async def handle_exception(self, error: Exception) -> str:
        if isinstance(error, TLSSetupException):
            # The client's handshake failed (it refused our certificate, or speaks an
            # old TLS): routine with scanners and old MTAs, its traceback flooded the log.
            cause = error.__cause__ or error.__context__
            log.info("SMTP STARTTLS handshake failed: %s", cause or error)
            return S451_SPOOL_ERROR
        # Whatever went wrong is ours, not the sender's: make it retry, never a 5xx.
        log.error("SMTP session failed: %r", error, exc_info=error)
        return S451_SPOOL_ERROR

    def _deliveries(self, envelope: Envelope, read: mailread.Read) -> list[Delivery]:
        """The runs the mail makes for its recipients' accounts."""
        senders, carried = read.senders, read.carried
        sender = senders[0] if senders else ""
        deliveries: list[Delivery] = []
        for name, account in self._accounts(envelope.rcpt_tos):
            if not senders or not all(sender_allowed(account, s) for s in senders):
                raise _SenderRefused(name, senders, [n for n, _ in carried.files])
            deliveries += _account_deliveries(name, account, sender, carried)
        if read.message_id:
            # Counted within each account (the memory keys by account too): the same
            # mail sent again with its recipients in another order, or one more, must
            # find each account's first runs.
            counted: collections.Counter[str] = collections.Counter()
            for delivery in deliveries:
                index = counted[delivery.account]
                counted[delivery.account] += 1
                delivery.idempotency_key = f"mail:{read.message_id}:{index}"
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


def queued_reply(ids: list[str]) -> str:
    """`250 … queued as <ids>`, in lines of at most 512 octets with their CRLF (RFC
    5321 4.5.3.1.5): a mail of many CSVs names each run, on a multiline reply a client
    reads whole, where one long line would make it take the accepted mail for failed."""
    lines: list[str] = []
    for run_id in ids:
        if lines and len(lines[-1]) + 1 + len(run_id) <= _REPLY_LINE:
            lines[-1] += " " + run_id
        else:
            lines.append(S250_QUEUED.format(ids=run_id))
    return "\r\n".join(
        line if i == len(lines) - 1 else "250-" + line[4:] for i, line in enumerate(lines)
    )


def _peer_ip(session: Session) -> str:
    """The client's IP address, as text ('' unknown)."""
    peer = session.peer
    return str(peer[0]) if isinstance(peer, tuple | list) and peer else ""


def _code(reply: str) -> str:
    """A reply's code and enhanced code: '550 5.7.1'."""
    return " ".join(reply.split()[:2])


def _account_deliveries(
    name: str, account: Account, sender: str, carried: Carried
) -> list[Delivery]:
    if account.status == "stopped":
        names = ", ".join(n for n, _ in carried.files)
        return [Delivery(name, CHANNEL, sender, names, problem="account_stopped")]
    if not carried.files:
        # No file to name: the run's file name says what the mail carried instead.
        shown, problem, subject = carried.others_shown(), carried.problem(), carried.subject
        return [Delivery(name, CHANNEL, sender, shown, problem=problem, subject=subject)]
    taken = for_account(account, carried.files)
    others = carried.others_shown()
    # A damaged file's run fails saying so, keeping none of its bytes.
    return [
        Delivery(
            name,
            CHANNEL,
            sender,
            n,
            None if n in carried.damaged else data,
            problem=carried.damaged.get(n),
            also_attached=others,
        )
        for n, data in taken
    ]


class MailIntake(Intake):
    channel = CHANNEL

    def __init__(self, settings: Callable[[], Settings], sink: IntakeSink) -> None:
        super().__init__(settings, sink)
        self.server: asyncio.Server | None = None
        self.readers = MailReaders()

    async def start(self) -> None:
        conf = self.settings.smtp
        host, port = split_listen(conf.listen)
        handler = MailHandler(self)
        limiter = ConnectionLimiter(conf.max_connections, conf.max_connections_per_address)
        tls = None
        if conf.tls_cert is not None:  # STARTTLS offered; required with smtp.require_tls
            key = self.settings.path(conf.tls_key) if conf.tls_key else None
            tls = server_context(self.settings.path(conf.tls_cert), key)

        def factory() -> RenkeiSMTP:
            return RenkeiSMTP(
                handler,
                limiter,
                data_size_limit=conf.max_message_bytes,
                hostname=conf.hostname,
                ident="ESMTP renkei",
                timeout=conf.timeout,
                min_data_rate=conf.min_data_rate,
                tls_context=tls,
                require_starttls=conf.require_tls,
                proxy_protocol_timeout=PROXY_TIMEOUT if conf.proxy_protocol else None,
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
        self.readers.close()
