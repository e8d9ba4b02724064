"""How the daemon's processes log: one format on stderr, for `renkei serve` and its
import process alike (systemd's journal takes both)."""

from __future__ import annotations

import logging
import os


def configure() -> None:
    logging.basicConfig(
        level=os.environ.get("RENKEI_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Nothing logged names its thread, process or source line: not looked up for each
    # record (the logging HOWTO's "Optimization"), a line logged per accepted file.
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging._srcfile = None
    # aiosmtpd logs every command at INFO; renkei logs what matters itself.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    logging.getLogger("pyftpdlib").setLevel(logging.WARNING)
    # Each request sent onward is logged once by renkei, with its outcome.
    logging.getLogger("httpx").setLevel(logging.WARNING)
