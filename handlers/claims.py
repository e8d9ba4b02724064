"""Taking a finished file out of a folder into the spool, exactly once.

The file is first renamed to a claim name that carries its future run id; then spooled
under that id; then the claim is removed. After a crash, a claim whose id the spool or
the run history knows is dropped; the others are the caller's to take (leftovers) or
give back (recover). Used by the FTP check and the drop folder; ftphome.py sets waiting
uploads aside the same way (set_aside).

A name too long to carry the id as well (the claim adds 38 bytes to a limit of 255)
is claimed into a folder named by the id alone, under its own name: it would
otherwise stop every file after it in the folder.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from handlers.base import Delivery, IntakeSink, readable

log = logging.getLogger(__name__)

CLAIM_PREFIX = ".claimed-"
NAME_MAX = 255  # bytes of one name, on every file system renkei's folders live on


def stamped(prefix: str) -> re.Pattern[str]:
    """The names set_aside() gives under `prefix`: a run id (spool.queue.new_id: UTC time
    to the microsecond, then randomness) and the name the file came as, or the id alone
    (a long name's folder). An upload named "claimed-…" in progress (`.claimed-….part`)
    is no claim."""
    return re.compile(re.escape(prefix) + r"(\d{8}T\d{12}-[0-9a-f]+)(?:-(.+))?", re.DOTALL)


_CLAIM = stamped(CLAIM_PREFIX)


@dataclass(slots=True)
class Claim:
    """A file claimed for run `run_id`: at `path`, under a name only the door uses."""

    run_id: str
    path: Path
    name: str  # the name it was sent as, which its run is given
    holder: Path | None = None  # a long name's claim: the folder holding it


GiveBack = Callable[[Claim], None]


def set_aside(
    path: Path, folder: Path, prefix: str, stamp: str, name: str
) -> tuple[Path, Path | None]:
    """Rename `path` into `folder` as `<prefix><stamp>-<name>`; a name too long for that
    goes, under its own name, into a folder `<prefix><stamp>` made for it. Where it is
    now, and that folder (None for a plain rename), removed again if the rename fails."""
    target = folder / f"{prefix}{stamp}-{name}"
    holder = None
    if len(os.fsencode(target.name)) > NAME_MAX:
        holder = folder / f"{prefix}{stamp}"
        holder.mkdir()
        target = holder / name
    try:
        os.rename(path, target)
    except BaseException:
        remove_holder(holder)
        raise
    return target, holder


def claim(folder: Path, path: Path, run_id: str, name: str | None = None) -> Claim | None:
    """Rename `path` to a claim in `folder` for run `run_id`, its run named `name` (the
    file's own name by default); None when someone else took it first."""
    name = name or path.name
    try:
        claimed, holder = set_aside(path, folder, CLAIM_PREFIX, run_id, name)
    except FileNotFoundError:
        return None
    return Claim(run_id, claimed, name, holder)


async def spool_claim(
    sink: IntakeSink,
    claimed: Claim,
    account: str,
    channel: str,
    sender: str,
    data: Path | None = None,
    received_at: str = "",
) -> str:
    """Spool a claimed file (read from `data`, by default the claim's path) and remove
    the claim; its run id, or the earlier run a resend was answered with (the claim's
    own id names no run then). SpoolUnavailable leaves the claim to the caller."""
    filename = readable(claimed.name)
    delivery = Delivery(
        account,
        channel,
        readable(sender),
        filename,
        data or claimed.path,
        id=claimed.run_id,
        received_at=received_at,
    )
    receipt = await sink.spool([delivery])
    try:
        release(claimed)
    except OSError as exc:  # spooled all the same: the next start drops the claim
        log.error("%r: spooled as %s, its claim stays: %s", str(claimed.path), claimed.run_id, exc)
    return receipt.ids[0] if receipt.ids else claimed.run_id


def open_plain(path: Path) -> int:
    """A descriptor to read the file at `path` by, never through a symbolic link (ELOOP)
    and never a FIFO or device (EINVAL): the folder's writer may swap the file for one
    between a check of its name and the read, and the daemon may read what they may not."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a regular file", str(path))
    return fd


def release(claimed: Claim) -> None:
    """The claim's file is spooled: remove it."""
    claimed.path.unlink()
    remove_holder(claimed.holder)


def give_back(claimed: Claim, target: Path) -> bool:
    """Put the claim's file back at `target`, never over a file that came under that
    name since (it is newer, and would be lost); False when one did: the claim stays."""
    try:
        # A hard link fails on an existing name where a rename would replace it.
        os.link(claimed.path, target, follow_symlinks=False)
    except FileExistsError:
        return False
    except OSError:
        # No hard links here (a share's file system), or not of a file we cannot read
        # (fs.protected_hardlinks): a rename, which a file arriving under the name
        # between the look and the rename would still lose to.
        if os.path.lexists(target):
            return False
        os.rename(claimed.path, target)
    else:
        claimed.path.unlink()
    remove_holder(claimed.holder)
    return True


async def leftovers(sink: IntakeSink, folder: Path) -> list[Claim]:
    """After a crash: drop the claims already spooled; the others, oldest first (their
    run ids are the times they were claimed)."""
    if not folder.is_dir():
        return []
    left = []
    for claimed in sorted(claims_in(folder), key=lambda c: c.run_id):
        if await sink.known(claimed.run_id):
            release(claimed)
        else:
            left.append(claimed)
    return left


async def recover(sink: IntakeSink, folder: Path, back: GiveBack) -> None:
    """After a crash: drop the claims already spooled, give the others `back`."""
    for claimed in await leftovers(sink, folder):
        back(claimed)


def claims_in(folder: Path) -> Iterator[Claim]:
    """The claims a crash left in `folder`."""
    for path in folder.glob(f"{CLAIM_PREFIX}*"):
        found = _CLAIM.fullmatch(path.name)
        if found is None or path.is_symlink():
            # A link named as a claim is none of ours: following one to a folder would
            # move that folder's files out of it.
            continue
        run_id, name = found.groups()
        if path.is_dir():  # a long name's claim: the file under its own name inside
            for inside in path.iterdir():
                yield Claim(run_id, inside, inside.name, path)
            remove_holder(path)  # one left empty by a crash
        elif name is not None:
            yield Claim(run_id, path, name)


def remove_holder(holder: Path | None) -> None:
    """Remove a long name's folder once its file is gone (kept while it still holds one)."""
    if holder is not None:
        with contextlib.suppress(OSError):
            holder.rmdir()
