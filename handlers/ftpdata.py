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

from handlers.ftphome import final_name
from handlers.ftpreplies import S426_RESET, S451_WRITE_FAILED, S452_NO_SPACE, S552_TOO_BIG
from handlers.ftpserver import aside_of

log = logging.getLogger(__name__)


class DataPort(FTPHandler.passive_dtp):  # pyftpdlib's PassiveDTP, wherever it lives
    """A passive data port that tells its session of a data connection the client closed
    or reset before it was accepted: pyftpdlib drops that one unsaid, and the session
    waits for it for ever (ftpsession.SessionHandler.data_connection_lost)."""

    def handle_accepted(self, sock: socket.socket, addr: tuple) -> None:
        super().handle_accepted(sock, addr)
        session = self.cmd_channel
        # Closed, yet still the session's port: the connection it took was dead, and no
        # data channel was made of it (a live one makes pyftpdlib forget the port).
        if self._closed and session._dtp_acceptor is self and session.connected:
            session.data_connection_lost()


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
            if self.cmd_channel.control_lost():
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

    def _made_durable(self, done: Future[str]) -> None:
        """Back on the I/O thread: the upload's 226, or what went wrong (said to no one
        when the client left meanwhile: SessionHandler.respond)."""
        self._durable_aside = False
        failed = done.exception()
        if failed is None:
            self._published(done.result())
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
            final = self._make_durable()
        except OSError as err:
            self._write_failed(err)
            return False
        self._published(final)
        return True

    def _make_durable(self) -> str:
        """Give the finished upload its final name and fsync it: the final path. Raises
        OSError once what it wrote under the final name is removed again."""
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
