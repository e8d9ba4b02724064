"""Messages between the daemon and its import process: pickled tuples, each framed by
its length, over the child's stdin and stdout.

    daemon → import process   ("settings", Settings)  at start and at every reload
                              ("wake",)               a file was spooled
    import process → daemon   ("ready",)              the spool is recovered
                              ("run", state, rows, id) a run reached a state (metrics, forwarding)
                              ("report", run_id)      a report (or an admin alert about
                                                      the run) waits in the outbox
"""

from __future__ import annotations

import asyncio
import pickle
import struct
from typing import BinaryIO

_LENGTH = struct.Struct(">I")


def frame(message: tuple) -> bytes:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(data)) + data


def send(stream: BinaryIO, message: tuple) -> None:
    stream.write(frame(message))
    stream.flush()


async def receive(reader: asyncio.StreamReader) -> tuple | None:
    """The next message, or None once the other side has closed the pipe."""
    try:
        head = await reader.readexactly(_LENGTH.size)
        return pickle.loads(await reader.readexactly(_LENGTH.unpack(head)[0]))
    except asyncio.IncompleteReadError:
        return None
