"""Kept files: where an accepted file lives once its run is final, until retention ends.

A finished run's file is moved (renamed, never copied) from its spool item to
`data_dir/files/<run id>/<bare file name>` by Spool.finish(); a quarantined item keeps
its file in `spool/failed/<run id>/data`, and one `files/` could not take keeps it in
`spool/unkept/<run id>/data`. This module is the one place that says so:
the web app and `renkei show` serve the file from here, the retrier imports it again
from here and the retention sweep removes it from here.
"""

from __future__ import annotations

import glob
from pathlib import Path

from importers.filenames import MAX_NAME_BYTES

FILES = "files"


def bare(filename: str) -> str:
    """The name a kept file is stored under: the run's bare file name, else `data` (also
    for a name longer than the file system holds, MAX_NAME_BYTES in UTF-8)."""
    name = Path(filename or "").name
    too_long = len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES
    return name if name not in ("", ".", "..") and not too_long else "data"


def kept_path(data_dir: Path, run_id: str, filename: str) -> Path:
    """Where Spool.finish() keeps the file of run `run_id`."""
    return data_dir / FILES / run_id / bare(filename)


def quarantined_path(data_dir: Path, run_id: str) -> Path:
    """The file of a run quarantined after its attempts (spool/failed/<id>/data)."""
    return data_dir / "spool" / "failed" / run_id / "data"


def unkept_path(data_dir: Path, run_id: str) -> Path:
    """Where a final run's file stays when `files/` may not be written (a chmod, a
    read-only file system there): in the spool, whose folder it is in already
    (spool/unkept/<id>/data). Deleted, the run's file was lost to download and retry."""
    return data_dir / "spool" / "unkept" / run_id / "data"


def kept_file(data_dir: Path, run_id: str, filename: str) -> Path | None:
    """The run's file as received, kept or quarantined; None when there is none (the
    run held no file, retention removed it, or an older renkei deleted it)."""
    places = (
        kept_path(data_dir, run_id, filename),
        quarantined_path(data_dir, run_id),
        unkept_path(data_dir, run_id),
    )
    for path in places:
        if path.is_file():
            return path
    return None


def holds_file(data_dir: Path, run_id: str) -> bool:
    """Whether anything still holds run `run_id`'s file, whatever its name."""
    folder = data_dir / FILES / run_id
    kept = folder.is_dir() and any(folder.iterdir())
    others = (quarantined_path(data_dir, run_id), unkept_path(data_dir, run_id))
    return kept or any(path.is_file() for path in others)


def run_folders(data_dir: Path, run_id: str) -> list[Path]:
    """Every folder that holds something of run `run_id` outside the database: its kept
    file, its error CSV, its quarantined item, and any item of its id set aside as
    unreadable after the first (`<id>.<another id>`, queue.Spool._set_aside). The
    retention sweep removes these."""
    failed = quarantined_path(data_dir, run_id).parent
    # A run id has no dot, so `<id>.` starts no other run's name.
    again = sorted(failed.parent.glob(f"{glob.escape(run_id)}.*"))
    unkept = unkept_path(data_dir, run_id).parent
    return [data_dir / FILES / run_id, data_dir / "reports" / run_id, failed, unkept, *again]
