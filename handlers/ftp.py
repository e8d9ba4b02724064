"""FTP intake. Takes uploads into each account's home and, at each check, spools the
complete files; never parses CSV. Started, reloaded and stopped by daemon/master.py;
its check is called by the scheduler's jobs (daemon/poll/).

A pyftpdlib server on its own thread, serving every session there and making an
upload durable in a pool (FTPS: each session on a thread of its own; ftpserver.py), so
that one upload's fsyncs hold up no other. The session is
composed of: ftpsession.py (logins, bans, FTPS, the reply language), ftpnames.py (the
file-name rule and the names of uploads at STOR, RNTO and DELE), ftpdata.py (the data
channel: the size limit and the durable write before the 226), with their replies in
ftpreplies.py and the home's files in ftphome.py. An upload is written under a
temporary name, renamed and fsynced before the client hears 226; one cut off is removed.
Nothing crosses from the FTP threads to the event loop but finished files on disk: the
check, run in the loop, moves them into the spool.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from pyftpdlib.authorizers import AuthenticationFailed, DummyAuthorizer
from pyftpdlib.servers import FTPServer

from daemon.settings import Account, Settings, listen_error, secret_matches, split_listen
from handlers import claims
from handlers.base import Intake, IntakeSink, SpoolUnavailable
from handlers.ftpdata import UploadDTP
from handlers.ftpguard import LoginGuard
from handlers.ftphome import arrival, ftp_home, hold_back, home_lock, unhold, waiting
from handlers.ftpnames import UploadHandler
from handlers.ftpreplies import S530_LOGIN_FAILED
from handlers.ftpserver import OneThread, SessionThreads

log = logging.getLogger(__name__)

CHANNEL = "ftp"


class AccountAuthorizer(DummyAuthorizer):
    """One user per account, confined to its home; secrets compared in constant time."""

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.secrets: dict[str, tuple[str | None, str | None]] = {}
        for name, account in settings.accounts.items():
            if account.ftp is None:
                continue
            home = ftp_home(settings, name)
            home.mkdir(parents=True, exist_ok=True)  # one that is a file: path_checks
            # e: cd, l: list, r: download, w: upload, d: delete, f: rename; a: append,
            # only so that APPE reaches UploadHandler.ftp_APPE, which refuses it (553).
            self.add_user(account.ftp.user, "", str(home), perm="elrwdfa")
            self.secrets[account.ftp.user] = (account.ftp.password, account.ftp.password_sha256)

    def validate_authentication(self, username: str, password: str, handler: UploadHandler) -> None:
        literal, digest = self.secrets.get(username, (None, None))
        if not secret_matches(password, literal, digest):
            _, key = S530_LOGIN_FAILED  # pyftpdlib writes the code itself
            raise AuthenticationFailed(handler.words(key))


def _advertised(commands: dict[str, dict]) -> dict[str, dict]:
    """pyftpdlib's commands but MFMT: a client may not set an upload's mtime, the
    check's order (ftphome.arrival), and one told of MFMT by FEAT (WinSCP) would send
    it after every upload and report its refusal."""
    return {cmd: spec for cmd, spec in commands.items() if cmd != "MFMT"}


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
        serving = OneThread if conf.tls_cert is None else SessionThreads
        try:
            self.server = serving((host, port), handler)
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
            attrs = {"intake": self, "proto_cmds": _advertised(UploadHandler.proto_cmds)}
            return type("AccountFTPHandler", (UploadHandler,), attrs)
        from pyftpdlib.handlers import TLS_DTPHandler, TLS_FTPHandler

        tls = {"intake_tls": True, "ac_in_buffer_size": TLS_DTPHandler.ac_in_buffer_size}
        dtp = type("TLSUploadDTP", (UploadDTP, TLS_DTPHandler), tls)
        attrs = {
            "intake": self,
            "proto_cmds": _advertised(TLS_FTPHandler.proto_cmds),
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
        loop = self.server.ioloop
        while not self._stopping.is_set():
            # One turn of the I/O loop, as serve_forever(blocking=False) takes, without
            # the "starting FTP server" line it formats on every call (two getsockname
            # calls and a getpid, seven times per upload).
            loop.loop(timeout=0.2, blocking=False)
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
            if account.status == "stopped":
                return []
            if not home.is_dir():
                if home.exists():  # a start or reload refuses it too (path_checks)
                    log.error("ftp: %s is not a folder; %s is not checked", home, account_name)
                return []
            claimed = await asyncio.to_thread(self._claim_all, home)
            ids = []
            for index, claim in enumerate(claimed):
                try:
                    # Received at its 226, not at this check: the time its run,
                    # the expected-file check and the digest go by.
                    received = await asyncio.to_thread(arrival, claim.path)
                    ids.append(
                        await claims.spool_claim(
                            self.sink,
                            claim,
                            account_name,
                            CHANNEL,
                            account.ftp.user,
                            received_at=received,
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
                    log.error("ftp: %r cannot be taken, it stays: %s", str(path), exc)
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
            log.error("ftp: %r could not be given back: %s", str(claim.path), exc)
