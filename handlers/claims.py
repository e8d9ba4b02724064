"""Taking a finished file out of a folder into the spool, exactly once.

The file is first renamed to a claim name that carries its future run id; then spooled
under that id; then the claim is removed. After a crash, a claim whose id the spool or
the run history knows is dropped, any other is given back. Used by the FTP check and
the drop folder.
"""

from __future__ import annotations

import os
from pathlib import Path

from handlers.base import Delivery, IntakeSink, SpoolUnavailable, readable

CLAIM_PREFIX = ".claimed-"


async def take(sink: IntakeSink, account: str, channel: str, sender: str, path: Path) -> str | None:
    """Spool `path` and remove it; None when someone else took it first."""
    run_id = sink.new_id()
    claimed = path.with_name(f"{CLAIM_PREFIX}{run_id}-{path.name}")
    try:
        os.rename(path, claimed)
    except FileNotFoundError:
        return None
    delivery = Delivery(account, channel, readable(sender), readable(path.name), claimed, id=run_id)
    try:
        await sink.spool([delivery])
    except SpoolUnavailable:
        os.rename(claimed, path)  # left for the next look
        raise
    claimed.unlink()
    return run_id


async def recover(sink: IntakeSink, folder: Path) -> None:
    if not folder.is_dir():
        return
    for claimed in folder.glob(f"{CLAIM_PREFIX}*"):
        stamp, suffix, original = claimed.name[len(CLAIM_PREFIX) :].split("-", 2)
        if await sink.known(f"{stamp}-{suffix}"):
            claimed.unlink()
        else:
            os.rename(claimed, folder / original)
