"""FTP intake. Takes uploads into each account's home and, at each check, spools the
complete files; never parses CSV.

A pyftpdlib server on its own thread, each session on a thread of its own (pyftpdlib's
ThreadedFTPServer), so that one upload's fsyncs hold up no other. An upload is written
under a temporary name of its own (`.NAME.<random>.part`: two uploads of one name at
once never share a file), renamed and fsynced before the client hears 226; one cut off
(reset, ABOR, over `max_bytes`, its control connection gone before the 226) is removed.
A second upload of a name still waiting for the check never replaces the first: that
one is held aside (ftphome.py), and the check takes both, in the order they came. A
name the client sees stands for all its uploads waiting: DELE withdraws them all,
RNFR/RNTO moves them all, and RNTO holds aside what waits under the new name, as STOR
does; RNTO to a name that breaks the file-name rule gets 553, as STOR does.
Names starting with "." are the door's own (uploads in progress, the check's claims):
never listed to a client, and refused when a client names one. Nothing crosses from the
FTP threads to the event loop but finished files on disk: the check, run in the loop,
moves them into the spool.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import logging
import os
import select
import threading
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from pyftpdlib.authorizers import AuthenticationFailed, DummyAuthorizer
from pyftpdlib.exceptions import _FileReadWriteError
from pyftpdlib.handlers import DTPHandler, FTPHandler
from pyftpdlib.ioloop import _ERRNOS_DISCONNECTED, _ERRNOS_RETRY, _RetryError
from pyftpdlib.servers import FTPServer, ThreadedFTPServer

from daemon.settings import Account, Settings, listen_error, secret_matches, split_listen
from handlers import claims
from handlers.base import Intake, IntakeSink, Refusal, SpoolUnavailable, peer_text, readable
from handlers.ftpguard import LoginGuard
from handlers.ftphome import (
    HomeFS,
    final_name,
    ftp_home,
    hidden,
    hold_back,
    home_lock,
    part_name,
    publish,
    rename_uploads,
    unhold,
    waiting,
    withdraw,
)

log = logging.getLogger(__name__)

CHANNEL = "ftp"
# Replies: a code and the catalog key of its text (importers/messages.py, "ftp.*"), said
# by UploadHandler.reply() in `report.language` once the client sent OPTS UTF8 ON, and
# else in English, ASCII only: a Shift_JIS client garbles UTF-8 Japanese. The ban comes
# before any command could turn UTF-8 on, so it is plain ASCII English.
S421_BANNED = "421 Too many failed logins from your address; try again later."
S552_TOO_BIG = (552, "ftp.too_big")
S553_NO_APPEND = (553, "ftp.no_append")
S502_NO_STOU = (502, "ftp.no_stou")  # RFC 959 allows 502 for STOU
S553_HIDDEN_NAME = (553, "ftp.hidden_name")  # STOR or RNTO of a name starting with "."
S550_NO_SUCH_FILE = "550 No such file or directory."  # pyftpdlib's words, for a hidden name
S250_REMOVED = "250 File removed."  # pyftpdlib's words
S250_RENAMED = "250 Renaming ok."  # pyftpdlib's words
S451_DELETE_FAILED = (451, "ftp.delete_failed")  # DELE: the home could not be changed
S451_RENAME_FAILED = (451, "ftp.rename_failed")  # RNTO: the same
S426_RESET = (426, "ftp.reset")
S452_NO_SPACE = (452, "ftp.no_space")  # the disk full while an upload is written
S452_LOW_SPACE = (452, "ftp.low_space")  # under daemon.min_free_bytes before it starts
S451_WRITE_FAILED = (451, "ftp.write_failed")  # any other error writing it
S530_LOGIN_FAILED = (530, "ftp.login_failed")
S530_TLS_CONTROL = (530, "ftp.tls_control")  # ftp.require_tls: USER/PASS before AUTH TLS
S534_TLS_DATA = (534, "ftp.tls_data")  # ftp.require_tls: a data connection before PROT P
S553_BAD_NAME = 553  # with the file-name rule the name breaks


# Commands naming a path: those pyftpdlib checks a permission for, but the uploads,
# which check their names themselves. RNTO and MKD would make the name: 553, not 550.
_UPLOADS = frozenset({"STOR", "APPE", "STOU"})
_PATH_COMMANDS = frozenset(
    cmd for cmd, spec in FTPHandler.proto_cmds.items() if spec["perm"] and cmd not in _UPLOADS
)
_NEW_NAME_COMMANDS = frozenset({"RNTO", "MKD", "XMKD"})


# Held while a session opens its passive port (UploadHandler._make_epasv).
_PASSIVE_PORTS = threading.Lock()


class AccountAuthorizer(DummyAuthorizer):
    """One user per account, confined to its home; secrets compared in constant time."""

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.secrets: dict[str, tuple[str | None, str | None]] = {}
        for name, account in settings.accounts.items():
            if account.ftp is None:
                continue
            home = ftp_home(settings, name)
            home.mkdir(parents=True, exist_ok=True)
            # e: cd, l: list, r: download, w: upload, d: delete, f: rename; a: append,
            # only so that APPE reaches UploadHandler.ftp_APPE, which refuses it (553).
            self.add_user(account.ftp.user, "", str(home), perm="elrwdfa")
            self.secrets[account.ftp.user] = (account.ftp.password, account.ftp.password_sha256)

    def validate_authentication(self, username: str, password: str, handler: UploadHandler) -> None:
        literal, digest = self.secrets.get(username, (None, None))
        if not secret_matches(password, literal, digest):
            _, key = S530_LOGIN_FAILED  # pyftpdlib writes the code itself
            raise AuthenticationFailed(handler.words(key))


class UploadDTP(DTPHandler):
    """Data channel that enforces the size limit and makes a finished upload durable
    under its final name before the 226 goes out."""

    intake_tls = False
    _limit: int | None = None  # the upload's max_bytes, once its first data came

    def handle_read_event(self) -> None:
        # The IOLoop calls this (pyftpdlib aliases it to handle_read); overriding it
        # keeps the SSL layer of FTPS in between.
        try:
            super().handle_read_event()
        except _FileReadWriteError as err:  # the disk full part-way, say
            self._write_failed(err)
            return
        if (limit := self._limit) is None:
            # Once per upload, not per read: a reload applies from the next upload.
            limit = self._limit = self.cmd_channel.upload_limit
        if self.receive and limit and self.tot_bytes_received > limit and not self._closed:
            self.transfer_finished = False
            self._resp = (self.cmd_channel.reply(*S552_TOO_BIG), log.info)
            name = final_name(os.path.basename(self.file_obj.name)) if self.file_obj else ""
            detail = f"over max_bytes ({limit} bytes)"
            self.cmd_channel.refuse(S552_TOO_BIG[0], "too_large", name, detail)
            self.close()

    def recv(self, buffer_size: int) -> bytes:
        # pyftpdlib treats a reset like a clean close and answers 226; a reset upload
        # is cut off, so it must be discarded instead.
        if not self.receive or self.intake_tls:
            # Over TLS, pyftpdlib's SSL layer must read (and tell resets apart) itself.
            return super().recv(buffer_size)
        try:
            data = self.socket.recv(buffer_size)
        except OSError as err:
            if err.errno in (errno.ECONNRESET, errno.ECONNABORTED, errno.EPIPE):
                self.transfer_finished = False
                self._resp = (self.cmd_channel.reply(*S426_RESET), log.info)
                self.close()
                return b""
            if err.errno in _ERRNOS_RETRY:
                raise _RetryError from err
            if err.errno in _ERRNOS_DISCONNECTED:
                self.handle_close()
                return b""
            raise
        if not data:
            self.handle_close()
        return data

    def close(self) -> None:
        finished = self.receive and self.transfer_finished and self.file_obj is not None
        if finished and not self._closed and not self.file_obj.closed:
            if self.cmd_channel.control_lost():
                self._unheard()
            elif not self._publish():
                return
        super().close()

    def _unheard(self) -> None:
        """The client closed or reset its control connection before it could hear a
        226 (the data connection's end came first in the same poll): it cannot know the
        upload whole, so it is not accepted, and removed (on_incomplete_file_received).
        Nobody is left to answer."""
        self.transfer_finished = False
        self._resp = ()
        name = final_name(os.path.basename(self.file_obj.name))
        log.info("ftp: %s left before the 226; %s discarded", self.cmd_channel.username, name)

    def _publish(self) -> bool:
        """Give the finished upload its final name, durably; False when that failed
        (the client was told so and the file removed)."""
        final = None
        try:
            written = os.fstat(self.file_obj.fileno())
            self.file_obj.flush()
            # Renamed, then fsynced: the file's fsync commits its data and its new
            # name at once (a rename is in the file's own metadata on journalling
            # file systems; elsewhere the folder is fsynced too), one journal commit
            # as the bare server's fsync, where an fsync before the rename and one
            # of the folder after took two.
            final = self.cmd_channel.publish_upload(self.file_obj.name)
            os.fsync(self.file_obj.fileno())
            self.file_obj.close()
            self.cmd_channel.intake.sink.sync_names(Path(final).parent)
        except OSError as err:  # small writes fail only here, at the last flush
            if final is not None:
                # Not durable, so not accepted: the client sends it again. Removed only
                # while the name is still this upload's: another session's upload of
                # the name may have replaced it since, and that one was accepted.
                with contextlib.suppress(OSError):
                    if os.path.samestat(os.stat(final), written):
                        os.remove(final)
            self._write_failed(err)
            return False
        log.info("ftp: %s uploaded %s", self.cmd_channel.username, os.path.basename(final))
        return True

    def _write_failed(self, err: OSError) -> None:
        """The upload could not be written: say so (452 when the disk is full, so the
        client tries again later) and remove what was written, never a 226."""
        self.transfer_finished = False
        reply, reason = S451_WRITE_FAILED, "write_failed"
        if err.errno in (errno.ENOSPC, errno.EDQUOT):
            reply, reason = S452_NO_SPACE, "low_space"
        self._resp = (self.cmd_channel.reply(*reply), log.warning)
        name = final_name(os.path.basename(self.file_obj.name)) if self.file_obj else ""
        if self.file_obj is not None:
            with contextlib.suppress(OSError):
                self.file_obj.close()  # its failing flush still closes the file
        detail = f"could not write the upload: {err.strerror or err}"
        self.cmd_channel.refuse(reply[0], reason, name, detail)
        if not self._closed:
            super().close()  # removes the part file (on_incomplete_file_received)


class UploadHandler(FTPHandler):
    """Control channel: name rule at STOR and RNTO, temporary names, DELE and rename of
    all the uploads of a name, bans."""

    dtp_handler = UploadDTP
    abstracted_fs = HomeFS
    auth_failed_timeout = 1
    intake: FtpIntake  # set on the per-server subclass
    _banned_now = False  # whether the last failed login banned the address

    @property
    def upload_limit(self) -> int:
        account = self.intake.account_of_user(self.username)
        if account is None:
            return 0
        return self.intake.settings.limits_for(account).max_bytes

    def on_connect(self) -> None:
        if self.intake.guard.banned(self.remote_ip):
            self.refuse(421, "banned", detail="after ftp.max_login_failures failed logins")
            self.respond(S421_BANNED)
            self.close_when_done()

    def handle_auth_failed(self, msg: str, password: str) -> None:
        # Counted now: pyftpdlib answers 530 before it calls on_login_failed, and with a
        # thread per session the client's next connection could be let in first.
        self._banned_now = self.intake.guard.failed(self.remote_ip)
        super().handle_auth_failed(msg, password)

    def on_login_failed(self, username: str, password: str) -> None:
        # The user name is said, the password never.
        known = username in getattr(self.authorizer, "secrets", {})
        detail = "wrong password" if known else "no such user"
        if self._banned_now:
            detail += f"; address banned for {self.intake.guard.ban_seconds:.0f}s"
        self.refuse(S530_LOGIN_FAILED[0], "login_failed", detail=detail, who=username)

    def pre_process_command(self, line: str, cmd: str, arg: str) -> None:
        # A name starting with "." is the door's own: an upload in progress (another
        # session renaming or deleting it would lose that upload) or a claim. To the
        # client it does not exist, and cannot be made.
        if self.authenticated and cmd in _PATH_COMMANDS and hidden(arg):
            if cmd in _NEW_NAME_COMMANDS:
                self._rnfr = None  # an RNFR is spent by the RNTO after it
                self.respond(self.reply(*S553_HIDDEN_NAME))
            else:
                self.respond(S550_NO_SUCH_FILE)
            return
        super().pre_process_command(line, cmd, arg)

    def process_command(self, cmd: str, *args: object, **kwargs: object) -> None:
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
        self.intake.sink.refused(Refusal(CHANNEL, peer, str(code), reason, who, what, detail))

    # -- the reply language: RFC 2640 ------------------------------------------------

    utf8 = False  # set for the session by OPTS UTF8 ON

    def ftp_OPTS(self, line: str) -> None:
        # pyftpdlib answers "always in UTF8 mode" whatever the client asks; we note it,
        # since until a client says it reads UTF-8 we answer in ASCII.
        option, _, value = line.strip().partition(" ")
        if option.upper() in ("UTF8", "UTF-8"):
            self.utf8 = value.strip().upper() != "OFF"
        super().ftp_OPTS(line)

    @property
    def reply_language(self) -> str:
        return self.intake.settings.report.language if self.utf8 else "en"

    def words(self, key: str, **params: object) -> str:
        """The catalog's sentence `key` as this session's client can read it."""
        return self.wire(self.intake.sink.text(key, self.reply_language, **params))

    def reply(self, code: int, key: str, **params: object) -> str:
        return f"{code} {self.words(key, **params)}"

    def wire(self, text: str) -> str:
        """`text` as this session may send it: ASCII until OPTS UTF8 ON (a file name
        from the client may still hold other characters: they become '?')."""
        text = " ".join(text.split())  # one line: a reply never spans lines by accident
        return text if self.utf8 else text.encode("ascii", "replace").decode("ascii")

    def ftp_STOR(self, file: str, mode: str = "w") -> str | None:
        # A REST is spent by the upload command after it, refused or not.
        restart, self._restart_position = self._restart_position, 0
        name = os.path.basename(file)
        if self._name_refused(name):
            return None
        if "a" in mode or restart:
            self._refuse_append(name)
            return None
        if not self.intake.sink.has_room():  # under daemon.min_free_bytes, as mail's 452
            detail = "spool space under daemon.min_free_bytes"
            self.refuse(S452_LOW_SPACE[0], "low_space", name, detail)
            self.respond(self.reply(*S452_LOW_SPACE))
            return None
        partial = os.path.join(os.path.dirname(file), part_name(name))
        # "x": created afresh (pyftpdlib adds the "b"), never a file that was there.
        return super().ftp_STOR(partial, "x")

    def ftp_APPE(self, file: str) -> None:
        # Every one refused as the README says (pyftpdlib's answers 450 after a REST).
        self._restart_position = 0
        self._refuse_append(os.path.basename(file))

    def _refuse_append(self, name: str) -> None:
        self.refuse(S553_NO_APPEND[0], "no_append", name, "append or restart (REST) asked")
        self.respond(self.reply(*S553_NO_APPEND))

    def ftp_STOU(self, line: str) -> None:
        # The server would pick the name, one no file-name rule takes, and the client
        # learns it only from the 150: uploads must name their file.
        self._restart_position = 0
        name = os.path.basename(line)
        self.refuse(S502_NO_STOU[0], "no_stou", name, "STOU asked: the client must name the file")
        self.respond(self.reply(*S502_NO_STOU))

    def _name_refused(self, name: str) -> bool:
        """Refuse (553) a name the check would never take; True when refused."""
        account = self.intake.account_of_user(self.username)
        language = self.reply_language
        if name.startswith("."):
            # Never taken by the check, and the namespace of uploads in progress.
            self.refuse(S553_HIDDEN_NAME[0], "bad_filename", name, "a name starting with '.'")
            self.respond(self.reply(*S553_HIDDEN_NAME))
            return True
        problem = self.intake.sink.filename_problem(name, account=account, language=language)
        if problem:
            # The admin reads the refusal in English, whatever the client was told.
            english = self.intake.sink.filename_problem(name, account=account, language="en")
            self.refuse(S553_BAD_NAME, "bad_filename", name, english or problem)
            self.respond(f"{S553_BAD_NAME} {self.wire(problem)}")
            return True
        return False

    def decode(self, bytes: bytes) -> str:
        # pyftpdlib reads a command line as UTF-8, a byte it cannot read becoming "?".
        # A Japanese Windows client that never sent OPTS UTF8 ON names files in CP932:
        # read its line as the other doors read names (UTF-8, else CP932).
        return readable(bytes)

    def ftp_DELE(self, path: str) -> str | None:
        # The name stands for every upload of it still waiting, those held aside too:
        # one the client deleted is never imported (ftphome.withdraw).
        name = self._home_name(path)
        if name is None:
            return super().ftp_DELE(path)
        try:
            removed = withdraw(Path(self.fs.root), name)
        except OSError as err:
            self._not_changed(S451_DELETE_FAILED, f"DELE {name}", err)
            return None
        self.respond(S250_REMOVED if removed else S550_NO_SUCH_FILE)
        return path if removed else None

    def ftp_RNTO(self, path: str) -> tuple[str, str] | None:
        # pyftpdlib's rename would replace an upload waiting under the new name, and
        # take a name STOR refuses; ours moves every upload of the old name and keeps
        # the one waiting under the new name, held aside (ftphome.rename_uploads).
        source = self._rnfr
        old, new = self._home_name(source or ""), self._home_name(path)
        if old is None or new is None:  # no RNFR first (503), or outside the home
            return super().ftp_RNTO(path)
        self._rnfr = None  # an RNFR is spent by the RNTO after it
        if self._name_refused(new):
            return None
        try:
            renamed = rename_uploads(Path(self.fs.root), old, new, self.intake.sink.new_id)
        except OSError as err:
            self._not_changed(S451_RENAME_FAILED, f"RNTO {new}", err)
            return None
        self.respond(S250_RENAMED if renamed else S550_NO_SUCH_FILE)
        return (source, path) if renamed else None

    def _home_name(self, path: str) -> str | None:
        """The name `path` (a file-system path, as pyftpdlib gives it) has in the home,
        None when it is not directly in it."""
        directory, name = os.path.split(path)
        return name if name and directory == os.path.normpath(self.fs.root) else None

    def _not_changed(self, reply: tuple[int, str], what: str, err: OSError) -> None:
        """The home could not be changed (our own trouble: 451, the client may retry)."""
        log.warning("ftp: %s of %s failed: %s", what, self.username, err)
        self.respond(self.reply(*reply))

    def _make_epasv(self, extmode: bool = False) -> None:
        # pyftpdlib binds a passive port, then listens on it. With a thread per
        # session, two sessions could bind the same port (SO_REUSEADDR) and the
        # second fail to listen, closing its session: one at a time.
        with _PASSIVE_PORTS:
            super()._make_epasv(extmode)

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

    def publish_upload(self, partial: str) -> str:
        """Rename a finished upload to its final name (the check only sees whole files);
        the final name. One of the name still waiting is kept (ftphome.publish)."""
        return str(publish(Path(partial), self.intake.sink.new_id))

    def on_incomplete_file_received(self, file: str) -> None:
        # Cut off part-way: never imported, never left behind.
        with contextlib.suppress(FileNotFoundError):
            os.remove(file)
        log.info("ftp: incomplete upload %s removed", os.path.basename(file))


class SessionThreads(ThreadedFTPServer):
    """A thread per session: one upload's fsyncs never hold up the others."""

    poll_timeout = 0.2  # how soon a session's thread sees the server stopping

    def _loop(self, handler: UploadHandler) -> None:
        # A session closed as it opened (a banned address, told 421) has nothing to
        # serve; pyftpdlib's thread would register its closed socket with a new poller
        # (often given the same descriptor number) and die with a traceback.
        if not handler._closed:
            super()._loop(handler)


class FtpIntake(Intake):
    channel = CHANNEL

    def __init__(self, settings: Callable[[], Settings], sink: IntakeSink) -> None:
        super().__init__(settings, sink)
        conf = self.settings.ftp
        self.guard = LoginGuard(conf.max_login_failures, conf.ban_minutes * 60)
        self.server: FTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._checking: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    def account_of_user(self, user: str | None) -> Account | None:
        for account in self.settings.accounts.values():
            if account.ftp and account.ftp.user == user:
                return account
        return None

    async def start(self) -> None:
        conf = self.settings.ftp
        handler = self._handler_class()
        handler.authorizer = AccountAuthorizer(self.settings)
        self._handler = handler
        low, high = (int(p) for p in conf.passive_ports.split("-"))
        handler.passive_ports = range(low, high + 1)
        handler.banner = "renkei FTP ready."
        host, port = split_listen(conf.listen)
        try:
            self.server = SessionThreads((host, port), handler)
        except OSError as exc:
            raise listen_error("ftp.listen", conf.listen, exc) from None
        self.server.max_cons = conf.max_connections
        self.server.max_cons_per_ip = conf.max_connections_per_address
        await self.recover_claims()
        self._thread = threading.Thread(target=self._serve, name="ftp", daemon=True)
        self._thread.start()
        log.info("ftp listening on %s:%d", *self.server.address[:2])

    def _handler_class(self) -> type[UploadHandler]:
        """Our handler, with explicit FTPS (AUTH TLS) when a certificate is configured."""
        conf = self.settings.ftp
        if conf.tls_cert is None:
            return type("AccountFTPHandler", (UploadHandler,), {"intake": self})
        from pyftpdlib.handlers import TLS_DTPHandler, TLS_FTPHandler

        dtp = type("TLSUploadDTP", (UploadDTP, TLS_DTPHandler), {"intake_tls": True})
        attrs = {
            "intake": self,
            "dtp_handler": dtp,
            "certfile": str(self.settings.path(conf.tls_cert)),
            "keyfile": str(self.settings.path(conf.tls_key or conf.tls_cert)),
            "ssl_context": None,
            "tls_control_required": conf.require_tls,
            "tls_data_required": conf.require_tls,
        }
        return type("AccountFTPSHandler", (UploadHandler, TLS_FTPHandler), attrs)

    def reload(self) -> None:
        """Users of the current config; sessions in progress keep going."""
        # One attribute swap: the FTP thread sees the old or the new table, never a mix.
        self._handler.authorizer = AccountAuthorizer(self.settings)

    def _serve(self) -> None:
        assert self.server is not None
        while not self._stopping.is_set():
            self.server.serve_forever(timeout=0.2, blocking=False, handle_exit=False)
        self.server.close_all()

    async def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 10)
            self._thread = None

    # -- the check -------------------------------------------------------------------

    async def check(self, account_name: str) -> list[str]:
        """Spool every complete file in the account's home; returns the run ids.

        Files are claimed before spooling (handlers/claims.py), so a crash at any point
        either leaves a file to the next check or finds its run. All are claimed at
        once, in the order they are to be imported (ftphome.waiting), so that an
        upload coming meanwhile waits for the next check whole. The spool unable to
        take them (SpoolUnavailable, raised on), they all wait, in that order.
        """
        async with self._checking[account_name]:  # checks of one account never overlap
            home = ftp_home(self.settings, account_name)
            account = self.settings.accounts[account_name]
            if account.status == "stopped" or not home.is_dir():
                return []
            claimed = await asyncio.to_thread(self._claim_all, home)
            ids = []
            for index, claim in enumerate(claimed):
                try:
                    ids.append(
                        await claims.spool_claim(
                            self.sink, claim, account_name, CHANNEL, account.ftp.user
                        )
                    )
                except SpoolUnavailable:
                    log.warning("ftp: the spool cannot take files; %s wait", account_name)
                    await asyncio.to_thread(_hold_all, home, claimed[index:])
                    raise
            return ids

    def _claim_all(self, home: Path) -> list[claims.Claim]:
        """Claim every waiting upload of `home`, each for a run id of its own."""
        claimed = []
        with home_lock(home):
            for path, name in waiting(home):
                try:
                    claim = claims.claim(home, path, self.sink.new_id(), name)
                except OSError as exc:  # this file alone: the others are taken
                    log.error("ftp: %s cannot be taken, it stays: %s", path, exc)
                    continue
                if claim is not None:
                    unhold(path, home)
                    claimed.append(claim)
        return claimed

    async def recover_claims(self) -> None:
        """After a crash mid-check: drop claims already spooled, give the rest back to
        wait in their order (a later upload of the name may hold the name now)."""
        for name in list(self.settings.accounts):
            home = ftp_home(self.settings, name)
            await claims.recover(self.sink, home, functools.partial(hold_back, home))


def _hold_all(home: Path, claimed: list[claims.Claim]) -> None:
    """Claims not spooled go back to wait for the next check, in their order."""
    for claim in claimed:
        try:
            hold_back(home, claim)
        except OSError as exc:  # the claim stays: the next start gives it back
            log.error("ftp: %s could not be given back: %s", claim.path, exc)
