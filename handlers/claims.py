"""Taking a finished file out of a folder into the spool, exactly once.

The file is first renamed to a claim name that carries its future run id; then spooled
under that id; then the claim is removed. After a crash, a claim whose id the spool or
the run history knows is dropped, any other is given back. Used by the FTP check and
the drop folder.

A name too long to carry the id as well (the claim adds 38 bytes to a limit of 255)
is claimed into a folder named by the id alone, under its own name: it would
otherwise stop every file after it in the folder.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from handlers.base import Delivery, IntakeSink, SpoolUnavailable, readable

CLAIM_PREFIX = ".claimed-"
NAME_MAX = 255  # bytes of one name, on every file system renkei's folders live on


async def take(sink: IntakeSink, account: str, channel: str, sender: str, path: Path) -> str | None:
    """Spool `path` and remove it; None when someone else took it first."""
    run_id = sink.new_id()
    claimed = path.with_name(f"{CLAIM_PREFIX}{run_id}-{path.name}")
    holder = None
    if len(os.fsencode(claimed.name)) > NAME_MAX:
        holder = path.with_name(f"{CLAIM_PREFIX}{run_id}")
        holder.mkdir()
        claimed = holder / path.name
    try:
        os.rename(path, claimed)
    except FileNotFoundError:
        _remove(holder)
        return None
    delivery = Delivery(account, channel, readable(sender), readable(path.name), claimed, id=run_id)
    try:
        await sink.spool([delivery])
    except SpoolUnavailable:
        os.rename(claimed, path)  # left for the next look
        _remove(holder)
        raise
    claimed.unlink()
    _remove(holder)
    return run_id


async def recover(sink: IntakeSink, folder: Path) -> None:
    if not folder.is_dir():
        return
    for claimed in folder.glob(f"{CLAIM_PREFIX}*"):
        if claimed.is_dir():  # a long name's claim: the file under its own name inside
            known = await sink.known(claimed.name[len(CLAIM_PREFIX) :])
            for inside in claimed.iterdir():
                if known:
                    inside.unlink()
                else:
                    os.rename(inside, folder / inside.name)
            _remove(claimed)
            continue
        stamp, suffix, original = claimed.name[len(CLAIM_PREFIX) :].split("-", 2)
        if await sink.known(f"{stamp}-{suffix}"):
            claimed.unlink()
        else:
            os.rename(claimed, folder / original)


def _remove(holder: Path | None) -> None:
    if holder is not None:
        with contextlib.suppress(OSError):
            holder.rmdir()
