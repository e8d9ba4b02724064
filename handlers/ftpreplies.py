"""The FTP door's replies, in one place: each a code and the catalog key of its text
(importers/messages.py, "ftp.*"), or a fixed line. Reads and writes nothing; used by
handlers/ftp.py, ftpsession.py, ftpnames.py and ftpdata.py.

A reply with a catalog key is said by ftpsession.SessionHandler.reply() in
`report.language` once the client sent OPTS UTF8 ON, and else in English, ASCII only:
a Shift_JIS client garbles UTF-8 Japanese. The ban comes before any command could turn
UTF-8 on, so it is plain ASCII English.
"""

from __future__ import annotations

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
S421_ACCOUNT_REMOVED = (421, "ftp.account_removed")  # a reload took the session's user away
S452_NO_SPACE = (452, "ftp.no_space")  # the disk full while an upload is written
S452_LOW_SPACE = (452, "ftp.low_space")  # under daemon.min_free_bytes before it starts
S451_WRITE_FAILED = (451, "ftp.write_failed")  # any other error writing it
S530_LOGIN_FAILED = (530, "ftp.login_failed")
S530_TLS_CONTROL = (530, "ftp.tls_control")  # ftp.require_tls: USER/PASS before AUTH TLS
S534_TLS_DATA = (534, "ftp.tls_data")  # ftp.require_tls: a data connection before PROT P
S553_BAD_NAME = 553  # with the file-name rule the name breaks
S553_UNSEEN_NAME = (553, "ftp.unseen_name")  # STOR, RNTO: control or format characters
S553_SPACED_NAME = (553, "ftp.spaced_name")  # STOR, RNTO: spaces the other doors strip
S553_LONG_NAME = (553, "ftp.long_name")  # STOR, RNTO: over ftphome.MAX_NAME_BYTES
S553_NOT_A_FILE = (553, "ftp.not_a_file")  # STOR, RNTO: the home, a folder or a path in one
S501_NUL_PATH = (501, "ftp.nul_path")  # a NUL in any other command's path
# A transfer command with no data connection open or coming: never made, or closed or
# reset before the command (pyftpdlib would answer 150 and wait for it for ever).
S425_NO_DATA = (425, "ftp.no_data")
# PASV or EPSV with every port of ftp.passive_ports taken: pyftpdlib would give one
# outside the range, which a firewall opening the range never lets through.
S425_NO_PASSIVE_PORT = (425, "ftp.no_passive_port")

# pyftpdlib's own replies a client meets in an upload session, by their exact line: said
# in `report.language` once the client sent OPTS UTF8 ON, as renkei's own are. Another
# line of pyftpdlib's (a rarely used command, one naming a path) stays as it words it.
STOCK = {
    "200 Always in UTF8 mode.": "ftp.stock.utf8",
    "200 Type set to: Binary.": "ftp.stock.binary",
    "200 Type set to: ASCII.": "ftp.stock.ascii",
    "202 No storage allocation necessary.": "ftp.stock.allo",
    "125 Data connection already open. Transfer starting.": "ftp.stock.data_open",
    "150 File status okay. About to open data connection.": "ftp.stock.data_opening",
    "226 Transfer complete.": "ftp.stock.transferred",
    "221 Goodbye.": "ftp.stock.goodbye",
    "230 Login successful.": "ftp.stock.logged_in",
    "331 Username ok, send password.": "ftp.stock.password",
    "350 Ready for destination name.": "ftp.stock.rename_to",
    S250_REMOVED: "ftp.stock.removed",
    S250_RENAMED: "ftp.stock.renamed",
    S550_NO_SUCH_FILE: "ftp.stock.no_such_file",
    "550 Not enough privileges.": "ftp.stock.not_allowed",
    "500 Command too long.": "ftp.stock.too_long",
    "501 Invalid parameter.": "ftp.stock.bad_parameter",
    "503 Login with USER first.": "ftp.stock.user_first",
    "503 Bad sequence of commands: use RNFR first.": "ftp.stock.rnfr_first",
}
