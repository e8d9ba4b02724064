"""The names of an FTP session's uploads: the file-name rule at STOR and RNTO (553), the
temporary name an upload is written under, its final name once whole, and DELE and
RNTO of every upload of a name. Reads the commands' names; writes the home's names
through handlers/ftphome.py. handlers/ftp.py serves UploadHandler; ftpdata.UploadDTP
calls publish_upload and, through pyftpdlib, on_incomplete_file_received.

An upload is written under a temporary name of its own (`.NAME.<random>.part`: two
uploads of one name at once never share a file), renamed before the client hears 226;
one cut off is removed. A second upload of a name still waiting for the check never
replaces the first: that one is held aside (ftphome.py), and the check takes both, in
the order they came. A name the client sees stands for all its uploads waiting: DELE
withdraws them all, RNFR/RNTO moves them all, and RNTO holds aside what waits under the
new name, as STOR does; RNTO to a name that breaks the file-name rule gets 553, as STOR
does. On the server's one I/O thread, a DELE or RNTO with other sessions connected
changes the home in the server's pool, as an upload is made durable (_home_work). Names starting with "." are the door's own (uploads in progress, the check's
claims): never listed to a client, and refused when a client names one. A name with
control or format characters, which the other doors drop (base.bare_name), is refused
(553) rather than taken under a name the client never listed; a NUL in any command's
path is answered (553, 501) before pyftpdlib makes a path of it. STOR and RNTO name a
file directly in the home, else 553 (`STOR ..` would replace the home itself), and one
of at most ftphome.MAX_NAME_BYTES, the room its temporary name leaves.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
from collections.abc import Callable
from concurrent.futures import Future
from functools import partial
from pathlib import Path
from typing import TypeVar

from pyftpdlib.handlers import FTPHandler

from handlers.base import unseen_characters
from handlers.ftphome import (
    MAX_NAME_BYTES,
    hidden,
    part_name,
    publish,
    rename_uploads,
    withdraw,
)
from handlers.ftpreplies import (
    S250_REMOVED,
    S250_RENAMED,
    S451_DELETE_FAILED,
    S451_RENAME_FAILED,
    S451_WRITE_FAILED,
    S452_LOW_SPACE,
    S452_NO_SPACE,
    S501_NUL_PATH,
    S502_NO_STOU,
    S550_NO_SUCH_FILE,
    S553_BAD_NAME,
    S553_HIDDEN_NAME,
    S553_LONG_NAME,
    S553_NO_APPEND,
    S553_NOT_A_FILE,
    S553_SPACED_NAME,
    S553_UNSEEN_NAME,
)
from handlers.ftpserver import aside_of
from handlers.ftpsession import SessionHandler

log = logging.getLogger(__name__)
T = TypeVar("T")


# Commands naming a path: those pyftpdlib checks a permission for, but the uploads,
# which check their names themselves. RNTO and MKD would make the name: 553, not 550.
_UPLOADS = frozenset({"STOR", "APPE", "STOU"})
_PATH_COMMANDS = frozenset(
    cmd for cmd, spec in FTPHandler.proto_cmds.items() if spec["perm"] and cmd not in _UPLOADS
)
_NEW_NAME_COMMANDS = frozenset({"RNTO", "MKD", "XMKD"})


class UploadHandler(SessionHandler):
    """Control channel: name rule at STOR and RNTO, temporary names, DELE and rename of
    all the uploads of a name."""

    def pre_process_command(self, line: str, cmd: str, arg: str) -> None:
        # pyftpdlib's path check (os.path.realpath) dies of a NUL, closing the session
        # without a reply: answered here, before any path is made of it.
        if self.authenticated and "\0" in arg:
            self._refuse_nul(cmd, arg)
            return
        # A name starting with "." is the door's own: an upload in progress (another
        # session renaming or deleting it would lose that upload) or a claim. To the
        # client it does not exist, and cannot be made.
        # `STOR x.csv/` names a folder, which pyftpdlib's path would make the file
        # x.csv: not a file directly in the home, as README says.
        if self.authenticated and cmd in _UPLOADS | {"RNTO"} and arg.rstrip().endswith("/"):
            if cmd == "RNTO":
                self._rnfr = None  # an RNFR is spent by the RNTO after it
            self._restart_position = 0
            self._refuse_not_a_file(cmd, self.fs.ftp2fs(arg))
            return
        if self.authenticated and cmd in _PATH_COMMANDS and hidden(arg):
            if cmd in _NEW_NAME_COMMANDS:
                self._rnfr = None  # an RNFR is spent by the RNTO after it
                self.respond(self.reply(*S553_HIDDEN_NAME))
            else:
                self.respond(S550_NO_SUCH_FILE)
            return
        super().pre_process_command(line, cmd, arg)

    def _refuse_nul(self, cmd: str, arg: str) -> None:
        """553 for a command that would make the name (as STOR of an unseen one), 501
        for the others; each a refusal."""
        detail = f"{cmd} of a path holding a NUL (U+0000)"
        if cmd == "RNTO":
            self._rnfr = None  # an RNFR is spent by the RNTO after it
        if cmd in _UPLOADS:
            self._restart_position = 0  # a REST by the upload command after it
        if cmd in _UPLOADS or cmd in _NEW_NAME_COMMANDS:
            self.refuse(S553_UNSEEN_NAME[0], "bad_filename", arg, detail)
            self.respond(self.reply(*S553_UNSEEN_NAME, chars="U+0000"))
        else:
            self.refuse(S501_NUL_PATH[0], "bad_filename", arg, detail)
            self.respond(self.reply(*S501_NUL_PATH))

    def ftp_STOR(self, file: str, mode: str = "w") -> str | None:
        # A REST is spent by the upload command after it, refused or not.
        restart, self._restart_position = self._restart_position, 0
        name = self._upload_name(file)
        if name is None:
            self._refuse_not_a_file("STOR", file)
            return None
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
        if self.no_data_connection():  # 425, before a temporary file is made
            return None
        partial = os.path.join(os.path.dirname(file), part_name(name))
        self.fs.open_error = None
        self._storing = name
        try:
            # "x": created afresh (pyftpdlib adds the "b"), never a file that was there.
            return super().ftp_STOR(partial, "x")
        finally:
            self._storing = None

    _storing: str | None = None  # the upload whose file ftp_STOR is creating

    def respond(self, resp: str, *args: object, **kwargs: object) -> None:
        if self._storing is not None and resp.startswith("550 "):
            resp = self._not_created(self._storing)
        super().respond(resp, *args, **kwargs)

    def _not_created(self, name: str) -> str:
        """An upload whose file could not be made in the home (no inode left, a quota,
        a home the daemon may not write): the server's trouble, so a 452 or 451 the
        client tries again after, where pyftpdlib's 550 was final (and no refusal)."""
        err = self.fs.open_error
        reply, reason = S451_WRITE_FAILED, "write_failed"
        if err is not None and err.errno in (errno.ENOSPC, errno.EDQUOT):
            reply, reason = S452_NO_SPACE, "low_space"
        why = err.strerror if err is not None and err.strerror else str(err)
        self.refuse(reply[0], reason, name, f"could not create the upload: {why}")
        return self.reply(*reply)

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

    def _upload_name(self, path: str) -> str | None:
        """The name an upload to `path` (a file-system path, as pyftpdlib gives it)
        takes in the home; None when `path` names no file there: the home itself
        (`STOR ..`, `.`, `/`), a folder in it or a path below one. The check takes
        only the home's own files, and a folder there would be moved aside for the
        upload's name: the home itself, from outside it."""
        name = self._home_name(path)
        return None if name is None or os.path.isdir(path) else name

    def _refuse_not_a_file(self, cmd: str, path: str) -> None:
        what = self.fs.fs2ftp(path)
        detail = f"{cmd} of {what}: not a file directly in the home"
        self.refuse(S553_NOT_A_FILE[0], "bad_filename", what, detail)
        self.respond(self.reply(*S553_NOT_A_FILE))

    def _name_refused(self, name: str) -> bool:
        """Refuse (553) a name the check would never take; True when refused."""
        account = self.intake.account_of_user(self.username)
        language = self.reply_language
        if name.startswith("."):
            # Never taken by the check, and the namespace of uploads in progress.
            self.refuse(S553_HIDDEN_NAME[0], "bad_filename", name, "a name starting with '.'")
            self.respond(self.reply(*S553_HIDDEN_NAME))
            return True
        if unseen := unseen_characters(name):
            # Other doors take such a name without them (base.bare_name), but here the
            # file keeps the name the client lists: its run could not be named as the
            # client sees it, nor the character shown where a name is (U+202E turns it
            # around). Refused, so that the client renames it.
            detail = f"a name holding control or format characters ({unseen})"
            self.refuse(S553_UNSEEN_NAME[0], "bad_filename", name, detail)
            self.respond(self.reply(*S553_UNSEEN_NAME, chars=unseen))
            return True
        if name != name.strip():
            # The other doors take ` x.csv` as `x.csv` (base.bare_name); here the file
            # keeps the name the client lists, and was another file than `x.csv`.
            detail = "a name starting or ending with white space"
            self.refuse(S553_SPACED_NAME[0], "bad_filename", name, detail)
            self.respond(self.reply(*S553_SPACED_NAME))
            return True
        if (length := len(os.fsencode(name))) > MAX_NAME_BYTES:
            # Its temporary name (ftphome.part_name) would be too long for the disk.
            detail = f"a name of {length} bytes, over {MAX_NAME_BYTES}"
            self.refuse(S553_LONG_NAME[0], "bad_filename", name, detail)
            self.respond(self.reply(*S553_LONG_NAME, length=length, limit=MAX_NAME_BYTES))
            return True
        problem = self.intake.sink.filename_problem(name, account=account, language=language)
        if problem:
            # The admin reads the refusal in English, whatever the client was told.
            english = self.intake.sink.filename_problem(name, account=account, language="en")
            self.refuse(S553_BAD_NAME, "bad_filename", name, english or problem)
            self.respond(f"{S553_BAD_NAME} {self.wire(problem)}")
            return True
        return False

    def ftp_DELE(self, path: str) -> None:
        # The name stands for every upload of it still waiting, those held aside too:
        # one the client deleted is never imported (ftphome.withdraw).
        name = self._home_name(path)
        if name is None:
            super().ftp_DELE(path)
            return
        home = Path(self.fs.root)

        def answer(removed: int) -> None:
            self.respond(S250_REMOVED if removed else S550_NO_SUCH_FILE)

        self._home_work(partial(withdraw, home, name), answer, S451_DELETE_FAILED, "DELE", path)

    def ftp_RNTO(self, path: str) -> None:
        # pyftpdlib's rename would replace an upload waiting under the new name, and
        # take a name STOR refuses; ours moves every upload of the old name and keeps
        # the one waiting under the new name, held aside (ftphome.rename_uploads).
        if not self._rnfr:  # no RNFR first: pyftpdlib's 503
            super().ftp_RNTO(path)
            return
        old, new = self._home_name(self._rnfr), self._upload_name(path)
        if new is None:
            self._rnfr = None  # an RNFR is spent by the RNTO after it
            self._refuse_not_a_file("RNTO", path)
            return
        if old is None:  # a file below a folder of the home: pyftpdlib's rename
            super().ftp_RNTO(path)
            return
        self._rnfr = None
        if self._name_refused(new):
            return
        home, stamp = Path(self.fs.root), self.intake.sink.new_id

        def answer(renamed: bool) -> None:
            self.respond(S250_RENAMED if renamed else S550_NO_SUCH_FILE)

        work = partial(rename_uploads, home, old, new, stamp)
        self._home_work(work, answer, S451_RENAME_FAILED, "RNTO", path)

    def _home_work(
        self,
        work: Callable[[], T],
        answer: Callable[[T], None],
        failed: tuple[int, str],
        cmd: str,
        path: str,
    ) -> None:
        """Change the home's names by `work` (its lock, which another instance's check
        may hold, renames and an fsync), then `answer` with what it gave, or `failed`
        (451) when it raised OSError. While other sessions are served by the same I/O
        thread, the work runs in the server's pool, as an upload is made durable, and
        this session handles no further command until it has answered, those the client
        sent with it included (SessionHandler.hold): its replies and their effects stay
        in the order of its commands."""
        what = f"{cmd} {os.path.basename(path)}"
        aside = aside_of(self.server)
        if aside is None:
            try:
                result = work()
            except OSError as err:
                self._not_changed(failed, what, err)
                return
            answer(result)
            return
        self.hold()

        def then(done: Future[T]) -> None:
            if self._closed:
                return  # the client left meanwhile: nobody to answer
            self._last_response = ""
            err = done.exception()
            if err is None:
                answer(done.result())
            else:
                if not isinstance(err, OSError):  # a bug: said, and the client told 451
                    log.error("ftp: %s could not change the home", cmd, exc_info=err)
                self._not_changed(failed, what, err)
            if self._last_response:  # logged as pyftpdlib logs an answered command
                code, words = int(self._last_response[:3]), self._last_response[4:]
                self.log_cmd(cmd, path, code, words)
            self.release()

        aside(work, then)

    def _home_name(self, path: str) -> str | None:
        """The name `path` (a file-system path, as pyftpdlib gives it) has in the home,
        None when it is not directly in it."""
        directory, name = os.path.split(path)
        return name if name and directory == os.path.normpath(self.fs.root) else None

    def _not_changed(self, reply: tuple[int, str], what: str, err: BaseException) -> None:
        """The home could not be changed (our own trouble: 451, the client may retry)."""
        log.warning("ftp: %r of %s failed: %s", what, self.username, err)
        self.respond(self.reply(*reply))

    def publish_upload(self, partial: str) -> str:
        """Rename a finished upload to its final name (the check only sees whole files);
        the final name. One of the name still waiting is kept (ftphome.publish)."""
        return publish(partial, self.intake.sink.new_id)

    def on_incomplete_file_received(self, file: str) -> None:
        # Cut off part-way: never imported, never left behind.
        with contextlib.suppress(FileNotFoundError):
            os.remove(file)
        log.info("ftp: incomplete upload %r removed", os.path.basename(file))
