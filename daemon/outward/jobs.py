"""Jobs of requests sent onward, kept on disk from before the first attempt until each
request is answered, so that a restart resumes them.

A job is a folder `data_dir/outward/<job id>/` holding one body file per request and
`job.json`, which appears last (written and renamed durably): a folder without it is
an unfinished build and is removed at start. Each request's progress is appended to
`progress` beside it, one line per change, fsynced before the next step (each attempt
is counted there before the request goes out): a few hundred bytes per request, where
rewriting `job.json` made a call of N rows write N² (2,000 rows took minutes). At
load the lines are replayed onto `job.json`, which is then rewritten whole and the
log emptied. A request that was in flight when the process died is sent again, with
the same Idempotency-Key, and both attempts are counted.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from daemon.spool.durable import fsync_dir, replace_durably, write_synced

WAITING, DONE, FAILED, SKIPPED = "waiting", "done", "failed", "skipped"
PROGRESS = "progress"  # the job's append-only log of request changes
_PROGRESS_FIELDS = ("state", "attempts", "next_try", "status", "answer")
# The headers renkei sets itself: a configured one of these names, in any case, would go
# out beside renkei's (`renkei check` refuses them; a job spooled before it did drops them).
# Here rather than beside the sending, so that checking a config loads no HTTP client.
OWN_HEADERS = frozenset({"idempotency-key", "content-type", "content-length", "host"})


@dataclass
class Request:
    seq: int
    method: str
    url: str
    headers: dict[str, str]  # as configured: a value may be env:NAME, read when sent
    content_type: str | None  # None: no body (a GET)
    rows: int
    size: int
    state: str = WAITING
    attempts: int = 0
    next_try: float = 0.0
    status: int | None = None
    answer: str = ""
    said: str = ""  # the answer as catalog words (words_json) when it is ours, not the receiver's


@dataclass
class Job:
    id: str
    kind: str  # send | call
    name: str  # the [sends.NAME] or [calls.NAME] it came from
    run_id: str  # the run it is listed under
    requests: list[Request] = field(default_factory=list)
    ordered: bool = True  # a send's parts go one after another; a failure stops the rest
    concurrency: int = 1

    @property
    def finished(self) -> bool:
        return all(r.state != WAITING for r in self.requests)


class JobFolder:
    def __init__(self, root: Path) -> None:
        self.root = root
        # A call's requests are answered concurrently and each saves its job from a
        # worker thread: two saves at once would share job.json's temporary file.
        self._saving = threading.Lock()

    def body_path(self, job: Job, seq: int) -> Path:
        return self.root / job.id / f"body-{seq:04d}"

    def create(self, job: Job, bodies: dict[int, bytes]) -> None:
        """Write a job's bodies, then its job.json: from then on it is kept."""
        folder = self.root / job.id
        folder.mkdir(parents=True, exist_ok=True)
        for seq, body in bodies.items():
            write_synced(self.body_path(job, seq), body)
        fsync_dir(folder)
        self.save(job)
        fsync_dir(self.root)

    def save(self, job: Job) -> None:
        with self._saving:
            replace_durably(self.root / job.id / "job.json", json.dumps(asdict(job)).encode())

    def progress(self, job: Job, requests: list[Request]) -> None:
        """Append the state of `requests` to the job's log, durably."""
        lines = b"".join(_progress_line(r) for r in requests)
        path = self.root / job.id / PROGRESS
        with self._saving:
            new = not path.exists()
            with open(path, "ab") as f:
                f.write(lines)
                f.flush()
                os.fsync(f.fileno())
            if new:  # the log's name must survive a crash as well as its lines
                fsync_dir(path.parent)

    def kept(self, job_id: str) -> bool:
        return (self.root / job_id / "job.json").is_file()

    def body(self, job: Job, seq: int) -> bytes:
        return self.body_path(job, seq).read_bytes()

    def bodies(self, job: Job) -> dict[int, bytes]:
        """Every request body the job kept (a GET has none)."""
        paths = {r.seq: self.body_path(job, r.seq) for r in job.requests}
        return {seq: path.read_bytes() for seq, path in paths.items() if path.is_file()}

    def remove(self, job: Job) -> None:
        shutil.rmtree(self.root / job.id, ignore_errors=True)
        fsync_dir(self.root)

    def load_all(self) -> list[Job]:
        """Every kept job; half-built folders (no job.json) are removed."""
        if not self.root.is_dir():
            return []
        jobs = []
        for folder in sorted(self.root.iterdir()):
            path = folder / "job.json"
            if not path.is_file():
                shutil.rmtree(folder, ignore_errors=True)
                continue
            job = job_of(json.loads(path.read_bytes()))
            log = folder / PROGRESS
            if log.is_file():
                _replay(job, log.read_bytes())
                # Folded into job.json: the log starts again empty, and a line a crash
                # cut short is not followed by the next one on the same line.
                self.save(job)
                log.unlink()
            jobs.append(job)
        return jobs


def _progress_line(request: Request) -> bytes:
    change = {"seq": request.seq} | {f: getattr(request, f) for f in _PROGRESS_FIELDS}
    return json.dumps(change).encode() + b"\n"


def _replay(job: Job, log: bytes) -> None:
    """Each logged change onto its request, in order; a line a crash cut short (only
    the last can be: each is fsynced before the next is written) is passed over."""
    by_seq = {r.seq: r for r in job.requests}
    for line in log.splitlines():
        with contextlib.suppress(ValueError, KeyError, TypeError):
            change = json.loads(line)
            request = by_seq[change["seq"]]
            values = {name: change[name] for name in _PROGRESS_FIELDS}
            for name, value in values.items():
                setattr(request, name, value)


def job_of(data: dict[str, Any]) -> Job:
    """A job from its JSON (as `asdict` wrote it)."""
    requests = [Request(**r) for r in data.pop("requests")]
    return Job(**data, requests=requests)
