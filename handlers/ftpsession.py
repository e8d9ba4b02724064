"""An FTP control session, all but its file names: logins and bans, FTPS required,
connection limits, the reply language (RFC 2640), the command line's encoding, its
commands handled one after another while one is answered aside (`hold`), passive ports
and a data connection lost before it was taken, and the refusals it tells the sink of.
Reads the client's commands; writes replies and refusals. ftpnames.UploadHandler builds
on it; handlers/ftp.py serves it (ftpserver.py: every session on one I/O thread, or over
FTPS one thread per session), and ftpdata.UploadDTP and DataPort call back into it.
"""

from __future__ import annotations

import contextlib
import logging
import select
import threading
from typing import BinaryIO, Protocol

from pyftpdlib.handlers import FTPHandler

from daemon.settings import Account, Settings
from handlers.base import IntakeSink, Refusal, peer_text, readable
from handlers.ftpdata import DataDial, DataPort, NoPassivePort, UploadDTP
from handlers.ftpguard import LoginGuard
from handlers.ftphome import HomeFS
from handlers.ftpreplies import (
    S421_ACCOUNT_REMOVED,
    S421_BANNED,
    S425_NO_DATA,
    S425_NO_PASSIVE_PORT,
    S426_RESET,
    S530_LOGIN_FAILED,
    S530_TLS_CONTROL,
    S534_TLS_DATA,
    STOCK,
)

log = logging.getLogger(__name__)

# Held while a session opens its passive port (SessionHandler._make_epasv).
_PASSIVE_PORTS = threading.Lock()


class SessionIntake(Protocol):
    """What a session asks of its door (handlers/ftp.py's FtpIntake)."""

    channel: str
    guard: LoginGuard
    sink: IntakeSink

    @property
    def settings(self) -> Settings: ...

    def account_of_user(self, user: str | None) -> Account | None: ...


