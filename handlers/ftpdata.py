"""The FTP data channel of an upload: writes it under its temporary name, enforces
`max_bytes`, and makes a finished upload durable under its final name before the 226;
one cut off (reset, ABOR, over `max_bytes`, a write error, its control connection gone
before the 226) is answered so and removed, as is one whose data connection was closed
or reset before the server took it (`DataPort`). Reads the client's bytes; writes the
home's files. pyftpdlib makes one per transfer for the session (ftpsession's
SessionHandler.dtp_handler and passive_dtp, or ftp.py's FTPS subclass of it), and it
calls back into the session for the size limit, the reply words, refusals and the final
name (ftpnames.UploadHandler.publish_upload).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import socket
from concurrent.futures import Future
from pathlib import Path

from pyftpdlib.exceptions import _FileReadWriteError
from pyftpdlib.handlers import DTPHandler, FTPHandler
from pyftpdlib.ioloop import _ERRNOS_DISCONNECTED, _ERRNOS_RETRY, _RetryError

from handlers.ftphome import final_name, home_lock
from handlers.ftpreplies import S426_RESET, S451_WRITE_FAILED, S452_NO_SPACE, S552_TOO_BIG
from handlers.ftpserver import aside_of

log = logging.getLogger(__name__)


class NoPassivePort(Exception):
    """Every port of ftp.passive_ports is taken (SessionHandler._make_epasv: 425)."""


class DataPort(FTPHandler.passive_dtp):  # pyftpdlib's PassiveDTP, wherever it lives
    """A passive data port that tells its session of a data connection the client closed
    or reset before it was accepted: pyftpdlib drops that one unsaid, and the session
    waits for it for ever (ftpsession.SessionHandler.data_connection_lost). One that
    times out drops the upload waiting for it, and one never leaves ftp.passive_ports."""

    _in_range = False  # a port of ftp.passive_ports was tried

    def bind(self, addr: tuple) -> None:
        if addr[1]:
            self._in_range = True
        elif self._in_range:
            # pyftpdlib's fallback when the whole range is taken: a port the kernel
            # picks, which a firewall opening only the range never lets through.
            self.close()
            raise NoPassivePort
        super().bind(addr)

    def handle_timeout(self) -> None:
        self.cmd_channel.drop_waiting_upload()  # gone before the client hears why
        super().handle_timeout()  # 421

    def handle_accepted(self, sock: socket.socket, addr: tuple) -> None:
        super().handle_accepted(sock, addr)
        session = self.cmd_channel
        # Closed, yet still the session's port: the connection it took was dead, and no
        # data channel was made of it (a live one makes pyftpdlib forget the port).
        if self._closed and session._dtp_acceptor is self and session.connected:
            session.data_connection_lost()


class DataDial(FTPHandler.active_dtp):  # pyftpdlib's ActiveDTP, wherever it lives
    """An active data connection (PORT, EPRT) that lets its session forget it once it
    connected or failed: pyftpdlib keeps it as the session's connection on its way, and
    a transfer command after a 425 would wait for it for ever (no_data_connection). One
    that failed drops the upload waiting for it."""

    def handle_connect(self) -> None:
        super().handle_connect()
        self._forgotten()  # the data channel made of it is the session's now

    def handle_timeout(self) -> None:
        if self.cmd_channel._dtp_connector is self:
            self.cmd_channel.drop_waiting_upload()  # gone before the client hears why
        super().handle_timeout()  # 421

    def close(self) -> None:
        waited = not self._closed and self.cmd_channel._dtp_connector is self
        super().close()
        self._forgotten()
        if waited:  # failed or timed out (425, 421), not shut by the session
            self.cmd_channel.drop_waiting_upload()

    def _forgotten(self) -> None:
        if self.cmd_channel._dtp_connector is self:
            self.cmd_channel._dtp_connector = None


class UploadDTP(DTPHandler):
    """Data channel that enforces the size limit and makes a finished upload durable
    under its final name before the 226 goes out."""

    intake_tls = False
    _limit: int | None = None  # the upload's max_bytes, once its first data came
    # What one read may take, where pyftpdlib takes 64 KB: each read is a turn of the
    # server's I/O loop. Over TLS a read takes one record of at most 16 KB whatever is
    # asked, so the TLS data channel keeps 64 KB (handlers/ftp.py).
    ac_in_buffer_size = 1024 * 1024

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
        if not self.receive or getattr(self, "_ssl_requested", False):
            # In TLS, pyftpdlib's SSL layer reads; how the connection ended is told by
            # its close_notify (close, _ended_whole).
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

    def readable(self) -> bool:
        if not self._initialized and self.cmd_channel.holding:
            # Data sent with its STOR, which waits behind a command answered aside
            # (SessionHandler.hold): read once the STOR enables receiving, where
            # pyftpdlib would take it for the connection's end and close it unread.
            # Off the poll meanwhile, so that a reset is seen then, as an upload's.
            self.del_channel()
            return False
        return super().readable()

    _durable_aside = False  # made durable in the server's pool: its close comes after

    def close(self) -> None:
        finished = self.receive and self.transfer_finished and self.file_obj is not None
        if finished and not self._closed and not self.file_obj.closed:
            if self._durable_aside:
                return  # closed (the 226 sent) once the upload is durable
            aside = aside_of(self.cmd_channel.server)
            if not self._ended_whole():
                self._cut_off()
            elif self.cmd_channel.control_lost():
                self._unheard()
            elif aside is not None:
                # Its data all read: the socket leaves the I/O thread's poll while
                # the rename and fsync run in the pool; pyftpdlib's close then sends
                # the 226 and does its bookkeeping, as for an upload made durable here.
                self._durable_aside = True
                self.del_channel()
                aside(self._make_durable, self._made_durable)
                return
            elif not self._publish():
                return
        super().close()

    _final: str | None = None  # where a published upload is, until its 226 went out
    _written: os.stat_result | None = None  # that file, as this upload wrote it

    def _ended_whole(self) -> bool:
        """Whether the client ended the data connection as a sender does, not cut off:
        in TLS with its close_notify. pyftpdlib takes a reset or an end without one for
        a clean end and answers 226, though the data may be cut anywhere."""
        if not getattr(self, "_ssl_requested", False):
            return True  # in clear a reset is seen by recv
        from OpenSSL import SSL  # only with FTPS (handlers/ftp.py)

        try:
            return bool(self.socket.get_shutdown() & SSL.RECEIVED_SHUTDOWN)
        except (AttributeError, SSL.Error):  # no TLS made of it
            return False

    def _cut_off(self) -> None:
        """The data connection ended without a sender's end (a reset, a TLS connection
        closed without close_notify): 426, the upload removed as a reset one."""
        self.transfer_finished = False
        self._resp = (self.cmd_channel.reply(*S426_RESET), log.info)
        name = final_name(os.path.basename(self.file_obj.name))
        log.info("ftp: %s's upload of %s was cut off; discarded", self.cmd_channel.username, name)

    def _made_durable(self, done: Future[str]) -> None:
        """Back on the I/O thread: the upload's 226, or what went wrong (said to no one
        when the client left meanwhile: SessionHandler.respond)."""
        self._durable_aside = False
        failed = done.exception()
        if failed is None:
            self._final = done.result()
            if self.cmd_channel.control_lost():  # the client left while it was written
                self._withdraw()
            else:
                self._published(self._final)
            self.close()
            return
        if not isinstance(failed, OSError):  # a bug: said, and the client told 451
            log.error("ftp: an upload could not be made durable", exc_info=failed)
            failed = OSError(errno.EIO, str(failed))
        self._write_failed(failed)

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
        """Give the finished upload its final name, durably, here; False when that
        failed (the client was told so and the file removed)."""
        try:
            self._final = self._make_durable()
        except OSError as err:
            self._write_failed(err)
            return False
        # Asked again now that the upload is written: a killed client's kernel closes
        # its data and control connections together, in either order, and the control
        # connection's end may come a moment after the data's.
        if self.cmd_channel.control_lost():
            self._withdraw()
        else:
            self._published(self._final)
        return True

    def _withdraw(self) -> None:
        """Take back an upload published before its 226, which its client never heard:
        removed, unless another upload of the name replaced it meanwhile."""
        final, self._final = self._final, None
        if self.transfer_finished:
            self._unheard()
        if final is None or self._written is None:
            return
        with home_lock(os.path.dirname(final)), contextlib.suppress(OSError):
            if os.path.samestat(os.stat(final), self._written):
                os.remove(final)

    def _make_durable(self) -> str:
        """Give the finished upload its final name and fsync it: the final path. Raises
        OSError once what it wrote under the final name is removed again."""
        final = None
        try:
            written = self._written = os.fstat(self.file_obj.fileno())
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
        except OSError:  # small writes fail only here, at the last flush
            if final is not None:
                # Not durable, so not accepted: the client sends it again. Removed only
                # while the name is still this upload's: another session's upload of
                # the name may have replaced it since, and that one was accepted.
                with contextlib.suppress(OSError):
                    if os.path.samestat(os.stat(final), written):
                        os.remove(final)
            raise
        return final

    def _published(self, final: str) -> None:
        log.info("ftp: %s uploaded %s", self.cmd_channel.username, os.path.basename(final))
        self.cmd_channel.unanswered = self

    def answered(self) -> None:
        """Its 226 was written, or could not be (SessionHandler._on_dtp_close): one the
        session closed before (the write reset, the client gone) was never heard, and
        the upload is taken back."""
        if self._final is not None and self.cmd_channel._closed:
            self._withdraw()
        self._final = None

    def _write_failed(self, err: OSError) -> None:
        """The upload could not be written: say so (452 when the disk is full, so the
        client tries again later) and remove what was written, never a 226."""
        self.transfer_finished = False
        reply, reason = S451_WRITE_FAILED, "write_failed"
        err = _os_error(err)
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


def _os_error(err: BaseException) -> BaseException:
    """The OSError behind `err`: pyftpdlib wraps a failed write in its own error
    (_FileReadWriteError), whose errno is None, the disk's ENOSPC in its args."""
    for cause in (err, err.__cause__, *getattr(err, "args", ())):
        if isinstance(cause, OSError) and cause.errno is not None:
            return cause
    return err