class SessionHandler(FTPHandler):
    """Control channel: logins and bans, FTPS required, the reply language."""

    dtp_handler = UploadDTP
    passive_dtp = DataPort
    active_dtp = DataDial
    abstracted_fs = HomeFS
    auth_failed_timeout = 1
    intake: SessionIntake  # set on the per-server subclass (handlers/ftp.py)
    _banned_now = False  # whether the last failed login banned the address
    _home = ""  # the home the session logged in to

    @property
    def upload_limit(self) -> int:
        account = self.intake.account_of_user(self.username)
        if account is None:
            return 0
        return self.intake.settings.limits_for(account).max_bytes

    def on_connect(self) -> None:
        if self.intake.guard.banned(self.remote_ip):
            self._turn_away()

    def _turn_away(self, who: str | None = None) -> None:
        """421 and close: the session's address is banned."""
        detail = "after ftp.max_login_failures failed logins"
        self.refuse(421, "banned", detail=detail, who=who)
        self.respond(S421_BANNED)
        self.close_when_done()

    def _account_removed(self, cmd: str) -> None:
        """421 and close: a reload removed the session's account, or renamed its FTP
        user. Its next command reached an authorizer without the user (a KeyError
        traceback, the session dropped without a reply); an upload it made now would
        go to a home no account checks."""
        detail = f"{cmd} after a reload removed or renamed the account (or renamed its FTP user)"
        self.refuse(421, "account_removed", detail=detail, who=self.username)
        self.respond(self.reply(*S421_ACCOUNT_REMOVED))
        self.close_when_done()

    def handle_auth_failed(self, msg: str, password: str) -> None:
        # Counted now: pyftpdlib answers 530 before it calls on_login_failed, and with a
        # thread per session (FTPS) the client's next connection could be let in first.
        self._banned_now = self.intake.guard.failed(self.remote_ip)
        if self._banned_now:
            # This session ends with its 530, as pyftpdlib ends one at its last allowed
            # attempt ("Disconnecting."): it may not try again under the ban.
            self.attempted_logins = self.max_login_attempts - 1
        super().handle_auth_failed(msg, password)

    def on_login_failed(self, username: str, password: str) -> None:
        # The user name is said, the password never.
        known = username in getattr(self.authorizer, "secrets", {})
        detail = "wrong password" if known else "no such user"
        if self._banned_now:
            detail += f"; address banned for {self.intake.guard.ban_seconds:.0f}s"
        self.refuse(S530_LOGIN_FAILED[0], "login_failed", detail=detail, who=username)

    def on_login(self, username: str) -> None:
        self._home = self.authorizer.get_home_dir(username)

    def process_command(self, cmd: str, *args: object, **kwargs: object) -> None:
        if self.authenticated and (
            not self.authorizer.has_user(self.username)
            # Its account renamed, the user kept: the home the session is confined to
            # is no account's now, and an upload there was never checked.
            or self.authorizer.get_home_dir(self.username) != self._home
        ):
            self._account_removed(cmd)
            return
        # A ban holds for the sessions its address opened before it too: each is turned
        # away at its next login, its right password or not.
        if cmd in ("USER", "PASS") and self.intake.guard.banned(self.remote_ip):
            self._turn_away(str(args[0]) if cmd == "USER" and args else None)
            return
        # With ftp.require_tls (pyftpdlib's tls_control/data_required) nothing goes in
        # clear: no login before AUTH TLS, no data connection before PROT P.
        if getattr(self, "tls_control_required", False):
            if cmd in ("USER", "PASS") and not self._ssl_established:
                detail = f"{cmd} before AUTH TLS, with ftp.require_tls"
                who = str(args[0]) if cmd == "USER" and args else ""  # a password, never
                self.refuse(S530_TLS_CONTROL[0], "tls_required", detail=detail, who=who)
                self.respond(self.reply(*S530_TLS_CONTROL))
                return
            if cmd in ("PASV", "EPSV", "PORT", "EPRT") and not self._prot:
                detail = f"{cmd} before PROT P, with ftp.require_tls"
                self.refuse(S534_TLS_DATA[0], "tls_required", detail=detail)
                self.respond(self.reply(*S534_TLS_DATA))
                return
        super().process_command(cmd, *args, **kwargs)

    def handle_max_cons(self) -> None:
        self.refuse(421, "too_many_connections", detail="over ftp.max_connections")
        super().handle_max_cons()

    def handle_max_cons_per_ip(self) -> None:
        detail = "over ftp.max_connections_per_address"
        self.refuse(421, "too_many_connections", detail=detail)
        super().handle_max_cons_per_ip()

    def refuse(
        self, code: int, reason: str, what: str = "", detail: str = "", who: str | None = None
    ) -> None:
        """Tell the sink of a refusal in this session; the reply is the caller's."""
        peer = peer_text((self.remote_ip, self.remote_port))
        who = (self.username or "") if who is None else who
        self.intake.sink.refused(
            Refusal(self.intake.channel, peer, str(code), reason, who, what, detail)
        )

    # -- the reply language: RFC 2640 ------------------------------------------------

    utf8 = False  # set for the session by OPTS UTF8 ON

    def ftp_OPTS(self, line: str) -> None:
        # pyftpdlib answers "always in UTF8 mode" whatever the client asks; we note it,
        # since until a client says it reads UTF-8 we answer in ASCII.
        option, _, value = line.strip().partition(" ")
        if option.upper() in ("UTF8", "UTF-8"):
            self.utf8 = value.strip().upper() != "OFF"
            if self.utf8:
                self.encoding = "utf8"
        super().ftp_OPTS(line)

    @property
    def reply_language(self) -> str:
        return self.intake.settings.report.language if self.utf8 else "en"

    def words(self, key: str, **params: object) -> str:
        """The catalog's sentence `key` as this session's client can read it."""
        return self.wire(self.intake.sink.text(key, self.reply_language, **params))

    def reply(self, code: int, key: str, **params: object) -> str:
        return f"{code} {self.words(key, **params)}"

    def respond(self, resp: str, *args: object, **kwargs: object) -> None:
        if self._closed:
            # The client left (its upload's data channel, made durable aside, ends
            # after the session did): an answer has nowhere to go.
            return
        key = STOCK.get(resp) if self.utf8 else None
        if key is not None:  # one of pyftpdlib's own, said in the session's language
            resp = self.reply(int(resp[:3]), key)
        super().respond(resp, *args, **kwargs)

    unanswered: UploadDTP | None = None  # an upload published, its 226 not yet written

    def _on_dtp_close(self) -> None:
        # Called as its data channel closed, after its reply was written (or not).
        if (upload := self.unanswered) is not None:
            self.unanswered = None
            upload.answered()
        if self._closed:
            # A data channel that ended after its session: nothing to wait for or
            # time out any more (pyftpdlib would re-arm the session's idle timer).
            self.data_channel = None
            return
        super()._on_dtp_close()

    def wire(self, text: str) -> str:
        """`text` as this session may send it: ASCII until OPTS UTF8 ON, unless the
        client named its files in CP932: its names go back to it in CP932 (push). Any
        other character is written as its code (`\\u58f2`): as '?', a Japanese rule's
        `売上_{YYYYMMDD}.csv` read `??_{YYYYMMDD}.csv`, which the same reply says takes
        any two characters."""
        text = " ".join(text.split())  # one line: a reply never spans lines by accident
        if self.utf8 or self.encoding == "cp932":
            return text
        return text.encode("ascii", "backslashreplace").decode("ascii")

    def push(self, data: str) -> None:
        if self.encoding != "utf8":
            # pyftpdlib encodes a reply strictly: a name CP932 has no character for
            # (sent by another client in UTF-8) becomes "?", not a broken session.
            data = data.encode(self.encoding, "replace").decode(self.encoding)
        super().push(data)

    def decode(self, bytes: bytes) -> str:
        # pyftpdlib reads a command line as UTF-8, a byte it cannot read becoming "?".
        # A Japanese Windows client that never sent OPTS UTF8 ON names files in CP932:
        # read its line as the other doors read names (UTF-8, else CP932).
        text = readable(bytes)
        if not self.utf8 and text.encode() != bytes and text.encode("cp932", "ignore") == bytes:
            # Its names come back as it sends them: a listing (LIST, NLST, MLSD) and a
            # path in a reply in CP932 for the rest of the session, where UTF-8 shows
            # it mojibake it could not send back to rename or delete the file by.
            self.encoding = "cp932"
        return text

    # -- one command after another ----------------------------------------------------

    _held: list[bytes] | None = None  # command lines read while one is answered aside

    @property
    def holding(self) -> bool:
        """Whether a command of this session is being answered aside (hold)."""
        return self._held is not None

    def hold(self) -> None:
        """Handle no further command until release(): one is answered aside (in the
        server's pool). Lines the client sent with it, read already, wait their turn:
        its replies stay in the order of its commands."""
        self._held = []
        self.modify_ioloop_events(0)  # only a hang-up is reported meanwhile

    def release(self) -> None:
        """The command answered aside has its answer: handle the lines held meanwhile,
        in order (one answered aside in its turn holds those after it), then read on."""
        held, self._held = self._held or [], None
        self.modify_ioloop_events(self.ioloop.READ)
        partial = self._in_buffer, self._in_buffer_len  # a line not whole yet stays
        for line in held:
            if self._closed:  # a QUIT or a hang-up among them
                return
            self._in_buffer, self._in_buffer_len = [line], len(line)
            self.found_terminator()
        self._in_buffer, self._in_buffer_len = partial
        data = self.data_channel
        if not self.holding and data is not None and not data._initialized:
            # No transfer command came for it: read again, as before the hold.
            data.modify_ioloop_events(self.ioloop.READ)

    def found_terminator(self) -> None:
        if self._held is not None:
            self._held.append(b"".join(self._in_buffer))
            self._in_buffer, self._in_buffer_len = [], 0
            return
        super().found_terminator()

    # -- the data connection --------------------------------------------------------

    def data_connection_lost(self) -> None:
        """The client closed or reset the data connection before it was accepted
        (ftpdata.DataPort): an upload waiting for it is cut off (426, its part removed)
        as one reset later is; a transfer command after it gets 425."""
        self._dtp_acceptor = None
        if self._in_dtp_queue is not None:
            file, _ = self._in_dtp_queue
            self._in_dtp_queue = None
            file.close()
            # Removed before the reply, which goes out at once: told of the 426, the
            # client (a test, a script listing the home) found the part still there.
            self.on_incomplete_file_received(file.name)
            self.respond(self.reply(*S426_RESET))
        elif self._out_dtp_queue is not None:  # a listing waiting for it
            file = self._out_dtp_queue[2]
            self._out_dtp_queue = None
            if file is not None:
                file.close()
            self.respond(self.reply(*S425_NO_DATA))

    def drop_waiting_upload(self) -> None:
        """The upload waiting for a data connection gets none (its port timed out, the
        active connection failed, the session ended): its temporary file is removed.
        The client was told why by whoever found it (421, 425), or is gone."""
        waiting = getattr(self, "_in_dtp_queue", None)  # pyftpdlib's close deletes it
        if waiting is None:
            return
        self._in_dtp_queue = None
        file, _ = waiting
        file.close()
        self.on_incomplete_file_received(file.name)

    def close(self) -> None:
        if not self._closed:
            # pyftpdlib closes the file of an upload that never got its data
            # connection, and leaves it behind.
            with contextlib.suppress(OSError):
                self.drop_waiting_upload()
        super().close()

    def no_data_connection(self) -> bool:
        """Answer 425 to a transfer command when no data connection is open or on its
        way (S425_NO_DATA); True when answered."""
        acceptor, connector = self._dtp_acceptor, self._dtp_connector
        if self.data_channel is not None:
            return False
        if connector is not None and not connector._closed:  # PORT's, still connecting
            return False
        if acceptor is not None and not acceptor._closed:  # PASV's port, still listening
            return False
        self.respond(self.reply(*S425_NO_DATA))
        return True

    def push_dtp_data(
        self,
        data: object,
        isproducer: bool = False,
        file: BinaryIO | None = None,
        cmd: str | None = None,
    ) -> None:
        # A listing (or RETR): pyftpdlib would answer 150 and wait for no connection.
        if self.no_data_connection():
            if file is not None:
                file.close()
            return
        super().push_dtp_data(data, isproducer, file, cmd)

    def _make_epasv(self, extmode: bool = False) -> None:
        # pyftpdlib binds a passive port, then listens on it. With a thread per
        # session (FTPS), two sessions could bind the same port (SO_REUSEADDR) and
        # the second fail to listen, closing its session: one at a time.
        with _PASSIVE_PORTS:
            try:
                super()._make_epasv(extmode)
            except NoPassivePort:
                ports = self.passive_ports
                log.warning(
                    "ftp: every passive port (%d-%d) is taken; %s is answered 425",
                    ports[0], ports[-1], self.username or self.remote_ip,
                )  # fmt: skip
                self.respond(self.reply(*S425_NO_PASSIVE_PORT))

    def control_lost(self) -> bool:
        """Whether the client closed or reset the control connection, though this
        session has not read that yet."""
        if self._closed:
            return True
        poller = select.poll()
        # POLLHUP and POLLERR (a reset) come whatever is asked; POLLRDHUP is Linux's
        # "the peer closed", seen even behind commands not yet read.
        poller.register(self.socket, getattr(select, "POLLRDHUP", 0))
        return bool(poller.poll(0))
